--- AWS::IAM::ManagedPolicy (Ref returns the policy ARN)
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-iam-managedpolicy.html
local t = require("lake.types")

local iam_managed_policy = { type = "AWS::IAM::ManagedPolicy",
  name_property = "ManagedPolicyName", name_max = 128 }

iam_managed_policy.fields = {
  { ManagedPolicyName = t.string { max_len = 128, pattern = "^[%w+=,.@_%-]+$",
    pattern_msg = "letters, digits and +=,.@_- only" } },
  { Description = t.string { max_len = 1000 } },
  { Path = t.string { max_len = 512 } },
  { PolicyDocument = t.any { required = true } },
  { Roles = t.list(t.string {}) },
  { Users = t.list(t.string {}) },
  { Groups = t.list(t.string {}) },
}

iam_managed_policy.attributes = { "PolicyArn", "PolicyId", "DefaultVersionId", "AttachmentCount",
  "IsAttachable", "CreateDate", "UpdateDate", "PermissionsBoundaryUsageCount" }

return iam_managed_policy
