--- Property types for resource kinds.
--
-- A type is a table { kind = ..., ok = function(v), check = function(v, path, errs) }.
-- ok(v) answers whether v is right, building nothing (most values are);
-- check(v, path, errs) collects every problem into errs (an array of
-- "path: message") rather than stopping at the first, and is asked only of
-- a value ok refused. Tokens are accepted wherever a scalar is expected:
-- their value is only known to CloudFormation. An empty table where a list
-- is expected is marked as a JSON array on the way (json.array_mt), so that
-- the template says [] there and not {}.
local json = require("host.json")
local token = require("lake.token")
local util = require("lake.util")

local M = {}

local is_token = token.is

local function add(errs, path, fmt, ...)
  errs[#errs + 1] = (path ~= "" and path .. ": " or "") .. fmt:format(...)
end

local function tname(v)
  local t = type(v)
  if t == "number" then return math.type(v) == "integer" and "integer" or "number" end
  if t == "userdata" or t == "nil" then return "null" end
  if t == "table" then return #v > 0 and "list" or "table" end
  return t
end
M.tname = tname

-- A type of a kind file's own may have check alone: its ok is then check
-- asked with a scratch list.
local function with_ok(typ)
  if not typ.ok then
    typ.ok = function(v)
      local errs = {}
      typ.check(v, "", errs)
      return #errs == 0
    end
  end
  return typ
end

-- A scalar whose Lua type (math.type for integers) is ltype.
local function scalar(kind, ltype, opts)
  opts = opts or {}
  local min, max, pattern, max_len = opts.min, opts.max, opts.pattern, opts.max_len
  local type_of = ltype == "integer" and math.type or type
  local ok
  if min or max or pattern or max_len then
    ok = function(v)
      if type_of(v) ~= ltype then return is_token(v) end
      return not ((min and v < min) or (max and v > max) or (pattern and not tostring(v):match(pattern))
        or (max_len and #v > max_len))
    end
  else
    ok = function(v) return type_of(v) == ltype or is_token(v) end
  end
  return {
    kind = kind, required = opts.required, default = opts.default, doc = opts.doc, ok = ok,
    check = function(v, path, errs)
      if type_of(v) ~= ltype then
        if is_token(v) then return end
        return add(errs, path, "expected %s, got %s", kind, tname(v))
      end
      if min and v < min then add(errs, path, "must be at least %s, got %s", min, v) end
      if max and v > max then add(errs, path, "must be at most %s, got %s", max, v) end
      if pattern and not tostring(v):match(pattern) then
        add(errs, path, "%s", opts.pattern_msg or ("does not match " .. pattern))
      end
      if max_len and #v > max_len then
        add(errs, path, "is %d characters long, at most %d allowed", #v, max_len)
      end
    end,
  }
end

function M.string(o) return scalar("string", "string", o) end
function M.integer(o) return scalar("integer", "integer", o) end
function M.number(o) return scalar("number", "number", o) end
function M.boolean(o) return scalar("boolean", "boolean", o) end

--- One of the given strings.
function M.enum(o)
  local set = {}
  for _, s in ipairs(o) do set[s] = true end
  return {
    kind = "enum", required = o.required, default = o.default, values = o,
    ok = function(v) return set[v] == true or token.is(v) end,
    check = function(v, path, errs)
      if token.is(v) then return end
      if not set[v] then
        add(errs, path, "expected one of %s, got %s%s", table.concat(o, ", "),
          type(v) == "string" and ("'" .. v .. "'") or tname(v),
          type(v) == "string" and util.suggest(v, o) or "")
      end
    end,
  }
end

--- Anything JSON can hold (policy documents, free-form maps).
function M.any(o)
  o = o or {}
  return { kind = "any", required = o.required, ok = function() return true end, check = function() end }
end

--- Array of elements of one type.
function M.list(of, o)
  o = o or {}
  with_ok(of)
  local min_items = o.min_items
  local function is_list(v) return type(v) == "table" and (next(v) == nil or #v > 0) end
  return {
    kind = "list", required = o.required, of = of,
    ok = function(v)
      if not is_list(v) then return token.is(v) end
      if next(v) == nil and getmetatable(v) == nil then setmetatable(v, json.array_mt) end
      if min_items and #v < min_items then return false end
      for i = 1, #v do
        if not of.ok(v[i]) then return false end
      end
      return true
    end,
    check = function(v, path, errs)
      if token.is(v) then return end
      if not is_list(v) then return add(errs, path, "expected a list, got %s", tname(v)) end
      if min_items and #v < min_items then
        add(errs, path, "needs at least %d item(s), got %d", min_items, #v)
      end
      for i, x in ipairs(v) do
        if not of.ok(x) then of.check(x, ("%s[%d]"):format(path, i), errs) end
      end
    end,
  }
end

--- Map from string keys to values of one type.
function M.map(of, o)
  o = o or {}
  with_ok(of)
  return {
    kind = "map", required = o.required, of = of,
    ok = function(v)
      if type(v) ~= "table" or #v > 0 then return token.is(v) end
      for k, x in pairs(v) do
        if type(k) ~= "string" or not of.ok(x) then return false end
      end
      return true
    end,
    check = function(v, path, errs)
      if token.is(v) then return end
      if type(v) ~= "table" or #v > 0 then return add(errs, path, "expected a map, got %s", tname(v)) end
      -- sorted, to report problems in a stable order
      for k, x in util.spairs(v) do
        if type(k) ~= "string" then add(errs, path, "keys must be strings")
        elseif not of.ok(x) then of.check(x, path .. "." .. k, errs) end
      end
    end,
  }
end

--- Object with known fields. fields: ordered array of single-key tables
-- { { Name = type }, ... } (order is documentation order) or a map.
function M.object(fields, o)
  o = o or {}
  local order, by = {}, {}
  if #fields > 0 then
    for _, f in ipairs(fields) do
      local name, typ = next(f)
      order[#order + 1] = name
      by[name] = typ
    end
  else
    for name, typ in util.spairs(fields) do
      order[#order + 1] = name
      by[name] = typ
    end
  end
  local required = {}
  for _, name in ipairs(order) do
    with_ok(by[name])
    if by[name].required then required[#required + 1] = name end
  end
  local t = { kind = "object", required = o.required, fields = by, order = order, required_fields = required }
  t.ok = function(v)
    if type(v) ~= "table" or #v > 0 then return token.is(v) end
    for k, x in pairs(v) do
      local typ = by[k]
      if not (typ and typ.ok(x)) then return false end
    end
    for _, name in ipairs(required) do
      if v[name] == nil then return false end
    end
    return true
  end
  t.check = function(v, path, errs)
    if token.is(v) then return end
    if type(v) ~= "table" or #v > 0 then return add(errs, path, "expected an object, got %s", tname(v)) end
    M.check_fields(t, v, path, errs)
  end
  return t
end

--- Checks v's keys against an object type: unknown keys (with did-you-mean),
-- missing required keys, then each field's own type (in the type's order).
function M.check_fields(obj, v, path, errs)
  if obj.ok(v) then return end
  local prefix = path ~= "" and path .. "." or ""
  local unknown
  for k in pairs(v) do
    if not obj.fields[k] then
      unknown = unknown or {}
      unknown[#unknown + 1] = tostring(k)
    end
  end
  if unknown then
    table.sort(unknown)
    for _, k in ipairs(unknown) do
      add(errs, prefix .. k, "unknown property%s", util.suggest(k, obj.order))
    end
  end
  for _, name in ipairs(obj.order) do
    local typ, x = obj.fields[name], v[name]
    if x == nil then
      if typ.required then add(errs, prefix .. name, "is required") end
    elseif not typ.ok(x) then
      typ.check(x, prefix .. name, errs)
    end
  end
end

return M
