--- AWS::EC2::InternetGateway (Ref returns the gateway id)
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-internetgateway.html
local t = require("lake.types")

local ec2_internet_gateway = { type = "AWS::EC2::InternetGateway", tags = "list" }

local tag = t.object { { Key = t.string { required = true } }, { Value = t.string { required = true } } }

ec2_internet_gateway.fields = {
  { Tags = t.list(tag) },
}

ec2_internet_gateway.attributes = { "InternetGatewayId" }

return ec2_internet_gateway
