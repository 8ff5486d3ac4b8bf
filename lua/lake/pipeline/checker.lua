--- A problem collector for one file of a pipeline (config.yml,
-- requirements.json, shared/manifest.json): it knows the file and the line
-- of every key and list item (host.yaml's marks), and collects every
-- problem as { file, line, key, msg } instead of stopping at the first.
--
-- The checks below record "expected X, got Y"-style messages with the
-- dotted key they concern ("steps.RouteFile.properties.next_step") and
-- answer whether the value was right, so callers go on with what they can.
local json = require("host.json")
local util = require("lake.util")

local M = {}

local Checker = {}
Checker.__index = Checker
Checker.__name = "lake.pipeline.checker"

-- " (did you mean 'x'?)" when x is close to word and not a wholly
-- different short word ('Z' does not suggest 'C').
function M.suggest(word, candidates)
  local s = util.did_you_mean(word, candidates)
  if s and util.distance(word:lower(), s:lower()) >= #word then return "" end
  return s and (" (did you mean '%s'?)"):format(s) or ""
end

--- A checker for one file.
-- @param file string the file as the user would type it
-- @param marks table|function|nil host.yaml marks (marks[tbl] = {line=, keys=|items= (lines by
--   key or index)}), or a function that makes them when a line is first asked for
function M.new(file, marks)
  local c = setmetatable({ file = file, problems = {}, warnings = {} }, Checker)
  if type(marks) == "function" then c.make_marks = marks else c.marks = marks or {} end
  return c
end

-- The marks, made when first needed.
local function marks_of(c)
  if not c.marks then
    c.marks = c.make_marks()
    c.make_marks = nil
  end
  return c.marks
end

--- Records a problem. file defaults to the checker's file.
function Checker:add(line, key, msg, file)
  self.problems[#self.problems + 1] = { file = file or self.file, line = line, key = key, msg = msg }
end

--- Records a warning: something that deploys but may not do what was
-- meant (a choice without default). Warnings never fail a command.
function Checker:warn(line, key, msg, file)
  self.warnings[#self.warnings + 1] = { file = file or self.file, line = line, key = key, msg = msg }
end

--- Line of key (a string key or a 1-based list index) inside tbl, else of tbl.
function Checker:line_of(tbl, key, fallback)
  local m = type(tbl) == "table" and marks_of(self)[tbl]
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
    local m = marks_of(self)[v]
    if m and m.keys then return "mapping" end
    if m and m.items then return "list" end
    if next(v) == nil then return "empty" end
    return #v > 0 and "list" or "mapping"
  end
  return "null"
end

M.ARTICLE = { mapping = "a mapping", list = "a list", string = "a string", integer = "an integer",
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
  self:add(line, key, ("expected %s, got %s%s"):format(M.ARTICLE[want], M.ARTICLE[k], hint))
  return false
end

--- Records unknown keys of a mapping, with a did-you-mean when one is close.
-- @param allowed array of the keys allowed, in the order the message lists them
-- @param reported array|nil keys refused with a message of their own: not listed again
function Checker:unknown_keys(tbl, allowed, path, reported)
  local unknown
  for k in pairs(tbl) do
    if not util.contains(allowed, k) and not (reported and util.contains(reported, k)) then
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

--- tbl[key] as a non-empty list: records "is required", a value that is
-- not a list, or `empty` (what an empty one lacks) at its line.
-- @return the list and its line | nil
function Checker:required_list(tbl, key, path, line, empty)
  local v = self:required(tbl, key, path, line)
  if v == nil then return nil end
  local vl, k = self:line_of(tbl, key, line), (path ~= "" and path .. "." or "") .. key
  if not self:expect(v, "list", vl, k) then return nil end
  if #v == 0 then
    self:add(vl, k, empty)
    return nil
  end
  return v, vl
end

--- Checks an enumerated string value.
function Checker:enum(v, values, line, key)
  if not self:expect(v, "string", line, key) then return false end
  if util.contains(values, v) then return true end
  self:add(line, key, ("expected one of %s, got '%s'%s"):format(table.concat(values, ", "), v,
    M.suggest(v, values)))
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
    if type(x) ~= "string" then
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

return M
