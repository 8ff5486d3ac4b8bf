--- Pipeline config.yml: schema, validation and normalisation.
--
-- Pure: works on the decoded YAML value and its marks (host.yaml keeps the
-- line of every key and list item). Every problem is collected with the
-- line and the dotted key it concerns ("steps.RouteFile.properties.next_step");
-- nothing stops at the first one. A step's properties are its type's to
-- check (lake.pipeline.steps); the module folders are checked by
-- lake.pipeline.modules.
local checker = require("lake.pipeline.checker")
local names = require("lake.names")
local steps = require("lake.pipeline.steps")
local util = require("lake.util")

local M = {}

M.LAYERS = names.LAYERS
M.CONTRACT_TYPES = { "str", "int", "float", "bool", "list", "dict" }
--- State names the generated state machine uses for its error path.
M.RESERVED_STATES = { "ErrorCatch", "PipelineFailed" }

M.TOP_KEYS = { "name", "domain", "layers", "triggers", "tags", "contract", "logging", "tracing", "steps" }
--- The state machine's log levels (Step Functions' ERROR and ALL). There is
-- no "off": failure events cost next to nothing and are what tells why a run
-- failed once its execution history is gone.
M.LOGGING = { "error", "all" }
M.STEP_KEYS = { "type", "properties" }

local NAME_PATTERN = "^[a-z][a-z0-9_-]*$"
local STEP_PATTERN = "^[A-Za-z][A-Za-z0-9_-]*$"
local IDENT_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$"
M.IDENT_PATTERN = IDENT_PATTERN

local suggest = checker.suggest
M.suggest = suggest
--- A checker for one file (lake.pipeline.checker).
M.checker = checker.new

local LAYER_KEYS = { "origin", "target" }
local TRIGGER_KINDS = { "s3", "event_rule" }
local S3_TRIGGER_KEYS = { "prefix", "suffix" }
local EVENT_RULE_KEYS = { "source", "detail_type", "accounts" }
local ACCOUNT_PATTERN = "^%d%d%d%d%d%d%d%d%d%d%d%d$"
local ARTICLE = checker.ARTICLE

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

-- The accounts an event_rule trigger accepts events from: 12-digit strings.
local function check_accounts(ck, v, line, key)
  key = key .. ".accounts"
  if not ck:string_list(v, line, key, { non_empty = true }) then return nil end
  local ok, seen = true, {}
  for i, a in ipairs(v) do
    local al = ck:line_of(v, i, line)
    if not a:match(ACCOUNT_PATTERN) then
      ck:add(al, ("%s[%d]"):format(key, i), ("'%s' is not an AWS account id: 12 digits, quoted"):format(a))
      ok = false
    elseif seen[a] then
      ck:add(al, ("%s[%d]"):format(key, i), ("'%s' is listed twice"):format(a))
      ok = false
    end
    seen[a] = true
  end
  return ok and v or nil
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
          if s3.accounts ~= nil then
            ck:add(ck:line_of(s3, "accounts", sl), k .. ".accounts", "an s3 trigger watches the pipeline's origin "
              .. "bucket, which is in the lake's account: accounts is for event_rule triggers only")
          end
          ck:unknown_keys(s3, S3_TRIGGER_KEYS, k, { "accounts" })
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
          if er.accounts ~= nil then t.accounts = check_accounts(ck, er.accounts, ck:line_of(er, "accounts", el), k) end
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

--- Checks one step; returns the normalised step (possibly partial).
-- @param prefix string|nil the dotted key of its list (default "steps")
function M.check_step(ck, name, v, line, prefix)
  local key = (prefix or "steps") .. "." .. name
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
  local typ, t = ck:required(v, "type", key, line), nil
  local tl = ck:line_of(v, "type", line)
  if typ ~= nil and ck:expect(typ, "string", tl, key .. ".type") then
    local err, unknown
    t, err, unknown = steps.get(typ)
    if t then
      step.type = typ
    else
      ck:add(tl, key .. ".type", err .. (unknown and suggest(typ, steps.names()) or ""))
    end
  end
  if not t then step.bad = true end
  local props = ck:required(v, "properties", key, line)
  if props == nil then step.bad = true return step end
  local pkey, pl = key .. ".properties", ck:line_of(v, "properties", line)
  if not ck:expect(props, "mapping", pl, pkey) then step.bad = true return step end
  if not t then return step end
  step.properties_line = pl
  ck:unknown_keys(props, t.keys, pkey)
  t.check(ck, props, step)
  return step
end

local edges = steps.edges
M.edges = edges

--- A mapping of steps (the top-level `steps:`, a parallel's branch, a map's
-- `steps:`), each checked by its type, in file order. Names are checked
-- against the whole pipeline, and each list's graph on its own, by
-- validate once every list is read.
-- @param ck checker
-- @param declared any the mapping as decoded
-- @param line integer its line
-- @param key string its dotted key ("steps", "steps.Fan.properties.branches[1]")
-- @return array of steps (possibly partial ones), or nil when declared is not a mapping
function M.step_list(ck, declared, line, key)
  if not ck:expect(declared, "mapping", line, key) then return nil end
  local step_names = {}
  for k in pairs(declared) do
    if type(k) == "string" then
      step_names[#step_names + 1] = k
    else
      ck:add(ck:line_of(declared, k, line), key .. "." .. tostring(k), "step names must be strings")
    end
  end
  -- File order: YAML mappings are unordered once decoded; the marks keep the lines.
  table.sort(step_names, function(a, b)
    local la, lb = ck:line_of(declared, a, 0), ck:line_of(declared, b, 0)
    if la ~= lb then return la < lb end
    return a < b
  end)
  if #step_names == 0 then ck:add(line, key, "needs at least one step") end
  local list = {}
  for _, n in ipairs(step_names) do
    list[#list + 1] = M.check_step(ck, n, declared[n], ck:line_of(declared, n, line), key)
  end
  return list
end

-- Every step list of the pipeline, the top one first, then each step's
-- sub-lists (its type's `step_lists`) depth-first in file order:
-- { { steps =, owner = step|nil, where = "branch 1 of 'Fan'" } }.
local function lists_of(top)
  local out = {}
  local function walk(list, owner, where)
    out[#out + 1] = { steps = list, owner = owner, where = where }
    for _, s in ipairs(list) do
      for _, sub in ipairs(steps.step_lists(s)) do
        walk(sub.steps, s, ("%s of '%s'"):format(sub.what or "the steps", s.name))
      end
    end
  end
  walk(top, nil, nil)
  return out
end

-- next_step targets, reachability from the first step, cycles. all_by_name
-- holds every step of the pipeline: a target that is a step of another
-- list (outside its branch) is named as such.
local function check_graph(ck, list, by_name, all_by_name, where, owner)
  local names_list = {}
  for _, s in ipairs(list) do names_list[#names_list + 1] = s.name end
  for _, s in ipairs(list) do
    for _, e in ipairs(edges(s)) do
      if not by_name[e.to] then
        if where and all_by_name[e.to] then
          ck:add(e.line, e.key, ("'%s' is outside %s: a step there goes on only to the steps of its own "
            .. "list (%s), and the list's end goes on to the step after '%s'"):format(e.to, where,
            table.concat(names_list, ", "), owner and owner.name or "it"))
        elseif all_by_name[e.to] then
          ck:add(e.line, e.key, ("'%s' is a step inside '%s': steps go on only to steps of their own list")
            :format(e.to, all_by_name[e.to].parent or "?"))
        else
          ck:add(e.line, e.key, ("no step named '%s'%s"):format(e.to, suggest(e.to, names_list)))
        end
        e.bad = true
      end
    end
  end
  if #list == 0 then return end
  -- Reachability from the first step in file order (the state machine's StartAt).
  local seen, queue = { [list[1].name] = true }, { list[1] }
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
  for _, s in ipairs(list) do
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
    for _, s in ipairs(list) do
      if not seen[s.name] and not covered[s.name] and (pass == 2 or not pointed[s.name]) then
        unreachable[#unreachable + 1] = s
        cover(s)
      end
    end
  end
  table.sort(unreachable, function(a, b) return (a.line or 0) < (b.line or 0) end)
  for _, s in ipairs(unreachable) do
    ck:add(s.line, s.key, ("unreachable: no next_step leads to it from the first step '%s'"):format(list[1].name))
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
  for _, s in ipairs(list) do
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
  local ck = checker.new(ctx.file, marks)
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
  if value.contract ~= nil then
    cfg.contract, cfg.contract_line = check_contract(ck, value.contract, line("contract")), line("contract")
  end

  -- The state machine's logging and tracing (defaults: error, off; see
  -- lake.pipeline.stack). Left nil when absent.
  if value.logging ~= nil then
    if value.logging == "off" or value.logging == false then
      ck:add(line("logging"), "logging", "the state machine's logs cannot be turned off: 'error' (the default) "
        .. "logs only failures, which is what tells why a run failed; expected one of error, all")
    elseif ck:enum(value.logging, M.LOGGING, line("logging"), "logging") then
      cfg.logging = value.logging
    end
  end
  if value.tracing ~= nil and ck:expect(value.tracing, "boolean", line("tracing"), "tracing") then
    cfg.tracing = value.tracing
  end

  -- cfg.steps: the top-level steps (the state machine's); cfg.all_steps:
  -- every step, those inside parallel and map steps too (after the step
  -- that holds them, in file order), which is what resources, names and
  -- module folders are made for. Step names are unique pipeline-wide:
  -- resources are named after them.
  local declared = ck:required(value, "steps", "", 1)
  cfg.steps_line = line("steps")
  cfg.all_steps = {}
  local list = declared ~= nil and M.step_list(ck, declared, line("steps"), "steps")
  if list then
    cfg.steps = list
    local lists = lists_of(list)
    for _, l in ipairs(lists) do
      for _, s in ipairs(l.steps) do
        s.parent = l.owner and l.owner.name or nil
        local first = cfg.by_name[s.name]
        if first then
          ck:add(s.line, s.key, ("'%s' is already the name of the step at line %d (%s): step names are "
            .. "unique in a pipeline, inside parallel and map steps too"):format(s.name, first.line, first.key))
        else
          cfg.by_name[s.name] = s
        end
        cfg.all_steps[#cfg.all_steps + 1] = s
      end
    end
    -- all_steps in file order (a holder before the steps it holds)
    table.sort(cfg.all_steps, function(a, b) return (a.line or 0) < (b.line or 0) end)
    for _, l in ipairs(lists) do
      local own = {}
      for _, s in ipairs(l.steps) do own[s.name] = own[s.name] or s end
      check_graph(ck, l.steps, own, cfg.by_name, l.where, l.owner)
    end
  end
  cfg.ok = #ck.problems == 0
  return cfg, ck
end

return M
