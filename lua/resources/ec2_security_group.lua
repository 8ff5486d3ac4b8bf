--- AWS::EC2::SecurityGroup (Ref returns the group id when VpcId is set)
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ec2-securitygroup.html
local t = require("lake.types")

local ec2_security_group = { type = "AWS::EC2::SecurityGroup", tags = "list",
  name_property = "GroupName", name_max = 255 }

local tag = t.object { { Key = t.string { required = true } }, { Value = t.string { required = true } } }

local rule_fields = function(extra)
  local f = {
    { IpProtocol = t.string { required = true } },
    { FromPort = t.integer { min = -1, max = 65535 } },
    { ToPort = t.integer { min = -1, max = 65535 } },
    { CidrIp = t.string {} },
    { CidrIpv6 = t.string {} },
    { Description = t.string { max_len = 255 } },
  }
  for _, x in ipairs(extra) do f[#f + 1] = x end
  return t.object(f)
end

ec2_security_group.fields = {
  { GroupDescription = t.string { required = true, max_len = 255 } },
  { GroupName = t.string { max_len = 255 } },
  { VpcId = t.string {} },
  { SecurityGroupIngress = t.list(rule_fields {
    { SourcePrefixListId = t.string {} },
    { SourceSecurityGroupId = t.string {} },
    { SourceSecurityGroupOwnerId = t.string {} },
  }) },
  { SecurityGroupEgress = t.list(rule_fields {
    { DestinationPrefixListId = t.string {} },
    { DestinationSecurityGroupId = t.string {} },
  }) },
  { Tags = t.list(tag) },
}

ec2_security_group.attributes = { "GroupId", "VpcId" }

return ec2_security_group
