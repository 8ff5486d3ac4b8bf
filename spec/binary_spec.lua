-- The binary is the whole of lakehost: its Lua library and Dockerfiles are
-- built in, so a copy of it alone, anywhere, runs a lake; LAKEHOST_PATH's
-- folders still go ahead of the built-in modules.
local fs = require("host.fs")
local proc = require("host.proc")
local util = require("spec.support.util")

local BIN = util.bin:sub(1, 1) == "/" and util.bin or (util.cwd() .. "/" .. util.bin)
-- The same names for both runs, whatever the caller's environment says.
local ENV = { LAKEHOST_PATH = false, ENVIRONMENT_STAGE = "dev", AWS_REGION = "us-east-1",
  AWS_DEFAULT_REGION = false, AWS_ACCOUNT_ID = "123456789012" }

local function run(argv, cwd, env)
  local add = {}
  for k, v in pairs(ENV) do add[k] = v end
  for k, v in pairs(env or {}) do add[k] = v end
  return assert(proc.run { argv = argv, cwd = cwd, env_add = add, timeout = 120 })
end

-- path -> bytes of every file under dir
local function tree(dir)
  local files = {}
  for _, rel in ipairs(assert(fs.walk(dir))) do files[rel] = assert(fs.read(dir .. "/" .. rel)) end
  return files
end

describe("the lakehost binary #unit", function()
  local tmp
  before_each(function() tmp = util.tmpdir("lakehost-binary-") end)
  after_each(function() fs.remove_tree(tmp) end)

  it("alone in a folder synthesizes the example lake as the binary under test does", function()
    local bindir, appdir = tmp .. "/bin", tmp .. "/app"
    assert(fs.mkdir_p(bindir))
    assert(fs.mkdir_p(appdir))
    assert(fs.copy(BIN, bindir .. "/lakehost", { mode = "0755" }))
    -- the example project without lua/ (nor docker/)
    local cp = run({ "cp", "-R", "app.lua", "pipelines", "shared", "standalone", appdir }, util.cwd())
    assert.equal(0, cp.code, cp.stderr)
    assert.is_false(fs.exists(appdir .. "/lua"))

    local copied = run({ bindir .. "/lakehost", "app.lua", "synth", "--out", tmp .. "/out" }, appdir,
      { LAKEHOST_CACHE_DIR = tmp .. "/cache1" })
    assert.equal(0, copied.code, copied.stderr)
    local here = run({ BIN, "app.lua", "synth", "--out", tmp .. "/ref" }, util.cwd(),
      { LAKEHOST_CACHE_DIR = tmp .. "/cache2" })
    assert.equal(0, here.code, here.stderr)

    local got, want = tree(tmp .. "/out"), tree(tmp .. "/ref")
    local templates = 0
    for rel in pairs(want) do
      if rel:match("%.template%.json$") then templates = templates + 1 end
    end
    assert.is_true(templates >= 4, "templates written: " .. templates)
    assert.same(want, got)
  end)

  it("loads a module from LAKEHOST_PATH ahead of the built-in one", function()
    assert(fs.mkdir_p(tmp .. "/lib/lake"))
    assert(fs.mkdir_p(tmp .. "/lib/resources"))
    -- lake.util as a user might change it: the CLI itself needs the rest of it
    local text, n = assert(fs.read("lua/lake/util.lua")):gsub("\nreturn M%s*$", "\nM.shadow = 'util'\nM.args = { ... }\nreturn M\n")
    assert.equal(1, n)
    assert(fs.write(tmp .. "/lib/lake/util.lua", text))
    assert(fs.write(tmp .. "/lib/resources/my_kind.lua", "return { type = 'My::Kind' }\n"))
    local code = "local u = require('lake.util') "
      .. "io.write(u.shadow, ' ', u.args[1], ' ', u.args[2], ' ', require('resources.my_kind').type)"
    local r = run({ BIN, "-e", code }, "/", { LAKEHOST_PATH = "/nonexistent::" .. tmp .. "/lib" })
    assert.equal(0, r.code, r.stderr)
    assert.equal(("util lake.util %s/lib/lake/util.lua My::Kind"):format(tmp), r.stdout)
    -- the folder without it: the built-in module again
    assert(fs.remove(tmp .. "/lib/lake/util.lua"))
    code = "local u = require('lake.util') "
      .. "io.write(tostring(u.shadow), ' ', debug.getinfo(u.sorted_keys, 'S').source)"
    r = run({ BIN, "-e", code }, "/", { LAKEHOST_PATH = tmp .. "/lib" })
    assert.equal(0, r.code, r.stderr)
    assert.equal("nil @lua/lake/util.lua", r.stdout)
  end)

  it("reports a syntax error in a LAKEHOST_PATH module with its file and line", function()
    assert(fs.mkdir_p(tmp .. "/lib/lake"))
    assert(fs.write(tmp .. "/lib/lake/util.lua", "local x =\n\n)\n"))
    local r = run({ BIN, "-e", "require('lake.util')" }, "/", { LAKEHOST_PATH = tmp .. "/lib" })
    assert.equal(2, r.code)
    assert.matches(("error loading module 'lake.util' from file '%s/lib/lake/util.lua':"):format(tmp), r.stderr, 1, true)
    assert.matches(("%s/lib/lake/util.lua:3:"):format(tmp), r.stderr, 1, true)
  end)

  it("names the source file and line of an error raised in a built-in module", function()
    local r = run({ BIN, "-e", "require('lake.util').sorted_keys(nil)" }, "/")
    assert.equal(2, r.code)
    assert.matches("^lakehost: lua/lake/util%.lua:%d+: ", r.stderr)
    r = run({ BIN, "-e", "require('lake.util').sorted_keys(nil)" }, "/", { LAKEHOST_DEBUG = "1" })
    assert.matches("\n%s*lua/lake/util%.lua:%d+: in function 'lake%.util%.sorted_keys'", r.stderr)
  end)
end)
