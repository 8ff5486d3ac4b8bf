--- AWS::EC2::VPCGatewayAttachment: attaches an internet (or VPN) gateway to a
-- VPC. Give exactly one of InternetGatewayId and VpnGatewayId.
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-vpcgatewayattachment.html
local t = require("lake.types")

local ec2_vpc_gateway_attachment = { type = "AWS::EC2::VPCGatewayAttachment" }

ec2_vpc_gateway_attachment.fields = {
  { VpcId = t.string { required = true } },
  { InternetGatewayId = t.string {} },
  { VpnGatewayId = t.string {} },
}

ec2_vpc_gateway_attachment.attributes = { "AttachmentType" }

return ec2_vpc_gateway_attachment
