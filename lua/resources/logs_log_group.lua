--- AWS::Logs::LogGroup
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-logs-loggroup.html
local t = require("lake.types")
local token = require("lake.token")

local logs_log_group = { type = "AWS::Logs::LogGroup", tags = "list",
  name_property = "LogGroupName", name_max = 512 }

--- The retention periods CloudWatch Logs accepts.
logs_log_group.RETENTION_DAYS = { 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
  1096, 1827, 2192, 2557, 2922, 3288, 3653 }

-- kind "integer": an integer with its own check (the enum type is for strings).
local retention = { kind = "integer", values = logs_log_group.RETENTION_DAYS }
local allowed = {}
for _, d in ipairs(logs_log_group.RETENTION_DAYS) do allowed[d] = true end
function retention.ok(v) return token.is(v) or (math.type(v) == "integer" and allowed[v] == true) end
function retention.check(v, path, errs)
  if retention.ok(v) then return end
  errs[#errs + 1] = ("%s: expected one of %s, got %s"):format(path,
    table.concat(logs_log_group.RETENTION_DAYS, ", "), type(v) == "number" and tostring(v) or t.tname(v))
end

local tag = t.object { { Key = t.string { required = true } }, { Value = t.string { required = true } } }

logs_log_group.fields = {
  { LogGroupName = t.string { max_len = 512 } },
  { RetentionInDays = retention },
  { KmsKeyId = t.string {} },
  { LogGroupClass = t.enum { "STANDARD", "INFREQUENT_ACCESS" } },
  { DataProtectionPolicy = t.any() },
  { Tags = t.list(tag) },
}

logs_log_group.attributes = { "Arn" }

return logs_log_group
