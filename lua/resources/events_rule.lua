--- AWS::Events::Rule
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-events-rule.html
-- The lake's tags are not put on rules (CloudFormation took Tags on rules only
-- lately); a rule may be given Tags of its own.
local t = require("lake.types")

local events_rule = { type = "AWS::Events::Rule", name_property = "Name", name_max = 64 }

local target = t.object {
  { Id = t.string { required = true, max_len = 64 } },
  { Arn = t.string { required = true } },
  { RoleArn = t.string {} },
  { Input = t.string {} },
  { InputPath = t.string {} },
  { InputTransformer = t.object {
    { InputPathsMap = t.map(t.string {}) },
    { InputTemplate = t.string { required = true } },
  } },
  { DeadLetterConfig = t.object { { Arn = t.string {} } } },
  { RetryPolicy = t.object {
    { MaximumEventAgeInSeconds = t.integer { min = 60, max = 86400 } },
    { MaximumRetryAttempts = t.integer { min = 0, max = 185 } },
  } },
}

events_rule.fields = {
  { Name = t.string { max_len = 64 } },
  { Description = t.string { max_len = 512 } },
  { EventBusName = t.string {} },
  { EventPattern = t.any() },
  { ScheduleExpression = t.string {} },
  { State = t.enum { "ENABLED", "DISABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" } },
  { RoleArn = t.string {} },
  { Targets = t.list(target) },
}

events_rule.attributes = { "Arn" }

return events_rule
