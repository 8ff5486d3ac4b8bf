--- The choice step: the first rule that matches the state goes on to its
-- next_step; when none does, the `default` step, or, without one, the
-- execution fails with States.NoChoiceMatched (as on AWS).
--
--   RouteChoice:
--     type: choice
--     properties:
--       choices:
--         - { variable: route, equals: type1, next_step: ProcessType1 }
--         - variable: size
--           numeric_greater_than: 1000000
--           next_step: ProcessBig
--         - and:
--             - { variable: day, timestamp_less_than_path: $.cutoff }
--             - not: { variable: late, is_present: true }
--           next_step: ProcessOnTime
--       default: ProcessOther
--
-- A rule is `variable` (a key of the state such as route or file.type, or a
-- JSONPath) with exactly one comparison, or exactly one of and / or (a list
-- of rules) / not (one rule). Every comparison of the Amazon States Language
-- is here in snake_case (string_equals -> StringEquals); each *_path form
-- names the field to compare with. `equals` is string_equals, as the
-- original template wrote it. Only top-level rules have a next_step.
local asl_choice = require("lake.states.choice")
local checker = require("lake.pipeline.checker")
local config = require("lake.pipeline.config")
local jsonpath = require("lake.states.jsonpath")
local json = require("host.json")
local timestamp = require("lake.states.timestamp")
local util = require("lake.util")

local M = { name = "choice", summary = "goes on to the step of the first choice rule that matches the state" }

M.keys = { "choices", "default" }

--- The comparisons: snake_case key -> ASL operator, from the interpreter's
-- list (lake.states.choice), so the two never disagree.
M.OPERATORS = {}
local OP_KEYS = {}
for _, op in ipairs(asl_choice.operators) do
  local key = op:gsub("(%l)(%u)", "%1_%2"):lower()
  M.OPERATORS[key] = op
  OP_KEYS[#OP_KEYS + 1] = key
end
M.OPERATORS.equals = "StringEquals"
table.sort(OP_KEYS)
table.insert(OP_KEYS, 1, "equals")
M.OPERATOR_KEYS = OP_KEYS
M.COMBINATORS = { ["and"] = "And", ["or"] = "Or", ["not"] = "Not" }

local RULE_KEYS = { "variable" }
for _, k in ipairs(OP_KEYS) do RULE_KEYS[#RULE_KEYS + 1] = k end
for _, k in ipairs({ "and", "or", "not" }) do RULE_KEYS[#RULE_KEYS + 1] = k end
local TOP_KEYS = util.copy(RULE_KEYS)
TOP_KEYS[#TOP_KEYS + 1] = "next_step"
M.RULE_KEYS, M.TOP_RULE_KEYS = RULE_KEYS, TOP_KEYS

-- The kind of operand an operator takes: "string", "number", "boolean",
-- "timestamp", "pattern" or "path".
local function operand_kind(op)
  if op:match("Path$") then return "path" end
  if op == "StringMatches" then return "pattern" end
  if op:match("^String") then return "string" end
  if op:match("^Numeric") then return "number" end
  if op:match("^Timestamp") then return "timestamp" end
  return "boolean" -- BooleanEquals and the Is* tests
end
M.operand_kind = operand_kind

---------------------------------------------------------------------------
-- config.yml

--- A JSONPath of the state ("$.a.b", "$$.Execution.Name"), or nil, why not.
local function json_path(v)
  if type(v) ~= "string" or v:sub(1, 1) ~= "$" then return nil, "is not a JSONPath (such as $.file.size)" end
  local _, err = jsonpath.parse(v)
  if err then return nil, ("is not a valid JSONPath: %s"):format(err) end
  return v
end

--- Why a StringMatches pattern is invalid: only '*' (any characters) and
-- the escapes '\*' and '\\' are special, so any other backslash is a mistake.
function M.pattern_problem(p)
  local i = 1
  while i <= #p do
    if p:sub(i, i) == "\\" then
      local n = p:sub(i + 1, i + 1)
      if n ~= "*" and n ~= "\\" then
        return n == "" and "ends with a lone backslash (write \\\\ for a backslash)"
          or ("has '\\%s': only \\* (a star) and \\\\ (a backslash) are escapes"):format(n)
      end
      i = i + 2
    else
      i = i + 1
    end
  end
  return nil
end

-- Checks the operand of op at key of rule; returns it (normalised) or nil.
local function check_operand(ck, rule, key, op, line, ckey)
  local v, kind = rule[key], operand_kind(op)
  local where = ckey .. "." .. key
  if kind == "path" then
    local p, why = json_path(v)
    if not p then
      ck:add(line, where, ("'%s' %s"):format(tostring(v), why))
      return nil
    end
    return p
  end
  if kind == "number" then
    local k = ck:kind(v)
    if k ~= "integer" and k ~= "number" then
      ck:add(line, where, ("expected a number, got %s%s"):format(checker.ARTICLE[k] or k,
        k == "string" and (" ('%s')"):format(v) or ""))
      return nil
    end
    return v
  end
  if kind == "boolean" then
    if not ck:expect(v, "boolean", line, where) then return nil end
    return v
  end
  if not ck:expect(v, "string", line, where) then return nil end
  if kind == "timestamp" and not timestamp.parse(v) then
    ck:add(line, where, ("'%s' is not an RFC 3339 timestamp (such as 2024-05-01T10:00:00Z or "
      .. "2024-05-01T12:00:00.5+02:00)"):format(v))
    return nil
  end
  if kind == "pattern" then
    local why = M.pattern_problem(v)
    if why then
      ck:add(line, where, ("'%s' is not a string_matches pattern: %s"):format(v, why))
      return nil
    end
  end
  return v
end

-- The `variable` of a rule: "$." .. a key of the state, or a JSONPath.
local function check_variable(ck, v, line, key)
  if not ck:expect(v, "string", line, key) then return nil end
  if v:sub(1, 1) == "$" then
    local p, why = json_path(v)
    if not p then ck:add(line, key, ("'%s' %s"):format(v, why)) end
    return p
  end
  for part in (v .. "."):gmatch("(.-)%.") do
    if not part:match(config.IDENT_PATTERN) then
      ck:add(line, key, ("'%s' is neither a key of the state (such as route or file.type) nor a JSONPath "
        .. "(such as $.file.size)"):format(v))
      return nil
    end
  end
  return "$." .. v
end

-- Checks one rule (a mapping); returns the normalised rule or nil.
-- A normalised rule is { op =, variable =, value = } or { combinator =, rules = }.
local function check_rule(ck, r, line, key, top)
  if not ck:expect(r, "mapping", line, key) then return nil end
  ck:unknown_keys(r, top and TOP_KEYS or RULE_KEYS, key, not top and { "next_step" } or nil)
  if not top and r.next_step ~= nil then
    ck:add(ck:line_of(r, "next_step", line), key .. ".next_step",
      "only a top-level rule has a next_step (a rule inside and, or, not is part of its parent's test)")
  end
  local found = {}
  for _, k in ipairs(OP_KEYS) do if r[k] ~= nil then found[#found + 1] = k end end
  for _, k in ipairs({ "and", "or", "not" }) do if r[k] ~= nil then found[#found + 1] = k end end
  if #found ~= 1 and r.variable ~= nil then
    check_variable(ck, r.variable, ck:line_of(r, "variable", line), key .. ".variable")
  end
  if #found == 0 then
    ck:add(line, key, "has no comparison: give variable and one of string_equals, numeric_greater_than, "
      .. "is_present, ... (see pipelines/README.md), or one of and, or, not")
    return nil
  end
  if #found > 1 then
    ck:add(ck:line_of(r, found[2], line), key, ("has %d comparisons (%s): a rule takes exactly one; "
      .. "combine them with and / or"):format(#found, table.concat(found, ", ")))
    return nil
  end
  local k = found[1]
  local kl = ck:line_of(r, k, line)
  local comb = M.COMBINATORS[k]
  if comb then
    if r.variable ~= nil then
      ck:add(ck:line_of(r, "variable", line), key .. ".variable",
        ("a rule with %s has no variable: each of its rules has its own"):format(k))
    end
    local v = r[k]
    if comb == "Not" then
      local sub = check_rule(ck, v, kl, key .. ".not", false)
      return sub and { combinator = comb, rules = { sub } }
    end
    if not ck:expect(v, "list", kl, key .. "." .. k) then return nil end
    if #v == 0 then
      ck:add(kl, key .. "." .. k, "needs at least one rule")
      return nil
    end
    local rules, ok = {}, true
    for i, sub in ipairs(v) do
      local s = check_rule(ck, sub, ck:line_of(v, i, kl), ("%s.%s[%d]"):format(key, k, i), false)
      if s then rules[#rules + 1] = s else ok = false end
    end
    return ok and { combinator = comb, rules = rules } or nil
  end
  local op = M.OPERATORS[k]
  local variable
  local vl = ck:line_of(r, "variable", line)
  if r.variable == nil then
    ck:add(line, key .. ".variable", ("is required (the field %s tests)"):format(k))
  else
    variable = check_variable(ck, r.variable, vl, key .. ".variable")
  end
  local value = check_operand(ck, r, k, op, kl, key)
  if variable == nil or value == nil then return nil end
  return { op = op, key = k, variable = variable, value = value }
end

function M.check(ck, props, step)
  local key, line = step.key .. ".properties", step.properties_line
  step.choices = {}
  if props.default ~= nil then
    local dl = ck:line_of(props, "default", line)
    if ck:expect(props.default, "string", dl, key .. ".default") then
      step.default, step.default_line, step.default_key = props.default, dl, key .. ".default"
    end
  end
  local choices, cl = ck:required_list(props, "choices", key, line, "needs at least one choice")
  if not choices then return end
  for i, c in ipairs(choices) do
    local ckey, il = ("%s.choices[%d]"):format(key, i), ck:line_of(choices, i, cl)
    local rule = check_rule(ck, c, il, ckey, true) or {}
    rule.index, rule.line = i, il
    if ck:kind(c) == "mapping" then
      local nx = ck:required(c, "next_step", ckey, il)
      if nx ~= nil and ck:expect(nx, "string", ck:line_of(c, "next_step", il), ckey .. ".next_step") then
        rule.next_step, rule.next_line, rule.next_key = nx, ck:line_of(c, "next_step", il), ckey .. ".next_step"
      end
    end
    step.choices[#step.choices + 1] = rule
  end
  if step.default == nil and ck.warn then
    ck:warn(line, key .. ".default", "none: when no choice matches, the execution fails with "
      .. "States.NoChoiceMatched (name a default step to go on instead)")
  end
end

--- A choice leads to the next_step of each of its choices, and to its default.
function M.edges(step)
  local out = {}
  for _, c in ipairs(step.choices or {}) do
    if c.next_step then out[#out + 1] = { to = c.next_step, line = c.next_line, key = c.next_key } end
  end
  if step.default then out[#out + 1] = { to = step.default, line = step.default_line, key = step.default_key } end
  return out
end

---------------------------------------------------------------------------
-- The state machine (a choice adds no resources)

local function asl_rule(r)
  if r.combinator then
    if r.combinator == "Not" then return { Not = asl_rule(r.rules[1]) } end
    local list = setmetatable({}, json.array_mt)
    for i, s in ipairs(r.rules) do list[i] = asl_rule(s) end
    return { [r.combinator] = list }
  end
  return { Variable = r.variable, [r.op] = r.value }
end
M.asl_rule = asl_rule

--- The Choice state: each rule in ASL, in order; Default when given.
function M.state(_, step)
  local choices = setmetatable({}, json.array_mt)
  for i, c in ipairs(step.choices) do
    local rule = asl_rule(c)
    rule.Next = c.next_step
    choices[i] = rule
  end
  return { Type = "Choice", Comment = "choice step", Choices = choices, Default = step.default }
end

---------------------------------------------------------------------------
-- The diagram: a rhombus, each rule's edge labelled with its test

local SYMBOL = { Equals = "=", LessThan = "<", GreaterThan = ">", LessThanEquals = "<=",
  GreaterThanEquals = ">=" }

local function field(path) return (path:gsub("^%$%.", "")) end

--- A short text for a rule ("size > 5", "route = type1 and not late present").
function M.describe(r)
  for _, c in ipairs({ "And", "Or" }) do
    if r[c] then
      local parts = {}
      for i, s in ipairs(r[c]) do
        local d = M.describe(s)
        parts[i] = (s.And or s.Or) and "(" .. d .. ")" or d
      end
      return table.concat(parts, " " .. c:lower() .. " ")
    end
  end
  if r.Not then return "not " .. M.describe(r.Not) end
  for _, op in ipairs(asl_choice.operators) do
    local v = r[op]
    if v ~= nil then
      local var = field(r.Variable)
      local test = op:match("^Is(%u%l+)$")
      if test then return ("%s %s%s"):format(var, v and "is " or "is not ", test:lower()) end
      local base = op:gsub("Path$", "")
      local kind, cmp = base:match("^(%u%l+)(.*)$")
      local rhs = op:match("Path$") and field(v) or (kind == "String" and v or tostring(v))
      if cmp == "Matches" then return ("%s matches %s"):format(var, rhs) end
      return ("%s %s %s"):format(var, SYMBOL[cmp] or cmp, rhs)
    end
  end
  return "?"
end

function M.diagram(d, _, state)
  d:node("rhombus")
  for _, c in ipairs(state.Choices) do d:edge(c.Next, M.describe(c)) end
  if state.Default then
    d:edge(state.Default, "default")
  else -- the execution fails there, without the catch
    d:line('%s -.->|"no match"| %snomatch(["States.NoChoiceMatched"]):::fail', d.id, d.id)
  end
end

return M
