--- The example datalake. Run `lakehost app.lua synth` (or list, validate, deploy).
--
-- Environment, as the original read it:
--   AWS_REGION / AWS_DEFAULT_REGION  region of the lake (else ${AWS::Region} at deploy)
--   AWS_ACCOUNT_ID                   account of the lake (else ${AWS::AccountId} at deploy)
--   ENVIRONMENT_STAGE                dev (default), stg, prd or test
local lake = require("lake")

-- The folder of this file, so the paths below work from any directory.
local source = debug.getinfo(1, "S").source
local root = source:sub(1, 1) == "@" and source:sub(2):match("^(.*)/[^/]*$") or "."

local function env(name)
  local v = os.getenv(name)
  if v == "" then return nil end
  return v
end

local region = env("AWS_REGION") or env("AWS_DEFAULT_REGION")
local account = env("AWS_ACCOUNT_ID")
local stage = env("ENVIRONMENT_STAGE") or "dev"

local app = lake.App {
  name = "example-lake",
  root = root,
  region = region,
  account = account,
}

lake.DatalakeBuilder {
  scope = app,
  lake_name = "Example Lake",
  region = region,
  account_id = account,
  env = stage,
  lake_domains = { "example" },
  enable_vpc = false,
  sns_subscriptions = {
    { protocol = "email", endpoint = "example@example.com" },
  },
  pipelines_path = root .. "/pipelines",
  tags = { example1 = "value1", example2 = "value2" },
}:build()

return app
