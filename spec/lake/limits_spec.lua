-- Limits AWS checks only at create time, refused at synth with file:line
-- (issue 18): a Lambda function's environment (4 KB), a state machine's
-- definition (1 MB), a Glue job's arguments (260 KB); in standalone stacks
-- (the Lua line) and in pipelines (the config.yml line).
local fs = require("host.fs")
local limits = require("lake.limits")
local token = require("lake.token")
local tree = require("spec.lake.support.lake_tree")
local util = require("spec.support.util")

local function lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- The problems of an app whose text contains needle.
local function matching(problems, needle)
  local out = {}
  for _, p in ipairs(problems) do
    if p:find(needle, 1, true) then out[#out + 1] = p end
  end
  return out
end

describe("measuring values known only in part #unit", function()
  it("counts strings whole, the account exactly, the region at its shortest, refs as empty", function()
    assert.same({ "abc", true }, { limits.known_text("abc") })
    assert.same({ "123456789012", true }, { limits.known_text(token.account_id) })
    assert.same({ "b-us-east-1-123456789012", false },
      { limits.known_text(token.concat("b-", token.region, "-", token.account_id)) })
    assert.same({ "${x}", true }, { limits.known_text(token.sub("${!x}")) })
    local res = { logical_id = "Thing" }
    assert.same({ "arn:", false }, { limits.known_text(token.concat("arn:", token.get_att(res, "Arn"))) })
  end)

  it("measures an environment as Lambda does: its JSON text", function()
    assert.same({ 2, true }, { limits.lambda_environment_size({}) })
    -- {"A":"b"} is 9 bytes, {"A":"b","C":"\""} 18
    assert.same({ 9, true }, { limits.lambda_environment_size({ A = "b" }) })
    assert.same({ 18, true }, { limits.lambda_environment_size({ A = "b", C = '"' }) })
    assert.is_nil(limits.lambda_environment_size(token.sub("x")))
  end)

  it("refuses 4,097 bytes and accepts 4,096", function()
    -- {"V":"…"} is 8 bytes around the value
    assert.is_nil(limits.lambda_environment_problem({ Environment = { Variables = { V = ("x"):rep(4088) } } }))
    local path, msg = limits.lambda_environment_problem({ Environment = { Variables = { V = ("x"):rep(4089) } } })
    assert.equal("Environment.Variables", path)
    assert.matches("take 4,097 bytes, more than the 4,096 (4 KB)", msg, 1, true)
  end)

  it("says when only part of the environment is known", function()
    local res = { logical_id = "Queue" }
    local _, msg = limits.lambda_environment_problem({ Environment = { Variables = {
      V = ("x"):rep(5000), Q = token.get_att(res, "Arn") } } })
    -- {"V":"x…","Q":""}: 2 + 5006 + 1 + 6
    assert.matches("take at least 5,015 bytes (the part known before deploy", msg, 1, true)
  end)

  it("measures a definition's text and a Definition object, and Glue's arguments", function()
    assert.same({ 1048577, true, "DefinitionString" },
      { limits.definition_size({ DefinitionString = ("x"):rep(1048577) }) })
    assert.same({ 1048576, true, "DefinitionString" },
      { limits.definition_size({ DefinitionString = ("x"):rep(1048576) }) })
    assert.is_nil(limits.definition_problem({ DefinitionString = ("x"):rep(1048576) }))
    local n, complete = limits.definition_size({ Definition = { Comment = ("y"):rep(100) } })
    assert.equal(#'{"Comment":""}' + 100, n)
    assert.is_true(complete)
    assert.same({ 266240, true, 2 }, { limits.glue_arguments_size({
      DefaultArguments = { ["--a"] = ("v"):rep(200000) }, NonOverridableArguments = { ["--b"] = ("w"):rep(66234) } }) })
    assert.is_nil(limits.glue_arguments_problem({ DefaultArguments = { ["--a"] = ("v"):rep(266237) } }))
    local path, msg = limits.glue_arguments_problem({ DefaultArguments = { ["--a"] = ("v"):rep(266238) } })
    assert.equal("DefaultArguments", path)
    assert.matches("the job's 1 arguments take 266,241 bytes", msg, 1, true)
  end)
end)

-- A standalone stack with one resource over each limit, and one just under.
local APP = [[
local lake = require("lake")
local root = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
local app = lake.App { name = "limits", root = root }
lake.DatalakeBuilder {
  scope = app, lake_name = "Limits Lake", env = "dev", lake_domains = { "sales" },
  standalone = { root .. "/standalone/big.lua" },
}:build()
return app
]]

local STACK = [[
local app, datalake = ...
local stack = app:stack("big-stack-" .. datalake.stage)
local role = stack:add("AWS::IAM::Role", "Role", { AssumeRolePolicyDocument = { Version = "2012-10-17" } })
local code = { ZipFile = "def handler(e, c):\n    return e\n" }
stack:add("AWS::Lambda::Function", "Fits", { Role = role:attr("Arn"), Runtime = "python3.12",
  Handler = "index.handler", Code = code, Environment = { Variables = { FIT = string.rep("x", 4000) } } })
stack:add("AWS::Lambda::Function", "Big", { Role = role:attr("Arn"), Runtime = "python3.12",
  Handler = "index.handler", Code = code, Environment = { Variables = { BIG = string.rep("x", 5000) } } })
stack:add("AWS::StepFunctions::StateMachine", "Machine", { RoleArn = role:attr("Arn"),
  DefinitionString = '{"StartAt":"A","States":{"A":{"Type":"Pass","Comment":"' .. string.rep("y", 1048576)
    .. '","End":true}}}' })
local args = {}
for i = 1, 300 do args["--arg" .. i] = string.rep("z", 1000) end
stack:add("AWS::Glue::Job", "Job", { Role = role:attr("Arn"),
  Command = { Name = "glueetl", ScriptLocation = "s3://b/k.py" }, DefaultArguments = args })
]]

describe("limits in a standalone stack #unit", function()
  for _, command in ipairs({ "validate", "synth" }) do
    it(command .. " exits 2 with file:line and the measured size, writing nothing", function()
      local root = tree.tree({ ["app.lua"] = APP, ["standalone/big.lua"] = STACK })
      local out, err, code = util.lakehost({ root .. "/app.lua", command, command == "synth" and "--out" or nil,
        command == "synth" and (root .. "/lake.out") or nil }, { cwd = root })
      local written = fs.exists(root .. "/lake.out")
      tree.remove(root)
      assert.equal(2, code, err)
      assert.equal("", out)
      assert.same({
        "standalone/big.lua:7: big-stack-dev Big.Environment.Variables: measured as Lambda does (the JSON text "
          .. "of all names and values), the environment variables take 5,010 bytes, more than the 4,096 (4 KB) "
          .. "Lambda allows: move large values to SSM parameters or S3 (AWS::Lambda::Function)",
        "standalone/big.lua:9: big-stack-dev Machine.DefinitionString: the state machine definition takes "
          .. "1,048,646 bytes, more than the 1,048,576 (1 MB) Step Functions allows: split the work into several "
          .. "state machines (AWS::StepFunctions::StateMachine)",
        "standalone/big.lua:14: big-stack-dev Job.DefaultArguments: the job's 300 arguments take 302,292 bytes "
          .. "(names and values, DefaultArguments and NonOverridableArguments together), more than the 266,240 "
          .. "(260 KB) Glue allows (AWS::Glue::Job)",
        "lakehost: 3 problems found; nothing was written",
      }, lines(err))
      assert.is_false(written)
    end)
  end
end)

-- A contract of n keys of 250 characters each.
local function contract(n)
  local out = { "contract:\n" }
  for i = 1, n do out[#out + 1] = ("  k%04d%s: str\n"):format(i, ("x"):rep(245)) end
  return table.concat(out)
end

-- A config.yml whose steps are glue steps g1..gn, one after the other.
local function glue_config(n, extra)
  local out = { "name: big\ndomain: example\nlayers: {origin: raw, target: trusted}\n", extra or "", "steps:\n" }
  for i = 1, n do
    out[#out + 1] = ("  G%d:\n    type: glue\n    properties:\n      module: g%d\n"):format(i, i)
    if i < n then out[#out + 1] = ("      next_step: G%d\n"):format(i + 1) end
  end
  return table.concat(out)
end

local function glue_modules(n)
  local m = {}
  for i = 1, n do m[i] = "g" .. i end
  return m
end

-- Builds a lake over one pipeline folder; its problems.
local function problems_of(config, modules)
  local files = tree.pipeline({ ["shared/manifest.json"] = "{}\n" }, "big", config, modules)
  local root = tree.tree(files)
  local app = tree.build(root)
  tree.remove(root)
  return app.problems
end

describe("limits in a pipeline point at config.yml #unit", function()
  it("a step's environment too large: the environment's line", function()
    local cfg = "name: big\ndomain: example\nlayers: {origin: raw, target: trusted}\nsteps:\n  A:\n    type: lambda\n"
      .. "    properties:\n      module: a\n      environment:\n        SMALL: one\n        BIG: "
      .. ("x"):rep(5000) .. "\n"
    local got = problems_of(cfg, { "a" })
    assert.equal(1, #got, table.concat(got, "\n"))
    assert.matches("^pipelines/big/config%.yml:9: steps%.A%.properties%.environment: measured as Lambda does", got[1])
    -- the step's own variables and lakehost's (names of the lake's buckets, the region at its shortest)
    assert.matches("the environment variables take at least 5,2%d%d bytes %(the part known before deploy", got[1])
    assert.matches("[lake-big-stack-dev StepAFunction.Environment.Variables]", got[1], 1, true)
  end)

  it("an environment that fits passes", function()
    local cfg = "name: big\ndomain: example\nlayers: {origin: raw, target: trusted}\nsteps:\n  A:\n    type: lambda\n"
      .. "    properties:\n      module: a\n      environment:\n        BIG: " .. ("x"):rep(3500) .. "\n"
    assert.same({}, problems_of(cfg, { "a" }))
  end)

  it("a contract that makes the Glue jobs' arguments too large: the contract's line", function()
    local got = problems_of(glue_config(1, contract(1100)), { "g1" })
    local glue = matching(got, "arguments take")
    assert.equal(1, #glue, table.concat(got, "\n"))
    assert.matches("^pipelines/big/config%.yml:4: contract: the job's 1103 arguments take at least 27%d,%d%d%d bytes",
      glue[1])
    assert.matches("[lake-big-stack-dev StepG1Job.DefaultArguments]", glue[1], 1, true)
    assert.same({}, matching(got, "state machine definition"))
  end)

  it("a state machine over 1 MB: the steps' line", function()
    -- 5 glue steps each pass the 900 contract keys to their job: about 2.4 MB
    -- of definition, while each job's arguments stay under 260 KB
    local got = problems_of(glue_config(5, contract(900)), glue_modules(5))
    assert.equal(1, #got, table.concat(got, "\n"))
    assert.matches("^pipelines/big/config%.yml:905: steps: the state machine definition takes at least "
      .. "2,%d%d%d,%d%d%d bytes", got[1])
    assert.matches("[lake-big-stack-dev StateMachine.DefinitionString]", got[1], 1, true)
  end)
end)
