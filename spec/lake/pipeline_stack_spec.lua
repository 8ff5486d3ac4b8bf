-- The pipeline stack (lake.pipeline.stack) built from real config.yml files
-- through the lake builder: roles and their scope, functions, jobs,
-- triggers, the state machine and the problems of module folders.
local json = require("host.json")
local lake_tree = require("spec.lake.support.lake_tree")
local assembly = require("lake.assembly")
local lutil = require("lake.util")
local token = require("lake.token")

local function template(stack)
  return assembly.template(stack, { assets = lake_tree.ASSETS })
end

-- The example lake over the repository's own pipelines/ and shared/.
local function example(opts)
  local app, dl = lake_tree.build(".", opts)
  assert(#app.problems == 0, table.concat(app.problems, "\n"))
  return dl, dl.pipelines.pipeline_example
end

local function props(tpl, id) return assert(tpl.Resources[id], id).Properties end

local function policy_statements(role_props)
  local out = {}
  for _, p in ipairs(role_props.Policies or {}) do
    for _, s in ipairs(p.PolicyDocument.Statement) do out[#out + 1] = s end
  end
  return out
end

local function sub(v) return type(v) == "table" and v["Fn::Sub"] or v end

-- The cdk-nag suppression of a resource for its lone "*" (AwsSolutions-IAM5,
-- applies_to { "Resource::*" }), and how many there are.
local function star_suppression(resource)
  local found, n = nil, 0
  for _, x in ipairs(((resource.Metadata or {}).cdk_nag or {}).rules_to_suppress or {}) do
    if x.id == "AwsSolutions-IAM5" and x.applies_to and #x.applies_to == 1 and x.applies_to[1] == "Resource::*" then
      found, n = x, n + 1
    end
  end
  return found, n
end

local function sorted(list)
  local out = lutil.copy(list)
  table.sort(out)
  return out
end

describe("pipeline stack #unit", function()
  local dl, p, tpl
  setup(function()
    dl, p = example()
    tpl = template(p.stack)
  end)

  it("is lake-<pipeline>-stack-<stage>, after the shared stack", function()
    assert.equal("lake-pipeline-example-stack-dev", p.stack.name)
    assert.same({ "lake-shared-stack-dev" }, p.stack.deps)
    assert.equal(dl.pipelines.pipeline_example, p)
  end)

  it("tags every resource with the lake's and the pipeline's tags, pipeline and domain", function()
    assert.same({ version = "1.0.0", pipeline = "pipeline_example", domain = "example" }, p.stack.tags)
    local fn = props(tpl, "TriggerFunction")
    assert.same({ { Key = "domain", Value = "example" }, { Key = "example1", Value = "value1" },
      { Key = "pipeline", Value = "pipeline_example" }, { Key = "version", Value = "1.0.0" } }, fn.Tags)
    assert.same({ domain = "example", example1 = "value1", pipeline = "pipeline_example", version = "1.0.0" },
      props(tpl, "StepProcessType1Job").Tags)
  end)

  it("holds the expected resources", function()
    assert.same({ "CatchFunction", "CatchLogGroup", "CatchRole", "EventTrigger2Permission", "EventTrigger2Rule",
      "GlueStepsRole", "LambdaStepsRole", "S3Trigger1Permission", "S3Trigger1Rule", "StateMachine",
      "StateMachineLogGroup", "StateMachineRole", "StepAddToDatabaseFunction", "StepAddToDatabaseLogGroup", "StepProcessType1Job",
      "StepProcessType2Job", "StepRouteFileFunction", "StepRouteFileLogGroup", "TriggerDeadLetterAlarm",
      "TriggerDeadLetterQueue", "TriggerDeadLetterQueuePolicy", "TriggerFunction",
      "TriggerLogGroup", "TriggerRole" }, lutil.sorted_keys(tpl.Resources))
  end)

  it("names resources kebab-case with the stage", function()
    assert.equal("pipeline-example-trigger-dev", props(tpl, "TriggerFunction").FunctionName)
    assert.equal("pipeline-example-catch-dev", props(tpl, "CatchFunction").FunctionName)
    assert.equal("pipeline-example-route-file-dev", props(tpl, "StepRouteFileFunction").FunctionName)
    assert.equal("pipeline-example-process-type1-dev", props(tpl, "StepProcessType1Job").Name)
    assert.equal("pipeline-example-state-machine-dev", props(tpl, "StateMachine").StateMachineName)
    assert.equal("pipeline-example-s3-trigger-1-dev", props(tpl, "S3Trigger1Rule").Name)
    assert.equal("pipeline-example-trigger-${AWS::Region}-dev", sub(props(tpl, "TriggerRole").RoleName))
    assert.equal("pipeline-example-sfn-${AWS::Region}-dev", sub(props(tpl, "StateMachineRole").RoleName))
  end)

  -- Roles
  it("grants no '*' action, and no '*' resource but to the log-delivery actions, with a reason", function()
    local stack = require("lake.pipeline.stack")
    for id, r in lutil.spairs(tpl.Resources) do
      if r.Type == "AWS::IAM::Role" then
        for _, s in ipairs(policy_statements(r.Properties)) do
          for _, a in ipairs(s.Action) do assert.is_nil(a:find("*", 1, true), id .. " " .. a) end
          for _, res in ipairs(s.Resource) do
            if res == "*" then
              assert.equal("StateMachineRole", id)
              assert.same({ "DeliverLogs", stack.LOG_DELIVERY_ACTIONS, { "*" } }, { s.Sid, s.Action, s.Resource })
            end
          end
        end
      end
    end
    local star, n = star_suppression(tpl.Resources.StateMachineRole)
    assert.equal(1, n)
    assert.matches("logs:CreateLogDelivery", star.reason, 1, true)
    -- the other roles have no "*", so no reason for one
    for _, id in ipairs({ "TriggerRole", "CatchRole", "LambdaStepsRole", "GlueStepsRole" }) do
      assert.is_nil(star_suppression(tpl.Resources[id]), id)
    end
  end)

  it("lets the trigger start only this state machine", function()
    local st = policy_statements(props(tpl, "TriggerRole"))
    assert.same({ "states:StartExecution" }, st[1].Action)
    assert.same({ "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:"
      .. "pipeline-example-state-machine-dev" }, { sub(st[1].Resource[1]) })
    assert.same({ "logs:CreateLogStream", "logs:PutLogEvents" }, st[2].Action)
    assert.equal("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
      .. "/aws/lambda/pipeline-example-trigger-dev:*", sub(st[2].Resource[1]))
    -- the events it fails on go to the pipeline's dead-letter queue
    assert.same({ "DeadLetters", { "sqs:SendMessage" } }, { st[3].Sid, st[3].Action })
    assert.equal("arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:pipeline-example-trigger-dev-dlq",
      sub(st[3].Resource[1]))
    assert.equal(3, #st)
    local fn = tpl.Resources.TriggerFunction
    assert.same(st[3].Resource[1], fn.Properties.DeadLetterConfig.TargetArn)
    assert.truthy(lutil.contains(fn.DependsOn, "TriggerDeadLetterQueue"))
  end)

  it("lets the catch publish only to the lake's topic", function()
    local st = policy_statements(props(tpl, "CatchRole"))
    assert.same({ "sns:Publish" }, st[1].Action)
    assert.same({ "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:example-lake-errors-dev" },
      { sub(st[1].Resource[1]) })
  end)

  it("scopes the steps to the domain's two buckets and databases", function()
    for _, id in ipairs({ "LambdaStepsRole", "GlueStepsRole" }) do
      local st = policy_statements(props(tpl, id))
      local by_sid = {}
      for _, s in ipairs(st) do by_sid[s.Sid] = s end
      local objects = {}
      for i, r in ipairs(by_sid.ReadWritePipelineObjects.Resource) do objects[i] = sub(r) end
      assert.same({ "arn:${AWS::Partition}:s3:::example-raw-${AWS::Region}-${AWS::AccountId}-dev/*",
        "arn:${AWS::Partition}:s3:::example-trusted-${AWS::Region}-${AWS::AccountId}-dev/*" }, objects)
      local catalog = {}
      for i, r in ipairs(by_sid.UseCatalog.Resource) do catalog[i] = sub(r):match("AccountId}:(.*)$") end
      assert.same({ "catalog", "database/example_raw_dev", "table/example_raw_dev/*", "database/example_trusted_dev",
        "table/example_trusted_dev/*" }, catalog)
      assert.same({ "glue:BatchCreatePartition", "glue:BatchGetPartition", "glue:CreateTable", "glue:GetDatabase",
        "glue:GetPartition", "glue:GetPartitions", "glue:GetTable", "glue:GetTables", "glue:UpdatePartition",
        "glue:UpdateTable" }, sorted(by_sid.UseCatalog.Action))
    end
    -- no managed policy (it was AWSGlueServiceRole: glue:* and every bucket);
    -- the jobs' code object by object, and the Glue job log groups
    local glue = props(tpl, "GlueStepsRole")
    assert.equal("glue.amazonaws.com", glue.AssumeRolePolicyDocument.Statement[1].Principal.Service)
    assert.is_nil(glue.ManagedPolicyArns)
    local by_sid = {}
    for _, s in ipairs(policy_statements(glue)) do by_sid[s.Sid] = s end
    local code = {}
    for i, r in ipairs(by_sid.ReadJobCode.Resource) do code[i] = sub(r) end
    assert.same({ "arn:${AWS::Partition}:s3:::lakehost-assets-${AWS::AccountId}-${AWS::Region}/"
      .. "pipeline-example-process-type1-index-py.zip",
      "arn:${AWS::Partition}:s3:::lakehost-assets-${AWS::AccountId}-${AWS::Region}/"
      .. "pipeline-example-process-type1-deps.zip",
      "arn:${AWS::Partition}:s3:::lakehost-assets-${AWS::AccountId}-${AWS::Region}/"
      .. "pipeline-example-process-type2-index-py.zip",
      "arn:${AWS::Partition}:s3:::lakehost-assets-${AWS::AccountId}-${AWS::Region}/"
      .. "pipeline-example-process-type2-deps.zip" }, code)
    local streams = {}
    for i, r in ipairs(by_sid.WriteGlueJobLogs.Resource) do streams[i] = sub(r):match("log%-group:(.*)$") end
    assert.same({ "/aws-glue/jobs/output:*", "/aws-glue/jobs/error:*", "/aws-glue/jobs/logs-v2:*",
      "/aws-glue/python-jobs/output:*", "/aws-glue/python-jobs/error:*" }, streams)
    assert.same({ "logs:CreateLogStream", "logs:PutLogEvents" }, by_sid.WriteGlueJobLogs.Action)
    assert.is_nil(props(tpl, "LambdaStepsRole").ManagedPolicyArns)
  end)

  it("lets the state machine invoke its functions, run its jobs and wait for them", function()
    local st = policy_statements(props(tpl, "StateMachineRole"))
    local fns = {}
    for i, r in ipairs(st[1].Resource) do fns[i] = sub(r):match("function:(.*)$") end
    assert.same({ "pipeline-example-catch-dev", "pipeline-example-route-file-dev",
      "pipeline-example-add-to-database-dev" }, fns)
    assert.same({ "glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun" }, st[2].Action)
    local jobs = {}
    for i, r in ipairs(st[2].Resource) do jobs[i] = sub(r):match("job/(.*)$") end
    assert.same({ "pipeline-example-process-type1-dev", "pipeline-example-process-type2-dev" }, jobs)
    assert.same({ "events:PutTargets", "events:PutRule", "events:DescribeRule" }, st[3].Action)
    assert.matches(":rule/StepFunctionsGetEventsForGlueJobRunsRule$", sub(st[3].Resource[1]))
  end)

  -- Functions
  it("gives the trigger and the catch the original's environment", function()
    local t = props(tpl, "TriggerFunction").Environment.Variables
    assert.same({ "DATABASE", "LAKE_NAME", "ORIGIN_BUCKET", "PIPELINE", "STAGE", "STATE_MACHINE_ARN", "TARGET_BUCKET" },
      lutil.sorted_keys(t))
    assert.equal("example-raw-${AWS::Region}-${AWS::AccountId}-dev", sub(t.ORIGIN_BUCKET))
    assert.equal("example-trusted-${AWS::Region}-${AWS::AccountId}-dev", sub(t.TARGET_BUCKET))
    assert.equal("example_trusted_dev", t.DATABASE)
    assert.matches(":stateMachine:pipeline%-example%-state%-machine%-dev$", sub(t.STATE_MACHINE_ARN))
    local c = props(tpl, "CatchFunction").Environment.Variables
    assert.same({ "LAKE_NAME", "PIPELINE", "SNS_TOPIC_ARN", "STAGE" }, lutil.sorted_keys(c))
    assert.equal("Example Lake", c.LAKE_NAME)
    assert.equal("pipeline_example", c.PIPELINE)
    assert.equal("dev", c.STAGE)
  end)

  it("runs every function on python3.12 from its asset, with a log group of 30 days", function()
    for _, id in ipairs({ "Trigger", "Catch", "StepRouteFile", "StepAddToDatabase" }) do
      local fn = props(tpl, id .. "Function")
      assert.equal("python3.12", fn.Runtime)
      assert.equal("index.handler", fn.Handler)
      assert.same({ Ref = id .. "LogGroup" }, fn.LoggingConfig.LogGroup)
      assert.same({ ["Fn::Sub"] = "lakehost-assets-${AWS::AccountId}-${AWS::Region}" }, fn.Code.S3Bucket)
      local lg = props(tpl, id .. "LogGroup")
      assert.equal("/aws/lambda/" .. fn.FunctionName, lg.LogGroupName)
      assert.equal(30, lg.RetentionInDays)
    end
    assert.equal("pipeline-example-route-file.zip", props(tpl, "StepRouteFileFunction").Code.S3Key)
    assert.equal("pipeline-example-trigger.zip", props(tpl, "TriggerFunction").Code.S3Key)
  end)

  it("gives lambda steps their config's timeout, memory and environment plus the lake's", function()
    local fn = props(tpl, "StepRouteFileFunction")
    assert.equal(60, fn.Timeout)
    assert.equal(128, fn.MemorySize)
    assert.same({ "DATABASE", "LAKE_NAME", "ORIGIN_BUCKET", "PIPELINE", "STAGE", "TARGET_BUCKET" },
      lutil.sorted_keys(fn.Environment.Variables))
  end)

  -- Glue
  it("makes pythonshell jobs with the contract as default arguments", function()
    local job = props(tpl, "StepProcessType1Job")
    assert.same({ Name = "pythonshell", PythonVersion = "3.9", ScriptLocation = {
      ["Fn::Sub"] = "s3://lakehost-assets-${AWS::AccountId}-${AWS::Region}/"
        .. "pipeline-example-process-type1-index-py.zip" } },
      job.Command)
    assert.equal("3.0", job.GlueVersion)
    assert.equal(0.0625, job.MaxCapacity)
    assert.is_nil(job.WorkerType)
    assert.equal(30, job.Timeout)
    assert.equal(0, job.MaxRetries)
    assert.same({ MaxConcurrentRuns = 25 }, job.ExecutionProperty)
    local args = job.DefaultArguments
    for _, k in ipairs({ "origin_bucket", "origin_key", "target_bucket", "target_key", "route", "database",
      "table" }) do
      assert.equal("", args["--" .. k], k)
    end
    assert.equal("s3://example-trusted-${AWS::Region}-${AWS::AccountId}-dev/glue-temp/", sub(args["--TempDir"]))
    assert.equal("job-bookmark-disable", args["--job-bookmark-option"])
    assert.equal("true", args["--enable-continuous-cloudwatch-log"])
  end)

  -- Triggers
  it("matches S3 objects with an EventBridge rule per trigger, and no bucket notification", function()
    local rule = props(tpl, "S3Trigger1Rule")
    assert.same({ source = { "aws.s3" }, ["detail-type"] = { "Object Created" },
      account = { { Ref = "AWS::AccountId" } }, detail = {
      bucket = { name = { { ["Fn::Sub"] = "example-raw-${AWS::Region}-${AWS::AccountId}-dev" } } },
      object = { key = { { wildcard = "example/*.json" } } } } }, rule.EventPattern)
    -- retried for a day, then kept in the pipeline's dead-letter queue, never dropped
    assert.same({ { Id = "trigger", Arn = { ["Fn::GetAtt"] = { "TriggerFunction", "Arn" } },
      RetryPolicy = { MaximumRetryAttempts = 185, MaximumEventAgeInSeconds = 86400 },
      DeadLetterConfig = { Arn = { ["Fn::GetAtt"] = { "TriggerDeadLetterQueue", "Arn" } } } } }, rule.Targets)
    local perm = props(tpl, "S3Trigger1Permission")
    assert.same({ Action = "lambda:InvokeFunction", FunctionName = { Ref = "TriggerFunction" },
      Principal = "events.amazonaws.com", SourceArn = { ["Fn::GetAtt"] = { "S3Trigger1Rule", "Arn" } } }, perm)
    for _, r in pairs(tpl.Resources) do
      assert.is_true(r.Type ~= "AWS::S3::Bucket" and r.Type ~= "Custom::S3BucketNotifications")
    end
  end)

  it("lets only its rules send to its dead-letter queue, and raises an alarm on the error topic when one does", function()
    local q = props(tpl, "TriggerDeadLetterQueue")
    assert.same({ "pipeline-example-trigger-dev-dlq", 1209600, true },
      { q.QueueName, q.MessageRetentionPeriod, q.SqsManagedSseEnabled })
    local deny = props(tpl, "TriggerDeadLetterQueuePolicy").PolicyDocument.Statement[1]
    assert.same({ "Deny", { Bool = { ["aws:SecureTransport"] = "false" } } }, { deny.Effect, deny.Condition })
    local st = props(tpl, "TriggerDeadLetterQueuePolicy").PolicyDocument.Statement[2]
    assert.same({ Service = "events.amazonaws.com" }, st.Principal)
    assert.equal("sqs:SendMessage", st.Action)
    assert.same({ { ["Fn::GetAtt"] = { "S3Trigger1Rule", "Arn" } }, { ["Fn::GetAtt"] = { "EventTrigger2Rule", "Arn" } } },
      st.Condition.ArnEquals["aws:SourceArn"])
    local alarm = props(tpl, "TriggerDeadLetterAlarm")
    assert.same({ { Name = "QueueName", Value = "pipeline-example-trigger-dev-dlq" } }, alarm.Dimensions)
    assert.equal("GreaterThanThreshold", alarm.ComparisonOperator)
    assert.equal(0, alarm.Threshold)
    assert.same({ { ["Fn::Sub"] = "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:example-lake-errors-dev" } },
      alarm.AlarmActions)
  end)

  it("matches custom events by source and detail-type", function()
    assert.same({ source = { "example_source" }, ["detail-type"] = { "example_detail" },
      account = { { Ref = "AWS::AccountId" } } }, props(tpl, "EventTrigger2Rule").EventPattern)
    assert.same({ Ref = "TriggerFunction" }, props(tpl, "EventTrigger2Permission").FunctionName)
  end)

  -- Logging and tracing (issue 18)
  it("logs the state machine's failures to its own vendedlogs group, kept as long as the functions' logs", function()
    local functions = require("lake.functions")
    local group = props(tpl, "StateMachineLogGroup")
    assert.equal("/aws/vendedlogs/states/pipeline-example-state-machine-dev", group.LogGroupName)
    assert.equal(functions.LOG_RETENTION_DAYS, group.RetentionInDays)
    assert.equal(tpl.Resources.TriggerLogGroup.DeletionPolicy, tpl.Resources.StateMachineLogGroup.DeletionPolicy)
    local sm = props(tpl, "StateMachine")
    assert.same({ Level = "ERROR", IncludeExecutionData = true, Destinations = {
      { CloudWatchLogsLogGroup = { LogGroupArn = { ["Fn::GetAtt"] = { "StateMachineLogGroup", "Arn" } } } } } },
      sm.LoggingConfiguration)
    assert.same({ Enabled = false }, sm.TracingConfiguration)
    local nag = tpl.Resources.StateMachine.Metadata.cdk_nag.rules_to_suppress
    assert.same({ "AwsSolutions-SF1", "AwsSolutions-SF2" }, { nag[1].id, nag[2].id })
    assert.matches("set `logging: all` in pipelines/pipeline_example/config.yml", nag[1].reason, 1, true)
    assert.matches("set `tracing: true` in pipelines/pipeline_example/config.yml", nag[2].reason, 1, true)
    for _, st in ipairs(policy_statements(props(tpl, "StateMachineRole"))) do
      assert.is_true(st.Sid ~= "WriteTraces")
    end
  end)

  -- State machine
  it("embeds the ASL with the functions' and jobs' names and draws it", function()
    local sm = props(tpl, "StateMachine")
    assert.equal("STANDARD", sm.StateMachineType)
    assert.same({ ["Fn::GetAtt"] = { "StateMachineRole", "Arn" } }, sm.RoleArn)
    local text = sub(sm.DefinitionString)
    assert.is_string(text)
    local rendered = json.decode((text:gsub("%${AWS::Partition}", "aws"):gsub("%${AWS::Region}", "us-east-1")
      :gsub("%${AWS::AccountId}", "123456789012")))
    assert.equal("SizeCheck", rendered.StartAt)
    assert.equal("arn:aws:lambda:us-east-1:123456789012:function:pipeline-example-route-file-dev",
      rendered.States.RouteFile.Parameters.FunctionName)
    assert.equal("pipeline-example-process-type2-dev", rendered.States.ProcessType2.Parameters.JobName)
    assert.equal("arn:aws:lambda:us-east-1:123456789012:function:pipeline-example-catch-dev",
      rendered.States.ErrorCatch.Parameters.FunctionName)
    local mmd = p.stack.files[".pipeline-example-state-machine-dev.mmd"]
    assert.matches("^flowchart TD\n", mmd)
    assert.matches('s4 -->|"route = type1"| s5', mmd, 1, true)
  end)

  it("is deterministic", function()
    local _, again = example()
    assert.equal(assembly.encode(tpl), assembly.encode(template(again.stack)))
  end)
end)

describe("pipeline stack variants #unit", function()
  local roots = {}
  teardown(function() for _, r in ipairs(roots) do lake_tree.remove(r) end end)
  local function build(files, opts)
    local root = lake_tree.tree(files)
    roots[#roots + 1] = root
    return lake_tree.build(root, opts)
  end

  it("lets two pipelines watch one bucket with their own rules", function()
    local files = {}
    lake_tree.pipeline(files, "orders", lake_tree.config("orders", "  - s3: {prefix: orders/}\n"), { "a" })
    lake_tree.pipeline(files, "customers", lake_tree.config("customers", "  - s3: {suffix: .csv}\n  - s3:\n"), { "a" })
    local app, dl = build(files)
    assert.same({}, app.problems)
    local o = template(dl.pipelines.orders.stack)
    local c = template(dl.pipelines.customers.stack)
    local bucket = { name = { { ["Fn::Sub"] = "example-raw-${AWS::Region}-${AWS::AccountId}-dev" } } }
    assert.same({ bucket = bucket, object = { key = { { prefix = "orders/" } } } },
      props(o, "S3Trigger1Rule").EventPattern.detail)
    assert.same({ bucket = bucket, object = { key = { { suffix = ".csv" } } } },
      props(c, "S3Trigger1Rule").EventPattern.detail)
    assert.same({ bucket = bucket }, props(c, "S3Trigger2Rule").EventPattern.detail)
    assert.equal("orders-s3-trigger-1-dev", props(o, "S3Trigger1Rule").Name)
    assert.equal("customers-s3-trigger-1-dev", props(c, "S3Trigger1Rule").Name)
    -- The buckets themselves send every event to EventBridge; no pipeline touches them.
    local storage = template(dl.storage_stack)
    for id, r in pairs(storage.Resources) do
      if r.Type == "AWS::S3::Bucket" and id ~= "AccessLogsBucket" then -- (logs only)
        assert.same({ EventBridgeConfiguration = { EventBridgeEnabled = true } },
          r.Properties.NotificationConfiguration)
      end
    end
  end)

  it("writes the lake's buckets the same in every pipeline of a domain", function()
    local files = {}
    lake_tree.pipeline(files, "orders", lake_tree.config("orders"), { "a" })
    lake_tree.pipeline(files, "customers", lake_tree.config("customers"), { "a" })
    local app, dl = build(files)
    assert.same({}, app.problems)
    local function objects_arns(p)
      local out = {}
      for _, r in ipairs(p.stack.resources) do
        for _, pol in ipairs(r.props.Policies or {}) do
          for _, st in ipairs(pol.PolicyDocument.Statement) do
            if st.Sid == "ReadWritePipelineObjects" then out[#out + 1] = st.Resource end
          end
        end
      end
      return out
    end
    local o, c = objects_arns(dl.pipelines.orders), objects_arns(dl.pipelines.customers)
    assert.is_true(#o > 0)
    for i = 1, #o do
      for j = 1, #o[i] do assert.same(token.resolve(o[i][j], {}), token.resolve(c[1][j], {})) end
    end
    local written = {}
    for _, st in ipairs(policy_statements(props(template(dl.pipelines.customers.stack), "LambdaStepsRole"))) do
      if st.Sid == "ReadWritePipelineObjects" then written = st.Resource end
    end
    assert.same({ { ["Fn::Sub"] = "arn:${AWS::Partition}:s3:::example-raw-${AWS::Region}-${AWS::AccountId}-dev/*" },
      { ["Fn::Sub"] = "arn:${AWS::Partition}:s3:::example-trusted-${AWS::Region}-${AWS::AccountId}-dev/*" } },
      written)
  end)

  -- Logging, tracing and the accounts of events (issue 18)
  local function machine(config, opts)
    local files = {}
    lake_tree.pipeline(files, "p", config, { "a" })
    local app, dl = build(files, opts)
    assert.same({}, app.problems)
    local t = template(dl.pipelines.p.stack)
    local nag = {}
    for _, x in ipairs(((t.Resources.StateMachine.Metadata or {}).cdk_nag or {}).rules_to_suppress or {}) do
      nag[#nag + 1] = x.id
    end
    local sids = {}
    for _, st in ipairs(policy_statements(props(t, "StateMachineRole"))) do sids[#sids + 1] = st.Sid end
    return t, props(t, "StateMachine"), nag, sids
  end

  it("logs every event with `logging: all`: no SF1 suppression then", function()
    local _, sm, nag = machine(lake_tree.config("p", nil, "logging: all\n"))
    assert.equal("ALL", sm.LoggingConfiguration.Level)
    assert.is_true(sm.LoggingConfiguration.IncludeExecutionData)
    assert.same({ "AwsSolutions-SF2" }, nag)
  end)

  it("traces with X-Ray with `tracing: true`: its actions on '*' and no SF2 suppression then", function()
    local stack = require("lake.pipeline.stack")
    local t, sm, nag, sids = machine(lake_tree.config("p", nil, "tracing: true\n"))
    assert.same({ Enabled = true }, sm.TracingConfiguration)
    assert.equal("ERROR", sm.LoggingConfiguration.Level)
    assert.same({ "AwsSolutions-SF1" }, nag)
    assert.same({ "InvokeFunctions", "DeliverLogs", "WriteTraces" }, sids)
    local st = policy_statements(props(t, "StateMachineRole"))[3]
    assert.same({ stack.XRAY_ACTIONS, { "*" } }, { st.Action, st.Resource })
    assert.same({ "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
      "xray:GetSamplingTargets" }, stack.XRAY_ACTIONS)
    assert.matches("X-Ray", star_suppression(t.Resources.StateMachineRole).reason, 1, true)
    local _, _, nag2 = machine(lake_tree.config("p", nil, "logging: all\ntracing: true\n"))
    assert.same({}, nag2)
  end)

  it("takes the lake's pipeline_logging and pipeline_tracing as defaults, a config's keys first", function()
    local _, sm = machine(lake_tree.config("p"), { pipeline_logging = "all", pipeline_tracing = true })
    assert.same({ "ALL", true }, { sm.LoggingConfiguration.Level, sm.TracingConfiguration.Enabled })
    local _, sm2 = machine(lake_tree.config("p", nil, "logging: error\ntracing: false\n"),
      { pipeline_logging = "all", pipeline_tracing = true })
    assert.same({ "ERROR", false }, { sm2.LoggingConfiguration.Level, sm2.TracingConfiguration.Enabled })
  end)

  it("takes events from the lake's account only, unless a trigger lists its accounts", function()
    local t = machine(lake_tree.config("p", "  - s3: {prefix: in/}\n"
      .. "  - event_rule: {source: [a.b], accounts: ['111122223333', '444455556666']}\n"
      .. "  - event_rule: {source: [c.d]}\n"))
    assert.same({ { Ref = "AWS::AccountId" } }, props(t, "S3Trigger1Rule").EventPattern.account)
    assert.same({ "111122223333", "444455556666" }, props(t, "EventTrigger2Rule").EventPattern.account)
    assert.same({ { Ref = "AWS::AccountId" } }, props(t, "EventTrigger3Rule").EventPattern.account)
    -- the account, when known at synth, is written as is
    local t2 = machine(lake_tree.config("p", "  - s3:\n  - event_rule: {source: [c.d]}\n"),
      { account_id = "210987654321" })
    assert.same({ "210987654321" }, props(t2, "S3Trigger1Rule").EventPattern.account)
    assert.same({ "210987654321" }, props(t2, "EventTrigger2Rule").EventPattern.account)
  end)

  it("escapes wildcard characters of a prefix and suffix", function()
    local stack = require("lake.pipeline.stack")
    assert.same({ wildcard = "a\\*b/*.j\\\\" },
      stack.s3_pattern("b", { prefix = "a*b/", suffix = ".j\\" }).detail.object.key[1])
  end)

  it("makes glueetl jobs with workers, and puts functions in the VPC when there is one", function()
    local files = {}
    lake_tree.pipeline(files, "etl", [[
name: etl
domain: example
layers: {origin: trusted, target: service}
contract: {key: str}
steps:
  A:
    type: lambda
    properties: {module: a, next_step: Load, timeout_seconds: 300, memory_size: 1024, environment: {MODE: fast}}
  Load:
    type: glue
    properties: {module: load, glue_version: glueetl, worker_type: G.2X, worker_count: 4, job_bookmark: enable,
                 max_retries: 2, timeout_minutes: 10}
]], { "a", "load" })
    local app, dl = build(files, { enable_vpc = true })
    assert.same({}, app.problems)
    local t = template(dl.pipelines.etl.stack)
    local job = props(t, "StepLoadJob")
    assert.equal("glueetl", job.Command.Name)
    assert.equal("3", job.Command.PythonVersion)
    assert.equal("4.0", job.GlueVersion)
    assert.equal("G.2X", job.WorkerType)
    assert.equal(4, job.NumberOfWorkers)
    assert.is_nil(job.MaxCapacity)
    assert.equal("job-bookmark-enable", job.DefaultArguments["--job-bookmark-option"])
    assert.same({ Connections = { "example-lake-vpc-az1-dev", "example-lake-vpc-az2-dev" } }, job.Connections)
    assert.equal("s3://example-service-${AWS::Region}-${AWS::AccountId}-dev/glue-temp/",
      sub(job.DefaultArguments["--TempDir"]))
    local fn = props(t, "StepAFunction")
    assert.equal(300, fn.Timeout)
    assert.equal(1024, fn.MemorySize)
    assert.equal("fast", fn.Environment.Variables.MODE)
    assert.same({ Ref = "VpcPrivateSubnetIds" }, fn.VpcConfig.SubnetIds)
    assert.same({ { Ref = "VpcSecurityGroupId" } }, fn.VpcConfig.SecurityGroupIds)
    assert.same({
      VpcId = { Type = "AWS::SSM::Parameter::Value<AWS::EC2::VPC::Id>", Default = "/example-lake/dev/vpc/id",
        Description = "SSM parameter with the lake's VPC" },
      VpcPrivateSubnetIds = { Type = "AWS::SSM::Parameter::Value<List<AWS::EC2::Subnet::Id>>",
        Default = "/example-lake/dev/vpc/private-subnet-ids",
        Description = "SSM parameter with the lake's private subnets" },
      VpcSecurityGroupId = { Type = "AWS::SSM::Parameter::Value<AWS::EC2::SecurityGroup::Id>",
        Default = "/example-lake/dev/vpc/security-group-id",
        Description = "SSM parameter with the lake's security group" },
    }, t.Parameters)
    -- no AWSLambdaVPCAccessExecutionRole: network interfaces in the lake's
    -- VPC only, the Describe actions on "*" with the reason for cdk-nag
    for _, id in ipairs({ "LambdaStepsRole", "TriggerRole", "CatchRole" }) do
      local role = t.Resources[id]
      assert.is_nil(role.Properties.ManagedPolicyArns, id)
      local st = policy_statements(role.Properties)
      local eni, describe = st[#st - 1], st[#st]
      assert.equal("ManageNetworkInterfacesInLakeVpc", eni.Sid)
      assert.same({ "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses" }, eni.Action)
      assert.same({ "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:network-interface/*",
        "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:subnet/*",
        "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group/${VpcSecurityGroupId}" },
        { sub(eni.Resource[1]), sub(eni.Resource[2]), sub(eni.Resource[3]) })
      assert.equal("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc/${VpcId}",
        sub(eni.Condition.ArnEquals["ec2:Vpc"]))
      assert.same({ "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets" }, describe.Action)
      assert.same({ "*" }, describe.Resource)
      assert.matches("ec2:DescribeNetworkInterfaces", star_suppression(role).reason, 1, true)
    end
    -- the Glue role places its jobs' network interfaces in the lake's VPC
    -- only, tags them with Glue's key only, and reads the lake's connections
    local glue = t.Resources.GlueStepsRole
    local gst = {}
    for _, st in ipairs(policy_statements(glue.Properties)) do gst[st.Sid] = st end
    assert.equal("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc/${VpcId}",
      sub(gst.GlueNetworkInterfacesInLakeVpc.Condition.ArnEquals["ec2:Vpc"]))
    assert.same({ "aws-glue-service-resource" },
      gst.TagGlueNetworkInterfaces.Condition["ForAllValues:StringEquals"]["aws:TagKeys"])
    assert.same({ "*" }, gst.DescribeGlueNetwork.Resource)
    for _, a in ipairs(gst.DescribeGlueNetwork.Action) do assert.truthy(a:match("^ec2:Describe"), a) end
    assert.equal(3, #gst.UseLakeConnections.Resource) -- the catalog and the two connections
    assert.matches("Glue", star_suppression(glue).reason, 1, true)
    local def = json.decode((sub(props(t, "StateMachine").DefinitionString):gsub("%${[^}]+}", "x")))
    assert.equal(310, def.States.A.TimeoutSeconds)
    assert.equal(600, def.States.Load.TimeoutSeconds)
    assert.same({ ["--key.$"] = "$.key" }, def.States.Load.Parameters.Arguments)
  end)

  it("runs every Glue job of a VPC lake through the lake's network connections, and none without a VPC", function()
    local _, pv = example({ enable_vpc = true })
    local _, pn = example({ vpc = { public_subnets = true } })
    local _, p = example()
    local jobs = 0
    for _, case in ipairs({ { pv, true }, { pn, true }, { p, false } }) do
      local t = template(case[1].stack)
      for id, r in lutil.spairs(t.Resources) do
        if r.Type == "AWS::Glue::Job" then
          jobs = jobs + 1
          if case[2] then
            assert.same({ Connections = { "example-lake-vpc-az1-dev", "example-lake-vpc-az2-dev" } },
              r.Properties.Connections, id)
          else
            assert.is_nil(r.Properties.Connections, id)
          end
        end
      end
    end
    assert.truthy(jobs >= 6, "the example pipeline has glue steps")
  end)

  it("makes no glue role without glue steps and no step role without lambda steps", function()
    local files = {}
    lake_tree.pipeline(files, "p", lake_tree.config("p"), { "a" })
    local _, dl = build(files)
    local t = template(dl.pipelines.p.stack)
    assert.is_nil(t.Resources.GlueStepsRole)
    assert.is_table(t.Resources.LambdaStepsRole)
    -- invoking the functions, and delivering its logs
    assert.equal(2, #policy_statements(props(t, "StateMachineRole")))
  end)

  it("builds pipelines in folder order and skips folders without config.yml", function()
    local files = { ["pipelines/zz_notes/README.md"] = "not a pipeline\n", ["pipelines/notes.txt"] = "a file\n",
      ["pipelines/c_odd/config.yml/inside.txt"] = "config.yml is a folder here\n" }
    lake_tree.pipeline(files, "b_second", lake_tree.config("second"), { "a" })
    lake_tree.pipeline(files, "a_first", lake_tree.config("first"), { "a" })
    local app = build(files)
    local names = {}
    for _, s in ipairs(app.stacks) do names[#names + 1] = s.name end
    assert.same({ "lake-storage-stack-dev", "lake-shared-stack-dev", "lake-first-stack-dev", "lake-second-stack-dev" },
      names)
  end)
end)

describe("pipeline resource names #unit", function()
  it("are names.name of the kebab-cased whole, for names and modules of every shape", function()
    local names, stack = require("lake.names"), require("lake.pipeline.stack")
    local modules = { "route_file", "Route_File", "RouteFile", "_x", "x_", "-x", "x-", "a__b", "a--b", "A",
      "aB", "a1B", "__", "-", "_", "a-_b", "9x", "x9Y" }
    for _, pname in ipairs({ "p", "pipeline_example", "p_d01_001", "My_Pipe", "a1", "__" }) do
      for _, m in ipairs(modules) do
        local cfg = { name = pname, steps = {
          { type = "lambda", name = "A", module = m, key = "steps.A" },
          { type = "glue", name = "B", module = m .. "_g", key = "steps.B" },
        }, triggers = { { kind = "s3", index = 1 }, { kind = "event_rule", index = 2 } } }
        local n = stack.resource_names(cfg, { stage = "dev" })
        local whole = lutil.kebab(pname)
        assert.equal(names.pipeline_stack(pname, "dev"), n.stack)
        assert.equal(names.name(whole .. "-state-machine", "dev"), n.state_machine)
        assert.equal(names.name(whole .. "-trigger", "dev"), n.trigger_fn)
        assert.equal(names.name(whole .. "-catch", "dev"), n.catch_fn)
        assert.equal(names.name(whole .. "-" .. m, "dev"), n.steps.A["function"], pname .. " " .. m)
        assert.equal(names.name(whole .. "-" .. m .. "_g", "dev"), n.steps.B.job, pname .. " " .. m)
        assert.equal(names.name(whole .. "-s3-trigger-1", "dev"), n.rule[1])
        assert.equal(names.name(whole .. "-event-trigger-2", "dev"), n.rule[2])
      end
    end
  end)
end)

describe("pipeline module folders and loading #unit", function()
  local roots = {}
  teardown(function() for _, r in ipairs(roots) do lake_tree.remove(r) end end)
  local function problems(files, opts)
    local root = lake_tree.tree(files)
    roots[#roots + 1] = root
    local app, dl = lake_tree.build(root, opts)
    return app.problems, dl
  end

  -- refusals
  it("names a missing module folder, src/index.py and requirements.json", function()
    local files = {}
    lake_tree.pipeline(files, "p", lake_tree.config("p") .. [[
      next_step: B
  B:
    type: glue
    properties: {module: bb, next_step: C}
  C:
    type: lambda
    properties: {module: c}
]], { "b" })
    files["pipelines/p/steps/c/src/other.py"] = "\n"
    files["pipelines/p/catch/requirements.json"] = nil
    local probs = problems(files)
    assert.same({
      "pipelines/p/config.yml:8: steps.A.properties.module: no folder pipelines/p/steps/a",
      "pipelines/p/config.yml:12: steps.B.properties.module: no folder pipelines/p/steps/bb (did you mean 'b'?)",
      "pipelines/p/config.yml:15: steps.C.properties.module: pipelines/p/steps/c/src/index.py is missing",
      "pipelines/p/config.yml:15: steps.C.properties.module: pipelines/p/steps/c/requirements.json is missing "
        .. "(it lists packages, extra_jars and shared_modules)",
      "pipelines/p/config.yml: catch: pipelines/p/catch/requirements.json is missing (it lists packages, "
        .. "extra_jars and shared_modules)",
    }, probs)
  end)

  it("names a missing trigger folder", function()
    local files = {}
    lake_tree.pipeline(files, "p", lake_tree.config("p"), { "a" })
    files["pipelines/p/trigger/src/index.py"], files["pipelines/p/trigger/requirements.json"] = nil, nil
    assert.same({ "pipelines/p/config.yml: trigger: no folder pipelines/p/trigger: every pipeline needs a trigger "
      .. "module (src/index.py and requirements.json)" }, (problems(files)))
  end)

  it("reports invalid requirements.json with its line", function()
    local files = {}
    lake_tree.pipeline(files, "p", lake_tree.config("p"), { "a" })
    files["pipelines/p/steps/a/requirements.json"] = '{\n  "packages": [],\n  "shared_modules": ["x",]\n}\n'
    assert.same({ "pipelines/p/steps/a/requirements.json:3: invalid JSON: expected value, found ']'" },
      (problems(files)))
  end)

  it("checks requirements.json keys, shared modules and jars", function()
    local files = { ["shared/manifest.json"] = lake_tree.MANIFEST, ["shared/example/__init__.py"] = "" }
    lake_tree.pipeline(files, "p", lake_tree.config("p"), { "a" })
    files["pipelines/p/steps/a/requirements.json"] = [[
{
  "packages": ["requests"],
  "extra_jar": [],
  "extra_jars": ["https://example.com/x.jar"],
  "shared_modules": ["example", "exmple"]
}
]]
    assert.same({
      "pipelines/p/steps/a/requirements.json:3: extra_jar: unknown key (did you mean 'extra_jars'?)",
      "pipelines/p/steps/a/requirements.json:4: extra_jars: only Glue jobs take jars; this module runs as a "
        .. "Lambda function",
      "pipelines/p/steps/a/requirements.json:5: shared_modules[2]: 'exmple' is not declared in shared/manifest.json "
        .. "(declared: example) (did you mean 'example'?)",
    }, (problems(files)))
  end)

  it("checks shared/manifest.json against the shared folders", function()
    local files = { ["shared/manifest.json"] = '{\n  "example": {"packages": []},\n  "gone": {"packages": [1]}\n}\n',
      ["shared/example/__init__.py"] = "" }
    lake_tree.pipeline(files, "p", lake_tree.config("p"), { "a" })
    assert.same({
      "shared/manifest.json:3: gone.packages[1]: expected a string, got an integer (quote it: '1')",
      "shared/manifest.json:3: gone: declared, but there is no folder shared/gone",
    }, (problems(files)))
  end)

  it("reports invalid YAML with the parser's line", function()
    local files = {}
    lake_tree.pipeline(files, "p", "name: p\nsteps: [a\n", { "a" })
    local probs = problems(files)
    assert.equal(1, #probs)
    assert.matches("^pipelines/p/config.yml:3: did not find expected ',' or ']'", probs[1])
  end)

  it("reports names too long for their resource, with the longest region", function()
    -- 35 characters fit every limit (the longest role: "<name>-trigger-ap-southeast-5-dev").
    local fits, long = ("x"):rep(35), ("y"):rep(50)
    local files = {}
    lake_tree.pipeline(files, fits, lake_tree.config(fits), { "a" })
    lake_tree.pipeline(files, long, lake_tree.config(long) .. "      next_step: B\n  B:\n    type: lambda\n"
      .. "    properties: {module: " .. ("m"):rep(20) .. "}\n", { "a", ("m"):rep(20) })
    local probs, dl = problems(files)
    assert.same({
      "pipelines/" .. long .. "/config.yml:1: name: makes the IAM role name '" .. long
        .. "-trigger-ap-southeast-5-dev' (77 characters with the longest region and account), longer than the 64 "
        .. "allowed: shorten it",
      "pipelines/" .. long .. "/config.yml:12: steps.B.properties.module: makes the Lambda function name '" .. long
        .. "-" .. ("m"):rep(20) .. "-dev' (75 characters with the longest region and account), longer than the 64 "
        .. "allowed: shorten it",
    }, probs)
    assert.is_table(dl.pipelines[fits])
  end)

  it("refuses two lambda steps with one module, and clashing step names", function()
    local files = {}
    lake_tree.pipeline(files, "p", lake_tree.config("p") .. [[
      next_step: B
  B:
    type: lambda
    properties: {module: a, next_step: b_}
  b_:
    type: lambda
    properties: {module: trigger}
]], { "a", "trigger" })
    assert.same({
      "pipelines/p/config.yml:12: steps.B.properties.module: gives the Lambda function name 'p-a-dev', already used "
        .. "by step 'A'; each lambda step needs a module of its own",
      "pipelines/p/config.yml:13: steps.b_: step names 'B' (pipelines/p/config.yml:10) and 'b_' give the same "
        .. "logical id 'B'; rename one",
      "pipelines/p/config.yml:15: steps.b_.properties.module: gives the Lambda function name 'p-trigger-dev', "
        .. "already used by the trigger; each lambda step needs a module of its own",
    }, (problems(files)))
  end)

  it("refuses two pipelines with one name", function()
    local files = {}
    lake_tree.pipeline(files, "a", lake_tree.config("same"), { "a" })
    lake_tree.pipeline(files, "b", lake_tree.config("same"), { "a" })
    assert.same({ "pipelines/b/config.yml:1: name: pipeline 'same' is already defined by pipelines/a/config.yml:1" },
      (problems(files)))
  end)

  it("refuses pipelines whose names make one stack name, or the lake's own stacks' names, naming both files", function()
    local files = {}
    lake_tree.pipeline(files, "a", lake_tree.config("etl_pipeline"), { "a" })
    lake_tree.pipeline(files, "b", "# the second\n" .. lake_tree.config("etl-pipeline"), { "a" })
    lake_tree.pipeline(files, "c", lake_tree.config("shared"), { "a" })
    lake_tree.pipeline(files, "d", lake_tree.config("storage"), { "a" })
    lake_tree.pipeline(files, "e", lake_tree.config("ok"), { "a" })
    assert.same({
      "pipelines/b/config.yml:2: name: pipeline 'etl-pipeline' collides with pipeline 'etl_pipeline' "
        .. "(pipelines/a/config.yml:1): both make the stack name 'lake-etl-pipeline-stack-dev'; rename one of them",
      "pipelines/c/config.yml:1: name: pipeline 'shared' makes the stack name 'lake-shared-stack-dev', which is the "
        .. "lake's shared stack: rename the pipeline",
      "pipelines/d/config.yml:1: name: pipeline 'storage' makes the stack name 'lake-storage-stack-dev', which is the "
        .. "lake's storage stack: rename the pipeline",
    }, (problems(files)))
  end)

  it("refuses pipelines whose steps' function names collide across pipelines", function()
    local files = {}
    lake_tree.pipeline(files, "a", lake_tree.config("x-y"), { "a" }) -- function x-y-a-dev
    lake_tree.pipeline(files, "b", (lake_tree.config("x"):gsub("module: a", "module: y-a")), { "y-a" })
    assert.same({
      "pipelines/b/config.yml:8: steps.A.properties.module: pipeline 'x' collides with pipeline 'x-y' "
        .. "(pipelines/a/config.yml:1): both make the Lambda function name 'x-y-a-dev'; rename one of them",
    }, (problems(files)))
  end)

  it("names a pipelines_path that does not exist", function()
    local _, dl = lake_tree.build(".", { pipelines_path = "no/such/pipelines" })
    assert.same({ "no/such/pipelines: pipelines_path: no such folder" }, dl.app.problems)
  end)

  it("reports the problems of every pipeline and builds only the good ones", function()
    local files = {}
    lake_tree.pipeline(files, "bad", (lake_tree.config("bad"):gsub("domain: example", "domain: nope")), { "a" })
    lake_tree.pipeline(files, "good", lake_tree.config("good"), { "a" })
    local probs, dl = problems(files)
    assert.same({ "pipelines/bad/config.yml:2: domain: 'nope' is not a domain of the lake (domains: example)" }, probs)
    assert.is_table(dl.pipelines.good)
    assert.is_nil(dl.pipelines.bad)
  end)
end)

describe("pipeline templates pass cfn-lint #unit", function()
  local function lint(cases)
    if os.execute("command -v cfn-lint >/dev/null 2>&1") ~= true then
      error("cfn-lint is not installed (pip install cfn-lint)")
    end
    local dir = assert(require("host.fs").tmpdir("lakehost-lint-"))
    local files = {}
    for name, text in lutil.spairs(cases) do
      local path = dir .. "/" .. name .. ".template.json"
      assert(require("host.fs").write(path, text))
      files[#files + 1] = "'" .. path .. "'"
    end
    local p = assert(io.popen("cfn-lint --format parseable -- " .. table.concat(files, " ") .. " 2>&1"))
    local out = p:read("a")
    local _, _, code = p:close()
    require("host.fs").remove_tree(dir)
    return out, code
  end

  -- cfn-lint checks a DefinitionString against the ASL schema (E3601) only
  -- when it is a plain string: this copy has the pseudo parameters filled in.
  local function with_literal_definition(tpl)
    local t = json.decode(assembly.encode(tpl))
    for _, r in pairs(t.Resources) do
      if r.Type == "AWS::StepFunctions::StateMachine" then
        r.Properties.DefinitionString = (sub(r.Properties.DefinitionString):gsub("%${AWS::Partition}", "aws")
          :gsub("%${AWS::Region}", "us-east-1"):gsub("%${AWS::AccountId}", "123456789012"))
      end
    end
    return json.encode(t, { pretty = true })
  end

  it("finds nothing in the example pipeline, plain, with region and account, and with the VPC", function()
    local _, p = example()
    local _, pr = example({ region = "eu-west-1", account_id = "123456789012", env = "prd" })
    local _, pv = example({ enable_vpc = true })
    local tpl = template(p.stack)
    local out, code = lint({ example = assembly.encode(tpl), ["example-prd"] = assembly.encode(template(pr.stack)),
      ["example-vpc"] = assembly.encode(template(pv.stack)), ["example-asl"] = with_literal_definition(tpl) })
    assert.equal("", out)
    assert.equal(0, code)
  end)

  it("can fail: a broken state machine definition is reported", function()
    local _, p = example()
    local text = with_literal_definition(template(p.stack)):gsub('\\"Type\\":\\"Choice\\"', '\\"Type\\":\\"Chioce\\"')
    local out, code = lint({ bad = text })
    assert.matches("E3601", out, 1, true)
    assert.is_true(code ~= 0)
  end)
end)

describe("pipeline golden template #unit", function()
  it("matches spec/fixtures/templates/pipeline_example.template.json", function()
    local _, p = example()
    local got = assembly.encode(template(p.stack))
    assert.is_nil(got:find("<token", 1, true))
    local path = "spec/fixtures/templates/pipeline_example.template.json"
    if os.getenv("LAKEHOST_UPDATE_GOLDEN") == "1" then assert(require("host.fs").write(path, got)) end
    local want = require("host.fs").read(path)
    assert(want, path .. " is missing: run the specs with LAKEHOST_UPDATE_GOLDEN=1 to write it")
    assert.equal(want, got)
    local mmd_path = "spec/fixtures/templates/pipeline_example.mmd"
    local mmd = p.stack.files[".pipeline-example-state-machine-dev.mmd"]
    if os.getenv("LAKEHOST_UPDATE_GOLDEN") == "1" then assert(require("host.fs").write(mmd_path, mmd)) end
    assert.equal(require("host.fs").read(mmd_path), mmd)
  end)
end)
