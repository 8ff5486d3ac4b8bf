--- Resource names of the lake: kebab-case with the stage as suffix.
--
-- Name("lake-storage-stack", "dev") -> "lake-storage-stack-dev". Names that
-- embed the account or the region use pseudo parameters (Fn::Sub) unless the
-- app was given them, so synthesis needs no credentials.
local token = require("lake.token")
local util = require("lake.util")

local M = {}

M.STAGES = { "dev", "stg", "prd", "test" }
M.LAYERS = { "raw", "trusted", "service" }

--- "<kebab(base)>-<stage>".
function M.name(base, stage)
  return util.kebab(base) .. "-" .. stage
end

function M.storage_stack(stage) return M.name("lake-storage-stack", stage) end
function M.shared_stack(stage) return M.name("lake-shared-stack", stage) end
function M.pipeline_stack(pipeline, stage) return M.name("lake-" .. util.kebab(pipeline) .. "-stack", stage) end

--- "{domain}-{layer}-{region}-{account}-{stage}" (string or token).
-- @param env table { region=, account=, stage= } (region/account may be nil)
function M.bucket(domain, layer, env)
  return token.concat(util.kebab(domain), "-", layer, "-", env.region or token.region, "-",
    env.account or token.account_id, "-", env.stage)
end

-- The longest lake name a logs bucket keeps whole: 63 characters with the
-- longest region and account and stage.
local LOGS_LAKE_MAX = 63 - #"-logs-" - #token.LONGEST["AWS::Region"] - #"-123456789012-" - #"prd"

--- The lake's S3 server access logs bucket:
-- "{lake}-logs-{region}-{account}-{stage}" (string or token). A lake name
-- too long for S3's 63 characters keeps its first 16 and gets an 8-digit
-- hash of the whole, so two long names stay apart.
-- @param env table { region=, account=, stage= } (region/account may be nil)
function M.logs_bucket(lake_name, env)
  local lake = util.kebab(lake_name)
  if #lake > LOGS_LAKE_MAX then
    local h = 2166136261
    for i = 1, #lake do h = ((h ~ lake:byte(i)) * 16777619) & 0xffffffff end
    lake = lake:sub(1, 16):gsub("%-$", "") .. ("-%08x"):format(h)
  end
  return token.concat(lake, "-logs-", env.region or token.region, "-",
    env.account or token.account_id, "-", env.stage)
end

--- The lake's Glue security configuration: "<lake>-<stage>".
function M.glue_security_configuration(lake_name, stage)
  return M.name(util.kebab(lake_name), stage)
end

--- Glue database of a bucket: "{domain}_{layer}_{stage}" (Athena-friendly).
function M.database(domain, layer, stage)
  return (util.kebab(domain) .. "_" .. layer .. "_" .. stage):gsub("-", "_")
end

--- Crawler of a raw bucket: "{domain}-{layer}-crawler-{stage}" (no double dash).
function M.crawler(domain, layer, stage)
  return M.name(util.kebab(domain) .. "-" .. layer .. "-crawler", stage)
end

--- The lake's error topic: "<lake>-errors-<stage>".
function M.topic(lake_name, stage)
  return M.name(util.kebab(lake_name) .. "-errors", stage)
end

--- arn:${AWS::Partition}:<service>:<region>:<account>:<resource>.
-- @param resource string|token
-- @param env table { region=, account= } (either may be nil: a pseudo parameter then)
function M.arn(service, resource, env)
  return token.concat("arn:", token.partition, ":" .. service .. ":", env.region or token.region, ":",
    env.account or token.account_id, ":", resource)
end

return M
