--- The stack of one pipeline: the trigger and catch Lambdas with their
-- roles, the EventBridge rules of the triggers, the state machine and its
-- role, and whatever its steps' types add (lake.pipeline.steps: a role and
-- a function per lambda step, a job per glue step, ...).
--
-- Model objects only (no I/O). Resources refer to each other inside the
-- stack with Ref / GetAtt; the lake's buckets, databases and topic (other
-- stacks) are referred to by their deterministic names and ARNs.
--
-- The pipeline context (the `p` the step types get) holds the lake, the
-- validated config, the stack, the names, the domain's two buckets and the
-- helpers below (p:role, p:lambda_function, p:allow), and `p.refs`: what
-- each step's resources leave there for its state.
local assets = require("lake.assets")
local diagram = require("lake.pipeline.diagram")
local functions = require("lake.functions")
local json = require("host.json")
local names = require("lake.names")
local state_machine = require("lake.pipeline.state_machine")
local steps = require("lake.pipeline.steps")
local token = require("lake.token")
local util = require("lake.util")

local M = {}

M.TRIGGER = { timeout = 60, memory = 128 }
M.CATCH = { timeout = 60, memory = 128 }
M.LAMBDA_SERVICE = functions.LAMBDA_SERVICE

--- The environment variables every function of a pipeline gets.
function M.base_environment(lake_name, stage, pipeline)
  return { PIPELINE = pipeline, STAGE = stage, LAKE_NAME = lake_name }
end

local function arr(t) return setmetatable(t or {}, json.array_mt) end

---------------------------------------------------------------------------
-- Names

-- Pipeline roles of its own; the step types add theirs (their `roles`).
local CORE_ROLES_FIRST, CORE_ROLES_LAST = { "trigger", "catch" }, { "sfn" }

-- Every step of a config: those inside parallel and map steps too
-- (lake.pipeline.config's all_steps), in file order.
local function all_steps(cfg) return cfg.all_steps or cfg.steps end
M.all_steps = all_steps

-- The types of a config's steps, each once, in the registry's order.
local function types_of(cfg)
  local used = {}
  for _, s in ipairs(all_steps(cfg)) do
    if s.type then used[s.type] = true end
  end
  local out = {}
  for _, t in ipairs(steps.all()) do
    if used[t.name] then out[#out + 1] = t end
  end
  return out
end

--- Every name the pipeline's resources get, and the limits they must fit.
-- @param cfg table validated config (name, steps, triggers)
-- @param env table { region=, account=, stage= } (region/account may be nil)
-- @return names table { stack, state_machine, trigger_fn, catch_fn, role = {trigger=, catch=, sfn=, ...},
--   rule = {[i]=}, steps = { [step] = { [space] = name } } },
--   claims array of { what=, name= (string|token; a role's: its longest text), max=, key=, line=,
--   space= (names that must not collide), owner= (who has it), advice= }
function M.resource_names(cfg, env)
  local stage, p = env.stage, util.kebab(cfg.name)
  local region = env.region or token.region
  local n = { rule = {}, role = {}, steps = {} }
  local claims = {}
  local function claim(c) claims[#claims + 1] = c end
  -- names.name(p .. suffix, stage) for a suffix in kebab-case: p is, so the
  -- whole is too
  local function named(suffix)
    if p == "" then return names.name(suffix, stage) end
    return p .. suffix .. "-" .. stage
  end
  local nl = cfg.name_line
  n.stack = p == "" and names.pipeline_stack(cfg.name, stage) or "lake-" .. p .. "-stack-" .. stage
  claim { what = "stack name", name = n.stack, max = 128, key = "name", line = nl }
  n.state_machine = named("-state-machine")
  claim { what = "state machine name", name = n.state_machine, max = 80, key = "name", line = nl }
  n.trigger_fn = named("-trigger")
  n.catch_fn = named("-catch")
  claim { what = "Lambda function name", name = n.trigger_fn, max = 64, key = "name", line = nl,
    space = "function", owner = "the trigger" }
  claim { what = "Lambda function name", name = n.catch_fn, max = 64, key = "name", line = nl,
    space = "function", owner = "the catch function" }
  -- Roles are global: the region keeps two regions of one lake apart. The
  -- length check takes the longest region a token can stand for.
  local longest = type(region) == "string" and region or token.LONGEST["AWS::Region"]
  local types = types_of(cfg)
  local roles = util.copy(CORE_ROLES_FIRST)
  for _, t in ipairs(types) do
    for _, r in ipairs(t.roles or {}) do roles[#roles + 1] = r end
  end
  for _, r in ipairs(CORE_ROLES_LAST) do roles[#roles + 1] = r end
  for _, r in ipairs(roles) do
    n.role[r] = token.concat(p, "-", r, "-", region, "-", stage)
    claim { what = "IAM role name", name = p .. "-" .. r .. "-" .. longest .. "-" .. stage, max = 64, key = "name",
      line = nl }
  end
  -- A step's own names (its function, its job): a module's is kebab-cased
  -- on its own, unless it is all separators
  local naming = {
    module = function(m)
      local km = util.kebab(m)
      if km == "" then return names.name(p .. "-" .. m, stage) end
      return named("-" .. km)
    end,
    named = named,
  }
  for _, s in ipairs(all_steps(cfg)) do
    local t = s.type and steps.get(s.type)
    n.steps[s.name] = {}
    if t and t.names then
      for _, c in ipairs(t.names(s, naming)) do
        c.owner = c.owner or ("step '" .. s.name .. "'")
        n.steps[s.name][c.space] = c.name
        claim(c)
      end
    end
  end
  for _, tr in ipairs(cfg.triggers) do
    n.rule[tr.index] = named(("-%s-trigger-%d"):format(tr.kind == "s3" and "s3" or "event", tr.index))
    claim { what = "EventBridge rule name", name = n.rule[tr.index], max = 64, key = ("triggers[%d]"):format(tr.index),
      line = tr.line }
  end
  return n, claims
end

--- Checks the names against their limits (longest region and account) and
-- against each other (two steps whose names collide once kebab- or
-- Pascal-cased). Problems go to report(line, key, msg).
-- @return boolean true when every name fits, and the names (resource_names)
function M.check_names(cfg, env, report)
  local n, claims = M.resource_names(cfg, env)
  local ok = true
  -- One report per config key: the name that overflows its limit the most.
  local worst_of, keys = {}, {}
  for _, c in ipairs(claims) do
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
  local id_owner, owners = {}, {}
  for _, s in ipairs(all_steps(cfg)) do
    local id = util.pascal(s.name)
    local first = id_owner[id]
    if first then
      ok = false
      report(s.line, s.key, ("step names '%s' (%s:%s) and '%s' give the same logical id '%s'; rename one")
        :format(first.name, cfg.file, tostring(first.line), s.name, id))
    end
    id_owner[id] = first or s
  end
  for _, c in ipairs(claims) do
    if c.space then
      local space = owners[c.space] or {}
      owners[c.space] = space
      local name = token.worst_case(c.name) or c.name
      if space[name] and c.advice then
        ok = false
        report(c.line, c.key, ("gives the %s '%s', already used by %s; %s"):format(c.what, name, space[name], c.advice))
      end
      space[name] = space[name] or c.owner
    end
  end
  return ok, n
end

---------------------------------------------------------------------------
-- Policies

--- An Allow statement; writing to the log groups of functions (lake.functions).
M.statement = functions.statement
M.logs_statement = functions.logs_statement

--- Read and write on the pipeline's two buckets (and reading the assets
-- bucket's objects, when given: Glue reads its scripts from there).
-- @param buckets array of the lake's bucket records (lake.bucket_set)
-- @param assets_objects token|nil the ARN of the assets bucket's objects (lake.assets_objects_arn)
function M.s3_statements(buckets, assets_objects)
  local objects, list = {}, {}
  for _, b in ipairs(buckets) do
    objects[#objects + 1] = b.objects_arn
    list[#list + 1] = b.arn
  end
  local out = {
    M.statement("ListPipelineBuckets", { "s3:ListBucket", "s3:GetBucketLocation" }, list),
    M.statement("ReadWritePipelineObjects", { "s3:GetObject", "s3:PutObject", "s3:DeleteObject" }, objects),
  }
  if assets_objects then out[#out + 1] = M.statement("ReadAssets", { "s3:GetObject" }, { assets_objects }) end
  return out
end

--- The Glue Data Catalog: the databases of the buckets and their tables.
-- The Service Authorization Reference lists catalog as a required resource
-- type of every catalog action (GetTable: catalog*, database*, table*), so
-- the account's catalog ARN is named too; it holds no data of its own.
-- @param lake table the built lake (its catalog_arn)
-- @param buckets array of the lake's bucket records
function M.catalog_statement(lake, buckets)
  local res = { lake.catalog_arn }
  for _, b in ipairs(buckets) do
    res[#res + 1] = b.database_arn
    res[#res + 1] = b.tables_arn
  end
  return M.statement("UseCatalog", { "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable",
    "glue:UpdateTable", "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition",
    "glue:BatchCreatePartition", "glue:UpdatePartition" }, res)
end

--- Why a function Step Functions calls needs no dead-letter queue.
M.SYNC_REASON = "Step Functions invokes this function synchronously and handles its failure (retries, then "
  .. "the pipeline's catch, which notifies the error topic); a dead-letter queue serves only asynchronous calls."

--- In-VPC network interface statements (lake.functions).
M.vpc_statements = functions.vpc_statements

---------------------------------------------------------------------------
-- The pipeline context

local Pipeline = {}
Pipeline.__index = Pipeline

--- An IAM role of the pipeline with one inline policy (no managed
-- policies). A role of functions that run in the lake's VPC (extra.vpc, in
-- a lake with one) also gets the network interface statements of
-- lake.functions.vpc_statements, and the suppression their "*" needs.
-- @param id string logical id
-- @param name string|token role name (from p.names.role)
-- @param service string the service that assumes it ("lambda.amazonaws.com")
-- @param statements array of statements (M.statement)
-- @param extra table { policy = inline policy name, description =, vpc = boolean }
function Pipeline:role(id, name, service, statements, extra)
  local in_vpc = extra.vpc and self.vpc_ids
  if in_vpc then
    statements = util.copy(statements)
    for _, st in ipairs(M.vpc_statements(self.env, self.vpc_ids.vpc, self.vpc_ids.security_group)) do
      statements[#statements + 1] = st
    end
  end
  local role = functions.role(self.stack, id, { name = name, service = service, statements = statements,
    policy = extra.policy, description = extra.description })
  if in_vpc then functions.suppress_vpc_describe(role) end
  return role
end

--- A Lambda function of the pipeline with its log group, in the lake's
-- VPC when it has one.
-- @param id string logical id prefix (<id>Function, <id>LogGroup)
-- @param spec table { name =, role = role resource, timeout =, memory =, description =,
--   asset = assets.lambda's, env = { K = V }, source = the config.yml key its problems concern | nil,
--   dead_letter_arn =, sync_reason = (lake.functions.lambda) }
-- @return function resource, log group resource
function Pipeline:lambda_function(id, spec)
  return functions.lambda(self.stack, id, { name = spec.name, role = spec.role, timeout = spec.timeout,
    memory = spec.memory, description = spec.description, asset = spec.asset, env = spec.env,
    vpc_config = self.vpc_config, source = spec.source, encryption = self.lake.encryption,
    dead_letter_arn = spec.dead_letter_arn, sync_reason = spec.sync_reason })
end

--- Lets the state machine's role do actions on resources: added to the
-- statement of that Sid, or as a new statement after the others.
function Pipeline:allow(sid, actions, resources)
  for _, st in ipairs(self.sm_statements) do
    if st.Sid == sid then
      for _, r in ipairs(resources) do st.Resource[#st.Resource + 1] = r end
      return st
    end
  end
  local st = M.statement(sid, actions, resources)
  self.sm_statements[#self.sm_statements + 1] = st
  return st
end

--- The module of a step (lake.pipeline.modules.check's), or nil.
function Pipeline:module(step) return self.modules.steps[step.name] end

--- The environment every function of the pipeline gets, plus extra.
function Pipeline:environment(...)
  return util.merge(self.base_env, ...)
end

---------------------------------------------------------------------------
-- Logging and tracing

--- What the state machine's role needs to deliver its logs: CloudWatch
-- Logs' log-delivery actions, which take only "*" as their resource.
M.LOG_DELIVERY_ACTIONS = { "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
  "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
  "logs:DescribeLogGroups" }
--- What it needs to send X-Ray traces ("*" only too).
M.XRAY_ACTIONS = { "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
  "xray:GetSamplingTargets" }

--- The log group of a state machine. The /aws/vendedlogs/ prefix keeps
-- CloudWatch Logs' resource policy (5120 characters an account) from filling
-- up with one entry per state machine.
-- https://docs.aws.amazon.com/step-functions/latest/dg/bp-cwl.html
function M.state_machine_log_group(sm_name)
  return token.concat("/aws/vendedlogs/states/", sm_name)
end

--- The log level ("error" or "all") and whether X-Ray traces a pipeline's
-- runs: its config's, else the lake's defaults (lake.pipeline_logging,
-- lake.pipeline_tracing), else error and no tracing.
function M.logging_of(cfg, lake)
  local logging = cfg.logging or lake.pipeline_logging or "error"
  local tracing = cfg.tracing
  if tracing == nil then tracing = lake.pipeline_tracing == true end
  return logging, tracing
end

---------------------------------------------------------------------------
-- Resources

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

--- The accounts a trigger's rule takes events from: the trigger's
-- `accounts`, else the lake's own (a token when not known at synth; the
-- default bus also carries events other accounts put there). The origin
-- bucket's events come from the lake's account anyway: the filter on s3
-- triggers is defence in depth.
function M.event_accounts(env, trigger)
  if trigger.accounts then return arr(util.copy(trigger.accounts)) end
  return arr { env.account or token.account_id }
end

-- Adds the pipeline's resources to its stack.
local function fill(p)
  local lake, cfg, stack, n, env = p.lake, p.cfg, p.stack, p.names, p.env
  local app = lake.app
  -- In a lake with a VPC the functions run in its private subnets; the
  -- shared stack publishes them in SSM, read here through SSM-typed
  -- parameters (CloudFormation resolves them at deploy).
  if lake.vpc then
    p.vpc_ids = { vpc = lake.vpc:id(stack), security_group = lake.vpc:security_group_id(stack) }
    p.vpc_config = { SubnetIds = lake.vpc:private_subnet_ids(stack), SecurityGroupIds = { p.vpc_ids.security_group } }
  end

  -- The trigger and the catch. An event the trigger fails on (after
  -- Lambda's own retries of EventBridge's asynchronous call) goes to the
  -- pipeline's dead-letter queue, with the events EventBridge could not
  -- deliver (a pipeline without triggers is started by hand: none).
  local origin, target = p.origin, p.target
  local dlq_name = n.trigger_fn .. "-dlq" -- (function names stop at 64, queue names at 80)
  local dlq_arn = #cfg.triggers > 0 and names.arn("sqs", dlq_name, env) or nil
  local trigger_statements = {
    M.statement("StartPipeline", { "states:StartExecution" }, { p.state_machine_arn }),
    M.logs_statement(env, { n.trigger_fn }),
  }
  if dlq_arn then trigger_statements[3] = M.statement("DeadLetters", { "sqs:SendMessage" }, { dlq_arn }) end
  local trigger_role = p:role("TriggerRole", n.role.trigger, M.LAMBDA_SERVICE, trigger_statements, {
    policy = "start-pipeline", vpc = true,
    description = ("Trigger of pipeline %s: starts its state machine"):format(cfg.name) })
  local catch_role = p:role("CatchRole", n.role.catch, M.LAMBDA_SERVICE, {
    M.statement("NotifyErrors", { "sns:Publish" }, { lake.sns_topic.arn }),
    M.logs_statement(env, { n.catch_fn }),
  }, { policy = "notify-errors", vpc = true,
    description = ("Catch of pipeline %s: publishes failures to the lake's topic"):format(cfg.name) })
  lake.encryption:grant(catch_role, { "sns" })
  local trigger_fn = p:lambda_function("Trigger", {
    name = n.trigger_fn, role = trigger_role, timeout = M.TRIGGER.timeout, memory = M.TRIGGER.memory,
    description = ("Starts pipeline %s from its triggers"):format(cfg.name),
    asset = assets.lambda(app, cfg.name .. "/trigger", p.modules.trigger),
    env = p:environment({ STATE_MACHINE_ARN = p.state_machine_arn, ORIGIN_BUCKET = origin.name,
      TARGET_BUCKET = target.name, DATABASE = target.database }),
    dead_letter_arn = dlq_arn,
    sync_reason = not dlq_arn and "The pipeline has no triggers: this function is only called by hand, "
      .. "synchronously, and the caller sees its failure." or nil,
  })
  p:lambda_function("Catch", {
    name = n.catch_fn, role = catch_role, timeout = M.CATCH.timeout, memory = M.CATCH.memory,
    description = ("Notifies the lake's topic when pipeline %s fails"):format(cfg.name),
    asset = assets.lambda(app, cfg.name .. "/catch", p.modules.catch),
    env = p:environment({ SNS_TOPIC_ARN = lake.sns_topic.arn }),
    sync_reason = M.SYNC_REASON,
  })

  -- The steps' resources, type by type (each gets its steps in file order)
  p.catch_arn = names.arn("lambda", "function:" .. n.catch_fn, env)
  p.catch_timeout = M.CATCH.timeout
  p:allow("InvokeFunctions", { "lambda:InvokeFunction" }, { p.catch_arn })
  for _, t in ipairs(types_of(cfg)) do
    if t.resources then
      local of = {}
      for _, s in ipairs(all_steps(cfg)) do
        if s.type == t.name then of[#of + 1] = s end
      end
      t.resources(p, of)
    end
  end

  -- The state machine, logging to a group of its own (failures only unless
  -- the config says `logging: all`), traced by X-Ray when `tracing: true`.
  -- Step Functions delivers the logs through CloudWatch Logs' log-delivery
  -- API, whose actions take no resource but "*", as do X-Ray's.
  -- https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html
  -- https://docs.aws.amazon.com/step-functions/latest/dg/xray-iam.html
  local logging, tracing = M.logging_of(cfg, lake)
  local sm_logs = functions.log_group(stack, "StateMachineLogGroup", M.state_machine_log_group(n.state_machine),
    lake.encryption)
  p:allow("DeliverLogs", M.LOG_DELIVERY_ACTIONS, { "*" })
  if tracing then p:allow("WriteTraces", M.XRAY_ACTIONS, { "*" }) end
  local sm_role = p:role("StateMachineRole", n.role.sfn, "states.amazonaws.com", p.sm_statements,
    { policy = "run-steps", description = ("State machine of pipeline %s: runs its steps"):format(cfg.name) })
  sm_role:suppress("AwsSolutions-IAM5", "Step Functions delivers its logs through the CloudWatch Logs "
    .. "log-delivery actions (logs:CreateLogDelivery, ...)" .. (tracing and " and its traces through X-Ray's" or "")
    .. ", which accept no resource but '*'; this covers those statements only, the others name their resources.",
    { "Resource::*" })
  local def, order = state_machine.build(cfg, p)
  p.state_machine = stack:add("stepfunctions_state_machine", "StateMachine", {
    StateMachineName = n.state_machine, StateMachineType = "STANDARD",
    RoleArn = sm_role:arn(), DefinitionString = state_machine.encode(def),
    -- Execution data (the state: bucket, keys, route, table; never the
    -- objects' contents) is what makes a logged failure diagnosable.
    LoggingConfiguration = { Level = logging:upper(), IncludeExecutionData = true,
      Destinations = { { CloudWatchLogsLogGroup = { LogGroupArn = sm_logs:attr("Arn") } } } },
    TracingConfiguration = { Enabled = tracing },
  }, { source = { file = cfg.file, line = cfg.steps_line, key = "steps" } })
  if logging ~= "all" then
    p.state_machine:suppress("AwsSolutions-SF1", ("The state machine logs its failures (ERROR), which is "
      .. "what tells why a run failed, and Standard workflows keep every event in their execution history; "
      .. "set `logging: all` in %s to log every event."):format(cfg.file))
  end
  if not tracing then
    p.state_machine:suppress("AwsSolutions-SF2", ("X-Ray tracing is off by default: each run is recorded "
      .. "in the execution history and the state machine's log group; set `tracing: true` in %s to trace "
      .. "runs with X-Ray."):format(cfg.file))
  end
  p.definition = def
  stack:attach("." .. n.state_machine .. ".mmd", diagram.mermaid(cfg, def, order,
    ("pipeline %s, from %s"):format(cfg.name, cfg.file)))

  -- Triggers: one EventBridge rule each, on the default bus. The storage
  -- stack turns EventBridge notifications on for every bucket, so any number
  -- of pipelines can watch one bucket without touching its configuration.
  -- An event EventBridge cannot deliver to the trigger (after retrying for
  -- a day) lands in the pipeline's dead-letter queue instead of being
  -- dropped, and the first one there raises an alarm on the error topic.
  -- (a pipeline without triggers, started by hand, has none)
  if #cfg.triggers == 0 then return end
  local dlq = stack:add("AWS::SQS::Queue", "TriggerDeadLetterQueue", {
    QueueName = dlq_name, MessageRetentionPeriod = 1209600, SqsManagedSseEnabled = true,
  }, { deletion_policy = "Delete", update_replace_policy = "Delete" }) -- goes with its pipeline
  trigger_fn:depends_on(dlq) -- Lambda checks its dead-letter queue when the function is created
  local rule_arns = {}
  for _, t in ipairs(cfg.triggers) do
    local id = (t.kind == "s3" and "S3Trigger" or "EventTrigger") .. t.index
    local pattern
    if t.kind == "s3" then
      pattern = M.s3_pattern(origin.name, t)
    else
      pattern = { source = arr(util.copy(t.source)) }
      if t.detail_type then pattern["detail-type"] = arr(util.copy(t.detail_type)) end
    end
    pattern.account = M.event_accounts(env, t)
    local rule = stack:add("events_rule", id .. "Rule", {
      Name = n.rule[t.index], State = "ENABLED", EventPattern = pattern,
      Description = ("Trigger %d of pipeline %s (%s)"):format(t.index, cfg.name, t.kind),
      Targets = { { Id = "trigger", Arn = trigger_fn:arn(),
        RetryPolicy = { MaximumRetryAttempts = 185, MaximumEventAgeInSeconds = 86400 },
        DeadLetterConfig = { Arn = dlq:attr("Arn") } } },
    })
    rule_arns[#rule_arns + 1] = rule:arn()
    stack:add("lambda_permission", id .. "Permission", {
      Action = "lambda:InvokeFunction", FunctionName = trigger_fn:ref(),
      Principal = "events.amazonaws.com", SourceArn = rule:arn(),
    })
  end
  dlq:suppress("AwsSolutions-SQS3", "This queue is the dead-letter queue of the pipeline's EventBridge "
    .. "rule targets (their DeadLetterConfig); a dead-letter queue of its own would only move the same events.")
  stack:add("AWS::SQS::QueuePolicy", "TriggerDeadLetterQueuePolicy", {
    Queues = { dlq:ref() },
    PolicyDocument = { Version = "2012-10-17", Statement = { {
      Sid = "DenyInsecureTransport", Effect = "Deny", Principal = { AWS = "*" }, Action = "sqs:*",
      Resource = dlq:attr("Arn"), Condition = { Bool = { ["aws:SecureTransport"] = "false" } },
    }, {
      Sid = "EventBridgeDeadLetters", Effect = "Allow", Principal = { Service = "events.amazonaws.com" },
      Action = "sqs:SendMessage", Resource = dlq:attr("Arn"),
      Condition = { ArnEquals = { ["aws:SourceArn"] = rule_arns } },
    } } },
  })
  stack:add("AWS::CloudWatch::Alarm", "TriggerDeadLetterAlarm", {
    AlarmDescription = ("Events for pipeline %s that EventBridge could not deliver to its trigger"):format(cfg.name),
    Namespace = "AWS/SQS", MetricName = "ApproximateNumberOfMessagesVisible",
    Dimensions = { { Name = "QueueName", Value = dlq_name } },
    Statistic = "Maximum", Period = 300, EvaluationPeriods = 1, Threshold = 0,
    ComparisonOperator = "GreaterThanThreshold", TreatMissingData = "notBreaching",
    AlarmActions = { lake.sns_topic.arn },
  })
end

--- Declares a pipeline's stack and adds its resources.
-- @param lake table the built lake (app, name, stage, env, bucket_set, sns_topic, shared_stack, vpc)
-- @param cfg table validated config (lake.pipeline.config)
-- @param modules table { trigger = module, catch = module, steps = { [step] = module } } (lake.pipeline.modules)
-- @param n table|nil its resource names (resource_names), when at hand
-- @return pipeline { name, file, config, stack, names, state_machine_arn, state_machine, definition }
function M.build(lake, cfg, modules, n)
  n = n or M.resource_names(cfg, lake.env)
  local stack = lake.app:stack(n.stack, {
    description = ("lakehost pipeline %s (domain %s, %s -> %s), stage %s")
      :format(cfg.name, cfg.domain, cfg.origin, cfg.target, lake.stage) })
  if lake.shared_stack then stack:depends_on(lake.shared_stack) end
  for k, v in util.spairs(cfg.tags) do stack:tag(k, v) end
  stack:tag("pipeline", cfg.name)
  stack:tag("domain", cfg.domain)
  local origin = lake.bucket_set:bucket(cfg.domain, cfg.origin)
  local target = lake.bucket_set:bucket(cfg.domain, cfg.target)
  local p = setmetatable({
    lake = lake, app = lake.app, env = lake.env, stage = lake.stage, cfg = cfg, stack = stack, names = n,
    modules = modules, origin = origin, target = target, buckets = { origin, target },
    state_machine_arn = names.arn("states", "stateMachine:" .. n.state_machine, lake.env),
    base_env = M.base_environment(lake.name, lake.stage, cfg.name),
    refs = {}, sm_statements = {},
  }, Pipeline)
  fill(p)
  return { name = cfg.name, file = cfg.file, config = cfg, stack = stack, names = n,
    state_machine_arn = p.state_machine_arn, state_machine = p.state_machine, definition = p.definition }
end

return M
