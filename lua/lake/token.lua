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

--- The metatable of tokens, for code that tests very many values
-- (lake.schema): getmetatable(v) == token.metatable is M.is(v) without a call.
M.metatable = Token

local PSEUDO = {
  ["AWS::AccountId"] = true, ["AWS::Region"] = true, ["AWS::Partition"] = true,
  ["AWS::StackName"] = true, ["AWS::StackId"] = true, ["AWS::URLSuffix"] = true,
  ["AWS::NoValue"] = true, ["AWS::NotificationARNs"] = true,
}
-- "${AWS::Region}" and the others, as a Fn::Sub writes them
local PSEUDO_SUB = {}
for name in pairs(PSEUDO) do PSEUDO_SUB[name] = "${" .. name .. "}" end

-- A literal part of a Fn::Sub template: "${" must read as text ("${!").
local function escape_sub(s)
  if not s:find("${", 1, true) then return s end
  return (s:gsub("%${", "${!"))
end


--- { Ref = ... } of a resource, or of a pseudo parameter ("AWS::Region").
function M.ref(target)
  if type(target) == "string" then
    if not PSEUDO[target] then error(("token.ref: unknown pseudo parameter '%s'"):format(target), 2) end
    return new { kind = "ref", target = target }
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

-- The Fn::Sub text of a token that is the same in every stack (a pseudo
-- parameter, or a template without variables), else nil.
local function fixed_text(t)
  if t.kind == "ref" and type(t.target) == "string" then return PSEUDO_SUB[t.target] end
  if t.kind == "sub" and not (t.vars and next(t.vars)) then return t.template end
  return nil
end

local find, gsub = string.find, string.gsub

--- Concatenation of strings and tokens: a plain string when every part is a
-- string; one Fn::Sub template (a sub token) when the others are pseudo
-- parameters or such templates, which is the same in every stack; else a
-- concat token whose refs and attributes are inlined in its Fn::Sub when
-- it is resolved. Strings side by side are joined into one part.
function M.concat(...)
  local parts, k = {}, 0
  local text, tokens, fixed = nil, false, true -- text: the strings met since the last token
  for i = 1, select("#", ...) do
    local p = select(i, ...)
    if type(p) == "string" then
      if p ~= "" then text = text and text .. p or p end
    elseif getmetatable(p) == Token then
      tokens = true
      -- a concat's parts join these ones; any other token is one part
      local list = p.kind == "concat" and p.parts
      for j = 1, list and #list or 1 do
        local q = list and list[j] or p
        if type(q) == "string" then
          text = text and text .. q or q
        else
          if text then
            k = k + 1
            parts[k], text = text, nil
          end
          k = k + 1
          parts[k] = q
          if fixed and not ((q.kind == "ref" and PSEUDO_SUB[q.target]) or (q.kind == "sub" and not q.vars)) then
            fixed = false
          end
        end
      end
    elseif math.type(p) == "integer" then
      text = (text or "") .. tostring(p)
    else
      error(("token.concat: part %d is a %s, expected a string or a token"):format(i, type(p)), 2)
    end
  end
  if not tokens then return text or "" end
  if text then
    k = k + 1
    parts[k] = text
  end
  if not fixed then return new { kind = "concat", parts = parts } end
  for i = 1, k do
    local q = parts[i]
    if type(q) ~= "string" then
      parts[i] = q.kind == "ref" and PSEUDO_SUB[q.target] or q.template
    elseif find(q, "${", 1, true) then
      parts[i] = gsub(q, "%${", "${!")
    end
  end
  return new { kind = "sub", template = table.concat(parts, "", 1, k) }
end

--- The text of v for length checks: strings as they are, tokens with the
-- longest value they can take (longest region, 12-digit account); what
-- only CloudFormation knows (a resource's name, an attribute) counts as
-- empty, and nil is the answer for a value of that kind alone.
M.LONGEST = { ["AWS::Region"] = "ap-southeast-5", ["AWS::AccountId"] = "123456789012",
  ["AWS::Partition"] = "aws-iso-b", ["AWS::URLSuffix"] = "amazonaws.com.cn" }
function M.worst_case(v)
  if type(v) == "string" then return v end
  if not M.is(v) then return tostring(v) end
  if v.kind == "concat" then
    local out, n = {}, 0
    for _, p in ipairs(v.parts) do
      local w = type(p) == "string" and p or M.worst_case(p)
      if w then -- parts known only at deploy count as empty
        n = n + 1
        out[n] = w
      end
    end
    return table.concat(out)
  elseif v.kind == "sub" and not (v.vars and next(v.vars)) then
    return (v.template:gsub("%${([^}]*)}", function(name)
      if name:sub(1, 1) == "!" then return "${" .. name:sub(2) end
      return M.LONGEST[name] or (PSEUDO[name] and name) or ""
    end))
  elseif v.kind == "ref" and type(v.target) == "string" then
    return M.LONGEST[v.target] or v.target
  end
  return nil -- unknown until deploy
end

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
  local k = v.kind
  if k == "ref" then
    if type(v.target) == "string" then return { Ref = v.target } end
    return { Ref = id_of(v.target, ctx) }
  elseif k == "getatt" then
    return { ["Fn::GetAtt"] = { id_of(v.target, ctx), v.attr } }
  elseif k == "sub" then
    if v.vars and next(v.vars) then
      return { ["Fn::Sub"] = { v.template, resolve(v.vars, ctx) } }
    end
    -- a template left with nothing to substitute (the account and region
    -- given to the app) is its text: cfn-lint warns on such a Fn::Sub (W1020)
    if not find(v.template, "${", 1, true) then return v.template end
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
    -- One Fn::Sub: strings escaped, refs, attributes and pseudo parameters
    -- inline as ${...}, any other token (a lazy value that is not a plain
    -- string, a join) as a variable of its own.
    local tmpl, vars, n = {}, nil, 0
    for i, p in ipairs(v.parts) do
      if type(p) == "string" then
        tmpl[i] = escape_sub(p)
      else
        local kind, text, lazy = p.kind, fixed_text(p), nil
        if kind == "lazy" then lazy = p.fn(ctx) end
        if text then
          tmpl[i] = text
        elseif type(lazy) == "string" then
          tmpl[i] = escape_sub(lazy)
        elseif kind == "ref" then
          tmpl[i] = "${" .. id_of(p.target, ctx) .. "}"
        elseif kind == "getatt" then
          tmpl[i] = "${" .. id_of(p.target, ctx) .. "." .. p.attr .. "}"
        else
          n = n + 1
          local name = "v" .. n
          vars = vars or {}
          vars[name] = resolve(lazy or p, ctx)
          tmpl[i] = "${" .. name .. "}"
        end
      end
    end
    local s = table.concat(tmpl)
    if n > 0 then return { ["Fn::Sub"] = { s, vars } } end
    -- every part known at synthesis (a lazy asset key after a bucket name
    -- the app fixed): the text itself, not a Fn::Sub cfn-lint warns on (W1020)
    if not find(s, "${", 1, true) then return s end
    return { ["Fn::Sub"] = s }
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
