--- AWS::EC2::VPC (Ref returns the VPC id)
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-vpc.html
local t = require("lake.types")

local ec2_vpc = { type = "AWS::EC2::VPC", tags = "list" }

local tag = t.object { { Key = t.string { required = true } }, { Value = t.string { required = true } } }

ec2_vpc.fields = {
  { CidrBlock = t.string { pattern = "^%d+%.%d+%.%d+%.%d+/%d+$", pattern_msg = "an IPv4 CIDR such as 10.0.0.0/16" } },
  { EnableDnsHostnames = t.boolean {} },
  { EnableDnsSupport = t.boolean {} },
  { InstanceTenancy = t.enum { "default", "dedicated", "host" } },
  { Ipv4IpamPoolId = t.string {} },
  { Ipv4NetmaskLength = t.integer { min = 16, max = 28 } },
  { Tags = t.list(tag) },
}

ec2_vpc.attributes = { "CidrBlock", "CidrBlockAssociations", "DefaultNetworkAcl", "DefaultSecurityGroup",
  "Ipv6CidrBlocks", "VpcId" }

return ec2_vpc
