-- The example's state machine run by the local ASL interpreter
-- (lake.states.interpreter) with fake tasks: the flow the issue asks for —
-- each task's input is the previous output, a Glue step passes its input on,
-- failures reach the catch and the execution FAILS; an unmatched choice
-- without default fails it with States.NoChoiceMatched.
local config = require("lake.pipeline.config")
local interpreter = require("lake.states.interpreter")
local json = require("host.json")
local state_machine = require("lake.pipeline.state_machine")
local yaml = require("host.yaml")

local FILE = "pipelines/pipeline_example/config.yml"
local FN = "arn:aws:lambda:us-east-1:123456789012:function:"

local function definition()
  local f = assert(io.open(FILE))
  local value, marks = assert(yaml.load(f:read("a"), FILE))
  f:close()
  local cfg = config.validate(value, marks, { file = FILE, domains = { "example" } })
  assert(cfg.ok)
  local refs = {}
  for _, s in ipairs(cfg.steps) do
    refs[s.name] = { function_arn = s.module and FN .. s.module, job_name = s.module and "job-" .. s.module }
  end
  local def = state_machine.build(cfg, { refs = refs, catch_arn = FN .. "catch", partition = "aws" })
  return json.decode(state_machine.render(def))
end

local INPUT = { origin_bucket = "raw", origin_key = "example/type1/a.json", target_bucket = "trusted",
  target_key = "example/type1/a.json", route = "", database = "example_trusted_dev", table = "example_type1" }

-- Runs the machine; tasks: { [function or job name] = function(input) -> true, out | false, err }.
local function run(tasks, input)
  local calls = {}
  local machine = assert(interpreter.new(definition(), {
    invoke = function(resource, eff, state_name)
      local name
      if resource == "arn:aws:states:::lambda:invoke" then
        name = eff.FunctionName:match("function:(.*)$")
      elseif resource == "arn:aws:states:::sns:publish" then
        name = "sns"
      else
        name = eff.JobName
      end
      calls[#calls + 1] = { state = state_name, name = name, input = eff }
      local ok, out = tasks[name](resource == "arn:aws:states:::lambda:invoke" and eff.Payload or eff)
      if not ok then return false, out end
      if resource == "arn:aws:states:::lambda:invoke" then return true, { StatusCode = 200, Payload = out } end
      return true, { JobRunState = "SUCCEEDED", JobName = name, Id = "jr_1" }
    end,
  }))
  local result = machine:run(input or json.decode(json.encode(INPUT)))
  return result, calls
end

local function copy(t) return json.decode(json.encode(t)) end

local function route(state)
  local out = copy(state)
  out.route = state.origin_key:match("type%d")
  return true, out
end

local function catcher(seen)
  return function(payload)
    seen[#seen + 1] = payload
    return true, { notified = true }
  end
end

describe("the example state machine, run locally #unit", function()
  it("goes RouteFile -> RouteChoice -> ProcessType1 -> AddToDatabase and succeeds", function()
    local seen = {}
    local result, calls = run({
      route_file = route,
      ["job-process_type1"] = function() return true end,
      add_to_database = function(state) local out = copy(state); out.table_action = "created"; return true, out end,
      catch = catcher(seen),
    })
    assert.equal("SUCCEEDED", result.status)
    local order = {}
    for i, c in ipairs(calls) do order[i] = c.state end
    assert.same({ "RouteFile", "ProcessType1", "AddToDatabase" }, order)
    -- The Glue step got the contract from the state...
    assert.equal("raw", calls[2].input.Arguments["--origin_bucket"])
    assert.equal("type1", calls[2].input.Arguments["--route"])
    -- ...and passed its own input on, so AddToDatabase saw RouteFile's output.
    assert.equal("type1", calls[3].input.Payload.route)
    assert.is_nil(calls[3].input.Payload.JobRunState)
    assert.equal("created", result.output.table_action)
    assert.same({}, seen)
  end)

  it("takes ProcessType2 for type2 objects", function()
    local input = copy(INPUT)
    input.origin_key = "example/type2/b.json"
    local result, calls = run({
      route_file = route, ["job-process_type2"] = function() return true end,
      add_to_database = function(s) return true, s end, catch = catcher({}),
    }, input)
    assert.equal("SUCCEEDED", result.status)
    assert.equal("ProcessType2", calls[2].state)
  end)

  it("takes RouteChoice's default when no rule matches", function()
    local input = copy(INPUT)
    input.origin_key = "example/misc/c.json"
    local result, calls = run({
      route_file = function(s) local out = copy(s); out.route = "other"; return true, out end,
      ["job-process_type2"] = function() return true end,
      add_to_database = function(s) return true, s end, catch = catcher({}),
    }, input)
    assert.equal("SUCCEEDED", result.status)
    assert.same({ "RouteFile", "ProcessType2", "AddToDatabase" }, { calls[1].state, calls[2].state, calls[3].state })
  end)

  it("tells the lake's topic about an object over 100 MiB instead of loading it; loads one at the limit", function()
    local input = copy(INPUT)
    input.size = 104857601
    local result, calls = run({ sns = function() return true, { MessageId = "m-1" } end }, input)
    assert.equal("SUCCEEDED", result.status)
    assert.equal(1, #calls)
    assert.same({ "TooLarge", "sns" }, { calls[1].state, calls[1].name })
    assert.equal("example/type1/a.json in raw is 104857601 bytes, over the 100 MiB pipeline_example loads; "
      .. "it stays in the raw layer.", calls[1].input.Message)
    input.size = 104857600
    local ok_result, ok_calls = run({
      route_file = route, ["job-process_type1"] = function() return true end,
      add_to_database = function(s) return true, s end, catch = catcher({}),
    }, input)
    assert.equal("SUCCEEDED", ok_result.status)
    assert.equal("RouteFile", ok_calls[1].state)
  end)

  it("fails through the catch with the error when a step fails", function()
    local seen = {}
    local result = run({
      route_file = route,
      ["job-process_type1"] = function() return false, { Error = "States.TaskFailed", Cause = "job crashed" } end,
      catch = catcher(seen),
    })
    assert.equal("FAILED", result.status)
    assert.equal("PipelineFailed", result.error)
    assert.same({ Error = "States.TaskFailed", Cause = "job crashed" }, seen[1].input.error)
    assert.equal("type1", seen[1].input.route)
  end)

  it("retries transient Lambda errors", function()
    local attempts = 0
    local result = run({
      route_file = function(s)
        attempts = attempts + 1
        if attempts < 3 then return false, { Error = "Lambda.TooManyRequestsException", Cause = "slow down" } end
        return route(s)
      end,
      ["job-process_type1"] = function() return true end,
      add_to_database = function(s) return true, s end,
      catch = catcher({}),
    })
    assert.equal("SUCCEEDED", result.status)
    assert.equal(3, attempts)
  end)
end)
