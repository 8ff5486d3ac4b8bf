--- AWS::IAM::Policy: an inline policy attached to roles, users or groups
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-iam-policy.html
local t = require("lake.types")

local iam_policy = { type = "AWS::IAM::Policy", name_property = "PolicyName", name_max = 128 }

iam_policy.fields = {
  { PolicyName = t.string { required = true, max_len = 128, pattern = "^[%w+=,.@_%-]+$",
    pattern_msg = "letters, digits and +=,.@_- only" } },
  { PolicyDocument = t.any { required = true } },
  { Roles = t.list(t.string {}) },
  { Users = t.list(t.string {}) },
  { Groups = t.list(t.string {}) },
}

iam_policy.attributes = { "Id" }

return iam_policy
