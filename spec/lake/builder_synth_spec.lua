-- The lake's storage and shared templates: golden files compared byte for
-- byte (LAKEHOST_UPDATE_GOLDEN=1 rewrites them) and cfn-lint with zero
-- findings.
local lake = require("lake")
local assembly = require("lake.assembly")
local util = require("spec.support.util")
local lutil = require("lake.util")

local GOLDEN = "spec/fixtures/templates/"
local UPDATE = os.getenv("LAKEHOST_UPDATE_GOLDEN") == "1"

local function example(opts)
  local app = lake.App {}
  local o = { scope = app, lake_name = "Example Lake", env = "dev", lake_domains = { "example" },
    enable_vpc = false, sns_subscriptions = { { protocol = "email", endpoint = "example@example.com" } },
    tags = { example1 = "value1", example2 = "value2" } }
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.vpc ~= nil then o.enable_vpc = nil end -- one spelling of the VPC option at a time
  local dl = lake.DatalakeBuilder(o):build()
  assert(#app.problems == 0, table.concat(app.problems, "\n"))
  return dl
end

local function text(stack) return assembly.encode(assembly.template(stack, {})) end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function golden(name, got)
  assert.is_nil(got:find("<token", 1, true), "a token was formatted into a string")
  local path = GOLDEN .. name .. ".template.json"
  if UPDATE then write(path, got) end
  local want = read(path)
  assert(want, path .. " is missing: run the specs with LAKEHOST_UPDATE_GOLDEN=1 to write it")
  assert.equal(want, got)
end

describe("lake.builder golden templates #unit", function()
  it("storage", function() golden("storage", text(example().storage_stack)) end)
  it("shared", function() golden("shared", text(example().shared_stack)) end)
  it("shared with the VPC", function() golden("shared-vpc", text(example({ enable_vpc = true }).shared_stack)) end)
end)

describe("lake.builder templates pass cfn-lint #unit", function()
  local function lint(cases)
    if os.execute("command -v cfn-lint >/dev/null 2>&1") ~= true then
      error("cfn-lint is not installed (pip install cfn-lint)")
    end
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. util.shquote(dir)))
    local files = {}
    for name, s in lutil.spairs(cases) do
      local path = dir .. "/" .. name .. ".template.json"
      write(path, s)
      files[#files + 1] = util.shquote(path)
    end
    local p = assert(io.popen("cfn-lint --format parseable -- " .. table.concat(files, " ") .. " 2>&1"))
    local out = p:read("a")
    local _, _, code = p:close()
    os.execute("rm -rf " .. util.shquote(dir))
    return out, code
  end

  it("finds nothing in the example lake, plain and with the VPC", function()
    local plain, vpc = example(), example({ enable_vpc = true })
    local public = example({ vpc = { public_subnets = true } })
    local out, code = lint({ storage = text(plain.storage_stack), shared = text(plain.shared_stack),
      ["shared-vpc"] = text(vpc.shared_stack), ["shared-vpc-public"] = text(public.shared_stack) })
    assert.equal("", out)
    assert.equal(0, code)
  end)

  it("finds nothing in a 5-domain lake with region, account and every subscription protocol", function()
    local dl = example({ enable_vpc = true, region = "ap-southeast-2", account_id = "123456789012", env = "prd",
      vpc_cidr = "10.20.0.0/16", lake_domains = { "sales", "hr", "finance", "ops", "web-analytics" },
      sns_subscriptions = {
        { protocol = "email", endpoint = "ops@example.com" },
        { protocol = "sms", endpoint = "+61255550100" },
        { protocol = "sqs", endpoint = "arn:aws:sqs:ap-southeast-2:123456789012:lake-errors" },
        { protocol = "lambda", endpoint = "arn:aws:lambda:ap-southeast-2:123456789012:function:notify" },
        { protocol = "https", endpoint = "https://hooks.example.com/lake" },
      } })
    local out, code = lint({ storage = text(dl.storage_stack), shared = text(dl.shared_stack) })
    assert.equal("", out)
    assert.equal(0, code)
  end)

  it("finds nothing in app.lua's synth output (storage, shared, extra policies)", function()
    local out_dir = os.tmpname()
    os.remove(out_dir)
    local _, err, code = util.lakehost({ "app.lua", "synth", "--quiet", "--out", out_dir },
      { env = { ENVIRONMENT_STAGE = "dev" } })
    -- config warnings (file:line: warning: ...) are the pipelines' business, not the templates'
    assert.equal("", (err:gsub("[^\n]*: warning: [^\n]*\n", "")))
    assert.equal(0, code)
    local cases = {}
    for _, name in ipairs({ "lake-storage-stack-dev", "lake-shared-stack-dev", "lake-extra-policies-stack-dev" }) do
      cases[name] = assert(read(out_dir .. "/" .. name .. ".template.json"), name)
    end
    os.execute("rm -rf " .. util.shquote(out_dir))
    local out, lcode = lint(cases)
    assert.equal("", out)
    assert.equal(0, lcode)
  end)

  it("can fail: a template with a misspelt property is reported", function()
    local bad = text(example().storage_stack):gsub('"BucketName"', '"BucketNme"', 1)
    local out, code = lint({ bad = bad })
    assert.matches("E3002", out, 1, true)
    assert.is_true(code ~= 0)
  end)
end)
