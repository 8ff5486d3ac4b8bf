--- Template differences: resources added, removed and changed, with the
-- property paths that changed. Pure.
local util = require("lake.util")
local json = require("host.json")

local M = {}

local function is_array(t)
  if type(t) ~= "table" then return false end
  local n = #t
  if n == 0 then return next(t) == nil and getmetatable(t) ~= nil end
  local c = 0
  for _ in pairs(t) do c = c + 1 end
  return c == n
end

local function render(v)
  if type(v) == "string" then return ("%q"):format(v) end
  if type(v) ~= "table" then return tostring(v) end
  return json.encode(v)
end
M.render = render

--- Appends { path=, old=, new= } for every leaf that differs.
local function walk(a, b, path, out)
  if type(a) ~= "table" or type(b) ~= "table" then
    if a ~= b then out[#out + 1] = { path = path, old = a, new = b } end
    return
  end
  if is_array(a) and is_array(b) then
    for i = 1, math.max(#a, #b) do walk(a[i], b[i], ("%s[%d]"):format(path, i - 1), out) end
    return
  end
  local keys = {}
  for k in pairs(a) do keys[k] = true end
  for k in pairs(b) do keys[k] = true end
  for k in util.spairs(keys) do
    walk(a[k], b[k], path == "" and tostring(k) or (path .. "." .. tostring(k)), out)
  end
end

--- Compares two templates (Lua tables).
-- @param old table|nil the deployed template (nil: the stack does not exist)
-- @param new table the synthesized template
-- @return { added = {ids}, removed = {ids}, changed = { {id=, type=, changes = { {path, old, new} }} }, other = {...} }
function M.templates(old, new)
  old = old or { Resources = {} }
  local res = { added = {}, removed = {}, changed = {}, other = {} }
  local ro, rn = old.Resources or {}, new.Resources or {}
  for id, r in util.spairs(rn) do
    if not ro[id] then
      res.added[#res.added + 1] = { id = id, type = r.Type }
    else
      local changes = {}
      walk(ro[id], r, "", changes)
      if #changes > 0 then res.changed[#res.changed + 1] = { id = id, type = r.Type, changes = changes } end
    end
  end
  for id, r in util.spairs(ro) do
    if not rn[id] then res.removed[#res.removed + 1] = { id = id, type = r.Type } end
  end
  for _, section in ipairs({ "Outputs", "Parameters", "Conditions", "Mappings" }) do
    local changes = {}
    walk(old[section], new[section], section, changes)
    for _, c in ipairs(changes) do res.other[#res.other + 1] = c end
  end
  return res
end

--- Human-readable lines for a stack's diff.
function M.format(name, d)
  local lines = {}
  if #d.added + #d.removed + #d.changed + #d.other == 0 then
    return { ("%s: no differences"):format(name) }
  end
  lines[#lines + 1] = name
  for _, r in ipairs(d.added) do lines[#lines + 1] = ("  + %s (%s)"):format(r.id, r.type) end
  for _, r in ipairs(d.removed) do lines[#lines + 1] = ("  - %s (%s)"):format(r.id, r.type) end
  for _, r in ipairs(d.changed) do
    lines[#lines + 1] = ("  ~ %s (%s)"):format(r.id, r.type)
    for _, c in ipairs(r.changes) do
      lines[#lines + 1] = ("      %s: %s -> %s"):format(c.path, c.old == nil and "(none)" or render(c.old),
        c.new == nil and "(none)" or render(c.new))
    end
  end
  for _, c in ipairs(d.other) do
    lines[#lines + 1] = ("  ~ %s: %s -> %s"):format(c.path, c.old == nil and "(none)" or render(c.old),
      c.new == nil and "(none)" or render(c.new))
  end
  return lines
end

return M
