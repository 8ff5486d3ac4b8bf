--- The lambda step: a Python function (steps/<module>/src/index.py,
-- handler `handler`) run by AWS Lambda with the whole state as its event;
-- its result is the next step's input.
--
--   RouteFile:
--     type: lambda
--     properties: { module: route_file, next_step: RouteChoice, timeout_seconds: 60,
--                   memory_size: 128, environment: { LEVEL: debug } }
--
-- Every part of a step type is here: its properties, its resource names,
-- its resources, its state, its diagram node and how `run` executes it
-- (see lua/lake/pipeline/README.md).
local assets = require("lake.assets")
local checker = require("lake.pipeline.checker")
local names = require("lake.names")
local pstack = require("lake.pipeline.stack")
local sm = require("lake.pipeline.state_machine")
local steps = require("lake.pipeline.steps")
local util = require("lake.util")

local M = { name = "lambda", summary = "a Python function run by AWS Lambda" }

--- Properties, in the order messages list them.
M.keys = { "module", "next_step", "timeout_seconds", "memory_size", "environment" }
M.defaults = { timeout_seconds = 60, memory_size = 128 }

--- The module folder a step has, and what its code runs as.
M.module = { runs_as = "a Lambda function", jars = false }

--- The pipeline role its steps share (<pipeline>-lambda-<region>-<stage>).
M.roles = { "lambda" }

-- Variables every step function gets from lakehost: a step's own
-- environment may not set them.
local STEP_ENV = { "ORIGIN_BUCKET", "TARGET_BUCKET", "DATABASE" }
local RESERVED_ENV = {}
for k in pairs(pstack.base_environment("", "", "")) do RESERVED_ENV[k] = true end
for _, k in ipairs(STEP_ENV) do RESERVED_ENV[k] = true end

--- What the state's Comment and the diagram call a step.
function M.label(step) return ("lambda step, module %s"):format(step.module) end

---------------------------------------------------------------------------
-- config.yml

function M.check(ck, props, step)
  steps.module_property(ck, props, step)
  steps.next_step_property(ck, props, step)
  local key, line = step.key .. ".properties", step.properties_line
  step.timeout_seconds, step.memory_size = M.defaults.timeout_seconds, M.defaults.memory_size
  if props.timeout_seconds ~= nil and ck:int_range(props.timeout_seconds, 1, 900,
    ck:line_of(props, "timeout_seconds", line), key .. ".timeout_seconds") then
    step.timeout_seconds = props.timeout_seconds
  end
  if props.memory_size ~= nil and ck:int_range(props.memory_size, 128, 10240,
    ck:line_of(props, "memory_size", line), key .. ".memory_size") then
    step.memory_size = props.memory_size
  end
  step.environment = {}
  local env = props.environment
  step.environment_line = env ~= nil and ck:line_of(props, "environment", line) or nil
  if env ~= nil and ck:expect(env, "mapping", ck:line_of(props, "environment", line), key .. ".environment") then
    for _, k in ipairs(util.sorted_keys(env)) do
      local ek, el = key .. ".environment." .. tostring(k), ck:line_of(env, k, line)
      local kind = ck:kind(env[k])
      if type(k) ~= "string" or not k:match("^[A-Za-z][A-Za-z0-9_]*$") then
        ck:add(el, ek, "environment variable names are letters, digits and '_', starting with a letter")
      elseif k:sub(1, 4) == "AWS_" or k:sub(1, 7) == "LAMBDA_" then
        ck:add(el, ek, "names starting with AWS_ or LAMBDA_ are reserved by Lambda")
      elseif RESERVED_ENV[k] then
        ck:add(el, ek, "is set by lakehost on every step function; choose another name")
      elseif kind == "string" or kind == "integer" or kind == "number" or kind == "boolean" then
        step.environment[k] = tostring(env[k])
      else
        ck:add(el, ek, ("expected a string, a number or a boolean, got %s"):format(checker.ARTICLE[kind]))
      end
    end
  end
end

---------------------------------------------------------------------------
-- The stack

--- The step's function name, from its module (two steps of one module
-- would share it, which the check refuses).
function M.names(step, naming)
  if not step.module then return {} end
  return { { space = "function", what = "Lambda function name", name = naming.module(step.module), max = 64,
    key = step.key .. ".properties.module", line = step.module_line,
    advice = "each lambda step needs a module of its own" } }
end

--- One role for the pipeline's lambda steps (its domain's two buckets and
-- databases, the functions' logs), and a function per step.
function M.resources(p, list)
  local n, cfg = p.names, p.cfg
  local fn_names = {}
  for i, s in ipairs(list) do fn_names[i] = n.steps[s.name]["function"] end
  local st = pstack.s3_statements(p.buckets)
  st[#st + 1] = pstack.catalog_statement(p.lake, p.buckets)
  st[#st + 1] = pstack.logs_statement(p.env, fn_names)
  local role = p:role("LambdaStepsRole", n.role.lambda, pstack.LAMBDA_SERVICE, st, { policy = "lambda-steps",
    vpc = true,
    description = ("Lambda steps of pipeline %s: its domain's buckets and catalog"):format(cfg.name) })
  p.lake.encryption:grant(role, { "s3" })
  local arns = {}
  for i, s in ipairs(list) do
    p:lambda_function("Step" .. util.pascal(s.name), {
      name = fn_names[i], role = role, timeout = s.timeout_seconds, memory = s.memory_size,
      description = ("Step %s of pipeline %s"):format(s.name, cfg.name),
      asset = assets.lambda(p.app, cfg.name .. "/" .. s.module, p:module(s)),
      env = util.merge(s.environment, p.base_env, { ORIGIN_BUCKET = p.origin.name, TARGET_BUCKET = p.target.name,
        DATABASE = p.target.database }),
      -- its size (lake.limits) is the environment's doing
      source = { file = cfg.file, line = s.environment_line or s.line,
        key = s.environment_line and (s.key .. ".properties.environment") or s.key },
      sync_reason = pstack.SYNC_REASON,
    })
    arns[i] = names.arn("lambda", "function:" .. fn_names[i], p.env)
    p.refs[s.name] = { function_arn = arns[i] }
  end
  p:allow("InvokeFunctions", { "lambda:InvokeFunction" }, arns)
end

--- Invokes the function with the whole state as payload and keeps only
-- its result (OutputPath $.Payload); the Lambda service's transient errors
-- are retried.
function M.state(p, step)
  return sm.set_next({
    Type = "Task", Comment = M.label(step),
    Resource = sm.service_arn("lambda:invoke", p.partition),
    Parameters = { FunctionName = p.refs[step.name].function_arn, ["Payload.$"] = "$" },
    OutputPath = "$.Payload",
    TimeoutSeconds = step.timeout_seconds + sm.LAMBDA_TIMEOUT_MARGIN,
    Retry = sm.lambda_retry(),
    Catch = sm.catch_all(),
  }, step)
end

function M.diagram(d, step, state)
  d:node("rect", M.label(step))
  d:flow(state)
end

---------------------------------------------------------------------------
-- `run`: every Lambda task of a state machine (the catch's too) runs the
-- function's code from its asset on this machine (lake.run's runtime).

M.run = {
  resources = { "^arn:[%w-]+:states:::lambda:invoke$", "^arn:[%w-]+:lambda:" },
  describe = "lambda:invoke, Lambda function ARNs",
}

--- Runs a Lambda task: what lambda:invoke (the result wrapped as the
-- service integration returns it) or a function ARN (the result alone) gives.
function M.run.invoke(rt, resource, input, state_name, info)
  local value = rt.value
  local direct = resource:match("^arn:[%w-]+:lambda:") ~= nil
  local fname = direct and resource or (value.kind(input) == "object" and input.FunctionName)
  if type(fname) ~= "string" then
    return false, { Error = "States.Runtime", Cause = "lambda:invoke needs Parameters.FunctionName" }
  end
  fname = fname:match("function:([^:]+)") or fname
  local payload = input
  if not direct then
    payload = input.Payload
    if payload == nil then payload = value.object() end
  end
  local o = rt:invoke_lambda(fname, payload, { timeout = info.timeout })
  rt:log(state_name, o)
  if not o.ok then return false, { Error = o.error, Cause = o.cause } end
  if direct then return true, o.result end
  return true, value.object({
    ExecutedVersion = "$LATEST", Payload = o.result, StatusCode = 200,
    SdkHttpMetadata = value.object({ HttpStatusCode = 200, HttpHeaders = value.object({
      ["Content-Type"] = "application/json", ["X-Amz-Executed-Version"] = "$LATEST",
      ["x-amzn-RequestId"] = o.request_id }) }),
    SdkResponseMetadata = value.object({ RequestId = o.request_id }),
  })
end

return M
