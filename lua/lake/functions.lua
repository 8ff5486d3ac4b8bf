--- Lambda functions and the IAM roles they run as, declared the way the
-- lake's pipelines and the standalone stacks (datalake:lambda_function)
-- both do: a role with one inline policy, a function with its log group
-- kept LOG_RETENTION_DAYS, in the lake's private subnets when it has a VPC.
--
-- Model objects only (no I/O).
local json = require("host.json")
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
  local group = stack:add("logs_log_group", id, { LogGroupName = name, RetentionInDays = M.LOG_RETENTION_DAYS,
    KmsKeyId = encryption and encryption:log_group_key(stack) })
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

--- The ARN of an AWS managed policy ("service-role/AWSGlueServiceRole").
function M.managed_policy(name)
  return token.concat("arn:", token.partition, ":iam::aws:policy/", name)
end

local function assume(service)
  return { Version = "2012-10-17", Statement = arr { {
    Effect = "Allow", Principal = { Service = service }, Action = "sts:AssumeRole",
  } } }
end

--- An IAM role with one inline policy.
-- @param stack Stack
-- @param id string logical id
-- @param spec table { name = role name | nil, service = who assumes it ("lambda.amazonaws.com"),
--   statements = array (M.statement), policy = the inline policy's name, description =,
--   managed = { managed policy ARNs } | nil }
-- @return the role resource
function M.role(stack, id, spec)
  local props = {
    RoleName = spec.name, AssumeRolePolicyDocument = assume(spec.service), Description = spec.description,
    ManagedPolicyArns = spec.managed,
  }
  if spec.statements and #spec.statements > 0 then
    props.Policies = arr { { PolicyName = spec.policy,
      PolicyDocument = { Version = "2012-10-17", Statement = arr(spec.statements) } } }
  end
  return stack:add("iam_role", id, props)
end

--- A Lambda function and its log group.
-- @param stack Stack
-- @param id string logical id prefix (<id>Function, <id>LogGroup)
-- @param spec table { name = function name, role = role resource, timeout =, memory =, description =,
--   asset = lake.assets.lambda's, env = { K = V }, vpc_config = { SubnetIds =, SecurityGroupIds = } | nil,
--   source = { file =, line =, key = } | nil: where the function's problems are reported (Stack:add),
--   encryption = the lake's (lake.stacks.encryption) | nil: the log group's key }
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
  }
  return stack:add("lambda_function", id .. "Function", props, { source = spec.source }), group
end

return M
