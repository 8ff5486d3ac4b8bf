--- STS: who am I, and temporary credentials for roles.
local query = require("lake.aws.query")

local M = {}
local VERSION = "2011-06-15"

local function creds_of(r, source)
  local c = r.Credentials
  if type(c) ~= "table" or not c.AccessKeyId then return nil, "STS answered without credentials" end
  return { access_key = c.AccessKeyId, secret_key = c.SecretAccessKey, session_token = c.SessionToken,
    expiration = c.Expiration, source = source }
end

--- GetCallerIdentity -> { account=, arn=, user_id= } | nil, err
function M.get_caller_identity(c)
  local r, err = query.call(c, "sts", VERSION, "GetCallerIdentity", {})
  if not r then return nil, err end
  return { account = r.Account, arn = r.Arn, user_id = r.UserId }
end

--- AssumeRole with the client's credentials -> creds | nil, err
-- @param p table { role_arn=, session_name=, external_id=, duration=, source= }
function M.assume_role(c, p)
  local r, err = query.call(c, "sts", VERSION, "AssumeRole", {
    RoleArn = p.role_arn, RoleSessionName = p.session_name or "lakehost",
    ExternalId = p.external_id, DurationSeconds = p.duration,
  })
  if not r then return nil, err end
  return creds_of(r, p.source or ("assume-role " .. p.role_arn))
end

--- AssumeRoleWithWebIdentity (unsigned: the token is the proof) -> creds | nil, err
-- @param p table { role_arn=, session_name=, token=, duration= }
function M.assume_role_with_web_identity(c, p)
  local r, err = query.call(c, "sts", VERSION, "AssumeRoleWithWebIdentity", {
    RoleArn = p.role_arn, RoleSessionName = p.session_name or "lakehost",
    WebIdentityToken = p.token, DurationSeconds = p.duration,
  }, { unsigned = true })
  if not r then return nil, err end
  return creds_of(r, "web identity " .. p.role_arn)
end

return M
