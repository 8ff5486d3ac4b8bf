--- JSONPath as Step Functions uses it (the Jayway syntax, less filters).
--
-- A path starts with `$` (the state input) or `$$` (the context object) and
-- continues with steps:
--
--   .name  ['name']  ["name"]      a field (dot names stop at . [ ] ( ) , ' " and blanks)
--   [2]                            an array index (0-based, never negative)
--   .*  [*]                        every member (indefinite)
--   ['a','b']  [0,2]               several fields or indexes (indefinite)
--   [1:3]  [:2]  [1:]  [0:6:2]     a slice (indefinite)
--   ..name  ..*  ..[0]             deep scan (indefinite)
--   .length()                      the length of the array selected so far (last step only)
--
-- A *reference path* (ResultPath, ItemsPath, Variable, ...) uses only field
-- and index steps, so it names exactly one node. A *definite* path selects
-- one value (reference steps, optionally ending in length()); any other path
-- selects a list of values and get() returns them as an array, as Jayway does.
-- Filters (`[?(...)]`) and negative indexes are refused.
local value = require("lake.states.value")

local M = {}

local cache = {}

local function perr(text, pos, msg)
  return string.format("invalid JSONPath '%s' at character %d: %s", text, pos, msg)
end

-- Characters that end a dot-notation field name.
local NAME_STOP = "[%.%[%]%(%)%s,'\"]"

-- Reads a quoted string starting at the quote at position i.
-- Returns the unescaped string and the position after the closing quote.
local function read_quoted(text, i)
  local q = text:sub(i, i)
  local buf, j = {}, i + 1
  while j <= #text do
    local c = text:sub(j, j)
    if c == "\\" then
      local n = text:sub(j + 1, j + 1)
      if n == "" then return nil, perr(text, j, "unfinished escape") end
      buf[#buf + 1] = n
      j = j + 2
    elseif c == q then
      return table.concat(buf), j + 1
    else
      buf[#buf + 1] = c
      j = j + 1
    end
  end
  return nil, perr(text, i, "unterminated string")
end

local function skip_ws(text, i)
  return (text:find("[^ \t\r\n]", i)) or #text + 1
end

-- Reads an integer at i; returns it and the next position, or nil.
local function read_int(text, i)
  local s, e = text:find("^%-?%d+", i)
  if not s then return nil end
  return math.tointeger(tonumber(text:sub(s, e))), e + 1
end

-- Parses the inside of [...] starting after '['; returns step, next position.
local function parse_bracket(text, i)
  i = skip_ws(text, i)
  local c = text:sub(i, i)
  local step
  if c == "'" or c == '"' then
    local names = {}
    while true do
      local name, nxt = read_quoted(text, i)
      if not name then return nil, nxt end
      names[#names + 1] = name
      i = skip_ws(text, nxt)
      c = text:sub(i, i)
      if c == "," then
        i = skip_ws(text, i + 1)
        c = text:sub(i, i)
        if c ~= "'" and c ~= '"' then return nil, perr(text, i, "expected a quoted field name after ','") end
      else
        break
      end
    end
    if #names == 1 then
      step = { kind = "field", name = names[1] }
    else
      step = { kind = "fields", names = names }
    end
  elseif c == "*" then
    step = { kind = "wild" }
    i = skip_ws(text, i + 1)
  elseif c == "?" then
    return nil, perr(text, i, "filter expressions ([?(...)]) are not supported")
  elseif c:match("[%d%-:]") then
    local first, nxt
    if c ~= ":" then
      first, nxt = read_int(text, i)
      if not first then return nil, perr(text, i, "expected an array index") end
      if first < 0 then
        return nil, perr(text, i, "negative array indexes are not supported")
      end
      i = skip_ws(text, nxt)
      c = text:sub(i, i)
    end
    if c == ":" then
      local bounds = { first }
      for k = 2, 3 do
        if text:sub(i, i) ~= ":" then break end
        i = skip_ws(text, i + 1)
        local n
        n, nxt = read_int(text, i)
        if n then
          if n < 0 then return nil, perr(text, i, "negative array indexes are not supported") end
          if k == 3 and n == 0 then return nil, perr(text, i, "slice step must not be 0") end
          bounds[k] = n
          i = skip_ws(text, nxt)
        end
      end
      step = { kind = "slice", from = bounds[1] or 0, to = bounds[2], by = bounds[3] or 1 }
    elseif c == "," then
      local list = { first }
      while text:sub(i, i) == "," do
        i = skip_ws(text, i + 1)
        local n
        n, nxt = read_int(text, i)
        if not n then return nil, perr(text, i, "expected an array index after ','") end
        if n < 0 then return nil, perr(text, i, "negative array indexes are not supported") end
        list[#list + 1] = n
        i = skip_ws(text, nxt)
      end
      step = { kind = "indexes", list = list }
    else
      step = { kind = "index", index = first }
    end
  elseif c == "" then
    return nil, perr(text, i, "missing ']'")
  else
    return nil, perr(text, i, "unexpected '" .. c .. "' in brackets")
  end
  if text:sub(i, i) ~= "]" then return nil, perr(text, i, "expected ']'") end
  return step, i + 1
end

-- Reads a dot-notation step (after the dot) at i.
local function parse_dot(text, i)
  local s = text:find(NAME_STOP, i) or #text + 1
  local name = text:sub(i, s - 1)
  if name == "" then return nil, perr(text, i, "expected a field name") end
  if text:sub(s, s) == "(" then
    if text:sub(s, s + 1) ~= "()" then return nil, perr(text, s, "expected '()'") end
    if name ~= "length" then
      return nil, perr(text, i, "function " .. name .. "() is not supported (only length())")
    end
    return { kind = "length" }, s + 2
  end
  if name == "*" then return { kind = "wild" }, s end
  return { kind = "field", name = name }, s
end

--- Parses a path once (results are cached by text).
-- @param text string
-- @return table|nil {text=, context=boolean, steps=, reference=boolean, definite=boolean}, or nil, string on failure
function M.parse(text)
  if type(text) ~= "string" then return nil, "a JSONPath must be a string" end
  local hit = cache[text]
  if hit then return hit end
  if text:sub(1, 1) ~= "$" then return nil, perr(text, 1, "a path must start with '$'") end
  local context = text:sub(2, 2) == "$"
  local i = context and 3 or 2
  local steps = {}
  while i <= #text do
    local c = text:sub(i, i)
    local step, nxt
    if c == "." and text:sub(i + 1, i + 1) == "." then
      local inner
      if text:sub(i + 2, i + 2) == "[" then
        inner, nxt = parse_bracket(text, i + 3)
      else
        inner, nxt = parse_dot(text, i + 2)
      end
      if not inner then return nil, nxt end
      if inner.kind == "length" then return nil, perr(text, i, "length() cannot follow '..'") end
      step = { kind = "scan", inner = inner }
    elseif c == "." then
      step, nxt = parse_dot(text, i + 1)
    elseif c == "[" then
      step, nxt = parse_bracket(text, i + 1)
    else
      return nil, perr(text, i, "unexpected '" .. c .. "'")
    end
    if not step then return nil, nxt end
    if #steps > 0 and steps[#steps].kind == "length" then
      return nil, perr(text, i, "length() must be the last step")
    end
    steps[#steps + 1] = step
    i = nxt
  end
  local reference, definite = true, true
  for n, step in ipairs(steps) do
    if step.kind ~= "field" and step.kind ~= "index" then
      reference = false
      if not (step.kind == "length" and n == #steps) then definite = false end
    end
  end
  local compiled = { text = text, context = context, steps = steps, reference = reference, definite = definite }
  cache[text] = compiled
  return compiled
end

local function compile(path)
  if type(path) == "table" then return path end
  return M.parse(path)
end

-- Canonical text of the first n steps (for messages).
local function location(c, n)
  local parts = { c.context and "$$" or "$" }
  for k = 1, n do
    local step = c.steps[k]
    if step.kind == "field" then
      if step.name:match("^[%a_][%w_]*$") then
        parts[#parts + 1] = "." .. step.name
      else
        parts[#parts + 1] = "['" .. step.name:gsub("\\", "\\\\"):gsub("'", "\\'") .. "']"
      end
    elseif step.kind == "index" then
      parts[#parts + 1] = "[" .. step.index .. "]"
    end
  end
  return table.concat(parts)
end

local function kind_name(k)
  if k == "array" or k == "object" then return "an " .. k end
  if k == "null" then return "null" end
  return "a " .. (k or "non-JSON value")
end

-- Every node below v (pre-order, v first).
local function descend(v, out)
  out[#out + 1] = v
  local k = value.kind(v)
  if k == "array" then
    for i = 1, #v do descend(v[i], out) end
  elseif k == "object" then
    local keys = {}
    for key in pairs(v) do keys[#keys + 1] = key end
    table.sort(keys)
    for _, key in ipairs(keys) do descend(v[key], out) end
  end
  return out
end

-- Applies an indefinite step to each node; missing members are skipped.
local function expand(step, nodes)
  local out = {}
  for _, node in ipairs(nodes) do
    local k = value.kind(node)
    if step.kind == "field" then
      if k == "object" and node[step.name] ~= nil then out[#out + 1] = node[step.name] end
    elseif step.kind == "fields" then
      if k == "object" then
        for _, name in ipairs(step.names) do
          if node[name] ~= nil then out[#out + 1] = node[name] end
        end
      end
    elseif step.kind == "index" then
      if k == "array" and node[step.index + 1] ~= nil then out[#out + 1] = node[step.index + 1] end
    elseif step.kind == "indexes" then
      if k == "array" then
        for _, idx in ipairs(step.list) do
          if node[idx + 1] ~= nil then out[#out + 1] = node[idx + 1] end
        end
      end
    elseif step.kind == "wild" then
      if k == "array" then
        for i = 1, #node do out[#out + 1] = node[i] end
      elseif k == "object" then
        local keys = {}
        for key in pairs(node) do keys[#keys + 1] = key end
        table.sort(keys)
        for _, key in ipairs(keys) do out[#out + 1] = node[key] end
      end
    elseif step.kind == "slice" then
      if k == "array" then
        local to = step.to and math.min(step.to, #node) or #node
        for idx = step.from, to - 1, step.by do out[#out + 1] = node[idx + 1] end
      end
    elseif step.kind == "scan" then
      for _, sub in ipairs(descend(node, {})) do
        for _, found in ipairs(expand(step.inner, { sub })) do out[#out + 1] = found end
      end
    end
  end
  return out
end

--- The value a path selects in doc.
-- A definite path yields its value, or fails when a step is missing; any other
-- path yields an array (possibly empty) of the values it matches. The caller
-- chooses doc: the state input for `$` paths, the context object for `$$`.
-- @param doc any JSON value
-- @param path string|table text or parsed path
-- @return any|nil value, or nil, string on failure
function M.get(doc, path)
  local c, err = compile(path)
  if not c then return nil, err end
  local steps = c.steps
  if not c.definite then
    local nodes = { doc }
    for _, step in ipairs(steps) do nodes = expand(step, nodes) end
    return value.array(nodes)
  end
  local cur = doc
  for n, step in ipairs(steps) do
    local k = value.kind(cur)
    if step.kind == "field" then
      if k ~= "object" then
        return nil, string.format("%s is %s, not an object", location(c, n - 1), kind_name(k))
      end
      local v = cur[step.name]
      if v == nil then
        return nil, string.format("%s has no field '%s'", location(c, n - 1), step.name)
      end
      cur = v
    elseif step.kind == "index" then
      if k ~= "array" then
        return nil, string.format("%s is %s, not an array", location(c, n - 1), kind_name(k))
      end
      local v = cur[step.index + 1]
      if v == nil then
        return nil, string.format("%s has no index %d (length %d)", location(c, n - 1), step.index, #cur)
      end
      cur = v
    else -- length(), the last step
      if k ~= "array" then
        return nil, string.format("%s is %s; length() needs an array", location(c, n - 1), kind_name(k))
      end
      cur = #cur
    end
  end
  return cur
end

--- Whether a definite path finds a value in doc.
-- @return boolean
function M.exists(doc, path)
  return M.get(doc, path) ~= nil
end

-- Copy-on-write assignment below node at step n.
local function set_in(c, node, n, v)
  local step = c.steps[n]
  local k = value.kind(node)
  local last = n == #c.steps
  if step.kind == "field" then
    if k ~= "object" then
      return nil, string.format("cannot set field '%s': %s is %s, not an object",
        step.name, location(c, n - 1), kind_name(k))
    end
    local child = node[step.name]
    local new
    if last then
      new = v
    else
      if child == nil then
        if c.steps[n + 1].kind == "index" then
          return nil, string.format("cannot index into %s: it does not exist", location(c, n))
        end
        child = value.object()
      end
      local err
      new, err = set_in(c, child, n + 1, v)
      if new == nil then return nil, err end
    end
    local copy = value.shallow(node)
    copy[step.name] = new
    return copy
  end
  -- index
  if k ~= "array" then
    return nil, string.format("cannot set index %d: %s is %s, not an array",
      step.index, location(c, n - 1), kind_name(k))
  end
  local child = node[step.index + 1]
  if child == nil then
    return nil, string.format("cannot set index %d: %s has length %d", step.index, location(c, n - 1), #node)
  end
  local new = v
  if not last then
    local err
    new, err = set_in(c, child, n + 1, v)
    if new == nil then return nil, err end
  end
  local copy = value.shallow(node)
  copy[step.index + 1] = new
  return copy
end

--- A copy of doc with v placed at a reference path (ResultPath semantics).
-- Missing intermediate fields are created as objects; doc itself is not
-- modified (only the containers along the path are copied). `$` yields v.
-- @param doc any JSON value
-- @param path string|table a reference path starting with `$`
-- @param v any JSON value to place
-- @return any|nil the new document, or nil, string on failure
function M.set(doc, path, v)
  local c, err = compile(path)
  if not c then return nil, err end
  if c.context then return nil, "cannot set a value in the context object ('" .. c.text .. "')" end
  if not c.reference then
    return nil, "'" .. c.text .. "' is not a reference path (only .field, ['field'] and [index] steps)"
  end
  if #c.steps == 0 then return v end
  return set_in(c, doc, 1, v)
end

return M
