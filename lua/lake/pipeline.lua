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

-- What reading <entry>/config.yml fails with for an entry of pipelines/
-- that is not a pipeline's folder: no config.yml file there, or no folder.
local SKIPPED = { ENOENT = true, ENOTDIR = true, EISDIR = true }

-- Reads and checks one pipeline folder without changing the lake: what a
-- worker process can do. Returns plain data (JSON-encodable but for .names):
-- { file, skip = true (no config.yml file: not a pipeline's folder),
--   early = problem, problems = { {file, line, key, msg} }, name,
--   name_line, names_problems, requirements = { {file, key, msg} },
--   frozen, shell (stack.freeze, stack.shell: when nothing is wrong),
--   names (stack.resource_names) }
local function examine(lake, dir, rel, shared)
  local fs, yaml = require("host.fs"), require("host.yaml")
  local file = rel .. "/config.yml"
  local ex = { file = file }
  local text, rerr, code = fs.read(dir .. "/config.yml")
  if not text and SKIPPED[code] then
    ex.skip = true -- not a pipeline's folder
    return ex
  elseif not text then
    ex.early = { file = file, msg = "cannot read: " .. tostring(rerr) }
    return ex
  end
  local value, marks = yaml.load(text, file)
  if value == nil then
    -- "name:line:col: message" -> file:line: message
    local err = tostring(marks)
    local line, msg = err:match("^.-:(%d+):%d+: (.*)$")
    if not line then line, msg = err:match("^.-:(%d+): (.*)$") end
    ex.early = { file = file, line = tonumber(line), msg = msg or err }
    return ex
  end
  local cfg, ck = config.validate(value, marks, { file = file, domains = lake.domains })

  -- Module folders: trigger/, catch/, steps/<module>/.
  local mods = { steps = {} }
  local steps_dir = dir .. "/steps"
  for _, what in ipairs({ "trigger", "catch" }) do
    mods[what] = modules.check(ck, { dir = dir .. "/" .. what, rel = join(rel, what), runs = "lambda",
      key = what, what = what }, shared.manifest)
  end
  for _, s in ipairs(cfg.steps) do
    if s.module and (s.type == "lambda" or s.type == "glue") then
      mods.steps[s.name] = modules.check(ck, { dir = steps_dir .. "/" .. s.module,
        rel = join(rel, "steps/" .. s.module), runs = s.type, key = s.key .. ".properties.module",
        line = s.module_line, name = s.module, siblings_of = steps_dir, what = "module" }, shared.manifest)
    end
  end
  ex.problems, ex.name = ck.problems, cfg.name
  if not cfg.name or #ck.problems > 0 then return ex end

  -- What settle needs whether or not the name is taken by an earlier pipeline.
  ex.name_line = ck:line_of(value, "name", 1)
  local nck = config.checker(file)
  local _, names = stack.check_names(cfg, lake.env, function(line, key, msg) nck:add(line, key, msg) end)
  ex.names_problems = nck.problems
  if #nck.problems > 0 then return ex end
  -- Requirement problems now: the stack itself is built at synthesis.
  local assets = require("lake.assets")
  local req = {}
  local function check(mod)
    for _, p in ipairs(assets.module_problems(mod)) do req[#req + 1] = p end
    mod.requirements_checked = true
  end
  check(mods.trigger)
  check(mods.catch)
  for _, s in ipairs(cfg.steps) do
    if mods.steps[s.name] then check(mods.steps[s.name]) end
  end
  ex.requirements = req
  ex.frozen = stack.freeze(cfg, mods)
  ex.shell = stack.shell(lake, cfg, names)
  ex.names = names -- tokens: only when settled in this process
  return ex
end

-- Records what examine found on the lake, in folder order, and declares
-- the pipeline's stack when nothing is wrong (a name already taken by an
-- earlier folder is a problem only known here).
local function settle(lake, ex)
  local app = lake.app
  if ex.skip then return nil end
  if ex.early then
    app:problem(ex.early.file, ex.early.line, nil, ex.early.msg)
    return nil
  end
  local ck = config.checker(ex.file)
  for _, p in ipairs(ex.problems) do ck.problems[#ck.problems + 1] = p end
  if ex.name and lake.pipelines[ex.name] then
    ck:add(ex.name_line or 1, "name", ("pipeline '%s' is already defined by %s")
      :format(ex.name, lake.pipelines[ex.name].file))
  else
    for _, p in ipairs(ex.names_problems or {}) do ck.problems[#ck.problems + 1] = p end
  end
  flush(app, ck)
  if #ck.problems > 0 or not ex.frozen then return nil end
  if not lake.asset_settings_checked then -- the app's, once (thousands of pipelines)
    lake.asset_settings_checked = true
    require("lake.assets").check_settings(app)
  end
  for _, p in ipairs(ex.requirements) do app:problem(p.file, nil, p.key, p.msg) end
  local p = stack.declare(lake, ex.shell, ex.frozen, ex.names)
  lake.pipelines[ex.name] = p
  return p
end

--- Loads one pipeline folder: validates config.yml and the module folders,
-- and declares the stack when everything is right.
-- @param lake table the built lake
-- @param dir string the folder as the process reads it
-- @param rel string the folder as the user types it
-- @param shared table { manifest = from modules.load_manifest }
-- @return pipeline | nil (problems recorded on lake.app)
function M.load(lake, dir, rel, shared)
  return settle(lake, examine(lake, dir, rel, shared))
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
  -- every entry: those without a config.yml file are told apart as they
  -- are read (examine), in the workers when there are many
  local folders = fs.list(dir) or {}
  local shared = { manifest = manifest }
  local workers = require("lake.workers")
  local k = workers.count(#folders)
  if k == 1 then
    for _, name in ipairs(folders) do M.load(lake, dir .. "/" .. name, join(rel, name), shared) end
    return lake.pipelines
  end
  -- Many pipelines: examined by worker processes, settled here in folder order.
  local found = workers.map(#folders, k, function(i)
    local ex = examine(lake, dir .. "/" .. folders[i], join(rel, folders[i]), shared)
    ex.names = nil
    return ex
  end)
  for i = 1, #folders do settle(lake, found[i]) end
  return lake.pipelines
end

return M
