-- luacheck: max line length 200
-- The local ASL interpreter against the semantics of the AWS Step Functions
-- developer guide. Worked examples of the guide are reproduced with their
-- documented inputs and outputs; the page title is in the test name.
local interpreter = require("lake.states.interpreter")
local json = require("host.json")

local function read_fixture(name)
  local f = assert(io.open("spec/fixtures/asl/" .. name .. ".json", "rb"))
  local text = f:read("a")
  f:close()
  return assert(json.decode(text, name))
end

local function J(text)
  return assert(json.decode(text))
end

-- A machine that must be valid.
local function machine(def, opts)
  if type(def) == "string" then def = J(def) end
  local m, problems = interpreter.new(def, opts)
  assert(m, problems and table.concat(problems, "\n"))
  return m
end

-- Records the effects of a run: task inputs, sleeps and events.
local function recorder(results)
  local rec = { calls = {}, sleeps = {}, events = {} }
  rec.opts = {
    invoke = function(resource, input, name, state, info)
      rec.calls[#rec.calls + 1] = { resource = resource, input = input, state = name, def = state, info = info }
      local r = results
      if type(r) == "function" then return r(resource, input, name, state, info) end
      if type(r) == "table" and r.sequence then
        local n = #rec.calls
        local item = r.sequence[n] or r.sequence[#r.sequence]
        if item.Error then return false, item end
        return true, item.ok
      end
      return true, r
    end,
    sleep = function(s) rec.sleeps[#rec.sleeps + 1] = s end,
    on_event = function(ev) rec.events[#rec.events + 1] = ev end,
  }
  return rec
end

-- The events of one type, as {state, ...} summaries.
local function entered(rec)
  local out = {}
  for _, ev in ipairs(rec.events) do
    if ev.type == "StateEntered" then out[#out + 1] = ev.scope and ev.scope .. "/" .. ev.state or ev.state end
  end
  return out
end

-- One Task state that ends the machine.
local function task(fields)
  local state = { Type = "Task", Resource = "arn:aws:lambda:us-east-1:123456789012:function:HelloFunction", End = true }
  for k, v in pairs(fields or {}) do state[k] = v end
  return { StartAt = "S", States = { S = state } }
end

describe("lake.states.interpreter #unit", function()
  describe("input and output processing", function()
    it("Manipulate parameters in Step Functions workflows: InputPath selects $.dataset2", function()
      local rec = recorder("ok")
      local input = J([[{
        "comment": "Example for InputPath.",
        "dataset1": { "val1": 1, "val2": 2, "val3": 3 },
        "dataset2": { "val1": "a", "val2": "b", "val3": "c" }
      }]])
      machine(task({ InputPath = "$.dataset2" }), rec.opts):run(input)
      assert.same(J('{ "val1": "a", "val2": "b", "val3": "c" }'), rec.calls[1].input)
    end)

    it("Manipulate parameters in Step Functions workflows: a path can yield a selection ($.a[0:2])", function()
      local rec = recorder("ok")
      machine(task({ InputPath = "$.a[0:2]" }), rec.opts):run(J('{ "a": [1, 2, 3, 4] }'))
      assert.same({ 1, 2 }, rec.calls[1].input)
      assert.equal("[1,2]", json.encode(rec.calls[1].input))
    end)

    it("Manipulate parameters in Step Functions workflows: Parameters with key-value pairs", function()
      local rec = recorder("ok")
      local def = task({ Parameters = J([[{
        "comment": "Selecting what I care about.",
        "MyDetails": {
          "size.$": "$.product.details.size",
          "exists.$": "$.product.availability",
          "StaticValue": "foo"
        }
      }]]) })
      machine(def, rec.opts):run(J([[{
        "comment": "Example for Parameters.",
        "product": {
          "details": { "color": "blue", "size": "small", "material": "cotton" },
          "availability": "in stock",
          "sku": "2317",
          "cost": "$23"
        }
      }]]))
      assert.same(J([[{
        "comment": "Selecting what I care about.",
        "MyDetails": { "size": "small", "exists": "in stock", "StaticValue": "foo" }
      }]]), rec.calls[1].input)
    end)

    it("Manipulate parameters in Step Functions workflows: ResultSelector picks from the task result", function()
      local result = J([[{
        "resourceType": "elasticmapreduce",
        "resource": "createCluster.sync",
        "output": {
          "SdkHttpMetadata": {
            "HttpHeaders": {
              "Content-Length": "1112",
              "Content-Type": "application/x-amz-JSON-1.1",
              "Date": "Mon, 25 Nov 2019 19:41:29 GMT",
              "x-amzn-RequestId": "1234-5678-9012"
            },
            "HttpStatusCode": 200
          },
          "SdkResponseMetadata": { "RequestId": "1234-5678-9012" },
          "ClusterId": "AKIAIOSFODNN7EXAMPLE"
        }
      }]])
      local def = task({ ResultSelector = { ["ClusterId.$"] = "$.output.ClusterId", ["ResourceType.$"] = "$.resourceType" } })
      local r = machine(def, recorder(result).opts):run(J("{}"))
      assert.same({ status = "SUCCEEDED", steps = 1,
        output = J('{ "ResourceType": "elasticmapreduce", "ClusterId": "AKIAIOSFODNN7EXAMPLE" }') }, r)
    end)

    describe("Specifying state output using ResultPath in Step Functions", function()
      local input = '{ "comment": "This is a test", "details": "Default example", "who": "Step Functions" }'
      local result = "Hello, Step Functions!"

      it("replaces the input with the task result when ResultPath is absent or $", function()
        for _, fields in ipairs({ {}, { ResultPath = "$" } }) do
          local r = machine(task(fields), recorder(result).opts):run(J(input))
          assert.equal("Hello, Step Functions!", r.output)
        end
      end)

      it("discards the result and keeps the original input with ResultPath null", function()
        local r = machine(task({ ResultPath = json.null }), recorder(result).opts):run(J(input))
        assert.same(J(input), r.output)
      end)

      it("includes the result with the input ($.taskresult)", function()
        local r = machine(task({ ResultPath = "$.taskresult" }), recorder(result).opts):run(J(input))
        assert.same(J([[{ "comment": "This is a test", "details": "Default example", "who": "Step Functions",
                          "taskresult": "Hello, Step Functions!" }]]), r.output)
      end)

      it("inserts the result into a child node ($.strings.lambdaresult)", function()
        local r = machine(task({ ResultPath = "$.strings.lambdaresult" }), recorder("Hello, AWS Step Functions!").opts)
          :run(J([[{ "comment": "An input comment.",
                     "strings": { "string1": "foo", "string2": "bar", "string3": "baz" },
                     "who": "AWS Step Functions" }]]))
        assert.same(J([[{ "comment": "An input comment.",
                          "strings": { "string1": "foo", "string2": "bar", "string3": "baz",
                                       "lambdaresult": "Hello, AWS Step Functions!" },
                          "who": "AWS Step Functions" }]]), r.output)
      end)

      it("updates an existing node with the result ($.comment)", function()
        local r = machine(task({ ResultPath = "$.comment" }), recorder(result).opts):run(J(input))
        assert.same(J([[{ "comment": "Hello, Step Functions!", "details": "Default example",
                          "who": "Step Functions" }]]), r.output)
      end)

      it("includes the error and the input in a Catch ($.error)", function()
        local def = task({ Catch = { { ErrorEquals = { "States.ALL" }, Next = "NextTask", ResultPath = "$.error" } } })
        def.States.NextTask = { Type = "Pass", End = true }
        local rec = recorder(function() return false, { Error = "Error here" } end)
        local r = machine(def, rec.opts):run(J('{"foo": "bar"}'))
        assert.same(J('{ "foo": "bar", "error": { "Error": "Error here" } }'), r.output)
      end)
    end)

    it("Example: Manipulating state data with paths in Step Functions workflows (InputPath, ResultPath, OutputPath)", function()
      local rec = recorder("Hello, AWS Step Functions!")
      local def = task({ InputPath = "$.lambda", ResultPath = "$.data.lambdaresult", OutputPath = "$.data" })
      local r = machine(def, rec.opts):run(J([[{
        "comment": "An input comment.",
        "data": { "val1": 23, "val2": 17 },
        "extra": "foo",
        "lambda": { "who": "AWS Step Functions" }
      }]]))
      assert.same(J('{"who": "AWS Step Functions"}'), rec.calls[1].input)
      assert.same(J('{ "val1": 23, "val2": 17, "lambdaresult": "Hello, AWS Step Functions!" }'), r.output)
    end)

    it("Amazon States Language, Input and Output Processing: the numbers-to-add example", function()
      local input = '{ "title": "Numbers to add", "numbers": { "val1": 3, "val2": 4 } }'
      local add = function(_, numbers) return true, numbers.val1 + numbers.val2 end
      local r = machine(task({ InputPath = "$.numbers", ResultPath = "$.sum", OutputPath = "$" }), { invoke = add })
        :run(J(input))
      assert.same(J('{ "title": "Numbers to add", "numbers": { "val1": 3, "val2": 4 }, "sum": 7 }'), r.output)
      r = machine(task({ InputPath = "$.numbers", ResultPath = "$.sum", OutputPath = "$.sum" }), { invoke = add })
        :run(J('{ "numbers": { "val1": 3, "val2": 4 } }'))
      assert.equal(7, r.output)
    end)

    it("Amazon States Language, Input and Output Processing: InputPath and OutputPath null give {}", function()
      local rec = recorder("result")
      local r = machine(task({ InputPath = json.null, OutputPath = json.null }), rec.opts):run(J('{"a": 1}'))
      assert.equal("{}", json.encode(rec.calls[1].input))
      assert.equal("{}", json.encode(r.output))
    end)

    it("runs Pass states: Result, Parameters, ResultPath and OutputPath", function()
      local r = machine([[{
        "StartAt": "A",
        "States": {
          "A": { "Type": "Pass", "Result": { "x": 1, "list": [] }, "ResultPath": "$.fixed", "Next": "B" },
          "B": { "Type": "Pass", "Parameters": { "sum.$": "States.MathAdd($.fixed.x, $.n)", "kept.$": "$.fixed" },
                 "ResultPath": "$.made", "Next": "C" },
          "C": { "Type": "Pass", "OutputPath": "$.made", "End": true }
        }
      }]]):run(J('{"n": 41}'))
      assert.equal('{"kept":{"list":[],"x":1},"sum":42}', json.encode(r.output))
      assert.equal(3, r.steps)
    end)

    it("passes the input of a Pass state through when it has no Result", function()
      local r = machine('{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}'):run(J('{"a": [1]}'))
      assert.same(J('{"a": [1]}'), r.output)
    end)

    it("runs with {} when no input is given", function()
      local r = machine('{"StartAt": "P", "States": {"P": {"Type": "Succeed"}}}'):run()
      assert.equal("{}", json.encode(r.output))
    end)

    it("does not change the input it was given", function()
      local input = J('{"a": {"b": 1}}')
      machine(task({ ResultPath = "$.a.c" }), recorder("x").opts):run(input)
      assert.equal('{"a":{"b":1}}', json.encode(input))
    end)

    describe("failures", function()
      it("fails with States.Runtime when InputPath selects nothing (and Catch does not apply)", function()
        local def = task({ InputPath = "$.missing", Catch = { { ErrorEquals = { "States.ALL" }, Next = "C" } } })
        def.States.C = { Type = "Succeed" }
        local rec = recorder("x")
        local r = machine(def, rec.opts):run(J('{"a": 1}'))
        assert.same({ status = "FAILED", error = "States.Runtime", state = "S", steps = 1,
          cause = "Invalid path '$.missing' in InputPath: $ has no field 'missing'" }, r)
        assert.equal(0, #rec.calls)
      end)

      it("fails with States.Runtime when OutputPath selects nothing", function()
        local r = machine(task({ OutputPath = "$.nope" }), recorder({ yes = 1 }).opts):run(J("{}"))
        assert.equal("States.Runtime", r.error)
        assert.equal("Invalid path '$.nope' in OutputPath: $ has no field 'nope'", r.cause)
      end)

      it("reports States.ParameterPathFailure for a Parameters path that selects nothing, and Catch takes it", function()
        local def = task({ Parameters = { ["x.$"] = "$.product.size" },
          Catch = { { ErrorEquals = { "States.ParameterPathFailure" }, Next = "C" } } })
        def.States.C = { Type = "Pass", End = true }
        local r = machine(def, recorder("x").opts):run(J('{"product": {}}'))
        assert.same({
          Error = "States.ParameterPathFailure",
          Cause = "The JSONPath '$.product.size' specified for the field 'x.$' could not be found in the input "
            .. "'{\"product\":{}}': $.product has no field 'size'",
        }, r.output)
      end)

      it("reports States.ResultPathMatchFailure when ResultPath cannot be applied", function()
        local r = machine(task({ ResultPath = "$.a.b" }), recorder("x").opts):run(J('{"a": "text"}'))
        assert.equal("States.ResultPathMatchFailure", r.error)
        assert.equal("Unable to apply ResultPath '$.a.b' to the state input: cannot set field 'b': $.a is a string, "
          .. "not an object", r.cause)
      end)

      it("reports States.IntrinsicFailure for a failing intrinsic function", function()
        local r = machine([[{"StartAt": "P", "States": {"P": {"Type": "Pass",
          "Parameters": {"x.$": "States.ArrayGetItem($.a, 5)"}, "End": true}}}]]):run(J('{"a": [1]}'))
        assert.equal("States.IntrinsicFailure", r.error)
        assert.equal("The intrinsic function in the field 'x.$' failed: States.ArrayGetItem: index 5 is out of range "
          .. "(array length 1)", r.cause)
      end)

      it("fails the execution when a Task runner is missing", function()
        local r = machine(task()):run(J("{}"))
        assert.equal("States.Runtime", r.error)
        assert.equal("no task runner was given to the interpreter (opts.invoke)", r.cause)
      end)
    end)
  end)

  describe("the context object", function()
    it("Accessing execution data from the Context object: $$ paths in Parameters", function()
      local rec = recorder("ok")
      local t = 1553631253.192
      local def = task({ Parameters = J([[{
        "QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/flight-purchase",
        "MessageBody": { "From": "YVR", "To": "SEA", "Execution.$": "$$.Execution.Id" },
        "name.$": "$$.State.Name", "entered.$": "$$.State.EnteredTime", "machine.$": "$$.StateMachine.Name",
        "input.$": "$$.Execution.Input", "exec.$": "$$.Execution.Name", "started.$": "$$.Execution.StartTime"
      }]]) })
      local opts = rec.opts
      opts.now = function() return t end
      opts.execution_name = "executionName"
      opts.state_machine_name = "stateMachineName"
      machine(def, opts):run(J('{"key": "value"}'))
      assert.same(J([[{
        "QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/flight-purchase",
        "MessageBody": { "From": "YVR", "To": "SEA",
                         "Execution": "arn:aws:states:local:000000000000:execution:stateMachineName:executionName" },
        "name": "S", "entered": "2019-03-26T20:14:13.192Z", "machine": "stateMachineName",
        "input": {"key": "value"}, "exec": "executionName", "started": "2019-03-26T20:14:13.192Z"
      }]]), rec.calls[1].input)
    end)

    it("Accessing execution data from the Context object: Map.Item.Index and Map.Item.Value", function()
      local r = machine(read_fixture("context_map")):run(J('[{ "who": "bob" }, { "who": "meg" }, { "who": "joe" }]'))
      assert.same(J([[[
        { "ContextValue": { "who": "bob" }, "ContextIndex": 0 },
        { "ContextValue": { "who": "meg" }, "ContextIndex": 1 },
        { "ContextValue": { "who": "joe" }, "ContextIndex": 2 }
      ] ]]), r.output)
    end)

    it("counts retries in $$.State.RetryCount", function()
      local def = task({ Parameters = { ["retry.$"] = "$$.State.RetryCount" },
        Retry = { { ErrorEquals = { "Flaky" }, MaxAttempts = 2 } } })
      local rec = recorder({ sequence = { { Error = "Flaky" }, { Error = "Flaky" }, { ok = "done" } } })
      local r = machine(def, rec.opts):run(J("{}"))
      assert.equal("done", r.output)
      assert.same({ 0, 1, 2 }, { rec.calls[1].input.retry, rec.calls[2].input.retry, rec.calls[3].input.retry })
      assert.same({ 1, 2, 3 }, { rec.calls[1].info.attempt, rec.calls[2].info.attempt, rec.calls[3].info.attempt })
    end)
  end)

  describe("Choice", function()
    -- route(rule, input) runs a Choice whose single rule leads to "yes" and whose Default is "no"
    local function route(rule, input, default)
      rule.Next = "Yes"
      local def = { StartAt = "C", States = {
        C = { Type = "Choice", Choices = { rule }, Default = default ~= false and "No" or nil },
        Yes = { Type = "Pass", Result = "yes", End = true },
      } }
      if default ~= false then def.States.No = { Type = "Pass", Result = "no", End = true } end
      local r = machine(def):run(type(input) == "string" and J(input) or input)
      if r.status == "FAILED" then return r.error .. ": " .. r.cause end
      return r.output
    end

    local input = [[{
      "s": "abc", "n": 10, "f": 2.5, "t": true, "z": null, "ts": "2016-08-18T17:33:00Z",
      "other": { "s": "abd", "n": 10, "t": true, "ts": "2016-08-18T18:33:00+01:00" }, "star": "a*b", "list": [1]
    }]]
    local cases = {
      -- strings
      { { Variable = "$.s", StringEquals = "abc" }, "yes" },
      { { Variable = "$.s", StringEquals = "ABC" }, "no" },
      { { Variable = "$.n", StringEquals = "10" }, "no" },
      { { Variable = "$.s", StringLessThan = "abd" }, "yes" },
      { { Variable = "$.s", StringLessThan = "abc" }, "no" },
      { { Variable = "$.s", StringLessThanEquals = "abc" }, "yes" },
      { { Variable = "$.s", StringGreaterThan = "ab" }, "yes" },
      { { Variable = "$.s", StringGreaterThan = "b" }, "no" },
      { { Variable = "$.s", StringGreaterThanEquals = "abc" }, "yes" },
      { { Variable = "$.s", StringEqualsPath = "$.other.s" }, "no" },
      { { Variable = "$.s", StringLessThanPath = "$.other.s" }, "yes" },
      { { Variable = "$.s", StringGreaterThanPath = "$.other.s" }, "no" },
      { { Variable = "$.s", StringLessThanEqualsPath = "$.s" }, "yes" },
      { { Variable = "$.s", StringGreaterThanEqualsPath = "$.other.s" }, "no" },
      { { Variable = "$.s", StringEqualsPath = "$.n" }, "no" },
      { { Variable = "$.s", StringMatches = "a*" }, "yes" },
      { { Variable = "$.s", StringMatches = "*c" }, "yes" },
      { { Variable = "$.s", StringMatches = "a*c*" }, "yes" },
      { { Variable = "$.s", StringMatches = "*b" }, "no" },
      { { Variable = "$.s", StringMatches = "abc" }, "yes" },
      { { Variable = "$.star", StringMatches = "a\\*b" }, "yes" },
      { { Variable = "$.s", StringMatches = "a\\*c" }, "no" },
      { { Variable = "$.n", StringMatches = "*" }, "no" },
      -- numbers
      { { Variable = "$.n", NumericEquals = 10 }, "yes" },
      { { Variable = "$.n", NumericEquals = 10.0 }, "yes" },
      { { Variable = "$.s", NumericEquals = 10 }, "no" },
      { { Variable = "$.f", NumericLessThan = 3 }, "yes" },
      { { Variable = "$.f", NumericGreaterThan = 2.5 }, "no" },
      { { Variable = "$.f", NumericGreaterThanEquals = 2.5 }, "yes" },
      { { Variable = "$.n", NumericLessThanEquals = 9 }, "no" },
      { { Variable = "$.n", NumericEqualsPath = "$.other.n" }, "yes" },
      { { Variable = "$.f", NumericLessThanPath = "$.n" }, "yes" },
      { { Variable = "$.n", NumericGreaterThanPath = "$.f" }, "yes" },
      { { Variable = "$.n", NumericLessThanEqualsPath = "$.other.n" }, "yes" },
      { { Variable = "$.f", NumericGreaterThanEqualsPath = "$.n" }, "no" },
      { { Variable = "$.n", NumericEqualsPath = "$.s" }, "no" },
      -- booleans
      { { Variable = "$.t", BooleanEquals = true }, "yes" },
      { { Variable = "$.t", BooleanEquals = false }, "no" },
      { { Variable = "$.s", BooleanEquals = true }, "no" },
      { { Variable = "$.t", BooleanEqualsPath = "$.other.t" }, "yes" },
      -- timestamps (an offset and Z compare as instants)
      { { Variable = "$.ts", TimestampEquals = "2016-08-18T17:33:00Z" }, "yes" },
      { { Variable = "$.ts", TimestampEquals = "2016-08-18T17:33:00.000Z" }, "yes" },
      { { Variable = "$.ts", TimestampEqualsPath = "$.other.ts" }, "yes" },
      { { Variable = "$.ts", TimestampLessThan = "2016-08-18T17:33:00.001Z" }, "yes" },
      { { Variable = "$.ts", TimestampGreaterThan = "2016-08-18T17:32:59Z" }, "yes" },
      { { Variable = "$.ts", TimestampLessThanEquals = "2016-08-18T17:32:59Z" }, "no" },
      { { Variable = "$.ts", TimestampGreaterThanEquals = "2016-08-19T00:00:00Z" }, "no" },
      { { Variable = "$.ts", TimestampLessThanPath = "$.other.ts" }, "no" },
      { { Variable = "$.ts", TimestampGreaterThanPath = "$.other.ts" }, "no" },
      { { Variable = "$.ts", TimestampLessThanEqualsPath = "$.other.ts" }, "yes" },
      { { Variable = "$.ts", TimestampGreaterThanEqualsPath = "$.other.ts" }, "yes" },
      { { Variable = "$.s", TimestampEquals = "2016-08-18T17:33:00Z" }, "no" },
      { { Variable = "$.ts", StringEquals = "2016-08-18T17:33:00Z" }, "yes" },
      -- type tests
      { { Variable = "$.z", IsNull = true }, "yes" },
      { { Variable = "$.s", IsNull = true }, "no" },
      { { Variable = "$.s", IsPresent = true }, "yes" },
      { { Variable = "$.missing", IsPresent = true }, "no" },
      { { Variable = "$.missing", IsPresent = false }, "yes" },
      { { Variable = "$.n", IsNumeric = true }, "yes" },
      { { Variable = "$.s", IsNumeric = false }, "yes" },
      { { Variable = "$.s", IsString = true }, "yes" },
      { { Variable = "$.t", IsBoolean = true }, "yes" },
      { { Variable = "$.ts", IsTimestamp = true }, "yes" },
      { { Variable = "$.s", IsTimestamp = true }, "no" },
      -- combinators
      { { And = { { Variable = "$.n", NumericGreaterThan = 5 }, { Variable = "$.s", StringEquals = "abc" } } }, "yes" },
      { { And = { { Variable = "$.n", NumericGreaterThan = 5 }, { Variable = "$.s", StringEquals = "x" } } }, "no" },
      { { Or = { { Variable = "$.n", NumericLessThan = 5 }, { Variable = "$.s", StringEquals = "abc" } } }, "yes" },
      { { Or = { { Variable = "$.n", NumericLessThan = 5 }, { Variable = "$.s", StringEquals = "x" } } }, "no" },
      { { Not = { Variable = "$.s", StringEquals = "x" } }, "yes" },
      { { Not = { Or = { { Variable = "$.t", BooleanEquals = false },
                         { And = { { Variable = "$.z", IsNull = true }, { Not = { Variable = "$.n", IsNumeric = false } } } } } } },
        "no" },
      -- the And stops at the first false rule, so the missing field is never read
      { { And = { { Variable = "$.t", BooleanEquals = false }, { Variable = "$.missing", StringEquals = "x" } } }, "no" },
      -- a $$ Variable
      { { Variable = "$$.State.Name", StringEquals = "C" }, "yes" },
      { { Variable = "$.list.length()", NumericEquals = 1 }, "yes" },
    }
    for _, case in ipairs(cases) do
      local rule = case[1]
      local label = json.encode(rule)
      it("routes " .. label .. " to " .. case[2], function()
        assert.equal(case[2], route(rule, input))
      end)
    end

    it("fails with States.Runtime when the Variable selects nothing", function()
      assert.equal("States.Runtime: Invalid path '$.missing' in the Variable of a Choice rule: $ has no field 'missing'",
        route({ Variable = "$.missing", StringEquals = "x" }, input))
      assert.equal("States.Runtime: Invalid path '$.missing' in the Variable of a Choice rule: $ has no field 'missing'",
        route({ Variable = "$.missing", IsNull = true }, input))
      assert.equal("States.Runtime: Invalid path '$.none' in StringEqualsPath of a Choice rule: $ has no field 'none'",
        route({ Variable = "$.s", StringEqualsPath = "$.none" }, input))
    end)

    it("fails with States.NoChoiceMatched when no rule matches and there is no Default", function()
      assert.equal("States.NoChoiceMatched: No Choice rule of state 'C' matched the input {\"s\":\"x\"} and there is "
        .. "no Default", route({ Variable = "$.s", StringEquals = "y" }, '{"s": "x"}', false))
    end)

    it("takes the first matching rule, in order", function()
      local r = machine([[{"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
          {"Variable": "$.n", "NumericGreaterThan": 1, "Next": "A"},
          {"Variable": "$.n", "NumericGreaterThan": 0, "Next": "B"}]},
        "A": {"Type": "Pass", "Result": "A", "End": true},
        "B": {"Type": "Pass", "Result": "B", "End": true}}}]]):run(J('{"n": 5}'))
      assert.equal("A", r.output)
    end)

    it("applies InputPath before the rules and OutputPath after", function()
      local r = machine([[{"StartAt": "C", "States": {
        "C": {"Type": "Choice", "InputPath": "$.in", "OutputPath": "$.keep",
              "Choices": [{"Variable": "$.v", "NumericEquals": 1, "Next": "E"}]},
        "E": {"Type": "Succeed"}}}]]):run(J('{"in": {"v": 1, "keep": "k"}}'))
      assert.equal("k", r.output)
    end)

    it("Choice workflow state: the documented example goes to ValueInTwenties", function()
      local m = machine(read_fixture("choice_doc"))
      assert.equal("ValueInTwenties", m:run(J('{ "type": "Private", "value": 22 }')).output)
      assert.equal("Public", m:run(J('{ "type": "Public", "value": 22 }')).output)
      assert.equal("ValueIsZero", m:run(J('{ "type": "Private", "value": 0 }')).output)
      local r = m:run(J('{ "type": "Private", "value": 50 }'))
      assert.same({ status = "FAILED", cause = "No Matches!", state = "DefaultState", steps = 2 }, r)
      -- "You must specify the $.type field"
      assert.equal("States.Runtime", m:run(J('{ "value": 22 }')).error)
    end)
  end)

  describe("Retry", function()
    local function retried(retrier, errors, random)
      local def = task({ Retry = { retrier } })
      local seq = {}
      for _, e in ipairs(errors) do seq[#seq + 1] = { Error = e, Cause = "cause " .. e } end
      seq[#seq + 1] = { ok = "done" }
      local rec = recorder({ sequence = seq })
      if random then rec.opts.random = random end
      local r = machine(def, rec.opts):run(J("{}"))
      return r, rec
    end

    it("waits IntervalSeconds * BackoffRate^(n-1): 2, 4, 8, then gives up after MaxAttempts", function()
      local r, rec = retried({ ErrorEquals = { "Boom" }, IntervalSeconds = 2, BackoffRate = 2, MaxAttempts = 3 },
        { "Boom", "Boom", "Boom", "Boom" })
      assert.same({ 2, 4, 8 }, rec.sleeps)
      assert.equal(4, #rec.calls)
      assert.same({ status = "FAILED", error = "Boom", cause = "cause Boom", state = "S", steps = 1 }, r)
    end)

    it("succeeds when a retry succeeds", function()
      local r, rec = retried({ ErrorEquals = { "Boom" }, IntervalSeconds = 2, BackoffRate = 2, MaxAttempts = 3 },
        { "Boom", "Boom" })
      assert.same({ 2, 4 }, rec.sleeps)
      assert.equal("done", r.output)
    end)

    it("caps the delay at MaxDelaySeconds: 2, 4, 5", function()
      local _, rec = retried({ ErrorEquals = { "Boom" }, IntervalSeconds = 2, BackoffRate = 2, MaxAttempts = 3,
        MaxDelaySeconds = 5 }, { "Boom", "Boom", "Boom", "Boom" })
      assert.same({ 2, 4, 5 }, rec.sleeps)
    end)

    it("uses the defaults IntervalSeconds 1, BackoffRate 2.0, MaxAttempts 3", function()
      local _, rec = retried({ ErrorEquals = { "Boom" } }, { "Boom", "Boom", "Boom", "Boom" })
      assert.same({ 1, 2, 4 }, rec.sleeps)
      assert.equal(4, #rec.calls)
    end)

    it("Amazon States Language, Errors: waits of 3, 4.5, 6.75 and 10.125 seconds", function()
      local _, rec = retried({ ErrorEquals = { "States.Timeout" }, IntervalSeconds = 3, MaxAttempts = 4, BackoffRate = 1.5 },
        { "States.Timeout", "States.Timeout", "States.Timeout", "States.Timeout", "States.Timeout" })
      assert.same({ 3, 4.5, 6.75, 10.125 }, rec.sleeps)
    end)

    it("draws each delay between 0 and the back-off with JitterStrategy FULL (injected random)", function()
      local draws = { 0.25, 0.5, 0.75 }
      local i = 0
      local _, rec = retried({ ErrorEquals = { "Boom" }, IntervalSeconds = 2, BackoffRate = 2, MaxAttempts = 3,
        JitterStrategy = "FULL" }, { "Boom", "Boom", "Boom" }, function()
        i = i + 1
        return draws[i]
      end)
      assert.same({ 0.5, 2, 6 }, rec.sleeps)
    end)

    it("uses no jitter with JitterStrategy NONE", function()
      local _, rec = retried({ ErrorEquals = { "Boom" }, JitterStrategy = "NONE" }, { "Boom" }, function() return 0.1 end)
      assert.same({ 1 }, rec.sleeps)
    end)

    it("never retries with MaxAttempts 0", function()
      local r, rec = retried({ ErrorEquals = { "Boom" }, MaxAttempts = 0 }, { "Boom" })
      assert.same({}, rec.sleeps)
      assert.equal(1, #rec.calls)
      assert.equal("Boom", r.error)
    end)

    it("does not retry errors its ErrorEquals does not name", function()
      local r, rec = retried({ ErrorEquals = { "Other" } }, { "Boom" })
      assert.same({}, rec.sleeps)
      assert.equal("Boom", r.error)
    end)

    it("Amazon States Language, Errors (Complex Retry Scenarios): each retrier keeps its own count", function()
      local rec = recorder({ sequence = { { Error = "ErrorA" }, { Error = "ErrorB" }, { Error = "ErrorC" },
        { Error = "ErrorB" }, { ok = "never" } } })
      local r = machine(read_fixture("retry_doc"), rec.opts):run(J("{}"))
      assert.same({ 1, 2, 5 }, rec.sleeps)
      assert.equal(4, #rec.calls)
      assert.equal("recovered", r.output)
      assert.same({ "X", "Z" }, entered(rec))
    end)

    it("Handling errors in Step Functions workflows: retry every error except States.Timeout", function()
      local retry = { { ErrorEquals = { "States.Timeout" }, MaxAttempts = 0 }, { ErrorEquals = { "States.ALL" } } }
      local rec = recorder({ sequence = { { Error = "Any" }, { Error = "States.Timeout" } } })
      local r = machine(task({ Retry = retry }), rec.opts):run(J("{}"))
      assert.same({ 1 }, rec.sleeps)
      assert.equal("States.Timeout", r.error)
    end)

    it("matches any error but States.Timeout with States.TaskFailed", function()
      local retry = { { ErrorEquals = { "States.TaskFailed" }, MaxAttempts = 5 } }
      local rec = recorder({ sequence = { { Error = "Lambda.Unknown" }, { Error = "Custom" }, { Error = "States.Timeout" } } })
      local r = machine(task({ Retry = retry }), rec.opts):run(J("{}"))
      assert.same({ 1, 2 }, rec.sleeps)
      assert.equal("States.Timeout", r.error)
    end)

    it("reports each failed attempt and each scheduled retry on the timeline", function()
      local _, rec = retried({ ErrorEquals = { "Boom" }, IntervalSeconds = 3 }, { "Boom" })
      local seen = {}
      for _, ev in ipairs(rec.events) do
        if ev.type == "TaskFailed" or ev.type == "RetryScheduled" then
          seen[#seen + 1] = { ev.type, ev.state, ev.error, ev.attempt, ev.delay }
        end
      end
      assert.same({ { "TaskFailed", "S", "Boom", 1 }, { "RetryScheduled", "S", "Boom", 1, 3 } }, seen)
    end)

    it("passes TimeoutSeconds to the task runner, which reports States.Timeout", function()
      local rec = recorder(function(_, _, _, state, info)
        return false, { Error = "States.Timeout", Cause = "ran longer than " .. state.TimeoutSeconds .. "s " .. info.timeout }
      end)
      local r = machine(task({ TimeoutSeconds = 2 }), rec.opts):run(J("{}"))
      assert.equal("States.Timeout", r.error)
      assert.equal("ran longer than 2s 2", r.cause)
    end)

    it("resolves TimeoutSecondsPath from the state input", function()
      local rec = recorder("ok")
      machine(task({ TimeoutSecondsPath = "$.limit" }), rec.opts):run(J('{"limit": 30}'))
      assert.equal(30, rec.calls[1].def.TimeoutSeconds)
      assert.equal(30, rec.calls[1].info.timeout)
      local r = machine(task({ TimeoutSecondsPath = "$.limit" }), rec.opts):run(J('{"limit": "x"}'))
      assert.equal("States.Runtime", r.error)
      assert.equal("TimeoutSecondsPath '$.limit' must select a positive integer, got \"x\"", r.cause)
    end)

    it("calls a failure without Error States.TaskFailed", function()
      local r = machine(task(), { invoke = function() return false, { Cause = "no name" } end }):run(J("{}"))
      assert.same({ "States.TaskFailed", "no name" }, { r.error, r.cause })
    end)
  end)

  describe("Catch", function()
    local function caught(catch, failure, retry)
      local def = task({ Catch = catch, Retry = retry })
      def.States.Next1 = { Type = "Pass", End = true }
      for _, c in ipairs(catch) do
        if c.Next == "Next2" then def.States.Next2 = { Type = "Pass", Result = "second", End = true } end
      end
      local rec = recorder(function() return false, failure end)
      return machine(def, rec.opts):run(J('{"keep": 1}')), rec
    end

    it("replaces the input with the error output by default", function()
      local r = caught({ { ErrorEquals = { "States.ALL" }, Next = "Next1" } }, { Error = "E", Cause = "C" })
      assert.same({ status = "SUCCEEDED", steps = 2, output = { Error = "E", Cause = "C" } }, r)
    end)

    it("keeps the input and adds the error with ResultPath $.error", function()
      local r = caught({ { ErrorEquals = { "States.ALL" }, Next = "Next1", ResultPath = "$.error" } },
        { Error = "E", Cause = "C" })
      assert.equal('{"error":{"Cause":"C","Error":"E"},"keep":1}', json.encode(r.output))
    end)

    it("keeps only the input with ResultPath null", function()
      local r = caught({ { ErrorEquals = { "States.ALL" }, Next = "Next1", ResultPath = json.null } }, { Error = "E" })
      assert.same({ keep = 1 }, r.output)
    end)

    it("takes the first catcher whose ErrorEquals matches", function()
      local catch = { { ErrorEquals = { "Other" }, Next = "Next1" }, { ErrorEquals = { "E", "F" }, Next = "Next2" },
        { ErrorEquals = { "States.ALL" }, Next = "Next1" } }
      assert.equal("second", caught(catch, { Error = "F" }).output)
    end)

    it("does not catch States.Timeout with States.TaskFailed", function()
      local catch = { { ErrorEquals = { "States.TaskFailed" }, Next = "Next2" }, { ErrorEquals = { "States.ALL" }, Next = "Next1" } }
      assert.same({ Error = "States.Timeout" }, caught(catch, { Error = "States.Timeout" }).output)
      assert.equal("second", caught(catch, { Error = "Lambda.Unknown" }).output)
    end)

    it("catches after the retries are exhausted", function()
      local r, rec = caught({ { ErrorEquals = { "States.ALL" }, Next = "Next1", ResultPath = "$.error" } },
        { Error = "E", Cause = "C" }, { { ErrorEquals = { "E" }, MaxAttempts = 2 } })
      assert.same({ 1, 2 }, rec.sleeps)
      assert.equal(3, #rec.calls)
      assert.same({ keep = 1, error = { Error = "E", Cause = "C" } }, r.output)
      local types = {}
      for _, ev in ipairs(rec.events) do types[#types + 1] = ev.type end
      assert.same({ "ExecutionStarted", "StateEntered", "TaskFailed", "RetryScheduled", "TaskFailed", "RetryScheduled",
        "TaskFailed", "Caught", "StateEntered", "StateExited", "ExecutionSucceeded" }, types)
    end)

    it("fails the execution when no catcher matches", function()
      local r = caught({ { ErrorEquals = { "Other" }, Next = "Next1" } }, { Error = "E", Cause = "C" })
      assert.same({ status = "FAILED", error = "E", cause = "C", state = "S", steps = 1 }, r)
    end)

    it("fails with States.ResultPathMatchFailure when a catcher's ResultPath cannot be applied", function()
      local def = task({ Catch = { { ErrorEquals = { "States.ALL" }, Next = "N", ResultPath = "$.a.b" } } })
      def.States.N = { Type = "Succeed" }
      local r = machine(def, { invoke = function() return false, { Error = "E" } end }):run(J('{"a": 1}'))
      assert.equal("States.ResultPathMatchFailure", r.error)
    end)
  end)

  describe("Fail", function()
    it("ends the execution with its Error and Cause", function()
      local r = machine('{"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "ErrorA", "Cause": "Kaiju attack"}}}')
        :run(J("{}"))
      assert.same({ status = "FAILED", error = "ErrorA", cause = "Kaiju attack", state = "F", steps = 1 }, r)
    end)

    it("reads ErrorPath and CausePath from the input, or from an intrinsic function", function()
      local m = machine([[{"StartAt": "F", "States": {"F": {"Type": "Fail", "ErrorPath": "$.e",
        "CausePath": "States.Format('Cause: {}', $.c)"}}}]])
      local r = m:run(J('{"e": "Custom", "c": "it broke"}'))
      assert.same({ "Custom", "Cause: it broke" }, { r.error, r.cause })
      r = m:run(J('{"e": 5, "c": "x"}'))
      assert.same({ "States.Runtime", "ErrorPath '$.e' must select a string, got 5" }, { r.error, r.cause })
    end)

    it("is caught like any error when it ends a Parallel branch", function()
      local r = machine([[{"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Branches": [
                {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Bad", "Cause": "branch"}}}],
              "Catch": [{"ErrorEquals": ["Bad"], "Next": "R"}], "End": true},
        "R": {"Type": "Pass", "End": true}}}]]):run(J("{}"))
      assert.same({ Error = "Bad", Cause = "branch" }, r.output)
    end)
  end)

  describe("Parallel and Map", function()
    local function copier(rec)
      return function(_, input)
        rec.copies = (rec.copies or 0) + 1
        return true, { Payload = { copied = input.Payload.file, index = input.Payload.index, bucket = input.Payload.bucket },
          StatusCode = 200 }
      end
    end

    it("outputs the array of branch outputs, runs the Map over the items and applies ResultSelector", function()
      local rec = {}
      local events = {}
      local r = machine(read_fixture("fanout"), { invoke = copier(rec), on_event = function(ev)
        if ev.type == "StateEntered" then events[#events + 1] = (ev.scope and ev.scope .. "/" or "") .. ev.state end
      end }):run(J('{"job": {"bucket": "raw", "files": ["a.csv", "b.csv"]}}'))
      assert.equal("SUCCEEDED", r.status)
      assert.same(J([[{ "count": 2, "copied": [
        { "copied": "a.csv", "index": 0, "bucket": "raw" },
        { "copied": "b.csv", "index": 1, "bucket": "raw" } ] }]]), r.output)
      assert.same({ "Fanout", "Fanout[0]/Count", "Fanout[1]/Each", "Fanout[1]/Each[0]/Copy", "Fanout[1]/Each[1]/Copy",
        "Done" }, events)
      assert.equal(6, r.steps)
    end)

    it("fails the Parallel state when an iteration fails, and its Catch takes the error", function()
      local n = 0
      local r = machine(read_fixture("fanout"), { invoke = function()
        n = n + 1
        if n == 2 then return false, { Error = "Lambda.Unknown", Cause = "boom" } end
        return true, { Payload = {} }
      end }):run(J('{"job": {"bucket": "raw", "files": ["a", "b", "c"]}}'))
      assert.equal("SUCCEEDED", r.status)
      assert.same(J('{"job": {"bucket": "raw", "files": ["a", "b", "c"]}, "error": {"Error": "Lambda.Unknown", "Cause": "boom"}}'),
        r.output)
      assert.equal(2, n)
    end)

    it("retries a Parallel state as a whole", function()
      local calls = 0
      local sleeps = {}
      local r = machine([[{"StartAt": "P", "States": {"P": {"Type": "Parallel",
        "Branches": [{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true}}},
                     {"StartAt": "U", "States": {"U": {"Type": "Pass", "Result": "u", "End": true}}}],
        "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 3}], "End": true}}}]], {
        invoke = function()
          calls = calls + 1
          if calls == 1 then return false, { Error = "Flaky" } end
          return true, "t"
        end,
        sleep = function(s) sleeps[#sleeps + 1] = s end,
      }):run(J("{}"))
      assert.same({ "t", "u" }, r.output)
      assert.same({ 3 }, sleeps)
    end)

    it("gives each branch the effective input (InputPath then Parameters)", function()
      local r = machine([[{"StartAt": "P", "States": {"P": {"Type": "Parallel", "InputPath": "$.in",
        "Parameters": {"v.$": "$.v", "fixed": 1},
        "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}},
                     {"StartAt": "B", "States": {"B": {"Type": "Pass", "OutputPath": "$.v", "End": true}}}],
        "ResultPath": "$.out", "End": true}}}]]):run(J('{"in": {"v": "x"}}'))
      assert.equal('{"in":{"v":"x"},"out":[{"fixed":1,"v":"x"},"x"]}', json.encode(r.output))
    end)

    it("Map workflow state: the documented example with Parameters and ResultPath $.detail.shipped", function()
      local rec = recorder(function(_, input) return true, { valid = input.parcel.prod } end)
      local input = J([[{
        "ship-date": "2016-03-14T01:59:00Z",
        "detail": {
          "delivery-partner": "UQS",
          "shipped": [
            { "prod": "R31", "dest-code": 9511, "quantity": 1344 },
            { "prod": "S39", "dest-code": 9511, "quantity": 40 },
            { "prod": "R31", "dest-code": 9833, "quantity": 12 },
            { "prod": "R40", "dest-code": 9860, "quantity": 887 },
            { "prod": "R40", "dest-code": 9511, "quantity": 1220 }
          ]
        }
      }]])
      local r = machine(read_fixture("map_doc"), rec.opts):run(input)
      assert.equal(5, #rec.calls)
      assert.same(J('{ "parcel": { "prod": "R31", "dest-code": 9511, "quantity": 1344 }, "courier": "UQS" }'),
        rec.calls[1].input)
      assert.same(J([[{
        "ship-date": "2016-03-14T01:59:00Z",
        "detail": {
          "delivery-partner": "UQS",
          "shipped": [ {"valid": "R31"}, {"valid": "S39"}, {"valid": "R31"}, {"valid": "R40"}, {"valid": "R40"} ]
        }
      }]]), r.output)
    end)

    it("outputs [] for an empty array and fails with States.Runtime when ItemsPath is not an array", function()
      local def = [[{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}]]
      assert.equal("[]", json.encode(machine(def):run(J('{"items": []}')).output))
      local r = machine(def):run(J('{"items": {"a": 1}}'))
      assert.same({ "States.Runtime", "ItemsPath '$.items' must select an array, got {\"a\":1}" }, { r.error, r.cause })
    end)
  end)

  describe("Wait", function()
    local function waited(state, input, now)
      state.Type, state.End = "Wait", true
      local sleeps = {}
      local r = machine({ StartAt = "W", States = { W = state } }, {
        sleep = function(s) sleeps[#sleeps + 1] = s end,
        now = function() return now or 0 end,
      }):run(J(input or "{}"))
      return r, sleeps
    end

    it("sleeps Seconds through the injected sleep and passes its input on", function()
      local r, sleeps = waited({ Seconds = 10 }, '{"a": 1}')
      assert.same({ 10 }, sleeps)
      assert.same({ a = 1 }, r.output)
    end)

    it("reads SecondsPath from the effective input", function()
      local _, sleeps = waited({ SecondsPath = "$.delay", InputPath = "$.cfg" }, '{"cfg": {"delay": 7}}')
      assert.same({ 7 }, sleeps)
      local r = waited({ SecondsPath = "$.delay" }, '{"delay": -1}')
      assert.same({ "States.Runtime", "SecondsPath '$.delay' must select an integer, 0 or more, got -1" }, { r.error, r.cause })
    end)

    it("sleeps until Timestamp or TimestampPath, using the injected clock", function()
      local now = 1451606340 -- 2015-12-31T23:59:00Z
      local _, sleeps = waited({ Timestamp = "2016-01-01T00:00:00Z" }, nil, now)
      assert.same({ 60 }, sleeps)
      _, sleeps = waited({ TimestampPath = "$.at" }, '{"at": "2016-01-01T01:00:00.5+01:00"}', now)
      assert.same({ 60.5 }, sleeps)
      _, sleeps = waited({ Timestamp = "2015-01-01T00:00:00Z" }, nil, now)
      assert.same({ 0 }, sleeps)
      local r = waited({ TimestampPath = "$.at" }, '{"at": "tomorrow"}', now)
      assert.same({ "States.Runtime", "TimestampPath '$.at' must select an RFC 3339 timestamp, got \"tomorrow\"" },
        { r.error, r.cause })
    end)
  end)

  describe("guards", function()
    it("stops a run that never ends after max_steps states with States.Runtime", function()
      local r = machine(read_fixture("loop"), { max_steps = 50 }):run(J("{}"))
      assert.same({ status = "FAILED", error = "States.Runtime", steps = 50,
        cause = "The execution entered 50 states (max_steps) without ending; is there a loop?" }, r)
      assert.equal("SUCCEEDED", machine(read_fixture("loop"), { max_steps = 50 }):run(J('{"stop": 1}')).status)
    end)

    it("does not let a Catch inside the loop take the max_steps failure", function()
      local r = machine([[{"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [
          {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A2"}, "A2": {"Type": "Pass", "Next": "A"}}}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "R"}], "End": true},
        "R": {"Type": "Succeed"}}}]], { max_steps = 10 }):run(J("{}"))
      assert.same({ "FAILED", "States.Runtime", 10 }, { r.status, r.error, r.steps })
    end)

    it("fails with States.Timeout when the execution runs longer than its TimeoutSeconds", function()
      -- the injected clock moves only when the interpreter sleeps
      local t = 1000
      local def = [[{"TimeoutSeconds": 3, "StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Branches": [{"StartAt": "W", "States": {
                "W": {"Type": "Wait", "Seconds": 5, "Next": "X"}, "X": {"Type": "Succeed"}}}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}], "End": true},
        "C": {"Type": "Succeed"}}}]]
      local opts = { now = function() return t end, sleep = function(s) t = t + s end }
      -- the Parallel state's Catch does not take it
      assert.same({ status = "FAILED", error = "States.Timeout", steps = 2, state = "P",
        cause = "The execution ran longer than its TimeoutSeconds (3)" }, machine(def, opts):run(J("{}")))
      t = 1000
      def = def:gsub('"Seconds": 5', '"Seconds": 2')
      assert.equal("SUCCEEDED", machine(def, opts):run(J("{}")).status)
    end)

    it("refuses bad options as misuse", function()
      assert.has_error(function() interpreter.new(task(), { invok = function() end }) end,
        "interpreter.new: unknown option 'invok'")
      assert.has_error(function() interpreter.new(task(), { sleep = 1 }) end,
        "interpreter.new: opts.sleep must be a function")
      assert.has_error(function() interpreter.new(task(), { max_steps = 0 }) end,
        "interpreter.new: opts.max_steps must be a positive integer")
    end)
  end)

  describe("the timeline", function()
    it("reports entering and leaving states with their input and output, and the end of the execution", function()
      local t = 100
      local events = {}
      machine([[{"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": 1, "ResultPath": "$.a", "Next": "B"},
        "B": {"Type": "Succeed"}}}]], {
        now = function() return t end,
        on_event = function(ev)
          t = t + 1
          events[#events + 1] = { ev.type, ev.state, ev.input and json.encode(ev.input), ev.output and json.encode(ev.output),
            ev.time }
        end,
      }):run(J("{}"))
      assert.same({
        { "ExecutionStarted", nil, "{}", nil, 100 },
        { "StateEntered", "A", "{}", nil, 101 },
        { "StateExited", "A", nil, '{"a":1}', 102 },
        { "StateEntered", "B", '{"a":1}', nil, 103 },
        { "StateExited", "B", nil, '{"a":1}', 104 },
        { "ExecutionSucceeded", nil, nil, '{"a":1}', 105 },
      }, events)
    end)

    it("reports the failing state and the failure", function()
      local events = {}
      machine('{"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "C"}}}', {
        on_event = function(ev) events[#events + 1] = { ev.type, ev.state, ev.error, ev.cause } end,
      }):run(J("{}"))
      assert.same({ { "ExecutionStarted" }, { "StateEntered", "F" }, { "StateFailed", "F", "E", "C" },
        { "ExecutionFailed", "F", "E", "C" } }, events)
    end)
  end)

  describe("intrinsic functions", function()
    -- Intrinsic functions for JSONPath states in Step Functions: each documented example
    local cases = {
      { "States.Format('Hello, my name is {}.', $.name)", '{"name": "Arnav"}', '"Hello, my name is Arnav."' },
      { "States.Format($.template, $.name)", '{"name": "Arnav", "template": "Hello, my name is {}."}',
        '"Hello, my name is Arnav."' },
      { "States.StringToJson($.escapedJsonString)", '{"escapedJsonString": "{\\"foo\\": \\"bar\\"}"}', '{"foo":"bar"}' },
      { "States.JsonToString($.unescapedJson)", '{"unescapedJson": {"foo": "bar"}}', '"{\\"foo\\":\\"bar\\"}"' },
      { "States.Array($.Id)", '{"Id": 123456}', "[123456]" },
      { "States.ArrayPartition($.inputArray,4)", '{"inputArray": [1,2,3,4,5,6,7,8,9]}', "[[1,2,3,4],[5,6,7,8],[9]]" },
      { "States.ArrayContains($.inputArray, $.lookingFor)", '{"inputArray": [1,2,3,4,5,6,7,8,9], "lookingFor": 5}', "true" },
      { "States.ArrayRange(1, 9, 2)", "{}", "[1,3,5,7,9]" },
      { "States.ArrayGetItem($.inputArray, $.index)", '{"inputArray": [1,2,3,4,5,6,7,8,9], "index": 5}', "6" },
      { "States.ArrayLength($.inputArray)", '{"inputArray": [1,2,3,4,5,6,7,8,9]}', "9" },
      { "States.ArrayUnique($.inputArray)", '{"inputArray": [1,2,3,3,3,3,3,3,4]}', "[1,2,3,4]" },
      { "States.Base64Encode($.input)", '{"input": "Data to encode"}', '"RGF0YSB0byBlbmNvZGU="' },
      { "States.Base64Decode($.base64)", '{"base64": "RGF0YSB0byBlbmNvZGU="}', '"Data to encode"' },
      { "States.Hash($.Data, $.Algorithm)", '{"Data": "input data", "Algorithm": "SHA-256"}',
        '"b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"' },
      { "States.Hash('input data', 'MD5')", '{}', '"812f45842bc6d66ee14572ce20db8e86"' },
      { "States.JsonMerge($.json1, $.json2, false)",
        '{"json1": { "a": {"a1": 1, "a2": 2}, "b": 2 }, "json2": { "a": {"a3": 1, "a4": 2}, "c": 3 }}',
        '{"a":{"a3":1,"a4":2},"b":2,"c":3}' },
      { "States.MathAdd($.value1, $.step)", '{"value1": 111, "step": -1}', "110" },
      { "States.StringSplit($.inputString, $.splitter)", '{"inputString": "1,2,3,4,5", "splitter": ","}',
        '["1","2","3","4","5"]' },
      { "States.StringSplit($.inputString, $.splitter)", '{"inputString": "This.is+a,test=string", "splitter": ".+,="}',
        '["This","is","a","test","string"]' },
      -- the nine nested calls of the guide's myArn example, with two placeholders for its two values
      { "States.Format('{}.{}', "
          .. "States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), "
          .. "States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1))",
        '{"ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/my-recipe/1.0.2"}}', '"1.0"' },
      -- escapes, literals and nesting
      { "States.Format('\\{\\} {} \\'{}\\' \\\\', $.a, $.b)", '{"a": 1.5, "b": null}', '"{} 1.5 \'null\' \\\\"' },
      { "States.Array('a', 2, -3.5, true, false, null, States.Array())", "{}", '["a",2,-3.5,true,false,null,[]]' },
      { "States.Format('{} {}', $$.State.Name, $['odd key'])", '{"odd key": [1, 2]}', '"P [1,2]"' },
      { "States.ArrayRange(5, 1, -2)", "{}", "[5,3,1]" },
      { "States.ArrayRange(1, 5, -1)", "{}", "[]" },
      { "States.ArrayPartition($.a, 2.4)", '{"a": [1,2,3]}', "[[1,2],[3]]" },
      { "States.ArrayContains($.a, $.o)", '{"a": [{"x": [1]}], "o": {"x": [1]}}', "true" },
      { "States.ArrayUnique($.a)", '{"a": [{"x": 1}, {"x": 1}, "1", 1]}', '[{"x":1},"1",1]' },
      { "States.MathRandom(1, 999, 7)", "{}", "390" },
      { "States.MathRandom(1, 2)", "{}", "1" },
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        local def = { StartAt = "P", States = { P = { Type = "Pass", Parameters = { ["r.$"] = case[1] }, End = true } } }
        local r = machine(def):run(J(case[2]))
        assert.equal("SUCCEEDED", r.status, r.cause)
        assert.equal(case[3], json.encode(r.output.r))
      end)
    end

    it("takes States.UUID and States.MathRandom values from the injected generators", function()
      local def = { StartAt = "P", States = { P = { Type = "Pass",
        Parameters = { ["u.$"] = "States.UUID()", ["r.$"] = "States.MathRandom(10, 20)" }, End = true } } }
      local r = machine(def, { uuid = function() return "ca4c1140-dcc1-40cd-ad05-7b4aa23df4a8" end,
        random = function() return 0.5 end }):run(J("{}"))
      assert.same({ u = "ca4c1140-dcc1-40cd-ad05-7b4aa23df4a8", r = 15 }, r.output)
      local a = machine(def, { seed = 3 }):run(J("{}")).output
      local b = machine(def, { seed = 3 }):run(J("{}")).output
      assert.same(a, b)
      assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$", a.u)
    end)

    local failures = {
      { "States.ArrayGetItem($.a, 3)", '{"a": [1]}', "States.ArrayGetItem: index 3 is out of range (array length 1)" },
      { "States.ArrayLength($.a)", '{"a": "x"}', "States.ArrayLength: argument 1 must be an array, got string" },
      { "States.StringToJson($.a)", '{"a": "{"}', "States.StringToJson: not JSON text (json:1:2: expected string key, found end of input)" },
      { "States.Format($.t, 1)", '{"t": "no placeholder"}', "States.Format: the template has 0 placeholder(s) but 1 value(s) follow" },
      { "States.MathAdd($.a, 1)", '{"a": 2147483648}', "States.MathAdd: argument 1 (2147483648) is outside -2147483648..2147483647" },
      { "States.MathRandom(5, 5)", "{}", "States.MathRandom: the start (5) must be less than the end (5)" },
      { "States.ArrayRange(1, 2000, 1)", "{}", "States.ArrayRange: the range would have 2000 items (at most 1000)" },
      { "States.ArrayRange(1, 2, 0)", "{}", "States.ArrayRange: the step must not be 0" },
      { "States.ArrayPartition($.a, 0)", '{"a": [1]}', "States.ArrayPartition: the chunk size must be a positive integer, got 0" },
      { "States.Base64Decode('***')", "{}", "States.Base64Decode: the input is not valid base64" },
      { "States.Hash('x', 'SHA-1')", "{}", "States.Hash: SHA-1 is not available in the local interpreter (MD5 and SHA-256 are)" },
      { "States.Hash('x', 'CRC32')", "{}", "States.Hash: unknown algorithm 'CRC32' (MD5, SHA-1, SHA-256, SHA-384 or SHA-512)" },
      { "States.JsonMerge($.a, $.a, true)", '{"a": {}}', "States.JsonMerge: only the shallow mode (false) is supported" },
      { "States.StringSplit('a', '')", "{}", "States.StringSplit: the delimiter must not be empty" },
      { "States.Format('{}', $.missing)", "{}", "path $.missing: $ has no field 'missing'" },
    }
    for _, case in ipairs(failures) do
      it("fails with States.IntrinsicFailure: " .. case[1], function()
        local def = { StartAt = "P", States = { P = { Type = "Pass", Parameters = { ["r.$"] = case[1] }, End = true } } }
        local r = machine(def):run(J(case[2]))
        assert.same({ "States.IntrinsicFailure", "The intrinsic function in the field 'r.$' failed: " .. case[3] },
          { r.error, r.cause })
      end)
    end

    local invalid = {
      { "States.Nope(1)", "invalid intrinsic function call 'States.Nope(1)' at character 1: unknown function States.Nope" },
      { "States.ArrayLength($.a, 1)",
        "invalid intrinsic function call 'States.ArrayLength($.a, 1)' at character 1: States.ArrayLength takes 1 argument, got 2" },
      { "States.Format('{} {}', 1)",
        "invalid intrinsic function call 'States.Format('{} {}', 1)' at character 1: the template of States.Format has 2 "
          .. "placeholder(s) but 1 value(s) follow" },
      { "States.Format('a\\nb')",
        "invalid intrinsic function call 'States.Format('a\\nb')' at character 17: open escape '\\n' (escape only ' { } and \\)" },
      { "States.Array(1", "invalid intrinsic function call 'States.Array(1' at character 15: missing ')'" },
      { "States.Array('x)", "invalid intrinsic function call 'States.Array('x)' at character 14: unterminated string literal" },
      { "States.Array(1) x", "invalid intrinsic function call 'States.Array(1) x' at character 17: unexpected text after the call" },
      { "States.Array($.a[?(@)])",
        "invalid intrinsic function call 'States.Array($.a[?(@)])' at character 14: invalid JSONPath '$.a[?(@)]' at "
          .. "character 5: filter expressions ([?(...)]) are not supported" },
      -- the guide's myArn example as printed: three placeholders, two values
      { "States.Format('{}.{}.{}', States.ArrayGetItem($.a, 0), States.ArrayGetItem($.a, 1))",
        "invalid intrinsic function call 'States.Format('{}.{}.{}', States.ArrayGetItem($.a, 0), States.ArrayGetItem($.a, 1))' "
          .. "at character 1: the template of States.Format has 3 placeholder(s) but 2 value(s) follow" },
      { "States.MathRandom()", "invalid intrinsic function call 'States.MathRandom()' at character 1: States.MathRandom "
          .. "takes 2 to 3 arguments, got 0" },
    }
    for _, case in ipairs(invalid) do
      it("refuses at new(): " .. case[1], function()
        local def = { StartAt = "P", States = { P = { Type = "Pass", Parameters = { ["r.$"] = case[1] }, End = true } } }
        local m, problems = interpreter.new(def)
        assert.is_nil(m)
        assert.same({ "state \"P\" Parameters: 'r.$': " .. case[2] }, problems)
      end)
    end
  end)

  describe("definitions", function()
    -- refusals: each definition and the problems new() lists, in order
    local refusals = {
      { "[]", { "definition: a state machine must be an object with StartAt and States" } },
      { '{"StartAt": "A", "States": {}}', { "definition: States must be an object with at least one state" } },
      { '{"StartAt": "B", "States": {"A": {"Type": "Succeed"}}}',
        { 'definition: StartAt "B" is not a state' } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "Next": "Bb"}, "B": {"Type": "Succeed"}}}',
        { 'state "A": Next "Bb" is not a state (did you mean "B"?)', 'state "B": is not reachable from StartAt "A"' } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Tusk", "End": true}}}',
        { 'state "A": Type must be one of Choice, Fail, Map, Parallel, Pass, Succeed, Task, Wait (did you mean "Task"?)' } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Pass"}}}', { 'state "A": needs Next or "End": true' } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Next": "A"}}}', { 'state "A": has both Next and End' } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Resultpath": "$.x"}}}',
        { "state \"A\": unknown field 'Resultpath' for a Pass state (did you mean 'ResultPath'?)" } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Succeed", "End": true}}}',
        { 'state "A": a Succeed state ends its branch and takes no End' } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [], "Next": "A"}}}',
        { 'state "A": a Choice state takes no Next (its Choices and Default name the next state)',
          'state "A": Choices must be a non-empty array of Choice rules' } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Task", "End": true}}}', { 'state "A": Resource must be a string (an ARN)' } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "ResultPath": "$.a[*]", "InputPath": "x"}}}',
        { "state \"A\": InputPath: invalid JSONPath 'x' at character 1: a path must start with '$'",
          "state \"A\": ResultPath must be a reference path (only .field, ['field'] and [index] steps), got '$.a[*]'" } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "ResultPath": "$$.x"}}}',
        { "state \"A\": ResultPath cannot point into the context object ('$$.x')" } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": {"a.$": 1, "b": {"c.$": "$.x["}}}}}',
        { "state \"A\" Parameters: the value of 'a.$' must be a path or an intrinsic function call",
          "state \"A\" Parameters: 'b.c.$': invalid JSONPath '$.x[' at character 5: missing ']'" } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "End": true, "Retry": [{"ErrorEquals": ["States.ALL", "E"], '
        .. '"IntervalSeconds": 0, "MaxAttempts": -1, "BackoffRate": 0.5, "MaxDelaySeconds": 0, "JitterStrategy": "HALF", "Intervl": 1}, '
        .. '{"ErrorEquals": []}]}}}',
        { "state \"A\" Retry[0]: unknown field 'Intervl' in a retrier",
          "state \"A\" Retry[0]: States.ALL must appear alone in ErrorEquals",
          "state \"A\" Retry[0]: States.ALL must be in the last retrier",
          "state \"A\" Retry[0]: IntervalSeconds must be a positive integer",
          "state \"A\" Retry[0]: MaxAttempts must be an integer, 0 or more",
          "state \"A\" Retry[0]: BackoffRate must be a number, 1.0 or more",
          "state \"A\" Retry[0]: MaxDelaySeconds must be a positive integer",
          'state "A" Retry[0]: JitterStrategy must be "FULL" or "NONE"',
          "state \"A\" Retry[1]: ErrorEquals must be a non-empty array of error names" } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", "End": true, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "A"}, '
        .. '{"ErrorEquals": ["E"], "Next": "Z", "ResultPath": "$.a.length()"}]}}}',
        { "state \"A\" Catch[0]: States.ALL must be in the last catcher",
          'state "A" Catch[1]: Next "Z" is not a state',
          "state \"A\" Catch[1]: ResultPath must be a reference path (only .field, ['field'] and [index] steps), got '$.a.length()'" } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Choice", "Default": "B", "Choices": [{"Variable": "$.x", "StringEqual": "a", "Next": "B"}, '
        .. '{"Variable": "$.x", "NumericEquals": "1", "BooleanEquals": true, "Next": "B"}, {"Variable": "$.x", "NumericEquals": 1}, '
        .. '{"And": [{"Variable": "$.x", "IsNull": true, "Next": "B"}], "Next": "B"}, {"Not": {"Variable": "$.t", "TimestampEquals": "yesterday"}, "Next": "B"}]}, '
        .. '"B": {"Type": "Succeed"}}}',
        { "state \"A\" Choices[0]: unknown field 'StringEqual' (did you mean 'StringEquals'?)",
          "state \"A\" Choices[0]: a Choice rule needs one comparison operator, And, Or or Not",
          "state \"A\" Choices[1]: a Choice rule takes exactly one operator, got BooleanEquals, NumericEquals",
          "state \"A\" Choices[2]: a top-level Choice rule needs Next",
          "state \"A\" Choices[3].And[0]: Next is allowed only in a top-level Choice rule",
          'state "A" Choices[4].Not: TimestampEquals needs an RFC 3339 timestamp such as "2016-08-18T17:33:00Z"' } },
      { '{"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 1, "Timestamp": "x", "End": true}, '
        .. '"B": {"Type": "Wait", "Seconds": 1.5, "Next": "A"}, "C": {"Type": "Wait", "End": true}}}',
        { "state \"A\": a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath (got Seconds, Timestamp)",
          'state "A": Timestamp must be an RFC 3339 timestamp such as "2016-08-18T17:33:00Z"',
          "state \"B\": Seconds must be an integer, 0 or more",
          "state \"C\": a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath",
          'state "B": is not reachable from StartAt "A"', 'state "C": is not reachable from StartAt "A"' } },
      { '{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [{"StartAt": "X", "States": '
        .. '{"X": {"Type": "Pass", "Next": "P"}}}]}}}',
        { 'state "X" (branch 0 of "P"): Next "P" is not a state in branch 0 of "P"' } },
      { '{"StartAt": "P", "States": {"P": {"Type": "Parallel", "Next": "X", "Branches": [{"StartAt": "X", "States": '
        .. '{"X": {"Type": "Succeed"}}}]}, "X": {"Type": "Succeed"}}}',
        { 'state "X" (branch 0 of "P"): the name is used more than once (state names must be unique in the whole state machine)' } },
      { '{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemReader": {}, "ItemsPath": "$[*]"}}}',
        { 'state "M": a Map state needs an ItemProcessor',
          "state \"M\": ItemsPath must be a reference path (only .field, ['field'] and [index] steps), got '$[*]'",
          'state "M": ItemReader needs ItemProcessor.ProcessorConfig.Mode "DISTRIBUTED"',
          'state "M": ItemReader must be an object with a Resource',
          'state "M": give ItemReader or ItemsPath, not both' } },
      { '{"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Assign": {}}}}',
        { "definition: QueryLanguage JSONata is not supported by the local interpreter (only JSONPath)",
          "state \"A\": workflow variables (Assign) are not supported by the local interpreter" } },
      { '{"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e", "CausePath": "$.c[*]"}}}',
        { "state \"F\": give Error or ErrorPath, not both",
          "state \"F\": CausePath must be a reference path (only .field, ['field'] and [index] steps), got '$.c[*]'" } },
      { '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true, "TimeoutSeconds": 5, "HeartbeatSeconds": 5}}}',
        { "state \"T\": HeartbeatSeconds must be less than TimeoutSeconds" } },
      { "{not json", { "definition: not JSON: json:1:2: expected string key, found 'n'" } },
    }
    for _, case in ipairs(refusals) do
      it("refuses " .. case[1], function()
        -- JSON text goes to new() as it is; new() decodes it (and reports text that is not JSON)
        local m, problems = interpreter.new(case[1])
        assert.is_nil(m)
        assert.same(case[2], problems)
      end)
    end

    it("accepts every fixture machine", function()
      for _, name in ipairs({ "pipeline", "choice_doc", "retry_doc", "map_doc", "context_map", "fanout", "loop" }) do
        local m, problems = interpreter.new(read_fixture(name))
        assert.is_table(m, name .. ": " .. table.concat(problems or {}, "; "))
      end
    end)

    it("accepts JSON text", function()
      assert.equal("SUCCEEDED", interpreter.new('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}'):run().status)
    end)
  end)

  describe("a pipeline-shaped machine", function()
    -- Fakes the effects the way `lakehost run` will: Lambda invocations return
    -- {Payload=, StatusCode=}, Glue .sync runs return the JobRun.
    local function pipeline(behaviour)
      local rec = { lambdas = {}, glue = {}, sleeps = {}, events = {} }
      local opts = {
        invoke = function(resource, input, name)
          if resource == "arn:aws:states:::lambda:invoke" then
            local fn = input.FunctionName:match("function:example%-(.-)%-dev$")
            rec.lambdas[#rec.lambdas + 1] = { fn = fn, state = name, payload = input.Payload }
            local handler = behaviour[fn]
            local ok, out = handler(input.Payload)
            if not ok then return false, out end
            return true, { ExecutedVersion = "$LATEST", Payload = out, StatusCode = 200 }
          elseif resource == "arn:aws:states:::glue:startJobRun.sync" then
            rec.glue[#rec.glue + 1] = { job = input.JobName, arguments = input.Arguments, state = name }
            local handler = behaviour[input.JobName]
            if handler then return handler(input) end
            return true, { JobName = input.JobName, JobRunState = "SUCCEEDED", Id = "jr_1" }
          end
          error("unexpected resource " .. resource)
        end,
        sleep = function(s) rec.sleeps[#rec.sleeps + 1] = s end,
        on_event = function(ev) rec.events[#rec.events + 1] = ev end,
      }
      return machine(read_fixture("pipeline"), opts), rec
    end

    local event = '{"bucket": "lake-raw", "key": "incoming/type1/data.csv"}'
    local function prepare(payload)
      local route = payload.key:match("incoming/(type%d)/") or "other"
      return true, { bucket = payload.bucket, key = payload.key, route = route }
    end

    it("runs a type1 object through Prepare, Route and the Glue job", function()
      local m, rec = pipeline({ prepare = prepare })
      local r = m:run(J(event))
      assert.same({ status = "SUCCEEDED", steps = 4,
        output = J('{"bucket": "lake-raw", "key": "incoming/type1/data.csv", "route": "type1"}') }, r)
      assert.same({ "Prepare", "Route", "Type1Job", "Done" }, entered(rec))
      assert.same({ { fn = "prepare", state = "Prepare", payload = J(event) } }, rec.lambdas)
      assert.same({ { job = "example-type1-dev", state = "Type1Job",
        arguments = { ["--bucket"] = "lake-raw", ["--key"] = "incoming/type1/data.csv", ["--route"] = "type1" } } }, rec.glue)
    end)

    it("runs a type2 object through the Lambda transform and its Glue job (a Glue step's output is its input)", function()
      local m, rec = pipeline({ prepare = prepare, type2 = function(p)
        return true, { bucket = p.bucket, key = p.key:gsub("incoming", "staged"), route = p.route }
      end })
      local r = m:run(J('{"bucket": "lake-raw", "key": "incoming/type2/x.json"}'))
      assert.equal("SUCCEEDED", r.status)
      assert.same({ "Prepare", "Route", "Type2Transform", "Type2Job", "Done" }, entered(rec))
      assert.same(J('{"bucket": "lake-raw", "key": "staged/type2/x.json", "route": "type2"}'), r.output)
      assert.equal("staged/type2/x.json", rec.glue[1].arguments["--key"])
    end)

    it("ends FAILED after ErrorCatch ran with the error and the input when a Glue job fails", function()
      local cause = '{"JobName":"example-type1-dev","JobRunState":"FAILED","ErrorMessage":"boom"}'
      local m, rec = pipeline({
        prepare = prepare,
        catch = function(payload) return true, { notified = payload.error.Error } end,
        ["example-type1-dev"] = function() return false, { Error = "States.TaskFailed", Cause = cause } end,
      })
      local r = m:run(J(event))
      assert.same({ status = "FAILED", error = "PipelineFailed", state = "PipelineFailed", steps = 5,
        cause = "A step failed; ErrorCatch sent the notification" }, r)
      assert.same({ "Prepare", "Route", "Type1Job", "ErrorCatch", "PipelineFailed" }, entered(rec))
      local catch = rec.lambdas[2]
      assert.equal("catch", catch.fn)
      assert.same({ bucket = "lake-raw", key = "incoming/type1/data.csv", route = "type1",
        error = { Error = "States.TaskFailed", Cause = cause } }, catch.payload)
    end)

    it("retries Lambda service exceptions with back-off before catching a handler error", function()
      local n = 0
      local m, rec = pipeline({
        prepare = function()
          n = n + 1
          if n <= 2 then return false, { Error = "Lambda.ServiceException", Cause = "throttled" } end
          return false, { Error = "ValueError", Cause = '{"errorMessage": "bad key", "errorType": "ValueError"}' }
        end,
        catch = function() return true, {} end,
      })
      local r = m:run(J(event))
      assert.equal("PipelineFailed", r.error)
      assert.same({ 2, 4 }, rec.sleeps)
      assert.same({ "Prepare", "ErrorCatch", "PipelineFailed" }, entered(rec))
      assert.same({ bucket = "lake-raw", key = "incoming/type1/data.csv",
        error = { Error = "ValueError", Cause = '{"errorMessage": "bad key", "errorType": "ValueError"}' } },
        rec.lambdas[4].payload)
    end)

    it("fails on an unknown route with a cause built by States.Format", function()
      local m = pipeline({ prepare = prepare })
      local r = m:run(J('{"bucket": "b", "key": "elsewhere/x"}'))
      assert.same({ status = "FAILED", error = "UnknownRoute", cause = "no step for route other", state = "UnknownRoute",
        steps = 3 }, r)
    end)
  end)
end)
