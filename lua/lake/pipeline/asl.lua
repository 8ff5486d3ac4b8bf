--- The state machine of a pipeline in Amazon States Language.
--
-- build() is pure: a validated config (lake.pipeline.config) and the ARNs
-- and names of the pipeline's functions and jobs (strings or tokens) give
-- the ASL document as a Lua table. encode() turns it into the value of
-- DefinitionString: JSON text, with the tokens inlined into one Fn::Sub.
--
-- Shape (https://states-language.net/spec.html):
--   * StartAt is the first step of the file.
--   * Lambda steps invoke through arn:aws:states:::lambda:invoke with the
--     whole state as payload and keep only the function's result
--     (OutputPath $.Payload): the input of each task is the output of the
--     previous one. Transient Lambda errors are retried.
--   * Glue steps run glue:startJobRun.sync with the contract keys as --key
--     arguments taken from the state, and ResultPath null: their output is
--     their own input.
--   * Choice steps compare $.variable with StringEquals; no match goes to
--     ErrorCatch.
--   * Every task catches States.ALL into $.error and goes to ErrorCatch,
--     which hands the state to the catch Lambda and then FAILS the execution
--     (PipelineFailed), where the original ended such runs as SUCCEEDED.
local json = require("host.json")
local token = require("lake.token")

local M = {}

M.CATCH_STATE = "ErrorCatch"
M.FAIL_STATE = "PipelineFailed"
--- Errors of the Lambda service worth retrying (the Step Functions docs' list).
M.LAMBDA_RETRY_ERRORS = { "Lambda.ServiceException", "Lambda.AWSLambdaException",
  "Lambda.SdkClientException", "Lambda.TooManyRequestsException" }
M.LAMBDA_RETRY = { IntervalSeconds = 2, MaxAttempts = 6, BackoffRate = 2 }
--- Seconds a Lambda task may run beyond the function's own timeout (invoke overhead).
M.LAMBDA_TIMEOUT_MARGIN = 10

local function arr(t) return setmetatable(t or {}, json.array_mt) end

local function lambda_retry()
  local errs = arr()
  for i, e in ipairs(M.LAMBDA_RETRY_ERRORS) do errs[i] = e end
  return arr { { ErrorEquals = errs, IntervalSeconds = M.LAMBDA_RETRY.IntervalSeconds,
    MaxAttempts = M.LAMBDA_RETRY.MaxAttempts, BackoffRate = M.LAMBDA_RETRY.BackoffRate } }
end

local function catch_all()
  return arr { { ErrorEquals = arr { "States.ALL" }, ResultPath = "$.error", Next = M.CATCH_STATE } }
end

local function service_arn(partition, what)
  return token.concat("arn:", partition, ":states:::", what)
end

--- The Glue job arguments of a contract: "--key.$" -> a path into the state.
-- Glue takes string arguments only, so non-string contract types are
-- formatted (States.Format / States.JsonToString).
function M.glue_arguments(contract)
  local args = {}
  for _, c in ipairs(contract) do
    local path = "$." .. c.key
    if c.type == "str" then
      args["--" .. c.key .. ".$"] = path
    elseif c.type == "list" or c.type == "dict" then
      args["--" .. c.key .. ".$"] = ("States.JsonToString(%s)"):format(path)
    else
      args["--" .. c.key .. ".$"] = ("States.Format('{}', %s)"):format(path)
    end
  end
  return args
end

local function set_next(state, step)
  if step.next_step then state.Next = step.next_step else state.End = true end
end

--- The ASL document of a pipeline.
-- @param cfg table a validated config (cfg.ok)
-- @param refs table { partition = string|token,
--   function_arn = function(step) -> ARN of a lambda step's function,
--   job_name = function(step) -> name of a glue step's job,
--   catch_arn = ARN of the catch function, catch_timeout = its timeout in seconds (60) }
-- @return definition table, order (array of state names: steps in file order, then the error path)
function M.build(cfg, refs)
  local partition = refs.partition or token.partition
  local states, order = {}, {}
  for _, step in ipairs(cfg.steps) do
    local s
    if step.type == "lambda" then
      s = {
        Type = "Task", Comment = ("lambda step, module %s"):format(step.module),
        Resource = service_arn(partition, "lambda:invoke"),
        Parameters = { FunctionName = refs.function_arn(step), ["Payload.$"] = "$" },
        OutputPath = "$.Payload",
        TimeoutSeconds = step.timeout_seconds + M.LAMBDA_TIMEOUT_MARGIN,
        Retry = lambda_retry(),
        Catch = catch_all(),
      }
      set_next(s, step)
    elseif step.type == "glue" then
      s = {
        Type = "Task", Comment = ("glue step (%s), module %s"):format(step.glue_version, step.module),
        Resource = service_arn(partition, "glue:startJobRun.sync"),
        Parameters = { JobName = refs.job_name(step), Arguments = M.glue_arguments(cfg.contract) },
        ResultPath = json.null,
        TimeoutSeconds = step.timeout_minutes * 60,
        Catch = catch_all(),
      }
      set_next(s, step)
    else
      local choices = arr()
      for i, c in ipairs(step.choices) do
        choices[i] = { Variable = "$." .. c.variable, StringEquals = c.equals, Next = c.next_step }
      end
      s = { Type = "Choice", Comment = "choice step", Choices = choices, Default = M.CATCH_STATE }
    end
    states[step.name] = s
    order[#order + 1] = step.name
  end
  -- The catch Lambda gets the whole state: $.error ({Error, Cause}) is there
  -- when a task failed, absent when no choice matched.
  states[M.CATCH_STATE] = {
    Type = "Task", Comment = "hands the failed state to the catch Lambda, which notifies the lake's topic",
    Resource = service_arn(partition, "lambda:invoke"),
    Parameters = { FunctionName = refs.catch_arn,
      Payload = { ["input.$"] = "$", ["execution.$"] = "$$.Execution.Id",
        ["state_machine.$"] = "$$.StateMachine.Name" } },
    ResultPath = json.null,
    TimeoutSeconds = (refs.catch_timeout or 60) + M.LAMBDA_TIMEOUT_MARGIN,
    Retry = lambda_retry(),
    Next = M.FAIL_STATE,
  }
  states[M.FAIL_STATE] = { Type = "Fail", Error = "PipelineFailed",
    Cause = "A step failed or no choice matched; the catch Lambda notified the lake's SNS topic." }
  order[#order + 1] = M.CATCH_STATE
  order[#order + 1] = M.FAIL_STATE
  local def = {
    Comment = ("Pipeline %s: generated by lakehost from %s"):format(cfg.name, cfg.file),
    StartAt = cfg.steps[1].name,
    States = states,
  }
  return def, order
end

-- The placeholder of the nth token in a definition's text: MARK .. n .. "@@".
local MARK = "@@lakehost-token-"
local find, sub = string.find, string.sub

--- DefinitionString of a definition: its JSON text (sorted keys), a plain
-- string when it holds no token, else one token (Fn::Sub at synthesis).
-- @param def table from build
-- @param opts table|nil { pretty = boolean }
function M.encode(def, opts)
  local found, n = {}, 0
  local text = json.encode(def, { pretty = opts and opts.pretty, replace = function(t)
    n = n + 1
    found[n] = t
    return MARK .. n .. "@@"
  end })
  if n == 0 then return text end
  -- the marks in order, found as plain text (a pattern tried at every
  -- position of a definition cost more than encoding it)
  local parts, pos = {}, 1
  for i = 1, n do
    local s, e = find(text, MARK .. i .. "@@", pos, true)
    parts[#parts + 1] = sub(text, pos, s - 1)
    parts[#parts + 1] = found[i]
    pos = e + 1
  end
  parts[#parts + 1] = sub(text, pos)
  return token.concat(table.unpack(parts))
end

--- JSON text of a definition with tokens replaced by concrete values, for
-- validators (asl-validator, cfn-lint) and for reading.
-- @param def table
-- @param values table|nil { ["AWS::Region"] = ..., ["AWS::AccountId"] = ..., ["AWS::Partition"] = ... }
function M.render(def, values)
  values = values or { ["AWS::Region"] = "us-east-1", ["AWS::AccountId"] = "123456789012",
    ["AWS::Partition"] = "aws" }
  local function text_of(t)
    if type(t) == "string" then return t end
    if t.kind == "concat" then
      local out = {}
      for _, p in ipairs(t.parts) do out[#out + 1] = text_of(p) end
      return table.concat(out)
    elseif t.kind == "ref" and type(t.target) == "string" then
      return values[t.target] or t.target
    end
    error("asl.render: cannot render a " .. t.kind .. " token", 2)
  end
  return json.encode(def, { pretty = true, replace = text_of })
end

return M
