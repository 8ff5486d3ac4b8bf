--- AWS::EC2::RouteTable (Ref returns the route table id)
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-routetable.html
local t = require("lake.types")

local ec2_route_table = { type = "AWS::EC2::RouteTable", tags = "list" }

local tag = t.object { { Key = t.string { required = true } }, { Value = t.string { required = true } } }

ec2_route_table.fields = {
  { VpcId = t.string { required = true } },
  { Tags = t.list(tag) },
}

ec2_route_table.attributes = { "RouteTableId" }

return ec2_route_table
