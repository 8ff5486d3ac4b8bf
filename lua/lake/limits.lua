--- Size limits AWS enforces only when it creates a resource, checked at
-- synthesis instead: a Lambda function's environment (4 KB), a Step
-- Functions definition (1 MB), a Glue job's arguments (260 KB).
--
-- Values may be tokens: what CloudFormation alone knows (a resource's Ref,
-- an attribute, an asset key) counts as empty, pseudo parameters count
-- with their shortest value (an account id is always 12 digits, a region
-- at least 9 characters), so lake names such as
-- "raw-${AWS::Region}-${AWS::AccountId}-dev" are measured as fully as
-- they can be. A measure is then exact or a lower bound (the known part):
-- nothing is refused for what cannot be known before deploy.
--
-- The resource kinds (lua/resources) call these checks, so every producer
-- (the lake, pipelines, standalone stacks) goes through them.
local json = require("host.json")
local token = require("lake.token")

local M = {}

--- "The total size of all environment variables doesn't exceed 4 KB"
-- (Lambda developer guide, configuration-envvars; quotas: "Environment
-- variables: 4 KB, all environment variables associated with the function,
-- combined"). Lambda measures the JSON text of the Variables map: its
-- refusal quotes "String measured: {"KEY":"value",...}".
M.LAMBDA_ENVIRONMENT_BYTES = 4096

--- "Maximum size of state machine definition: 1 MB", a hard quota (Step
-- Functions service quotas); CreateStateMachine's definition is at most
-- 1,048,576 long.
M.STATE_MACHINE_DEFINITION_BYTES = 1048576

--- "Job arguments have a maximum size limit of 260KB. A validation check
-- will raise an error if the argument size is greater than 260KB" (Glue
-- developer guide, aws-glue-programming-etl-glue-arguments). AWS documents
-- no count of arguments and no length per key or value, nor how the size is
-- measured: the sum of the keys' and values' bytes is counted here, over
-- DefaultArguments and NonOverridableArguments together (both are the
-- job's arguments, passed to every run).
M.GLUE_ARGUMENTS_BYTES = 260 * 1024

--- The shortest value of the pseudo parameters a measure counts, and
-- whether that is their only length (the account id's 12 digits).
M.SHORTEST = {
  ["AWS::AccountId"] = { "123456789012", exact = true },
  ["AWS::Region"] = { "us-east-1" },
  ["AWS::Partition"] = { "aws" },
  ["AWS::URLSuffix"] = { "amazonaws.com" },
}
local SHORTEST = M.SHORTEST

-- The known text of a Fn::Sub template without variables: pseudo
-- parameters at their shortest, "${!x}" as the literal "${x}", anything
-- else unknown (empty).
local function sub_text(template)
  local complete = true
  local text = template:gsub("%${([^}]*)}", function(name)
    if name:sub(1, 1) == "!" then return "${" .. name:sub(2) .. "}" end
    local v = SHORTEST[name]
    complete = complete and v ~= nil and v.exact == true
    return v and v[1] or ""
  end)
  return text, complete
end

-- sub token -> { text, complete }; tokens never change once made
local sub_cache = setmetatable({}, { __mode = "k" })

--- The text of v as far as it is known before deploy.
-- @param v string|number|boolean|token
-- @return string known text, boolean complete (false: some part counted as empty or at its shortest)
function M.known_text(v)
  local tv = type(v)
  if tv == "string" then return v, true end
  if tv == "number" or tv == "boolean" then return tostring(v), true end
  if not token.is(v) then return "", false end
  if v.kind == "concat" then
    local out, complete = {}, true
    for i, p in ipairs(v.parts) do
      local text, c = M.known_text(p)
      out[i] = text
      complete = complete and c
    end
    return table.concat(out), complete
  elseif v.kind == "sub" and not (v.vars and next(v.vars)) then
    -- lake names and ARNs are measured again by every resource that holds them
    local known = sub_cache[v]
    if not known then
      known = { sub_text(v.template) }
      sub_cache[v] = known
    end
    return known[1], known[2]
  elseif v.kind == "ref" and type(v.target) == "string" and SHORTEST[v.target] then
    local s = SHORTEST[v.target]
    return s[1], s.exact == true
  elseif v.kind == "join" and type(v.list) == "table" and not token.is(v.list) and type(v.sep) == "string" then
    local out, complete = {}, true
    for i, p in ipairs(v.list) do
      local text, c = M.known_text(p)
      out[i] = text
      complete = complete and c
    end
    return table.concat(out, v.sep), complete
  end
  return "", false
end

--- Length of known_text(v), without building it (definitions are large).
-- @return integer bytes, boolean complete
function M.known_length(v)
  if type(v) == "string" then return #v, true end
  if token.is(v) and v.kind == "concat" then
    local n, complete = 0, true
    for _, p in ipairs(v.parts) do
      local m, c = M.known_length(p)
      n = n + m
      complete = complete and c
    end
    return n, complete
  end
  local text, complete = M.known_text(v)
  return #text, complete
end

-- Length of s as a JSON string, quotes included.
local function json_length(s)
  if not s:find('[%c"\\\128-\255]') then return #s + 2 end
  return #json.encode(s)
end

--- Bytes of a number, with thousands separators ("5,010").
function M.bytes(n)
  local s = tostring(n)
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  if out:sub(1, 1) == "," then out = out:sub(2) end
  return out
end

-- "5,010 bytes" or "at least 5,010 bytes (the part known before deploy: ...)"
local function measured(n, complete)
  if complete then return M.bytes(n) .. " bytes" end
  return ("at least %s bytes (the part known before deploy: Ref and Fn::GetAtt values count as empty, "
    .. "the region at its shortest)"):format(M.bytes(n))
end

--- Size of a Lambda function's Environment.Variables as Lambda measures it:
-- the JSON text {"K":"V",...}.
-- @return integer bytes, boolean complete | nil when vars is not a map (a token, ...)
function M.lambda_environment_size(vars)
  if type(vars) ~= "table" or token.is(vars) then return nil end
  local n, count, complete = 2, 0, true
  for k, v in pairs(vars) do
    if type(k) ~= "string" then return nil end
    local text, c = M.known_text(v)
    complete = complete and c
    -- quotes, escapes: the JSON encoder's own text
    n = n + json_length(k) + 1 + json_length(text)
    count = count + 1
  end
  if count > 1 then n = n + count - 1 end
  return n, complete
end

--- Problem of an AWS::Lambda::Function's properties: path, message | nil.
function M.lambda_environment_problem(props)
  local env = props.Environment
  if type(env) ~= "table" or token.is(env) then return nil end
  local n, complete = M.lambda_environment_size(env.Variables)
  if not n or n <= M.LAMBDA_ENVIRONMENT_BYTES then return nil end
  return "Environment.Variables", ("measured as Lambda does (the JSON text of all names and values), the "
    .. "environment variables take %s, more than the %s (4 KB) Lambda allows: move large values to SSM "
    .. "parameters or S3")
    :format(measured(n, complete), M.bytes(M.LAMBDA_ENVIRONMENT_BYTES))
end

--- Size of a state machine's definition (DefinitionString, else the JSON
-- text of Definition).
-- @return integer bytes, boolean complete, string property | nil
function M.definition_size(props)
  if props.DefinitionString ~= nil then
    local n, complete = M.known_length(props.DefinitionString)
    return n, complete, "DefinitionString"
  end
  local def = props.Definition
  if type(def) == "table" and not token.is(def) then
    local complete = true
    local ok, text = pcall(json.encode, def, { replace = function(t)
      local s, c = M.known_text(t)
      complete = complete and c
      return s
    end })
    if ok then return #text, complete, "Definition" end
  end
  return nil
end

--- Problem of an AWS::StepFunctions::StateMachine's properties: path, message | nil.
function M.definition_problem(props)
  local n, complete, path = M.definition_size(props)
  if not n or n <= M.STATE_MACHINE_DEFINITION_BYTES then return nil end
  return path, ("the state machine definition takes %s, more than the %s (1 MB) Step Functions allows: "
    .. "split the work into several state machines"):format(measured(n, complete),
    M.bytes(M.STATE_MACHINE_DEFINITION_BYTES))
end

--- Size of a Glue job's arguments: keys and values, DefaultArguments and
-- NonOverridableArguments together.
-- @return integer bytes, boolean complete, integer count
function M.glue_arguments_size(props)
  local n, complete, count = 0, true, 0
  for _, field in ipairs({ "DefaultArguments", "NonOverridableArguments" }) do
    local args = props[field]
    if token.is(args) then
      complete = false
    elseif type(args) == "table" then
      for k, v in pairs(args) do -- a sum: the order does not matter
        local m, c = M.known_length(v)
        n = n + #tostring(k) + m
        complete = complete and c
        count = count + 1
      end
    end
  end
  return n, complete, count
end

--- Problem of an AWS::Glue::Job's properties: path, message | nil.
function M.glue_arguments_problem(props)
  local n, complete, count = M.glue_arguments_size(props)
  if n <= M.GLUE_ARGUMENTS_BYTES then return nil end
  local path = props.NonOverridableArguments ~= nil and props.DefaultArguments ~= nil and
    "DefaultArguments" or (props.DefaultArguments ~= nil and "DefaultArguments" or "NonOverridableArguments")
  return path, ("the job's %d arguments take %s (names and values, DefaultArguments and "
    .. "NonOverridableArguments together), more than the %s (260 KB) Glue allows"):format(count,
    measured(n, complete), M.bytes(M.GLUE_ARGUMENTS_BYTES))
end

--- A whole-resource check for a kind module: kind.check(props) -> array of
-- { path =, msg = }. Used by lake.app next to the field checks.
-- @param fn function(props) -> path, msg | nil
function M.check(fn)
  return function(props)
    local path, msg = fn(props)
    if not path then return {} end
    return { { path = path, msg = msg } }
  end
end

return M
