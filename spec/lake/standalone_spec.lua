local fs = require("host.fs")
local lake = require("lake")
local assembly = require("lake.assembly")
local util = require("spec.support.util")

-- A temporary app folder holding standalone/<name>.lua files.
local function setup(scripts)
  local root = assert(fs.tmpdir("lakehost-standalone-"))
  assert(fs.mkdir_p(root .. "/standalone"))
  for name, src in pairs(scripts or {}) do assert(fs.write(root .. "/standalone/" .. name, src)) end
  local app = lake.App { root = root }
  app.file = "app.lua"
  -- standalone = {}: the specs run the scripts themselves
  local dl = lake.DatalakeBuilder { scope = app, lake_name = "Example Lake", lake_domains = { "example" },
    standalone = {} }:build()
  return root, app, dl
end

describe("lake.standalone #unit", function()
  local roots = {}
  local function app_with(scripts)
    local root, app, dl = setup(scripts)
    roots[#roots + 1] = root
    return root, app, dl
  end
  teardown(function()
    for _, r in ipairs(roots) do fs.remove_tree(r) end
  end)

  -- acceptance
  it("runs a script with (app, datalake), lake and datalake", function()
    local root, app, dl = app_with({ ["x.lua"] = [[
local app, dl = ...
assert(dl == datalake and app == datalake.app)
local s = app:stack(lake.Name("lake-x-stack", dl.stage))
s:depends_on(dl.shared_stack)
local raw = dl.bucket_set:bucket("example", "raw")
s:add("ssm_parameter", "RawBucket", { Name = "/x/raw", Type = "String", Value = raw.name })
local token = require("lake.token")
assert(token.is(raw.arn))
]] })
    assert.same({ true }, { lake.standalone(root .. "/standalone/x.lua", dl) })
    local s = app:get_stack("lake-x-stack-dev")
    assert.same({ "lake-shared-stack-dev" }, s.deps)
    assert.equal(1, #s.resources)
  end)

  it("is reachable from the DSL as lake.standalone", function()
    local root, _, dl = app_with({ ["ok.lua"] = "local _ = ...\n" })
    assert.is_true(lake.standalone(root .. "/standalone/ok.lua", dl))
  end)

  it("runs the builder's standalone scripts after the lake's stacks", function()
    local root = assert(fs.tmpdir("lakehost-standalone-"))
    roots[#roots + 1] = root
    assert(fs.mkdir_p(root .. "/standalone"))
    assert(fs.write(root .. "/standalone/a.lua", "local app, dl = ...\napp:stack('a-' .. dl.stage)\n"))
    local app = lake.App { root = root }
    lake.DatalakeBuilder { scope = app, lake_name = "L", lake_domains = { "example" },
      standalone = { root .. "/standalone/a.lua" } }:build()
    assert.same({}, app.problems)
    assert.equal("a-dev", app.stacks[3].name)
  end)

  -- refusals
  it("refuses global assignments with the script's file and line", function()
    local root, _, dl = app_with({ ["x.lua"] = "local app = ...\nlocal y = 1\nx = y\n" })
    assert.same({ nil, "standalone/x.lua:3: assignment to undeclared global 'x'" },
      { lake.standalone(root .. "/standalone/x.lua", dl) })
  end)

  it("refuses reading undeclared globals, so io and os are out of reach", function()
    local root, _, dl = app_with({ ["io.lua"] = "local f = io.open('/etc/passwd')\n",
      ["os.lua"] = "\nreturn os.getenv('HOME')\n" })
    assert.same({ nil, "standalone/io.lua:1: undeclared global 'io'" },
      { lake.standalone(root .. "/standalone/io.lua", dl) })
    assert.same({ nil, "standalone/os.lua:2: undeclared global 'os'" },
      { lake.standalone(root .. "/standalone/os.lua", dl) })
  end)

  it("limits require to the lake DSL", function()
    local root, _, dl = app_with({ ["r.lua"] = "local ok = require('lake.names')\nlocal x = require('host.fs')\n" })
    assert.same({ nil, "standalone/r.lua:2: require 'host.fs' is not allowed in a standalone " ..
      "script: only 'lake' and 'lake.*'" },
      { lake.standalone(root .. "/standalone/r.lua", dl) })
  end)

  it("reports syntax errors, DSL misuse and missing files with the file", function()
    local root, _, dl = app_with({ ["syntax.lua"] = "local x = \n",
      ["dsl.lua"] = "local app = ...\n\napp:stack('bad name')\n" })
    local ok, err = lake.standalone(root .. "/standalone/syntax.lua", dl)
    assert.is_nil(ok)
    assert.equal("standalone/syntax.lua:2: unexpected symbol near <eof>", err)
    assert.same({ nil, "standalone/dsl.lua:3: invalid stack name 'bad name': letters, digits and " ..
      "'-', starting with a letter, at most 128" },
      { lake.standalone(root .. "/standalone/dsl.lua", dl) })
    ok, err = lake.standalone(root .. "/standalone/none.lua", dl)
    assert.is_nil(ok)
    assert.matches("^standalone/none%.lua: cannot read standalone script: ", err)
  end)

  it("collects script failures as problems of the app", function()
    local root = assert(fs.tmpdir("lakehost-standalone-"))
    roots[#roots + 1] = root
    assert(fs.mkdir_p(root .. "/standalone"))
    assert(fs.write(root .. "/standalone/g.lua", "\n\nglobal_thing = 1\n"))
    local app = lake.App { root = root }
    lake.DatalakeBuilder { scope = app, lake_name = "L", lake_domains = { "example" },
      standalone = { root .. "/standalone/g.lua", root .. "/standalone/missing.lua" } }:build()
    assert.equal(2, #app.problems)
    assert.equal("standalone/g.lua:3: assignment to undeclared global 'global_thing'", app.problems[1])
    assert.matches("^standalone/missing%.lua: cannot read standalone script: ", app.problems[2])
  end)

  it("refuses to run without the built lake", function()
    assert.has_error(function() lake.standalone("x.lua", {}) end,
      "lake.standalone: expected the built lake (DatalakeBuilder{...}:build()) as the second argument")
  end)
end)

describe("the standalone scripts a lake runs #unit", function()
  -- two scripts written in the opposite of name order, a text file and a
  -- folder named helpers.lua (whose init.lua raises if it ever runs)
  local FIXTURE = "spec/fixtures/apps/standalone"

  local function stacks(opts)
    local app = lake.App { root = FIXTURE }
    local o = { scope = app, lake_name = "Fixture Lake", lake_domains = { "example" } }
    for k, v in pairs(opts or {}) do o[k] = v end
    local dl = lake.DatalakeBuilder(o):build()
    assert.same({}, app.problems)
    local names = {}
    for _, s in ipairs(app.stacks) do names[#names + 1] = s.name end
    return names, dl
  end

  it("are every standalone/*.lua file of the app's folder, in name order, when app.lua names none", function()
    local names, dl = stacks()
    assert.same({ "lake-storage-stack-dev", "lake-shared-stack-dev", "lake-events-stack-dev", "lake-orders-stack-dev" },
      names)
    assert.is_false(dl.standalone_listed)
    assert.same({ FIXTURE .. "/standalone/a_events.lua", FIXTURE .. "/standalone/b_orders.lua" },
      require("lake.load").standalone_files(FIXTURE))
  end)

  it("are the listed ones only when app.lua lists them", function()
    local names, dl = stacks({ standalone = { FIXTURE .. "/standalone/b_orders.lua" } })
    assert.same({ "lake-storage-stack-dev", "lake-shared-stack-dev", "lake-orders-stack-dev" }, names)
    assert.is_true(dl.standalone_listed)
  end)

  it("are none with standalone = {}", function()
    assert.same({ "lake-storage-stack-dev", "lake-shared-stack-dev" }, stacks({ standalone = {} }))
  end)

  it("are none when the app's folder has no standalone/", function()
    local root = util.tmpdir("lakehost-standalone-")
    assert.same({}, require("lake.load").standalone_files(root))
    local app = lake.App { root = root }
    lake.DatalakeBuilder { scope = app, lake_name = "L", lake_domains = { "example" } }:build()
    fs.remove_tree(root)
    assert.same({}, app.problems)
    assert.equal(2, #app.stacks)
  end)

  it("are what the command line lists for the fixture's app.lua", function()
    local app = FIXTURE .. "/app.lua"
    local out, err, code = util.lakehost({ app, "list" })
    assert.equal(0, code, err)
    assert.matches("lake%-events%-stack%-dev\n", out)
    assert.matches("lake%-orders%-stack%-dev\n", out)
    out, err, code = util.lakehost({ app, "list" }, { env = { LAKEHOST_SPEC_STANDALONE = "b" } })
    assert.equal(0, code, err)
    assert.not_matches("events", out)
    assert.matches("lake%-orders%-stack%-dev\n", out)
    out, err, code = util.lakehost({ app, "list" }, { env = { LAKEHOST_SPEC_STANDALONE = "none" } })
    assert.equal(0, code, err)
    assert.equal("lake-storage-stack-dev\nlake-shared-stack-dev   after lake-storage-stack-dev\n", out)
  end)
end)

describe("app.lua and standalone/extra_policies.lua #unit", function()
  it("lists the example's stacks in deploy order", function()
    local out, err, code = util.lakehost({ "app.lua", "list" }, { env = { ENVIRONMENT_STAGE = "dev" } })
    assert.equal("", err)
    assert.equal(0, code)
    local names = {}
    for line in out:gmatch("[^\n]+") do names[#names + 1] = line:match("^(%S+)") end
    assert.equal("lake-storage-stack-dev", names[1])
    assert.equal("lake-shared-stack-dev", names[2])
    local found = false
    for _, n in ipairs(names) do found = found or n == "lake-extra-policies-stack-dev" end
    assert.is_true(found)
    assert.matches("lake%-extra%-policies%-stack%-dev%s+after lake%-shared%-stack%-dev", out)
  end)

  it("takes the stage, region and account from the environment", function()
    local out, _, code = util.lakehost({ "app.lua", "list" },
      { env = { ENVIRONMENT_STAGE = "prd", AWS_DEFAULT_REGION = "eu-west-1", AWS_ACCOUNT_ID = "123456789012" } })
    assert.equal(0, code)
    assert.matches("^lake%-storage%-stack%-prd\n", out)
  end)

  it("reports a bad stage as a problem of app.lua and writes nothing", function()
    local _, err, code = util.lakehost({ "app.lua", "validate" }, { env = { ENVIRONMENT_STAGE = "prod" } })
    assert.equal(2, code)
    assert.matches("^app%.lua:%d+: env: expected one of dev, stg, prd, test, got 'prod' %(did you " ..
      "mean 'prd'%?%)\n", err)
  end)

  it("lets another account put events on the default bus", function()
    local app = lake.App { root = "." }
    local dl = lake.DatalakeBuilder { scope = app, lake_name = "Example Lake", lake_domains = { "example" },
      standalone = {} }:build()
    assert.is_true(lake.standalone("standalone/extra_policies.lua", dl))
    local stack = app:get_stack("lake-extra-policies-stack-dev")
    assert.same({ "lake-shared-stack-dev" }, stack.deps)
    local tpl = assembly.template(stack, {})
    local p = tpl.Resources.PutEventsFromAccount111111111111
    assert.equal("AWS::Events::EventBusPolicy", p.Type)
    assert.equal("default", p.Properties.EventBusName)
    assert.same({ ["Fn::Sub"] = "arn:${AWS::Partition}:iam::111111111111:root" }, p.Properties.Statement.Principal.AWS)
    assert.equal("events:PutEvents", p.Properties.Statement.Action)
  end)
end)
