--- The {{lake_name}} datalake, described for lakehost.
--
--   lakehost app.lua validate      every problem of this file, the pipelines and the stacks
--   lakehost app.lua synth         templates and assets in lake.out/
--   lakehost app.lua deploy        every stack (after `lakehost app.lua bootstrap`, once)
--
-- Environment:
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
  name = "{{app_name}}",
  root = root,
  region = region,
  account = account,
}

lake.DatalakeBuilder {
  scope = app,
  lake_name = "{{lake_name}}",
  region = region,
  account_id = account,
  env = stage,
  -- One bucket per domain and layer (raw, trusted, service), a Glue database
  -- per bucket; a pipeline's config.yml names its domain.
  lake_domains = { "example" },
  -- A VPC for the lake's functions and Glue jobs (private subnets, endpoints,
  -- flow logs; public subnets and an internet gateway only if asked for):
  -- vpc = { cidr = "192.168.228.0/22", public_subnets = false },
  -- Every bucket is versioned; replaced versions are kept this many days:
  -- noncurrent_version_days = 30,
  -- "s3" (default): SSE-S3 and AWS-owned keys; "kms": one lake key for buckets, topic, logs and Glue
  -- (or kms_key_arn = "arn:aws:kms:...:key/..." to use a key of your own):
  -- encryption = "s3",
  -- Server access logs of every bucket are kept this many days:
  -- access_log_days = 365,
  -- Who hears of failed pipeline runs:
  -- sns_subscriptions = { { protocol = "email", endpoint = "someone@example.com" } },
  -- Every pipelines/<name>/config.yml is a pipeline (lakehost app.lua new pipeline NAME --domain example).
  pipelines_path = root .. "/pipelines",
  -- Every standalone/*.lua is a stack of your own, run in name order
  -- (lakehost app.lua new stack NAME); `standalone = { ... }` lists them instead.
  tags = { lake = "{{app_name}}" },
}:build()

return app
