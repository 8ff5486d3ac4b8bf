-- `lakehost APP.lua new pipeline|stack NAME`: what it writes validates at
-- once (and a new stack is listed); every refusal exits 2 and writes nothing.
local fs = require("host.fs")
local lutil = require("lake.util")
local util = require("spec.support.util")
local yaml = require("host.yaml")

-- Every file and folder under dir, relative to it.
local function tree(dir) return fs.walk(dir, { dirs = true }) or {} end

local ENV = { AWS_REGION = "", AWS_DEFAULT_REGION = "", AWS_ACCOUNT_ID = "", ENVIRONMENT_STAGE = "" }

describe("lakehost APP.lua new #unit", function()
  local dirs = {}
  -- A fresh project of lakehost init.
  local function project(name)
    local parent = util.tmpdir("lakehost-new-")
    dirs[#dirs + 1] = parent
    local dir = parent .. "/" .. (name or "lake")
    local _, err, code = util.lakehost({ "init", dir })
    assert(code == 0, err)
    return dir
  end
  local function lakehost(dir, args)
    local argv = { "app.lua" }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    local env = { LAKEHOST_CACHE_DIR = dir .. "/.lake-cache" }
    for k, v in pairs(ENV) do env[k] = v end
    return util.lakehost(argv, { cwd = dir, env = env })
  end
  local function stacks(dir)
    local out, err, code = lakehost(dir, { "list" })
    assert(code == 0, err)
    local names = {}
    for name in out:gmatch("(%S+)[^\n]*\n") do names[#names + 1] = name end
    return names
  end
  teardown(function()
    for _, d in ipairs(dirs) do fs.remove_tree(d) end
  end)

  -- acceptance
  it("new pipeline writes a pipeline folder that validates at once", function()
    local dir = project()
    local out, err, code = lakehost(dir, { "new", "pipeline", "orders", "--domain", "example" })
    assert.equal(0, code, err)
    assert.equal("", out)
    assert.matches("^new pipeline: wrote 7 files:\n  pipelines/orders/config.yml\n", err)
    assert.matches("next: lakehost app.lua validate\n$", err)
    local files = {}
    for _, p in ipairs(tree(dir .. "/pipelines/orders")) do
      if fs.isfile(dir .. "/pipelines/orders/" .. p) then files[#files + 1] = p end
    end
    assert.same({ "catch/requirements.json", "catch/src/index.py", "config.yml", "steps/copy_object/requirements.json",
      "steps/copy_object/src/index.py", "trigger/requirements.json", "trigger/src/index.py" }, files)
    local cfg = yaml.load(assert(fs.read(dir .. "/pipelines/orders/config.yml")), "config.yml")
    assert.equal("orders", cfg.name)
    assert.equal("example", cfg.domain)
    assert.same({ origin = "raw", target = "trusted" }, cfg.layers)
    out, err, code = lakehost(dir, { "validate" })
    assert.equal(0, code, err)
    assert.equal("", out)
    assert.equal("ok: 5 stacks, 3 assets\n", err)
    assert.is_true(lutil.contains(stacks(dir), "lake-orders-stack-dev"))
  end)

  it("new pipeline takes the layers from --from and --to", function()
    local dir = project()
    local _, err, code = lakehost(dir, { "new", "pipeline", "serve-orders", "--domain", "example", "--from",
      "trusted", "--to", "service" })
    assert.equal(0, code, err)
    local cfg = yaml.load(assert(fs.read(dir .. "/pipelines/serve-orders/config.yml")), "config.yml")
    assert.same({ origin = "trusted", target = "service" }, cfg.layers)
    _, err, code = lakehost(dir, { "validate" })
    assert.equal(0, code, err)
  end)

  it("new pipeline writes shared/ too when the project has no shared/manifest.json", function()
    local dir = project()
    fs.remove_tree(dir .. "/shared")
    local _, err, code = lakehost(dir, { "new", "pipeline", "orders", "--domain", "example" })
    assert.equal(0, code, err)
    assert.matches("\n  shared/manifest.json\n  shared/example/__init__.py\n  shared/example/naming.py\n", err, 1, true)
    _, err, code = lakehost(dir, { "validate" })
    assert.equal(0, code, err)
  end)

  it("new pipeline writes into the example lake's pipelines folder, whose shared/ has the module", function()
    local dir = util.tmpdir("lakehost-new-example-")
    dirs[#dirs + 1] = dir
    assert(os.execute(("cp -R app.lua pipelines shared standalone %s/"):format(util.shquote(dir))))
    local _, err, code = lakehost(dir, { "new", "pipeline", "sales_feed", "--domain", "example" })
    assert.equal(0, code, err)
    assert.is_true(fs.isfile(dir .. "/pipelines/sales_feed/config.yml"))
    _, err, code = lakehost(dir, { "validate" })
    assert.equal(0, code, err)
  end)

  it("new stack writes standalone/NAME.lua, which validates and is listed", function()
    local dir = project()
    local out, err, code = lakehost(dir, { "new", "stack", "my_queue" })
    assert.equal(0, code, err)
    assert.equal("", out)
    assert.equal("new stack: wrote 1 file:\n  standalone/my_queue.lua\nnext: lakehost app.lua validate\n", err)
    local text = assert(fs.read(dir .. "/standalone/my_queue.lua"))
    assert.matches("^%-%-%- my_queue: a stack of your own", text)
    assert.matches("local app, datalake = ...", text, 1, true)
    out, err, code = lakehost(dir, { "validate" })
    assert.equal(0, code, err)
    assert.equal("", out)
    assert.equal("ok: 5 stacks, 3 assets\n", err)
    assert.same({ "lake-storage-stack-dev", "lake-my-queue-stack-dev", "lake-parameters-stack-dev",
      "lake-shared-stack-dev", "lake-example-pipeline-stack-dev" }, stacks(dir))
  end)

  it("new stack says so when app.lua lists its standalone scripts itself", function()
    local dir = project()
    local app = assert(fs.read(dir .. "/app.lua"))
    app = app:gsub('pipelines_path = root %.%. "/pipelines",',
      '%0\n  standalone = { root .. "/standalone/parameters.lua" },')
    assert(fs.write(dir .. "/app.lua", app))
    local _, err, code = lakehost(dir, { "new", "stack", "extra" })
    assert.equal(0, code, err)
    assert.matches("note: app.lua lists its standalone scripts (the builder's standalone option): add "
      .. "standalone/extra.lua there\n", err, 1, true)
    assert.is_false(lutil.contains(stacks(dir), "lake-extra-stack-dev"))
  end)

  -- refusals: exit 2, a message, and the project as it was
  it("refuses bad names, domains and layers, existing pipelines, folders and stacks, and writes nothing", function()
    local dir = project()
    assert(fs.mkdir_p(dir .. "/pipelines/empty"))
    local cases = {
      { { "new", "pipeline", "Orders", "--domain", "example" },
        "lakehost: new pipeline: NAME: 'Orders' is not a pipeline name: lowercase letters, digits, '_' and '-', "
        .. "starting with a letter\n" },
      { { "new", "pipeline", "9lives", "--domain", "example" },
        "lakehost: new pipeline: NAME: '9lives' is not a pipeline name: lowercase letters, digits, '_' and '-', "
        .. "starting with a letter\n" },
      { { "new", "pipeline", "orders" },
        "lakehost: new pipeline: --domain is required: one of the lake's domains (example)\n" },
      { { "new", "pipeline", "orders", "--domain", "exmaple" },
        "lakehost: new pipeline: --domain: 'exmaple' is not a domain of the lake (domains: example) "
        .. "(did you mean 'example'?)\n" },
      { { "new", "pipeline", "orders", "--domain", "example", "--from", "bronze" },
        "lakehost: new pipeline: --from: expected one of raw, trusted, service, got 'bronze'\n" },
      { { "new", "pipeline", "orders", "--domain", "example", "--to", "raw" },
        "lakehost: new pipeline: --to: must differ from --from (both are 'raw'): a pipeline moves data between "
        .. "two layers\n" },
      { { "new", "pipeline", "Orders", "--domain", "sales", "--to", "gold" },
        "new pipeline: NAME: 'Orders' is not a pipeline name: lowercase letters, digits, '_' and '-', "
        .. "starting with a letter\n"
        .. "new pipeline: --domain: 'sales' is not a domain of the lake (domains: example)\n"
        .. "new pipeline: --to: expected one of raw, trusted, service, got 'gold'\n"
        .. "lakehost: new pipeline: 3 problems; nothing was written\n" },
      { { "new", "pipeline", "example_pipeline", "--domain", "example" },
        "lakehost: new pipeline: NAME: pipeline 'example_pipeline' is already defined by "
        .. "pipelines/example_pipeline/config.yml\n" },
      { { "new", "pipeline", "empty", "--domain", "example" },
        "lakehost: new pipeline: pipelines/empty exists already; nothing was written\n" },
      { { "new", "pipeline", ("a"):rep(50), "--domain", "example" }, nil },
      { { "new", "pipeline", "orders", "--domain", "example", "--frm", "raw" },
        "lakehost: new: unknown option '--frm' (did you mean '--from'?) (see lakehost APP.lua new --help)\n" },
      { { "new", "stack", "Queue" },
        "lakehost: new stack: NAME: 'Queue' is not a stack name: lowercase letters, digits, '_' and '-', starting "
        .. "with a letter (it names standalone/NAME.lua and the stack lake-NAME-stack-<stage>)\n" },
      { { "new", "stack", "parameters" },
        "lakehost: new stack: NAME: the lake has a stack 'lake-parameters-stack-dev' already\n" },
      { { "new", "stack", "storage" },
        "lakehost: new stack: NAME: the lake has a stack 'lake-storage-stack-dev' already\n" },
      { { "new", "stack", "example_pipeline" },
        "lakehost: new stack: NAME: the lake has a stack 'lake-example-pipeline-stack-dev' already\n" },
      { { "new", "stack", "q", "--domain", "example" },
        "lakehost: new stack: --domain is an option of new pipeline, not of new stack\n" },
      { { "new", "stak", "q" },
        "lakehost: new: 'stak': expected 'pipeline' or 'stack' (did you mean 'stack'?) (see lakehost APP.lua new --help)\n" },
      { { "new" }, "lakehost: new: expected 'pipeline' or 'stack' (see lakehost APP.lua new --help)\n" },
      { { "new", "stack" }, "lakehost: new stack: NAME is missing (see lakehost APP.lua new --help)\n" },
      { { "new", "stack", "a", "b" }, "lakehost: new stack: unexpected argument 'b'\n" },
    }
    local before = tree(dir)
    for _, c in ipairs(cases) do
      local out, err, code = lakehost(dir, c[1])
      local what = table.concat(c[1], " ")
      assert.equal(2, code, what .. ": " .. err)
      assert.equal("", out, what)
      if c[2] then
        assert.equal(c[2], err, what)
      else -- a name too long for its resources' names
        assert.matches("\nnew pipeline: NAME: makes the IAM role name '"
          .. ("a"):rep(50) .. "%-trigger%-[%l%d-]+%-dev' %(%d+ characters with the longest region and account%), "
          .. "longer than the 64 allowed: shorten it\n", "\n" .. err)
      end
      assert.same(before, tree(dir), what)
    end
  end)

  it("refuses a stack file that exists, and a project whose shared/manifest.json lacks the trigger's module", function()
    local dir = project()
    assert(fs.write(dir .. "/shared/manifest.json", '{"mine": {"packages": [], "extra_jars": []}}'))
    assert(fs.mkdir_p(dir .. "/shared/mine"))
    -- a script the lake does not run (the app lists none of it) still blocks its name
    assert(fs.mkdir_p(dir .. "/standalone/old.lua"))
    local before = tree(dir)
    local _, err, code = lakehost(dir, { "new", "stack", "old" })
    assert.equal(2, code, err)
    assert.equal("standalone/old.lua: exists\nlakehost: new stack: 1 of the files to write exists already; "
      .. "nothing was written\n", err)
    _, err, code = lakehost(dir, { "new", "pipeline", "orders", "--domain", "example" })
    assert.equal(2, code, err)
    assert.equal("lakehost: new pipeline: the trigger it writes imports the shared module 'example', which "
      .. "shared/manifest.json does not declare: add \"example\": {\"packages\": [], \"extra_jars\": []} to it, "
      .. "and shared/example/ from a project of `lakehost init`\n", err)
    assert.same(before, tree(dir))
  end)

  it("refuses an app that builds no lake", function()
    local _, err, code = util.lakehost({ "spec/fixtures/apps/small/app.lua", "new", "stack", "x" })
    assert.equal(2, code)
    assert.equal("lakehost: new stack: the app builds no lake (lake.DatalakeBuilder{...}:build() in app.lua)\n", err)
  end)

  it("says what it does with --help", function()
    local out, err, code = util.lakehost({ "app.lua", "new", "--help" })
    assert.equal(0, code, err)
    assert.matches("^usage: lakehost APP.lua new pipeline NAME %-%-domain D %[%-%-from LAYER%] %[%-%-to LAYER%]\n"
      .. "       lakehost APP.lua new stack NAME\n", out)
    for _, opt in ipairs({ "--domain D", "--from LAYER", "--to LAYER" }) do assert.matches(opt, out, 1, true) end
  end)
end)
