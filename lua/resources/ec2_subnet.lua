--- AWS::EC2::Subnet (Ref returns the subnet id)
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-subnet.html
local t = require("lake.types")

local ec2_subnet = { type = "AWS::EC2::Subnet", tags = "list" }

local tag = t.object { { Key = t.string { required = true } }, { Value = t.string { required = true } } }

ec2_subnet.fields = {
  { VpcId = t.string { required = true } },
  { CidrBlock = t.string { pattern = "^%d+%.%d+%.%d+%.%d+/%d+$", pattern_msg = "an IPv4 CIDR such as 10.0.1.0/24" } },
  { AvailabilityZone = t.string {} },
  { AvailabilityZoneId = t.string {} },
  { MapPublicIpOnLaunch = t.boolean {} },
  { AssignIpv6AddressOnCreation = t.boolean {} },
  { Ipv6CidrBlock = t.string {} },
  { EnableDns64 = t.boolean {} },
  { Tags = t.list(tag) },
}

ec2_subnet.attributes = { "AvailabilityZone", "AvailabilityZoneId", "CidrBlock", "Ipv6CidrBlocks",
  "NetworkAclAssociationId", "OutpostArn", "SubnetId", "VpcId" }

return ec2_subnet
