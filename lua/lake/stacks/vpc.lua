--- The lake's optional VPC, in the shared stack: two private-isolated
-- subnets (and two public ones with an internet gateway only when asked
-- for), endpoints for the AWS services the pipelines use, each with a policy
-- that admits only the lake's account, flow logs to CloudWatch Logs, a Glue
-- network connection per private subnet, and SSM parameters naming them for
-- the pipeline stacks.
--
-- The VPC's default security group cannot be emptied by CloudFormation: the
-- VPC resource carries a `lakehost.close_default_security_group` mark in its
-- Metadata, and lakehost's deploy revokes that group's rules after the stack
-- deploys (lake.deploy.vpc_default_sg).
--
-- Model objects only (no I/O).
local json = require("host.json")
local nag = require("lake.nag")
local names = require("lake.names")
local token = require("lake.token")
local util = require("lake.util")

local M = {}

M.DEFAULT_VPC_CIDR = "192.168.228.0/22"
-- Interface endpoints of the VPC (the s3 one is a gateway endpoint). Glue
-- jobs in the VPC write their continuous logs through the logs endpoint.
M.INTERFACE_ENDPOINTS = { "sns", "states", "glue", "logs" }
M.AZ_COUNT = 2
--- The keys of the `vpc = { ... }` option.
M.OPTION_KEYS = { "cidr", "public_subnets" }
--- How long flow log records are kept (days).
M.FLOW_LOG_RETENTION_DAYS = 365
--- The Metadata mark that has lakehost's deploy close the default security group.
M.CLOSE_DEFAULT_SG = "close_default_security_group"

local function arr(t) return setmetatable(t or {}, json.array_mt) end

local function describe(v)
  if type(v) == "string" then return ("'%s'"):format(v) end
  if type(v) == "table" then return #v > 0 and "a list" or "a table" end
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

---------------------------------------------------------------------------
-- The option

--- Reads the VPC options of DatalakeBuilder: `vpc = { cidr =, public_subnets = }`
-- (`vpc = true`: the defaults; nil or false: no VPC) or the older
-- `enable_vpc = true, vpc_cidr =`, which means `vpc = { cidr = vpc_cidr }`.
-- Giving both spellings is a problem. Problems go to problem(key, fmt, ...).
-- @return { cidr =, public_subnets = boolean } | nil (no VPC, or a problem)
function M.options(opts, problem)
  local function cidr_of(key, v)
    if type(v) ~= "string" then
      problem(key, "expected an IPv4 CIDR such as %s, got %s", M.DEFAULT_VPC_CIDR, describe(v))
      return nil
    end
    local ok, err = M.parse_cidr(v)
    if not ok then problem(key, "%s", err) return nil end
    return v
  end
  local new, old, old_cidr = opts.vpc, opts.enable_vpc, opts.vpc_cidr
  if old ~= nil and type(old) ~= "boolean" then
    problem("enable_vpc", "expected true or false, got %s", describe(old))
  end
  local cidr = old_cidr ~= nil and cidr_of("vpc_cidr", old_cidr) or M.DEFAULT_VPC_CIDR
  if new == nil then
    if old == true and cidr then return { cidr = cidr, public_subnets = false } end
    return nil
  end
  -- (both spellings: said, and the new one's own problems said too)
  local both = old ~= nil or old_cidr ~= nil
  if both then
    problem("vpc", "give either vpc = { cidr =, public_subnets = } or the older enable_vpc / vpc_cidr, not both "
      .. "(enable_vpc = true, vpc_cidr = C is vpc = { cidr = C })")
  end
  if new == false then return nil end
  if new == true then return not both and { cidr = M.DEFAULT_VPC_CIDR, public_subnets = false } or nil end
  if type(new) ~= "table" or (next(new) ~= nil and #new > 0) then
    problem("vpc", "expected { cidr =, public_subnets = } (or true for the defaults), got %s", describe(new))
    return nil
  end
  local ok = true
  local known = {}
  for _, k in ipairs(M.OPTION_KEYS) do known[k] = true end
  for _, k in ipairs(util.sorted_keys(new)) do
    if not known[k] then
      problem("vpc." .. tostring(k), "unknown key%s", util.suggest(tostring(k), M.OPTION_KEYS))
      ok = false
    end
  end
  local v = { cidr = M.DEFAULT_VPC_CIDR, public_subnets = false }
  if new.cidr ~= nil then
    v.cidr = cidr_of("vpc.cidr", new.cidr)
    ok = ok and v.cidr ~= nil
  end
  if new.public_subnets ~= nil then
    if type(new.public_subnets) ~= "boolean" then
      problem("vpc.public_subnets", "expected true or false, got %s", describe(new.public_subnets))
      ok = false
    else
      v.public_subnets = new.public_subnets
    end
  end
  return ok and not both and v or nil
end

--- The names of the lake's Glue network connections, one per private subnet (AZ).
function M.glue_connection_names(lake_name, stage)
  local out = {}
  for az = 1, M.AZ_COUNT do out[az] = names.name(util.kebab(lake_name) .. "-vpc-az" .. az, stage) end
  return out
end

--- The log group of the VPC's flow logs.
function M.flow_log_group_name(lake_name, stage)
  return "/" .. util.kebab(lake_name) .. "/" .. stage .. "/vpc/flow-logs"
end

---------------------------------------------------------------------------
-- The resources

-- An endpoint policy: principals of the lake's account only; for S3, also
-- only buckets of the lake's account (aws:ResourceAccount).
-- https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html
local function endpoint_policy(account, s3)
  local equals = { ["aws:PrincipalAccount"] = account }
  if s3 then equals["aws:ResourceAccount"] = account end
  return { Version = "2012-10-17", Statement = arr { {
    Sid = s3 and "LakeAccountPrincipalsAndBuckets" or "LakeAccountPrincipals",
    Effect = "Allow", Principal = "*", Action = s3 and "s3:*" or "*", Resource = "*",
    Condition = { StringEquals = equals },
  } } }
end

local DEFAULT_SG_REASON = "CloudFormation cannot remove the rules of a VPC's default security group: lakehost's "
  .. "deploy revokes every ingress and egress rule of this VPC's default group after the shared stack deploys "
  .. "(the lakehost.close_default_security_group mark), and nothing of the lake uses that group."

--- Adds the VPC of the built lake to the shared stack.
-- @param lake table the built lake (lake.vpc set: ssm, glue_connections)
-- @param stack Stack the shared stack
-- @param opts table { cidr =, public_subnets = } (M.options)
function M.build(lake, stack, opts)
  local cidr = opts.cidr
  local account = lake.env.account or token.account_id
  local function name_tag(suffix)
    return { { Key = "Name", Value = util.kebab(lake.name) .. "-" .. suffix .. "-" .. lake.stage } }
  end
  local quarters = assert(M.split_cidr(cidr))
  local vpc = stack:add("ec2_vpc", "Vpc", {
    CidrBlock = cidr, EnableDnsHostnames = true, EnableDnsSupport = true, Tags = name_tag("vpc"),
  }, { metadata = { lakehost = { [M.CLOSE_DEFAULT_SG] = true } } })
  vpc:suppress("NIST.800.53.R5-VPCDefaultSecurityGroupClosed", DEFAULT_SG_REASON)
  vpc:suppress("HIPAA.Security-VPCDefaultSecurityGroupClosed", DEFAULT_SG_REASON)

  -- Public subnets and the internet gateway, only when asked for: nothing of
  -- the lake needs them. They take the first two quarters of the CIDR, so
  -- turning them on later leaves the private subnets where they are.
  local public_rt
  if opts.public_subnets then
    local igw = stack:add("ec2_internet_gateway", "VpcInternetGateway", { Tags = name_tag("igw") })
    local attach = stack:add("ec2_vpc_gateway_attachment", "VpcGatewayAttachment", {
      VpcId = vpc:ref(), InternetGatewayId = igw:ref(),
    })
    public_rt = stack:add("ec2_route_table", "VpcPublicRouteTable", {
      VpcId = vpc:ref(), Tags = name_tag("public"),
    })
    stack:add("ec2_route", "VpcPublicDefaultRoute", {
      RouteTableId = public_rt:ref(), DestinationCidrBlock = "0.0.0.0/0", GatewayId = igw:ref(),
    }, { depends_on = { attach } })
  end
  local private_subnets, private_rts, public_subnets, zones = {}, {}, {}, {}
  for az = 1, M.AZ_COUNT do
    local zone = token.raw({ ["Fn::Select"] = { az - 1, { ["Fn::GetAZs"] = "" } } })
    zones[az] = zone
    if public_rt then
      local public = stack:add("ec2_subnet", "VpcPublicSubnet" .. az, {
        VpcId = vpc:ref(), CidrBlock = quarters[az], AvailabilityZone = zone,
        MapPublicIpOnLaunch = false, Tags = name_tag("public-" .. az),
      })
      stack:add("ec2_subnet_route_table_association", "VpcPublicSubnet" .. az .. "RouteTableAssociation", {
        RouteTableId = public_rt:ref(), SubnetId = public:ref(),
      })
      public_subnets[#public_subnets + 1] = public:ref()
    end
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

  -- Flow logs: every packet's record (ALL) to a log group of the lake.
  local flow_group_name = M.flow_log_group_name(lake.name, lake.stage)
  local flow_group = stack:add("logs_log_group", "VpcFlowLogGroup", {
    LogGroupName = flow_group_name, RetentionInDays = M.FLOW_LOG_RETENTION_DAYS,
    KmsKeyId = lake.encryption:log_group_key(stack),
  }, { deletion_policy = "Delete", update_replace_policy = "Delete" })
  lake.encryption:note_log_group(flow_group)
  local flow_role = stack:add("iam_role", "VpcFlowLogRole", {
    Description = ("Delivers the flow logs of the %s datalake's VPC (%s) to their log group")
      :format(lake.name, lake.stage),
    AssumeRolePolicyDocument = { Version = "2012-10-17", Statement = arr { {
      Effect = "Allow", Principal = { Service = "vpc-flow-logs.amazonaws.com" }, Action = "sts:AssumeRole",
      -- only for flow logs of the lake's account (the confused-deputy guard)
      Condition = { StringEquals = { ["aws:SourceAccount"] = account },
        ArnLike = { ["aws:SourceArn"] = names.arn("ec2", "vpc-flow-log/*", lake.env) } },
    } } },
    Policies = arr { { PolicyName = "write-flow-logs", PolicyDocument = { Version = "2012-10-17", Statement = arr { {
      Sid = "WriteFlowLogs", Effect = "Allow",
      Action = arr { "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams" },
      Resource = arr { names.arn("logs", "log-group:" .. flow_group_name .. ":*", lake.env) },
    } } } } },
  })
  nag.lake_role(flow_role, nil, "The flow log role writes to the streams of the VPC's own flow log "
    .. "group only; the delivery service names the streams after the network interfaces it records.")
  stack:add("ec2_flow_log", "VpcFlowLog", {
    ResourceId = vpc:ref(), ResourceType = "VPC", TrafficType = "ALL", LogDestinationType = "cloud-watch-logs",
    LogGroupName = flow_group:ref(), DeliverLogsPermissionArn = flow_role:arn(), Tags = name_tag("flow-log"),
  })

  -- Endpoints, each admitting only the lake's account.
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
    PolicyDocument = endpoint_policy(account, true),
  })
  for _, svc in ipairs(M.INTERFACE_ENDPOINTS) do
    stack:add("ec2_vpc_endpoint", "Vpc" .. util.pascal(svc) .. "Endpoint", {
      VpcId = vpc:ref(), ServiceName = service(svc), VpcEndpointType = "Interface",
      PrivateDnsEnabled = true, SubnetIds = private_subnets, SecurityGroupIds = { sg:attr("GroupId") },
      PolicyDocument = endpoint_policy(account, false),
    })
  end

  -- Glue jobs run in the private subnets through network connections (one
  -- per AZ: a connection names one subnet). Glue needs its workers to reach
  -- each other on every TCP port (a self-referencing rule); out of the
  -- group, HTTPS only: the subnets have no route out of the VPC, so that
  -- reaches the interface endpoints and S3 through its gateway endpoint
  -- (whose prefix list CloudFormation cannot name).
  -- https://docs.aws.amazon.com/glue/latest/dg/setup-vpc-for-glue-access.html
  local glue_sg = stack:add("ec2_security_group", "VpcGlueSecurityGroup", {
    GroupDescription = "Glue jobs of the lake: each other on all TCP ports, HTTPS to AWS services",
    VpcId = vpc:ref(),
    SecurityGroupEgress = { { IpProtocol = "tcp", FromPort = 443, ToPort = 443, CidrIp = "0.0.0.0/0",
      Description = "HTTPS to the VPC endpoints and to S3 through its gateway endpoint (no route out of the VPC)" } },
    Tags = name_tag("glue"),
  })
  local glue_sg_id = glue_sg:attr("GroupId")
  stack:add("ec2_security_group_ingress", "VpcGlueSecurityGroupSelfIngress", {
    GroupId = glue_sg_id, SourceSecurityGroupId = glue_sg_id, IpProtocol = "tcp", FromPort = 0, ToPort = 65535,
    Description = "Glue workers of a job talk to each other (Glue requires a self-referencing rule)",
  })
  stack:add("ec2_security_group_egress", "VpcGlueSecurityGroupSelfEgress", {
    GroupId = glue_sg_id, DestinationSecurityGroupId = glue_sg_id, IpProtocol = "tcp", FromPort = 0, ToPort = 65535,
    Description = "Glue workers of a job talk to each other",
  })
  for az = 1, M.AZ_COUNT do
    stack:add("glue_connection", "VpcGlueConnection" .. az, {
      CatalogId = account,
      ConnectionInput = {
        Name = lake.vpc.glue_connections[az], ConnectionType = "NETWORK",
        Description = ("Glue jobs of the %s datalake (%s) in its private subnet %d"):format(lake.name, lake.stage, az),
        PhysicalConnectionRequirements = { SubnetId = private_subnets[az], AvailabilityZone = zones[az],
          SecurityGroupIdList = arr { glue_sg_id } },
      },
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
  if public_rt then
    stack:add("ssm_parameter", "VpcPublicSubnetIdsParameter", {
      Name = ssm.public_subnet_ids, Type = "StringList", Value = token.join(",", public_subnets),
      Description = ("Public subnets of the %s datalake (%s), comma-separated"):format(lake.name, lake.stage),
    })
  end
  stack:add("ssm_parameter", "VpcSecurityGroupIdParameter", {
    Name = ssm.security_group_id, Type = "String", Value = sg:attr("GroupId"),
    Description = ("Security group of the %s datalake's VPC endpoints (%s)"):format(lake.name, lake.stage),
  })
end

return M
