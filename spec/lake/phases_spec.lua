-- The phases apart: the model (app, builder, pipelines, stacks, assets as
-- declarations) and the rendering of templates do no I/O. A fresh lakehost
-- loads the example lake's files (the load phase), then replaces every
-- function of host.fs, host.yaml and host.proc with one that raises, runs
-- app.lua with the loader answering from what it read, and renders the
-- templates in memory: they must be the bytes synth writes.
local fs = require("host.fs")
local json = require("host.json")
local util = require("spec.support.util")

describe("the model and the rendering #unit", function()
  local tmp
  setup(function() tmp = util.tmpdir("lakehost-phases-") end)
  teardown(function() fs.remove_tree(tmp) end)

  it("build and render the example lake with host.fs, host.yaml and host.proc raising", function()
    local env = { AWS_REGION = "", AWS_DEFAULT_REGION = "", AWS_ACCOUNT_ID = "", ENVIRONMENT_STAGE = "" }
    local _, err, code = util.lakehost({ "app.lua", "synth", "--out", tmp .. "/out", "--quiet" }, { env = env })
    assert.equal(0, code, err)
    local script = util.tmpfile(([=[
local out = %q
local json = require("host.json")
-- the load phase, for real
local load = require("lake.load")
local root = %q
local pipelines = load.pipelines(root, root .. "/pipelines")
local found = load.standalone_files(root)
assert(#found == 1 and found[1] == root .. "/standalone/extra_policies.lua", table.concat(found, " "))
local scripts = load.scripts(found, root)
local manifest = json.decode(assert(require("host.fs").read(out .. "/manifest.json")))
-- from here on, no file, no YAML, no process
local touched = {}
for _, name in ipairs({ "host.fs", "host.yaml", "host.proc" }) do
  for k, v in pairs(require(name)) do
    if type(v) == "function" then
      package.loaded[name][k] = function() touched[#touched + 1] = name .. "." .. k error(name .. "." .. k .. " called") end
    end
  end
end
assert(not pcall(require("host.fs").read, root .. "/app.lua"))
touched = {}
load.pipelines = function() return pipelines end
load.standalone_files = function() return found end
load.scripts = function() return scripts end
local app = dofile(root .. "/app.lua")
assert(#app.problems == 0, table.concat(app.problems, "\n"))
-- the assets as the synthesis above built them
local built = {}
for _, a in ipairs(manifest.assets) do
  for _, id in ipairs(a.ids) do built[id] = { key = a.key, sha256 = a.sha256, size = a.size } end
end
local res = assert(require("lake.assembly").render(app, built))
local texts = {}
for _, s in ipairs(res.stacks) do
  texts[s.name .. ".template.json"] = s.text
  for suffix, text in pairs(s.files) do texts[s.name .. suffix] = text end
end
texts["manifest.json"] = json.encode(res.manifest, { pretty = true, newline = true })
io.write(json.encode({ texts = texts, touched = touched }))
]=]):format(tmp .. "/out", util.cwd()), ".lua")
    local out
    out, err, code = util.lakehost({ script }, { env = env })
    os.remove(script)
    assert.equal(0, code, err)
    local got = json.decode(out)
    assert.same({}, got.touched)
    local n = 0
    for name, text in pairs(got.texts) do
      assert.equal(assert(fs.read(tmp .. "/out/" .. name)), text, name)
      n = n + 1
    end
    assert.equal(4 + 1 + 1, n) -- 4 templates, a diagram, the manifest
  end)
end)
