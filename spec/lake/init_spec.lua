-- `lakehost init [DIR]`: a new project that validates, synthesizes (cfn-lint
-- clean) and deploys as written; and the refusals, which write nothing.
local fs = require("host.fs")
local json = require("host.json")
local util = require("spec.support.util")

-- Every file and folder under dir, relative to it.
local function tree(dir) return fs.walk(dir, { dirs = true }) or {} end

local PROJECT = { ".gitignore", "README.md", "app.lua", "pipelines", "pipelines/example_pipeline",
  "pipelines/example_pipeline/catch", "pipelines/example_pipeline/catch/requirements.json",
  "pipelines/example_pipeline/catch/src", "pipelines/example_pipeline/catch/src/index.py",
  "pipelines/example_pipeline/config.yml", "pipelines/example_pipeline/steps",
  "pipelines/example_pipeline/steps/copy_object", "pipelines/example_pipeline/steps/copy_object/requirements.json",
  "pipelines/example_pipeline/steps/copy_object/src", "pipelines/example_pipeline/steps/copy_object/src/index.py",
  "pipelines/example_pipeline/trigger", "pipelines/example_pipeline/trigger/requirements.json",
  "pipelines/example_pipeline/trigger/src", "pipelines/example_pipeline/trigger/src/index.py",
  "shared", "shared/example", "shared/example/__init__.py", "shared/example/naming.py", "shared/manifest.json",
  "standalone", "standalone/parameters.lua" }

local STACKS = { "lake-storage-stack-dev", "lake-parameters-stack-dev", "lake-shared-stack-dev",
  "lake-example-pipeline-stack-dev" }

-- What a spec's lakehost child gets: no region, account or stage of the machine's.
local function clean_env(extra)
  local env = { AWS_REGION = "", AWS_DEFAULT_REGION = "", AWS_ACCOUNT_ID = "", ENVIRONMENT_STAGE = "" }
  for k, v in pairs(extra or {}) do env[k] = v end
  return env
end

describe("lakehost init #unit", function()
  local dirs = {}
  local function tmp()
    dirs[#dirs + 1] = util.tmpdir("lakehost-init-")
    return dirs[#dirs]
  end
  teardown(function()
    for _, d in ipairs(dirs) do fs.remove_tree(d) end
  end)

  -- acceptance
  it("writes a project into a new folder, named after it, that validates and synthesizes cfn-lint clean", function()
    local dir = tmp() .. "/Sales Lake"
    local out, err, code = util.lakehost({ "init", dir })
    assert.equal(0, code, err)
    assert.equal("", out)
    assert.matches("init: wrote the lake 'Sales Lake', 14 files, in " .. dir:gsub("%p", "%%%0"), err)
    assert.matches("\n  standalone/parameters.lua\n", err, 1, true)
    assert.same(PROJECT, tree(dir))
    assert.matches('lake_name = "Sales Lake",', fs.read(dir .. "/app.lua"), 1, true)

    local env = clean_env { LAKEHOST_CACHE_DIR = dir .. "/.lake-cache" }
    out, err, code = util.lakehost({ "app.lua", "validate" }, { cwd = dir, env = env })
    assert.equal(0, code, err)
    assert.equal("", out)
    assert.equal("ok: 4 stacks, 3 assets\n", err)
    out, err, code = util.lakehost({ "app.lua", "list" }, { cwd = dir, env = env })
    assert.equal(0, code, err)
    local listed = {}
    for name in out:gmatch("(%S+)[^\n]*\n") do listed[#listed + 1] = name end
    assert.same(STACKS, listed)

    out, err, code = util.lakehost({ "app.lua", "synth", "--quiet" }, { cwd = dir, env = env })
    assert.equal(0, code, err)
    assert.equal("", out)
    local files = {}
    for _, s in ipairs(STACKS) do
      files[#files + 1] = util.shquote(dir .. "/lake.out/" .. s .. ".template.json")
      assert.is_true(fs.isfile(dir .. "/lake.out/" .. s .. ".template.json"), s)
    end
    if os.execute("command -v cfn-lint >/dev/null 2>&1") ~= true then
      error("cfn-lint is not installed (pip install cfn-lint)")
    end
    local p = assert(io.popen("cfn-lint --format parseable -- " .. table.concat(files, " ") .. " 2>&1"))
    local findings = p:read("a")
    local _, _, status = p:close()
    assert.equal("", findings)
    assert.equal(0, status)
    local tpl = json.decode(assert(fs.read(dir .. "/lake.out/lake-shared-stack-dev.template.json")))
    assert.equal("sales-lake-errors-dev", tpl.Resources.ErrorTopic.Properties.TopicName)
  end)

  it("writes into the current folder without DIR", function()
    local dir = tmp() .. "/ops"
    assert(fs.mkdir_p(dir))
    local _, err, code = util.lakehost({ "init" }, { cwd = dir })
    assert.equal(0, code, err)
    assert.matches("next: lakehost app.lua validate", err, 1, true)
    assert.same(PROJECT, tree(dir))
    assert.matches('lake_name = "ops",', fs.read(dir .. "/app.lua"), 1, true)
  end)

  it("takes the lake's name from --name", function()
    local dir = tmp()
    local _, err, code = util.lakehost({ "init", dir, "--name", "Orders Lake" })
    assert.equal(0, code, err)
    assert.matches('lake_name = "Orders Lake",', fs.read(dir .. "/app.lua"), 1, true)
    assert.matches("^# Orders Lake\n", fs.read(dir .. "/README.md"))
  end)

  -- refusals
  it("writes nothing when one of its files exists, names them and exits 2", function()
    local dir = tmp()
    assert(fs.write(dir .. "/README.md", "mine\n"))
    assert(fs.mkdir_p(dir .. "/standalone"))
    assert(fs.write(dir .. "/standalone/parameters.lua", "-- mine\n"))
    local out, err, code = util.lakehost({ "init", dir })
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal(dir .. "/README.md: exists\n" .. dir .. "/standalone/parameters.lua: exists\n"
      .. "lakehost: init: 2 of the files to write exist already; nothing was written\n", err)
    assert.same({ "README.md", "standalone", "standalone/parameters.lua" }, tree(dir))
    assert.equal("mine\n", fs.read(dir .. "/README.md"))
  end)

  it("refuses DIR when it is a file", function()
    local file = tmp() .. "/f"
    assert(fs.write(file, "x"))
    local _, err, code = util.lakehost({ "init", file })
    assert.equal(2, code)
    assert.matches(file:gsub("%p", "%%%0") .. ": exists and is not a folder\n", err)
    assert.equal("x", fs.read(file))
  end)

  it("refuses a name without a letter or digit, unknown options and a second folder, writing nothing", function()
    local parent = tmp()
    local cases = {
      { { "init", parent .. "/p", "--name", "--" }, "lakehost: init: --name: '--' has no letter or digit to name the lake with\n" },
      { { "init", parent .. "/___" }, "lakehost: init: the folder's name (give another with --name): '___' has no letter "
        .. "or digit to name the lake with\n" },
      { { "init", parent .. "/p", "--nmae", "x" }, "lakehost: init: unknown option '--nmae' (did you mean '--name'?) "
        .. "(see lakehost init --help)\n" },
      { { "init", parent .. "/p", "--domain", "x" }, "lakehost: init: unknown option '--domain' (see lakehost init --help)\n" },
      { { "init", parent .. "/p", parent .. "/q" }, ("lakehost: init: unexpected argument '%s/q' (one folder at most)\n")
        :format(parent) },
      { { "init", parent .. "/p", "--name" }, "lakehost: init: --name needs a value (NAME)\n" },
    }
    for _, c in ipairs(cases) do
      local out, err, code = util.lakehost(c[1])
      assert.equal(2, code, table.concat(c[1], " "))
      assert.equal("", out)
      assert.equal(c[2], err)
    end
    assert.same({}, tree(parent))
  end)

  it("says what it does with --help, and lakehost --help lists init and new", function()
    local out, err, code = util.lakehost({ "init", "--help" })
    assert.equal(0, code, err)
    assert.matches("^usage: lakehost init %[DIR%] %[%-%-name NAME%]\n", out)
    assert.matches("--name NAME", out, 1, true)
    out = util.lakehost({ "--help" })
    assert.matches("\n       lakehost init [DIR] [OPTIONS]\n", out, 1, true)
    assert.matches("\n  init [DIR] [--name NAME]  write a new lake project into DIR", out, 1, true)
    assert.matches("\n  new pipeline|stack NAME   write a new pipeline or standalone stack", out, 1, true)
  end)
end)

-- ---- deployed, against moto -------------------------------------------------------------

local moto = require("spec.support.moto")

describe("a project of lakehost init, deployed to moto #integration", function()
  local server, dir, c
  local cfn = require("lake.aws.cloudformation")
  local rpc = require("lake.aws.jsonrpc")
  local s3 = require("lake.aws.s3")
  local RAW = "example-raw-us-east-1-123456789012-dev"
  local TRUSTED = "example-trusted-us-east-1-123456789012-dev"

  local function lakehost(args)
    local env = clean_env { LAKEHOST_CACHE_DIR = dir .. "/.lake-cache" }
    for k, v in pairs(server.env) do env[k] = v end
    local argv = { "app.lua" }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return util.lakehost(argv, { env = env, cwd = dir })
  end

  setup(function()
    server = moto.start()
    c = server.client()
    dir = util.tmpdir("lakehost-init-deploy-") .. "/lake"
    local _, err, code = util.lakehost({ "init", dir, "--name", "Sales Lake" })
    assert(code == 0, err)
    _, err, code = lakehost({ "bootstrap" })
    assert(code == 0, err)
  end)

  teardown(function()
    if server then server.stop() end
    if dir then fs.remove_tree(fs.dirname(dir)) end
  end)

  it("deploys its four stacks, each CREATE_COMPLETE", function()
    local _, err, code = lakehost({ "deploy", "--require-approval", "never" }) -- new roles: approved up front
    assert.equal(0, code, err)
    for _, name in ipairs(STACKS) do
      local d = assert(cfn.describe_stack(c, name))
      assert.equal("CREATE_COMPLETE", d.StackStatus, name)
    end
  end)

  it("made the parameter of its standalone stack: the raw bucket's name", function()
    local r = assert(rpc.call(c, "ssm", "GetParameter", { Name = "/sales-lake-dev/parameters/raw-bucket" }))
    assert.equal(RAW, r.Parameter.Value)
    assert.is_table(s3.list_objects(c, RAW))
  end)

  it("made the pipeline's functions and state machine", function()
    local res = assert(cfn.stack_resources(c, "lake-example-pipeline-stack-dev"))
    local fns = {}
    for _, r in ipairs(res) do
      if r.type == "AWS::Lambda::Function" then
        assert.equal("CREATE_COMPLETE", r.status)
        fns[#fns + 1] = r.physical_id
      end
    end
    table.sort(fns)
    assert.same({ "example-pipeline-catch-dev", "example-pipeline-copy-object-dev", "example-pipeline-trigger-dev" }, fns)
    local sm = assert(rpc.call(c, "states", "ListStateMachines", {}))
    assert.equal("example-pipeline-state-machine-dev", sm.stateMachines[1].name)
  end)

  it("runs its pipeline here: an object put under example_pipeline/ in raw is copied to trusted", function()
    local key = "example_pipeline/orders.json"
    local put = assert(s3.put_object(c, RAW, key, { body = '{"id": 1}' }))
    local event = { version = "0", id = "id-1", ["detail-type"] = "Object Created", source = "aws.s3",
      account = "123456789012", region = "us-east-1", time = "2024-05-01T10:00:00Z",
      resources = { "arn:aws:s3:::" .. RAW },
      detail = { bucket = { name = RAW }, object = { key = key, size = 9, etag = put.etag }, reason = "PutObject" } }
    assert(fs.write(dir .. "/event.json", json.encode(event)))
    local out, err, code = lakehost({ "run", "example_pipeline", "--event", dir .. "/event.json", "--endpoint", server.url })
    assert.equal(0, code, err)
    assert.matches("\n  CopyObject +%d+%.%d%d s  succeeded\n", err)
    assert.equal("s3://" .. TRUSTED .. "/" .. key, json.decode(out).copied_to)
    assert.equal('{"id": 1}', s3.get_object(c, TRUSTED, key))
  end)
end)
