-- One pipeline using every step type lakehost has (issue 20):
-- spec/fixtures/apps/every_step, in a lake of two domains. It synthesizes
-- cfn-lint clean, its state machine passes asl-validator, AWS's rule packs
-- find nothing in its templates, and its roles are read statement by
-- statement: no wildcard action, and every resource is the pipeline's own or
-- of its own domain (never of the other domain), a lone "*" only for the
-- actions IAM grants on nothing else.
local cdknag = require("spec.support.cdknag")
local fs = require("host.fs")
local json = require("host.json")
local steps = require("lake.pipeline.steps")
local util = require("spec.support.util")

local APP = "spec/fixtures/apps/every_step/app.lua"
local STACK = "lake-every-stack-dev"

-- Statements whose actions take no resource but "*" (the Service
-- Authorization Reference; each carries its reason for cdk-nag).
local STAR_SIDS = { DeliverLogs = true, WriteTraces = true }

-- What the pipeline may name, by ARN pattern: its own resources (every-*),
-- its domain's (example), the lake's shared ones (the catalog, the error
-- topic, the raw crawler of its domain) and its code in the assets bucket.
local OWN = {
  "^arn:aws:s3:::example%-[%w%-]+$", "^arn:aws:s3:::example%-[%w%-]+/.+$",
  "^arn:aws:s3:::lakehost%-assets%-123456789012%-us%-east%-1/[%w/._-]+$",
  "^arn:aws:glue:us%-east%-1:123456789012:catalog$",
  "^arn:aws:glue:us%-east%-1:123456789012:database/example_[%w_]+$",
  "^arn:aws:glue:us%-east%-1:123456789012:table/example_[%w_]+/%*$",
  "^arn:aws:glue:us%-east%-1:123456789012:job/every%-[%w%-]+$",
  "^arn:aws:glue:us%-east%-1:123456789012:crawler/every%-[%w%-]+$",
  "^arn:aws:athena:us%-east%-1:123456789012:workgroup/every%-athena%-dev$",
  "^arn:aws:athena:us%-east%-1:123456789012:datacatalog/AwsDataCatalog$",
  "^arn:aws:lambda:us%-east%-1:123456789012:function:every%-[%w%-]+$",
  "^arn:aws:states:us%-east%-1:123456789012:stateMachine:every%-[%w%-]+$",
  "^arn:aws:states:us%-east%-1:123456789012:execution:every%-[%w%-]+:?%*?$",
  "^arn:aws:logs:us%-east%-1:123456789012:log%-group:/aws/lambda/every%-[%w%-]+:%*$",
  "^arn:aws:logs:us%-east%-1:123456789012:log%-group:/aws%-glue/[%w/%-]+$",
  "^arn:aws:logs:us%-east%-1:123456789012:log%-group:/aws%-glue/[%w/%-]+:%*$",
  "^arn:aws:logs:us%-east%-1:123456789012:log%-group:/aws%-glue/crawlers:log%-stream:every%-[%w%-]+$",
  "^arn:aws:events:us%-east%-1:123456789012:rule/StepFunctions[%w]+$",
  "^arn:aws:sns:us%-east%-1:123456789012:example%-lake%-errors%-dev$",
  "^arn:aws:sqs:us%-east%-1:123456789012:every%-[%w%-]+$",
}

-- A template value as text: pseudo parameters filled in, references to the
-- template's own resources as "own:<id>" (they are the stack's).
local function text(v, tpl)
  if type(v) == "string" then return v end
  if v["Fn::Sub"] then
    local s = type(v["Fn::Sub"]) == "table" and v["Fn::Sub"][1] or v["Fn::Sub"]
    return (s:gsub("%${([^}]+)}", function(name)
      if name == "AWS::Partition" then return "aws" end
      if name == "AWS::Region" then return "us-east-1" end
      if name == "AWS::AccountId" then return "123456789012" end
      local id = name:match("^([%w]+)")
      assert(tpl.Resources[id], "unresolved ${" .. name .. "}")
      return "own:" .. name
    end))
  end
  local ref = v.Ref or (v["Fn::GetAtt"] and v["Fn::GetAtt"][1])
  if ref then
    assert(tpl.Resources[ref], "reference to no resource of the stack: " .. json.encode(v))
    return "own:" .. ref
  end
  error("cannot read " .. json.encode(v))
end

local function list(v) return (type(v) == "table" and v[1] ~= nil) and v or { v } end

describe("a pipeline with every step type #integration", function()
  local out, files, tpl

  setup(function()
    out = util.tmpdir("lakehost-every-")
    local _, err, code = util.lakehost({ APP, "synth", "--out", out })
    assert(code == 0, err)
    files = {}
    for _, n in ipairs({ "lake-storage-stack-dev", "lake-shared-stack-dev", STACK }) do
      files[#files + 1] = out .. "/" .. n .. ".template.json"
    end
    tpl = json.decode(assert(fs.read(out .. "/" .. STACK .. ".template.json")))
  end)

  teardown(function() if out then fs.remove_tree(out) end end)

  it("uses every type the registry has", function()
    local text_of = assert(fs.read("spec/fixtures/apps/every_step/pipelines/every/config.yml"))
    for _, t in ipairs(steps.BUILT_IN) do
      assert.matches("type: " .. t .. "\n", text_of, 1, true)
    end
  end)

  it("synthesizes cfn-lint clean, informational rules included", function()
    local quoted = {}
    for i, f in ipairs(files) do quoted[i] = util.shquote(f) end
    local p = assert(io.popen("cfn-lint --include-checks I --format parseable -- " .. table.concat(quoted, " ")
      .. " 2>&1; echo \"rc=$?\""))
    local lint = p:read("a")
    p:close()
    assert.equal("0", lint:match("rc=(%d+)%s*$"), lint)
  end)

  it("makes a state machine asl-validator accepts", function()
    local def = tpl.Resources.StateMachine.Properties.DefinitionString
    local asl = text(def, tpl)
    local ok, said = cdknag.asl_validate({ every = asl })
    if ok == nil then
      pending("asl-validator unavailable: " .. tostring(said))
      return
    end
    assert.is_true(ok, said)
  end)

  it("gives its roles no wildcard action and nothing but its own and its domain's resources", function()
    local roles, checked = 0, 0
    for id, r in pairs(tpl.Resources) do
      if r.Type == "AWS::IAM::Role" then
        roles = roles + 1
        assert.is_nil(r.Properties.ManagedPolicyArns, id)
        for _, pol in ipairs(r.Properties.Policies or {}) do
          for _, st in ipairs(list(pol.PolicyDocument.Statement)) do
            if st.Effect == "Allow" then
              for _, a in ipairs(list(st.Action)) do
                assert.is_nil(a:find("*", 1, true), ("%s %s: action %s"):format(id, tostring(st.Sid), a))
              end
              for _, res in ipairs(list(st.Resource)) do
                local arn = text(res, tpl)
                checked = checked + 1
                assert.is_nil(arn:find("other", 1, true), ("%s %s reaches the other domain: %s"):format(id,
                  tostring(st.Sid), arn))
                if arn == "*" then
                  assert.is_true(STAR_SIDS[st.Sid] == true, ("%s %s: '*'"):format(id, tostring(st.Sid)))
                elseif arn:sub(1, 4) ~= "own:" then
                  local ok = false
                  for _, p in ipairs(OWN) do ok = ok or arn:match(p) ~= nil end
                  assert.is_true(ok, ("%s %s: %s is not the pipeline's or its domain's"):format(id,
                    tostring(st.Sid), arn))
                end
              end
            end
          end
        end
      end
    end
    -- trigger, catch, lambda steps, glue steps, the crawler of its own, the state machine
    assert.is_true(roles >= 6, tostring(roles))
    assert.is_true(checked > 40, tostring(checked))
  end)

  it("leaves AWS's rule packs nothing to find", function()
    local doc, err = cdknag.run(files, { "AwsSolutionsChecks", "HIPAASecurityChecks", "NIST80053R5Checks" })
    if not doc then
      if not cdknag.ensure() then
        pending("cdk-nag unavailable: " .. tostring(err))
        return
      end
      error(err)
    end
    local found = {}
    for _, t in ipairs(doc.templates) do
      for pack, r in pairs(t.packs) do
        for _, l in ipairs({ r.errors, r.warnings }) do
          for _, f in ipairs(l) do
            found[#found + 1] = ("%s %s/%s %s %s"):format(pack, t.stack, f.resource, f.rule, f.finding or "")
          end
        end
      end
    end
    table.sort(found)
    assert(#found == 0, table.concat(found, "\n"))
  end)
end)
