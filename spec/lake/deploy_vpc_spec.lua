-- A VPC lake deployed to moto on loopback with signature checking on: what
-- the shared stack makes of the VPC (no internet gateway, flow logs, endpoint
-- policies), and lakehost closing the VPC's default security group after
-- the deploy, again after someone opens it, and converging when closed.
local moto = require("spec.support.moto")
local ec2 = require("lake.aws.ec2")
local vpc_default_sg = require("lake.deploy.vpc_default_sg")
local fs = require("host.fs")

local APP = [[
local lake = require("lake")
local source = debug.getinfo(1, "S").source
local root = source:sub(2):match("^(.*)/[^/]*$") or "."
local app = lake.App { name = "vpc-lake", root = root }
lake.DatalakeBuilder { scope = app, lake_name = "Example Lake", env = "dev", lake_domains = { "example" },
  vpc = { cidr = "10.40.0.0/22" }, standalone = {}, pipelines_path = root .. "/pipelines" }:build()
return app
]]

describe("lake.deploy.vpc_default_sg #unit", function()
  it("finds the VPCs a template marks, and only those", function()
    local text = [[{"Resources":{"B":{"Type":"AWS::EC2::VPC","Metadata":{"lakehost":{"close_default_security_group":true}}},
      "A":{"Type":"AWS::EC2::VPC","Metadata":{"lakehost":{"close_default_security_group":true}}},
      "C":{"Type":"AWS::EC2::VPC"},
      "D":{"Type":"AWS::S3::Bucket","Metadata":{"lakehost":{"close_default_security_group":true}}},
      "E":{"Type":"AWS::EC2::VPC","Metadata":{"lakehost":{"close_default_security_group":false}}}}}]]
    assert.same({ "A", "B" }, vpc_default_sg.marked(text))
    assert.same({}, vpc_default_sg.marked('{"Resources":{"C":{"Type":"AWS::EC2::VPC"}}}'))
    assert.same({}, vpc_default_sg.marked("not json, close_default_security_group"))
  end)

  it("flattens EC2 parameters without .member", function()
    assert.equal("Action=RevokeSecurityGroupIngress&Version=2016-11-15&GroupId=sg-1&SecurityGroupRuleId.1=sgr-a"
      .. "&SecurityGroupRuleId.2=sgr-b",
      ec2.body("RevokeSecurityGroupIngress", { GroupId = "sg-1", SecurityGroupRuleId = { "sgr-a", "sgr-b" } }))
    assert.equal("Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name=group-name&Filter.1.Value.1=default",
      ec2.body("DescribeSecurityGroups", { Filter = { { Name = "group-name", Value = { "default" } } } }))
  end)
end)

describe("deploying a VPC lake #integration", function()
  local project, c, run, vpc_id, default_sg

  local function rules(group)
    local list = assert(ec2.security_group_rules(c, group))
    local out = {}
    for _, r in ipairs(list) do out[#out + 1] = (r.isEgress == "true" and "egress " or "ingress ") .. r.ipProtocol end
    table.sort(out)
    return out
  end

  setup(function()
    project = moto.project { files = { "pipelines", "shared" }, prefix = "lakehost-vpc-",
      prepare = function(d) assert(fs.write(d .. "/app.lua", APP)) end }
    c, run = project.client, project.run
  end)

  teardown(function()
    if project then project.stop() end
  end)

  it("deploys the lake with its pipeline and closes the VPC's default security group", function()
    local out, err, code = run({ "deploy", "--require-approval", "never" })
    assert.equal(0, code, err)
    assert.matches("lake%-shared%-stack%-dev%s+created", err)
    assert.matches("lake%-pipeline%-example%-stack%-dev%s+created", err)
    local cfn = require("lake.aws.cloudformation")
    for _, r in ipairs(assert(cfn.stack_resources(c, "lake-shared-stack-dev"))) do
      if r.logical_id == "Vpc" then vpc_id = r.physical_id end
    end
    assert.is_string(vpc_id)
    local groups = assert(ec2.describe_security_groups(c, { ["vpc-id"] = vpc_id, ["group-name"] = "default" }))
    assert.equal(1, #groups)
    default_sg = groups[1].groupId
    assert.matches(("lake-shared-stack-dev: closed the default security group %s of %s %%(%%d ingress, %%d egress")
      :format(default_sg, vpc_id):gsub("%-", "%%-"), out)
    assert.same({}, rules(default_sg))
  end)

  it("made no internet gateway, and logs the VPC's traffic", function()
    local igw = assert(ec2.call(c, "DescribeInternetGateways",
      { Filter = { { Name = "attachment.vpc-id", Value = { vpc_id } } } }))
    assert.same({}, ec2.list(igw.internetGatewaySet))
    local fl = assert(ec2.call(c, "DescribeFlowLogs", { Filter = { { Name = "resource-id", Value = { vpc_id } } } }))
    local logs = ec2.list(fl.flowLogSet)
    assert.equal(1, #logs)
    assert.equal("ALL", logs[1].trafficType)
    assert.equal("/example-lake/dev/vpc/flow-logs", logs[1].logGroupName)
    local subnets = assert(ec2.call(c, "DescribeSubnets", { Filter = { { Name = "vpc-id", Value = { vpc_id } } } }))
    local cidrs = {}
    for _, s in ipairs(ec2.list(subnets.subnetSet)) do cidrs[#cidrs + 1] = s.cidrBlock end
    table.sort(cidrs)
    assert.same({ "10.40.2.0/24", "10.40.3.0/24" }, cidrs)
  end)

  it("gives the endpoints their account-only policies", function()
    local r = assert(ec2.call(c, "DescribeVpcEndpoints", { Filter = { { Name = "vpc-id", Value = { vpc_id } } } }))
    local eps = ec2.list(r.vpcEndpointSet)
    assert.equal(5, #eps)
    -- (moto hands the document back as a Python repr: matched as text)
    local s3 = 0
    for _, ep in ipairs(eps) do
      assert.matches("aws:PrincipalAccount.-123456789012", ep.policyDocument)
      if ep.serviceName == "com.amazonaws.us-east-1.s3" then
        s3 = s3 + 1
        assert.matches("aws:ResourceAccount.-123456789012", ep.policyDocument)
      else
        assert.is_nil(ep.policyDocument:find("aws:ResourceAccount", 1, true))
      end
    end
    assert.equal(1, s3)
  end)

  it("closes the group again when someone opened it, on a deploy that changes no stack", function()
    assert(ec2.call(c, "AuthorizeSecurityGroupIngress", { GroupId = default_sg, IpPermissions = { {
      IpProtocol = "tcp", FromPort = 22, ToPort = 22, IpRanges = { { CidrIp = "0.0.0.0/0" } } } } }))
    assert.same({ "ingress tcp" }, rules(default_sg))
    local out, err, code = run({ "deploy", "--require-approval", "never" })
    assert.equal(0, code, err)
    assert.matches("lake%-shared%-stack%-dev%s+unchanged", err)
    assert.matches(("closed the default security group %s of %s (1 ingress, 0 egress rule revoked)")
      :format(default_sg, vpc_id), out, 1, true)
    assert.same({}, rules(default_sg))
  end)

  it("converges: a closed group is left as it is, and said nothing of", function()
    local out, err, code = run({ "deploy", "--require-approval", "never" })
    assert.equal(0, code, err)
    assert.is_nil(out:find("default security group", 1, true))
    assert.same({}, rules(default_sg))
  end)
end)
