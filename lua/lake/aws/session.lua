--- What a command needs to talk to AWS: region, credentials, a client and
-- the account id (AWS_ACCOUNT_ID, else what an answer already said, else
-- STS GetCallerIdentity, asked once).
local client_mod = require("lake.aws.client")
local credentials = require("lake.aws.credentials")
local errors = require("lake.errors")

local M = {}

--- Creates a session or raises a clear error (exit 2 for missing or wrong
-- settings: no region, a region that is not one, a named profile that
-- neither AWS file has).
-- @param opts table { log = function(msg) for --verbose, getenv=,
--   profile = --profile (over AWS_PROFILE; environment keys are then
--   ignored, as `aws --profile` does), region = --region (over AWS_REGION,
--   AWS_DEFAULT_REGION and the profile's region), now = clock of the
--   credentials' refreshes }
function M.new(opts)
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local profile = opts.profile
  local named = credentials.named_profile(getenv, profile)
  if named then
    -- as the AWS CLI: "The config profile (x) could not be found"
    local settings, _, name, config_path, creds_path = credentials.profile(getenv, profile)
    local _, exists = settings(name)
    if not exists then
      errors.usage(("AWS profile '%s' not found in %s or %s%s"):format(name, config_path, creds_path,
        profile and "" or " (it is AWS_PROFILE's)"))
    end
  end
  local region = opts.region or credentials.region(getenv, profile)
  if not region or region == "" then
    errors.usage("no AWS region: pass --region, or set AWS_REGION (or AWS_DEFAULT_REGION, or region in your AWS profile)")
  end
  if not region:match("^[a-z][a-z0-9-]+%-%d+$") then
    errors.usage(("AWS region '%s' does not look like a region (e.g. us-east-1)"):format(region))
  end
  local provider = credentials.provider { getenv = getenv, region = region, profile = profile, log = opts.log,
    now = opts.now }
  local c = client_mod.new { region = region, credentials = provider, log = opts.log, getenv = getenv }
  local self = { client = c, region = region, profile = named }
  function self.creds()
    local cr, err = provider()
    if not cr then errors.failed(err) end
    return cr
  end
  local account = getenv("AWS_ACCOUNT_ID")
  function self.account()
    if account and account ~= "" then return account end
    local id, err = require("lake.aws.sts").get_caller_identity(c)
    if not id then errors.failed("cannot tell the AWS account (STS GetCallerIdentity): " .. tostring(err)) end
    account = id.account
    return account
  end
  --- Takes the account from an answer that already named it (a stack's
  -- ARN), so account() need not ask STS; AWS_ACCOUNT_ID still wins.
  function self.learn_account(id)
    if (not account or account == "") and type(id) == "string" and id:match("^%d+$") then account = id end
  end
  return self
end

return M
