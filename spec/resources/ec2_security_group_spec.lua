local app_mod = require("lake.app")
local types = require("lake.types")

local function check(props)
  local kind = assert(app_mod.kind("ec2_security_group"))
  local errs = {}
  types.check_fields(kind.schema, props, "", errs)
  return errs
end

describe("resources.ec2_security_group #unit", function()
  -- refusals
  it("requires a description and a protocol per rule", function()
    assert.same({ "GroupDescription: is required", "SecurityGroupIngress[1].IpProtocol: is required" },
      check({ SecurityGroupIngress = { { FromPort = 443, ToPort = 443 } } }))
  end)

  it("refuses ports out of range and egress-only keys on ingress", function()
    assert.same({
      "SecurityGroupIngress[1].DestinationSecurityGroupId: unknown property",
      "SecurityGroupIngress[1].ToPort: must be at most 65535, got 70000",
    }, check({ GroupDescription = "d", SecurityGroupIngress = { {
      IpProtocol = "tcp", FromPort = 443, ToPort = 70000, DestinationSecurityGroupId = "sg-1" } } }))
  end)

  it("wants integer ports", function()
    assert.same({ "SecurityGroupIngress[1].FromPort: expected integer, got string" },
      check({ GroupDescription = "d", SecurityGroupIngress = { { IpProtocol = "tcp", FromPort = "443" } } }))
  end)

  -- acceptance
  it("accepts an endpoint group", function()
    assert.same({}, check({
      GroupDescription = "HTTPS from the VPC to the interface endpoints", VpcId = "vpc-1",
      SecurityGroupIngress = { { IpProtocol = "tcp", FromPort = 443, ToPort = 443, CidrIp = "10.0.0.0/16",
        Description = "HTTPS" } },
      SecurityGroupEgress = { { IpProtocol = "-1", CidrIp = "0.0.0.0/0" } },
    }))
  end)
end)
