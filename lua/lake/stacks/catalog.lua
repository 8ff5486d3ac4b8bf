--- The lake's Glue catalog: a database per bucket, and for each raw bucket
-- a crawler with its role, in the shared stack.
--
-- Model objects only (no I/O).
local token = require("lake.token")
local util = require("lake.util")

local M = {}

M.CRAWLER_SCHEDULE = "cron(0 0 * * ? *)"
local POLICY_VERSION = "2012-10-17"

--- Adds the catalog of the built lake to the shared stack.
function M.build(lake, stack)
  local env = lake.env
  local glue_service_role = token.concat("arn:", token.partition, ":iam::aws:policy/service-role/AWSGlueServiceRole")
  for _, b in ipairs(lake.bucket_set.list) do
    local prefix = util.pascal(b.domain) .. util.pascal(b.layer)
    local db = stack:add("glue_database", prefix .. "Database", {
      CatalogId = env.account or token.account_id,
      DatabaseInput = {
        Name = b.database,
        Description = ("Catalog of the %s domain's %s layer"):format(b.domain, b.layer),
        LocationUri = token.concat(b.uri, "/"),
      },
    })
    if b.crawler then
      local role = stack:add("iam_role", prefix .. "CrawlerRole", {
        Description = ("Glue crawler of %s"):format(b.database),
        AssumeRolePolicyDocument = { Version = POLICY_VERSION, Statement = { {
          Effect = "Allow", Principal = { Service = "glue.amazonaws.com" }, Action = "sts:AssumeRole" } } },
        ManagedPolicyArns = { glue_service_role },
        Policies = { {
          PolicyName = "read-" .. b.domain .. "-" .. b.layer,
          PolicyDocument = { Version = POLICY_VERSION, Statement = {
            { Sid = "ListBucket", Effect = "Allow", Action = "s3:ListBucket", Resource = b.arn },
            { Sid = "ReadObjects", Effect = "Allow", Action = "s3:GetObject", Resource = token.concat(b.arn, "/*") },
          } },
        } },
      })
      lake.encryption:grant(role, { "s3", "glue_logs" })
      local crawler = stack:add("glue_crawler", prefix .. "Crawler", {
        Name = b.crawler,
        Description = token.concat("Catalogs new folders of ", b.uri, " into ", b.database, " daily"),
        Role = role:arn(),
        DatabaseName = b.database,
        Targets = { S3Targets = { { Path = token.concat(b.uri, "/") } } },
        Schedule = { ScheduleExpression = M.CRAWLER_SCHEDULE },
        SchemaChangePolicy = { UpdateBehavior = "LOG", DeleteBehavior = "LOG" },
        RecrawlPolicy = { RecrawlBehavior = "CRAWL_NEW_FOLDERS_ONLY" },
      }, { depends_on = { db } })
      lake.encryption:secure_glue(crawler)
    end
  end
end

return M
