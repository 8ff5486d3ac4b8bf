--- Lambda functions and the IAM roles they run as, declared the way the
-- lake's pipelines and the standalone stacks (datalake:lambda_function)
-- both do: a role with one inline policy, a function with its log group
-- kept LOG_RETENTION_DAYS, in the lake's private subnets when it has a VPC.
--
-- Model objects only (no I/O).
local json = require("host.json")
local nag = require("lake.nag")
local names = require("lake.names")
local token = require("lake.token")

local M = {}

M.LOG_RETENTION_DAYS = 30
M.LAMBDA_SERVICE = "lambda.amazonaws.com"

local function arr(t) return setmetatable(t or {}, json.array_mt) end

--- An Allow statement (it keeps the lists it is given).
function M.statement(sid, actions, resources)
  return { Sid = sid, Effect = "Allow", Action = arr(actions), Resource = arr(resources) }
end

--- The log group of a function: "/aws/lambda/<name>".
function M.log_group_name(fn_name)
  if token.is(fn_name) then return token.concat("/aws/lambda/", fn_name) end
  return "/aws/lambda/" .. fn_name
end

--- A log group kept LOG_RETENTION_DAYS (a function's, a state machine's).
-- @param stack Stack
-- @param id string logical id
-- @param name string|token the group's name
-- @param encryption table|nil the lake's (lake.stacks.encryption): the group's key
-- @return the log group resource
function M.log_group(stack, id, name, encryption)
  -- deleted with its stack (said outright: a group kept behind would make
  -- the next stack that names it fail to create)
  local group = stack:add("logs_log_group", id, { LogGroupName = name, RetentionInDays = M.LOG_RETENTION_DAYS,
    KmsKeyId = encryption and encryption:log_group_key(stack) },
    { deletion_policy = "Delete", update_replace_policy = "Delete" })
  if encryption then encryption:note_log_group(group) end
  return group
end

--- Writing to the log groups of these functions.
-- @param env table { region=, account= } (lake.names.arn)
-- @param fn_names array of function names (strings or tokens)
function M.logs_statement(env, fn_names)
  local res = {}
  for _, f in ipairs(fn_names) do
    local group = M.log_group_name(f)
    res[#res + 1] = names.arn("logs", type(group) == "string" and ("log-group:" .. group .. ":*")
      or token.concat("log-group:", group, ":*"), env)
  end
  return M.statement("WriteLogs", { "logs:CreateLogStream", "logs:PutLogEvents" }, res)
end

-- An EC2 ARN of the lake's region and account: arn:<partition>:ec2:<region>:<account>:<resource>.
local function ec2_arn(env, ...)
  return token.concat("arn:", token.partition, ":ec2:", env.region or token.region, ":",
    env.account or token.account_id, ":", ...)
end

M.VPC_DESCRIBE_REASON = "A Lambda function in a VPC needs ec2:DescribeNetworkInterfaces and ec2:DescribeSubnets, "
  .. "which IAM only grants on all resources (no resource types in the Service Authorization Reference); "
  .. "they read network metadata and change nothing."

--- What a Lambda function in the lake's VPC needs to manage its network
-- interfaces, in place of the AWS managed AWSLambdaVPCAccessExecutionRole
-- (which allows them in any VPC, and writing to any log group).
-- Per the Service Authorization Reference: ec2:CreateNetworkInterface acts
-- on network-interface*, subnet* and security-group, each with the ec2:Vpc
-- condition key; DeleteNetworkInterface, AssignPrivateIpAddresses and
-- UnassignPrivateIpAddresses act on network-interface*, with ec2:Vpc too;
-- so one statement with ec2:Vpc = the lake's VPC keeps them inside it. The
-- Describe actions have no resource types: "*" only (Lambda's guide: "This
-- action only works if it's allowed on all resources"); the role that gets
-- them is suppressed for AwsSolutions-IAM5 (M.suppress_vpc_describe).
-- @param env table { region=, account= }
-- @param vpc_id string|token the lake VPC's id (a Ref to the SSM-typed parameter in the stack)
-- @param security_group_id string|token the security group the functions run with
-- @return array of two statements
function M.vpc_statements(env, vpc_id, security_group_id)
  local st = M.statement("ManageNetworkInterfacesInLakeVpc", { "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses" }, {
    ec2_arn(env, "network-interface/*"), ec2_arn(env, "subnet/*"),
    ec2_arn(env, "security-group/", security_group_id),
  })
  st.Condition = { ArnEquals = { ["ec2:Vpc"] = ec2_arn(env, "vpc/", vpc_id) } }
  return { st,
    M.statement("DescribeNetworkInterfaces", { "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets" }, { "*" }) }
end

M.GLUE_VPC_DESCRIBE_REASON = "A Glue job that runs through a VPC connection needs the ec2:Describe actions "
  .. "of Glue's setup for VPC access (endpoints, route tables, subnets, security groups, network interfaces, "
  .. "VPC attributes), which IAM only grants on all resources; they read network metadata and change nothing."

--- What a Glue job of the lake's VPC connections needs to place its
-- network interfaces, in place of the AWS managed AWSGlueServiceRole
-- (Glue's "Setting up network access to data stores": Glue creates the
-- interfaces with the job's role, tags them aws-glue-service-resource, and
-- reads the connection). Creating and deleting interfaces is held to the
-- lake's VPC (ec2:Vpc), tagging to Glue's own tag key, the connections to
-- the lake's.
-- @param env table { region=, account= }
-- @param vpc_id string|token the lake VPC's id
-- @param catalog_arn string|token the account's Glue catalog ARN
-- @param connections array of Glue connection names
function M.glue_vpc_statements(env, vpc_id, catalog_arn, connections)
  local eni = M.statement("GlueNetworkInterfacesInLakeVpc", { "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface" }, {
    ec2_arn(env, "network-interface/*"), ec2_arn(env, "subnet/*"), ec2_arn(env, "security-group/*"),
  })
  eni.Condition = { ArnEquals = { ["ec2:Vpc"] = ec2_arn(env, "vpc/", vpc_id) } }
  local tags = M.statement("TagGlueNetworkInterfaces", { "ec2:CreateTags", "ec2:DeleteTags" }, {
    ec2_arn(env, "network-interface/*"), ec2_arn(env, "security-group/*"), ec2_arn(env, "instance/*"),
  })
  tags.Condition = { ["ForAllValues:StringEquals"] = { ["aws:TagKeys"] = arr { "aws-glue-service-resource" } } }
  local conns = { catalog_arn }
  for _, c in ipairs(connections) do conns[#conns + 1] = names.arn("glue", "connection/" .. c, env) end
  return { eni, tags,
    M.statement("DescribeGlueNetwork", { "ec2:DescribeVpcEndpoints", "ec2:DescribeRouteTables",
      "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
      "ec2:DescribeVpcAttribute" }, { "*" }),
    M.statement("UseLakeConnections", { "glue:GetConnection" }, conns) }
end

--- Records on a role with M.vpc_statements why its "*" is there (cdk-nag AwsSolutions-IAM5).
function M.suppress_vpc_describe(role)
  return role:suppress("AwsSolutions-IAM5", M.VPC_DESCRIBE_REASON, { "Resource::*" })
end

local function assume(service)
  return { Version = "2012-10-17", Statement = arr { {
    Effect = "Allow", Principal = { Service = service }, Action = "sts:AssumeRole",
  } } }
end

--- An IAM role with one inline policy, and no managed policy: the lake's
-- roles name their own resources (spec/lake/iam_reach_spec.lua).
-- @param stack Stack
-- @param id string logical id
-- @param spec table { name = role name | nil, service = who assumes it ("lambda.amazonaws.com"),
--   statements = array (M.statement), policy = the inline policy's name, description =,
--   own = function(statement) -> boolean | nil: which statements are lakehost's, whose wildcards
--   carry the reason of lake.nag (all when nil) }
-- @return the role resource
function M.role(stack, id, spec)
  local props = {
    RoleName = spec.name, AssumeRolePolicyDocument = assume(spec.service), Description = spec.description,
  }
  if spec.statements and #spec.statements > 0 then
    props.Policies = arr { { PolicyName = spec.policy,
      PolicyDocument = { Version = "2012-10-17", Statement = arr(spec.statements) } } }
  end
  local role = stack:add("iam_role", id, props)
  -- the wildcards of lakehost's own statements, with why they stay inside (lake.nag)
  nag.lake_role(role, spec.own)
  return role
end

--- A Lambda function and its log group.
-- @param stack Stack
-- @param id string logical id prefix (<id>Function, <id>LogGroup)
-- @param spec table { name = function name, role = role resource, timeout =, memory =, description =,
--   asset = lake.assets.lambda's, env = { K = V }, vpc_config = { SubnetIds =, SecurityGroupIds = } | nil,
--   source = { file =, line =, key = } | nil: where the function's problems are reported (Stack:add),
--   encryption = the lake's (lake.stacks.encryption) | nil: the log group's key,
--   dead_letter_arn = the queue of the events its asynchronous calls failed on | nil,
--   sync_reason = why it needs no dead-letter queue (who calls it synchronously) | nil }
-- @return function resource, log group resource
function M.lambda(stack, id, spec)
  local group = M.log_group(stack, id .. "LogGroup", M.log_group_name(spec.name), spec.encryption)
  local props = {
    FunctionName = spec.name, Description = spec.description,
    Code = { S3Bucket = spec.asset.bucket(), S3Key = spec.asset.key() },
    Handler = spec.asset.handler, Runtime = spec.asset.runtime,
    Architectures = spec.asset.architectures, Role = spec.role:arn(),
    Timeout = spec.timeout, MemorySize = spec.memory,
    Environment = spec.env and next(spec.env) and { Variables = spec.env } or nil,
    LoggingConfig = { LogGroup = group:ref(), LogFormat = "Text" },
    VpcConfig = spec.vpc_config,
    DeadLetterConfig = spec.dead_letter_arn and { TargetArn = spec.dead_letter_arn } or nil,
  }
  local fn = stack:add("lambda_function", id .. "Function", props, { source = spec.source })
  if spec.sync_reason then nag.suppress_packs(fn, "LambdaDLQ", spec.sync_reason) end
  nag.suppress_packs(fn, "LambdaConcurrency", nag.CONCURRENCY_REASON)
  if not spec.vpc_config then nag.suppress_packs(fn, "LambdaInsideVPC", nag.NO_VPC_REASON) end
  if type(spec.asset.runtime) == "string" then
    fn:suppress("AwsSolutions-L1", ("The function runs on %s, the app's lambda_runtime setting "
      .. "(lake.App{ settings = { lambda_runtime = ... } }), which also chooses the Python its dependencies are "
      .. "built for; the rule asks for the newest runtime aws-cdk-lib lists, which Lambda may not offer in "
      .. "every region yet."):format(spec.asset.runtime))
  end
  return fn, group
end

return M
