--- The lake's Glue catalog: a database per bucket, and for each raw bucket
-- a crawler with its role, in the shared stack.
--
-- Model objects only (no I/O).
local nag = require("lake.nag")
local names = require("lake.names")
local token = require("lake.token")
local util = require("lake.util")

local M = {}

M.CRAWLER_SCHEDULE = "cron(0 0 * * ? *)"
local POLICY_VERSION = "2012-10-17"

--- What a crawler does in the catalog: read its database, create and
-- update its tables and their partitions (SchemaChangePolicy LOG: it
-- deletes nothing).
M.CRAWLER_CATALOG_ACTIONS = { "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable",
  "glue:UpdateTable", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition", "glue:CreatePartition",
  "glue:BatchCreatePartition", "glue:UpdatePartition", "glue:BatchUpdatePartition" }
M.CRAWLER_LOG_GROUP = "/aws-glue/crawlers"

local function statement(sid, actions, resources)
  return { Sid = sid, Effect = "Allow", Action = actions, Resource = resources }
end

--- The inline statements of the crawler of bucket b, in place of the AWS
-- managed AWSGlueServiceRole (glue:* on everything, every bucket listed):
-- its bucket, its database and tables (and the catalog ARN, a required
-- resource type of every catalog action in the Service Authorization
-- Reference), and its own log stream: crawlers write to the shared group
-- /aws-glue/crawlers, in a stream named after the crawler.
function M.crawler_statements(lake, b)
  local env = lake.env
  local group = "log-group:" .. M.CRAWLER_LOG_GROUP
  local out = {
    statement("ListBucket", "s3:ListBucket", b.arn),
    statement("ReadObjects", "s3:GetObject", token.concat(b.arn, "/*")),
    statement("CatalogCrawledTables", M.CRAWLER_CATALOG_ACTIONS, { lake.catalog_arn, b.database_arn, b.tables_arn }),
    -- Glue creates the group on first use
    statement("CreateCrawlerLogGroup", "logs:CreateLogGroup", names.arn("logs", group, env)),
    -- CreateLogStream and PutLogEvents both act on a log-stream resource
    -- (Service Authorization Reference): the crawler's own stream only
    statement("WriteCrawlerLogs", { "logs:CreateLogStream", "logs:PutLogEvents" },
      names.arn("logs", group .. ":log-stream:" .. b.crawler, env)),
  }
  -- With CloudWatch encryption in the security configuration (encryption =
  -- "kms"), Glue writes to /aws-glue/crawlers-role/<role name>-<configuration>
  -- instead; the role's name is CloudFormation's, so the group is matched
  -- by its configuration suffix, and the stream is still the crawler's own.
  if lake.encryption:uses_kms() then
    local secured = "log-group:/aws-glue/crawlers-role/*-" .. lake.encryption.security_configuration
    out[#out + 1] = statement("CreateSecuredCrawlerLogGroup", "logs:CreateLogGroup", names.arn("logs", secured, env))
    out[#out + 1] = statement("WriteSecuredCrawlerLogs", { "logs:CreateLogStream", "logs:PutLogEvents" },
      names.arn("logs", secured .. ":log-stream:" .. b.crawler, env))
  end
  return out
end

--- Adds the catalog of the built lake to the shared stack.
function M.build(lake, stack)
  local env = lake.env
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
        Policies = { {
          PolicyName = "read-" .. b.domain .. "-" .. b.layer,
          PolicyDocument = { Version = POLICY_VERSION, Statement = M.crawler_statements(lake, b) },
        } },
      })
      nag.lake_role(role)
      lake.encryption:grant(role, { "s3", "crawler_logs" })
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
