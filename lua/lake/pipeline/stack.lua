--- The stack of one pipeline: roles, the trigger and catch Lambdas, one
-- Lambda per lambda step, one Glue job per glue step, log groups, the
-- EventBridge rules of the triggers and the state machine.
--
-- Model objects only (no I/O). Resources refer to each other inside the
-- stack with Ref / GetAtt; the lake's buckets, databases and topic (other
-- stacks) are referred to by their deterministic names and ARNs.
local asl = require("lake.pipeline.asl")
local assets = require("lake.assets")
local diagram = require("lake.pipeline.diagram")
local json = require("host.json")
local names = require("lake.names")
local token = require("lake.token")
local util = require("lake.util")

local M = {}

M.RUNTIME = "python3.12"
M.HANDLER = "index.handler"
M.LOG_RETENTION_DAYS = 30
M.TRIGGER = { timeout = 60, memory = 128 }
M.CATCH = { timeout = 60, memory = 128 }
M.GLUE = {
  pythonshell = { glue_version = "3.0", python_version = "3.9" },
  glueetl = { glue_version = "4.0", python_version = "3" },
}
--- The resource kinds a pipeline's stack is made of. They are loaded when
-- the first pipeline is declared, so the worker processes that synthesize
-- pipelines (forked later) inherit them instead of each reading and
-- compiling them again.
M.KINDS = { "events_rule", "glue_job", "iam_role", "lambda_function", "lambda_permission", "logs_log_group",
  "stepfunctions_state_machine" }
local kinds_loaded = false

--- The rule Step Functions manages for .sync Glue runs.
-- https://docs.aws.amazon.com/step-functions/latest/dg/glue-iam.html
M.GLUE_SYNC_RULE = "StepFunctionsGetEventsForGlueJobRunsRule"

local function arr(t) return setmetatable(t or {}, json.array_mt) end

---------------------------------------------------------------------------
-- Names

--- The pipeline's roles: "<pipeline>-<role>-<region>-<stage>".
M.ROLES = { "trigger", "catch", "lambda", "glue", "sfn" }

--- Every name the pipeline's resources get, and the limits they must fit.
-- @param cfg table validated config (name, steps, triggers)
-- @param env table { region=, account=, stage= } (region/account may be nil)
-- @param with_checks boolean|nil also the checks (check_names wants them, building the stack not)
-- @return names table { stack, state_machine, trigger_fn, catch_fn, fn = {[step]=}, job = {[step]=},
--   role = {trigger=, catch=, lambda=, glue=, sfn=}, rule = {[i]=} },
--   checks array of { what=, name= (string|token; a role's: its longest text), max=, key=, line= } | nil
function M.resource_names(cfg, env, with_checks)
  local stage, p = env.stage, util.kebab(cfg.name)
  local region = env.region or token.region
  local n = { fn = {}, job = {}, rule = {}, role = {} }
  local checks = with_checks and {} or nil
  local function check(what, name, max, key, line)
    if checks then checks[#checks + 1] = { what = what, name = name, max = max, key = key, line = line } end
  end
  -- names.name(p .. suffix, stage) for a suffix in kebab-case: p is, so the
  -- whole is too (kebab-casing it again would give it back as it is)
  local function named(suffix)
    if p == "" then return names.name(suffix, stage) end
    return p .. suffix .. "-" .. stage
  end
  local nl = cfg.name_line
  n.stack = p == "" and names.pipeline_stack(cfg.name, stage) or "lake-" .. p .. "-stack-" .. stage
  check("stack name", n.stack, 128, "name", nl)
  n.state_machine = named("-state-machine")
  check("state machine name", n.state_machine, 80, "name", nl)
  n.trigger_fn = named("-trigger")
  n.catch_fn = named("-catch")
  check("Lambda function name", n.trigger_fn, 64, "name", nl)
  check("Lambda function name", n.catch_fn, 64, "name", nl)
  -- Roles are global: the region keeps two regions of one lake apart. A
  -- role's token is made when first asked for; the check takes the longest
  -- text it can have (what token.worst_case would make of it).
  n.role = setmetatable({}, { __index = function(t, r)
    local v = token.concat(p, "-", r, "-", region, "-", stage)
    rawset(t, r, v)
    return v
  end })
  if checks then
    local longest = type(region) == "string" and region or token.LONGEST["AWS::Region"]
    local kinds = {}
    for _, s in ipairs(cfg.steps) do kinds[s.type or ""] = true end
    for _, r in ipairs(M.ROLES) do
      if (r ~= "lambda" or kinds.lambda) and (r ~= "glue" or kinds.glue) then
        check("IAM role name", p .. "-" .. r .. "-" .. longest .. "-" .. stage, 64, "name", nl)
      end
    end
  end
  -- a module's: kebab-cased on its own (modules are shared by name across
  -- pipelines, so that answer is kept), unless it is all separators
  local function module_named(m)
    local km = util.kebab(m)
    if km == "" then return names.name(p .. "-" .. m, stage) end
    return named("-" .. km)
  end
  for _, s in ipairs(cfg.steps) do
    if s.type == "lambda" and s.module then
      n.fn[s.name] = module_named(s.module)
      check("Lambda function name", n.fn[s.name], 64, s.key .. ".properties.module", s.module_line)
    elseif s.type == "glue" and s.module then
      n.job[s.name] = module_named(s.module)
      check("Glue job name", n.job[s.name], 255, s.key .. ".properties.module", s.module_line)
    end
  end
  for _, t in ipairs(cfg.triggers) do
    n.rule[t.index] = named(("-%s-trigger-%d"):format(t.kind == "s3" and "s3" or "event", t.index))
    check("EventBridge rule name", n.rule[t.index], 64, ("triggers[%d]"):format(t.index), t.line)
  end
  return n, checks
end

--- Checks the names against their limits (longest region and account) and
-- against each other (two steps whose names collide once kebab- or
-- Pascal-cased). Problems go to report(line, key, msg).
-- @return boolean true when every name fits, and the names (resource_names)
function M.check_names(cfg, env, report)
  local n, checks = M.resource_names(cfg, env, true)
  local ok = true
  -- One report per config key: the name that overflows its limit the most.
  local worst_of, keys = {}, {}
  for _, c in ipairs(checks) do
    local worst = token.worst_case(c.name)
    if worst and #worst > c.max then
      local over = #worst - c.max
      local prev = worst_of[c.key]
      if not prev then keys[#keys + 1] = c.key end
      if not prev or over > prev.over then worst_of[c.key] = { c = c, text = worst, over = over } end
    end
  end
  for _, key in ipairs(keys) do
    local w = worst_of[key]
    ok = false
    report(w.c.line, key, ("makes the %s '%s' (%d characters with the longest region and account), "
      .. "longer than the %d allowed: shorten it"):format(w.c.what, w.text, #w.text, w.c.max))
  end
  local fn_owner = { [n.trigger_fn] = "the trigger", [n.catch_fn] = "the catch function" }
  local job_owner, id_owner = {}, {}
  for _, s in ipairs(cfg.steps) do
    local id = util.pascal(s.name)
    if id_owner[id] then
      ok = false
      report(s.line, s.key, ("step names '%s' and '%s' give the same logical id '%s'; rename one")
        :format(id_owner[id], s.name, id))
    end
    id_owner[id] = id_owner[id] or s.name
    local fname, jname = n.fn[s.name], n.job[s.name]
    if fname then
      if fn_owner[fname] then
        ok = false
        report(s.module_line, s.key .. ".properties.module", ("gives the Lambda function name '%s', "
          .. "already used by %s; "
          .. "each lambda step needs a module of its own"):format(fname, fn_owner[fname]))
      end
      fn_owner[fname] = fn_owner[fname] or ("step '" .. s.name .. "'")
    end
    if jname then
      if job_owner[jname] then
        ok = false
        report(s.module_line, s.key .. ".properties.module", ("gives the Glue job name '%s', already used by %s; "
          .. "each glue step needs a module of its own"):format(jname, job_owner[jname]))
      end
      job_owner[jname] = job_owner[jname] or ("step '" .. s.name .. "'")
    end
  end
  return ok, n
end

---------------------------------------------------------------------------
-- Policies

local function assume(service)
  return { Version = "2012-10-17", Statement = arr { {
    Effect = "Allow", Principal = { Service = service }, Action = "sts:AssumeRole",
  } } }
end

-- Takes the lists it is given: every caller makes them for it.
local function statement(sid, actions, resources)
  return { Sid = sid, Effect = "Allow", Action = arr(actions), Resource = arr(resources) }
end

local function policy(name, statements)
  return { PolicyName = name, PolicyDocument = { Version = "2012-10-17", Statement = arr(statements) } }
end

local function log_group_name(fn_name) return "/aws/lambda/" .. fn_name end

local function logs_statement(env, fn_names)
  local res = {}
  for _, f in ipairs(fn_names) do
    res[#res + 1] = names.arn("logs", "log-group:" .. log_group_name(f) .. ":*", env)
  end
  return statement("WriteLogs", { "logs:CreateLogStream", "logs:PutLogEvents" }, res)
end

-- Tokens made from the lake's own (its buckets' names and ARNs, the assets
-- bucket): the same in every pipeline, so made once and shared, and their
-- Fn::Sub made once too (lake.token keeps it on the token).
local lake_tokens = setmetatable({}, { __mode = "k" })
local function lake_token(base, suffix, make)
  local known = lake_tokens[base]
  if not known then
    known = {}
    lake_tokens[base] = known
  end
  local t = known[suffix]
  if not t then
    t = make()
    known[suffix] = t
  end
  return t
end

-- Read and write on the pipeline's two buckets.
local function s3_statements(buckets, extra_read)
  local objects, list = {}, {}
  for _, b in ipairs(buckets) do
    objects[#objects + 1] = lake_token(b.arn, "/*", function() return token.concat(b.arn, "/*") end)
    list[#list + 1] = b.arn
  end
  local out = {
    statement("ListPipelineBuckets", { "s3:ListBucket", "s3:GetBucketLocation" }, list),
    statement("ReadWritePipelineObjects", { "s3:GetObject", "s3:PutObject", "s3:DeleteObject" }, objects),
  }
  if extra_read then
    out[#out + 1] = statement("ReadAssets", { "s3:GetObject" }, { lake_token(extra_read, "objects", function()
      return token.concat("arn:", token.partition, ":s3:::", extra_read, "/*")
    end) })
  end
  return out
end

-- The Glue Data Catalog: the domain's databases of the two layers and their tables.
local function catalog_statement(env, databases)
  local res = { names.arn("glue", "catalog", env) }
  for _, db in ipairs(databases) do
    res[#res + 1] = names.arn("glue", "database/" .. db, env)
    res[#res + 1] = names.arn("glue", "table/" .. db .. "/*", env)
  end
  return statement("UseCatalog", { "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable",
    "glue:UpdateTable", "glue:GetPartitions", "glue:BatchCreatePartition" }, res)
end

local function managed(name)
  return lake_token(token.partition, name, function()
    return token.concat("arn:", token.partition, ":iam::aws:policy/", name)
  end)
end

---------------------------------------------------------------------------
-- Resources

-- A Lambda function with its log group.
local function add_function(stack, id, spec)
  local group = stack:add("logs_log_group", id .. "LogGroup", {
    LogGroupName = log_group_name(spec.name), RetentionInDays = M.LOG_RETENTION_DAYS,
  })
  local props = {
    FunctionName = spec.name, Description = spec.description,
    Code = { S3Bucket = spec.asset.bucket(), S3Key = spec.asset.key() },
    Handler = spec.asset.handler or M.HANDLER, Runtime = spec.asset.runtime or M.RUNTIME,
    Architectures = spec.asset.architectures, Role = spec.role:arn(),
    Timeout = spec.timeout, MemorySize = spec.memory,
    Environment = { Variables = spec.env },
    LoggingConfig = { LogGroup = group:ref(), LogFormat = "Text" },
  }
  if spec.vpc then props.VpcConfig = spec.vpc end
  return stack:add("lambda_function", id .. "Function", props), group
end

-- "*" and "\" are wildcard syntax in EventBridge patterns.
local function wildcard_escape(s) return (s:gsub("[\\*]", "\\%0")) end

--- The EventBridge pattern of an s3 trigger: "Object Created" events of the
-- origin bucket whose key matches the prefix and suffix.
-- https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
function M.s3_pattern(bucket_name, trigger)
  local detail = { bucket = { name = arr { bucket_name } } }
  local key
  if trigger.prefix and trigger.suffix then
    key = { wildcard = wildcard_escape(trigger.prefix) .. "*" .. wildcard_escape(trigger.suffix) }
  elseif trigger.prefix then
    key = { prefix = trigger.prefix }
  elseif trigger.suffix then
    key = { suffix = trigger.suffix }
  end
  if key then detail.object = { key = arr { key } } end
  return { source = arr { "aws.s3" }, ["detail-type"] = arr { "Object Created" }, detail = detail }
end

-- The parts of a pipeline record that exist only while its stack is built.
local BUILT = { state_machine = true, definition = true, order = true, functions = true, jobs = true }

-- Adds the pipeline's resources to its (deferred) stack and fills the
-- record's BUILT fields.
local function fill(lake, cfg, mods, stack, record)
  local app, env, stage = lake.app, lake.env, lake.stage
  local n = record.names

  local origin = lake.bucket_set:bucket(cfg.domain, cfg.origin)
  local target = lake.bucket_set:bucket(cfg.domain, cfg.target)
  local buckets = { origin, target }
  local databases = { origin.database, target.database }
  local sm_arn = record.state_machine_arn
  local lambda_service = "lambda.amazonaws.com"
  -- In a lake with a VPC the functions run in its private subnets; the
  -- shared stack publishes them in SSM, read here through SSM-typed
  -- parameters (CloudFormation resolves them at deploy).
  local vpc_policy, vpc_config
  if lake.vpc and lake.vpc.ssm then
    vpc_policy = arr { managed("service-role/AWSLambdaVPCAccessExecutionRole") }
    local subnets = stack:parameter("VpcPrivateSubnetIds", {
      type = "AWS::SSM::Parameter::Value<List<AWS::EC2::Subnet::Id>>", default = lake.vpc.ssm.private_subnet_ids,
      description = "SSM parameter with the lake's private subnets" })
    local sg = stack:parameter("VpcSecurityGroupId", {
      type = "AWS::SSM::Parameter::Value<AWS::EC2::SecurityGroup::Id>", default = lake.vpc.ssm.security_group_id,
      description = "SSM parameter with the lake's security group" })
    vpc_config = { SubnetIds = token.ref(subnets), SecurityGroupIds = { token.ref(sg) } }
  end

  local function role(id, name, service, statements, extra)
    local props = { RoleName = name, AssumeRolePolicyDocument = assume(service),
      Description = extra.description, Policies = arr { policy(extra.policy, statements) },
      ManagedPolicyArns = extra.managed }
    return stack:add("iam_role", id, props)
  end

  -- Functions of the lambda steps (names known before any is added).
  local step_fns, lambda_names = {}, {}
  for _, s in ipairs(cfg.steps) do
    if s.type == "lambda" then lambda_names[#lambda_names + 1] = n.fn[s.name] end
  end

  -- Roles
  local trigger_role = role("TriggerRole", n.role.trigger, lambda_service, {
    statement("StartPipeline", { "states:StartExecution" }, { sm_arn }),
    logs_statement(env, { n.trigger_fn }),
  }, { policy = "start-pipeline", managed = vpc_policy,
    description = ("Trigger of pipeline %s: starts its state machine"):format(cfg.name) })
  local catch_role = role("CatchRole", n.role.catch, lambda_service, {
    statement("NotifyErrors", { "sns:Publish" }, { lake.sns_topic.arn }),
    logs_statement(env, { n.catch_fn }),
  }, { policy = "notify-errors", managed = vpc_policy,
    description = ("Catch of pipeline %s: publishes failures to the lake's topic"):format(cfg.name) })
  local lambda_role
  if #lambda_names > 0 then
    local st = s3_statements(buckets)
    st[#st + 1] = catalog_statement(env, databases)
    st[#st + 1] = logs_statement(env, lambda_names)
    lambda_role = role("LambdaStepsRole", n.role.lambda, lambda_service, st, { policy = "lambda-steps",
      managed = vpc_policy,
      description = ("Lambda steps of pipeline %s: its domain's buckets and catalog"):format(cfg.name) })
  end
  local glue_role
  local job_names = {}
  for _, s in ipairs(cfg.steps) do
    if s.type == "glue" then job_names[#job_names + 1] = n.job[s.name] end
  end
  if #job_names > 0 then
    local st = s3_statements(buckets, app.assets_bucket)
    st[#st + 1] = catalog_statement(env, databases)
    glue_role = role("GlueStepsRole", n.role.glue, "glue.amazonaws.com", st, { policy = "glue-steps",
      managed = arr { managed("service-role/AWSGlueServiceRole") },
      description = ("Glue steps of pipeline %s: its domain's buckets and catalog"):format(cfg.name) })
  end
  local sm_statements = {}
  local invoke = { names.arn("lambda", "function:" .. n.catch_fn, env) }
  for _, f in ipairs(lambda_names) do invoke[#invoke + 1] = names.arn("lambda", "function:" .. f, env) end
  sm_statements[#sm_statements + 1] = statement("InvokeFunctions", { "lambda:InvokeFunction" }, invoke)
  if #job_names > 0 then
    local jobs = {}
    for _, j in ipairs(job_names) do jobs[#jobs + 1] = names.arn("glue", "job/" .. j, env) end
    sm_statements[#sm_statements + 1] = statement("RunJobs",
      { "glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun" }, jobs)
    sm_statements[#sm_statements + 1] = statement("WaitForJobs", { "events:PutTargets", "events:PutRule",
      "events:DescribeRule" }, { names.arn("events", "rule/" .. M.GLUE_SYNC_RULE, env) })
  end
  local sm_role = role("StateMachineRole", n.role.sfn, "states.amazonaws.com", sm_statements,
    { policy = "run-steps", description = ("State machine of pipeline %s: runs its steps"):format(cfg.name) })

  -- Functions
  local base_env = { PIPELINE = cfg.name, STAGE = stage, LAKE_NAME = lake.name }
  local trigger_fn = add_function(stack, "Trigger", {
    name = n.trigger_fn, role = trigger_role, vpc = vpc_config, timeout = M.TRIGGER.timeout, memory = M.TRIGGER.memory,
    description = ("Starts pipeline %s from its triggers"):format(cfg.name),
    asset = assets.lambda(app, cfg.name .. "/trigger", mods.trigger),
    env = util.merge(base_env, { STATE_MACHINE_ARN = sm_arn, ORIGIN_BUCKET = origin.name,
      TARGET_BUCKET = target.name, DATABASE = target.database }),
  })
  add_function(stack, "Catch", {
    name = n.catch_fn, role = catch_role, vpc = vpc_config, timeout = M.CATCH.timeout, memory = M.CATCH.memory,
    description = ("Notifies the lake's topic when pipeline %s fails"):format(cfg.name),
    asset = assets.lambda(app, cfg.name .. "/catch", mods.catch),
    env = util.merge(base_env, { SNS_TOPIC_ARN = lake.sns_topic.arn }),
  })
  local jobs = {}
  for _, s in ipairs(cfg.steps) do
    local id, mod = "Step" .. util.pascal(s.name), mods.steps[s.name]
    if s.type == "lambda" then
      step_fns[s.name] = add_function(stack, id, {
        name = n.fn[s.name], role = lambda_role, vpc = vpc_config, timeout = s.timeout_seconds, memory = s.memory_size,
        description = ("Step %s of pipeline %s"):format(s.name, cfg.name),
        asset = assets.lambda(app, cfg.name .. "/" .. s.module, mod),
        env = util.merge(s.environment, base_env, { ORIGIN_BUCKET = origin.name, TARGET_BUCKET = target.name,
          DATABASE = target.database }),
      })
    elseif s.type == "glue" then
      local code = assets.glue(app, cfg.name .. "/" .. s.module, mod, { glue_type = s.glue_version })
      local script = code.script
      local args = {
        ["--TempDir"] = lake_token(target, "glue-temp", function()
          return token.concat("s3://", target.name, "/glue-temp/")
        end),
        ["--job-bookmark-option"] = "job-bookmark-" .. s.job_bookmark,
        ["--enable-continuous-cloudwatch-log"] = "true",
      }
      for _, c in ipairs(cfg.contract) do args["--" .. c.key] = "" end
      for k, v in pairs(assets.glue_arguments(code)) do args[k] = v end -- --extra-py-files, --extra-jars
      local g = M.GLUE[s.glue_version]
      local props = {
        Name = n.job[s.name], Description = ("Step %s of pipeline %s"):format(s.name, cfg.name),
        Role = glue_role:arn(),
        Command = { Name = s.glue_version, PythonVersion = g.python_version,
          ScriptLocation = token.concat("s3://", script.bucket(), "/", script.key()) },
        GlueVersion = g.glue_version, DefaultArguments = args,
        Timeout = s.timeout_minutes, MaxRetries = s.max_retries,
        ExecutionProperty = { MaxConcurrentRuns = s.max_concurrent_runs },
      }
      if s.glue_version == "pythonshell" then
        props.MaxCapacity = s.max_capacity
      else
        props.WorkerType, props.NumberOfWorkers = s.worker_type, s.worker_count
      end
      jobs[s.name] = stack:add("glue_job", id .. "Job", props)
    end
  end

  -- State machine
  local def, order = asl.build(cfg, {
    function_arn = function(s) return names.arn("lambda", "function:" .. n.fn[s.name], env) end,
    job_name = function(s) return n.job[s.name] end,
    catch_arn = names.arn("lambda", "function:" .. n.catch_fn, env),
    catch_timeout = M.CATCH.timeout,
  })
  local sm = stack:add("stepfunctions_state_machine", "StateMachine", {
    StateMachineName = n.state_machine, StateMachineType = "STANDARD",
    RoleArn = sm_role:arn(), DefinitionString = asl.encode(def),
  })
  stack:attach("." .. n.state_machine .. ".mmd", diagram.mermaid(def, order,
    ("pipeline %s, from %s"):format(cfg.name, cfg.file)))

  -- Triggers: one EventBridge rule each, on the default bus. The storage
  -- stack turns EventBridge notifications on for every bucket, so any number
  -- of pipelines can watch one bucket without touching its configuration.
  for _, t in ipairs(cfg.triggers) do
    local id = (t.kind == "s3" and "S3Trigger" or "EventTrigger") .. t.index
    local pattern
    if t.kind == "s3" then
      pattern = M.s3_pattern(origin.name, t)
    else
      pattern = { source = arr(util.copy(t.source)) }
      if t.detail_type then pattern["detail-type"] = arr(util.copy(t.detail_type)) end
    end
    local rule = stack:add("events_rule", id .. "Rule", {
      Name = n.rule[t.index], State = "ENABLED", EventPattern = pattern,
      Description = ("Trigger %d of pipeline %s (%s)"):format(t.index, cfg.name, t.kind),
      Targets = { { Id = "trigger", Arn = trigger_fn:arn() } },
    })
    stack:add("lambda_permission", id .. "Permission", {
      Action = "lambda:InvokeFunction", FunctionName = trigger_fn:ref(),
      Principal = "events.amazonaws.com", SourceArn = rule:arn(),
    })
  end

  record.state_machine, record.definition, record.order = sm, def, order
  record.functions, record.jobs = step_fns, jobs
end

-- A validated config and its modules, kept as one JSON string until the
-- stack is built: a lake of thousands of pipelines holds a few KB of text
-- per pipeline instead of their tables (which are about three times larger).
local function freeze(cfg, mods)
  local c = {}
  for k, v in pairs(cfg) do
    if k ~= "by_name" then c[k] = v end -- rebuilt from steps
  end
  return json.encode({ config = c, modules = mods })
end

local function thaw(text)
  local t = json.decode(text)
  local cfg = t.config
  cfg.by_name = {}
  for _, s in ipairs(cfg.steps) do cfg.by_name[s.name] = s end
  return cfg, t.modules
end

--- The config and modules of a pipeline as declare keeps them (a string).
M.freeze = freeze

--- What declaring a pipeline's stack needs, as plain data (a worker
-- process that loaded the pipeline sends it back with freeze's string).
-- @param lake table the built lake
-- @param cfg table validated config
-- @param n table|nil its resource_names
-- @return { name, file, stack, description, tags = { {key, value}, ... } in order }
function M.shell(lake, cfg, n)
  n = n or M.resource_names(cfg, lake.env)
  local tags = {}
  for k, v in util.spairs(cfg.tags) do tags[#tags + 1] = { k, v } end
  tags[#tags + 1] = { "pipeline", cfg.name }
  tags[#tags + 1] = { "domain", cfg.domain }
  return { name = cfg.name, file = cfg.file, stack = n.stack, tags = tags,
    description = ("lakehost pipeline %s (domain %s, %s -> %s), stage %s")
      :format(cfg.name, cfg.domain, cfg.origin, cfg.target, lake.stage) }
end

--- Declares a pipeline's stack from shell and freeze's string. The stack is
-- deferred (see App:stack): its resources are added when synthesis reaches
-- it, or when the record's state_machine, definition, order, functions or
-- jobs are first read.
-- @param lake table the built lake (app, stage, env, name, bucket_set, sns_topic, shared_stack, vpc)
-- @param shell table from M.shell
-- @param frozen string from M.freeze
-- @param n table|nil the resource names, when at hand (else made when first needed)
-- @return pipeline { name, file, config (a copy), stack, names, state_machine_arn, and the BUILT fields }
function M.declare(lake, shell, frozen, n)
  if not kinds_loaded then
    kinds_loaded = true
    local app_mod = require("lake.app")
    for _, k in ipairs(M.KINDS) do assert(app_mod.kind(k)) end
  end
  local record = { name = shell.name, file = shell.file }
  local function name(cfg)
    n = n or M.resource_names(cfg or thaw(frozen), lake.env)
    rawset(record, "names", n)
    rawset(record, "state_machine_arn", names.arn("states", "stateMachine:" .. n.state_machine, lake.env))
  end
  if n then name() end
  local stack = lake.app:stack(shell.stack, {
    -- fill's input is a validated config; the specs check its resources
    description = shell.description, check = false,
    build = function(st)
      local c, m = thaw(frozen)
      if not n then name(c) end
      fill(lake, c, m, st, record)
    end,
  })
  function stack.on_release()
    for k in pairs(BUILT) do record[k] = nil end
  end
  if lake.shared_stack then stack:depends_on(lake.shared_stack) end
  for _, kv in ipairs(shell.tags) do stack:tag(kv[1], kv[2]) end
  record.stack = stack
  return setmetatable(record, { __index = function(t, k)
    if BUILT[k] then
      stack:materialize()
      return rawget(t, k)
    elseif k == "config" then
      return (thaw(frozen))
    elseif k == "names" or k == "state_machine_arn" then
      name()
      return rawget(t, k)
    end
  end })
end

return M
