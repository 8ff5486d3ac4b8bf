--- The built lake: what DatalakeBuilder{...}:build() returns, and the
-- second argument of every standalone script. Its documented fields and
-- methods (README, "Standalone stacks") are the whole of what a stack of
-- one's own needs from the lake:
--
--   name, stage, region, account   (region/account nil when app.lua was not given them)
--   env                            { region, account, stage }, for lake.names.arn(service, resource, env)
--   tags                           the lake's tags
--   domains                        the domain names, in lake_domains order
--   buckets[domain][layer]         { name, arn, objects_arn, uri, database, database_arn, tables_arn }
--   databases[domain][layer]       { name, arn, tables_arn }: the Glue database of that bucket
--   error_topic                    { name, arn }
--   encryption                     mode ("s3"|"kms"), security_configuration (the Glue one's name),
--                                  and the methods key_arn(stack) (nil with "s3"), statements(stack,
--                                  uses), grant(role, uses) (uses: "s3", "sns", "glue_job", "crawler_logs")
--   access_logs                    { name, arn }: the bucket of the lake buckets' server access logs
--   vpc                            nil, or { cidr, public_subnets, glue_connections } and the methods
--                                  id, private_subnet_ids, public_subnet_ids (only with
--                                  vpc = { public_subnets = true }), security_group_id
--                                  (each: (stack) -> Ref token)
--   storage_stack, shared_stack    the lake's stacks, for stack:depends_on
--   pipelines                      { [name] = { name, stack, state_machine_arn, ... } }
--   :lambda_function(stack, id, opts)  a function whose code is a folder of the project
--
-- The lake's resources live in its own stacks: a stack of one's own refers
-- to them by these names and ARNs (and the VPC through SSM parameters that
-- CloudFormation reads at deploy), never by Ref across stacks.
local assets = require("lake.assets")
local checker = require("lake.pipeline.checker")
local functions = require("lake.functions")
local modules = require("lake.pipeline.modules")
local names = require("lake.names")
local token = require("lake.token")
local util = require("lake.util")

local M = {}

local Datalake, Vpc = {}, {}
Datalake.__index, Vpc.__index = Datalake, Vpc
Datalake.__name, Vpc.__name = "lake.Datalake", "lake.Vpc"

--- The SSM parameters the shared stack writes the VPC's ids to.
function M.vpc_parameter_names(lake_name, stage)
  local base = "/" .. util.kebab(lake_name) .. "/" .. stage .. "/vpc/"
  return {
    vpc_id = base .. "id",
    private_subnet_ids = base .. "private-subnet-ids",
    public_subnet_ids = base .. "public-subnet-ids",
    security_group_id = base .. "security-group-id",
  }
end

--- Makes the builder's lake table the documented object.
-- @param lake table the lake (builder.lua), bucket_set and sns_topic filled
-- @param loader table lake.load (what lambda_function reads folders with)
function M.new(lake, loader)
  lake.loader = loader
  lake.buckets, lake.databases = {}, {}
  for _, b in ipairs(lake.bucket_set.list) do
    lake.buckets[b.domain] = lake.buckets[b.domain] or {}
    lake.buckets[b.domain][b.layer] = b
    lake.databases[b.domain] = lake.databases[b.domain] or {}
    lake.databases[b.domain][b.layer] = { name = b.database, arn = b.database_arn, tables_arn = b.tables_arn }
  end
  lake.error_topic = lake.sns_topic
  if lake.vpc then setmetatable(lake.vpc, Vpc) end
  return setmetatable(lake, Datalake)
end

---------------------------------------------------------------------------
-- The VPC, from another stack

-- A parameter of stack whose value CloudFormation reads from SSM at deploy,
-- added once per stack.
local function ssm_ref(stack, id, typ, ssm_name, description)
  local p = stack.parameters and stack.parameters[id]
  if not p then p = stack:parameter(id, { type = typ, default = ssm_name, description = description }) end
  return token.ref(p)
end

--- The VPC's id in stack (a Ref to an SSM-typed parameter).
function Vpc:id(stack)
  return ssm_ref(stack, "VpcId", "AWS::SSM::Parameter::Value<AWS::EC2::VPC::Id>", self.ssm.vpc_id,
    "SSM parameter with the lake's VPC")
end

--- The private subnets' ids in stack (a list).
function Vpc:private_subnet_ids(stack)
  return ssm_ref(stack, "VpcPrivateSubnetIds", "AWS::SSM::Parameter::Value<List<AWS::EC2::Subnet::Id>>",
    self.ssm.private_subnet_ids, "SSM parameter with the lake's private subnets")
end

--- The public subnets' ids in stack (a list). The lake has public subnets
-- only with vpc = { public_subnets = true }: asking for them otherwise is an
-- error (raised at the caller's line), not a parameter nothing writes.
function Vpc:public_subnet_ids(stack)
  if not self.public_subnets then
    error("datalake.vpc:public_subnet_ids: the lake's VPC has no public subnets "
      .. "(DatalakeBuilder{ vpc = { public_subnets = true } } adds them)", 2)
  end
  return ssm_ref(stack, "VpcPublicSubnetIds", "AWS::SSM::Parameter::Value<List<AWS::EC2::Subnet::Id>>",
    self.ssm.public_subnet_ids, "SSM parameter with the lake's public subnets")
end

--- The security group of the VPC's interface endpoints, in stack.
function Vpc:security_group_id(stack)
  return ssm_ref(stack, "VpcSecurityGroupId", "AWS::SSM::Parameter::Value<AWS::EC2::SecurityGroup::Id>",
    self.ssm.security_group_id, "SSM parameter with the lake's security group")
end

---------------------------------------------------------------------------
-- Functions of one's own

M.FUNCTION_OPTIONS = { "folder", "name", "description", "timeout", "memory", "environment", "statements", "role",
  "vpc" }

-- Where the script that called us is: the first frame outside lakehost's Lua.
local function caller()
  for level = 3, 24 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    local src = info.source
    if src:sub(1, 1) == "@" and not (src:find("lua/lake/", 1, true) or src:find("lua/resources/", 1, true)) then
      return src:sub(2), info.currentline > 0 and info.currentline or nil
    end
  end
  return nil, nil
end

-- The shared modules' manifest (shared/manifest.json), as the pipelines
-- read it, or read now when the lake has no pipelines.
function Datalake:shared_modules()
  if not self.shared_manifest then
    local dir, rel = self.loader.locate(self.app.root, (self.app.root or ".") .. "/shared")
    local ck = checker.new(rel .. "/manifest.json")
    self.shared_manifest = modules.manifest(ck, self.loader.shared(dir, rel))
    for _, p in ipairs(ck:sorted()) do self.app:problem(p.file, p.line, p.key, p.msg) end
  end
  return self.shared_manifest
end

-- A stand-in asset for a folder that could not be packaged (its problem is
-- recorded): the script goes on and the command reports everything.
local NO_CODE = token.ref("AWS::NoValue")
local NO_ASSET = { bucket = function() return NO_CODE end, key = function() return NO_CODE end,
  handler = assets.HANDLER, runtime = assets.DEFAULT_RUNTIME }

--- A Lambda function whose code is a folder of the project: src/ (with
-- index.py, handler index.handler) and requirements.json, packaged exactly
-- as a pipeline's modules are (the same builders, cache, deterministic zips
-- and shared modules). It gets a log group, a role (CloudWatch Logs plus
-- opts.statements) unless opts.role is given, and runs in the lake's
-- private subnets when the lake has a VPC (opts.vpc = false: not).
-- Mistakes in opts are recorded as problems of the calling script's line.
-- @param stack Stack where the function goes
-- @param id string logical id prefix: <id>Function, <id>Role, <id>LogGroup
-- @param opts table { folder = "functions/x" (relative to app.lua's folder), name =, description =,
--   timeout = 60, memory = 128, environment = { K = V }, statements = { IAM statements },
--   role = a role resource, vpc = boolean }
-- @return function resource, role resource, log group resource
function Datalake:lambda_function(stack, id, opts)
  if getmetatable(self) ~= Datalake then error("use datalake:lambda_function(stack, id, opts), with a colon", 2) end
  if type(stack) ~= "table" or type(stack.add) ~= "function" then
    error("datalake:lambda_function: the first argument is the stack (app:stack(...))", 2)
  end
  if type(id) ~= "string" or not id:match("^[A-Za-z][A-Za-z0-9]*$") then
    error(("datalake:lambda_function: id must be letters and digits, got %s"):format(tostring(id)), 2)
  end
  if type(opts) ~= "table" then error("datalake:lambda_function: opts must be a table", 2) end
  local app, file, line = self.app, caller()
  local function problem(key, fmt, ...)
    app:problem(file, line, ("%s %s.%s"):format(stack.name, id, key), fmt:format(...))
  end
  local allowed = {}
  for _, k in ipairs(M.FUNCTION_OPTIONS) do allowed[k] = true end
  for _, k in ipairs(util.sorted_keys(opts)) do
    if not allowed[k] then problem(tostring(k), "unknown option%s", util.suggest(tostring(k), M.FUNCTION_OPTIONS)) end
  end
  local function check_number(k, default, min, max)
    local v = opts[k]
    if v == nil then return default end
    if math.type(v) ~= "integer" or v < min or v > max then
      problem(k, "expected a whole number from %d to %d, got %s", min, max, tostring(v))
      return default
    end
    return v
  end
  local timeout = check_number("timeout", 60, 1, 900)
  local memory = check_number("memory", 128, 128, 10240)
  if opts.statements ~= nil and opts.role ~= nil then problem("role", "give role or statements, not both") end
  if opts.statements ~= nil and type(opts.statements) ~= "table" then
    problem("statements", "expected a list of IAM policy statements")
  end
  if opts.environment ~= nil and type(opts.environment) ~= "table" then
    problem("environment", "expected a table of names and values")
  end

  -- the code
  local asset = NO_ASSET
  if type(opts.folder) ~= "string" or opts.folder == "" then
    problem("folder", "is required: the folder of the function's code (src/index.py and requirements.json), "
      .. "relative to app.lua's folder")
  else
    -- as the user wrote it (relative to app.lua's folder), for messages and the asset's id
    local rel = opts.folder:gsub("^%./", ""):gsub("(.)/+$", "%1")
    local dir = rel:sub(1, 1) == "/" and rel or ((app.root or ".") .. "/" .. rel)
    local ck = checker.new(rel .. "/requirements.json")
    local mod = modules.check(ck, self.loader.module(dir, rel), { key = "folder", what = "folder", jars = false,
      runs_as = "a Lambda function", rel = rel }, self:shared_modules())
    for _, p in ipairs(ck:sorted()) do
      if p.file == ck.file and p.key == "folder" then
        problem("folder", "%s", p.msg)
      else
        app:problem(p.file, p.line, p.key, p.msg)
      end
    end
    if mod then asset = assets.lambda(app, rel, mod) end
  end

  local name = opts.name or names.name(util.kebab(self.name) .. "-" .. util.kebab(id), self.stage)
  if type(name) ~= "string" and not token.is(name) then
    problem("name", "expected a string, got %s", type(name))
    name = names.name(util.kebab(id), self.stage)
  elseif type(name) == "string" and #name > 64 then
    problem("name", "'%s' is %d characters, Lambda allows 64: give a shorter name", name, #name)
  end

  local vpc_config, vpc_statements
  if self.vpc and opts.vpc ~= false then
    local sg = self.vpc:security_group_id(stack)
    vpc_config = { SubnetIds = self.vpc:private_subnet_ids(stack), SecurityGroupIds = { sg } }
    -- its network interfaces, in the lake's VPC only (no managed policy)
    vpc_statements = functions.vpc_statements(self.env, self.vpc:id(stack), sg)
  end
  local role = opts.role
  if role == nil then
    local statements, users = { functions.logs_statement(self.env, { name }) }, {}
    for _, st in ipairs(type(opts.statements) == "table" and opts.statements or {}) do
      statements[#statements + 1] = st
      users[st] = true
    end
    for _, st in ipairs(vpc_statements or {}) do statements[#statements + 1] = st end
    -- the script's own statements are its author's to answer for: cdk-nag reports their wildcards
    role = functions.role(stack, id .. "Role", { service = functions.LAMBDA_SERVICE, statements = statements,
      policy = "function", description = ("Runs the function %s"):format(token.is(name) and id or name),
      own = function(st) return not users[st] end })
    if vpc_statements then functions.suppress_vpc_describe(role) end
    self.encryption:grant(role, { "s3", "sns" })
  end
  local env = util.merge({ LAKE_NAME = self.name, STAGE = self.stage },
    type(opts.environment) == "table" and opts.environment or nil)
  local fn, group = functions.lambda(stack, id, { name = name, role = role, timeout = timeout, memory = memory,
    description = opts.description, asset = asset, env = env, vpc_config = vpc_config,
    encryption = self.encryption })
  return fn, role, group
end

return M
