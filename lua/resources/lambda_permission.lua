--- AWS::Lambda::Permission
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-permission.html
local t = require("lake.types")

local lambda_permission = { type = "AWS::Lambda::Permission" }

lambda_permission.fields = {
  { Action = t.string { required = true } },
  { FunctionName = t.string { required = true } },
  { Principal = t.string { required = true } },
  { SourceArn = t.string {} },
  { SourceAccount = t.string {} },
  { PrincipalOrgID = t.string {} },
  { EventSourceToken = t.string {} },
  { FunctionUrlAuthType = t.enum { "AWS_IAM", "NONE" } },
}

lambda_permission.attributes = {}

return lambda_permission
