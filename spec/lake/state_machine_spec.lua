-- The state machine of a pipeline (lake.pipeline.state_machine) and its diagram.
local config = require("lake.pipeline.config")
local diagram = require("lake.pipeline.diagram")
local glue = require("lake.pipeline.steps.glue")
local json = require("host.json")
local token = require("lake.token")
local yaml = require("host.yaml")
local lutil = require("lake.util")
local state_machine = require("lake.pipeline.state_machine")

local EXAMPLE = "pipelines/pipeline_example/config.yml"

local function load_cfg(text, file)
  local value, marks = assert(yaml.load(text, file))
  local cfg, ck = config.validate(value, marks, { file = file, domains = { "example" } })
  assert(cfg.ok, (ck.problems[1] or {}).msg)
  return cfg
end

local function example_cfg()
  local f = assert(io.open(EXAMPLE))
  local text = f:read("a")
  f:close()
  return load_cfg(text, EXAMPLE)
end

local REFS = {
  function_arn = function(s) return "arn:aws:lambda:us-east-1:123456789012:function:fn-" .. s.name end,
  job_name = function(s) return "job-" .. s.name end,
  catch_arn = "arn:aws:lambda:us-east-1:123456789012:function:catch",
  partition = "aws",
}

-- What the pipeline's stack hands the state machine (lake.pipeline.stack):
-- what each step's resources left for its state, from refs' functions.
local function context(cfg, refs)
  local by_step = {}
  for _, s in ipairs(cfg.steps) do
    by_step[s.name] = { function_arn = refs.function_arn(s), job_name = refs.job_name(s) }
  end
  return { partition = refs.partition, catch_arn = refs.catch_arn, refs = by_step }
end

local function build(cfg, refs) return state_machine.build(cfg, context(cfg, refs or REFS)) end

-- A structural checker for ASL (https://states-language.net/spec.html):
-- returns the list of problems (empty when the document is sound).
local TERMINAL = { Fail = true, Succeed = true }
local function check_asl(def)
  local errs = {}
  local function err(fmt, ...) errs[#errs + 1] = fmt:format(...) end
  local states = def.States
  if type(def.StartAt) ~= "string" or not states[def.StartAt] then err("StartAt names no state") end
  local function target(from, name)
    if not states[name] then err("%s: next state '%s' does not exist", from, tostring(name)) end
  end
  for name, s in pairs(states) do
    if #name > 80 then err("%s: state names are at most 80 characters", name) end
    if s.Type == "Choice" then
      if type(s.Choices) ~= "table" or #s.Choices == 0 then err("%s: a Choice needs Choices", name) end
      for _, c in ipairs(s.Choices or {}) do
        target(name, c.Next)
        if type(c.Variable) ~= "string" or c.Variable:sub(1, 2) ~= "$." then
          err("%s: Variable must be a path", name)
        end
      end
      if s.Default then target(name, s.Default) end
      if s.End or s.Next then err("%s: a Choice has no Next or End", name) end
    elseif TERMINAL[s.Type] then
      if s.Next or s.End then err("%s: a %s state has no Next or End", name, s.Type) end
    elseif s.Type == "Task" or s.Type == "Pass" or s.Type == "Wait" then
      if (s.Next ~= nil) == (s.End == true) then err("%s: needs exactly one of Next and End", name) end
      if s.Next then target(name, s.Next) end
      if s.Type == "Task" and type(s.Resource) ~= "string" then err("%s: a Task needs a Resource", name) end
      for _, c in ipairs(s.Catch or {}) do
        target(name, c.Next)
        if type(c.ErrorEquals) ~= "table" or #c.ErrorEquals == 0 then err("%s: Catch needs ErrorEquals", name) end
      end
      for _, r in ipairs(s.Retry or {}) do
        if type(r.ErrorEquals) ~= "table" or #r.ErrorEquals == 0 then err("%s: Retry needs ErrorEquals", name) end
      end
    else
      err("%s: unknown Type %s", name, tostring(s.Type))
    end
  end
  -- Every state reachable from StartAt.
  local seen, queue = {}, { def.StartAt }
  while #queue > 0 do
    local n = table.remove(queue)
    local s = states[n]
    if s and not seen[n] then
      seen[n] = true
      queue[#queue + 1] = s.Next -- (a Choice has no Next: ipairs over { Next, Default } would stop there)
      queue[#queue + 1] = s.Default
      for _, c in ipairs(s.Choices or {}) do queue[#queue + 1] = c.Next end
      for _, c in ipairs(s.Catch or {}) do queue[#queue + 1] = c.Next end
    end
  end
  for name in pairs(states) do
    if not seen[name] then err("%s: unreachable from StartAt", name) end
  end
  table.sort(errs)
  return errs
end


local VARIANTS = {
  glueetl = [[
name: etl
domain: example
layers: {origin: raw, target: service}
contract: {key: str, count: int, extra: dict}
steps:
  Load:
    type: glue
    properties: {module: load, glue_version: glueetl, worker_type: G.2X, worker_count: 4, timeout_minutes: 5}
]],
  choice_first = [[
name: c
domain: example
layers: {origin: raw, target: trusted}
steps:
  Pick:
    type: choice
    properties:
      choices:
        - {variable: file.kind, equals: csv, next_step: Csv}
  Csv:
    type: lambda
    properties: {module: csv, timeout_seconds: 900}
]],
}

describe("lake.pipeline.state_machine #unit", function()
  local cfg, def, order
  setup(function()
    cfg = example_cfg()
    def, order = build(cfg)
  end)

  it("starts at the first step of the file", function()
    assert.equal("SizeCheck", def.StartAt)
    assert.same({ "SizeCheck", "TooLarge", "RouteFile", "RouteChoice", "ProcessType1", "ProcessType2", "AddToDatabase",
      "ErrorCatch", "PipelineFailed" }, order)
  end)

  it("invokes Lambda steps with the whole state and passes their result on", function()
    local s = def.States.RouteFile
    assert.equal("Task", s.Type)
    assert.equal("arn:aws:states:::lambda:invoke", s.Resource)
    assert.same({ FunctionName = "arn:aws:lambda:us-east-1:123456789012:function:fn-RouteFile", ["Payload.$"] = "$" },
      s.Parameters)
    assert.equal("$.Payload", s.OutputPath)
    assert.equal("RouteChoice", s.Next)
    assert.is_nil(s.End)
    assert.equal(70, s.TimeoutSeconds)
    assert.same({ { ErrorEquals = { "Lambda.ServiceException", "Lambda.AWSLambdaException",
      "Lambda.SdkClientException", "Lambda.TooManyRequestsException" },
      IntervalSeconds = 2, MaxAttempts = 6, BackoffRate = 2 } }, s.Retry)
    assert.same({ { ErrorEquals = { "States.ALL" }, ResultPath = "$.error", Next = "ErrorCatch" } }, s.Catch)
  end)

  it("ends a step without next_step", function()
    assert.is_true(def.States.AddToDatabase.End)
    assert.is_nil(def.States.AddToDatabase.Next)
  end)

  it("routes choices with StringEquals, IsPresent and NumericGreaterThan, and a default", function()
    local s = def.States.RouteChoice
    assert.equal("Choice", s.Type)
    assert.same({ { Variable = "$.route", StringEquals = "type1", Next = "ProcessType1" } }, s.Choices)
    assert.equal("ProcessType2", s.Default)
    assert.same({ { Variable = "$.size", IsPresent = false, Next = "RouteFile" },
      { Variable = "$.size", NumericGreaterThan = 104857600, Next = "TooLarge" } }, def.States.SizeCheck.Choices)
    assert.equal("RouteFile", def.States.SizeCheck.Default)
  end)

  it("runs Glue steps synchronously with the contract as --key arguments and keeps their input", function()
    local s = def.States.ProcessType1
    assert.equal("arn:aws:states:::glue:startJobRun.sync", s.Resource)
    assert.same({ JobName = "job-ProcessType1", Arguments = {
      ["--origin_bucket.$"] = "$.origin_bucket", ["--origin_key.$"] = "$.origin_key",
      ["--target_bucket.$"] = "$.target_bucket", ["--target_key.$"] = "$.target_key",
      ["--route.$"] = "$.route", ["--database.$"] = "$.database", ["--table.$"] = "$.table",
    } }, s.Parameters)
    assert.equal(json.null, s.ResultPath)
    assert.equal(1800, s.TimeoutSeconds)
    assert.equal("AddToDatabase", s.Next)
    assert.same({ { ErrorEquals = { "States.ALL" }, ResultPath = "$.error", Next = "ErrorCatch" } }, s.Catch)
  end)

  it("formats non-string contract values for Glue", function()
    assert.same({ ["--key.$"] = "$.key", ["--count.$"] = "States.Format('{}', $.count)",
      ["--extra.$"] = "States.JsonToString($.extra)" },
      glue.arguments({ { key = "key", type = "str" }, { key = "count", type = "int" },
        { key = "extra", type = "dict" } }))
  end)

  it("hands failures to the catch Lambda, then fails the execution", function()
    local c = def.States.ErrorCatch
    assert.equal("Task", c.Type)
    assert.same({ FunctionName = REFS.catch_arn, Payload = { ["input.$"] = "$", ["execution.$"] = "$$.Execution.Id",
      ["state_machine.$"] = "$$.StateMachine.Name" } }, c.Parameters)
    assert.equal("PipelineFailed", c.Next)
    assert.is_nil(c.Catch)
    local f = def.States.PipelineFailed
    assert.equal("Fail", f.Type)
    assert.equal("PipelineFailed", f.Error)
  end)

  it("is structurally sound, for the example and variants", function()
    assert.same({}, check_asl(def))
    for name, text in lutil.spairs(VARIANTS) do
      local d = build(load_cfg(text, name .. ".yml"))
      assert.same({}, check_asl(d), name)
    end
  end)

  it("passes lake.states.validate, for the example and variants", function()
    local validate = require("lake.states.validate")
    assert.same({}, validate.definition(json.decode(state_machine.render(def))))
    for name, text in lutil.spairs(VARIANTS) do
      local d = build(load_cfg(text, name .. ".yml"))
      assert.same({}, validate.definition(json.decode(state_machine.render(d))), name)
    end
  end)

  it("the structural checker catches broken documents", function()
    local broken = { StartAt = "A", States = {
      A = { Type = "Task", Resource = "r", Next = "Nope", End = true },
      B = { Type = "Choice", Choices = {} },
    } }
    assert.same({ "A: needs exactly one of Next and End", "A: next state 'Nope' does not exist",
      "B: a Choice needs Choices", "B: unreachable from StartAt" }, check_asl(broken))
  end)

  it("encodes into one Fn::Sub with ARNs inlined", function()
    local names = require("lake.names")
    local env = { stage = "dev" }
    local d = build(cfg, {
      function_arn = function(s) return names.arn("lambda", "function:" .. s.name, env) end,
      job_name = function(s) return "job-" .. s.name end,
      catch_arn = names.arn("lambda", "function:catch", env),
    })
    local v = state_machine.encode(d)
    assert.is_true(token.is(v))
    local sub = token.resolve(v, {})["Fn::Sub"]
    assert.is_string(sub)
    assert.matches('"Resource":"arn:${AWS::Partition}:states:::lambda:invoke"', sub, 1, true)
    assert.matches('"FunctionName":"arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:RouteFile"',
      sub, 1, true)
    -- JSON paths ("$.x") are left alone by Fn::Sub: only "${" is special.
    assert.matches('"Variable":"$.route"', sub, 1, true)
    -- Rendered with concrete values it is the same document.
    local rendered = json.decode(state_machine.render(d))
    assert.equal("arn:aws:lambda:us-east-1:123456789012:function:RouteFile",
      rendered.States.RouteFile.Parameters.FunctionName)
  end)

  it("puts each of many tokens back where it was, in order", function()
    local names = require("lake.names")
    local env = { stage = "dev" }
    local states = {}
    for i = 1, 12 do -- ten and more: "@@...-1@@" must not be taken for "@@...-10@@"
      states[("S%02d"):format(i)] = { Type = "Task", End = true,
        Resource = names.arn("lambda", "function:f" .. i, env), Comment = "x @@ y " .. i }
    end
    local v = state_machine.encode({ StartAt = "S01", States = states })
    local sub = token.resolve(v, {})["Fn::Sub"]
    local text = sub:gsub("%${AWS::Partition}", "aws"):gsub("%${AWS::Region}", "r"):gsub("%${AWS::AccountId}", "1")
    local doc = json.decode(text)
    for i = 1, 12 do
      local st = doc.States[("S%02d"):format(i)]
      assert.equal("arn:aws:lambda:r:1:function:f" .. i, st.Resource)
      assert.equal("x @@ y " .. i, st.Comment)
    end
  end)

  it("is a plain string when no token is inside", function()
    local v = state_machine.encode(def)
    assert.is_true(token.is(v) == false and type(v) == "string")
    assert.same(json.decode(v).States.RouteFile.Parameters.FunctionName, REFS.function_arn({ name = "RouteFile" }))
  end)

  it("passes asl-validator (npm), for the example and variants", function()
    local docs = { example = state_machine.render(def) }
    for name, text in lutil.spairs(VARIANTS) do
      docs[name] = state_machine.render((build(load_cfg(text, name .. ".yml"))))
    end
    local ok, out = require("spec.support.cdknag").asl_validate(docs)
    if ok == nil then
      print("state_machine_spec: asl-validator skipped: " .. tostring(out))
      pending("asl-validator unavailable: " .. tostring(out))
      return
    end
    assert.is_true(ok, out)
  end)
end)

describe("lake.pipeline.diagram #unit", function()
  it("draws the example as a Mermaid flowchart", function()
    local cfg = example_cfg()
    local def, order = build(cfg)
    local text = diagram.mermaid(cfg, def, order, "pipeline pipeline_example")
    assert.equal([==[
flowchart TD
  %% pipeline pipeline_example
  start((start)) --> s1
  s1{"SizeCheck"}
  s1 -->|"size is not present"| s3
  s1 -->|"size #gt; 104857600"| s2
  s1 -->|"default"| s3
  s2>"TooLarge<br/><small>notify step, topic errors</small>"]
  s2 --> done((end))
  s2 -.->|"error"| s8
  s3["RouteFile<br/><small>lambda step, module route_file</small>"]
  s3 --> s4
  s3 -.->|"error"| s8
  s4{"RouteChoice"}
  s4 -->|"route = type1"| s5
  s4 -->|"default"| s6
  s5[["ProcessType1<br/><small>glue step (pythonshell), module process_type1</small>"]]
  s5 --> s7
  s5 -.->|"error"| s8
  s6[["ProcessType2<br/><small>glue step (pythonshell), module process_type2</small>"]]
  s6 --> s7
  s6 -.->|"error"| s8
  s7["AddToDatabase<br/><small>lambda step, module add_to_database</small>"]
  s7 --> done((end))
  s7 -.->|"error"| s8
  s8["ErrorCatch<br/><small>catch Lambda</small>"]:::catch
  s8 --> s9
  s9(["PipelineFailed"]):::fail
  classDef catch fill:#fff4e5,stroke:#d9822b
  classDef fail fill:#fde8e8,stroke:#c23030
]==], text)
    assert.equal(text, diagram.mermaid(cfg, build(cfg), order, "pipeline pipeline_example"))
  end)

  it("escapes labels", function()
    local cfg = load_cfg([[
name: e
domain: example
layers: {origin: raw, target: trusted}
steps:
  A:
    type: choice
    properties:
      choices:
        - {variable: k, equals: 'a"<b>', next_step: B}
  B:
    type: lambda
    properties: {module: b}
]], "e.yml")
    local def, order = build(cfg)
    assert.matches('s1 -->|"k = a#quot;#lt;b#gt;"| s2', diagram.mermaid(cfg, def, order), 1, true)
  end)
end)
