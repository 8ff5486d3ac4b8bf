-- `lakehost APP.lua run`: the definition resolved from a synthesized
-- template, the Python bootstrap (results, errors, timeouts, no orphans),
-- Glue pythonshell jobs, the timeline, bad input; then the example pipeline
-- run locally against moto on loopback.
local fs = require("host.fs")
local json = require("host.json")
local proc = require("host.proc")
local glue = require("lake.pipeline.steps.glue")
local run = require("lake.run")
local util = require("spec.support.util")

-- True once pid is gone (or a zombie) within `within` seconds.
local function dies(pid, within)
  local limit = proc.monotime() + (within or 3)
  repeat
    local f = io.open("/proc/" .. pid .. "/stat", "r")
    if not f then return true end
    local st = f:read("a"):match("^%d+ %b() (%a)")
    f:close()
    if st == "Z" then return true end
    proc.sleep(0.05)
  until proc.monotime() > limit
  return false
end

local function lines_of(t)
  local out = {}
  for _, l in ipairs(t) do out[#out + 1] = l end
  return table.concat(out, "\n")
end

-- A synth-output-like folder: assets/<name> for each file or zip given.
-- files = { ["fn.zip"] = { ["index.py"] = "..." }, ["job.py"] = "..." }
local function outdir(files)
  local dir = assert(fs.tmpdir("lakehost-runspec-"))
  assert(fs.mkdir_p(dir .. "/assets"))
  for name, content in pairs(files) do
    if type(content) == "table" then
      local w = require("host.zip").writer(dir .. "/assets/" .. name)
      for n, text in pairs(content) do w:add_data(n, text) end
      assert(w:close())
    else
      assert(fs.write(dir .. "/assets/" .. name, content))
    end
  end
  return dir
end

local function lambda(name, key, extra)
  local props = { FunctionName = name, Handler = "index.handler", Runtime = "python3.12", Timeout = 10,
    Code = { S3Bucket = "assets", S3Key = key } }
  for k, v in pairs(extra or {}) do props[k] = v end
  return { Type = "AWS::Lambda::Function", Properties = props }
end

-- A runtime over one function "fn" whose index.py is code.
local function one_function(code, extra)
  local dir = outdir({ ["fn.zip"] = { ["index.py"] = code } })
  local template = { Resources = { Fn = lambda("fn", "fn.zip", extra) } }
  local lines = {}
  local rt = run.runtime(dir, template, { stack = "s", stage = "dev", region = "eu-west-1", account = "111122223333",
    err = function(l) lines[#lines + 1] = l end })
  return rt, dir, lines
end

local function done(rt, dir)
  rt:close()
  fs.remove_tree(dir)
end

describe("lake.run #unit", function()
  describe("pipelines", function()
    local stacks = {
      { name = "lake-storage-stack-dev", tags = {} },
      { name = "lake-pipeline-example-stack-dev", tags = { pipeline = "pipeline_example" } },
      { name = "lake-orders-stack-prd", tags = { pipeline = "orders" } },
      { name = "my-own-stack", tags = { pipeline = "not_a_pipeline_stack" } },
    }

    it("are the stacks tagged with a pipeline whose name is that pipeline's stack name", function()
      assert.same({
        { pipeline = "orders", stage = "prd", stack = "lake-orders-stack-prd" },
        { pipeline = "pipeline_example", stage = "dev", stack = "lake-pipeline-example-stack-dev" },
      }, run.pipelines(stacks))
    end)

    it("are found by name or in kebab-case, else named with a did-you-mean", function()
      local list = run.pipelines(stacks)
      assert.equal("lake-orders-stack-prd", run.find_pipeline(list, "orders").stack)
      assert.equal("lake-pipeline-example-stack-dev", run.find_pipeline(list, "pipeline-example").stack)
      local e, why = run.find_pipeline(list, "pipeline_exmple")
      assert.is_nil(e)
      assert.equal("run: unknown pipeline 'pipeline_exmple' (did you mean 'pipeline_example'?); " ..
        "pipelines: orders, pipeline_example", why)
      assert.equal("run: unknown pipeline 'x': this app has no pipelines", select(2, run.find_pipeline({}, "x")))
    end)
  end)

  describe("template values", function()
    local template = {
      Parameters = { Vpc = { Type = "String" }, Size = { Type = "Number", Default = 3 } },
      Resources = {
        Fn = lambda("my-fn-dev", "x.zip"),
        Topic = { Type = "AWS::SNS::Topic", Properties = { TopicName = { ["Fn::Sub"] = "t-${AWS::Region}" } } },
        Role = { Type = "AWS::IAM::Role", Properties = { RoleName = "r" } },
        Nameless = { Type = "AWS::Lambda::Function", Properties = {} },
        Odd = { Type = "AWS::EC2::VPC", Properties = {} },
      },
    }
    local r = run.resolver(template, { region = "eu-west-1", account = "111122223333", stack_name = "st" })

    it("resolves pseudo parameters, Refs and GetAtts by physical names", function()
      assert.equal("arn:aws:lambda:eu-west-1:111122223333:function:my-fn-dev x st",
        r:value({ ["Fn::Sub"] = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${Fn}"
          .. " x ${AWS::StackName}" }))
      assert.equal("my-fn-dev", r:value({ Ref = "Fn" }))
      assert.equal("arn:aws:sns:eu-west-1:111122223333:t-eu-west-1", r:value({ Ref = "Topic" }))
      assert.equal("t-eu-west-1", r:value({ ["Fn::GetAtt"] = { "Topic", "TopicName" } }))
      assert.equal("arn:aws:iam::111122223333:role/r", r:value({ ["Fn::GetAtt"] = "Role.Arn" }))
      assert.equal("arn:aws:lambda:eu-west-1:111122223333:function:my-fn-dev", r:value({ ["Fn::Sub"] = "${Fn.Arn}" }))
      assert.equal(3, r:value({ Ref = "Size" }))
    end)

    it("resolves Fn::Sub variables, ${!Literal}, Fn::Join and nested values", function()
      assert.equal("a-r-${Keep}",
        r:value({ ["Fn::Sub"] = { "${X}-${Y}-${!Keep}", { X = "a", Y = { Ref = "Role" } } } }))
      assert.equal("x/r/eu-west-1",
        r:value({ ["Fn::Join"] = { "/", { "x", { Ref = "Role" }, { Ref = "AWS::Region" } } } }))
      assert.same({ A = { "r", "eu-west-1" } }, r:value({ A = { { Ref = "Role" }, { Ref = "AWS::Region" } } }))
    end)

    it("uses the partition of the region", function()
      local cn = run.resolver(template, { region = "cn-north-1", account = "1" })
      assert.equal("arn:aws-cn:lambda:cn-north-1:1:function:my-fn-dev", cn:value({ ["Fn::GetAtt"] = { "Fn", "Arn" } }))
    end)

    it("says what it cannot resolve", function()
      local function err(v) return select(2, r:value(v)) end
      assert.equal("parameter Vpc has no default (it is given at deploy)", err({ Ref = "Vpc" }))
      assert.equal("Ref to 'Nope', which is not in the template", err({ Ref = "Nope" }))
      assert.equal("Nameless (AWS::Lambda::Function) has no FunctionName: CloudFormation would make one up at deploy",
        err({ Ref = "Nameless" }))
      assert.equal("Ref to Odd (AWS::EC2::VPC) is not resolved locally", err({ Ref = "Odd" }))
      assert.equal("Fn::GetAtt Fn.Version is not resolved locally", err({ ["Fn::GetAtt"] = { "Fn", "Version" } }))
      assert.equal("Fn::ImportValue is not resolved by the local runner", err({ ["Fn::ImportValue"] = "x" }))
      assert.equal("AWS::NotificationARNs is not known locally", err({ ["Fn::Sub"] = "${AWS::NotificationARNs}" }))
    end)
  end)

  describe("the example's synthesized template", function()
    local dir, template
    setup(function()
      dir = assert(fs.tmpdir("lakehost-runsynth-"))
      local _, err, code = util.lakehost({ "app.lua", "synth", "--out", dir .. "/out" },
        { env = { AWS_REGION = "", AWS_DEFAULT_REGION = "", AWS_ACCOUNT_ID = "", ENVIRONMENT_STAGE = "" } })
      assert(code == 0, err)
      template = assert(json.decode(assert(fs.read(dir .. "/out/lake-pipeline-example-stack-dev.template.json"))))
    end)
    teardown(function() fs.remove_tree(dir) end)

    it("gives the state machine with the local region, account and the functions' names", function()
      local rt = run.runtime(dir .. "/out", template, { stack = "lake-pipeline-example-stack-dev", stage = "dev",
        region = "eu-west-1", account = "111122223333" })
      local sm = rt:machine()
      assert.equal("pipeline-example-state-machine-dev", sm.name)
      assert.equal("arn:aws:states:eu-west-1:111122223333:stateMachine:pipeline-example-state-machine-dev", sm.arn)
      assert.equal("arn:aws:iam::111122223333:role/pipeline-example-sfn-eu-west-1-dev", sm.role)
      local def = json.decode(sm.text)
      assert.equal("SizeCheck", def.StartAt)
      assert.equal("arn:aws:states:::lambda:invoke", def.States.RouteFile.Resource)
      assert.equal("arn:aws:lambda:eu-west-1:111122223333:function:pipeline-example-route-file-dev",
        def.States.RouteFile.Parameters.FunctionName)
      assert.equal("arn:aws:states:::glue:startJobRun.sync", def.States.ProcessType1.Resource)
      assert.equal("pipeline-example-process-type1-dev", def.States.ProcessType1.Parameters.JobName)
      assert.is_nil(sm.text:find("${", 1, true))
      assert.equal("pipeline-example-trigger-dev", rt.trigger.name)
      assert.same({ "pipeline-example-add-to-database-dev", "pipeline-example-catch-dev",
        "pipeline-example-route-file-dev", "pipeline-example-trigger-dev" },
        require("lake.util").sorted_keys(rt.resources["AWS::Lambda::Function"]))
      assert.same({ "pipeline-example-process-type1-dev", "pipeline-example-process-type2-dev" },
        require("lake.util").sorted_keys(rt.resources["AWS::Glue::Job"]))
      rt:close()
    end)

    it("gives each function its environment with the local names", function()
      local rt = run.runtime(dir .. "/out", template, { stack = "x", stage = "dev", region = "eu-west-1",
        account = "111122223333" })
      local vars = rt.resolver:value(rt.resources["AWS::Lambda::Function"]["pipeline-example-trigger-dev"].props.Environment.Variables)
      assert.equal("arn:aws:states:eu-west-1:111122223333:stateMachine:pipeline-example-state-machine-dev",
        vars.STATE_MACHINE_ARN)
      assert.equal("example-raw-eu-west-1-111122223333-dev", vars.ORIGIN_BUCKET)
      assert.equal("example_trusted_dev", vars.DATABASE)
    end)
  end)

  describe("Lambda functions run by the Python bootstrap", function()
    it("refuse a function or a Glue job the stack does not have, naming those it has", function()
      local rt, dir = one_function("def handler(e, c):\n    return e\n")
      local ok, err = pcall(rt.invoke_lambda, rt, "fm", {})
      assert.is_false(ok)
      assert.equal("function fm is not in s (did you mean 'fn'?); the runner runs this pipeline's functions: fn",
        tostring(err))
      ok, err = pcall(glue.run_job, rt, "job", {})
      assert.is_false(ok)
      assert.equal("Glue job job is not in s; the runner runs this pipeline's jobs: ", tostring(err))
      done(rt, dir)
    end)

    it("return the handler's result even when the handler prints to stdout", function()
      local rt, dir = one_function([[
import os
print('{"not": "the result"}')
def handler(event, context):
    print("hello from the handler")
    return {"got": event, "region": os.environ["AWS_REGION"], "x": os.environ["X"],
            "name": context.function_name, "arn": context.invoked_function_arn,
            "memory": context.memory_limit_in_mb, "left": context.get_remaining_time_in_millis(),
            "request": context.aws_request_id, "cwd": os.getcwd() == os.environ["LAMBDA_TASK_ROOT"]}
]], { Environment = { Variables = { X = { ["Fn::Sub"] = "${AWS::AccountId}-x" } } }, MemorySize = 256 })
      local o = rt:invoke_lambda("fn", { a = 1, list = { 1, 2 } })
      done(rt, dir)
      assert.is_true(o.ok, tostring(o.cause))
      assert.same({ a = 1, list = { 1, 2 } }, o.result.got)
      assert.equal("eu-west-1", o.result.region)
      assert.equal("111122223333-x", o.result.x)
      assert.equal("fn", o.result.name)
      assert.equal("arn:aws:lambda:eu-west-1:111122223333:function:fn", o.result.arn)
      assert.equal("256", o.result.memory)
      assert.is_true(o.result.left > 5000 and o.result.left <= 10000)
      assert.equal(o.request_id, o.result.request)
      assert.is_true(o.result.cwd)
      assert.equal('{"not": "the result"}\nhello from the handler\n', o.stdout)
    end)

    it("fail with the exception's class as Error and Lambda's error object as Cause", function()
      local rt, dir = one_function([[
class UnknownRoute(ValueError):
    pass
def handler(event, context):
    raise UnknownRoute("cannot route %s" % event["key"])
]])
      local o = rt:invoke_lambda("fn", { key = "a/b.json" })
      done(rt, dir)
      assert.is_nil(o.ok)
      assert.equal("UnknownRoute", o.error)
      local cause = json.decode(o.cause)
      assert.equal("cannot route a/b.json", cause.errorMessage)
      assert.equal("UnknownRoute", cause.errorType)
      assert.equal(o.request_id, cause.requestId)
      assert.equal(1, #cause.stackTrace)
      assert.matches('index.py", line 4, in handler', cause.stackTrace[1], 1, true)
      assert.equal("UnknownRoute: cannot route a/b.json", run.describe(o.error, o.cause))
    end)

    it("report import errors, a missing handler and a result that is not JSON as Lambda does", function()
      local rt, dir = one_function("import no_such_module_here\n")
      local o = rt:invoke_lambda("fn", {})
      done(rt, dir)
      assert.equal("Runtime.ImportModuleError", o.error)
      assert.equal("Unable to import module 'index': No module named 'no_such_module_here'",
        json.decode(o.cause).errorMessage)
      rt, dir = one_function("def other(e, c):\n    return 1\n")
      o = rt:invoke_lambda("fn", {})
      done(rt, dir)
      assert.equal("Runtime.HandlerNotFound", o.error)
      rt, dir = one_function("def handler(e, c):\n    return {1, 2}\n")
      o = rt:invoke_lambda("fn", {})
      done(rt, dir)
      assert.equal("Runtime.MarshalError", o.error)
      assert.equal("Unable to marshal response: Object of type set is not JSON serializable",
        json.decode(o.cause).errorMessage)
    end)

    it("time out at the function's Timeout (Sandbox.Timedout) or the state's (States.Timeout), " ..
      "killing what the handler started", function()
      local code = [[
import os, signal, subprocess, time
def handler(event, context):
    child = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 60"])
    with open(event["pidfile"], "w") as f:
        f.write(str(child.pid))
    time.sleep(60)
]]
      local rt, dir = one_function(code, { Timeout = 2 })
      local pidfile = dir .. "/pid"
      local t0 = proc.monotime()
      local o = rt:invoke_lambda("fn", { pidfile = pidfile })
      assert.is_true(proc.monotime() - t0 < 6)
      assert.equal("Sandbox.Timedout", o.error)
      assert.equal("RequestId: " .. o.request_id .. " Error: Task timed out after 2.00 seconds",
        json.decode(o.cause).errorMessage)
      local pid = tonumber(assert(fs.read(pidfile)))
      assert.is_true(dies(pid), "the handler's child " .. pid .. " still runs")
      done(rt, dir)
      rt, dir = one_function(code, { Timeout = 30 })
      o = rt:invoke_lambda("fn", { pidfile = dir .. "/pid" }, { timeout = 2 })
      assert.equal("States.Timeout", o.error)
      assert.equal("The task did not end within its TimeoutSeconds (2 s)", o.cause)
      assert.is_true(dies(tonumber(assert(fs.read(dir .. "/pid")))))
      done(rt, dir)
    end)

    it("leave no process behind when the handler returns", function()
      local rt, dir = one_function([[
import subprocess
def handler(event, context):
    return subprocess.Popen(["sleep", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid
]])
      local t0 = proc.monotime()
      local o = rt:invoke_lambda("fn", {})
      done(rt, dir)
      assert.is_true(o.ok)
      assert.is_true(proc.monotime() - t0 < 10)
      -- a loaded machine may take a while to reap it; what matters is that it goes
      assert.is_true(dies(o.result, 10), "the background process " .. o.result .. " still runs")
    end)

    it("report a process that dies without a result as Runtime.ExitError", function()
      local rt, dir = one_function("import os\ndef handler(e, c):\n    os._exit(3)\n")
      local o = rt:invoke_lambda("fn", {})
      done(rt, dir)
      assert.equal("Runtime.ExitError", o.error)
      assert.matches("Runtime exited with error: exit status 3$", json.decode(o.cause).errorMessage)
    end)

    it("capture the trigger's StartExecution: its input as sent, nothing sent", function()
      local rt, dir = one_function([[
import json, boto3
def handler(event, context):
    sfn = boto3.client("stepfunctions")
    r = sfn.start_execution(stateMachineArn="arn:aws:states:eu-west-1:111122223333:stateMachine:m",
                            name="run-1", input=json.dumps({"b": 1, "a": [True, None]}))
    try:
        sfn.start_execution(stateMachineArn="arn:aws:states:eu-west-1:111122223333:stateMachine:m",
                            name="bad name", input="{}")
    except Exception as err:
        bad = type(err).__name__ + " " + str(err)
    return {"arn": r["executionArn"], "bad": bad}
]])
      rt.endpoint = "http://127.0.0.1:9" -- a closed port: any real call would fail
      local o = rt:invoke_lambda("fn", {}, { capture = true })
      done(rt, dir)
      assert.is_true(o.ok, tostring(o.cause))
      assert.equal("arn:aws:states:eu-west-1:111122223333:execution:m:run-1", o.result.arn)
      assert.matches("InvalidName", o.result.bad)
      assert.equal(1, #o.started)
      assert.equal('{"b": 1, "a": [true, null]}', o.started[1].input)
      assert.equal("run-1", o.started[1].name)
      assert.equal("arn:aws:states:eu-west-1:111122223333:stateMachine:m", o.started[1].stateMachineArn)
    end)
  end)

  describe("Glue jobs", function()
    local SCRIPT = [[
import sys, time
from awsglue.utils import getResolvedOptions
args = getResolvedOptions(sys.argv, ["a", "b", "JOB_NAME"] + (["zzz"] if "--fail" in sys.argv else []))
print("args", sorted(args.items()))
if "--sleep" in sys.argv:
    time.sleep(60)
]]
    local function job(kind)
      local dir = outdir({ ["job.py"] = SCRIPT })
      local template = { Resources = { Job = { Type = "AWS::Glue::Job", Properties = {
        Name = "job-dev", Command = { Name = kind or "pythonshell",
          ScriptLocation = { ["Fn::Sub"] = "s3://b-${AWS::Region}/job.py" } },
        DefaultArguments = { ["--a"] = "default", ["--b"] = "" }, Timeout = 5 } } } }
      local rt = run.runtime(dir, template, { stack = "s", region = "eu-west-1", account = "111122223333" })
      return rt, dir
    end

    it("run a pythonshell script with DefaultArguments and the run's Arguments", function()
      local rt, dir = job()
      local o = glue.run_job(rt, "job-dev", { ["--a"] = "given" })
      done(rt, dir)
      assert.is_true(o.ok, tostring(o.cause))
      assert.equal("args [('JOB_NAME', 'job-dev'), ('a', 'given'), ('b', '')]\n", o.stdout)
      assert.equal("SUCCEEDED", o.result.JobRunState)
      assert.equal("job-dev", o.result.JobName)
      assert.same({ ["--a"] = "given" }, o.result.Arguments)
      assert.matches("^jr_%x+$", o.result.Id)
    end)

    it("put the --extra-py-files zips (dependencies, shared modules) on the path", function()
      local dir = outdir({ ["deps.zip"] = { ["mylib/__init__.py"] = "WHO = 'mylib'\n" },
        ["job.py"] = "import mylib\nprint(mylib.WHO)\n" })
      local template = { Resources = { Job = { Type = "AWS::Glue::Job", Properties = {
        Name = "job-dev", Command = { Name = "pythonshell", ScriptLocation = "s3://b/job.py" },
        DefaultArguments = { ["--extra-py-files"] = { ["Fn::Sub"] = "s3://b-${AWS::AccountId}/deps.zip" } } } } } }
      local rt = run.runtime(dir, template, { stack = "s" })
      local o = glue.run_job(rt, "job-dev", {})
      done(rt, dir)
      assert.is_true(o.ok, tostring(o.cause))
      assert.equal("mylib\n", o.stdout)
    end)

    it("fail with States.TaskFailed and the JobRun, its ErrorMessage from the script's error", function()
      local rt, dir = job()
      local o = glue.run_job(rt, "job-dev", { ["--fail"] = "1" })
      done(rt, dir)
      assert.equal("States.TaskFailed", o.error)
      local c = json.decode(o.cause)
      assert.equal("FAILED", c.JobRunState)
      assert.equal("awsglue.utils.GlueArgumentError: the following arguments are required: --zzz", c.ErrorMessage)
    end)

    it("time out at the state's TimeoutSeconds", function()
      local rt, dir = job()
      local o = glue.run_job(rt, "job-dev", { ["--sleep"] = "1" }, { timeout = 1 })
      done(rt, dir)
      assert.equal("States.Timeout", o.error)
    end)

    it("stop the run when a glueetl step has no PySpark", function()
      local rt, dir = job("glueetl")
      rt.pyspark = false
      local ok, err = pcall(glue.run_job, rt, "job-dev", {}, { state = "ProcessX" })
      done(rt, dir)
      assert.is_false(ok)
      assert.equal("failed", err.kind) -- an operation that failed: exit 1
      assert.equal("glueetl step ProcessX needs PySpark: pip install pyspark (for python3), or run it on AWS", err.msg)
    end)
  end)

  describe("an execution", function()
    local TRIGGER = [[
import json, os, boto3
def handler(event, context):
    if "key" not in event:
        raise KeyError("key")
    boto3.client("stepfunctions").start_execution(stateMachineArn=os.environ["SM"], name="n1",
        input=json.dumps({"key": event["key"]}))
]]
    local STEP = [[
def handler(event, context):
    if event["key"] == "boom":
        raise RuntimeError("boom")
    return dict(event, stepped=True)
]]
    local CATCH = "def handler(event, context):\n    print('caught', event['error']['Error'])\n    return {}\n"
    local function pipeline()
      local dir = outdir({ ["t.zip"] = { ["index.py"] = TRIGGER }, ["s.zip"] = { ["index.py"] = STEP },
        ["c.zip"] = { ["index.py"] = CATCH } })
      local def = {
        StartAt = "Step",
        States = {
          Step = { Type = "Task", Resource = "arn:${AWS::Partition}:states:::lambda:invoke",
            Parameters = { FunctionName = "${StepFn}", ["Payload.$"] = "$" }, OutputPath = "$.Payload",
            Catch = { { ErrorEquals = { "States.ALL" }, Next = "Catch", ResultPath = "$.error" } }, Next = "Done" },
          Catch = { Type = "Task", Resource = "arn:aws:states:::lambda:invoke",
            Parameters = { FunctionName = "c-dev", ["Payload.$"] = "$" }, ResultPath = json.null, Next = "Failed" },
          Failed = { Type = "Fail", Error = "PipelineFailed", Cause = "see the catch" },
          Done = { Type = "Pass", End = true },
        },
      }
      local template = { Resources = {
        Trigger = lambda("p-trigger-dev", "t.zip", { Environment = { Variables = { SM = { Ref = "Machine" } } } }),
        StepFn = lambda("p-step-dev", "s.zip"), CatchFn = lambda("c-dev", "c.zip"),
        Machine = { Type = "AWS::StepFunctions::StateMachine", Properties = { StateMachineName = "p-sm-dev",
          DefinitionString = { ["Fn::Sub"] = json.encode(def) } } },
      } }
      local lines, outs = {}, {}
      local rt = run.runtime(dir, template, { stack = "lake-p-stack-dev", stage = "dev", region = "eu-west-1",
        account = "111122223333", err = function(l) lines[#lines + 1] = l end })
      return rt, dir, lines, function(t) outs[#outs + 1] = t end, outs
    end

    it("runs the trigger, then the execution it started; the timeline on err, the output on out", function()
      local rt, dir, lines, out, outs = pipeline()
      local status = run.execute(rt, { key = "k" }, out)
      done(rt, dir)
      assert.equal(0, status, lines_of(lines))
      assert.matches("^  trigger +%d+%.%d%d s  started n1$", lines[1])
      assert.matches("^  Step +%d+%.%d%d s  succeeded$", lines[2])
      assert.matches("^  Done +%d+%.%d%d s  succeeded$", lines[3])
      assert.matches("^SUCCEEDED in %d+%.%d%d s %(2 states%)$", lines[4])
      assert.same({ key = "k", stepped = true }, json.decode(outs[1]))
    end)

    it("goes through the catch and fails: exit 1, the failing step and its traceback named", function()
      local rt, dir, lines, out, outs = pipeline()
      local status = run.execute(rt, { key = "boom" }, out)
      done(rt, dir)
      assert.equal(1, status)
      local text = lines_of(lines)
      assert.matches("\n  Step +%d+%.%d%d s  failed: RuntimeError: boom; caught, next Catch\n", text)
      assert.matches('      |   File "[^"]*/index.py", line 3, in handler\n', text)
      assert.matches("\n  Catch +%d+%.%d%d s  succeeded\n", text)
      assert.matches("\n  Failed +%d+%.%d%d s  failed: PipelineFailed: see the catch\n", text)
      assert.matches("\nFAILED in %d+%.%d%d s at Failed: PipelineFailed: see the catch$", text)
      assert.same({}, outs)
    end)

    it("with --verbose, shows each step's input, output and logs", function()
      local rt, dir, lines, out = pipeline()
      rt.verbose = true
      run.execute(rt, { key = "boom" }, out)
      done(rt, dir)
      local text = lines_of(lines)
      assert.matches('      input  {\n        "key": "boom"\n      }', text, 1, true)
      assert.matches("      | caught RuntimeError", text, 1, true)
    end)

    it("stops when the trigger refuses the event or starts nothing", function()
      local rt, dir, lines, out = pipeline()
      assert.equal(1, run.execute(rt, { nokey = 1 }, out))
      done(rt, dir)
      assert.matches("^  trigger +%d+%.%d%d s  failed: KeyError: 'key'$", lines[1])
      assert.equal("FAILED: the trigger p-trigger-dev did not accept the event", lines[#lines])
    end)
  end)

  describe("the command", function()
    it("refuses an event file that is not JSON, naming file:line:col (exit 2)", function()
      local dir = assert(fs.tmpdir("lakehost-runev-"))
      assert(fs.mkdir_p(dir .. "/events"))
      assert(fs.write(dir .. "/events/x.json", '{\n  "a": 1,\n    "b": x\n}\n'))
      local _, err, code = util.lakehost({ util.cwd() .. "/app.lua", "run", "pipeline_example", "--event",
        "events/x.json" }, { cwd = dir })
      fs.remove_tree(dir)
      assert.equal(2, code)
      assert.equal("lakehost: run: the event is not JSON: events/x.json:3:10: expected value, found 'x'\n", err)
    end)

    it("refuses an unknown pipeline with a did-you-mean, a missing --event, a missing file (exit 2)", function()
      local _, err, code = util.lakehost({ "app.lua", "run", "pipeline_exampel", "--event", "x.json" })
      assert.equal(2, code)
      assert.equal("lakehost: run: unknown pipeline 'pipeline_exampel' (did you mean 'pipeline_example'?); " ..
        "pipelines: pipeline_example\n", err)
      _, err, code = util.lakehost({ "app.lua", "run", "pipeline_example" })
      assert.equal(2, code)
      assert.equal("lakehost: run: --event FILE is required (an S3 or EventBridge event, as JSON, for the " ..
        "pipeline's trigger)\n", err)
      _, err, code = util.lakehost({ "app.lua", "run", "pipeline_example", "--event", "/nonexistent/e.json" })
      assert.equal(2, code)
      assert.matches("^lakehost: run: cannot read the event file /nonexistent/e.json: ", err)
      _, err, code = util.lakehost({ "app.lua", "run", "pipeline_example", "--evnt", "x" })
      assert.equal(2, code)
      assert.matches("unknown option '--evnt' (did you mean '--event'?)", err, 1, true)
    end)

    it("takes --region (over AWS_REGION) for its names and the steps", function()
      local dir = assert(fs.tmpdir("lakehost-runreg-"))
      assert(fs.write(dir .. "/ev.json", '{"version":"0","detail-type":"Object Created","source":"aws.s3",'
        .. '"detail":{"bucket":{"name":"b"},"object":{"key":"x/y.csv","size":1}}}'))
      -- nothing listens on the endpoint: the run ends early, after saying where it runs
      local _, err = util.lakehost({ util.cwd() .. "/app.lua", "run", "pipeline_example", "--event", "ev.json",
        "--endpoint", "http://127.0.0.1:9", "--region", "eu-west-1", "--out", dir .. "/out" }, { cwd = dir,
        env = { AWS_REGION = "us-east-1", AWS_ACCOUNT_ID = "111122223333", AWS_ACCESS_KEY_ID = "x",
          AWS_SECRET_ACCESS_KEY = "y", AWS_MAX_ATTEMPTS = "1" } })
      fs.remove_tree(dir)
      assert.matches("run pipeline_example %(lake%-pipeline%-example%-stack%-dev%) in eu%-west%-1, account 111122223333", err)
    end)

    it("tells the truth in --help", function()
      local out, _, code = util.lakehost({ "app.lua", "run", "--help" })
      assert.equal(0, code)
      assert.matches("^usage: lakehost APP.lua run PIPELINE %-%-event FILE", out)
      for _, opt in ipairs({ "--event FILE", "--endpoint URL", "--python PATH", "--out DIR", "--verbose", "--keep",
        "--profile NAME", "--region REGION" }) do
        assert.matches(opt, out, 1, true)
      end
    end)
  end)
end)

-- ---- end to end, against moto ---------------------------------------------------------

local moto = require("spec.support.moto")

describe("running the example pipeline locally against moto #integration", function()
  local server, dir, c, queue_url
  local rpc = require("lake.aws.jsonrpc")
  local query = require("lake.aws.query")
  local s3 = require("lake.aws.s3")
  local RAW = "example-raw-us-east-1-123456789012-dev"
  local TRUSTED = "example-trusted-us-east-1-123456789012-dev"

  local function lakehost(args)
    local env = { LAKEHOST_CACHE_DIR = dir .. "/.cache" }
    for k, v in pairs(server.env) do env[k] = v end
    local argv = { dir .. "/app.lua" }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return util.lakehost(argv, { env = env, cwd = dir })
  end

  -- Puts body at key in the raw bucket and runs the pipeline with the
  -- EventBridge event S3 sends for it.
  local function put_and_run(key, body)
    local put = assert(s3.put_object(c, RAW, key, { body = body }))
    local event = { version = "0", id = "id-" .. key, ["detail-type"] = "Object Created", source = "aws.s3",
      account = "123456789012", region = "us-east-1", time = "2024-05-01T10:00:00Z",
      resources = { "arn:aws:s3:::" .. RAW },
      detail = { bucket = { name = RAW }, object = { key = key, size = #body, etag = put.etag },
        reason = "PutObject" } }
    local file = dir .. "/event.json"
    assert(fs.write(file, json.encode(event)))
    return lakehost({ "run", "pipeline_example", "--event", file, "--endpoint", server.url })
  end

  local function receive()
    local r = assert(query.call(c, "sqs", "2012-11-05", "ReceiveMessage", { QueueUrl = queue_url,
      MaxNumberOfMessages = 10, WaitTimeSeconds = 1 }))
    local out = {}
    for _, m in ipairs(query.list(r.ReceiveMessageResult and r.ReceiveMessageResult.Message or r.Message)) do
      local note = json.decode(m.Body)
      out[#out + 1] = { subject = note.Subject, message = json.decode(note.Message) }
    end
    return out
  end

  setup(function()
    server = moto.start()
    c = server.client()
    dir = assert(fs.tmpdir("lakehost-runexample-"))
    assert(os.execute(("cp -R app.lua pipelines shared standalone %s/"):format(util.shquote(dir))))
    local _, err, code = lakehost({ "bootstrap" })
    assert(code == 0, err)
    _, err, code = lakehost({ "deploy", "--require-approval", "never" }) -- new roles: approved up front
    assert(code == 0, err)
    -- moto's CloudFormation skips Glue resources: the database the shared
    -- stack declares, made through the API.
    assert(rpc.call(c, "glue", "CreateDatabase", { DatabaseInput = { Name = "example_trusted_dev" } }))
    -- the topic's messages, through an SQS subscription
    local q = assert(query.call(c, "sqs", "2012-11-05", "CreateQueue", { QueueName = "errors" }))
    queue_url = q.QueueUrl
    local attrs = assert(query.call(c, "sqs", "2012-11-05", "GetQueueAttributes", { QueueUrl = queue_url,
      ["AttributeName.1"] = "QueueArn" }))
    local arn
    for _, a in ipairs(query.list(attrs.Attribute)) do if a.Name == "QueueArn" then arn = a.Value end end
    assert(query.call(c, "sns", "2010-03-31", "Subscribe", { TopicArn =
      "arn:aws:sns:us-east-1:123456789012:example-lake-errors-dev", Protocol = "sqs", Endpoint = arn }))
  end)

  teardown(function()
    if server then server.stop() end
    if dir then fs.remove_tree(dir) end
  end)

  it("moves a type1 object to the trusted bucket and registers its table (exit 0)", function()
    local out, err, code = put_and_run("example/type1/orders.json",
      '[{"orderId": 1, "customerName": "Ada"}, {"orderId": 2, "customerName": "Alan", "paid": true}]')
    assert.equal(0, code, err)
    assert.matches("\n  trigger +%d+%.%d%d s  started example%-type1%-orders%-json%-%x+\n", err)
    for _, step in ipairs({ "RouteFile", "RouteChoice", "ProcessType1", "AddToDatabase" }) do
      assert.matches("\n  " .. step .. " +%d+%.%d%d s  succeeded\n", err)
    end
    assert.not_matches("ProcessType2", err)
    assert.matches("\nSUCCEEDED in ", err)
    local output = json.decode(out)
    assert.equal("created", output.table_action)
    assert.equal("type1", output.route)
    assert.equal('{"customer_name": "Ada", "order_id": 1}\n{"customer_name": "Alan", "order_id": 2, "paid": true}\n',
      s3.get_object(c, TRUSTED, "example/type1/orders.json"))
    local t = assert(rpc.call(c, "glue", "GetTable", { DatabaseName = "example_trusted_dev", Name = "example_type1" }))
    assert.equal("s3://" .. TRUSTED .. "/example/type1/", t.Table.StorageDescriptor.Location)
    local cols = {}
    for _, col in ipairs(t.Table.StorageDescriptor.Columns) do cols[#cols + 1] = col.Name .. ":" .. col.Type end
    assert.same({ "customer_name:string", "order_id:bigint", "paid:boolean" }, cols)
  end)

  it("routes a type2 object through ProcessType2 (exit 0)", function()
    local out, err, code = put_and_run("example/type2/customers.json",
      '{"customer": {"id": 7, "name": "Grace"}, "total": 3}')
    assert.equal(0, code, err)
    assert.matches("\n  ProcessType2 +%d+%.%d%d s  succeeded\n", err)
    assert.not_matches("ProcessType1", err)
    assert.equal("example_type2", json.decode(out).table)
    assert.equal('{"customer_id": 7, "customer_name": "Grace", "total": 3}\n',
      s3.get_object(c, TRUSTED, "example/type2/customers.json"))
    assert.is_table(rpc.call(c, "glue", "GetTable", { DatabaseName = "example_trusted_dev", Name = "example_type2" }))
  end)

  it("sends a step's failure through ErrorCatch to the topic and exits 1 (malformed JSON)", function()
    receive() -- nothing left from before
    local out, err, code = put_and_run("example/type1/broken.json", '{"orderId": 1,,}')
    assert.equal(1, code, err)
    assert.equal("", out)
    assert.matches("\n  ProcessType1 +%d+%.%d%d s  failed: States.TaskFailed: json.decoder.JSONDecodeError: " ..
      "[^\n]*; caught, next ErrorCatch\n", err)
    assert.matches("\n  ErrorCatch +%d+%.%d%d s  succeeded\n", err)
    assert.matches("\nFAILED in %d+%.%d%d s at PipelineFailed: PipelineFailed: ", err)
    assert.is_false(s3.get_object(c, TRUSTED, "example/type1/broken.json"))
    local msgs = receive()
    assert.equal(1, #msgs)
    assert.equal("[Example Lake] pipeline pipeline_example failed: States.TaskFailed", msgs[1].subject)
    assert.equal("States.TaskFailed", msgs[1].message.error)
    assert.equal("example/type1/broken.json", msgs[1].message.input.origin_key)
    assert.matches("^arn:aws:states:us%-east%-1:123456789012:execution:pipeline%-example%-state%-machine%-dev:" ..
      "example%-type1%-broken%-json%-%x+$", msgs[1].message.execution)
  end)

  it("sends an object no route knows through ErrorCatch (exit 1)", function()
    receive()
    local _, err, code = put_and_run("example/other/thing.json", "{}")
    assert.equal(1, code, err)
    assert.matches("\n  RouteFile +%d+%.%d%d s  failed: UnknownRoute: cannot route 'example/other/thing.json'", err)
    assert.matches("\n  ErrorCatch +%d+%.%d%d s  succeeded\n", err)
    local msgs = receive()
    assert.equal(1, #msgs)
    assert.equal("UnknownRoute", msgs[1].message.error)
    assert.matches("^UnknownRoute: cannot route", msgs[1].message.cause)
  end)
end)
