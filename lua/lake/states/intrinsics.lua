--- Intrinsic functions of the Amazon States Language (States.Format & co).
--
-- An invocation is the value of a "key.$" field in Parameters, ResultSelector
-- or ItemSelector (and of ErrorPath / CausePath in a Fail state), e.g.
--
--   States.Format('{} of {}', $.n, States.ArrayLength($.items))
--
-- Arguments are string literals in single quotes (escapes \' \{ \} \\; any
-- other backslash is an error), numbers, true, false, null, paths ($ or $$)
-- and nested invocations. parse() checks names, argument counts and the
-- placeholders of a literal States.Format template once; eval() runs it.
--
-- Randomness and UUIDs come from the caller (env.random, env.uuid), so a run
-- is reproducible. States.Hash computes MD5 and SHA-256 (host.crypto); the
-- other documented algorithms (SHA-1, SHA-384, SHA-512) fail with a message.
local jsonpath = require("lake.states.jsonpath")
local value = require("lake.states.value")
local crypto = require("host.crypto")

local M = {}

-- name -> {min args, max args}
local ARITY = {
  ["States.Format"] = { 1, math.huge },
  ["States.StringToJson"] = { 1, 1 },
  ["States.JsonToString"] = { 1, 1 },
  ["States.Array"] = { 0, math.huge },
  ["States.ArrayPartition"] = { 2, 2 },
  ["States.ArrayContains"] = { 2, 2 },
  ["States.ArrayRange"] = { 3, 3 },
  ["States.ArrayGetItem"] = { 2, 2 },
  ["States.ArrayLength"] = { 1, 1 },
  ["States.ArrayUnique"] = { 1, 1 },
  ["States.Base64Encode"] = { 1, 1 },
  ["States.Base64Decode"] = { 1, 1 },
  ["States.Hash"] = { 2, 2 },
  ["States.JsonMerge"] = { 3, 3 },
  ["States.MathRandom"] = { 2, 3 },
  ["States.MathAdd"] = { 2, 2 },
  ["States.StringSplit"] = { 2, 2 },
  ["States.UUID"] = { 0, 0 },
}

--- Names of the supported intrinsic functions, sorted.
M.names = {}
for name in pairs(ARITY) do M.names[#M.names + 1] = name end
table.sort(M.names)

--- Whether text looks like an intrinsic invocation (rather than a path).
-- @param text any
-- @return boolean
function M.is_call(text)
  return type(text) == "string" and text:match("^%s*States%.[%w_]+%s*%(") ~= nil
end

local function perr(text, pos, msg)
  return string.format("invalid intrinsic function call '%s' at character %d: %s", text, pos, msg)
end

local function skip_ws(text, i)
  return (text:find("[^ \t\r\n]", i)) or #text + 1
end

-- Reads a '...' literal at i. Returns the node and the next position.
-- node.parts holds the text split at unescaped "{}" (for States.Format).
local function read_string(text, i)
  local buf, parts = {}, {}
  local j = i + 1
  while j <= #text do
    local c = text:sub(j, j)
    if c == "\\" then
      local n = text:sub(j + 1, j + 1)
      if n == "'" or n == "{" or n == "}" or n == "\\" then
        buf[#buf + 1] = n
        j = j + 2
      else
        return nil, perr(text, j, "open escape '\\" .. n .. "' (escape only ' { } and \\)")
      end
    elseif c == "'" then
      parts[#parts + 1] = table.concat(buf)
      local whole = table.concat(parts, "{}")
      return { kind = "string", value = whole, parts = parts }, j + 1
    elseif c == "{" and text:sub(j + 1, j + 1) == "}" then
      parts[#parts + 1] = table.concat(buf)
      buf = {}
      j = j + 2
    else
      buf[#buf + 1] = c
      j = j + 1
    end
  end
  return nil, perr(text, i, "unterminated string literal")
end

-- Reads a path argument at i: up to the ',' or ')' that ends it.
local function read_path(text, i)
  local depth, j, quote = 0, i, nil
  while j <= #text do
    local c = text:sub(j, j)
    if quote then
      if c == "\\" then
        j = j + 1
      elseif c == quote then
        quote = nil
      end
    elseif c == "'" or c == '"' then
      quote = c
    elseif c == "[" then
      depth = depth + 1
    elseif c == "]" then
      depth = depth - 1
    elseif depth == 0 and (c == "," or c == ")") then
      break
    end
    j = j + 1
  end
  local src = text:sub(i, j - 1):gsub("%s+$", "")
  local p, err = jsonpath.parse(src)
  if not p then return nil, perr(text, i, err) end
  return { kind = "path", path = p }, j
end

local parse_call

local function parse_arg(text, i)
  local c = text:sub(i, i)
  if c == "'" then return read_string(text, i) end
  if c == "$" then return read_path(text, i) end
  local s, e = text:find("^%-?%d+%.?%d*", i)
  if s then
    local _, ee = text:find("^[eE][%+%-]?%d+", e + 1)
    e = ee or e
    local lit = text:sub(s, e)
    local n = math.tointeger(tonumber(lit)) or tonumber(lit)
    if n == nil then return nil, perr(text, i, "bad number '" .. lit .. "'") end
    return { kind = "literal", value = n }, e + 1
  end
  for word, v in pairs({ ["true"] = true, ["false"] = false, ["null"] = value.null }) do
    if text:sub(i, i + #word - 1) == word and not text:sub(i + #word, i + #word):match("[%w_]") then
      return { kind = "literal", value = v }, i + #word
    end
  end
  if text:sub(i, i + 6) == "States." then return parse_call(text, i) end
  if c == "" then return nil, perr(text, i, "unexpected end of text") end
  return nil, perr(text, i, "unexpected '" .. c .. "'")
end

function parse_call(text, i)
  local s, e, name = text:find("^(States%.[%w_]+)%s*%(", i)
  if not s then return nil, perr(text, i, "expected States.<Name>(") end
  local arity = ARITY[name]
  if not arity then
    return nil, perr(text, i, "unknown function " .. name)
  end
  local node = { kind = "call", name = name, args = {} }
  i = skip_ws(text, e + 1)
  if text:sub(i, i) == ")" then
    i = i + 1
  else
    while true do
      local arg, nxt = parse_arg(text, i)
      if not arg then return nil, nxt end
      node.args[#node.args + 1] = arg
      i = skip_ws(text, nxt)
      local c = text:sub(i, i)
      if c == ")" then
        i = i + 1
        break
      elseif c == "," then
        i = skip_ws(text, i + 1)
      else
        return nil, perr(text, i, c == "" and "missing ')'" or "expected ',' or ')'")
      end
    end
  end
  local n = #node.args
  if n < arity[1] or n > arity[2] then
    local want
    if arity[1] == arity[2] then
      want = arity[1] .. (arity[1] == 1 and " argument" or " arguments")
    elseif arity[2] == math.huge then
      want = "at least " .. arity[1] .. (arity[1] == 1 and " argument" or " arguments")
    else
      want = arity[1] .. " to " .. arity[2] .. " arguments"
    end
    return nil, perr(text, s, string.format("%s takes %s, got %d", name, want, n))
  end
  local first = node.args[1]
  if name == "States.Format" and first.kind == "string" and #first.parts - 1 ~= n - 1 then
    return nil, perr(text, s, string.format(
      "the template of States.Format has %d placeholder(s) but %d value(s) follow", #first.parts - 1, n - 1))
  end
  return node, i
end

local cache = {}

--- Parses an intrinsic invocation once (cached by text).
-- @param text string
-- @return table|nil the call tree, or nil, string on failure
function M.parse(text)
  if type(text) ~= "string" then return nil, "an intrinsic function call must be a string" end
  local hit = cache[text]
  if hit then return hit end
  local i = skip_ws(text, 1)
  local node, nxt = parse_call(text, i)
  if not node then return nil, nxt end
  nxt = skip_ws(text, nxt)
  if nxt <= #text then return nil, perr(text, nxt, "unexpected text after the call") end
  cache[text] = node
  return node
end

-- ---- evaluation -----------------------------------------------------------

-- Java's Math.round, as the documentation's "rounds to the nearest integer".
local function round(n)
  if math.type(n) == "integer" then return n end
  return math.floor(n + 0.5)
end

local function kind_of(v)
  return value.kind(v) or type(v)
end

-- Raises a failure of function name; eval() turns it into nil, msg.
local function fail(name, fmt, ...)
  error({ intrinsic = true, msg = name .. ": " .. string.format(fmt, ...) }, 0)
end

local function want(name, n, v, kind)
  local k = kind_of(v)
  if kind == "integer" then
    if k ~= "number" then fail(name, "argument %d must be a number, got %s", n, k) end
    return round(v)
  end
  if k ~= kind then fail(name, "argument %d must be %s %s, got %s", n, kind == "array" and "an" or "a", kind, k) end
  return v
end

local function to_text(v)
  if type(v) == "string" then return v end
  return value.encode(v)
end

local function hex(raw)
  return (raw:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local FUNCS = {}

FUNCS["States.Format"] = function(args, nodes)
  local name = "States.Format"
  local parts
  if nodes[1].kind == "string" then
    parts = nodes[1].parts
  else
    local template = want(name, 1, args[1], "string")
    parts = {}
    local pos = 1
    while true do
      local s = template:find("{}", pos, true)
      if not s then break end
      parts[#parts + 1] = template:sub(pos, s - 1)
      pos = s + 2
    end
    parts[#parts + 1] = template:sub(pos)
  end
  if #parts - 1 ~= #args - 1 then
    fail(name, "the template has %d placeholder(s) but %d value(s) follow", #parts - 1, #args - 1)
  end
  local out = { parts[1] }
  for i = 2, #args do
    out[#out + 1] = to_text(args[i])
    out[#out + 1] = parts[i]
  end
  return table.concat(out)
end

FUNCS["States.StringToJson"] = function(args)
  local s = want("States.StringToJson", 1, args[1], "string")
  local v, err = value.decode(s)
  if v == nil then fail("States.StringToJson", "not JSON text (%s)", err) end
  return v
end

FUNCS["States.JsonToString"] = function(args)
  return value.encode(args[1])
end

FUNCS["States.Array"] = function(args)
  local out = {}
  for i = 1, #args do out[i] = args[i] end
  return value.array(out)
end

FUNCS["States.ArrayPartition"] = function(args)
  local name = "States.ArrayPartition"
  local arr = want(name, 1, args[1], "array")
  local size = want(name, 2, args[2], "integer")
  if size <= 0 then fail(name, "the chunk size must be a positive integer, got %s", tostring(args[2])) end
  local out = {}
  for i = 1, #arr do
    if (i - 1) % size == 0 then out[#out + 1] = value.array() end
    local chunk = out[#out]
    chunk[#chunk + 1] = arr[i]
  end
  return value.array(out)
end

FUNCS["States.ArrayContains"] = function(args)
  local arr = want("States.ArrayContains", 1, args[1], "array")
  for i = 1, #arr do
    if value.equal(arr[i], args[2]) then return true end
  end
  return false
end

FUNCS["States.ArrayRange"] = function(args)
  local name = "States.ArrayRange"
  local first = want(name, 1, args[1], "integer")
  local last = want(name, 2, args[2], "integer")
  local step = want(name, 3, args[3], "integer")
  if step == 0 then fail(name, "the step must not be 0") end
  local count = 0
  if (step > 0 and first <= last) or (step < 0 and first >= last) then
    count = (last - first) // step + 1
  end
  if count > 1000 then fail(name, "the range would have %d items (at most 1000)", count) end
  local out = {}
  for i = 0, count - 1 do out[#out + 1] = first + i * step end
  return value.array(out)
end

FUNCS["States.ArrayGetItem"] = function(args)
  local name = "States.ArrayGetItem"
  local arr = want(name, 1, args[1], "array")
  local index = want(name, 2, args[2], "integer")
  if index < 0 or index >= #arr then
    fail(name, "index %d is out of range (array length %d)", index, #arr)
  end
  return arr[index + 1]
end

FUNCS["States.ArrayLength"] = function(args)
  return #want("States.ArrayLength", 1, args[1], "array")
end

FUNCS["States.ArrayUnique"] = function(args)
  local arr = want("States.ArrayUnique", 1, args[1], "array")
  local out = {}
  for i = 1, #arr do
    local seen = false
    for j = 1, #out do
      if value.equal(out[j], arr[i]) then
        seen = true
        break
      end
    end
    if not seen then out[#out + 1] = arr[i] end
  end
  return value.array(out)
end

FUNCS["States.Base64Encode"] = function(args)
  local name = "States.Base64Encode"
  local s = want(name, 1, args[1], "string")
  if #s > 10000 then fail(name, "the input has %d characters (at most 10000)", #s) end
  return crypto.base64_encode(s)
end

FUNCS["States.Base64Decode"] = function(args)
  local name = "States.Base64Decode"
  local s = want(name, 1, args[1], "string")
  if #s > 10000 then fail(name, "the input has %d characters (at most 10000)", #s) end
  local out = crypto.base64_decode(s)
  if out == nil then fail(name, "the input is not valid base64") end
  return out
end

FUNCS["States.Hash"] = function(args)
  local name = "States.Hash"
  local data = to_text(args[1])
  local algo = want(name, 2, args[2], "string")
  if #data > 10000 then fail(name, "the input has %d characters (at most 10000)", #data) end
  if algo == "SHA-256" then return crypto.sha256_hex(data) end
  if algo == "MD5" then return hex(crypto.md5(data)) end
  if algo == "SHA-1" or algo == "SHA-384" or algo == "SHA-512" then
    fail(name, "%s is not available in the local interpreter (MD5 and SHA-256 are)", algo)
  end
  fail(name, "unknown algorithm '%s' (MD5, SHA-1, SHA-256, SHA-384 or SHA-512)", algo)
end

FUNCS["States.JsonMerge"] = function(args)
  local name = "States.JsonMerge"
  local a = want(name, 1, args[1], "object")
  local b = want(name, 2, args[2], "object")
  local deep = want(name, 3, args[3], "boolean")
  if deep then fail(name, "only the shallow mode (false) is supported") end
  local out = value.object()
  for k, v in pairs(a) do out[k] = v end
  for k, v in pairs(b) do out[k] = v end
  return out
end

FUNCS["States.MathRandom"] = function(args, _, env)
  local name = "States.MathRandom"
  local lo = want(name, 1, args[1], "integer")
  local hi = want(name, 2, args[2], "integer")
  if lo >= hi then fail(name, "the start (%d) must be less than the end (%d)", lo, hi) end
  local r
  if args[3] ~= nil then
    r = M.generator(want(name, 3, args[3], "integer"))()
  else
    r = env.random()
  end
  return lo + math.floor(r * (hi - lo))
end

FUNCS["States.MathAdd"] = function(args)
  local name = "States.MathAdd"
  local a = want(name, 1, args[1], "integer")
  local b = want(name, 2, args[2], "integer")
  for i, v in ipairs({ a, b }) do
    if v < -2147483648 or v > 2147483647 then
      fail(name, "argument %d (%d) is outside -2147483648..2147483647", i, v)
    end
  end
  return a + b
end

FUNCS["States.StringSplit"] = function(args)
  local name = "States.StringSplit"
  local s = want(name, 1, args[1], "string")
  local delims = want(name, 2, args[2], "string")
  if delims == "" then fail(name, "the delimiter must not be empty") end
  local set = "[^" .. delims:gsub("[%%%]%^%-]", "%%%0") .. "]+"
  local out = {}
  for piece in s:gmatch(set) do out[#out + 1] = piece end
  return value.array(out)
end

FUNCS["States.UUID"] = function(_, _, env)
  return env.uuid()
end

local function eval_node(node, env)
  if node.kind == "literal" or node.kind == "string" then return node.value end
  if node.kind == "path" then
    local p = node.path
    local v, err = jsonpath.get(p.context and env.context or env.input, p)
    if v == nil then error({ intrinsic = true, msg = "path " .. p.text .. ": " .. err }, 0) end
    return v
  end
  local args = {}
  for i, arg in ipairs(node.args) do args[i] = eval_node(arg, env) end
  return FUNCS[node.name](args, node.args, env)
end

--- Evaluates a parsed (or textual) invocation.
-- @param call table|string from parse(), or the text
-- @param env table {input=, context=, random=function() -> [0,1), uuid=function() -> string}
-- @return any|nil the value, or nil, string on failure (the caller reports States.IntrinsicFailure)
function M.eval(call, env)
  if type(call) == "string" then
    local err
    call, err = M.parse(call)
    if not call then return nil, err end
  end
  local ok, res = pcall(eval_node, call, env)
  if ok then return res end
  if type(res) == "table" and res.intrinsic then return nil, res.msg end
  error(res, 0)
end

--- A deterministic generator of numbers in [0, 1) (SplitMix64), for
-- States.MathRandom with a seed and for callers that need reproducible runs.
-- @param seed integer
-- @return function() -> number
function M.generator(seed)
  local state = math.tointeger(seed) or 0
  return function()
    state = state + 0x9E3779B97F4A7C15
    local z = state
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    z = z ~ (z >> 31)
    return (z >> 11) * (1.0 / 9007199254740992.0)
  end
end

--- A version 4 UUID built from a [0, 1) generator.
-- @param random function() -> number
-- @return string
function M.uuid(random)
  local bytes = {}
  for i = 1, 16 do bytes[i] = math.floor(random() * 256) end
  bytes[7] = (bytes[7] & 0x0f) | 0x40
  bytes[9] = (bytes[9] & 0x3f) | 0x80
  local h = {}
  for i = 1, 16 do h[i] = string.format("%02x", bytes[i]) end
  local s = table.concat(h)
  return s:sub(1, 8) .. "-" .. s:sub(9, 12) .. "-" .. s:sub(13, 16) .. "-" .. s:sub(17, 20) .. "-" .. s:sub(21, 32)
end

return M
