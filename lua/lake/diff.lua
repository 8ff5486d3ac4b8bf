--- Template differences: resources added, removed and changed, with the
-- property paths that changed. Pure.
--
-- A property whose value is a JSON document held in a string (a state
-- machine's DefinitionString, a policy given as text) is compared as a
-- document when both sides parse: the string itself, or the text of an
-- Fn::Sub / Fn::Join over it, whose `${...}` placeholders and intrinsic
-- parts stay opaque strings. A change then lists the paths inside the
-- document that differ, and for Amazon States Language the states added
-- and removed, instead of the two whole strings. When a side does not
-- parse, the two values are shown whole, as any other change.
local util = require("lake.util")
local json = require("host.json")

local M = {}

local function is_table(t) return type(t) == "table" end

--- True when t is a JSON array (decoded as one, or a plain Lua sequence).
local function is_array(t)
  if type(t) ~= "table" then return false end
  local mt = getmetatable(t)
  if mt == json.array_mt then return true end
  if mt == json.object_mt then return false end
  local n = #t
  if n == 0 then return false end
  local c = 0
  for _ in pairs(t) do c = c + 1 end
  return c == n
end

local function is_object(t) return is_table(t) and not is_array(t) end

--- A value as one line of JSON text (strings quoted, null as null).
local function render(v)
  if v == nil then return "(none)" end
  return json.encode(v)
end
M.render = render

local function same(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  return json.encode(a) == json.encode(b)
end

---------------------------------------------------------------------------
-- JSON documents in strings

-- Marks an opaque part (a placeholder, an intrinsic) in the text to parse;
-- after parsing, each mark is replaced by the part's text.
local MARK = "@@lakehost-part-"
local MARK_PATTERN = "@@lakehost%-part%-(%d+)@@"

--- How an intrinsic reads inside a document: ${Name} for Ref, ${Name.Attr}
-- for Fn::GetAtt, ${<its JSON>} for anything else.
local function placeholder(v)
  if is_object(v) then
    local k = next(v)
    if next(v, k) == nil then
      local arg = v[k]
      if k == "Ref" and type(arg) == "string" then return "${" .. arg .. "}" end
      if k == "Fn::GetAtt" then
        if type(arg) == "string" then return "${" .. arg .. "}" end
        if is_array(arg) and #arg == 2 and type(arg[1]) == "string" and type(arg[2]) == "string" then
          return "${" .. arg[1] .. "." .. arg[2] .. "}"
        end
      end
    end
  end
  return "${" .. json.encode(v) .. "}"
end

local text_of

-- The text of an Fn::Sub argument: a template, or [template, variables].
local function sub_text(arg, parts)
  local tmpl, vars = arg, nil
  if is_array(arg) then tmpl, vars = arg[1], arg[2] end
  if type(tmpl) ~= "string" or (vars ~= nil and not is_object(vars)) then return nil end
  local text = tmpl:gsub("%${([^}]*)}", function(name)
    if name:sub(1, 1) == "!" then return nil end -- ${!Literal}: kept as written
    local v = vars and vars[name]
    if type(v) == "string" then return v end -- CloudFormation puts the text in
    local shown = "${" .. name .. "}"
    if v ~= nil then
      -- a variable's value can itself be text (a nested Fn::Sub or Fn::Join)
      local inner = text_of(v, parts)
      if inner == nil then shown = placeholder(v) else return inner end
    end
    parts[#parts + 1] = shown
    return MARK .. #parts .. "@@"
  end)
  return text
end

--- The text of a template value with opaque parts marked, or nil when the
-- value is not text (a number, an object other than Fn::Sub / Fn::Join).
function text_of(v, parts)
  if type(v) == "string" then return v end
  if not is_object(v) then return nil end
  local k = next(v)
  if k == nil or next(v, k) ~= nil then return nil end
  local arg = v[k]
  if k == "Fn::Sub" then return sub_text(arg, parts) end
  if k == "Fn::Join" then
    if not (is_array(arg) and #arg == 2 and type(arg[1]) == "string" and is_array(arg[2])) then return nil end
    local out = {}
    for i, p in ipairs(arg[2]) do
      local t = text_of(p, parts)
      if t == nil then
        parts[#parts + 1] = placeholder(p)
        t = MARK .. #parts .. "@@"
      end
      out[i] = t
    end
    return table.concat(out, arg[1])
  end
  return nil
end

-- Quotes the marks that stand outside a JSON string (`"a": ${v1}`), so the
-- text parses with the part as an opaque string.
local function quote_loose_marks(text)
  if not text:find(MARK, 1, true) then return text end
  local out, from, i = {}, 1, 1
  local in_string = false
  while true do
    local s = text:find(in_string and '[\\"]' or '["@]', i)
    if not s then break end
    local c = text:sub(s, s)
    if in_string then
      if c == "\\" then i = s + 2 else
        in_string = false
        i = s + 1
      end
    elseif c == '"' then
      in_string = true
      i = s + 1
    elseif text:sub(s, s + #MARK - 1) == MARK then
      local _, e = text:find("^%d+@@", s + #MARK)
      if not e then break end
      out[#out + 1] = text:sub(from, s - 1)
      out[#out + 1] = '"' .. text:sub(s, e) .. '"'
      from, i = e + 1, e + 1
    else
      i = s + 1
    end
  end
  out[#out + 1] = text:sub(from)
  return table.concat(out)
end

-- Puts each part's text in the place of its mark, in strings and keys.
local function unmark(v, parts)
  if type(v) == "string" then
    if not v:find(MARK, 1, true) then return v end
    return (v:gsub(MARK_PATTERN, function(n) return parts[tonumber(n)] end))
  end
  if type(v) ~= "table" then return v end
  local out = setmetatable({}, getmetatable(v))
  for k, x in pairs(v) do out[unmark(k, parts)] = unmark(x, parts) end
  return out
end

--- The JSON document (object or array) a template value holds as text: a
-- string, or an Fn::Sub / Fn::Join whose text is JSON once each `${...}`
-- placeholder and intrinsic part is read as an opaque string.
-- @param v any template value
-- @return table the decoded document | nil when v holds none
function M.document(v)
  local parts = {}
  local text = text_of(v, parts)
  if text == nil or not text:find("^%s*[%[{]") then return nil end
  local doc = json.decode(quote_loose_marks(text), "document")
  if not is_table(doc) then return nil end
  if #parts > 0 then doc = unmark(doc, parts) end
  return doc
end

--- True when doc is a state machine definition (Amazon States Language).
local function is_asl(doc) return is_object(doc) and type(doc.StartAt) == "string" and is_object(doc.States) end
M.is_asl = is_asl

---------------------------------------------------------------------------
-- The walk

local function join(path, key)
  if path == "" then return tostring(key) end
  return path .. "." .. tostring(key)
end

-- The encoded text of an array element, and of each of its fields.
local function element_key(v)
  if not is_table(v) then return v, nil end
  local fields
  if is_object(v) then
    fields = {}
    for k, x in pairs(v) do fields[k] = is_table(x) and json.encode(x) or x end
  end
  return json.encode(v), fields
end

-- How alike two elements are: 2 when equal, else the share of fields two
-- objects have in common (0 to 1), else 0.
local function likeness(ka, kb, fa, fb)
  if ka == kb then return 2 end
  if not (fa and fb) then return 0 end
  local common, na, nb = 0, 0, 0
  for k, x in pairs(fa) do
    na = na + 1
    if fb[k] == x then common = common + 1 end
  end
  for _ in pairs(fb) do nb = nb + 1 end
  return common / math.max(na, nb)
end

-- Aligns two arrays: the pairs {i, j} of elements that correspond, in
-- order, chosen to be as alike as possible (equal ones first); nil when the
-- arrays are too long to align (they are then compared index by index).
local function align(a, b)
  local n, m = #a, #b
  if n * m > 40000 then return nil end
  local ka, kb, fa, fb = {}, {}, {}, {}
  for i = 1, n do ka[i], fa[i] = element_key(a[i]) end
  for j = 1, m do kb[j], fb[j] = element_key(b[j]) end
  local score, best = {}, {}
  for i = n + 1, 1, -1 do
    best[i], score[i] = {}, {}
    for j = m + 1, 1, -1 do
      if i > n or j > m then
        best[i][j] = 0
      else
        local s = likeness(ka[i], kb[j], fa[i], fb[j])
        score[i][j] = s
        local v = math.max(best[i + 1][j], best[i][j + 1])
        if s > 0 then v = math.max(v, best[i + 1][j + 1] + s) end
        best[i][j] = v
      end
    end
  end
  local out, i, j = {}, 1, 1
  while i <= n and j <= m do
    local s = score[i][j]
    if s > 0 and best[i][j] == best[i + 1][j + 1] + s then
      out[#out + 1] = { i, j }
      i, j = i + 1, j + 1
    elseif best[i + 1][j] >= best[i][j + 1] then
      i = i + 1
    else
      j = j + 1
    end
  end
  return out
end

local walk

-- Compares two arrays: corresponding elements are aligned, so an element
-- inserted or removed is one change, not a change at every later index.
-- Between aligned elements, runs of the same length pair up by position
-- (a value changed in place); other runs are elements added or removed.
local function walk_arrays(a, b, path, ctx)
  local function at(p, i) return ("%s[%d]"):format(p, i - 1) end
  local kept = align(a, b)
  if not kept then
    for i = 1, math.max(#a, #b) do walk(a[i], b[i], at(path, i), ctx) end
    return
  end
  kept[#kept + 1] = { #a + 1, #b + 1 }
  local i, j = 1, 1
  for _, k in ipairs(kept) do
    if k[1] - i == k[2] - j then
      while i < k[1] do
        walk(a[i], b[j], at(path, j), ctx)
        i, j = i + 1, j + 1
      end
    end
    while i < k[1] do
      walk(a[i], nil, at(path, i), ctx)
      i = i + 1
    end
    while j < k[2] do
      walk(nil, b[j], at(path, j), ctx)
      j = j + 1
    end
    if k[1] <= #a then walk(a[k[1]], b[k[2]], at(path, k[2]), ctx) end
    i, j = k[1] + 1, k[2] + 1
  end
end

-- Compares the States of two state machine definitions (or of a Parallel
-- branch, a Map's iterator): states added and removed by name, the others
-- walked with their own path.
local function walk_states(a, b, path, ctx)
  a, b = is_object(a) and a or {}, is_object(b) and b or {}
  local doc = ctx.doc
  for name, s in util.spairs(b) do
    if a[name] == nil then
      doc.states_added[#doc.states_added + 1] = { path = join(path, name), name = name,
        type = is_object(s) and s.Type or nil }
    end
  end
  for name, s in util.spairs(a) do
    if b[name] == nil then
      doc.states_removed[#doc.states_removed + 1] = { path = join(path, name), name = name,
        type = is_object(s) and s.Type or nil }
    end
  end
  for name, s in util.spairs(b) do
    if a[name] ~= nil and not same(a[name], s) then
      doc.states_changed[#doc.states_changed + 1] = join(path, name)
      walk(a[name], s, join(path, name), ctx)
    end
  end
end

local document_change

-- A string, or an object that may be text (Fn::Sub, Fn::Join).
local function textual(v)
  return type(v) == "string" or (is_object(v) and (v["Fn::Sub"] ~= nil or v["Fn::Join"] ~= nil))
end

--- Appends { path=, old=, new= } to ctx.out for every leaf that differs
-- (old or new nil: added or removed), and { path=, old=, new=, doc= } for
-- a JSON document in a string whose content differs.
function walk(a, b, path, ctx)
  if a == b then return end
  if a ~= nil and b ~= nil and not ctx.doc and textual(a) and textual(b) and not same(a, b) then
    -- text that holds a JSON document, on both sides (in a template, not
    -- inside a document already)
    local da = M.document(a)
    local db = da and M.document(b)
    if da and db then
      ctx.out[#ctx.out + 1] = document_change(da, db, path, a, b)
      return
    end
  end
  if is_array(a) and is_array(b) then return walk_arrays(a, b, path, ctx) end
  if not (is_object(a) and is_object(b)) then
    if not same(a, b) then ctx.out[#ctx.out + 1] = { path = path, old = a, new = b } end
    return
  end
  local states = ctx.doc and (is_asl(a) or is_asl(b))
  local keys = {}
  for k in pairs(a) do keys[k] = true end
  for k in pairs(b) do keys[k] = true end
  for k in util.spairs(keys) do
    if states and k == "States" then
      walk_states(a[k], b[k], join(path, k), ctx)
    else
      walk(a[k], b[k], join(path, k), ctx)
    end
  end
end

--- The change of a JSON document held in a string.
function document_change(da, db, path, old, new)
  local doc = { format = (is_asl(da) and is_asl(db)) and "asl" or "json", changes = {}, states_added = {},
    states_removed = {}, states_changed = {} }
  walk(da, db, "", { out = doc.changes, doc = doc })
  return { path = path, old = old, new = new, doc = doc }
end

--- The differences between two JSON documents (decoded), as a template
-- property holding them would show them.
-- @return { format = "asl"|"json", changes = { {path, old, new} }, states_added = { {path, name, type} },
--   states_removed = {...}, states_changed = { paths } }
function M.documents(old, new)
  return document_change(old, new, "", nil, nil).doc
end

--- Compares two templates (Lua tables).
-- @param old table|nil the deployed template (nil: the stack does not exist)
-- @param new table the synthesized template
-- @return { added = {ids}, removed = {ids}, changed = { {id=, type=, changes = { {path, old, new, doc} }} }, other = {...} }
function M.templates(old, new)
  old = old or { Resources = {} }
  local res = { added = {}, removed = {}, changed = {}, other = {} }
  local ro, rn = old.Resources or {}, new.Resources or {}
  for id, r in util.spairs(rn) do
    if not ro[id] then
      res.added[#res.added + 1] = { id = id, type = r.Type }
    elseif not same(ro[id], r) then
      local changes = {}
      walk(ro[id], r, "", { out = changes })
      if #changes > 0 then res.changed[#res.changed + 1] = { id = id, type = r.Type, changes = changes } end
    end
  end
  for id, r in util.spairs(ro) do
    if not rn[id] then res.removed[#res.removed + 1] = { id = id, type = r.Type } end
  end
  for _, section in ipairs({ "Outputs", "Parameters", "Conditions", "Mappings" }) do
    walk(old[section], new[section], section, { out = res.other })
  end
  return res
end

--- True when d (from M.templates) holds any difference.
function M.differs(d) return #d.added + #d.removed + #d.changed + #d.other > 0 end

---------------------------------------------------------------------------
-- Text

local function plural(n, word) return ("%d %s%s"):format(n, word, n == 1 and "" or "s") end

-- One changed value: "path: old -> new"; marked, "+ path: new",
-- "- path: old" or "~ path: old -> new".
local function leaf_line(indent, c, marked)
  if marked and c.old == nil then return ("%s+ %s: %s"):format(indent, c.path, render(c.new)) end
  if marked and c.new == nil then return ("%s- %s: %s"):format(indent, c.path, render(c.old)) end
  return ("%s%s%s: %s -> %s"):format(indent, marked and "~ " or "", c.path, render(c.old), render(c.new))
end

-- The lines of a document change: a summary, then the states added and
-- removed and every path that differs inside.
local function document_lines(lines, head, indent, c)
  local d = c.doc
  local what
  if d.format == "asl" then
    local counts = {}
    if #d.states_added > 0 then counts[#counts + 1] = plural(#d.states_added, "state") .. " added" end
    if #d.states_removed > 0 then counts[#counts + 1] = plural(#d.states_removed, "state") .. " removed" end
    if #d.states_changed > 0 then counts[#counts + 1] = plural(#d.states_changed, "state") .. " changed" end
    what = "state machine definition" .. (#counts > 0 and (" (" .. table.concat(counts, ", ") .. ")") or "")
  else
    what = "JSON document"
  end
  if #d.changes + #d.states_added + #d.states_removed == 0 then
    what = what .. ": the same document in other text"
  end
  lines[#lines + 1] = ("%s%s: %s"):format(head, c.path, what)
  local inner = indent .. "  "
  for _, s in ipairs(d.states_added) do
    lines[#lines + 1] = ("%s+ %s%s"):format(inner, s.path, s.type and (" (" .. tostring(s.type) .. ")") or "")
  end
  for _, s in ipairs(d.states_removed) do
    lines[#lines + 1] = ("%s- %s%s"):format(inner, s.path, s.type and (" (" .. tostring(s.type) .. ")") or "")
  end
  for _, x in ipairs(d.changes) do lines[#lines + 1] = leaf_line(inner, x, true) end
end

--- Human-readable lines for a stack's diff.
function M.format(name, d)
  local lines = {}
  if not M.differs(d) then
    return { ("%s: no differences"):format(name) }
  end
  lines[#lines + 1] = name
  for _, r in ipairs(d.added) do lines[#lines + 1] = ("  + %s (%s)"):format(r.id, r.type) end
  for _, r in ipairs(d.removed) do lines[#lines + 1] = ("  - %s (%s)"):format(r.id, r.type) end
  for _, r in ipairs(d.changed) do
    lines[#lines + 1] = ("  ~ %s (%s)"):format(r.id, r.type)
    for _, c in ipairs(r.changes) do
      if c.doc then document_lines(lines, "      ", "      ", c) else lines[#lines + 1] = leaf_line("      ", c) end
    end
  end
  for _, c in ipairs(d.other) do
    if c.doc then document_lines(lines, "  ~ ", "    ", c) else lines[#lines + 1] = leaf_line("  ~ ", c) end
  end
  return lines
end

---------------------------------------------------------------------------
-- JSON

--- Values whose JSON text is longer than this are given by size only.
M.SMALL = 1024

local function put_value(out, key, v)
  if v == nil then return end
  local text = json.encode(v)
  if #text <= M.SMALL then out[key] = v else out[key .. "_bytes"] = #text end
end

local function change_json(c)
  local out = { path = c.path, kind = c.old == nil and "added" or c.new == nil and "removed" or "changed" }
  if c.doc then
    local d = c.doc
    out.document = d.format
    local changes = {}
    for i, x in ipairs(d.changes) do changes[i] = change_json(x) end
    out.changes = json.array(changes)
    if d.format == "asl" then
      local function states(list)
        local t = {}
        for i, s in ipairs(list) do t[i] = { path = s.path, name = s.name, type = s.type } end
        return json.array(t)
      end
      out.states = { added = states(d.states_added), removed = states(d.states_removed),
        changed = json.array(util.copy(d.states_changed)) }
    end
    return out
  end
  put_value(out, "old", c.old)
  put_value(out, "new", c.new)
  return out
end

--- A stack's diff as a JSON-ready table.
-- @param name string the stack
-- @param d table from M.templates
-- @param is_new boolean the stack is not deployed
-- @return { name, status = "new"|"changed"|"unchanged", resources = { added, removed, changed }, other }
function M.to_json(name, d, is_new)
  local function resources(list)
    local t = {}
    for i, r in ipairs(list) do t[i] = { id = r.id, type = r.type } end
    return json.array(t)
  end
  local changed = {}
  for i, r in ipairs(d.changed) do
    local changes = {}
    for k, c in ipairs(r.changes) do changes[k] = change_json(c) end
    changed[i] = { id = r.id, type = r.type, changes = json.array(changes) }
  end
  local other = {}
  for i, c in ipairs(d.other) do other[i] = change_json(c) end
  return {
    name = name,
    status = is_new and "new" or (M.differs(d) and "changed" or "unchanged"),
    resources = { added = resources(d.added), removed = resources(d.removed), changed = json.array(changed) },
    other = json.array(other),
  }
end

return M
