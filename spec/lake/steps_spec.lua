-- The step registry (lake.pipeline.steps): the built-in types, an unknown
-- type named with the known ones, and a type of the user's own found
-- through LAKEHOST_PATH without changing any file of lakehost.
local fs = require("host.fs")
local json = require("host.json")
local lake_tree = require("spec.lake.support.lake_tree")
local steps = require("lake.pipeline.steps")
local util = require("spec.support.util")

local TOY = util.cwd() .. "/spec/fixtures/steptypes"

-- A pipeline of one lambda step A, then the step B of the given type and properties.
local function config(btype, bprops)
  return ("name: p\ndomain: example\nlayers: {origin: raw, target: trusted}\n"
    .. "steps:\n  A:\n    type: lambda\n    properties: {module: a, next_step: B}\n"
    .. "  B:\n    type: %s\n    properties: %s\n"):format(btype, bprops)
end

-- An app folder with that pipeline; returns its root.
local function project(cfg)
  local files = lake_tree.pipeline({}, "p", cfg, { "a" })
  files["app.lua"] = lake_tree.app_lua()
  return lake_tree.tree(files)
end

describe("lake.pipeline.steps #unit", function()
  it("knows the built-in types, in the order messages list them", function()
    assert.same({ "lambda", "glue", "choice", "wait", "parallel", "map", "athena",
      "crawler", "notify" }, steps.BUILT_IN)
    for _, name in ipairs(steps.BUILT_IN) do
      local t = assert(steps.get(name))
      assert.equal(name, t.name)
      assert.is_function(t.check)
      assert.is_function(t.state)
    end
  end)

  it("names an unknown type with file:line and the known types", function()
    local root = project(config("lamda", "{module: b}"))
    local _, err, code = util.lakehost({ root .. "/app.lua", "validate" })
    assert.equal(2, code)
    assert.matches("pipelines/p/config.yml:9: steps.B.type: expected one of " .. table.concat(steps.BUILT_IN, ", ")
      .. ", got 'lamda' (did you mean 'lambda'?)", err, 1, true)
    lake_tree.remove(root)
  end)

  it("adds a type from a folder on LAKEHOST_PATH: its state, its diagram node, no resources", function()
    local root = project(config("pass", "{result: {checked: true}}"))
    local out = root .. "/out"
    local _, err, code = util.lakehost({ root .. "/app.lua", "synth", "--out", out }, { env = { LAKEHOST_PATH = TOY } })
    assert.equal(0, code, err)
    local tpl = json.decode(assert(fs.read(out .. "/lake-p-stack-dev.template.json")))
    local def = json.decode((tpl.Resources.StateMachine.Properties.DefinitionString["Fn::Sub"]
      :gsub("%${AWS::[%w]+}", "x")))
    assert.same({ Type = "Pass", Comment = "pass step", Result = { checked = true }, ResultPath = "$.passed", End = true },
      def.States.B)
    assert.equal("B", def.States.A.Next)
    local ids = {}
    for id in pairs(tpl.Resources) do ids[#ids + 1] = id end
    table.sort(ids)
    assert.same({ "CatchFunction", "CatchLogGroup", "CatchRole", "LambdaStepsRole", "StateMachine",
      "StateMachineLogGroup", "StateMachineRole", "StepAFunction", "StepALogGroup", "TriggerFunction", "TriggerLogGroup", "TriggerRole" }, ids)
    local mmd = assert(fs.read(out .. "/lake-p-stack-dev.p-state-machine-dev.mmd"))
    assert.matches('s2{{"B<br/><small>pass step</small>"}}', mmd, 1, true)
    -- its own checks, with file:line
    lake_tree.remove(root)
    root = project(config("pass", "{reslt: {}}"))
    _, err, code = util.lakehost({ root .. "/app.lua", "validate" }, { env = { LAKEHOST_PATH = TOY } })
    assert.equal(2, code)
    assert.equal("pipelines/p/config.yml:10: steps.B.properties.reslt: unknown key (did you mean 'result'?)\n"
      .. "pipelines/p/config.yml:10: steps.B.properties.result: is required\n"
      .. "lakehost: 2 problems found; nothing was written\n", err)
    lake_tree.remove(root)
  end)

  it("says what a type file on LAKEHOST_PATH lacks", function()
    local root = project(config("broken", "{}"))
    local _, err, code = util.lakehost({ root .. "/app.lua", "validate" }, { env = { LAKEHOST_PATH = TOY } })
    assert.equal(2, code)
    assert.matches("pipelines/p/config.yml:9: steps.B.type: step type 'broken' (lake.pipeline.steps.broken) "
      .. "has no function state", err, 1, true)
    lake_tree.remove(root)
  end)
end)
