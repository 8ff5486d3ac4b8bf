--- Property types for resource kinds and configs.
--
-- A type is a table { kind = ..., check = function(v, path, errs) }. Checks
-- collect every problem into errs (an array of "path: message") rather than
-- stopping at the first. Tokens are accepted wherever a scalar is expected:
-- their value is only known to CloudFormation.
local token = require("lake.token")
local util = require("lake.util")

local M = {}

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

local function scalar(kind, test, opts)
  opts = opts or {}
  return {
    kind = kind, required = opts.required, default = opts.default, doc = opts.doc,
    check = function(v, path, errs)
      if not test(v) then
        if token.is(v) then return end
        return add(errs, path, "expected %s, got %s", kind, tname(v))
      end
      if opts.min and v < opts.min then add(errs, path, "must be at least %s, got %s", opts.min, v) end
      if opts.max and v > opts.max then add(errs, path, "must be at most %s, got %s", opts.max, v) end
      if opts.pattern and not tostring(v):match(opts.pattern) then
        add(errs, path, "%s", opts.pattern_msg or ("does not match " .. opts.pattern))
      end
      if opts.max_len and #v > opts.max_len then
        add(errs, path, "is %d characters long, at most %d allowed", #v, opts.max_len)
      end
    end,
  }
end

function M.string(o) return scalar("string", function(v) return type(v) == "string" end, o) end
function M.integer(o) return scalar("integer", function(v) return math.type(v) == "integer" end, o) end
function M.number(o) return scalar("number", function(v) return type(v) == "number" end, o) end
function M.boolean(o) return scalar("boolean", function(v) return type(v) == "boolean" end, o) end

--- One of the given strings.
function M.enum(o)
  local set = {}
  for _, s in ipairs(o) do set[s] = true end
  return {
    kind = "enum", required = o.required, default = o.default, values = o,
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
  return { kind = "any", required = o.required, check = function() end }
end

--- Array of elements of one type.
function M.list(of, o)
  o = o or {}
  return {
    kind = "list", required = o.required, of = of,
    check = function(v, path, errs)
      if token.is(v) then return end
      if type(v) ~= "table" or (next(v) ~= nil and #v == 0) then
        return add(errs, path, "expected a list, got %s", tname(v))
      end
      if o.min_items and #v < o.min_items then
        add(errs, path, "needs at least %d item(s), got %d", o.min_items, #v)
      end
      for i, x in ipairs(v) do of.check(x, ("%s[%d]"):format(path, i), errs) end
    end,
  }
end

--- Map from string keys to values of one type.
function M.map(of, o)
  o = o or {}
  return {
    kind = "map", required = o.required, of = of,
    check = function(v, path, errs)
      if token.is(v) then return end
      if type(v) ~= "table" or #v > 0 then return add(errs, path, "expected a map, got %s", tname(v)) end
      -- pairs first (fast); sorted again only to report problems in a stable order
      local mine = {}
      for k, x in pairs(v) do
        if type(k) ~= "string" then add(mine, path, "keys must be strings")
        else of.check(x, path .. "." .. k, mine) end
      end
      if #mine > 0 then
        for k, x in util.spairs(v) do
          if type(k) ~= "string" then add(errs, path, "keys must be strings")
          else of.check(x, path .. "." .. k, errs) end
        end
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
    if by[name].required then required[#required + 1] = name end
  end
  local t = { kind = "object", required = o.required, fields = by, order = order, required_fields = required }
  t.check = function(v, path, errs)
    if token.is(v) then return end
    if type(v) ~= "table" or #v > 0 then return add(errs, path, "expected an object, got %s", tname(v)) end
    M.check_fields(t, v, path, errs)
  end
  return t
end

-- True when v is right for obj, checking only the fields v has (and that
-- the required ones are there): most values are, and then nothing more is
-- done. A wrong one is checked again field by field in the type's order, so
-- that its problems are reported in that order.
local function fields_ok(obj, v)
  local fields, scratch = obj.fields, {}
  for k, x in pairs(v) do
    local typ = fields[k]
    if not typ then return false end
    typ.check(x, k, scratch)
    if #scratch > 0 then return false end
  end
  for _, name in ipairs(obj.required_fields) do
    if v[name] == nil then return false end
  end
  return true
end

--- Checks v's keys against an object type: unknown keys (with did-you-mean),
-- missing required keys, then each field's own type.
function M.check_fields(obj, v, path, errs)
  if fields_ok(obj, v) then return end
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
    else
      typ.check(x, prefix .. name, errs)
    end
  end
end

return M
