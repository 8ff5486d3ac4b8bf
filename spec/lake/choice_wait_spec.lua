-- The choice step with every comparison of Step Functions (config.yml's
-- snake_case, their ASL, the refusals with file:line, the warning without
-- default) and the wait step; a pipeline using them synthesizes clean for
-- cfn-lint and asl-validator; `run` picks each operator family's branch
-- against moto and computes (then skips) waits.
local app_mod = require("lake.app")
local config = require("lake.pipeline.config")
local fs = require("host.fs")
local interpreter = require("lake.states.interpreter")
local json = require("host.json")
local lake_tree = require("spec.lake.support.lake_tree")
local state_machine = require("lake.pipeline.state_machine")
local steps = require("lake.pipeline.steps")
local util = require("spec.support.util")
local yaml = require("host.yaml")

local FILE = "pipelines/p/config.yml"
local HEAD = "name: p\ndomain: example\nlayers: {origin: raw, target: trusted}\nsteps:\n"
-- line 5: the first step
local TAIL = [[
  Yes:
    type: lambda
    properties: {module: yes}
  No:
    type: lambda
    properties: {module: no}
]]

local function validated(text)
  local value, marks = assert(yaml.load(text, FILE))
  return config.validate(value, marks, { file = FILE, domains = { "example" } })
end

local function problems(text)
  local app = app_mod.new()
  local _, ck = validated(text)
  for _, p in ipairs(ck:sorted()) do app:problem(p.file, p.line, p.key, p.msg) end
  return app.problems
end

-- A choice step C (line 5) with the given properties text (indented 6), then Yes and No.
local function choice(props)
  return HEAD .. "  C:\n    type: choice\n    properties:\n" .. props .. TAIL
end

local function state_of(text, name)
  local cfg, ck = validated(text)
  assert(cfg.ok, ck:sorted()[1] and ck:sorted()[1].msg)
  for _, s in ipairs(cfg.steps) do
    if s.name == (name or "C") then return assert(steps.get(s.type)).state({}, s, cfg), cfg end
  end
end

-- Every comparison key, with a value of its kind, and the ASL operator it becomes.
local OPERATORS = {
  { "equals", "x", "StringEquals" },
  { "string_equals", "x", "StringEquals" },
  { "string_less_than", "m", "StringLessThan" },
  { "string_greater_than", "m", "StringGreaterThan" },
  { "string_less_than_equals", "m", "StringLessThanEquals" },
  { "string_greater_than_equals", "m", "StringGreaterThanEquals" },
  { "string_matches", "log-*.json", "StringMatches" },
  { "numeric_equals", 5, "NumericEquals" },
  { "numeric_less_than", 5.5, "NumericLessThan" },
  { "numeric_greater_than", -2, "NumericGreaterThan" },
  { "numeric_less_than_equals", 0, "NumericLessThanEquals" },
  { "numeric_greater_than_equals", 1e3, "NumericGreaterThanEquals" },
  { "boolean_equals", true, "BooleanEquals" },
  { "timestamp_equals", "2024-05-01T10:00:00Z", "TimestampEquals" },
  { "timestamp_less_than", "2024-05-01T10:00:00.5+02:00", "TimestampLessThan" },
  { "timestamp_greater_than", "2024-05-01T10:00:00Z", "TimestampGreaterThan" },
  { "timestamp_less_than_equals", "2024-05-01T10:00:00Z", "TimestampLessThanEquals" },
  { "timestamp_greater_than_equals", "2024-05-01T10:00:00Z", "TimestampGreaterThanEquals" },
  { "string_equals_path", "$.other", "StringEqualsPath" },
  { "string_less_than_path", "$.other", "StringLessThanPath" },
  { "string_greater_than_path", "$.other", "StringGreaterThanPath" },
  { "string_less_than_equals_path", "$.other", "StringLessThanEqualsPath" },
  { "string_greater_than_equals_path", "$.other", "StringGreaterThanEqualsPath" },
  { "numeric_equals_path", "$.other", "NumericEqualsPath" },
  { "numeric_less_than_path", "$.other", "NumericLessThanPath" },
  { "numeric_greater_than_path", "$.a.b[0]", "NumericGreaterThanPath" },
  { "numeric_less_than_equals_path", "$.other", "NumericLessThanEqualsPath" },
  { "numeric_greater_than_equals_path", "$.other", "NumericGreaterThanEqualsPath" },
  { "boolean_equals_path", "$.other", "BooleanEqualsPath" },
  { "timestamp_equals_path", "$.other", "TimestampEqualsPath" },
  { "timestamp_less_than_path", "$.other", "TimestampLessThanPath" },
  { "timestamp_greater_than_path", "$$.Execution.StartTime", "TimestampGreaterThanPath" },
  { "timestamp_less_than_equals_path", "$.other", "TimestampLessThanEqualsPath" },
  { "timestamp_greater_than_equals_path", "$.other", "TimestampGreaterThanEqualsPath" },
  { "is_present", true, "IsPresent" },
  { "is_null", false, "IsNull" },
  { "is_string", true, "IsString" },
  { "is_numeric", true, "IsNumeric" },
  { "is_boolean", false, "IsBoolean" },
  { "is_timestamp", true, "IsTimestamp" },
}

local function yaml_value(v)
  if type(v) == "string" then return "'" .. v .. "'" end
  return tostring(v)
end

describe("choice step config #unit", function()
  it("accepts every comparison, each becoming its ASL operator in order, with Default", function()
    local rules = {}
    for _, o in ipairs(OPERATORS) do
      rules[#rules + 1] = ("        - {variable: size, %s: %s, next_step: Yes}\n"):format(o[1], yaml_value(o[2]))
    end
    local st = state_of(choice("      choices:\n" .. table.concat(rules) .. "      default: No\n"))
    assert.equal("Choice", st.Type)
    assert.equal("No", st.Default)
    assert.equal(#OPERATORS, #st.Choices)
    for i, o in ipairs(OPERATORS) do
      local want = { Variable = "$.size", Next = "Yes" }
      want[o[3]] = o[2]
      assert.same(want, st.Choices[i])
    end
    assert.equal(39, #require("lake.states.choice").operators) -- every ASL comparison has its key above
  end)

  it("nests and / or / not; variables are keys of the state or JSONPaths", function()
    local st = state_of(choice([[
      choices:
        - and:
            - {variable: file.size, numeric_greater_than: 100}
            - or:
                - {variable: $.kind, string_equals: csv}
                - not: {variable: kind, is_present: true}
          next_step: Yes
        - not:
            and:
              - {variable: late, boolean_equals: true}
          next_step: No
      default: No
]]))
    assert.same({
      { And = { { Variable = "$.file.size", NumericGreaterThan = 100 },
        { Or = { { Variable = "$.kind", StringEquals = "csv" }, { Not = { Variable = "$.kind", IsPresent = true } } } } },
        Next = "Yes" },
      { Not = { And = { { Variable = "$.late", BooleanEquals = true } } }, Next = "No" },
    }, json.decode(json.encode(st.Choices)))
    -- every generated rule is one the interpreter's checker accepts
    local errs = {}
    for i, r in ipairs(st.Choices) do require("lake.states.choice").check(r, "Choices[" .. i .. "]", true, errs) end
    assert.same({}, errs)
  end)

  it("keeps the original shape valid (variable, equals, next_step), warning that it has no default", function()
    local cfg, ck = validated(choice("      choices:\n        - {variable: route, equals: type1, next_step: Yes}\n"
      .. "        - {variable: route, equals: type2, next_step: No}\n"))
    assert.is_true(cfg.ok)
    assert.same({ { file = FILE, line = 7, key = "steps.C.properties.default",
      msg = "none: when no choice matches, the execution fails with States.NoChoiceMatched (name a default step "
        .. "to go on instead)" } }, ck.warnings)
    assert.is_nil(state_of(choice("      choices:\n        - {variable: route, equals: t, next_step: Yes}\n"
      .. "        - {variable: route, equals: u, next_step: No}\n")).Default)
  end)

  it("refuses every bad rule with file:line, all in one run", function()
    assert.same({
      FILE .. ":9: steps.C.properties.choices[1]: has no comparison: give variable and one of string_equals, "
        .. "numeric_greater_than, is_present, ... (see pipelines/README.md), or one of and, or, not",
      FILE .. ":12: steps.C.properties.choices[2]: has 2 comparisons (numeric_greater_than, string_equals): a rule "
        .. "takes exactly one; combine them with and / or",
      FILE .. ":14: steps.C.properties.choices[3].numeric_equals: expected a number, got a string ('5')",
      FILE .. ":15: steps.C.properties.choices[4].numeric_less_than: expected a number, got a boolean",
      FILE .. ":16: steps.C.properties.choices[5].string_equals: expected a string, got an integer (quote it: '3')",
      FILE .. ":17: steps.C.properties.choices[6].boolean_equals: expected a boolean, got a string",
      FILE .. ":18: steps.C.properties.choices[7].timestamp_less_than: '2024-02-30T00:00:00Z' is not an RFC 3339 "
        .. "timestamp (such as 2024-05-01T10:00:00Z or 2024-05-01T12:00:00.5+02:00)",
      FILE .. ":19: steps.C.properties.choices[8].timestamp_equals: '2024-05-01 10:00:00' is not an RFC 3339 "
        .. "timestamp (such as 2024-05-01T10:00:00Z or 2024-05-01T12:00:00.5+02:00)",
      FILE .. ":20: steps.C.properties.choices[9].string_matches: 'a\\d*' is not a string_matches pattern: has "
        .. "'\\d': only \\* (a star) and \\\\ (a backslash) are escapes",
      FILE .. ":21: steps.C.properties.choices[10].string_matches: 'ab\\' is not a string_matches pattern: ends with "
        .. "a lone backslash (write \\\\ for a backslash)",
      FILE .. ":22: steps.C.properties.choices[11].numeric_equals_path: 'other' is not a JSONPath (such as "
        .. "$.file.size)",
      FILE .. ":23: steps.C.properties.choices[12].is_present: expected a boolean, got a string",
      FILE .. ":24: steps.C.properties.choices[13].variable: '$.a[' is not a valid JSONPath: ",
      FILE .. ":25: steps.C.properties.choices[14].numeric_equals: expected a number, got a list",
      FILE .. ":27: steps.C.properties.choices[15].and[1].next_step: only a top-level rule has a next_step (a rule "
        .. "inside and, or, not is part of its parent's test)",
      FILE .. ":28: steps.C.properties.choices[15].and[2].not.is_nul: unknown key (did you mean 'is_null'?)",
      FILE .. ":28: steps.C.properties.choices[15].and[2].not: has no comparison: give variable and one of "
        .. "string_equals, numeric_greater_than, is_present, ... (see pipelines/README.md), or one of and, or, not",
      FILE .. ":29: steps.C.properties.choices[15].and[3].or: needs at least one rule",
      FILE .. ":32: steps.C.properties.choices[16].variable: a rule with not has no variable: each of its rules "
        .. "has its own",
      FILE .. ":33: steps.C.properties.choices[16].next_step: no step named 'Maybe'",
      FILE .. ":34: steps.C.properties.choices[17].variable: is required (the field is_null tests)",
      FILE .. ":35: steps.C.properties.default: no step named 'Nope' (did you mean 'No'?)",
      FILE .. ":39: steps.No: unreachable: no next_step leads to it from the first step 'C'",
    }, (function()
      local got = problems(choice([[
      choices:
        - {variable: a, next_step: Yes}
        - variable: a
          numeric_greater_than: 1
          string_equals: x
          next_step: Yes
        - {variable: a, numeric_equals: '5', next_step: Yes}
        - {variable: a, numeric_less_than: true, next_step: Yes}
        - {variable: a, string_equals: 3, next_step: Yes}
        - {variable: a, boolean_equals: 'yes', next_step: Yes}
        - {variable: a, timestamp_less_than: '2024-02-30T00:00:00Z', next_step: Yes}
        - {variable: a, timestamp_equals: '2024-05-01 10:00:00', next_step: Yes}
        - {variable: a, string_matches: 'a\d*', next_step: Yes}
        - {variable: a, string_matches: 'ab\', next_step: Yes}
        - {variable: a, numeric_equals_path: other, next_step: Yes}
        - {variable: a, is_present: 'true', next_step: Yes}
        - {variable: '$.a[', is_present: true, next_step: Yes}
        - {variable: a, numeric_equals: [1], next_step: Yes}
        - and:
            - {variable: a, is_null: true, next_step: Yes}
            - not: {variable: a, is_nul: true}
            - or: []
          next_step: Yes
        - not: {variable: a, is_null: true}
          variable: b
          next_step: Maybe
        - {is_null: true, next_step: Yes}
      default: Nope
]]))
      -- the JSONPath parser's own words end the variable's message
      for i, p in ipairs(got) do got[i] = p:gsub("(is not a valid JSONPath: ).*$", "%1") end
      return got
    end)())
  end)

  it("draws a choice's rules and default on its edges", function()
    local text = HEAD .. "  A:\n    type: lambda\n    properties: {module: a, next_step: C}\n"
      .. "  C:\n    type: choice\n    properties:\n      choices:\n"
      .. "        - {variable: size, numeric_greater_than_equals: 5, next_step: Yes}\n"
      .. "        - and: [{variable: d, timestamp_less_than_path: $.cut}, {not: {variable: x, is_present: true}}]\n"
      .. "          next_step: No\n      default: No\n" .. TAIL
    local cfg = validated(text)
    assert.is_true(cfg.ok)
    local def, order = state_machine.build(cfg, { refs = { A = {}, Yes = {}, No = {} }, catch_arn = "c", partition = "aws" })
    local mmd = require("lake.pipeline.diagram").mermaid(cfg, def, order)
    assert.matches('s2 -->|"size #gt;= 5"| s3', mmd, 1, true)
    assert.matches('s2 -->|"d #lt; cut and not x is present"| s4', mmd, 1, true)
    assert.matches('s2 -->|"default"| s4', mmd, 1, true)
  end)
end)

describe("wait step config #unit", function()
  local function wait(props)
    return HEAD .. "  W:\n    type: wait\n    properties: " .. props .. "\n"
      .. "  Yes:\n    type: lambda\n    properties: {module: yes}\n"
  end

  it("accepts each of seconds, seconds_path, timestamp, timestamp_path: a Wait state", function()
    assert.same({ Type = "Wait", Comment = "wait step, 300 s", Seconds = 300, Next = "Yes" },
      state_of(wait("{seconds: 300, next_step: Yes}"), "W"))
    assert.same({ Type = "Wait", Comment = "wait step, $.delay seconds", SecondsPath = "$.delay", Next = "Yes" },
      state_of(wait("{seconds_path: $.delay, next_step: Yes}"), "W"))
    assert.same({ Type = "Wait", Comment = "wait step, until 2024-05-01T10:00:00Z", Timestamp = "2024-05-01T10:00:00Z",
      Next = "Yes" }, state_of(wait("{timestamp: '2024-05-01T10:00:00Z', next_step: Yes}"), "W"))
    assert.same({ Type = "Wait", Comment = "wait step, until $.not_before", TimestampPath = "$.not_before", End = true },
      (state_of(HEAD .. "  W:\n    type: wait\n    properties: {timestamp_path: $.not_before}\n", "W")))
  end)

  it("refuses none, two, a bad value of each with file:line, all in one run", function()
    local text = HEAD .. [[
  A:
    type: wait
    properties: {next_step: B}
  B:
    type: wait
    properties: {seconds: 5, timestamp: '2024-05-01T10:00:00Z', next_step: C}
  C:
    type: wait
    properties: {seconds: 0, next_step: D}
  D:
    type: wait
    properties: {seconds: 31536001, next_step: E}
  E:
    type: wait
    properties: {timestamp: '2024-05-01T25:00:00Z', next_step: F}
  F:
    type: wait
    properties: {seconds_path: delay, next_step: G}
  G:
    type: wait
    properties: {timestamp_path: 5, second: 1, next_step: H}
]]
    assert.same({
      FILE .. ":7: steps.A.properties: needs one of seconds, seconds_path, timestamp, timestamp_path",
      FILE .. ":10: steps.B.properties: takes exactly one of seconds, seconds_path, timestamp, timestamp_path, got "
        .. "seconds, timestamp",
      FILE .. ":13: steps.C.properties.seconds: must be between 1 and 31536000, got 0",
      FILE .. ":16: steps.D.properties.seconds: must be between 1 and 31536000, got 31536001",
      FILE .. ":19: steps.E.properties.timestamp: '2024-05-01T25:00:00Z' is not an RFC 3339 timestamp (such as "
        .. "2024-05-01T10:00:00Z or 2024-05-01T12:00:00.5+02:00)",
      FILE .. ":22: steps.F.properties.seconds_path: 'delay' is not a JSONPath of the state (such as $.delay)",
      FILE .. ":25: steps.G.properties.second: unknown key (did you mean 'seconds'?)",
      FILE .. ":25: steps.G.properties.timestamp_path: expected a string, got an integer (quote it: '5')",
      FILE .. ":25: steps.G.properties.next_step: no step named 'H'",
    }, problems(text))
  end)

  it("waits as Step Functions computes it, through the interpreter's wait hook and an injected clock", function()
    local text = HEAD .. [[
  A:
    type: lambda
    properties: {module: a, next_step: W1}
  W1:
    type: wait
    properties: {seconds: 30, next_step: W2}
  W2:
    type: wait
    properties: {seconds_path: $.delay, next_step: W3}
  W3:
    type: wait
    properties: {timestamp_path: $.not_before, next_step: W4}
  W4:
    type: wait
    properties: {timestamp: '2024-05-01T10:00:00Z'}
]]
    local cfg = validated(text)
    assert.is_true(cfg.ok)
    local def = json.decode(state_machine.render((state_machine.build(cfg, { refs = { A = { function_arn = "fn" } }, catch_arn = "c",
      partition = "aws" }))))
    local now = 1714557000 -- 2024-05-01T09:50:00Z
    local waits, slept = {}, {}
    local function invoke(_, eff) return true, { Payload = eff.Payload } end
    local m = assert(interpreter.new(def, {
      invoke = invoke,
      now = function() return now end,
      sleep = function(s) slept[#slept + 1] = s end,
      wait = function(s, state) waits[#waits + 1] = state .. "=" .. s; now = now + s end,
    }))
    local r = m:run({ delay = 12, not_before = "2024-05-01T09:55:00.5+00:00" })
    assert.equal("SUCCEEDED", r.status)
    -- 30 s, then 12 s, then from 09:50:42 until 09:55:00.5, then until 10:00:00
    assert.same({ "W1=30", "W2=12", "W3=258.5", "W4=299.5" }, waits)
    assert.same({}, slept) -- a Wait is the wait hook's, not sleep's
    r = assert(interpreter.new(def, { invoke = invoke, wait = function() end })):run({ delay = "soon" })
    assert.equal("FAILED", r.status)
    assert.equal("States.Runtime", r.error)
    assert.equal("W2", r.state)
  end)
end)

-- ---- a project using them: synth, cfn-lint, asl-validator, validate's warning ----------

local MODULES = { "load", "b_string", "b_numeric", "b_boolean", "b_timestamp", "b_test", "b_combo", "b_default" }

local CONFIG = [[
name: choices
domain: example
layers: {origin: raw, target: trusted}
triggers:
  - event_rule: {source: [spec], detail_type: [case]}
steps:
  Load:
    type: lambda
    properties: {module: load, next_step: Settle}
  Settle:
    type: wait
    properties: {seconds_path: $.settle, next_step: Route}
  Route:
    type: choice
    properties:
      choices:
        - {variable: kind, string_matches: 'report-*.csv', next_step: StringBranch}
        - {variable: size, numeric_greater_than_path: $.limit, next_step: NumericBranch}
        - {variable: urgent, boolean_equals: true, next_step: BooleanBranch}
        - {variable: day, timestamp_less_than: '2024-01-01T00:00:00Z', next_step: TimestampBranch}
        - {variable: missing, is_null: true, next_step: TestBranch}
        - and:
            - {variable: size, numeric_less_than_equals: 10}
            - not: {variable: kind, string_equals: skip}
            - or:
                - {variable: day, is_timestamp: false}
                - {variable: extra, is_present: true}
          next_step: ComboBranch
      default: DefaultBranch
  StringBranch: {type: lambda, properties: {module: b_string}}
  NumericBranch: {type: lambda, properties: {module: b_numeric}}
  BooleanBranch: {type: lambda, properties: {module: b_boolean}}
  TimestampBranch: {type: lambda, properties: {module: b_timestamp}}
  TestBranch: {type: lambda, properties: {module: b_test}}
  ComboBranch: {type: lambda, properties: {module: b_combo}}
  DefaultBranch: {type: lambda, properties: {module: b_default}}
]]

-- The trigger reads the case (JSON) from the origin bucket: the execution input.
local TRIGGER = [[
import json
import os

import boto3


def handler(event, context=None):
    key = event["detail"]["key"]
    body = boto3.client("s3").get_object(Bucket=os.environ["ORIGIN_BUCKET"], Key=key)["Body"].read()
    boto3.client("stepfunctions").start_execution(
        stateMachineArn=os.environ["STATE_MACHINE_ARN"], name=key.replace("/", "-"), input=body.decode())
    return {}
]]

local function project(cfg_text)
  local files = lake_tree.pipeline({}, "choices", cfg_text, MODULES)
  files["pipelines/choices/trigger/src/index.py"] = TRIGGER
  files["pipelines/choices/steps/load/src/index.py"] = "def handler(event, context=None):\n"
    .. "    return dict(event, loaded=True)\n"
  for _, m in ipairs(MODULES) do
    if m ~= "load" then
      files["pipelines/choices/steps/" .. m .. "/src/index.py"] = ("def handler(event, context=None):\n"
        .. "    return dict(event, branch=%q)\n"):format(m:sub(3))
    end
  end
  files["app.lua"] = lake_tree.app_lua { name = "Choice Lake" }
  return lake_tree.tree(files)
end


describe("a pipeline with choices and a wait #integration", function()
  local root, out

  setup(function()
    root = project(CONFIG)
    out = root .. "/out"
    local _, err, code = util.lakehost({ root .. "/app.lua", "synth", "--out", out, "--builder", "none" })
    assert(code == 0, err)
  end)

  teardown(function() if root then lake_tree.remove(root) end end)

  local function definition()
    local tpl = json.decode(assert(fs.read(out .. "/lake-choices-stack-dev.template.json")))
    local d = tpl.Resources.StateMachine.Properties.DefinitionString
    d = type(d) == "table" and d["Fn::Sub"] or d
    return (d:gsub("%${AWS::Partition}", "aws"):gsub("%${AWS::Region}", "us-east-1")
      :gsub("%${AWS::AccountId}", "123456789012")), tpl
  end

  it("synthesizes cfn-lint clean, with the state machine's text as a plain string too", function()
    local text, tpl = definition()
    tpl.Resources.StateMachine.Properties.DefinitionString = text
    local plain = root .. "/plain.template.json"
    assert(fs.write(plain, json.encode(tpl, { pretty = true })))
    local ok, lint = util.cfn_lint(util.shquote(out .. "/lake-choices-stack-dev.template.json") .. " "
      .. util.shquote(plain))
    assert.is_true(ok, lint)
    local def = json.decode(text)
    assert.same({ Type = "Wait", Comment = "wait step, $.settle seconds", SecondsPath = "$.settle", Next = "Route" },
      def.States.Settle)
    assert.equal("DefaultBranch", def.States.Route.Default)
    assert.matches('s2("Settle<br/><small>wait step, $.settle seconds</small>")',
      assert(fs.read(out .. "/lake-choices-stack-dev.choices-state-machine-dev.mmd")), 1, true)
  end)

  it("passes asl-validator (npm)", function()
    local ok, text = require("spec.support.cdknag").asl_validate({ choices = definition() })
    if ok == nil then
      print("choice_wait_spec: asl-validator skipped: " .. tostring(text))
      pending("asl-validator unavailable: " .. tostring(text))
      return
    end
    assert.is_true(ok, text)
    assert.matches("is valid", text, 1, true)
  end)

  it("validate warns about a choice without default, file:line, and succeeds", function()
    local r2 = project((CONFIG:gsub("      default: DefaultBranch\n", "")
      :gsub("  DefaultBranch: {type: lambda, properties: {module: b_default}}\n", "")))
    local _, err, code = util.lakehost({ r2 .. "/app.lua", "validate", "--builder", "none" })
    lake_tree.remove(r2)
    assert.equal(0, code, err)
    assert.matches("pipelines/choices/config.yml:15: warning: steps.Route.properties.default: none: when no choice "
      .. "matches, the execution fails with States.NoChoiceMatched (name a default step to go on instead)\n", err, 1,
      true)
  end)

  describe("run against moto", function()
    local moto = require("spec.support.moto")
    local server, c
    local RAW = "example-raw-us-east-1-123456789012-dev"

    setup(function()
      server = moto.start()
      c = server.client()
      assert(c:call { service = "s3", action = "CreateBucket", method = "PUT", path = "/" .. RAW, s3 = true })
    end)

    teardown(function() if server then server.stop() end end)

    -- Puts the case in the raw bucket and runs the pipeline for it.
    local function run_case(name, case, extra)
      case.settle = case.settle or 120
      assert(require("lake.aws.s3").put_object(c, RAW, "cases/" .. name, { body = json.encode(case) }))
      local event = root .. "/" .. name .. ".json"
      assert(fs.write(event, json.encode({ source = "spec", ["detail-type"] = "case",
        detail = { key = "cases/" .. name } })))
      local argv = { root .. "/app.lua", "run", "choices", "--event", event, "--endpoint", server.url,
        "--out", out .. "-run" }
      for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
      local o, err, code = util.lakehost(argv, { env = server.env_with({ LAKEHOST_CACHE_DIR = root .. "/.cache" }) })
      return o ~= "" and json.decode(o) or nil, err, code
    end

    it("takes each operator family's branch, and the default", function()
      -- a Variable that selects nothing is a States.Runtime failure (except
      -- for is_present): every case has every field the rules read
      local base = { kind = "x", size = 50, limit = 60, urgent = false, day = "2024-06-01T00:00:00Z", missing = "no" }
      local cases = {
        { "string", { kind = "report-2024.csv" } },
        { "numeric", { limit = 20 } },
        { "boolean", { urgent = true } },
        { "timestamp", { day = "2023-12-31T23:59:59Z" } },
        { "test", { missing = json.null } },
        { "combo", { size = 5, extra = 1 } },
        { "default", { kind = "skip", size = 5, extra = 1 } },
      }
      for _, case in ipairs(cases) do
        local input = json.decode(json.encode(base))
        for k, v in pairs(case[2]) do input[k] = v end
        local o, err, code = run_case(case[1], input)
        assert.equal(0, code, err)
        assert.equal(case[1], o.branch, err)
        assert.is_true(o.loaded)
        assert.matches("\nwait Settle: 120 s %(skipped locally; %-%-wait to sleep%)\n", err)
        local branch = case[1]:sub(1, 1):upper() .. case[1]:sub(2) .. "Branch"
        assert.matches("\n  " .. branch .. " +%d+%.%d%d s  succeeded\n", err)
      end
    end)

    it("sleeps through a wait with --wait", function()
      local o, err, code = run_case("slept", { kind = "report-1.csv", settle = 1 }, { "--wait" })
      assert.equal(0, code, err)
      assert.equal("string", o.branch)
      assert.matches("\nwait Settle: 1 s %(sleeping, %-%-wait%)\n", err)
    end)

    it("fails a bad seconds_path with States.Runtime (a Wait has no Catch)", function()
      local _, err, code = run_case("badwait", { kind = "x", settle = "soon" })
      assert.equal(1, code, err)
      assert.matches("FAILED in [%d.]+ s at Settle: States.Runtime: SecondsPath '$.settle' must select an integer",
        err)
    end)
  end)
end)
