--- AWS::EC2::SubnetRouteTableAssociation (no tags in CloudFormation)
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-subnetroutetableassociation.html
local t = require("lake.types")

local ec2_subnet_route_table_association = { type = "AWS::EC2::SubnetRouteTableAssociation" }

ec2_subnet_route_table_association.fields = {
  { RouteTableId = t.string { required = true } },
  { SubnetId = t.string { required = true } },
}

ec2_subnet_route_table_association.attributes = { "Id" }

return ec2_subnet_route_table_association
