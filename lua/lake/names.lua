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

-- ARN tokens already made, per env table (whose region and account do not
-- change once the lake is built): the roles of a pipeline ask for the same
-- ARNs, and so do the pipelines of a domain. A token is never changed, so
-- one can serve them all, and its Fn::Sub, the same in every stack, is made
-- once (lake.token keeps it).
-- (At most util.MEMO_MAX per env, then afresh: the ARNs of one pipeline's
-- own functions and jobs are asked for by it alone.)
local arns = setmetatable({}, { __mode = "k" })

--- arn:${AWS::Partition}:<service>:<region>:<account>:<resource>.
-- @param resource string
function M.arn(service, resource, env)
  local known = arns[env]
  if not known or known.n >= util.MEMO_MAX then
    known = { n = 0, tokens = {} }
    arns[env] = known
  end
  local key = service .. " " .. resource
  local t = known.tokens[key]
  if not t then
    t = token.concat("arn:", token.partition, ":", service, ":", env.region or token.region, ":",
      env.account or token.account_id, ":", resource)
    known.tokens[key] = t
    known.n = known.n + 1
  end
  return t
end

return M
