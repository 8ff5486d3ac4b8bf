--- AWS::SSM::Parameter (Ref returns the parameter name; Tags is a map).
-- CloudFormation cannot create SecureString parameters, hence the Type enum.
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ssm-parameter.html
local t = require("lake.types")

local ssm_parameter = { type = "AWS::SSM::Parameter", tags = "map",
  name_property = "Name", name_max = 2048 }

ssm_parameter.fields = {
  { Name = t.string { max_len = 2048, pattern = "^[%w_.%-/]+$",
    pattern_msg = "letters, digits and _.-/ only" } },
  { Type = t.enum { "String", "StringList", required = true } },
  { Value = t.string { required = true } },
  { Description = t.string { max_len = 1024 } },
  { AllowedPattern = t.string { max_len = 1024 } },
  { DataType = t.enum { "text", "aws:ec2:image" } },
  { Tier = t.enum { "Standard", "Advanced", "Intelligent-Tiering" } },
  { Policies = t.string {} },
  { Tags = t.map(t.string {}) },
}

ssm_parameter.attributes = { "Type", "Value" }

return ssm_parameter
