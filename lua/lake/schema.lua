--- CloudFormation's resource types, from AWS's resource schemas
-- (data/resources, made by tools/resource_schemas.lua and built into the
-- binary): which types exist, their snake names ("sqs_queue" for
-- AWS::SQS::Queue), attributes and tagging, and the check of a resource's
-- properties against its schema.
--
-- A service's file is inflated from the binary the first time one of its
-- types is used, and a type's schema (one line of that file) decoded the
-- first time it is; the snake names are read only when a snake name is not
-- a kind of lua/resources.
--
-- The check reads the JSON Schema keywords the schemas use: type, $ref,
-- enum, const, pattern (ECMAScript, through PCRE2), lengths and bounds,
-- items, properties / patternProperties / additionalProperties, required,
-- oneOf / anyOf / allOf, dependencies, and cfn-lint's requiredXor,
-- requiredOr, dependentRequired and dependentExcluded. A token (Ref,
-- GetAtt, Sub, ...) stands for any value: CloudFormation decides it.
local embedded = require("host.embedded")
local json = require("host.json")
local regex = require("host.regex")
local token = require("lake.token")
local util = require("lake.util")

local M = {}

local is_token, TOKEN = token.is, token.metatable
local array_mt, object_mt = json.array_mt, json.object_mt

---------------------------------------------------------------------------
-- The data

local services = {} -- ["AWS::SQS"] = the file's text | false (no such service)
local schemas = {}  -- [type] = schema | false (no such type)

local function service(name)
  local text = services[name]
  if text == nil then
    text = embedded.file("data/resources/" .. name:gsub("::", "-") .. ".json") or false
    services[name] = text
  end
  return text or nil
end

local index -- { snake = { [snake] = type }, types = { [type] = snake }, list = { sorted types } }

local function names()
  if not index then
    local data = json.decode(assert(embedded.file("data/resources/index.json")))
    index = { snake = data.snake, types = {}, list = {}, source = data.source, version = data.version }
    for sn, typ in pairs(data.snake) do
      index.types[typ] = sn
      index.list[#index.list + 1] = typ
    end
    table.sort(index.list)
  end
  return index
end

--- The snake name of a type: AWS::EC2::VPCEndpoint -> ec2_vpc_endpoint
-- (the provider stays for types not of AWS: alexa_ask_skill). The index of
-- data/resources was made with this function (tools/resource_schemas.lua).
function M.snake(typ)
  local provider, svc, name = typ:match("^([^:]+)::([^:]+)::([^:]+)$")
  if not provider then return nil end
  local s = name:gsub("(%u+)(%u%l)", "%1_%2"):gsub("([%l%d])(%u)", "%1_%2"):lower()
  local head = svc:lower()
  if provider ~= "AWS" then head = provider:lower() .. "_" .. head end
  return head .. "_" .. s
end

--- Where the schemas come from: { source = "cfn-lint", version = "1.51.0", types = N }.
function M.source()
  local ix = names()
  return { source = ix.source, version = ix.version, types = #ix.list }
end

--- The CloudFormation type of a kind name: a type ("AWS::SQS::Queue") or
-- its snake name ("sqs_queue").
-- @return type, snake name | nil, message
function M.resolve(name)
  if type(name) ~= "string" then return nil, ("a resource kind is a string, got %s"):format(type(name)) end
  if name:find("::", 1, true) then
    if M.data(name) then return name, M.snake(name) end
    return nil, ("unknown resource type '%s'%s"):format(name, util.suggest(name, names().list))
  end
  local typ = names().snake[name]
  if typ then return typ, name end
  return nil, ("unknown resource kind '%s'%s"):format(name, util.suggest(name, util.sorted_keys(names().snake)))
end

--- The schema of a type as data/resources holds it, or nil. A service's
-- file holds one type a line, '"AWS::SQS::Queue":{...},'.
function M.data(typ)
  local s = schemas[typ]
  if s == nil then
    s = false
    local svc = type(typ) == "string" and typ:match("^([%w]+::[%w]+)::[%w]+$")
    local text = svc and service(svc)
    local key = text and ('\n"' .. typ .. '":')
    local at = key and text:find(key, 1, true)
    if at then
      local stop = text:find("\n", at + #key, true) or #text + 1
      local line = text:sub(at + #key, stop - 1)
      s = json.decode(line:sub(-1) == "," and line:sub(1, -2) or line, typ)
    end
    schemas[typ] = s
  end
  return s or nil
end

---------------------------------------------------------------------------
-- Values

local null = json.null

-- The JSON type of a Lua value: "string", "integer", "number", "boolean",
-- "array", "object", "empty" (a {} either may be) or "null".
local function json_type(v)
  local tv = type(v)
  if tv == "string" or tv == "boolean" then return tv end
  if tv == "number" then return (math.type(v) == "integer" or v % 1 == 0) and "integer" or "number" end
  if tv == "table" then
    local mt = getmetatable(v)
    if mt == array_mt then return "array" end
    if mt == object_mt then return "object" end
    if next(v) == nil then return "empty" end
    return #v > 0 and "array" or "object"
  end
  if v == null then return "null" end
  return tv
end

-- Does a value of JSON type jt fit the schema type t (a name or a list)?
local function fits(jt, t)
  if type(t) == "table" then
    for i = 1, #t do
      if fits(jt, t[i]) then return true end
    end
    return false
  end
  return jt == t or (t == "number" and jt == "integer") or (jt == "empty" and (t == "object" or t == "array"))
end

local WORD = { string = "a string", integer = "an integer", number = "a number", boolean = "a boolean",
  array = "a list", object = "an object", empty = "an empty table", null = "null" }

local function quote(v) return type(v) == "string" and ("'" .. v .. "'") or tostring(v) end

-- Compiled patterns, by their text (false: one PCRE2 cannot read, not checked).
local patterns = {}

local function pattern_ok(pattern, s)
  local re = patterns[pattern]
  if re == nil then
    re = regex.compile(pattern) or false
    patterns[pattern] = re
  end
  if not re then return true end
  return re:test(s) ~= false -- nil: too costly to decide, CloudFormation will
end

---------------------------------------------------------------------------
-- The check
--
-- The path of the value being checked is kept on a stack of keys, made into
-- "Prop.Sub[2].Key" only for a problem: most values have none.

local keys, indexed, depth = {}, {}, 0

local function push(k, is_index)
  depth = depth + 1
  keys[depth], indexed[depth] = k, is_index
end

local function pop() depth = depth - 1 end

local function here()
  local t = {}
  for i = 1, depth do
    local k = keys[i]
    t[i] = indexed[i] and ("[" .. k .. "]") or (i == 1 and tostring(k) or ("." .. tostring(k)))
  end
  return table.concat(t)
end

local function add(errs, fmt, ...)
  errs[#errs + 1] = { path = here(), msg = fmt:format(...) }
end

-- A problem of the key k of the value being checked.
local function add_at(errs, k, fmt, ...)
  push(k)
  add(errs, fmt, ...)
  pop()
end

local check

-- Errors v would have against s, in a list of their own.
local function errors_of(v, s, defs)
  local errs = {}
  check(v, s, errs, defs)
  return errs
end

-- "'A', 'B' or 'C'"
local function either(list, word)
  local t = {}
  for i, x in ipairs(list) do t[i] = "'" .. x .. "'" end
  if #t <= 1 then return t[1] or "" end
  return table.concat(t, ", ", 1, #t - 1) .. " " .. word .. " " .. t[#t]
end

-- Alternatives that only require properties ({ required = { "A" } }, ...):
-- their lists joined ("A + B"), or nil.
local function required_sets(alts)
  local sets = {}
  for i, a in ipairs(alts) do
    if not a.required then return nil end
    for k in pairs(a) do
      if k ~= "required" and k ~= "type" then return nil end
    end
    sets[i] = table.concat(a.required, " + ")
  end
  return sets
end

-- oneOf (exactly) / anyOf: the value must match one of the alternatives.
local function alternatives(v, alts, errs, defs, exactly)
  local best, matched = nil, 0
  for _, alt in ipairs(alts) do
    local e = errors_of(v, alt, defs)
    if #e == 0 then
      matched = matched + 1
    elseif not best or #e < #best then
      best = e
    end
  end
  if matched == 1 or (matched > 1 and not exactly) then return end
  local sets = type(v) == "table" and required_sets(alts)
  if sets then
    if matched == 0 then return add(errs, "needs %s", either(sets, exactly and "or (only one)" or "or")) end
    return add(errs, "takes only one of %s", either(sets, "and"))
  end
  if matched > 1 then return add(errs, "matches %d of the %d shapes it may have, only one is allowed", matched, #alts) end
  for _, e in ipairs(best) do errs[#errs + 1] = e end
end

local function check_string(v, s, errs)
  local minl, maxl = s.minLength, s.maxLength
  if minl or maxl then
    local n = utf8.len(v) or #v
    if minl and n < minl then add(errs, "is %d characters long, at least %d needed", n, minl) end
    if maxl and n > maxl then add(errs, "is %d characters long, at most %d allowed", n, maxl) end
  end
  if s.pattern and not pattern_ok(s.pattern, v) then add(errs, "'%s' does not match %s", v, s.pattern) end
end

local function check_number(v, s, errs)
  if s.minimum and v < s.minimum then add(errs, "must be at least %s, got %s", s.minimum, v) end
  if s.maximum and v > s.maximum then add(errs, "must be at most %s, got %s", s.maximum, v) end
  local emin, emax = s.exclusiveMinimum, s.exclusiveMaximum
  if type(emin) == "number" and v <= emin then add(errs, "must be more than %s, got %s", emin, v) end
  if type(emax) == "number" and v >= emax then add(errs, "must be less than %s, got %s", emax, v) end
  local m = s.multipleOf
  if m and m > 0 and (v / m) % 1 ~= 0 then add(errs, "must be a multiple of %s, got %s", m, v) end
end

local function check_array(v, s, errs, defs)
  local n = #v
  if s.minItems and n < s.minItems then add(errs, "needs at least %d item(s), got %d", s.minItems, n) end
  if s.maxItems and n > s.maxItems then add(errs, "takes at most %d item(s), got %d", s.maxItems, n) end
  local items = s.items
  if items then
    for i = 1, n do
      push(i, true)
      check(v[i], items, errs, defs)
      pop()
    end
  end
end

local function count_present(v, list)
  local n = 0
  for _, k in ipairs(list) do
    if v[k] ~= nil then n = n + 1 end
  end
  return n
end

-- The keywords of objects that relate their keys to each other.
local function check_relations(v, s, errs, defs)
  local xor = s.requiredXor
  if xor then
    local n = count_present(v, xor)
    if n == 0 then add(errs, "needs one of %s", either(xor, "or")) end
    if n > 1 then add(errs, "takes only one of %s", either(xor, "and")) end
  end
  if s.requiredOr and count_present(v, s.requiredOr) == 0 then add(errs, "needs one of %s", either(s.requiredOr, "or")) end
  for k, needs in pairs(s.dependentRequired or {}) do
    if v[k] ~= nil then
      for _, n in ipairs(needs) do
        if v[n] == nil then add_at(errs, n, "is required with %s", k) end
      end
    end
  end
  for k, excluded in pairs(s.dependentExcluded or {}) do
    if v[k] ~= nil then
      for _, n in ipairs(excluded) do
        if v[n] ~= nil then add_at(errs, n, "cannot be given with %s", k) end
      end
    end
  end
  for k, dep in pairs(s.dependencies or {}) do
    if v[k] ~= nil and type(dep) == "table" then
      if #dep > 0 then
        for _, n in ipairs(dep) do
          if v[n] == nil then add_at(errs, n, "is required with %s", k) end
        end
      else
        check(v, dep, errs, defs)
      end
    end
  end
  if s.minProperties or s.maxProperties then
    local n = 0
    for _ in pairs(v) do n = n + 1 end
    if s.minProperties and n < s.minProperties then add(errs, "needs at least %d key(s)", s.minProperties) end
    if s.maxProperties and n > s.maxProperties then add(errs, "takes at most %d key(s)", s.maxProperties) end
  end
end

local function check_object(v, s, errs, defs)
  local props, pprops, extra = s.properties, s.patternProperties, s.additionalProperties
  local unknown
  for k, x in pairs(v) do
    local ps = props and props[k]
    if ps then
      push(k)
      check(x, ps, errs, defs)
      pop()
    else
      local matched = false
      if pprops and type(k) == "string" then
        for pat, sub in pairs(pprops) do
          if pattern_ok(pat, k) then
            matched = true
            push(k)
            check(x, sub, errs, defs)
            pop()
          end
        end
      end
      if not matched then
        if extra == false then
          unknown = unknown or {}
          unknown[#unknown + 1] = tostring(k)
        elseif type(extra) == "table" then
          push(k)
          check(x, extra, errs, defs)
          pop()
        end
      end
    end
  end
  if unknown then
    table.sort(unknown)
    local known = props and util.sorted_keys(props) or {}
    local pats = {}
    for pat in pairs(pprops or {}) do pats[#pats + 1] = pat end
    table.sort(pats)
    for _, k in ipairs(unknown) do
      if #pats > 0 and #known == 0 then
        add_at(errs, k, "is not a key this map takes (keys match %s)", table.concat(pats, " or "))
      else
        add_at(errs, k, "unknown property%s%s", util.suggest(k, known),
          #pats > 0 and (" (other keys match %s)"):format(table.concat(pats, " or ")) or "")
      end
    end
  end
  local required = s.required
  if required then
    for i = 1, #required do
      local k = required[i]
      if v[k] == nil then add_at(errs, k, "is required") end
    end
  end
  if s.requiredXor or s.requiredOr or s.dependentRequired or s.dependentExcluded or s.dependencies
    or s.minProperties or s.maxProperties then
    check_relations(v, s, errs, defs)
  end
end

local function in_enum(enum, v)
  for i = 1, #enum do
    if enum[i] == v then return true end
  end
  return false
end

-- Records into errs what is wrong with v against the schema s.
function check(v, s, errs, defs)
  if is_token(v) then return end
  local hops = 0
  while s["$ref"] do
    local name = s["$ref"]:match("^#/definitions/(.+)$")
    s = name and defs and defs[name]
    hops = hops + 1
    if not s or hops > 32 then return end
  end
  local jt = json_type(v)
  local t = s.type
  if t and not fits(jt, t) then
    local want = {}
    for i, x in ipairs(type(t) == "table" and t or { t }) do want[i] = WORD[x] or x end
    return add(errs, "expected %s, got %s", table.concat(want, " or "), WORD[jt] or jt)
  end
  if s.enum and not in_enum(s.enum, v) then
    local strings = {}
    for i, x in ipairs(s.enum) do strings[i] = tostring(x) end
    add(errs, "expected one of %s, got %s%s", table.concat(strings, ", "), quote(v),
      type(v) == "string" and util.suggest(v, strings) or "")
  end
  if s.const ~= nil and v ~= s.const then add(errs, "must be %s, got %s", quote(s.const), quote(v)) end
  if jt == "string" then
    if s.minLength or s.maxLength or s.pattern then check_string(v, s, errs) end
  elseif jt == "integer" or jt == "number" then
    check_number(v, s, errs)
  elseif jt == "array" then
    check_array(v, s, errs, defs)
  elseif jt == "object" then
    check_object(v, s, errs, defs)
  elseif jt == "empty" then
    -- {} where a list may stand is a list: the template says [] there
    if (t == "array" or (t == nil and s.items)) and getmetatable(v) == nil then setmetatable(v, array_mt) end
    if t == "array" or s.items then check_array(v, s, errs, defs) else check_object(v, s, errs, defs) end
  end
  if s.allOf then
    for _, alt in ipairs(s.allOf) do check(v, alt, errs, defs) end
  end
  if s.anyOf then alternatives(v, s.anyOf, errs, defs, false) end
  if s.oneOf then alternatives(v, s.oneOf, errs, defs, true) end
end

---------------------------------------------------------------------------
-- The fast answer
--
-- Most resources are right, so each schema node is compiled once into a
-- function that only answers whether a value is right, allocating nothing;
-- check above runs (and says what is wrong) only for a value it refused.

local compiled = {} -- [schema node] = function(v) -> boolean

local compile

-- Keywords whose values are answered by the full check (few schemas use them).
local RARE = { "oneOf", "anyOf", "allOf", "dependencies" }

local function set_of(list)
  local set = {}
  for _, x in ipairs(list) do set[x] = true end
  return set
end

-- The JSON types a schema type admits, "empty" (a {}) and "integer" included.
local function admitted(t)
  local set = set_of(type(t) == "table" and t or { t })
  if set.number then set.integer = true end
  if set.object or set.array then set.empty = true end
  return set
end

local function build(s, defs)
  local ref = s["$ref"]
  if ref then
    local name = ref:match("^#/definitions/(.+)$")
    local target = name and defs and defs[name]
    if not target then return function() return true end end
    return compile(target, defs)
  end
  for _, k in ipairs(RARE) do
    if s[k] ~= nil then return function(v) return is_token(v) or #errors_of(v, s, defs) == 0 end end
  end
  local allowed = s.type and admitted(s.type)
  local enum = s.enum and set_of(s.enum)
  local const = s.const
  local minl, maxl, pat = s.minLength, s.maxLength, s.pattern
  local minv, maxv, emin, emax, mult = s.minimum, s.maximum, s.exclusiveMinimum, s.exclusiveMaximum, s.multipleOf
  if type(emin) ~= "number" then emin = nil end
  if type(emax) ~= "number" then emax = nil end
  local mini, maxi = s.minItems, s.maxItems
  local items_node = s.items
  local list_like = s.type == "array" or (s.type == nil and items_node ~= nil)
  -- the schemas below this node are compiled when a value first needs them
  -- (an S3 bucket's schema is large; a lake uses a few of its properties)
  local props, prop_fns = s.properties, {}
  local pprops
  if s.patternProperties then
    pprops = {}
    for pattern, sub in pairs(s.patternProperties) do pprops[#pprops + 1] = { pattern, sub } end
  end
  local extra = s.additionalProperties
  local extra_node = type(extra) == "table" and extra or nil
  local required = s.required
  local xor, any_of_keys = s.requiredXor, s.requiredOr
  local dep_required, dep_excluded = s.dependentRequired, s.dependentExcluded
  local minp, maxp = s.minProperties, s.maxProperties
  local relations = xor or any_of_keys or dep_required or dep_excluded or minp or maxp
  local object_rules = props or pprops or extra ~= nil or required or relations

  local function relations_ok(v)
    if xor and count_present(v, xor) ~= 1 then return false end
    if any_of_keys and count_present(v, any_of_keys) == 0 then return false end
    for k, needs in pairs(dep_required or {}) do
      if v[k] ~= nil and count_present(v, needs) < #needs then return false end
    end
    for k, excluded in pairs(dep_excluded or {}) do
      if v[k] ~= nil and count_present(v, excluded) > 0 then return false end
    end
    if minp or maxp then
      local n = 0
      for _ in pairs(v) do n = n + 1 end
      if (minp and n < minp) or (maxp and n > maxp) then return false end
    end
    return true
  end

  local function object_ok(v)
    for k, x in pairs(v) do
      local node = props and props[k]
      if node then
        local f = prop_fns[k]
        if not f then
          f = compile(node, defs)
          prop_fns[k] = f
        end
        if not f(x) then return false end
      else
        local matched = false
        if pprops and type(k) == "string" then
          for i = 1, #pprops do
            local pp = pprops[i]
            if pattern_ok(pp[1], k) then
              matched = true
              if not compile(pp[2], defs)(x) then return false end
            end
          end
        end
        if not matched then
          if extra == false then return false end
          if extra_node and not compile(extra_node, defs)(x) then return false end
        end
      end
    end
    if required then
      for i = 1, #required do
        if v[required[i]] == nil then return false end
      end
    end
    return not relations or relations_ok(v)
  end

  local function array_ok(v)
    local n = #v
    if (mini and n < mini) or (maxi and n > maxi) then return false end
    if items_node and n > 0 then
      local items = compile(items_node, defs)
      for i = 1, n do
        if not items(v[i]) then return false end
      end
    end
    return true
  end

  return function(v)
    local tv = type(v)
    if tv == "string" then -- most values
      if (allowed and not allowed.string) or (enum and not enum[v]) or (const ~= nil and v ~= const) then
        return false
      end
      if minl or maxl then
        local n = utf8.len(v) or #v
        if (minl and n < minl) or (maxl and n > maxl) then return false end
      end
      return not pat or pattern_ok(pat, v)
    end
    if tv == "table" and getmetatable(v) == TOKEN then return true end
    local jt = json_type(v)
    if (allowed and not allowed[jt]) or (enum and not enum[v]) or (const ~= nil and v ~= const) then
      return false
    end
    if jt == "integer" or jt == "number" then
      return not ((minv and v < minv) or (maxv and v > maxv) or (emin and v <= emin) or (emax and v >= emax)
        or (mult and mult > 0 and (v / mult) % 1 ~= 0))
    elseif jt == "array" then
      return array_ok(v)
    elseif jt == "object" then
      return not object_rules or object_ok(v)
    elseif jt == "empty" then
      if list_like then
        if getmetatable(v) == nil then setmetatable(v, array_mt) end -- the template says [] here
        return array_ok(v)
      end
      return not object_rules or object_ok(v)
    end
    return true
  end
end

-- The function answering for a schema node (made once; a node that refers
-- to itself through $ref gets the function being made).
function compile(s, defs)
  local f = compiled[s]
  if f then return f end
  local real
  compiled[s] = function(v) return real(v) end
  real = build(s, defs)
  compiled[s] = real
  return real
end

-- The top of a type's schema as check reads it, made once per type.
local tops = {}

local function top_of(typ, s)
  local top = tops[typ]
  if not top then
    top = { properties = s.properties, required = s.required, additionalProperties = false,
      requiredXor = s.requiredXor, requiredOr = s.requiredOr, dependentRequired = s.dependentRequired,
      dependentExcluded = s.dependentExcluded, oneOf = s.oneOf, anyOf = s.anyOf, allOf = s.allOf }
    tops[typ] = top
  end
  return top
end

--- The schema of the value at path ("Prop.Sub[2].Key") in a resource of
-- type typ, $refs followed; nil when the schema says nothing of it.
function M.node(typ, path)
  local s = M.data(typ)
  if not s then return nil end
  local defs = s.definitions
  local node = top_of(typ, s)
  local function deref(n)
    local hops = 0
    while n and n["$ref"] do
      local name = n["$ref"]:match("^#/definitions/(.+)$")
      n = name and defs and defs[name]
      hops = hops + 1
      if hops > 32 then return nil end
    end
    return n
  end
  for key, item in path:gmatch("([^.%[%]]*)%[?(%d*)%]?") do
    if key ~= "" then
      node = deref(node)
      node = node and node.properties and node.properties[key]
    end
    if item ~= "" then
      node = deref(node)
      node = node and node.items
    end
    if not node then return nil end
  end
  return deref(node)
end

--- Checks a resource's properties against its type's schema.
-- @param typ string the CloudFormation type
-- @param props table the properties
-- @param errs table|nil where to add the problems
-- @return errs: array of { path = "Prop.Sub[2].Key", msg = "..." }
function M.check(typ, props, errs)
  errs = errs or {}
  local s = M.data(typ)
  if not s then return errs end
  for _, k in ipairs(s.read_only or {}) do
    if props[k] ~= nil then add_at(errs, k, "is read-only: CloudFormation sets it (res:attr(\"%s\") reads it)", k) end
  end
  local top = top_of(typ, s)
  if compile(top, s.definitions)(props) then return errs end
  depth = 0
  check(props, top, errs, s.definitions)
  return errs
end

return M
