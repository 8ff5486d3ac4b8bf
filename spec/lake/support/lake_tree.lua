-- Test scaffolding for pipeline specs: writes a small app tree (pipelines/,
-- shared/) into a temporary folder and builds a real lake over it with
-- lake.DatalakeBuilder. Not a mock: the App, stacks and resources are the
-- product's own.
local fs = require("host.fs")
local lake = require("lake")

local M = {}

M.REQUIREMENTS = '{\n  "packages": [],\n  "extra_jars": [],\n  "shared_modules": []\n}\n'
M.MANIFEST = '{\n  "example": {"packages": [], "extra_jars": []}\n}\n'

--- Files of a module folder (src/index.py and requirements.json).
function M.module(files, dir, requirements)
  files[dir .. "/src/index.py"] = "def handler(event, context=None):\n    return event\n"
  files[dir .. "/requirements.json"] = requirements or M.REQUIREMENTS
  return files
end

--- Files of a pipeline folder: config.yml, trigger/, catch/ and steps/<m>/
-- for each module named.
-- @param name string folder under pipelines/
-- @param config string config.yml text
-- @param modules table module folder names
--- The app.lua of a small lake (domain example, stage dev) over the
-- pipelines/ of the tree it is written into.
-- @param opts table|nil { name = the lake's name (default "Toy Lake"),
--   options = more DatalakeBuilder options, as Lua text ("account_id = '1', ") }
function M.app_lua(opts)
  opts = opts or {}
  return ([[
local lake = require("lake")
local root = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$")
local app = lake.App { root = root }
lake.DatalakeBuilder { scope = app, lake_name = %q, env = "dev", lake_domains = { "example" },
  %spipelines_path = root .. "/pipelines" }:build()
return app
]]):format(opts.name or "Toy Lake", opts.options or "")
end

function M.pipeline(files, name, config, modules)
  local dir = "pipelines/" .. name
  files[dir .. "/config.yml"] = config
  M.module(files, dir .. "/trigger")
  M.module(files, dir .. "/catch")
  for _, m in ipairs(modules or {}) do M.module(files, dir .. "/steps/" .. m) end
  return files
end

--- A config.yml with one lambda step (module `a`) and the given triggers.
function M.config(name, triggers, extra)
  return ("name: %s\ndomain: example\nlayers: {origin: raw, target: trusted}\n%s%s"
    .. "steps:\n  A:\n    type: lambda\n    properties:\n      module: a\n"):format(name,
      triggers and ("triggers:\n" .. triggers) or "", extra or "")
end

--- Writes files (path -> text) under a fresh temporary folder.
-- @return the folder
function M.tree(files)
  local root = assert(fs.tmpdir("lakehost-spec-"))
  for path, text in pairs(files) do
    local full = root .. "/" .. path
    assert(fs.mkdir_p(fs.dirname(full)))
    assert(fs.write(full, text))
  end
  return root
end

--- Builds a lake over root (pipelines/ and shared/ under it).
-- @param root string
-- @param opts table|nil DatalakeBuilder options to override
-- @return app, lake
function M.build(root, opts)
  local app = lake.App { root = root }
  local o = { scope = app, lake_name = "Example Lake", env = "dev", lake_domains = { "example" },
    sns_subscriptions = { { protocol = "email", endpoint = "example@example.com" } },
    pipelines_path = root .. "/pipelines", tags = { example1 = "value1" } }
  for k, v in pairs(opts or {}) do o[k] = v end
  local dl = lake.DatalakeBuilder(o):build()
  return app, dl
end

function M.remove(root) fs.remove_tree(root) end

--- Assets as synth would have built them, with stable stand-in keys
-- ("<id>.zip"), so templates can be resolved without packaging.
M.ASSETS = setmetatable({}, { __index = function(_, id)
  return { key = (id:gsub("[^%w]+", "-")) .. ".zip" }
end })

return M
