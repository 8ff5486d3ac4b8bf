--- Tokens: values that stay symbolic until synthesis (Ref, Fn::GetAtt, Fn::Sub,
-- Fn::Join, Fn::ImportValue, pseudo parameters, and concatenations of them).
--
-- Model code never sees final strings for things CloudFormation decides
-- (logical ids, ARNs, the account); it passes tokens around and synthesis
-- resolves them per stack. A token referring to a resource of another stack
-- is refused at synthesis: lake stacks refer to each other by name.
local M = {}

local Token = {}
Token.__index = Token
Token.__name = "lake.token"

local function new(t) return setmetatable(t, Token) end

--- True when v is a token.
function M.is(v) return getmetatable(v) == Token end

--- The field where a token keeps its CloudFormation JSON once it is known to
-- be the same in every stack (pseudo parameters, and concatenations of
-- strings and them): synthesis gives it to json.encode (its field option),
-- which then writes such a token without calling back into Lua.
M.FIELD = "json"

local PSEUDO = {
  ["AWS::AccountId"] = true, ["AWS::Region"] = true, ["AWS::Partition"] = true,
  ["AWS::StackName"] = true, ["AWS::StackId"] = true, ["AWS::URLSuffix"] = true,
  ["AWS::NoValue"] = true, ["AWS::NotificationARNs"] = true,
}
-- "${AWS::Region}" and the others, as a Fn::Sub writes them
local PSEUDO_SUB = {}
for name in pairs(PSEUDO) do PSEUDO_SUB[name] = "${" .. name .. "}" end

--- { Ref = ... } of a resource, or of a pseudo parameter ("AWS::Region").
function M.ref(target)
  if type(target) == "string" then
    if not PSEUDO[target] then error(("token.ref: unknown pseudo parameter '%s'"):format(target), 2) end
    return new { kind = "ref", target = target, json = { Ref = target } }
  elseif type(target) ~= "table" or not target.logical_id then
    error("token.ref: expected a resource or a pseudo parameter name", 2)
  end
  return new { kind = "ref", target = target }
end

--- { Fn::GetAtt = [id, attr] } of a resource.
function M.get_att(resource, attr)
  return new { kind = "getatt", target = resource, attr = attr }
end

--- { Fn::Sub = template } or { Fn::Sub = [template, vars] } written by hand.
function M.sub(template, vars)
  assert(type(template) == "string", "token.sub: template must be a string")
  return new { kind = "sub", template = template, vars = vars }
end

--- { Fn::Join = [sep, list] }.
function M.join(sep, list)
  return new { kind = "join", sep = sep, list = list }
end

--- { Fn::ImportValue = name }.
function M.import_value(name)
  return new { kind = "import", name = name }
end

--- A value computed at synthesis: fn(ctx) returns a string or a token
-- (asset keys, known only once the asset is built).
function M.lazy(fn)
  return new { kind = "lazy", fn = fn }
end

--- Any CloudFormation JSON, passed through untouched (escape hatch).
function M.raw(value)
  return new { kind = "raw", value = value }
end

M.region = M.ref("AWS::Region")
M.account_id = M.ref("AWS::AccountId")
M.partition = M.ref("AWS::Partition")
M.url_suffix = M.ref("AWS::URLSuffix")
M.stack_name = M.ref("AWS::StackName")
M.no_value = M.ref("AWS::NoValue")

--- Concatenation of strings and tokens: a plain string when every part is a
-- string, else one Fn::Sub (refs, attributes and pseudo parameters inline).
local STRING_MT = getmetatable("")
function M.concat(...)
  local n = select("#", ...)
  local args = { ... }
  local strings, flat = true, true
  for i = 1, n do
    local p = args[i]
    -- one call tells the three kinds apart: strings share a metatable
    local mt = getmetatable(p)
    if mt ~= STRING_MT then
      if mt == Token then
        strings = false
        if p.kind == "concat" then flat = false end
      elseif math.type(p) == "integer" then
        args[i] = tostring(p)
      else
        error(("token.concat: part %d is a %s, expected a string or a token"):format(i, type(p)), 2)
      end
    end
  end
  if strings then return table.concat(args, "", 1, n) end
  if flat then return new { kind = "concat", parts = args } end
  local parts, k = {}, 0
  for i = 1, n do
    local p = args[i]
    if type(p) ~= "string" and p.kind == "concat" then
      for _, q in ipairs(p.parts) do
        k = k + 1
        parts[k] = q
      end
    else
      k = k + 1
      parts[k] = p
    end
  end
  return new { kind = "concat", parts = parts }
end

--- The text of v for length checks: strings as they are, tokens with the
-- longest value they can take (longest region, 12-digit account).
M.LONGEST = { ["AWS::Region"] = "ap-southeast-5", ["AWS::AccountId"] = "123456789012",
  ["AWS::Partition"] = "aws-iso-b", ["AWS::URLSuffix"] = "amazonaws.com.cn" }
function M.worst_case(v)
  if type(v) == "string" then return v end
  if not M.is(v) then return tostring(v) end
  if v.kind == "concat" then
    if v.worst then return v.worst end
    local out, n = {}, 0
    for _, p in ipairs(v.parts) do
      local w = type(p) == "string" and p or M.worst_case(p)
      if w then -- parts known only at deploy count as empty
        n = n + 1
        out[n] = w
      end
    end
    v.worst = table.concat(out) -- tokens never change: remember it
    return v.worst
  elseif v.kind == "ref" and type(v.target) == "string" then
    return M.LONGEST[v.target] or v.target
  end
  return nil -- unknown until deploy
end

--- Plain string value when v is fully known at synthesis, else nil.
function M.literal(v)
  if type(v) == "string" then return v end
  return nil
end

local find = string.find
local function escape_sub(s)
  if not find(s, "${", 1, true) then return s end
  return (s:gsub("%${", "${!"))
end
-- escape_sub's answers: the strings of concatenations are the same in every
-- stack of a kind, and a lookup costs less than a call (kept like
-- lake.util.memoize's: at most MEMO_MAX, then afresh)
local escaped
local function new_escaped()
  local n = 0
  return setmetatable({}, { __index = function(t, s)
    local e = escape_sub(s)
    if n >= require("lake.util").MEMO_MAX then
      escaped = new_escaped()
      return e
    end
    n = n + 1
    t[s] = e
    return e
  end })
end
escaped = new_escaped()

local function id_of(res, ctx)
  if ctx and ctx.stack and res.stack ~= ctx.stack then
    error(("%s refers to %s in stack '%s' from stack '%s': refer to it by name, not by reference")
      :format(ctx.where or "a value", res.logical_id, res.stack.name, ctx.stack.name), 0)
  end
  return res.logical_id
end

local resolve

-- A token -> its CloudFormation JSON.
local function resolve_token(v, ctx)
  local json = v.json -- the same in every stack, and known already
  if json then return json end
  local k = v.kind
  if k == "ref" then -- of a resource: a pseudo parameter's is its json
    return { Ref = id_of(v.target, ctx) }
  elseif k == "getatt" then
    return { ["Fn::GetAtt"] = { id_of(v.target, ctx), v.attr } }
  elseif k == "sub" then
    if v.vars and next(v.vars) then
      return { ["Fn::Sub"] = { v.template, resolve(v.vars, ctx) } }
    end
    return { ["Fn::Sub"] = v.template }
  elseif k == "join" then
    return { ["Fn::Join"] = { v.sep, resolve(v.list, ctx) } }
  elseif k == "import" then
    return { ["Fn::ImportValue"] = resolve(v.name, ctx) }
  elseif k == "raw" then
    return v.value
  elseif k == "lazy" then
    return resolve(v.fn(ctx), ctx)
  elseif k == "concat" then
    -- one list of pieces, joined once. A part is a string or a token;
    -- indexing a string looks in the string library, which has neither a
    -- piece nor a kind: that tells them apart without a call to type().
    local parts, stack = v.parts, ctx and ctx.stack
    local tmpl, vars, n = {}, nil, 0
    local same = true -- strings and pseudo parameters only: the same in every stack
    for i = 1, #parts do
      local p = parts[i]
      local piece = p.piece
      if piece then -- a ref or an attribute met before: its "${...}"
        local res = p.res
        if res then
          same = false
          if stack and res.stack ~= stack then id_of(res, ctx) end -- raises
        end
        tmpl[i] = piece
      elseif not p.kind then -- a string
        tmpl[i] = escaped[p]
      else
        local pk = p.kind
        if pk == "ref" or pk == "getatt" then
          -- the first use: its piece kept on the token, which never changes
          local target = p.target
          if type(target) == "string" then
            p.piece = PSEUDO_SUB[target]
          else
            same = false
            local id = id_of(target, ctx)
            p.res, p.piece = target, pk == "ref" and ("${" .. id .. "}") or ("${" .. id .. "." .. p.attr .. "}")
          end
          tmpl[i] = p.piece
        else
          same = false
          local value = pk == "lazy" and p.fn(ctx)
          if type(value) == "string" then
            tmpl[i] = escape_sub(value)
          else
            n = n + 1
            local name = "v" .. n
            vars = vars or {}
            vars[name] = resolve(value or p, ctx) -- a lazy token's value, not asked twice
            tmpl[i] = "${" .. name .. "}"
          end
        end
      end
    end
    local s = table.concat(tmpl)
    if n > 0 then return { ["Fn::Sub"] = { s, vars } } end
    json = { ["Fn::Sub"] = s }
    if same then v.json = json end -- tokens never change: the next use is free
    return json
  end
  error("token.resolve: unknown token kind " .. tostring(k))
end

--- Resolves tokens inside v into CloudFormation JSON.
-- Tables without tokens are returned as they are (not copied: the caller
-- must not modify the result); a table holding a token is copied with the
-- token replaced, keeping its metatable (json.array_mt / object_mt).
-- @param v any value
-- @param ctx table { stack = Stack, where = "path for messages" }
-- @return resolved value; raises on a cross-stack reference
function resolve(v, ctx)
  if type(v) ~= "table" then return v end
  if getmetatable(v) == Token then return resolve_token(v, ctx) end
  local out
  for k, x in pairs(v) do
    if type(x) == "table" then
      local r = resolve(x, ctx)
      if r ~= x then
        if not out then
          out = {}
          for k2, x2 in pairs(v) do out[k2] = x2 end
        end
        out[k] = r
      end
    end
  end
  if not out then return v end
  return setmetatable(out, getmetatable(v))
end
M.resolve = resolve

Token.__tostring = function(t) return "<token " .. t.kind .. ">" end
-- Catch the classic mistake of building names with `..` on a token.
Token.__concat = function()
  error("a token cannot be joined with '..': use token.concat(a, b, ...)", 2)
end

return M
