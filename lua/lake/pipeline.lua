--- Pipelines: every folder of pipelines/ holding a config.yml becomes one
-- stack (lake-<pipeline>-stack-<stage>) that deploys after the shared stack.
--
-- Loading reads the files through host.fs and host.yaml; every problem of
-- every pipeline is recorded with app:problem(file, line, key, msg) and a
-- pipeline with problems gets no stack (the commands then print them all
-- and exit 2).
local config = require("lake.pipeline.config")
local modules = require("lake.pipeline.modules")
local stack = require("lake.pipeline.stack")

local M = {}

-- A folder as the process reads it (the path as given: absolute, or
-- relative to the working directory, as app.lua builds it from its own
-- folder) and as the user types it in messages (relative to the app root
-- when it lies inside).
local function locate(root, path)
  local fs = require("host.fs")
  path = path:gsub("(.)/+$", "%1")
  local rroot, rpath = fs.realpath(root or "."), fs.realpath(path)
  if rroot and rpath then
    if rpath == rroot then return path, "." end
    if rpath:sub(1, #rroot + 1) == rroot .. "/" then return path, rpath:sub(#rroot + 2) end
  end
  return path, (path:gsub("^%./", ""))
end

local function join(a, b) return a == "" and b or (a .. "/" .. b) end

local function flush(app, ck)
  for _, p in ipairs(ck:sorted()) do app:problem(p.file, p.line, p.key, p.msg) end
end

--- Loads one pipeline folder: validates config.yml and the module folders,
-- and builds the stack when everything is right.
-- @param lake table the built lake
-- @param dir string the folder as the process reads it
-- @param rel string the folder as the user types it
-- @param shared table { manifest = from modules.load_manifest }
-- @return pipeline | nil (problems recorded on lake.app)
function M.load(lake, dir, rel, shared)
  local fs, yaml = require("host.fs"), require("host.yaml")
  local app = lake.app
  local file = rel .. "/config.yml"
  local text, rerr = fs.read(dir .. "/config.yml")
  if not text then
    app:problem(file, nil, nil, "cannot read: " .. tostring(rerr))
    return nil
  end
  local value, marks = yaml.load(text, file)
  if value == nil then
    -- "name:line:col: message" -> file:line: message
    local err = tostring(marks)
    local line, msg = err:match("^.-:(%d+):%d+: (.*)$")
    if not line then line, msg = err:match("^.-:(%d+): (.*)$") end
    app:problem(file, tonumber(line), nil, msg or err)
    return nil
  end
  local cfg, ck = config.validate(value, marks, { file = file, domains = lake.domains })

  -- Module folders: trigger/, catch/, steps/<module>/.
  local mods = { steps = {} }
  local steps_dir = dir .. "/steps"
  local siblings = fs.isdir(steps_dir) and fs.list(steps_dir) or {}
  for _, what in ipairs({ "trigger", "catch" }) do
    mods[what] = modules.check(ck, { dir = dir .. "/" .. what, rel = join(rel, what), runs = "lambda",
      key = what, what = what }, shared.manifest)
  end
  for _, s in ipairs(cfg.steps) do
    if s.module and (s.type == "lambda" or s.type == "glue") then
      mods.steps[s.name] = modules.check(ck, { dir = steps_dir .. "/" .. s.module,
        rel = join(rel, "steps/" .. s.module), runs = s.type, key = s.key .. ".properties.module",
        line = s.module_line, name = s.module, siblings = siblings, what = "module" }, shared.manifest)
    end
  end

  local _, names
  if cfg.name and lake.pipelines[cfg.name] then
    ck:add(ck:line_of(value, "name", 1), "name", ("pipeline '%s' is already defined by %s")
      :format(cfg.name, lake.pipelines[cfg.name].file))
  elseif cfg.name and #ck.problems == 0 then
    _, names = stack.check_names(cfg, lake.env, function(line, key, msg) ck:add(line, key, msg) end)
  end
  flush(app, ck)
  if #ck.problems > 0 then return nil end
  -- Requirement problems now: the stack itself is built at synthesis.
  local assets = require("lake.assets")
  assets.check_module(app, mods.trigger)
  assets.check_module(app, mods.catch)
  for _, s in ipairs(cfg.steps) do
    if mods.steps[s.name] then assets.check_module(app, mods.steps[s.name]) end
  end
  local p = stack.build(lake, cfg, mods, names)
  lake.pipelines[cfg.name] = p
  return p
end

--- Loads every pipeline under pipelines_path (folders in name order).
-- @param lake table the built lake ({ app, name, stage, env, domains, bucket_set, sns_topic,
--   shared_stack, vpc, pipelines = {} })
-- @param pipelines_path string absolute, or relative to the working directory
--   (app.lua passes "<its folder>/pipelines"); messages name files relative to the app root
-- @param opts table|nil { shared_path = folder of shared/ (default <app root>/shared) }
-- @return lake.pipelines
function M.load_all(lake, pipelines_path, opts)
  local fs = require("host.fs")
  local app = lake.app
  lake.pipelines = lake.pipelines or {}
  local dir, rel = locate(app.root, pipelines_path)
  if not fs.isdir(dir) then
    app:problem(rel, nil, "pipelines_path", "no such folder")
    return lake.pipelines
  end
  local sdir, srel = locate(app.root, (opts and opts.shared_path) or ((app.root or ".") .. "/shared"))
  local sck = config.checker(srel .. "/manifest.json")
  local manifest = modules.load_manifest(sck, { dir = sdir, rel = srel })
  flush(app, sck)
  local entries = fs.list(dir) or {}
  for _, name in ipairs(entries) do
    local sub = dir .. "/" .. name
    if fs.isdir(sub) and fs.isfile(sub .. "/config.yml") then
      M.load(lake, sub, join(rel, name), { manifest = manifest })
    end
  end
  return lake.pipelines
end

return M
