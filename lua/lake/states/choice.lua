--- Choice rules: checking them in a definition and evaluating them.
--
-- A rule is a boolean combination (And, Or, Not) or a comparison of the
-- value at Variable with a literal or, for the *Path operators, with the
-- value at another path. A comparison of values of the wrong type is false
-- (Step Functions never converts); a Variable, or a *Path operand, that
-- selects nothing is a States.Runtime failure, except for IsPresent.
local jsonpath = require("lake.states.jsonpath")
local timestamp = require("lake.states.timestamp")
local util = require("lake.util")
local value = require("lake.states.value")

local M = {}

-- operator -> {type of the operands, comparison}
local OPS = {}
for _, kind in ipairs({ "String", "Numeric", "Timestamp" }) do
  for suffix, cmp in pairs({ Equals = "eq", LessThan = "lt", GreaterThan = "gt",
                             LessThanEquals = "le", GreaterThanEquals = "ge" }) do
    OPS[kind .. suffix] = { kind = kind, cmp = cmp }
    OPS[kind .. suffix .. "Path"] = { kind = kind, cmp = cmp, path = true }
  end
end
OPS.BooleanEquals = { kind = "Boolean", cmp = "eq" }
OPS.BooleanEqualsPath = { kind = "Boolean", cmp = "eq", path = true }
OPS.StringMatches = { kind = "String", cmp = "matches" }
for _, test in ipairs({ "IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp" }) do
  OPS[test] = { kind = "Test", cmp = test }
end

--- Every comparison operator, sorted.
M.operators = util.sorted_keys(OPS)

local COMBINATORS = { And = true, Or = true, Not = true }

local function problem(problems, where, fmt, ...)
  problems[#problems + 1] = where .. ": " .. string.format(fmt, ...)
end

local function check_rule(rule, where, top, problems)
  if value.kind(rule) ~= "object" then
    problem(problems, where, "a Choice rule must be an object")
    return
  end
  local ops, combos = {}, {}
  for _, key in ipairs(util.sorted_keys(rule)) do
    if OPS[key] then
      ops[#ops + 1] = key
    elseif COMBINATORS[key] then
      combos[#combos + 1] = key
    elseif key ~= "Variable" and key ~= "Next" and key ~= "Comment" then
      local hint = util.did_you_mean(key, M.operators)
      problem(problems, where, "unknown field '%s'%s", key, hint and " (did you mean '" .. hint .. "'?)" or "")
    end
  end
  if top then
    if type(rule.Next) ~= "string" then problem(problems, where, "a top-level Choice rule needs Next") end
  elseif rule.Next ~= nil then
    problem(problems, where, "Next is allowed only in a top-level Choice rule")
  end
  if #ops + #combos ~= 1 then
    if #ops + #combos == 0 then
      problem(problems, where, "a Choice rule needs one comparison operator, And, Or or Not")
    else
      local all = {}
      for _, k in ipairs(ops) do all[#all + 1] = k end
      for _, k in ipairs(combos) do all[#all + 1] = k end
      problem(problems, where, "a Choice rule takes exactly one operator, got %s", table.concat(all, ", "))
    end
    return
  end
  if #combos == 1 then
    local op = combos[1]
    if rule.Variable ~= nil then problem(problems, where, "%s does not take a Variable", op) end
    if op == "Not" then
      check_rule(rule.Not, where .. ".Not", false, problems)
    elseif value.kind(rule[op]) ~= "array" or #rule[op] == 0 then
      problem(problems, where, "%s must be a non-empty array of Choice rules", op)
    else
      for i, sub in ipairs(rule[op]) do
        check_rule(sub, string.format("%s.%s[%d]", where, op, i - 1), false, problems)
      end
    end
    return
  end
  local op = ops[1]
  local spec = OPS[op]
  if type(rule.Variable) ~= "string" then
    problem(problems, where, "%s needs a Variable (a path)", op)
  else
    local _, err = jsonpath.parse(rule.Variable)
    if err then problem(problems, where, "Variable: %s", err) end
  end
  local operand = rule[op]
  if spec.path then
    local _, err = jsonpath.parse(operand)
    if err then problem(problems, where, "%s: %s", op, err) end
  elseif spec.kind == "String" and type(operand) ~= "string" then
    problem(problems, where, "%s needs a string", op)
  elseif spec.kind == "Numeric" and type(operand) ~= "number" then
    problem(problems, where, "%s needs a number", op)
  elseif (spec.kind == "Boolean" or spec.kind == "Test") and type(operand) ~= "boolean" then
    problem(problems, where, "%s needs true or false", op)
  elseif spec.kind == "Timestamp" and not timestamp.parse(operand) then
    problem(problems, where, "%s needs an RFC 3339 timestamp such as \"2016-08-18T17:33:00Z\"", op)
  end
end

--- Checks one rule of a Choice state's Choices (top = true) or a nested one.
-- @param rule any
-- @param where string prefix of messages
-- @param top boolean
-- @param problems table array the messages are appended to
function M.check(rule, where, top, problems)
  check_rule(rule, where, top, problems)
end

-- Glob match of StringMatches: '*' matches any run of characters; "\*" is a
-- literal star and "\\" a literal backslash.
local function glob(pattern, s)
  local tokens, i = {}, 1
  while i <= #pattern do
    local c = pattern:sub(i, i)
    if c == "\\" and (pattern:sub(i + 1, i + 1) == "*" or pattern:sub(i + 1, i + 1) == "\\") then
      tokens[#tokens + 1] = pattern:sub(i + 1, i + 1)
      i = i + 2
    elseif c == "*" then
      tokens[#tokens + 1] = false
      i = i + 1
    else
      tokens[#tokens + 1] = c
      i = i + 1
    end
  end
  -- iterative wildcard matching with backtracking to the last star
  local ti, si, star, mark = 1, 1, nil, 0
  while si <= #s do
    local t = tokens[ti]
    if t == false then
      star, mark = ti, si
      ti = ti + 1
    elseif t ~= nil and t == s:sub(si, si) then
      ti, si = ti + 1, si + 1
    elseif star then
      ti, mark = star + 1, mark + 1
      si = mark
    else
      return false
    end
  end
  while tokens[ti] == false do ti = ti + 1 end
  return ti > #tokens
end

local function is_kind(kind, v)
  if kind == "String" then return type(v) == "string" end
  if kind == "Numeric" then return type(v) == "number" end
  if kind == "Boolean" then return type(v) == "boolean" end
  return timestamp.parse(v) ~= nil
end

local function compare(kind, a, b)
  if kind == "Timestamp" then return timestamp.compare(a, b) end
  if a == b then return 0 end
  if kind == "Boolean" then return 1 end
  return a < b and -1 or 1
end

local function test(name, v)
  if name == "IsNull" then return v == value.null end
  if name == "IsNumeric" then return type(v) == "number" end
  if name == "IsString" then return type(v) == "string" end
  if name == "IsBoolean" then return type(v) == "boolean" end
  if name == "IsTimestamp" then return timestamp.parse(v) ~= nil end
  return true -- IsPresent
end

local function lookup(path, input, context)
  local p = assert(jsonpath.parse(path))
  return jsonpath.get(p.context and context or input, p)
end

local function eval(rule, input, context)
  if rule.And then
    for _, sub in ipairs(rule.And) do
      local ok, err = eval(sub, input, context)
      if ok == nil then return nil, err end
      if not ok then return false end
    end
    return true
  elseif rule.Or then
    for _, sub in ipairs(rule.Or) do
      local ok, err = eval(sub, input, context)
      if ok == nil then return nil, err end
      if ok then return true end
    end
    return false
  elseif rule.Not then
    local ok, err = eval(rule.Not, input, context)
    if ok == nil then return nil, err end
    return not ok
  end
  local op, spec
  for name, s in pairs(OPS) do
    if rule[name] ~= nil then op, spec = name, s end
  end
  local v, err = lookup(rule.Variable, input, context)
  if spec.kind == "Test" then
    if op == "IsPresent" then return (v ~= nil) == rule.IsPresent end
    if v == nil then
      return nil, string.format("Invalid path '%s' in the Variable of a Choice rule: %s", rule.Variable, err)
    end
    return test(op, v) == rule[op]
  end
  if v == nil then
    return nil, string.format("Invalid path '%s' in the Variable of a Choice rule: %s", rule.Variable, err)
  end
  local operand = rule[op]
  if spec.path then
    local found
    found, err = lookup(operand, input, context)
    if found == nil then
      return nil, string.format("Invalid path '%s' in %s of a Choice rule: %s", operand, op, err)
    end
    operand = found
  end
  if not is_kind(spec.kind, v) or not is_kind(spec.kind, operand) then return false end
  if spec.cmp == "matches" then return glob(operand, v) end
  local c = compare(spec.kind, v, operand)
  if spec.cmp == "eq" then return c == 0 end
  if spec.kind == "Boolean" then return false end
  if spec.cmp == "lt" then return c < 0 end
  if spec.cmp == "gt" then return c > 0 end
  if spec.cmp == "le" then return c <= 0 end
  return c >= 0
end

--- Evaluates a checked rule.
-- @param rule table
-- @param input any the effective input of the Choice state
-- @param context table the context object ($$ paths)
-- @return boolean|nil whether the rule matches, or nil, string when a path selects nothing
function M.eval(rule, input, context)
  return eval(rule, input, context)
end

return M
