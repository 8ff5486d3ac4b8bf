--- Pipeline config.yml: schema, validation and normalisation.
--
-- Pure: works on the decoded YAML value and its marks (host.yaml keeps the
-- line of every key and list item). Every problem is collected with the
-- line and the dotted key it concerns ("steps.RouteFile.properties.next_step");
-- nothing stops at the first one. The checks that need the module folders
-- (src/index.py, requirements.json, shared/manifest.json) live in
-- lake.pipeline.modules.
local json = require("host.json")
local names = require("lake.names")
local util = require("lake.util")

local M = {}

M.STEP_TYPES = { "lambda", "glue", "choice" }
M.LAYERS = names.LAYERS
M.GLUE_VERSIONS = { "pythonshell", "glueetl" }
M.JOB_BOOKMARKS = { "enable", "disable", "pause" }
M.WORKER_TYPES = { "Standard", "G.1X", "G.2X", "G.025X", "G.4X", "G.8X", "Z.2X" }
M.CONTRACT_TYPES = { "str", "int", "float", "bool", "list", "dict" }
M.PYTHONSHELL_CAPACITY = { 0.0625, 1 }
--- State names the generated state machine uses for its error path.
M.RESERVED_STATES = { "ErrorCatch", "PipelineFailed" }

--- Environment variables lakehost sets on every step function.
M.RESERVED_ENV = { PIPELINE = true, STAGE = true, LAKE_NAME = true, ORIGIN_BUCKET = true, TARGET_BUCKET = true,
  DATABASE = true }

M.TOP_KEYS = { "name", "domain", "layers", "triggers", "tags", "contract", "steps" }
M.STEP_KEYS = { "type", "properties" }
M.PROPERTY_KEYS = {
  lambda = { "module", "next_step", "timeout_seconds", "memory_size", "environment" },
  glue = { "module", "next_step", "glue_version", "timeout_minutes", "max_concurrent_runs", "max_retries",
    "job_bookmark", "worker_type", "worker_count", "max_capacity" },
  choice = { "choices" },
}
M.CHOICE_KEYS = { "variable", "equals", "next_step" }

--- Defaults of the step properties (the original's values where it had them).
M.DEFAULTS = {
  lambda = { timeout_seconds = 60, memory_size = 128 },
  glue = { glue_version = "pythonshell", timeout_minutes = 60, max_concurrent_runs = 1, max_retries = 0,
    job_bookmark = "disable" },
  pythonshell = { max_capacity = 0.0625 },
  glueetl = { worker_type = "G.1X", worker_count = 2 },
}

local NAME_PATTERN = "^[a-z][a-z0-9_-]*$"
local STEP_PATTERN = "^[A-Za-z][A-Za-z0-9_-]*$"
local MODULE_PATTERN = "^[A-Za-z_][A-Za-z0-9_-]*$"
local IDENT_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$"

-- " (did you mean 'x'?)" when x is close to word and not a wholly
-- different short word ('Z' does not suggest 'C').
local function suggest(word, candidates)
  local s = util.did_you_mean(word, candidates)
  if s and util.distance(word:lower(), s:lower()) >= #word then return "" end
  return s and (" (did you mean '%s'?)"):format(s) or ""
end
M.suggest = suggest

---------------------------------------------------------------------------
-- The checker: knows the file, the marks, and collects problems.

local Checker = {}
Checker.__index = Checker

--- A problem collector for one file.
-- @param file string the file as the user would type it
-- @param marks table|nil host.yaml marks (marks[tbl] = {line=, keys=|items= (lines by key or index)})
function M.checker(file, marks)
  return setmetatable({ file = file, marks = marks or {}, problems = {} }, Checker)
end

--- Records a problem. file defaults to the checker's file; line may be a
-- function that finds it (looked up only when there is a problem to report).
function Checker:add(line, key, msg, file)
  if type(line) == "function" then line = line() end
  self.problems[#self.problems + 1] = { file = file or self.file, line = line, key = key, msg = msg }
end

--- Line of key (a string key or a 1-based list index) inside tbl, else of tbl.
function Checker:line_of(tbl, key, fallback)
  local m = type(tbl) == "table" and self.marks[tbl]
  if not m then return fallback end
  return (m.keys and m.keys[key]) or (m.items and m.items[key]) or m.line or fallback
end

--- "mapping", "list", "empty" (a {} without marks), "string", "integer",
-- "number", "boolean" or "null".
function Checker:kind(v)
  local t = type(v)
  if t == "string" or t == "boolean" then return t end
  if t == "number" then return math.type(v) == "integer" and "integer" or "number" end
  if t == "table" then
    local mt = getmetatable(v)
    if mt ~= nil and mt == json.object_mt then return "mapping" end
    if mt ~= nil and mt == json.array_mt then return "list" end
    local m = self.marks[v]
    if m and m.keys then return "mapping" end
    if m and m.items then return "list" end
    if next(v) == nil then return "empty" end
    return #v > 0 and "list" or "mapping"
  end
  return "null"
end

local ARTICLE = { mapping = "a mapping", list = "a list", string = "a string", integer = "an integer",
  number = "a number", boolean = "a boolean", null = "null", empty = "an empty value" }

--- Checks that v is of kind want ("mapping", "list", "string", "integer",
-- "number", "boolean"); records "expected X, got Y" otherwise.
-- @return boolean
function Checker:expect(v, want, line, key)
  local k = self:kind(v)
  if k == want or (k == "empty" and (want == "mapping" or want == "list"))
    or (want == "number" and k == "integer") then
    return true
  end
  local hint = ""
  if want == "string" and (k == "integer" or k == "number" or k == "boolean") then
    hint = (" (quote it: '%s')"):format(tostring(v))
  end
  self:add(line, key, ("expected %s, got %s%s"):format(ARTICLE[want], ARTICLE[k], hint))
  return false
end

-- The allowed keys of each list given to unknown_keys, as a set (the lists
-- are this module's constants; every pipeline checks against them).
local allowed_sets = setmetatable({}, { __mode = "k" })
local LAYER_KEYS = { "origin", "target" }
local TRIGGER_KINDS = { "s3", "event_rule" }
local S3_TRIGGER_KEYS = { "prefix", "suffix" }
local EVENT_RULE_KEYS = { "source", "detail_type" }

--- Records unknown keys of a mapping, with a did-you-mean when one is close.
function Checker:unknown_keys(tbl, allowed, path)
  local set = allowed_sets[allowed]
  if not set then
    set = {}
    for _, k in ipairs(allowed) do set[k] = true end
    allowed_sets[allowed] = set
  end
  local unknown
  for k in pairs(tbl) do
    if not set[k] then
      unknown = unknown or {}
      unknown[k] = true
    end
  end
  if not unknown then return end
  for _, k in ipairs(util.sorted_keys(unknown)) do
    local s = type(k) == "string" and util.did_you_mean(k, allowed)
    local msg = s and ("unknown key (did you mean '%s'?)"):format(s)
      or ("unknown key (allowed: %s)"):format(table.concat(allowed, ", "))
    self:add(self:line_of(tbl, k), (path ~= "" and path .. "." or "") .. tostring(k), msg)
  end
end

--- tbl[key] when present; records "is required" (at line) when missing.
function Checker:required(tbl, key, path, line)
  local v = tbl[key]
  if v == nil then
    self:add(line, (path ~= "" and path .. "." or "") .. key, "is required")
  end
  return v
end

--- Checks an enumerated string value.
function Checker:enum(v, values, line, key)
  if not self:expect(v, "string", line, key) then return false end
  if util.contains(values, v) then return true end
  self:add(line, key, ("expected one of %s, got '%s'%s"):format(table.concat(values, ", "), v,
    suggest(v, values)))
  return false
end

--- Checks an integer in [min, max] (max may be nil).
function Checker:int_range(v, min, max, line, key)
  if not self:expect(v, "integer", line, key) then return false end
  if v < min or (max and v > max) then
    if max then
      self:add(line, key, ("must be between %d and %d, got %d"):format(min, max, v))
    else
      self:add(line, key, ("must be at least %d, got %d"):format(min, v))
    end
    return false
  end
  return true
end

--- Checks a list of strings.
function Checker:string_list(v, line, key, opts)
  if not self:expect(v, "list", line, key) then return false end
  local ok = true
  for i, x in ipairs(v) do
    if type(x) ~= "string" then -- an item's line only for a problem
      ok = self:expect(x, "string", self:line_of(v, i, line), ("%s[%d]"):format(key, i)) and ok
    end
  end
  if opts and opts.non_empty and #v == 0 then
    self:add(line, key, "needs at least one item")
    ok = false
  end
  return ok
end

--- Problems sorted by file, then line (problems without a line last),
-- keeping discovery order otherwise.
function Checker:sorted()
  local list = {}
  for i, p in ipairs(self.problems) do list[i] = { p = p, i = i } end
  table.sort(list, function(a, b)
    if a.p.file ~= b.p.file then return a.p.file < b.p.file end
    local la, lb = a.p.line or math.huge, b.p.line or math.huge
    if la ~= lb then return la < lb end
    return a.i < b.i
  end)
  local out = {}
  for i, x in ipairs(list) do out[i] = x.p end
  return out
end

---------------------------------------------------------------------------
-- Sections of the file

local function check_layers(ck, v, line, cfg)
  if not ck:expect(v, "mapping", line, "layers") then return end
  ck:unknown_keys(v, LAYER_KEYS, "layers")
  local ok = true
  for _, k in ipairs({ "origin", "target" }) do
    local x = ck:required(v, k, "layers", line)
    if x ~= nil then
      if ck:enum(x, M.LAYERS, ck:line_of(v, k, line), "layers." .. k) then cfg[k] = x else ok = false end
    else
      ok = false
    end
  end
  if ok and cfg.origin == cfg.target then
    ck:add(ck:line_of(v, "target", line), "layers.target",
      ("must differ from layers.origin (both are '%s'): a pipeline moves data between two layers"):format(cfg.target))
  end
end

local function check_triggers(ck, v, line)
  local out = {}
  if not ck:expect(v, "list", line, "triggers") then return out end
  for i, item in ipairs(v) do
    local key = ("triggers[%d]"):format(i)
    local il = ck:line_of(v, i, line)
    if ck:expect(item, "mapping", il, key) then
      ck:unknown_keys(item, TRIGGER_KINDS, key)
      local n = (item.s3 ~= nil and 1 or 0) + (item.event_rule ~= nil and 1 or 0)
      if n ~= 1 then
        ck:add(il, key, "needs exactly one of s3, event_rule")
      elseif item.s3 ~= nil then
        local k, sl = key .. ".s3", ck:line_of(item, "s3", il)
        local s3 = item.s3
        if ck:kind(s3) == "null" then s3 = {} end -- "- s3:" alone: every object of the bucket
        if ck:expect(s3, "mapping", sl, k) then
          ck:unknown_keys(s3, S3_TRIGGER_KEYS, k)
          local t = { kind = "s3", index = i, line = il }
          for _, f in ipairs({ "prefix", "suffix" }) do
            if s3[f] ~= nil and ck:expect(s3[f], "string", ck:line_of(s3, f, sl), k .. "." .. f) then
              if s3[f] ~= "" then t[f] = s3[f] end
            end
          end
          out[#out + 1] = t
        end
      else
        local k, el = key .. ".event_rule", ck:line_of(item, "event_rule", il)
        local er = item.event_rule
        if ck:expect(er, "mapping", el, k) then
          ck:unknown_keys(er, EVENT_RULE_KEYS, k)
          local t = { kind = "event_rule", index = i, line = il }
          local src = ck:required(er, "source", k, el)
          if src ~= nil and ck:string_list(src, ck:line_of(er, "source", el), k .. ".source", { non_empty = true }) then
            t.source = src
          end
          if er.detail_type ~= nil and ck:string_list(er.detail_type, ck:line_of(er, "detail_type", el),
            k .. ".detail_type", { non_empty = true }) then
            t.detail_type = er.detail_type
          end
          out[#out + 1] = t
        end
      end
    end
  end
  return out
end

local function check_tags(ck, v, line)
  local out = {}
  if not ck:expect(v, "mapping", line, "tags") then return out end
  for _, k in ipairs(util.sorted_keys(v)) do
    local x, key = v[k], "tags." .. tostring(k)
    local kl = ck:line_of(v, k, line)
    local kind = ck:kind(x)
    if type(k) ~= "string" then
      ck:add(kl, key, "tag keys must be strings")
    elseif #k > 128 then
      ck:add(kl, key, ("tag keys are at most 128 characters, this one has %d"):format(#k))
    elseif k:sub(1, 4):lower() == "aws:" then
      ck:add(kl, key, "the aws: prefix is reserved for AWS")
    elseif kind == "string" or kind == "integer" or kind == "number" then
      local s = tostring(x)
      if #s > 256 then
        ck:add(kl, key, ("tag values are at most 256 characters, this one has %d"):format(#s))
      else
        out[k] = s
      end
    else
      ck:add(kl, key, ("expected a string or a number, got %s"):format(ARTICLE[kind]))
    end
  end
  return out
end

local function check_contract(ck, v, line)
  local out = {}
  if not ck:expect(v, "mapping", line, "contract") then return out end
  local keys, lines = util.sorted_keys(v), {}
  for _, k in ipairs(keys) do lines[k] = ck:line_of(v, k, 0) end
  table.sort(keys, function(a, b)
    local la, lb = lines[a], lines[b]
    if la ~= lb then return la < lb end
    return tostring(a) < tostring(b)
  end)
  for _, k in ipairs(keys) do
    local key, kl = "contract." .. tostring(k), ck:line_of(v, k, line)
    if type(k) ~= "string" or not k:match(IDENT_PATTERN) then
      ck:add(kl, key, "contract keys must be identifiers (letters, digits and '_', not starting with a digit): "
        .. "they become --key arguments of the Glue jobs and $.key paths of the state machine")
    elseif ck:enum(v[k], M.CONTRACT_TYPES, kl, key) then
      out[#out + 1] = { key = k, type = v[k] }
    end
  end
  return out
end

local function check_lambda(ck, props, key, line, step)
  local d = M.DEFAULTS.lambda
  step.timeout_seconds, step.memory_size = d.timeout_seconds, d.memory_size
  if props.timeout_seconds ~= nil and ck:int_range(props.timeout_seconds, 1, 900,
    ck:line_of(props, "timeout_seconds", line), key .. ".timeout_seconds") then
    step.timeout_seconds = props.timeout_seconds
  end
  if props.memory_size ~= nil and ck:int_range(props.memory_size, 128, 10240,
    ck:line_of(props, "memory_size", line), key .. ".memory_size") then
    step.memory_size = props.memory_size
  end
  step.environment = {}
  local env = props.environment
  if env ~= nil and ck:expect(env, "mapping", ck:line_of(props, "environment", line), key .. ".environment") then
    for _, k in ipairs(util.sorted_keys(env)) do
      local ek, el = key .. ".environment." .. tostring(k), ck:line_of(env, k, line)
      local kind = ck:kind(env[k])
      if type(k) ~= "string" or not k:match("^[A-Za-z][A-Za-z0-9_]*$") then
        ck:add(el, ek, "environment variable names are letters, digits and '_', starting with a letter")
      elseif k:sub(1, 4) == "AWS_" or k:sub(1, 7) == "LAMBDA_" then
        ck:add(el, ek, "names starting with AWS_ or LAMBDA_ are reserved by Lambda")
      elseif M.RESERVED_ENV[k] then
        ck:add(el, ek, "is set by lakehost on every step function; choose another name")
      elseif kind == "string" or kind == "integer" or kind == "number" or kind == "boolean" then
        step.environment[k] = tostring(env[k])
      else
        ck:add(el, ek, ("expected a string, a number or a boolean, got %s"):format(ARTICLE[kind]))
      end
    end
  end
end

local function check_glue(ck, props, key, line, step)
  local d = M.DEFAULTS.glue
  for k, v in pairs(d) do step[k] = v end
  local function pl(k) return ck:line_of(props, k, line) end
  if props.glue_version ~= nil then
    if ck:enum(props.glue_version, M.GLUE_VERSIONS, pl("glue_version"), key .. ".glue_version") then
      step.glue_version = props.glue_version
    else
      step.glue_version = nil
    end
  end
  if props.timeout_minutes ~= nil and ck:int_range(props.timeout_minutes, 1, 2880, pl("timeout_minutes"),
    key .. ".timeout_minutes") then
    step.timeout_minutes = props.timeout_minutes
  end
  if props.max_concurrent_runs ~= nil and ck:int_range(props.max_concurrent_runs, 1, 1000,
    pl("max_concurrent_runs"), key .. ".max_concurrent_runs") then
    step.max_concurrent_runs = props.max_concurrent_runs
  end
  if props.max_retries ~= nil and ck:int_range(props.max_retries, 0, 10, pl("max_retries"), key .. ".max_retries") then
    step.max_retries = props.max_retries
  end
  if props.job_bookmark ~= nil and ck:enum(props.job_bookmark, M.JOB_BOOKMARKS, pl("job_bookmark"),
    key .. ".job_bookmark") then
    step.job_bookmark = props.job_bookmark
  end
  -- Capacity: pythonshell takes max_capacity (0.0625 or 1 DPU), glueetl
  -- takes worker_type and worker_count (the two are exclusive in Glue).
  local v = step.glue_version
  if props.worker_type ~= nil then
    local wl = pl("worker_type")
    if ck:enum(props.worker_type, M.WORKER_TYPES, wl, key .. ".worker_type") and v == "pythonshell" then
      ck:add(wl, key .. ".worker_type", "only for glue_version glueetl (pythonshell jobs use max_capacity)")
    end
  end
  if props.worker_count ~= nil then
    local wl = pl("worker_count")
    if ck:int_range(props.worker_count, 2, 299, wl, key .. ".worker_count") and v == "pythonshell" then
      ck:add(wl, key .. ".worker_count", "only for glue_version glueetl (pythonshell jobs use max_capacity)")
    end
  end
  if props.max_capacity ~= nil then
    local ml = pl("max_capacity")
    if ck:expect(props.max_capacity, "number", ml, key .. ".max_capacity") then
      if v == "glueetl" then
        ck:add(ml, key .. ".max_capacity",
          "only for glue_version pythonshell (glueetl jobs use worker_type and worker_count)")
      elseif v == "pythonshell" and props.max_capacity ~= 0.0625 and props.max_capacity ~= 1 then
        ck:add(ml, key .. ".max_capacity", ("must be 0.0625 or 1 for pythonshell, got %s"):format(props.max_capacity))
      end
    end
  end
  if v == "pythonshell" then
    step.max_capacity = (props.max_capacity == 1) and 1 or M.DEFAULTS.pythonshell.max_capacity
  elseif v == "glueetl" then
    step.worker_type = (type(props.worker_type) == "string" and props.worker_type) or M.DEFAULTS.glueetl.worker_type
    step.worker_count = (math.type(props.worker_count) == "integer" and props.worker_count)
      or M.DEFAULTS.glueetl.worker_count
  end
end

local function check_choice(ck, props, key, line, step)
  step.choices = {}
  local choices = ck:required(props, "choices", key, line)
  if choices == nil then return end
  local cl = ck:line_of(props, "choices", line)
  if not ck:expect(choices, "list", cl, key .. ".choices") then return end
  if #choices == 0 then
    ck:add(cl, key .. ".choices", "needs at least one choice")
    return
  end
  for i, c in ipairs(choices) do
    local ckey, il = ("%s.choices[%d]"):format(key, i), ck:line_of(choices, i, cl)
    if ck:expect(c, "mapping", il, ckey) then
      ck:unknown_keys(c, M.CHOICE_KEYS, ckey)
      local out = { index = i, line = il }
      local var = ck:required(c, "variable", ckey, il)
      if var ~= nil and ck:expect(var, "string", ck:line_of(c, "variable", il), ckey .. ".variable") then
        local ok = true
        for part in (var .. "."):gmatch("(.-)%.") do
          if not part:match(IDENT_PATTERN) then ok = false end
        end
        if ok then
          out.variable = var
        else
          ck:add(ck:line_of(c, "variable", il), ckey .. ".variable",
            ("'%s' is not a key of the state (use names such as route or file.type)"):format(var))
        end
      end
      local eq = ck:required(c, "equals", ckey, il)
      if eq ~= nil and ck:expect(eq, "string", ck:line_of(c, "equals", il), ckey .. ".equals") then
        out.equals = eq
      end
      local nx = ck:required(c, "next_step", ckey, il)
      if nx ~= nil and ck:expect(nx, "string", ck:line_of(c, "next_step", il), ckey .. ".next_step") then
        out.next_step, out.next_line, out.next_key = nx, ck:line_of(c, "next_step", il), ckey .. ".next_step"
      end
      step.choices[#step.choices + 1] = out
    end
  end
end

--- Checks one step; returns the normalised step (possibly partial).
local function check_step(ck, name, v, line)
  local key = "steps." .. name
  local step = { name = name, line = line, key = key }
  if not name:match(STEP_PATTERN) or #name > 80 then
    ck:add(line, key, "step names are letters, digits, '_' and '-', starting with a letter, at most 80 characters")
    step.bad = true
  end
  for _, r in ipairs(M.RESERVED_STATES) do
    if name == r then
      ck:add(line, key, ("'%s' is reserved for the state machine's error path; choose another name"):format(name))
      step.bad = true
    end
  end
  if not ck:expect(v, "mapping", line, key) then step.bad = true return step end
  ck:unknown_keys(v, M.STEP_KEYS, key)
  local typ = ck:required(v, "type", key, line)
  if typ ~= nil and ck:enum(typ, M.STEP_TYPES, ck:line_of(v, "type", line), key .. ".type") then
    step.type = typ
  else
    step.bad = true
  end
  local props = ck:required(v, "properties", key, line)
  if props == nil then step.bad = true return step end
  local pkey, pl = key .. ".properties", ck:line_of(v, "properties", line)
  if not ck:expect(props, "mapping", pl, pkey) then step.bad = true return step end
  if not step.type then return step end
  ck:unknown_keys(props, M.PROPERTY_KEYS[step.type], pkey)
  if step.type == "choice" then
    check_choice(ck, props, pkey, pl, step)
    return step
  end
  local mod = ck:required(props, "module", pkey, pl)
  if mod ~= nil and ck:expect(mod, "string", ck:line_of(props, "module", pl), pkey .. ".module") then
    if mod:match(MODULE_PATTERN) then
      step.module, step.module_line = mod, ck:line_of(props, "module", pl)
    else
      ck:add(ck:line_of(props, "module", pl), pkey .. ".module",
        ("'%s' is not a folder name under steps/ (letters, digits, '_' and '-')"):format(mod))
    end
  end
  if props.next_step ~= nil then
    local nl = ck:line_of(props, "next_step", pl)
    if ck:expect(props.next_step, "string", nl, pkey .. ".next_step") then
      step.next_step, step.next_line, step.next_key = props.next_step, nl, pkey .. ".next_step"
    end
  end
  if step.type == "lambda" then check_lambda(ck, props, pkey, pl, step) end
  if step.type == "glue" then check_glue(ck, props, pkey, pl, step) end
  return step
end

--- The edges of a step: { {to=, line=, key=}, ... } in file order.
local function edges(step)
  local out = {}
  if step.type == "choice" then
    for _, c in ipairs(step.choices or {}) do
      if c.next_step then out[#out + 1] = { to = c.next_step, line = c.next_line, key = c.next_key } end
    end
  elseif step.next_step then
    out[1] = { to = step.next_step, line = step.next_line, key = step.next_key }
  end
  return out
end
M.edges = edges

-- next_step targets, reachability from the first step, cycles.
local function check_graph(ck, steps, by_name)
  local names_list = {}
  for _, s in ipairs(steps) do names_list[#names_list + 1] = s.name end
  for _, s in ipairs(steps) do
    for _, e in ipairs(edges(s)) do
      if not by_name[e.to] then
        ck:add(e.line, e.key, ("no step named '%s'%s"):format(e.to, suggest(e.to, names_list)))
        e.bad = true
      end
    end
  end
  if #steps == 0 then return end
  -- Reachability from the first step in file order (the state machine's StartAt).
  local seen, queue = { [steps[1].name] = true }, { steps[1] }
  while #queue > 0 do
    local s = table.remove(queue, 1)
    for _, e in ipairs(edges(s)) do
      local t = by_name[e.to]
      if t and not seen[t.name] then
        seen[t.name] = true
        queue[#queue + 1] = t
      end
    end
  end
  -- One report per unreachable island: its roots (steps nothing points
  -- to), then, for islands that are pure cycles, their first step.
  local pointed, covered = {}, {}
  for _, s in ipairs(steps) do
    for _, e in ipairs(edges(s)) do
      if e.to ~= s.name then pointed[e.to] = true end
    end
  end
  local function cover(from)
    local q = { from }
    while #q > 0 do
      local s = table.remove(q)
      if not covered[s.name] and not seen[s.name] then
        covered[s.name] = true
        for _, e in ipairs(edges(s)) do
          if by_name[e.to] then q[#q + 1] = by_name[e.to] end
        end
      end
    end
  end
  local unreachable = {}
  for pass = 1, 2 do
    for _, s in ipairs(steps) do
      if not seen[s.name] and not covered[s.name] and (pass == 2 or not pointed[s.name]) then
        unreachable[#unreachable + 1] = s
        cover(s)
      end
    end
  end
  table.sort(unreachable, function(a, b) return (a.line or 0) < (b.line or 0) end)
  for _, s in ipairs(unreachable) do
    ck:add(s.line, s.key, ("unreachable: no next_step leads to it from the first step '%s'"):format(steps[1].name))
  end
  -- Cycles: depth-first in file order; each back edge closes one cycle.
  local state, path = {}, {}
  local function visit(s)
    state[s.name] = "open"
    path[#path + 1] = s.name
    for _, e in ipairs(edges(s)) do
      local t = by_name[e.to]
      if t then
        if state[t.name] == "open" then
          local cycle, on = {}, false
          for _, n in ipairs(path) do
            if n == t.name then on = true end
            if on then cycle[#cycle + 1] = n end
          end
          cycle[#cycle + 1] = t.name
          ck:add(e.line, e.key, ("makes a cycle: %s (a pipeline runs each step at most once)")
            :format(table.concat(cycle, " -> ")))
        elseif state[t.name] == nil then
          visit(t)
        end
      end
    end
    path[#path] = nil
    state[s.name] = "done"
  end
  for _, s in ipairs(steps) do
    if state[s.name] == nil then visit(s) end
  end
end

---------------------------------------------------------------------------

--- Validates a decoded config.yml.
-- @param value any the decoded YAML document
-- @param marks table|nil its marks (see host.yaml)
-- @param ctx table { file = "pipelines/x/config.yml", domains = { "example", ... } }
-- @return cfg (normalised; cfg.ok false when any problem was found), checker
function M.validate(value, marks, ctx)
  local ck = M.checker(ctx.file, marks)
  local cfg = { file = ctx.file, triggers = {}, tags = {}, contract = {}, steps = {}, by_name = {} }
  if not ck:expect(value, "mapping", 1, "(top level)") then
    cfg.ok = false
    return cfg, ck
  end
  local function line(k) return ck:line_of(value, k, 1) end
  ck:unknown_keys(value, M.TOP_KEYS, "")

  local name = ck:required(value, "name", "", 1)
  if name ~= nil and ck:expect(name, "string", line("name"), "name") then
    if name:match(NAME_PATTERN) then
      cfg.name, cfg.name_line = name, line("name")
    else
      ck:add(line("name"), "name", ("'%s' is not a pipeline name: lowercase letters, digits, '_' and '-', "
        .. "starting with a letter"):format(name))
    end
  end

  local domain = ck:required(value, "domain", "", 1)
  if domain ~= nil and ck:expect(domain, "string", line("domain"), "domain") then
    local found = false
    for _, d in ipairs(ctx.domains or {}) do if d == domain then found = true end end
    if found then
      cfg.domain = domain
    else
      ck:add(line("domain"), "domain", ("'%s' is not a domain of the lake (domains: %s)%s"):format(domain,
        table.concat(ctx.domains or {}, ", "), suggest(domain, ctx.domains or {})))
    end
  end

  local layers = ck:required(value, "layers", "", 1)
  if layers ~= nil then check_layers(ck, layers, line("layers"), cfg) end
  if value.triggers ~= nil then cfg.triggers = check_triggers(ck, value.triggers, line("triggers")) end
  if value.tags ~= nil then cfg.tags = check_tags(ck, value.tags, line("tags")) end
  if value.contract ~= nil then cfg.contract = check_contract(ck, value.contract, line("contract")) end

  local steps = ck:required(value, "steps", "", 1)
  if steps ~= nil and ck:expect(steps, "mapping", line("steps"), "steps") then
    local step_names = {}
    for k in pairs(steps) do
      if type(k) == "string" then
        step_names[#step_names + 1] = k
      else
        ck:add(ck:line_of(steps, k, line("steps")), "steps." .. tostring(k), "step names must be strings")
      end
    end
    -- File order: YAML mappings are unordered once decoded; the marks keep the lines.
    table.sort(step_names, function(a, b)
      local la, lb = ck:line_of(steps, a, 0), ck:line_of(steps, b, 0)
      if la ~= lb then return la < lb end
      return a < b
    end)
    if #step_names == 0 then ck:add(line("steps"), "steps", "needs at least one step") end
    for _, n in ipairs(step_names) do
      local s = check_step(ck, n, steps[n], ck:line_of(steps, n, line("steps")))
      cfg.steps[#cfg.steps + 1] = s
      cfg.by_name[n] = s
    end
    check_graph(ck, cfg.steps, cfg.by_name)
  end
  cfg.ok = #ck.problems == 0
  return cfg, ck
end

return M
