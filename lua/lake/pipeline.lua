--- Pipelines: every folder of pipelines/ holding a config.yml becomes one
-- stack (lake-<pipeline>-stack-<stage>) that deploys after the shared stack.
--
-- Works on what lake.load read (no I/O here): every problem of every
-- pipeline is recorded with app:problem(file, line, key, msg), and a
-- pipeline with problems gets no stack (the commands then print them all
-- and exit 2).
local assets = require("lake.assets")
local checker = require("lake.pipeline.checker")
local config = require("lake.pipeline.config")
local modules = require("lake.pipeline.modules")
local stack = require("lake.pipeline.stack")
local steps = require("lake.pipeline.steps")
local token = require("lake.token")

local M = {}

-- Records the problems a checker collected on the app, by file and line.
-- Its warnings too, once.
local function flush(app, ck)
  for _, p in ipairs(ck:sorted()) do app:problem(p.file, p.line, p.key, p.msg) end
  for _, w in ipairs(ck.warnings or {}) do app:warning(w.file, w.line, w.key, w.msg) end
  ck.warnings = {}
end

-- The trigger and the catch run as Lambda functions: no jars for them.
local CORE_MODULE = { jars = false, runs_as = "a Lambda function" }

-- The module folders of a pipeline, checked: { trigger, catch, steps = { [step] = module } }.
local function check_modules(ck, loaded, cfg, manifest)
  local mods = { steps = {} }
  for _, what in ipairs({ "trigger", "catch" }) do
    mods[what] = modules.check(ck, loaded[what], { key = what, what = what, jars = CORE_MODULE.jars,
      runs_as = CORE_MODULE.runs_as }, manifest)
  end
  for _, s in ipairs(cfg.all_steps or cfg.steps) do
    local t = s.type and steps.get(s.type)
    if s.module and t and t.module then
      local opts = { rel = loaded.rel .. "/steps/" .. s.module, key = s.key .. ".properties.module",
        line = s.module_line, name = s.module, siblings = loaded.step_entries, what = "module", jars = t.module.jars,
        runs_as = t.module.runs_as }
      -- a type whose folder is not code (athena: query.sql) checks it itself
      if t.module.check then
        mods.steps[s.name] = t.module.check(ck, loaded.steps[s.module], s, opts, cfg)
      else
        mods.steps[s.name] = modules.check(ck, loaded.steps[s.module], opts, manifest)
      end
    end
  end
  return mods
end

-- "file:line" of a pipeline's name.
local function where_named(cfg)
  return cfg.file .. (cfg.name_line and (":" .. cfg.name_line) or "")
end

-- The stacks of the lake itself that a pipeline's stack name could take.
local function own_stack(lake, name)
  if lake.shared_stack and lake.shared_stack.name == name then return "the lake's shared stack" end
  if lake.storage_stack and lake.storage_stack.name == name then return "the lake's storage stack" end
  if lake.app.by_name[name] then return ("the stack '%s' of the lake"):format(name) end
  return nil
end

-- Names a pipeline shares with the lake or an earlier pipeline (its stack,
-- state machine, functions, roles, rules: lake-wide names), each reported
-- once with the config.yml of both. Remembers its names in lake.claimed_names.
local function check_lake_names(lake, cfg, ck)
  local prev = lake.pipelines[cfg.name]
  if prev then
    ck:add(cfg.name_line or 1, "name", ("pipeline '%s' is already defined by %s"):format(cfg.name, where_named(prev.config)))
    return
  end
  local n, claims = stack.resource_names(cfg, lake.env)
  local claimed = lake.claimed_names or {}
  lake.claimed_names = claimed
  local mine, reported = {}, {}
  for _, c in ipairs(claims) do
    local name = token.worst_case(c.name) or tostring(c.name)
    local k = c.what .. "\0" .. name
    local first = claimed[k]
    if first and not reported[first] then
      reported[first] = true
      ck:add(c.line or cfg.name_line or 1, c.key, ("pipeline '%s' collides with pipeline '%s' (%s): both make the "
        .. "%s '%s'; rename one of them"):format(cfg.name, first.name, where_named(first), c.what, name))
    end
    mine[k] = mine[k] or cfg
  end
  if next(reported) then return end
  local other = own_stack(lake, n.stack)
  if other then
    ck:add(cfg.name_line or 1, "name", ("pipeline '%s' makes the stack name '%s', which is %s: rename the pipeline")
      :format(cfg.name, n.stack, other))
    return
  end
  for k, v in pairs(mine) do claimed[k] = v end
end

--- Adds one pipeline (as lake.load.pipeline read it): validates config.yml
-- and the module folders, and builds the stack when everything is right.
-- @param lake table the built lake
-- @param loaded table lake.load.pipeline's answer
-- @param manifest table the shared modules (lake.pipeline.modules.manifest)
-- @return pipeline | nil (problems recorded on lake.app)
function M.add(lake, loaded, manifest)
  local app, c = lake.app, loaded.config
  if c.error then
    app:problem(c.file, c.error.line, nil, c.error.msg)
    return nil
  end
  local cfg, ck = config.validate(c.value, c.marks, { file = c.file, domains = lake.domains })
  local mods = check_modules(ck, loaded, cfg, manifest)
  if not cfg.name or #ck.problems > 0 then
    flush(app, ck)
    return nil
  end
  -- A name taken by an earlier folder, or resource names that do not fit
  local n
  check_lake_names(lake, cfg, ck)
  if #ck.problems == 0 then
    local _
    _, n = stack.check_names(cfg, lake.env, function(line, key, msg) ck:add(line, key, msg) end)
  end
  flush(app, ck)
  if #ck.problems > 0 then return nil end
  assets.check_settings(app)
  assets.check_module(app, mods.trigger)
  assets.check_module(app, mods.catch)
  for _, s in ipairs(cfg.all_steps or cfg.steps) do
    local m = mods.steps[s.name]
    if m and not m.not_code then assets.check_module(app, m) end
  end
  local p = stack.build(lake, cfg, mods, n)
  lake.pipelines[cfg.name] = p
  return p
end

--- Adds every pipeline lake.load.pipelines read, in folder order.
-- @param lake table the built lake ({ app, name, stage, env, domains, bucket_set, sns_topic,
--   shared_stack, vpc, pipelines = {} })
-- @param loaded table lake.load.pipelines's answer
-- @return lake.pipelines
function M.add_all(lake, loaded)
  local app = lake.app
  lake.pipelines = lake.pipelines or {}
  if loaded.missing then
    app:problem(loaded.rel, nil, "pipelines_path", "no such folder")
    return lake.pipelines
  end
  local sck = checker.new(loaded.shared.rel .. "/manifest.json")
  local manifest = modules.manifest(sck, loaded.shared)
  flush(app, sck)
  lake.shared_manifest = manifest -- datalake:lambda_function packages with it too
  for _, p in ipairs(loaded.pipelines) do M.add(lake, p, manifest) end
  return lake.pipelines
end

return M
