--- {{name}}: a stack of your own, beside the lake's.
--
-- lakehost runs every standalone/*.lua of the project, in name order, after it
-- has built the lake, as `local app, datalake = ...`:
--   datalake.name, .stage, .region, .account   the lake's name, stage, region, account
--   datalake.env                                { region, account, stage }, for lake.names
--   datalake.tags, datalake.domains             the lake's tags and domains
--   datalake.buckets[domain][layer]             a bucket: name, arn, database
--   datalake.error_topic                        the pipelines' error topic: name, arn
--   datalake.vpc                                the lake's VPC (when the vpc option is set)
--   datalake.storage_stack, .shared_stack       the lake's stacks, for stack:depends_on
--   datalake:lambda_function(stack, id, { folder = ..., ... })
--                                               a Lambda function whose code is a project folder
--   app:stack(name)                             a new stack
--   stack:add(kind, id, props)                  a resource: kind is a CloudFormation type name
--                                               like "AWS::SQS::Queue" or its snake form "sqs_queue"
-- Globals are refused: declare everything local. `lakehost app.lua validate`
-- checks the resources against their schemas.
local app, datalake = ...
local lake = require("lake")

local stack = app:stack(lake.Name("lake-{{stack}}-stack", datalake.stage), {
  description = ("{{name}}: a stack of the %s datalake (%s)"):format(datalake.name, datalake.stage),
})
stack:depends_on(datalake.storage_stack)

-- The name of the first domain's raw bucket, for other tools to read:
-- aws ssm get-parameter --name /<lake>-<stage>/{{stack}}/raw-bucket
local domain = datalake.domains[1]
local raw = datalake.buckets[domain].raw
stack:add("AWS::SSM::Parameter", "RawBucketName", {
  Name = "/" .. lake.Name(datalake.name, datalake.stage) .. "/{{stack}}/raw-bucket",
  Type = "String",
  Value = raw.name,
  Description = ("The raw bucket of the %s domain"):format(domain),
})
