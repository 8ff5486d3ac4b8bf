--- A local interpreter for the Amazon States Language (JSONPath flavour).
--
--   local machine, problems = interpreter.new(definition, opts)
--   local result = machine:run(input)
--     --> { status = "SUCCEEDED", output = ..., steps = n }
--     --> { status = "FAILED", error = "...", cause = "...", state = "...", steps = n }
--
-- The interpreter is pure: every effect is injected through opts.
--   invoke(resource, input, state_name, state, info) -> true, output | false, {Error=, Cause=}
--       runs a Task (Lambda, Glue, ...). state is the state's definition (with
--       TimeoutSeconds / HeartbeatSeconds resolved from their *Path fields);
--       info = {attempt=, timeout=, heartbeat=, context=}. Raising is a bug and
--       propagates; task failures are returned.
--   read_items(resource, parameters, state_name) -> true, array | false, {Error=, Cause=}
--       the items of a Map state's ItemReader (parameters rendered from the
--       state's input), e.g. ListObjectsV2 for arn:aws:states:::s3:listObjectsV2
--   sleep(seconds)          Retry back-off, and Wait states without opts.wait (default: no-op)
--   wait(seconds, state, scope)  a Wait state's wait, computed (default: sleep)
--   now() -> epoch seconds  Wait Timestamp, context times, TimeoutSeconds (default: 0)
--   random() -> [0, 1)      JitterStrategy FULL, States.MathRandom (default: seeded by opts.seed)
--   uuid() -> string        States.UUID (default: from random)
--   on_event(ev)            the timeline, see below
--   max_steps               states entered before the run fails with States.Runtime (10000)
--   execution_name, state_machine_name, role_arn   values of the context object
--   state_machine_arn       $$.StateMachine.Id (and so $$.Execution.Id); default a local ARN
--
-- Events: {type=, time=, state=, scope=, ...} where type is one of
--   ExecutionStarted {input}, StateEntered {input}, StateExited {output},
--   TaskFailed {error, cause, attempt}, RetryScheduled {error, cause, attempt, delay},
--   StateFailed {error, cause}, Caught {error, cause, next, output},
--   ExecutionSucceeded {output}, ExecutionFailed {error, cause}.
-- scope is nil at the top level and names the enclosing branch or iteration
-- ("Fanout[0]", "Fanout[0]/Items[3]") inside Parallel and Map states.
--
-- Input and output processing follows the developer guide: InputPath ->
-- Parameters -> task -> ResultSelector -> ResultPath (into the raw state
-- input) -> OutputPath. Errors raised while a Task, Parallel or Map state runs
-- (its input and output processing included) go through Retry, then Catch;
-- States.Runtime is never retried or caught. Parallel branches and Map
-- iterations run one after the other.
local choice = require("lake.states.choice")
local intrinsics = require("lake.states.intrinsics")
local jsonpath = require("lake.states.jsonpath")
local payload = require("lake.states.payload")
local timestamp = require("lake.states.timestamp")
local validate = require("lake.states.validate")
local value = require("lake.states.value")

local M = {}

local RUNTIME = "States.Runtime"
local null = value.null

local Machine = {}
Machine.__index = Machine

local function failure(name, cause, fatal)
  return { Error = name, Cause = cause, fatal = fatal }
end

-- ---- helpers ---------------------------------------------------------------

local function emit(run, ev, scope)
  if run.on_event then
    ev.time = run.now()
    ev.scope = scope
    run.on_event(ev)
  end
end

local function context(run, name, entered, retry_count)
  return value.object({
    Execution = value.object({
      Id = run.execution_id,
      Input = run.input,
      Name = run.execution_name,
      RoleArn = run.role_arn,
      StartTime = run.start_time,
    }),
    State = value.object({ Name = name, EnteredTime = entered, RetryCount = retry_count or 0 }),
    StateMachine = value.object({ Id = run.state_machine_id, Name = run.state_machine_name }),
  })
end

local function env(run, input, ctx)
  return { input = input, context = ctx, random = run.random, uuid = run.uuid }
end

-- InputPath / OutputPath: absent keeps v, null gives {}, a miss is States.Runtime.
local function select(v, path, field, ctx)
  if path == nil then return v end
  if path == null then return value.object() end
  local p = assert(jsonpath.parse(path))
  local res, err = jsonpath.get(p.context and ctx or v, p)
  if res == nil then
    return nil, failure(RUNTIME, string.format("Invalid path '%s' in %s: %s", path, field, err))
  end
  return res
end

local function result_path(raw, path, result)
  if path == nil then return result end
  if path == null then return raw end
  local out, err = jsonpath.set(raw, path, result)
  if out == nil then
    return nil, failure("States.ResultPathMatchFailure",
      string.format("Unable to apply ResultPath '%s' to the state input: %s", path, err))
  end
  return out
end

local function render(run, tpl, input, ctx)
  local out, name, cause = payload.render(tpl, env(run, input, ctx))
  if out == nil then return nil, failure(name, cause) end
  return out
end

-- ResultSelector -> ResultPath -> OutputPath on a state's result.
local function finish(run, state, raw, result, ctx)
  local err
  if state.ResultSelector ~= nil then
    result, err = render(run, state.ResultSelector, result, ctx)
    if result == nil then return nil, err end
  end
  local out
  out, err = result_path(raw, state.ResultPath, result)
  if out == nil then return nil, err end
  return select(out, state.OutputPath, "OutputPath", ctx)
end

-- InputPath -> Parameters.
local function effective_input(run, state, raw, ctx)
  local eff, err = select(raw, state.InputPath, "InputPath", ctx)
  if eff == nil then return nil, err end
  if state.Parameters ~= nil then return render(run, state.Parameters, eff, ctx) end
  return eff
end

local function error_matches(list, name)
  for _, e in ipairs(list) do
    if e == "States.ALL" or e == name then return true end
    if e == "States.TaskFailed" and name ~= nil and name ~= "States.Timeout" then return true end
  end
  return false
end

local function find(list, name)
  for i, item in ipairs(list or {}) do
    if error_matches(item.ErrorEquals, name) then return i, item end
  end
  return nil
end

--- The delay before retry n (1-based) of a retrier, before jitter:
-- IntervalSeconds * BackoffRate^(n-1), capped by MaxDelaySeconds.
-- @param retrier table
-- @param n integer
-- @return number seconds
function M.backoff(retrier, n)
  local d = (retrier.IntervalSeconds or 1) * (retrier.BackoffRate or 2.0) ^ (n - 1)
  if retrier.MaxDelaySeconds ~= nil and d > retrier.MaxDelaySeconds then d = retrier.MaxDelaySeconds end
  return value.normalize_number(d)
end

local run_graph

-- ---- states ----------------------------------------------------------------

local BODY = {}

function BODY.Task(run, name, state, raw, ctx, attempt)
  local eff, err = effective_input(run, state, raw, ctx)
  if eff == nil then return nil, err end
  local info = { attempt = attempt, context = ctx, timeout = state.TimeoutSeconds, heartbeat = state.HeartbeatSeconds }
  local def = state
  if state.TimeoutSecondsPath ~= nil or state.HeartbeatSecondsPath ~= nil then
    def = {}
    for k, v in pairs(state) do def[k] = v end
    for _, f in ipairs({ "TimeoutSeconds", "HeartbeatSeconds" }) do
      local path = state[f .. "Path"]
      if path ~= nil then
        local n, perr = jsonpath.get(raw, path)
        if n == nil or math.type(n) ~= "integer" or n < 1 then
          return nil, failure(RUNTIME, string.format("%sPath '%s' must select a positive integer%s",
            f, path, n == nil and ": " .. perr or ", got " .. value.preview(n)))
        end
        def[f] = n
        info[f == "TimeoutSeconds" and "timeout" or "heartbeat"] = n
      end
    end
  end
  local ok, res = run.invoke(state.Resource, eff, name, def, info)
  if not ok then
    local e = type(res) == "table" and res or { Cause = res ~= nil and tostring(res) or nil }
    local fail = failure(e.Error or "States.TaskFailed", e.Cause)
    return nil, fail, true
  end
  if res == nil then res = null end
  return finish(run, state, raw, res, ctx)
end

-- Runs branch or iteration i of a Parallel or Map state (named name[i-1],
-- as Step Functions numbers them, inside scope).
local function run_child(run, graph, input, name, i, scope)
  local sub = string.format("%s[%d]", name, i - 1)
  return run_graph(run, graph, input, scope and scope .. "/" .. sub or sub)
end

function BODY.Parallel(run, name, state, raw, ctx, _, scope)
  local eff, err = effective_input(run, state, raw, ctx)
  if eff == nil then return nil, err end
  local results = value.array()
  for i, branch in ipairs(state.Branches) do
    local ok, out = run_child(run, branch, eff, name, i, scope)
    if not ok then return nil, out end
    results[i] = out
  end
  return finish(run, state, raw, results, ctx)
end

function BODY.Map(run, name, state, raw, ctx, _, scope)
  local eff, err = select(raw, state.InputPath, "InputPath", ctx)
  if eff == nil then return nil, err end
  local items = eff
  if state.ItemReader ~= nil then
    local reader
    reader, err = render(run, state.ItemReader.Parameters or value.object(), eff, ctx)
    if reader == nil then return nil, err end
    local ok, res = run.read_items(state.ItemReader.Resource, reader, name)
    if not ok then
      local e = type(res) == "table" and res or { Cause = tostring(res) }
      return nil, failure(e.Error or "States.ItemReaderFailed", e.Cause)
    end
    items = res
  elseif state.ItemsPath ~= nil then
    local p = assert(jsonpath.parse(state.ItemsPath))
    items, err = jsonpath.get(p.context and ctx or eff, p)
    if items == nil then
      return nil, failure(RUNTIME, string.format("Invalid path '%s' in ItemsPath: %s", state.ItemsPath, err))
    end
  end
  if value.kind(items) ~= "array" then
    return nil, failure(RUNTIME, string.format("ItemsPath '%s' must select an array, got %s",
      state.ItemsPath or "$", value.preview(items)))
  end
  local processor = state.ItemProcessor or state.Iterator
  local selector = state.ItemSelector
  if selector == nil then selector = state.Parameters end
  -- ToleratedFailurePercentage (distributed mode): failed iterations leave
  -- their error in the results until more than that share of them failed.
  local tolerated = state.ToleratedFailurePercentage
  local results, failed = value.array(), 0
  for i, item in ipairs(items) do
    local input = item
    if selector ~= nil then
      local ictx = value.shallow(ctx)
      ictx.Map = value.object({ Item = value.object({ Index = i - 1, Value = item }) })
      input, err = render(run, selector, eff, ictx)
      if input == nil then return nil, err end
    end
    local ok, out = run_child(run, processor, input, name, i, scope)
    if not ok then
      if tolerated == nil or out.fatal or out.Error == RUNTIME then return nil, out end
      failed = failed + 1
      if failed * 100 > tolerated * #items then
        return nil, failure("States.ExceedToleratedFailureThreshold", string.format(
          "%d of %d items failed, more than the %s%% tolerated; the last: %s: %s", failed, #items,
          value.preview(tolerated), tostring(out.Error), tostring(out.Cause)))
      end
      out = value.object({ Error = out.Error, Cause = out.Cause })
    end
    results[i] = out
  end
  return finish(run, state, raw, results, ctx)
end

-- States with Retry and Catch: runs the body until it succeeds, a retrier
-- gives up, or a catcher takes the error.
local function recoverable(run, name, state, raw, entered, scope)
  local counts = {}
  local attempt = 0
  while true do
    attempt = attempt + 1
    local ctx = context(run, name, entered, attempt - 1)
    local out, err, task_failed = BODY[state.Type](run, name, state, raw, ctx, attempt, scope)
    if out ~= nil then return { output = out, next = state.Next } end
    if task_failed then
      emit(run, { type = "TaskFailed", state = name, error = err.Error, cause = err.Cause, attempt = attempt }, scope)
    end
    if err.fatal or err.Error == RUNTIME then return { error = err } end
    local retried = false
    local i, retrier = find(state.Retry, err.Error)
    if retrier then
      local n = counts[i] or 0
      if n < (retrier.MaxAttempts or 3) then
        counts[i] = n + 1
        local delay = M.backoff(retrier, n + 1)
        if retrier.JitterStrategy == "FULL" then delay = value.normalize_number(run.random() * delay) end
        emit(run, { type = "RetryScheduled", state = name, error = err.Error, cause = err.Cause,
          attempt = n + 1, delay = delay }, scope)
        run.sleep(delay)
        retried = true
      end
    end
    if not retried then
      local _, catcher = find(state.Catch, err.Error)
      if not catcher then return { error = err } end
      local output = value.object({ Error = err.Error, Cause = err.Cause })
      local caught, perr = result_path(raw, catcher.ResultPath, output)
      if caught == nil then return { error = perr } end
      emit(run, { type = "Caught", state = name, error = err.Error, cause = err.Cause,
        next = catcher.Next, output = caught }, scope)
      return { output = caught, next = catcher.Next, caught = true }
    end
  end
end

local function wait(run, name, state, eff, scope)
  local seconds
  if state.Seconds ~= nil then
    seconds = state.Seconds
  elseif state.SecondsPath ~= nil then
    local n, err = jsonpath.get(eff, state.SecondsPath)
    if n == nil then
      return failure(RUNTIME, string.format("Invalid path '%s' in SecondsPath: %s", state.SecondsPath, err))
    end
    if type(n) ~= "number" or math.type(value.normalize_number(n)) ~= "integer" or n < 0 then
      return failure(RUNTIME, string.format("SecondsPath '%s' must select an integer, 0 or more, got %s",
        state.SecondsPath, value.preview(n)))
    end
    seconds = value.normalize_number(n)
  else
    local ts = state.Timestamp
    if state.TimestampPath ~= nil then
      local err
      ts, err = jsonpath.get(eff, state.TimestampPath)
      if ts == nil then
        return failure(RUNTIME, string.format("Invalid path '%s' in TimestampPath: %s", state.TimestampPath, err))
      end
      if not timestamp.parse(ts) then
        return failure(RUNTIME, string.format("TimestampPath '%s' must select an RFC 3339 timestamp, got %s",
          state.TimestampPath, value.preview(ts)))
      end
    end
    seconds = value.normalize_number(math.max(0, timestamp.epoch(ts) - run.now()))
  end
  run.wait(seconds, name, scope)
  return nil
end

local function fail_field(run, state, raw, ctx, field)
  local path = state[field .. "Path"]
  if path == nil then return state[field] end
  local v, err
  if intrinsics.is_call(path) then
    v, err = intrinsics.eval(path, env(run, raw, ctx))
    if v == nil then return nil, failure("States.IntrinsicFailure", field .. "Path: " .. err) end
  else
    local p = assert(jsonpath.parse(path))
    v, err = jsonpath.get(p.context and ctx or raw, p)
    if v == nil then
      return nil, failure(RUNTIME, string.format("Invalid path '%s' in %sPath: %s", path, field, err))
    end
  end
  if type(v) ~= "string" then
    return nil, failure(RUNTIME,
      string.format("%sPath '%s' must select a string, got %s", field, path, value.preview(v)))
  end
  return v
end

-- Runs one state; returns {output=, next=} (next nil: the branch ends) or {error=}.
local function exec_state(run, name, state, raw, scope)
  local entered = timestamp.format(run.now())
  local t = state.Type
  if t == "Task" or t == "Parallel" or t == "Map" then
    return recoverable(run, name, state, raw, entered, scope)
  end
  local ctx = context(run, name, entered)
  if t == "Fail" then
    local e, err = fail_field(run, state, raw, ctx, "Error")
    if err then return { error = err } end
    local c
    c, err = fail_field(run, state, raw, ctx, "Cause")
    if err then return { error = err } end
    return { error = failure(e, c) }
  end
  local eff, err
  if t == "Pass" then
    eff, err = effective_input(run, state, raw, ctx)
    if eff == nil then return { error = err } end
    local result = eff
    if state.Result ~= nil then result = value.copy(state.Result) end
    local out
    out, err = result_path(raw, state.ResultPath, result)
    if out == nil then return { error = err } end
    out, err = select(out, state.OutputPath, "OutputPath", ctx)
    if out == nil then return { error = err } end
    return { output = out, next = state.Next }
  end
  eff, err = select(raw, state.InputPath, "InputPath", ctx)
  if eff == nil then return { error = err } end
  local nxt = state.Next
  if t == "Wait" then
    err = wait(run, name, state, eff, scope)
    if err then return { error = err } end
  elseif t == "Choice" then
    nxt = nil
    for _, rule in ipairs(state.Choices) do
      local ok, cerr = choice.eval(rule, eff, ctx)
      if ok == nil then return { error = failure(RUNTIME, cerr) } end
      if ok then
        nxt = rule.Next
        break
      end
    end
    if nxt == nil then
      nxt = state.Default
      if nxt == nil then
        return { error = failure("States.NoChoiceMatched",
          string.format("No Choice rule of state '%s' matched the input %s and there is no Default", name,
            value.preview(eff))) }
      end
    end
  end
  local out
  out, err = select(eff, state.OutputPath, "OutputPath", ctx)
  if out == nil then return { error = err } end
  return { output = out, next = nxt }
end

-- Runs a state machine (the top level, a branch or an iteration) from StartAt.
-- Returns true, output or false, error.
function run_graph(run, graph, input, scope)
  local name, cur = graph.StartAt, input
  while true do
    if run.steps >= run.max_steps then
      return false, failure(RUNTIME, string.format(
        "The execution entered %d states (max_steps) without ending; is there a loop?", run.max_steps), true)
    end
    if run.timeout and run.now() - run.started >= run.timeout then
      return false, failure("States.Timeout",
        string.format("The execution ran longer than its TimeoutSeconds (%d)", run.timeout), true)
    end
    run.steps = run.steps + 1
    local state = graph.States[name]
    emit(run, { type = "StateEntered", state = name, input = cur }, scope)
    local res = exec_state(run, name, state, cur, scope)
    if res.error then
      res.error.state = res.error.state or name
      emit(run, { type = "StateFailed", state = name, error = res.error.Error, cause = res.error.Cause }, scope)
      return false, res.error
    end
    if not res.caught then emit(run, { type = "StateExited", state = name, output = res.output }, scope) end
    if res.next == nil then return true, res.output end
    name, cur = res.next, res.output
  end
end

-- ---- public API --------------------------------------------------------------

local OPTS = {
  invoke = "function", read_items = "function", sleep = "function", wait = "function", now = "function",
  random = "function", uuid = "function",
  on_event = "function", max_steps = "number", seed = "number", execution_name = "string",
  state_machine_name = "string", role_arn = "string", state_machine_arn = "string",
}

--- Checks a definition and makes a machine that can run it.
-- @param definition table|string the decoded definition (or its JSON text)
-- @param opts table|nil effects and settings (see the module comment)
-- @return table|nil the machine, or nil, problems (array of strings) when the definition is invalid
function M.new(definition, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("interpreter.new: opts must be a table", 2) end
  for k, v in pairs(opts) do
    if OPTS[k] == nil then error("interpreter.new: unknown option '" .. tostring(k) .. "'", 2) end
    if type(v) ~= OPTS[k] then error("interpreter.new: opts." .. k .. " must be a " .. OPTS[k], 2) end
  end
  if opts.max_steps ~= nil and (math.type(opts.max_steps) ~= "integer" or opts.max_steps < 1) then
    error("interpreter.new: opts.max_steps must be a positive integer", 2)
  end
  if type(definition) == "string" then
    local decoded, err = value.decode(definition)
    if decoded == nil then return nil, { "definition: not JSON: " .. err } end
    definition = decoded
  end
  local problems = validate.definition(definition)
  if #problems > 0 then return nil, problems end
  return setmetatable({ definition = definition, opts = opts }, Machine)
end

--- Runs one execution.
-- @param input any the execution input (default {})
-- @return table {status="SUCCEEDED", output=, steps=} or {status="FAILED", error=, cause=, state=, steps=}
function Machine:run(input)
  local opts = self.opts
  if input == nil then input = value.object() end
  local random = opts.random or intrinsics.generator(opts.seed or 0)
  local sm_name = opts.state_machine_name or "StateMachine"
  local exec_name = opts.execution_name or "local"
  local run = {
    invoke = opts.invoke or function()
      return false, { Error = RUNTIME, Cause = "no task runner was given to the interpreter (opts.invoke)" }
    end,
    read_items = opts.read_items or function()
      return false, { Error = RUNTIME, Cause = "no item reader was given to the interpreter (opts.read_items)" }
    end,
    sleep = opts.sleep or function() end,
    now = opts.now or function() return 0 end,
    random = random,
    wait = opts.wait,
    uuid = opts.uuid or function() return intrinsics.uuid(random) end,
    on_event = opts.on_event,
    max_steps = opts.max_steps or 10000,
    steps = 0,
    input = input,
    execution_name = exec_name,
    state_machine_name = sm_name,
    state_machine_id = opts.state_machine_arn or "arn:aws:states:local:000000000000:stateMachine:" .. sm_name,
    role_arn = opts.role_arn or "arn:aws:iam::000000000000:role/local",
    timeout = self.definition.TimeoutSeconds,
  }
  run.wait = run.wait or function(seconds) run.sleep(seconds) end
  run.execution_id = run.state_machine_id:gsub(":stateMachine:", ":execution:", 1) .. ":" .. exec_name
  run.started = run.now()
  run.start_time = timestamp.format(run.started)
  emit(run, { type = "ExecutionStarted", input = input })
  local ok, res = run_graph(run, self.definition, input, nil)
  if ok then
    emit(run, { type = "ExecutionSucceeded", output = res })
    return { status = "SUCCEEDED", output = res, steps = run.steps }
  end
  emit(run, { type = "ExecutionFailed", state = res.state, error = res.Error, cause = res.Cause })
  return { status = "FAILED", error = res.Error, cause = res.Cause, state = res.state, steps = run.steps }
end

return M
