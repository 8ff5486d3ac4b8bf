--- AWS::EC2::VPCEndpoint (Ref returns the endpoint id). Gateway endpoints
-- take RouteTableIds; interface endpoints take SubnetIds and SecurityGroupIds.
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-vpcendpoint.html
local t = require("lake.types")

local ec2_vpc_endpoint = { type = "AWS::EC2::VPCEndpoint", tags = "list" }

local tag = t.object { { Key = t.string { required = true } }, { Value = t.string { required = true } } }

ec2_vpc_endpoint.fields = {
  { VpcId = t.string { required = true } },
  { ServiceName = t.string {} },
  { VpcEndpointType = t.enum { "Interface", "Gateway", "GatewayLoadBalancer", "ServiceNetwork", "Resource" } },
  { PolicyDocument = t.any {} },
  { PrivateDnsEnabled = t.boolean {} },
  { RouteTableIds = t.list(t.string {}) },
  { SubnetIds = t.list(t.string {}) },
  { SecurityGroupIds = t.list(t.string {}) },
  { IpAddressType = t.enum { "ipv4", "ipv6", "dualstack" } },
  { Tags = t.list(tag) },
}

ec2_vpc_endpoint.attributes = { "CreationTimestamp", "DnsEntries", "Id", "NetworkInterfaceIds" }

return ec2_vpc_endpoint
