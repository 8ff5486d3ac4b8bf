-- Parallel and map steps (issue 20): lists of steps inside a step. Their
-- config (accepted forms, every refusal with file:line in one run), the
-- ASL they make (Parallel with Branches, Map INLINE or DISTRIBUTED with an
-- S3 ItemReader), the resources of the steps inside them, the state
-- machine role's own permissions, cfn-lint and asl-validator on the
-- synthesized pipeline; then `run` against moto: a map over three items, a
-- distributed map listing the origin bucket, a failing branch through the
-- catch.
local fs = require("host.fs")
local json = require("host.json")
local lake_tree = require("spec.lake.support.lake_tree")
local lutil = require("lake.util")
local util = require("spec.support.util")

local HEAD = "name: p\ndomain: example\nlayers: {origin: raw, target: trusted}\n"

local GOOD = HEAD .. [[
steps:
  Split:
    type: lambda
    properties: {module: split, next_step: Each}
  Each:
    type: map
    properties:
      items_path: $.files
      max_concurrency: 2
      next_step: Listed
      steps:
        Double:
          type: lambda
          properties: {module: double}
  Listed:
    type: map
    properties:
      items_from: origin_prefix
      prefix: in/
      tolerated_failure_percentage: 10
      result_path: seen
      next_step: Fan
      steps:
        Seen:
          type: lambda
          properties: {module: seen}
  Fan:
    type: parallel
    properties:
      branches:
        - Ok:
            type: lambda
            properties: {module: ok, next_step: Pick}
          Pick:
            type: choice
            properties:
              choices:
                - {variable: branch, equals: ok, next_step: Last}
          Last:
            type: lambda
            properties: {module: last}
        - Bad:
            type: lambda
            properties: {module: bad}
]]

local CODE = {
  split = "def handler(event, context=None):\n    return dict(event, files=[1, 2, 3])\n",
  double = "def handler(event, context=None):\n    return {'n': event * 2}\n",
  seen = "def handler(event, context=None):\n    return {'key': event['origin_key'], 'bucket': event['origin_bucket']}\n",
  ok = "def handler(event, context=None):\n    return {'branch': 'ok'}\n",
  last = "def handler(event, context=None):\n    return dict(event, last=True)\n",
  bad = "def handler(event, context=None):\n    if event.get('fail'):\n        raise ValueError('branch broke')\n"
    .. "    return {'branch': 'bad', 'fine': True}\n",
  catch = "def handler(event, context=None):\n    return {'notified': True}\n",
  trigger = "import json, os\nimport boto3\n\ndef handler(event, context=None):\n"
    .. "    boto3.client('stepfunctions').start_execution(stateMachineArn=os.environ['STATE_MACHINE_ARN'],\n"
    .. "        name='run-1', input=json.dumps(event))\n",
}
local MODULES = { "split", "double", "seen", "ok", "last", "bad" }

local function project(cfg)
  local files = lake_tree.pipeline({}, "p", cfg, MODULES)
  for name, code in pairs(CODE) do
    local dir = (name == "trigger" or name == "catch") and name or ("steps/" .. name)
    files["pipelines/p/" .. dir .. "/src/index.py"] = code
  end
  files["app.lua"] = lake_tree.app_lua()
  return lake_tree.tree(files)
end

local function definition(tpl)
  local text = tpl.Resources.StateMachine.Properties.DefinitionString["Fn::Sub"]
  return json.decode((text:gsub("%${AWS::Partition}", "aws"):gsub("%${AWS::[%w]+}", "x")))
end

local function statements(tpl)
  local out = {}
  for _, st in ipairs(tpl.Resources.StateMachineRole.Properties.Policies[1].PolicyDocument.Statement) do
    out[st.Sid] = st
  end
  return out
end

describe("parallel and map steps #unit", function()
  local root, out, tpl
  setup(function()
    root = project(GOOD)
    out = root .. "/out"
    local _, err, code = util.lakehost({ root .. "/app.lua", "synth", "--out", out })
    assert(code == 0, err)
    tpl = json.decode(assert(fs.read(out .. "/lake-p-stack-dev.template.json")))
  end)
  teardown(function() lake_tree.remove(root) end)

  it("make a Parallel state whose branches are the branches' steps, failures caught by the Parallel", function()
    local fan = definition(tpl).States.Fan
    assert.equal("Parallel", fan.Type)
    assert.equal("$.branches", fan.ResultPath)
    assert.is_true(fan.End)
    assert.same({ { ErrorEquals = { "States.ALL" }, ResultPath = "$.error", Next = "ErrorCatch" } }, fan.Catch)
    assert.equal(2, #fan.Branches)
    assert.equal("Ok", fan.Branches[1].StartAt)
    assert.same({ "Last", "Ok", "Pick" }, lutil.sorted_keys(fan.Branches[1].States))
    local ok = fan.Branches[1].States.Ok
    assert.equal("Pick", ok.Next)
    -- inside a branch, errors go to the Parallel: no catcher, no Default to ErrorCatch
    assert.is_nil(ok.Catch)
    assert.is_table(ok.Retry)
    assert.is_nil(fan.Branches[1].States.Pick.Default)
    assert.is_true(fan.Branches[1].States.Last.End)
    assert.equal("arn:aws:lambda:x:x:function:p-bad-dev", fan.Branches[2].States.Bad.Parameters.FunctionName)
  end)

  it("keep a step's extra states inside its branch, and a failed crawl fails the branch", function()
    local r = project(HEAD .. [[
steps:
  Fan:
    type: parallel
    properties:
      branches:
        - Crawl:
            type: crawler
            properties: {bucket: origin}
        - Tell:
            type: notify
            properties: {message: "crawling ${target_bucket}"}
]])
    local o = r .. "/out"
    local _, err, code = util.lakehost({ r .. "/app.lua", "synth", "--out", o })
    assert(code == 0, err)
    local fan = definition(json.decode(assert(fs.read(o .. "/lake-p-stack-dev.template.json")))).States.Fan
    local b = fan.Branches[1]
    assert.same({ "Crawl", "Crawl.Done", "Crawl.Failed", "Crawl.Poll", "Crawl.Ready", "Crawl.Wait" },
      lutil.sorted_keys(b.States))
    assert.same({ "Fail", "Glue.CrawlFailed" }, { b.States["Crawl.Failed"].Type, b.States["Crawl.Failed"].Error })
    -- nothing inside a branch goes to the pipeline's catch: the Parallel's own Catch does
    local text = json.encode(fan.Branches)
    assert.is_nil(text:find("ErrorCatch", 1, true))
    assert.equal("ErrorCatch", fan.Catch[1].Next)
    lake_tree.remove(r)
  end)

  it("make an INLINE Map over items_path, a DISTRIBUTED one with an S3 reader for origin_prefix", function()
    local states = definition(tpl).States
    local each = states.Each
    assert.equal("Map", each.Type)
    assert.equal("$.files", each.ItemsPath)
    assert.equal(2, each.MaxConcurrency)
    assert.equal("$.results", each.ResultPath)
    assert.same({ Mode = "INLINE" }, each.ItemProcessor.ProcessorConfig)
    assert.equal("Double", each.ItemProcessor.StartAt)
    assert.is_nil(each.ItemProcessor.States.Double.Catch)
    assert.is_nil(each.ToleratedFailurePercentage)
    local listed = states.Listed
    assert.same({ Mode = "DISTRIBUTED", ExecutionType = "STANDARD" }, listed.ItemProcessor.ProcessorConfig)
    assert.same({ Resource = "arn:aws:states:::s3:listObjectsV2",
      Parameters = { Bucket = "example-raw-x-x-dev", Prefix = "in/" } }, listed.ItemReader)
    assert.is_nil(listed.ItemsPath)
    assert.equal(10, listed.ToleratedFailurePercentage)
    assert.equal("$.seen", listed.ResultPath)
    assert.equal("$$.Map.Item.Value.Key", listed.ItemSelector["origin_key.$"])
    assert.equal("example-raw-x-x-dev", listed.ItemSelector.origin_bucket)
  end)

  it("give the steps inside them their resources, and the state machine its own map runs and origin listing", function()
    for _, m in ipairs({ "Split", "Double", "Seen", "Ok", "Last", "Bad" }) do
      assert.equal("AWS::Lambda::Function", tpl.Resources["Step" .. m .. "Function"].Type, m)
    end
    local st = statements(tpl)
    assert.same({ "states:StartExecution" }, st.StartMapRuns.Action)
    assert.same({ { ["Fn::Sub"] = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:"
      .. "p-state-machine-dev" } }, st.StartMapRuns.Resource)
    assert.same({ "states:DescribeExecution", "states:StopExecution" }, st.WatchMapRuns.Action)
    assert.same({ { ["Fn::Sub"] = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
      .. "p-state-machine-dev/*" } }, st.WatchMapRuns.Resource)
    assert.same({ "s3:ListBucket" }, st.ListOriginPrefix.Action)
    assert.same({ { ["Fn::Sub"] = "arn:${AWS::Partition}:s3:::example-raw-${AWS::Region}-${AWS::AccountId}-dev" } },
      st.ListOriginPrefix.Resource)
    -- every nested function may be invoked
    local text = json.encode(st.InvokeFunctions.Resource)
    for _, m in ipairs({ "split", "double", "seen", "ok", "last", "bad" }) do
      assert.matches("function:p%-" .. m .. "%-dev", text)
    end
  end)

  it("draw each branch and each map's steps as a subgraph", function()
    local mmd = assert(fs.read(out .. "/lake-p-stack-dev.p-state-machine-dev.mmd"))
    assert.matches('subgraph s%d+_1 %["Fan: branch 1"%]', mmd)
    assert.matches('subgraph s%d+_2 %["Fan: branch 2"%]', mmd)
    assert.matches('subgraph s%d+_1 %["Each: each item"%]', mmd)
    assert.matches('%[/"Fan<br/><small>parallel step, 2 branches</small>"/%]', mmd)
    assert.matches('%[/"Listed<br/><small>map step, each object under in/</small>"\\%]', mmd)
    assert.matches('s%d+_join%(%("every item %(distributed%)"%)%)', mmd)
  end)

  it("pass cfn-lint and asl-validator", function()
    local ok, lint = util.cfn_lint(out .. "/lake-p-stack-dev.template.json")
    assert.is_true(ok, lint)
    local valid, text = require("spec.support.cdknag").asl_validate({ p = json.encode(definition(tpl)) })
    if valid == nil then
      pending("asl-validator unavailable: " .. tostring(text))
      return
    end
    assert.is_true(valid, text)
    assert.matches("is valid", text)
  end)
end)

describe("parallel and map steps in config.yml #unit", function()
  it("report every problem of the steps inside them, with file:line, in one run", function()
    local root = project(HEAD .. [[
steps:
  A:
    type: lambda
    properties: {module: split, next_step: Fan}
  Fan:
    type: parallel
    properties:
      next_step: M
      branches:
        - B:
            type: lambda
            properties: {module: ok, next_step: A, colour: red}
        - {}
        - B:
            type: lambda
            properties: {module: bad}
  M:
    type: map
    properties:
      items_path: files
      max_concurrency: 1001
      tolerated_failure_percentage: 101
      steps:
        C:
          type: lambda
          properties: {module: double}
  N:
    type: map
    properties:
      items_from: origin_prefix
      steps: {}
]])
    local _, err, code = util.lakehost({ root .. "/app.lua", "validate" })
    lake_tree.remove(root)
    assert.equal(2, code)
    local F = "pipelines/p/config.yml:"
    for _, want in ipairs({
      F .. "15: steps.Fan.properties.branches[1].B.properties.colour: unknown key",
      F .. "15: steps.Fan.properties.branches[1].B.properties.next_step: 'A' is outside branch 1 of 'Fan'",
      F .. "16: steps.Fan.properties.branches[2]: needs at least one step",
      F .. "17: steps.Fan.properties.branches[3].B: 'B' is already the name of the step at line 13",
      F .. "23: steps.M.properties.items_path: 'files' is not a JSONPath",
      F .. "24: steps.M.properties.max_concurrency: ",
      F .. "25: steps.M.properties.tolerated_failure_percentage: expected a number from 0 to 100, got 101",
      F .. "33: steps.N.properties.prefix: is required with items_from: origin_prefix",
      F .. "34: steps.N.properties.steps: needs at least one step",
      F .. "30: steps.N: unreachable",
    }) do
      assert.matches(want, err, 1, true)
    end
    assert.matches("lakehost: 10 problems found", err, 1, true)
  end)

  it("refuse a branch list that is empty or not a list, and a map without items", function()
    local root = project(HEAD .. [[
steps:
  Fan:
    type: parallel
    properties: {branches: [], next_step: M}
  M:
    type: map
    properties:
      steps:
        C:
          type: lambda
          properties: {module: double}
]])
    local _, err, code = util.lakehost({ root .. "/app.lua", "validate" })
    lake_tree.remove(root)
    assert.equal(2, code)
    assert.matches("pipelines/p/config.yml:7: steps.Fan.properties.branches: needs at least one branch", err, 1, true)
    assert.matches("pipelines/p/config.yml:10: steps.M.properties: needs items_path", err, 1, true)
  end)
end)

-- ---- run, against moto ------------------------------------------------------

local moto = require("spec.support.moto")

describe("parallel and map steps run locally against moto #integration", function()
  local server, root, c
  local s3 = require("lake.aws.s3")
  local RAW = "example-raw-us-east-1-123456789012-dev"

  local function run_with(event)
    local file = root .. "/event.json"
    assert(fs.write(file, json.encode(event)))
    local env = { LAKEHOST_CACHE_DIR = root .. "/.cache" }
    for k, v in pairs(server.env) do env[k] = v end
    return util.lakehost({ root .. "/app.lua", "run", "p", "--event", file, "--endpoint", server.url },
      { env = env, cwd = root })
  end

  setup(function()
    server = moto.start()
    c = server.client()
    root = project(GOOD)
    local rest = require("lake.aws.client")
    assert(c:call({ service = "s3", action = "CreateBucket", s3 = true, method = "PUT", path = "/" .. RAW }))
    for _, key in ipairs({ "in/a.json", "in/b.json", "in/c.json", "other/d.json" }) do
      assert(s3.put_object(c, RAW, key, { body = "{}" }))
    end
    assert(rest)
  end)

  teardown(function()
    if server then server.stop() end
    if root then lake_tree.remove(root) end
  end)

  it("maps over three items, lists the origin prefix and joins the branches (exit 0)", function()
    local out, err, code = run_with({ fail = false })
    assert.equal(0, code, err)
    for _, scope in ipairs({ "Each%[0%]/Double", "Each%[1%]/Double", "Each%[2%]/Double", "Listed%[2%]/Seen",
      "Fan%[0%]/Last", "Fan%[1%]/Bad" }) do
      assert.matches("\n  " .. scope .. " +%d+%.%d%d s  succeeded\n", err)
    end
    assert.not_matches("Each%[3%]", err)
    local o = json.decode(out)
    assert.same({ { n = 2 }, { n = 4 }, { n = 6 } }, o.results)
    assert.same({ { key = "in/a.json", bucket = RAW }, { key = "in/b.json", bucket = RAW },
      { key = "in/c.json", bucket = RAW } }, o.seen)
    assert.same({ { branch = "ok", last = true }, { branch = "bad", fine = true } }, o.branches)
    assert.same({ 1, 2, 3 }, o.files)
  end)

  it("sends a failing branch through the catch and fails the execution (exit 1)", function()
    local out, err, code = run_with({ fail = true })
    assert.equal(1, code, err)
    assert.equal("", out)
    assert.matches("\n  Fan%[1%]/Bad +%d+%.%d%d s  failed: ValueError: branch broke", err)
    assert.matches("\n  Fan +%d+%.%d%d s  failed: ValueError: branch broke[^\n]*; caught, next ErrorCatch\n", err)
    assert.matches("\n  ErrorCatch +%d+%.%d%d s  succeeded\n", err)
    assert.matches("\nFAILED in %d+%.%d%d s at PipelineFailed: PipelineFailed", err)
  end)
end)

describe("the interpreter's distributed Map #unit", function()
  local interpreter = require("lake.states.interpreter")
  local function machine(tolerated)
    return assert(interpreter.new({ StartAt = "M", States = { M = { Type = "Map", End = true,
      ToleratedFailurePercentage = tolerated,
      ItemReader = { Resource = "arn:aws:states:::s3:listObjectsV2", Parameters = { Bucket = "b", ["Prefix.$"] = "$.p" } },
      ItemSelector = { ["key.$"] = "$$.Map.Item.Value.Key" },
      ItemProcessor = { ProcessorConfig = { Mode = "DISTRIBUTED", ExecutionType = "STANDARD" }, StartAt = "T",
        States = { T = { Type = "Task", Resource = "arn:aws:lambda:us-east-1:1:function:f", End = true } } } } } }, {
      read_items = function(_, params)
        assert.same({ Bucket = "b", Prefix = "in/" }, params)
        return true, { { Key = "in/a" }, { Key = "in/bad" }, { Key = "in/c" }, { Key = "in/d" } }
      end,
      invoke = function(_, input)
        if input.key == "in/bad" then return false, { Error = "Boom", Cause = "bad item" } end
        return true, { done = input.key }
      end,
    }))
  end

  it("reads its items from read_items and keeps failed items' errors within the tolerated share", function()
    local r = machine(25):run({ p = "in/" })
    assert.equal("SUCCEEDED", r.status)
    assert.same({ { done = "in/a" }, { Error = "Boom", Cause = "bad item" }, { done = "in/c" }, { done = "in/d" } },
      r.output)
  end)

  it("fails with States.ExceedToleratedFailureThreshold beyond it", function()
    local r = machine(20):run({ p = "in/" })
    assert.equal("FAILED", r.status)
    assert.equal("States.ExceedToleratedFailureThreshold", r.error)
    assert.matches("1 of 4 items failed", r.cause, 1, true)
  end)
end)
