--- The lake's optional VPC, in the shared stack: two public and two
-- private-isolated subnets, endpoints for the AWS services the pipelines
-- use, and SSM parameters naming them for the pipeline stacks.
--
-- Model objects only (no I/O).
local token = require("lake.token")
local util = require("lake.util")

local M = {}

M.DEFAULT_VPC_CIDR = "192.168.228.0/22"
-- Interface endpoints of the VPC (the s3 one is a gateway endpoint).
M.INTERFACE_ENDPOINTS = { "sns", "states", "glue" }
M.AZ_COUNT = 2

local function describe(v)
  if type(v) == "string" then return ("'%s'"):format(v) end
  return "a " .. type(v)
end

--- Parses "a.b.c.d/p" into (network as an integer, prefix) | nil, message.
function M.parse_cidr(s)
  local a, b, c, d, p = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)/(%d+)$")
  if not a then return nil, "expected an IPv4 CIDR such as " .. M.DEFAULT_VPC_CIDR .. ", got " .. describe(s) end
  local octets = { tonumber(a), tonumber(b), tonumber(c), tonumber(d) }
  local n = 0
  for _, o in ipairs(octets) do
    if o > 255 then return nil, "expected an IPv4 CIDR such as " .. M.DEFAULT_VPC_CIDR .. ", got " .. describe(s) end
    n = n * 256 + o
  end
  p = tonumber(p)
  if p < 16 or p > 26 then
    return nil, ("the VPC needs a prefix from /16 to /26 (4 subnets of a quarter each), got /%d"):format(p)
  end
  local size = 1 << (32 - p)
  if n % size ~= 0 then
    local net = n - n % size
    return nil, ("%s is not a network address (did you mean %d.%d.%d.%d/%d?)"):format(s,
      net >> 24, (net >> 16) & 255, (net >> 8) & 255, net & 255, p)
  end
  return n, p
end

local function cidr_string(n, p)
  return ("%d.%d.%d.%d/%d"):format(n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255, p)
end

--- The 4 equal quarters of a CIDR: public AZ1, public AZ2, private AZ1, private AZ2.
function M.split_cidr(cidr)
  local n, p = M.parse_cidr(cidr)
  if not n then return nil, p end
  local out, size = {}, 1 << (32 - (p + 2))
  for i = 0, 3 do out[#out + 1] = cidr_string(n + i * size, p + 2) end
  return out
end

--- Adds the VPC of the built lake to the shared stack.
function M.build(lake, stack, cidr)
  local function name_tag(suffix)
    return { { Key = "Name", Value = util.kebab(lake.name) .. "-" .. suffix .. "-" .. lake.stage } }
  end
  local quarters = assert(M.split_cidr(cidr))
  local vpc = stack:add("ec2_vpc", "Vpc", {
    CidrBlock = cidr, EnableDnsHostnames = true, EnableDnsSupport = true, Tags = name_tag("vpc"),
  })
  local igw = stack:add("ec2_internet_gateway", "VpcInternetGateway", { Tags = name_tag("igw") })
  local attach = stack:add("ec2_vpc_gateway_attachment", "VpcGatewayAttachment", {
    VpcId = vpc:ref(), InternetGatewayId = igw:ref(),
  })
  local public_rt = stack:add("ec2_route_table", "VpcPublicRouteTable", {
    VpcId = vpc:ref(), Tags = name_tag("public"),
  })
  stack:add("ec2_route", "VpcPublicDefaultRoute", {
    RouteTableId = public_rt:ref(), DestinationCidrBlock = "0.0.0.0/0", GatewayId = igw:ref(),
  }, { depends_on = { attach } })
  local private_subnets, private_rts, public_subnets = {}, {}, {}
  for az = 1, M.AZ_COUNT do
    local zone = token.raw({ ["Fn::Select"] = { az - 1, { ["Fn::GetAZs"] = "" } } })
    local public = stack:add("ec2_subnet", "VpcPublicSubnet" .. az, {
      VpcId = vpc:ref(), CidrBlock = quarters[az], AvailabilityZone = zone,
      MapPublicIpOnLaunch = false, Tags = name_tag("public-" .. az),
    })
    stack:add("ec2_subnet_route_table_association", "VpcPublicSubnet" .. az .. "RouteTableAssociation", {
      RouteTableId = public_rt:ref(), SubnetId = public:ref(),
    })
    public_subnets[#public_subnets + 1] = public:ref()
    local private = stack:add("ec2_subnet", "VpcPrivateSubnet" .. az, {
      VpcId = vpc:ref(), CidrBlock = quarters[M.AZ_COUNT + az], AvailabilityZone = zone,
      MapPublicIpOnLaunch = false, Tags = name_tag("private-" .. az),
    })
    -- Private-isolated: no route out of the VPC; AWS services through endpoints.
    local rt = stack:add("ec2_route_table", "VpcPrivateRouteTable" .. az, {
      VpcId = vpc:ref(), Tags = name_tag("private-" .. az),
    })
    stack:add("ec2_subnet_route_table_association", "VpcPrivateSubnet" .. az .. "RouteTableAssociation", {
      RouteTableId = rt:ref(), SubnetId = private:ref(),
    })
    private_subnets[#private_subnets + 1] = private:ref()
    private_rts[#private_rts + 1] = rt:ref()
  end
  local sg = stack:add("ec2_security_group", "VpcEndpointSecurityGroup", {
    GroupDescription = "HTTPS from the lake VPC to the AWS service endpoints",
    VpcId = vpc:ref(),
    SecurityGroupIngress = { { IpProtocol = "tcp", FromPort = 443, ToPort = 443, CidrIp = cidr,
      Description = "HTTPS from inside the VPC" } },
    Tags = name_tag("endpoints"),
  })
  local function service(name)
    return token.concat("com.amazonaws.", lake.env.region or token.region, ".", name)
  end
  stack:add("ec2_vpc_endpoint", "VpcS3Endpoint", {
    VpcId = vpc:ref(), ServiceName = service("s3"), VpcEndpointType = "Gateway", RouteTableIds = private_rts,
  })
  for _, svc in ipairs(M.INTERFACE_ENDPOINTS) do
    stack:add("ec2_vpc_endpoint", "Vpc" .. util.pascal(svc) .. "Endpoint", {
      VpcId = vpc:ref(), ServiceName = service(svc), VpcEndpointType = "Interface",
      PrivateDnsEnabled = true, SubnetIds = private_subnets, SecurityGroupIds = { sg:attr("GroupId") },
    })
  end
  local ssm = lake.vpc.ssm
  stack:add("ssm_parameter", "VpcIdParameter", {
    Name = ssm.vpc_id, Type = "String", Value = vpc:ref(),
    Description = ("VPC of the %s datalake (%s)"):format(lake.name, lake.stage),
  })
  stack:add("ssm_parameter", "VpcPrivateSubnetIdsParameter", {
    Name = ssm.private_subnet_ids, Type = "StringList", Value = token.join(",", private_subnets),
    Description = ("Private-isolated subnets of the %s datalake (%s), comma-separated"):format(lake.name, lake.stage),
  })
  stack:add("ssm_parameter", "VpcPublicSubnetIdsParameter", {
    Name = ssm.public_subnet_ids, Type = "StringList", Value = token.join(",", public_subnets),
    Description = ("Public subnets of the %s datalake (%s), comma-separated"):format(lake.name, lake.stage),
  })
  stack:add("ssm_parameter", "VpcSecurityGroupIdParameter", {
    Name = ssm.security_group_id, Type = "String", Value = sg:attr("GroupId"),
    Description = ("Security group of the %s datalake's VPC endpoints (%s)"):format(lake.name, lake.stage),
  })
end

return M
