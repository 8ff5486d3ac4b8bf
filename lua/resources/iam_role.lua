--- AWS::IAM::Role (Ref returns the role name)
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-iam-role.html
local t = require("lake.types")

local iam_role = { type = "AWS::IAM::Role", tags = "list",
  name_property = "RoleName", name_max = 64 }

local tag = t.object { { Key = t.string { required = true } }, { Value = t.string { required = true } } }

iam_role.fields = {
  { RoleName = t.string { max_len = 64, pattern = "^[%w+=,.@_%-]+$",
    pattern_msg = "letters, digits and +=,.@_- only" } },
  { Description = t.string { max_len = 1000 } },
  { AssumeRolePolicyDocument = t.any { required = true } },
  { ManagedPolicyArns = t.list(t.string {}) },
  { MaxSessionDuration = t.integer { min = 3600, max = 43200 } },
  { Path = t.string { max_len = 512 } },
  { PermissionsBoundary = t.string {} },
  { Policies = t.list(t.object {
    { PolicyName = t.string { required = true, max_len = 128 } },
    { PolicyDocument = t.any { required = true } },
  }) },
  { Tags = t.list(tag) },
}

iam_role.attributes = { "Arn", "RoleId" }

return iam_role
