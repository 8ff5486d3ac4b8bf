-- Times asset packaging cold (empty build cache) and warm (same cache):
--   1. `lakehost app.lua synth` of the example lake, as a user runs it;
--   2. the example lake's asset builds alone (in this process);
--   3. a module with one package installed by the local builder (real pip,
--      a wheel made here, --no-index), where the cache saves the most.
-- `./lakehost bench/assets_bench.lua` from the repository root.
package.path = "./?.lua;" .. package.path
local assets = require("lake.assets")
local build = require("lake.assets.build")
local builders = require("lake.assets.installers")
local fs = require("host.fs")
local lapp = require("lake.app")
local load = require("lake.load")
local proc = require("host.proc")

local function now() return proc.monotime() end

local function exe()
  local p = arg and arg[-1]
  if p and p:find("/", 1, true) then return fs.realpath(p) or p end
  return fs.realpath("./lakehost") or "./lakehost"
end

local tmp = assert(fs.tmpdir("assets-bench-"))
local ok, err = pcall(function()
  -- 1. the CLI, cold then warm
  local cache = tmp .. "/cli-cache"
  local times = {}
  for i, what in ipairs({ "cold", "warm" }) do
    local t0 = now()
    local res = assert(proc.run({ argv = { exe(), "app.lua", "synth", "--quiet", "--out", tmp .. "/out" .. i },
      env_add = { LAKEHOST_CACHE_DIR = cache }, stderr = "stdout" }))
    assert(res.ok, res.stdout)
    times[what] = now() - t0
  end
  local n = #fs.list(tmp .. "/out1/assets")
  assert(table.concat(fs.list(tmp .. "/out1/assets"), ",") == table.concat(fs.list(tmp .. "/out2/assets"), ","),
    "warm synth gave other assets")
  print(("example lake, `lakehost app.lua synth` (%d assets): cold %.3f s, warm %.3f s (whole command)")
    :format(n, times.cold, times.warm))

  -- 2. the example's assets alone
  local app = dofile("app.lua")
  app.settings.cache_dir = tmp .. "/api-cache"
  local sorted = {}
  for _, a in ipairs(app.assets) do sorted[#sorted + 1] = a end
  table.sort(sorted, function(a, b) return a.id < b.id end)
  local function build_all(dir)
    assert(fs.mkdir_p(dir))
    local cached, t0 = 0, now()
    local ctx = build.context(app, assert(assets.settings(app)), dir)
    for _, a in ipairs(sorted) do
      local built, berr = a.build(ctx)
      assert(built, berr)
      if built.cached then cached = cached + 1 end
    end
    return now() - t0, cached
  end
  if os.getenv("LAKEHOST_CACHE_DIR") then print("(LAKEHOST_CACHE_DIR is set: part 2 uses it, not a fresh cache)") end
  local cold, c1 = build_all(tmp .. "/api1")
  local warm, c2 = build_all(tmp .. "/api2")
  local zips = 0
  for _, a in ipairs(sorted) do
    if a.kind == "lambda" or a.kind == "glue-deps" then zips = zips + 1 end
  end
  print(("example lake, asset builds only (%d assets, %d zips): cold %.4f s (%d cached), warm %.4f s (%d cached)")
    :format(#sorted, zips, cold, c1, warm, c2))

  -- 3. a module with a package
  local wheels = tmp .. "/wheels"
  assert(fs.mkdir_p(wheels))
  local mk = assert(proc.run({ argv = { "python3", "-c", [[
import sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(d + "/benchpkg-1.0-py3-none-any.whl", "w") as z:
    z.writestr("benchpkg/__init__.py", "X = 1\n")
    z.writestr("benchpkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: benchpkg\nVersion: 1.0\n")
    z.writestr("benchpkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr("benchpkg-1.0.dist-info/RECORD", "")
]], wheels }, stderr = "stdout" }))
  assert(mk.ok, mk.stdout)
  local mdir = tmp .. "/mod"
  assert(fs.mkdir_p(mdir .. "/src"))
  assert(fs.write(mdir .. "/src/index.py", "import benchpkg\n\ndef handler(e, c):\n    return benchpkg.X\n"))
  local papp = lapp.new({ root = tmp, settings = { builder = "local", cache_dir = tmp .. "/pkg-cache",
    pip = { no_index = true, find_links = { wheels } } } })
  local src = load.tree(mdir .. "/src")
  local mod = { dir = mdir, rel = "mod", packages = { "benchpkg==1.0" }, extra_jars = {}, shared = {},
    src_files = src.files, src_sums = src.sums, src_sizes = src.sizes }
  local t = {}
  for i = 1, 2 do
    local out = tmp .. "/pkg" .. i
    assert(fs.mkdir_p(out))
    local runs, t0 = builders.runs, now()
    local built, berr = assets.build_lambda(build.context(papp, assert(assets.settings(papp)), out), "mod", mod)
    assert(built, berr)
    t[i] = { wall = now() - t0, pip = builders.runs - runs, sha = built.sha256 }
  end
  assert(t[1].sha == t[2].sha)
  print(("module with one package (local pip): cold %.3f s (%d pip run), warm %.4f s (%d pip runs)")
    :format(t[1].wall, t[1].pip, t[2].wall, t[2].pip))
end)
fs.remove_tree(tmp)
if not ok then error(err, 0) end
