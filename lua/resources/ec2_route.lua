--- AWS::EC2::Route: one route in a route table (no tags in CloudFormation).
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-route.html
local t = require("lake.types")

local ec2_route = { type = "AWS::EC2::Route" }

ec2_route.fields = {
  { RouteTableId = t.string { required = true } },
  { DestinationCidrBlock = t.string { pattern = "^%d+%.%d+%.%d+%.%d+/%d+$",
    pattern_msg = "an IPv4 CIDR such as 0.0.0.0/0" } },
  { DestinationIpv6CidrBlock = t.string {} },
  { DestinationPrefixListId = t.string {} },
  { GatewayId = t.string {} },
  { NatGatewayId = t.string {} },
  { EgressOnlyInternetGatewayId = t.string {} },
  { TransitGatewayId = t.string {} },
  { VpcEndpointId = t.string {} },
  { VpcPeeringConnectionId = t.string {} },
  { NetworkInterfaceId = t.string {} },
  { InstanceId = t.string {} },
}

ec2_route.attributes = { "CidrBlock" }

return ec2_route
