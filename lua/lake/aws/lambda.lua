--- Lambda through REST-JSON (API version 2015-03-31): the calls hotswap
-- makes, each returning the decoded function configuration or nil, err.
local client = require("lake.aws.client")
local json = require("host.json")

local M = {}

local BASE = "/2015-03-31/functions/"

-- A function name or ARN as one path segment (an ARN's ':' stays, as the
-- SDKs send it).
local function segment(name)
  return (tostring(name):gsub("[^%w%-_%.~:]", function(ch) return ("%%%02X"):format(ch:byte()) end))
end

local function call(c, action, method, path, body, opts)
  local resp, err = c:call {
    service = "lambda", action = action, method = method, path = path,
    headers = body and { ["Content-Type"] = "application/json" } or nil,
    body = body and json.encode(body) or nil, max_attempts = opts and opts.max_attempts,
  }
  if not resp then return nil, err end
  if resp.body == nil or resp.body == "" then return {} end
  local v, jerr = json.decode(resp.body)
  if type(v) ~= "table" then
    return nil, client.error { code = "MalformedResponse", message = tostring(jerr), service = "lambda", action = action }
  end
  return v
end

--- UpdateFunctionCode from an object in S3 -> configuration | nil, err
-- @param code table { S3Bucket=, S3Key=, S3ObjectVersion= }
function M.update_function_code(c, name, code)
  return call(c, "UpdateFunctionCode", "PUT", BASE .. segment(name) .. "/code", code)
end

--- UpdateFunctionConfiguration -> configuration | nil, err
-- @param conf table { Environment = { Variables = {} }, MemorySize=, Timeout=, ... }
function M.update_function_configuration(c, name, conf)
  return call(c, "UpdateFunctionConfiguration", "PUT", BASE .. segment(name) .. "/configuration", conf)
end

--- GetFunctionConfiguration -> configuration (State, LastUpdateStatus,
-- CodeSha256, ...) | nil, err
function M.get_function_configuration(c, name, opts)
  return call(c, "GetFunctionConfiguration", "GET", BASE .. segment(name) .. "/configuration", nil, opts)
end

return M
