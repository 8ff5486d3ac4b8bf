-- tools/resource_schemas.lua: data/resources made from cfn-lint's copy of
-- AWS's resource schemas, and the committed files checked against it.
local fs = require("host.fs")
local json = require("host.json")
local util = require("spec.support.util")

local function tool(args)
  local argv = { "tools/resource_schemas.lua" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return util.lakehost(argv)
end

describe("tools/resource_schemas.lua #unit", function()
  local out

  setup(function()
    out = util.tmpdir("lakehost-schemas-")
    local stdout, err, code = tool({ "--out", out, "spec/fixtures/schemas" })
    assert(code == 0, err)
    assert(stdout:find("3 types of 2 services", 1, true), stdout)
  end)
  teardown(function() fs.remove_tree(out) end)

  it("writes one file per service, one type a line, and an index of snake names", function()
    assert.same({ "AWS-Demo.json", "Alexa-ASK.json", "NOTICE", "index.json" }, assert(fs.list(out)))
    local text = assert(fs.read(out .. "/AWS-Demo.json"))
    local lines = {}
    for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal(4, #lines)
    assert.matches('^"AWS::Demo::Queue":{', lines[2])
    assert.matches('^"AWS::Demo::VPCEndpoint":{', lines[3])
    local index = json.decode(assert(fs.read(out .. "/index.json")))
    assert.same({ alexa_ask_skill = "Alexa::ASK::Skill", demo_queue = "AWS::Demo::Queue",
      demo_vpc_endpoint = "AWS::Demo::VPCEndpoint" }, index.snake)
    assert.equal(3, index.types)
    assert.matches("MIT No Attribution", assert(fs.read(out .. "/NOTICE")))
  end)

  it("keeps what the checks read and drops the rest", function()
    local demo = json.decode(assert(fs.read(out .. "/AWS-Demo.json")))
    local q = demo["AWS::Demo::Queue"]
    -- us-east-1's schema wins over another region's
    assert.is_nil(q.properties.Other)
    assert.same({ type = "string", maxLength = 80 }, q.properties.Name)
    assert.same({ type = "integer", minimum = 0, maximum = 900 }, q.properties.Delay)
    -- alternatives that differ only in what is dropped (formats) say nothing
    assert.same({ type = "string" }, q.properties.Kms)
    assert.same({ type = "string", oneOf = { { enum = { "A" } }, { enum = { "B" } } } }, q.properties.Mode)
    assert.same({ "Arn", "Endpoint.Address" }, q.attributes)
    assert.same({ "Arn" }, q.read_only)
    assert.same({ "Name" }, q.required)
    assert.equal("list", q.tags)
    local e = demo["AWS::Demo::VPCEndpoint"]
    assert.equal("map", e.tags)
    assert.same({ "A", "B" }, e.requiredXor)
    local skill = json.decode(assert(fs.read(out .. "/Alexa-ASK.json")))["Alexa::ASK::Skill"]
    assert.is_nil(skill.tags)
  end)

  it("says when a folder differs from its source, and writes nothing", function()
    local f = out .. "/AWS-Demo.json"
    local before = assert(fs.read(f))
    local stdout, _, code = tool({ "--check", "--out", out, "spec/fixtures/schemas" })
    assert.equal(0, code)
    assert.matches("matches cfn%-lint unknown", stdout)
    local changed = before:gsub("900", "901")
    assert(fs.write(f, changed))
    local _, err
    _, err, code = tool({ "--check", "--out", out, "spec/fixtures/schemas" })
    assert.equal(1, code)
    assert.matches("differs from cfn%-lint unknown's schemas: AWS%-Demo%.json", err)
    assert.equal(changed, fs.read(f))
  end)

  it("data/resources matches the installed cfn-lint, when it is the version it was made from", function()
    local stdout, err, code = tool({ "--check" })
    assert.equal(0, code, err)
    if stdout:find("not compared", 1, true) then
      pending(stdout)
      return
    end
    assert.matches("^resource_schemas: data/resources matches cfn%-lint ", stdout)
  end)
end)
