--- JSON values as the ASL interpreter sees them.
--
-- Values come from host.json (objects and arrays carry json.object_mt and
-- json.array_mt, JSON null is json.null) or from Lua code (plain tables).
-- A plain table counts as an array when its keys are exactly 1..n (n > 0) and
-- as an object otherwise; the empty plain table is an object. Values built
-- here are always marked, so json.encode writes {} and [] faithfully.
local json = require("host.json")

local M = {}

--- The JSON null sentinel (json.null, a lightuserdata).
M.null = json.null

--- The kind of v: "null", "boolean", "number", "string", "array", "object",
-- or nil when v is not a JSON value (nil, functions, other userdata).
-- @param v any
-- @return string|nil
function M.kind(v)
  local t = type(v)
  if t == "string" or t == "number" or t == "boolean" then return t end
  if v == json.null then return "null" end
  if t ~= "table" then return nil end
  local mt = getmetatable(v)
  if mt == json.array_mt then return "array" end
  if mt == json.object_mt then return "object" end
  if next(v) == nil then return "object" end
  local n = #v
  if n == 0 then return "object" end
  local count = 0
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return "object" end
    count = count + 1
  end
  return count == n and "array" or "object"
end

--- A new (or marked) JSON array.
-- @param t table|nil elements 1..n
function M.array(t)
  return setmetatable(t or {}, json.array_mt)
end

--- A new (or marked) JSON object.
-- @param t table|nil
function M.object(t)
  return setmetatable(t or {}, json.object_mt)
end

--- Deep copy of a JSON value; tables come back marked as array or object.
-- @param v any JSON value
function M.copy(v)
  local k = M.kind(v)
  if k == "array" then
    local out = {}
    for i = 1, #v do out[i] = M.copy(v[i]) end
    return M.array(out)
  elseif k == "object" then
    local out = {}
    for key, item in pairs(v) do out[key] = M.copy(item) end
    return M.object(out)
  end
  return v
end

--- Shallow copy of an array or object, keeping its kind.
function M.shallow(v)
  local k = M.kind(v)
  local out = {}
  for key, item in pairs(v) do out[key] = item end
  return k == "array" and M.array(out) or M.object(out)
end

--- Structural equality of two JSON values (numbers by value: 1 == 1.0).
-- @return boolean
function M.equal(a, b)
  local ka, kb = M.kind(a), M.kind(b)
  if ka ~= kb then return false end
  if ka == "array" then
    if #a ~= #b then return false end
    for i = 1, #a do
      if not M.equal(a[i], b[i]) then return false end
    end
    return true
  elseif ka == "object" then
    for key, item in pairs(a) do
      if b[key] == nil or not M.equal(item, b[key]) then return false end
    end
    for key in pairs(b) do
      if a[key] == nil then return false end
    end
    return true
  end
  return a == b
end

--- Compact JSON text of v (keys sorted, as host.json writes them).
-- @return string
function M.encode(v)
  local k = M.kind(v)
  if k == "array" or k == "object" then v = M.copy(v) end
  return json.encode(v)
end

--- JSON text decoded into a value.
-- @return any|nil value, or nil, string on failure
function M.decode(text)
  return json.decode(text, "json")
end

--- Short JSON text for messages (at most max bytes, default 200).
function M.preview(v, max)
  max = max or 200
  local ok, s = pcall(M.encode, v)
  if not ok then s = tostring(v) end
  if #s > max then s = s:sub(1, max - 3) .. "..." end
  return s
end

--- Converts integral floats to integers (2.0 -> 2), leaves others as they are.
function M.normalize_number(n)
  if math.type(n) == "float" then
    local i = math.tointeger(n)
    if i then return i end
  end
  return n
end

return M
