--- The AWS JSON protocols (1.0 and 1.1: Step Functions, EventBridge, Glue,
-- CloudWatch Logs): POST / with X-Amz-Target, JSON in and out.
local client = require("lake.aws.client")
local json = require("host.json")

local M = {}

-- service -> { target prefix, JSON version }
M.SERVICES = {
  states = { "AWSStepFunctions", "1.0" },
  events = { "AWSEvents", "1.1" },
  glue = { "AWSGlue", "1.1" },
  logs = { "Logs_20140328", "1.1" },
  ssm = { "AmazonSSM", "1.1" },
  athena = { "AmazonAthena", "1.1" },
}

--- Calls an action -> decoded response table | nil, err
function M.call(c, service, action, params, opts)
  local svc = M.SERVICES[service]
  if not svc then error("jsonrpc: unknown service " .. tostring(service), 2) end
  local resp, err = c:call {
    service = service, action = action, method = "POST", path = "/",
    headers = { ["Content-Type"] = "application/x-amz-json-" .. svc[2], ["X-Amz-Target"] = svc[1] .. "." .. action },
    body = json.encode(params or json.object()), max_attempts = opts and opts.max_attempts,
  }
  if not resp then return nil, err end
  if resp.body == nil or resp.body == "" then return {} end
  local v, jerr = json.decode(resp.body)
  if not v then
    return nil, client.error { code = "MalformedResponse", message = jerr, service = service, action = action }
  end
  return v
end

return M
