--- The glue step: a Glue job (steps/<module>/src/index.py as its script,
-- the rest of src/, its packages and shared modules as --extra-py-files)
-- run synchronously; the contract keys are its --key arguments and its
-- output is its own input.
--
--   ProcessType1:
--     type: glue
--     properties: { module: process_type1, next_step: AddToDatabase, glue_version: pythonshell,
--                   timeout_minutes: 30, max_concurrent_runs: 25 }
local assets = require("lake.assets")
local bootstrap = require("lake.run_bootstrap")
local functions = require("lake.functions")
local json = require("host.json")
local names = require("lake.names")
local pstack = require("lake.pipeline.stack")
local sm = require("lake.pipeline.state_machine")
local steps = require("lake.pipeline.steps")
local token = require("lake.token")
local util = require("lake.util")

local M = { name = "glue", summary = "a Glue job (Python shell or Spark), run until it ends" }

M.keys = { "module", "next_step", "glue_version", "timeout_minutes", "max_concurrent_runs", "max_retries",
  "job_bookmark", "worker_type", "worker_count", "max_capacity" }
M.defaults = { glue_version = "pythonshell", timeout_minutes = 60, max_concurrent_runs = 1, max_retries = 0,
  job_bookmark = "disable" }
M.module = { runs_as = "a Glue job", jars = true }
M.roles = { "glue" }

--- The job kinds (glue_version in config.yml) and what each runs: the Glue
-- version, the Command's PythonVersion and the Python its packages are
-- built for (Glue 3.0 Python shell runs 3.9; Glue 4.0 Spark runs 3.10).
M.VERSIONS = {
  pythonshell = { glue = "3.0", command_python = "3.9", python = "3.9",
    capacity = { max_capacity = 0.0625 } },
  glueetl = { glue = "4.0", command_python = "3", python = "3.10",
    capacity = { worker_type = "G.1X", worker_count = 2 } },
}
M.GLUE_VERSIONS = { "pythonshell", "glueetl" }
M.JOB_BOOKMARKS = { "enable", "disable", "pause" }
M.WORKER_TYPES = { "Standard", "G.1X", "G.2X", "G.025X", "G.4X", "G.8X", "Z.2X" }

--- The rule Step Functions manages for .sync Glue runs.
-- https://docs.aws.amazon.com/step-functions/latest/dg/glue-iam.html
M.SYNC_RULE = "StepFunctionsGetEventsForGlueJobRunsRule"

function M.label(step) return ("glue step (%s), module %s"):format(step.glue_version, step.module) end

---------------------------------------------------------------------------
-- config.yml

function M.check(ck, props, step)
  steps.module_property(ck, props, step)
  steps.next_step_property(ck, props, step)
  local key, line = step.key .. ".properties", step.properties_line
  for k, v in pairs(M.defaults) do step[k] = v end
  local function pl(k) return ck:line_of(props, k, line) end
  if props.glue_version ~= nil then
    if ck:enum(props.glue_version, M.GLUE_VERSIONS, pl("glue_version"), key .. ".glue_version") then
      step.glue_version = props.glue_version
    else
      step.glue_version = nil
    end
  end
  if props.timeout_minutes ~= nil and ck:int_range(props.timeout_minutes, 1, 2880, pl("timeout_minutes"),
    key .. ".timeout_minutes") then
    step.timeout_minutes = props.timeout_minutes
  end
  if props.max_concurrent_runs ~= nil and ck:int_range(props.max_concurrent_runs, 1, 1000,
    pl("max_concurrent_runs"), key .. ".max_concurrent_runs") then
    step.max_concurrent_runs = props.max_concurrent_runs
  end
  if props.max_retries ~= nil and ck:int_range(props.max_retries, 0, 10, pl("max_retries"), key .. ".max_retries") then
    step.max_retries = props.max_retries
  end
  if props.job_bookmark ~= nil and ck:enum(props.job_bookmark, M.JOB_BOOKMARKS, pl("job_bookmark"),
    key .. ".job_bookmark") then
    step.job_bookmark = props.job_bookmark
  end
  -- Capacity: pythonshell takes max_capacity (0.0625 or 1 DPU), glueetl
  -- takes worker_type and worker_count (the two are exclusive in Glue).
  local v = step.glue_version
  if props.worker_type ~= nil then
    local wl = pl("worker_type")
    if ck:enum(props.worker_type, M.WORKER_TYPES, wl, key .. ".worker_type") and v == "pythonshell" then
      ck:add(wl, key .. ".worker_type", "only for glue_version glueetl (pythonshell jobs use max_capacity)")
    end
  end
  if props.worker_count ~= nil then
    local wl = pl("worker_count")
    if ck:int_range(props.worker_count, 2, 299, wl, key .. ".worker_count") and v == "pythonshell" then
      ck:add(wl, key .. ".worker_count", "only for glue_version glueetl (pythonshell jobs use max_capacity)")
    end
  end
  if props.max_capacity ~= nil then
    local ml = pl("max_capacity")
    if ck:expect(props.max_capacity, "number", ml, key .. ".max_capacity") then
      if v == "glueetl" then
        ck:add(ml, key .. ".max_capacity",
          "only for glue_version pythonshell (glueetl jobs use worker_type and worker_count)")
      elseif v == "pythonshell" and props.max_capacity ~= 0.0625 and props.max_capacity ~= 1 then
        ck:add(ml, key .. ".max_capacity", ("must be 0.0625 or 1 for pythonshell, got %s"):format(props.max_capacity))
      end
    end
  end
  local capacity = v and M.VERSIONS[v].capacity
  if capacity and capacity.max_capacity then
    step.max_capacity = (props.max_capacity == 1) and 1 or capacity.max_capacity
  elseif capacity then
    step.worker_type = (type(props.worker_type) == "string" and props.worker_type) or capacity.worker_type
    step.worker_count = (math.type(props.worker_count) == "integer" and props.worker_count) or capacity.worker_count
  end
end

---------------------------------------------------------------------------
-- The stack

function M.names(step, naming)
  if not step.module then return {} end
  return { { space = "job", what = "Glue job name", name = naming.module(step.module), max = 255,
    key = step.key .. ".properties.module", line = step.module_line,
    advice = "each glue step needs a module of its own" } }
end

--- The Glue job arguments of a contract: "--key.$" -> a path into the state.
-- Glue takes string arguments only, so non-string contract types are
-- formatted (States.Format / States.JsonToString).
function M.arguments(contract)
  local args = {}
  for _, c in ipairs(contract) do
    local path = "$." .. c.key
    if c.type == "str" then
      args["--" .. c.key .. ".$"] = path
    elseif c.type == "list" or c.type == "dict" then
      args["--" .. c.key .. ".$"] = ("States.JsonToString(%s)"):format(path)
    else
      args["--" .. c.key .. ".$"] = ("States.Format('{}', %s)"):format(path)
    end
  end
  return args
end

--- The CloudWatch Logs groups Glue jobs write to: output and error (Spark
-- jobs; Python shell jobs use the python-jobs pair) and logs-v2
-- (--enable-continuous-cloudwatch-log).
M.LOG_GROUPS = { "/aws-glue/jobs/output", "/aws-glue/jobs/error", "/aws-glue/jobs/logs-v2",
  "/aws-glue/python-jobs/output", "/aws-glue/python-jobs/error" }

--- What a job needs to write its logs, in place of the AWS managed
-- AWSGlueServiceRole. The groups are shared by every job of the account and
-- a run's streams are named after its run id (jr_..., chosen by Glue at
-- StartJobRun), not after the job, so no statement can single out one
-- job's streams: the role may create the groups (Glue does on first use)
-- and append to streams of these groups, and nothing else of CloudWatch Logs
-- (no reading, no deleting, no other group).
-- With a security configuration that encrypts CloudWatch logs (encryption
-- = "kms"), Glue writes to groups of the configuration and the role instead:
-- /aws-glue/jobs/<configuration>-role/<role name>/output (and error,
-- logs-v2), which only this pipeline's role uses.
-- @param env table { region=, account= }
-- @param secured table|nil { configuration = name, role = role name } with encryption = "kms"
function M.logs_statements(env, secured)
  local paths = util.copy(M.LOG_GROUPS)
  if secured then
    for _, g in ipairs({ "output", "error", "logs-v2" }) do
      paths[#paths + 1] = token.concat("/aws-glue/jobs/", secured.configuration, "-role/", secured.role, "/", g)
    end
  end
  local groups, streams = {}, {}
  for i, g in ipairs(paths) do
    groups[i] = names.arn("logs", token.concat("log-group:", g), env)
    streams[i] = names.arn("logs", token.concat("log-group:", g, ":*"), env)
  end
  return { pstack.statement("CreateGlueLogGroups", { "logs:CreateLogGroup" }, groups),
    pstack.statement("WriteGlueJobLogs", { "logs:CreateLogStream", "logs:PutLogEvents" }, streams) }
end

--- One role for the pipeline's Glue jobs (its domain's two buckets and
-- databases, its scripts and --extra-py-files in the assets bucket, its
-- --TempDir in the target bucket, the jobs' logs), a job per step, and the
-- state machine's right to run them and wait for them. No managed policy.
function M.resources(p, list)
  local n, cfg, app = p.names, p.cfg, p.app
  -- the jobs' code: read from the assets bucket, object by object (the
  -- keys are content hashes, so the bucket holds every pipeline's code)
  local codes, objects = {}, {}
  local function object(asset)
    objects[#objects + 1] = token.concat("arn:", token.partition, ":s3:::", asset.bucket(), "/", asset.key())
  end
  for i, s in ipairs(list) do
    codes[i] = assets.glue(app, cfg.name .. "/" .. s.module, p:module(s),
      { runtime = "glue-" .. s.glue_version, python_version = M.VERSIONS[s.glue_version].python })
    object(codes[i].script)
    if codes[i].deps then object(codes[i].deps) end
    for _, j in ipairs(codes[i].jars) do object(j) end
  end
  local st = pstack.s3_statements(p.buckets)
  -- two jobs of the same code share its objects: each ARN once
  st[#st + 1] = { Sid = "ReadJobCode", Effect = "Allow", Action = setmetatable({ "s3:GetObject" }, json.array_mt),
    Resource = token.lazy(function(ctx)
      local out, seen = setmetatable({}, json.array_mt), {}
      for _, o in ipairs(objects) do
        local r = token.resolve(o, ctx)
        local k = json.encode(r)
        if not seen[k] then seen[k], out[#out + 1] = true, r end
      end
      return out
    end) }
  st[#st + 1] = pstack.catalog_statement(p.lake, p.buckets)
  local enc = p.lake.encryption
  local secured = enc:uses_kms() and { configuration = enc.security_configuration, role = n.role.glue } or nil
  for _, s in ipairs(M.logs_statements(p.env, secured)) do st[#st + 1] = s end
  if p.vpc_ids then
    for _, s in ipairs(functions.glue_vpc_statements(p.env, p.vpc_ids.vpc, p.lake.catalog_arn,
      p.lake.vpc.glue_connections)) do
      st[#st + 1] = s
    end
  end
  local role = p:role("GlueStepsRole", n.role.glue, "glue.amazonaws.com", st, { policy = "glue-steps",
    description = ("Glue steps of pipeline %s: its domain's buckets and catalog"):format(cfg.name) })
  if p.vpc_ids then role:suppress("AwsSolutions-IAM5", functions.GLUE_VPC_DESCRIBE_REASON, { "Resource::*" }) end
  p.lake.encryption:grant(role, { "glue_job" })
  local job_arns = {}
  for i, s in ipairs(list) do
    local v = M.VERSIONS[s.glue_version]
    local code = codes[i]
    local args = {
      ["--TempDir"] = token.concat("s3://", p.target.name, "/glue-temp/"),
      ["--job-bookmark-option"] = "job-bookmark-" .. s.job_bookmark,
      ["--enable-continuous-cloudwatch-log"] = "true",
    }
    for _, c in ipairs(cfg.contract) do args["--" .. c.key] = "" end
    for k, a in pairs(assets.glue_arguments(code)) do args[k] = a end -- --extra-py-files, --extra-jars
    local name = n.steps[s.name].job
    local props = {
      Name = name, Description = ("Step %s of pipeline %s"):format(s.name, cfg.name),
      Role = role:arn(),
      Command = { Name = s.glue_version, PythonVersion = v.command_python,
        ScriptLocation = assets.s3_uri(code.script) },
      GlueVersion = v.glue, DefaultArguments = args,
      Timeout = s.timeout_minutes, MaxRetries = s.max_retries,
      ExecutionProperty = { MaxConcurrentRuns = s.max_concurrent_runs },
    }
    -- in a VPC lake, the job runs in its private subnets (lake.stacks.vpc)
    local vpc = p.lake.vpc
    if vpc then props.Connections = { Connections = setmetatable(util.copy(vpc.glue_connections), json.array_mt) } end
    if s.max_capacity then
      props.MaxCapacity = s.max_capacity
    else
      props.WorkerType, props.NumberOfWorkers = s.worker_type, s.worker_count
    end
    -- the arguments' size (lake.limits) is mostly the contract's doing
    local source = #cfg.contract > 0 and { file = cfg.file, line = cfg.contract_line, key = "contract" }
      or { file = cfg.file, line = s.line, key = s.key }
    local job = p.stack:add("glue_job", "Step" .. util.pascal(s.name) .. "Job", props, { source = source })
    p.lake.encryption:secure_glue(job)
    p.refs[s.name] = { job_name = name }
    job_arns[i] = names.arn("glue", "job/" .. name, p.env)
  end
  p:allow("RunJobs", { "glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun" }, job_arns)
  p:allow("WaitForJobs", { "events:PutTargets", "events:PutRule", "events:DescribeRule" },
    { names.arn("events", "rule/" .. M.SYNC_RULE, p.env) })
end

--- Runs the job and waits for it (.sync); ResultPath null keeps the
-- step's input as its output.
function M.state(p, step, cfg)
  return sm.set_next({
    Type = "Task", Comment = M.label(step),
    Resource = sm.service_arn("glue:startJobRun.sync", p.partition),
    Parameters = { JobName = p.refs[step.name].job_name, Arguments = M.arguments(cfg.contract) },
    ResultPath = json.null,
    TimeoutSeconds = step.timeout_minutes * 60,
    Catch = sm.catch_all(),
  }, step)
end

function M.diagram(d, step, state)
  d:node("subroutine", M.label(step))
  d:flow(state)
end

---------------------------------------------------------------------------
-- `run`: a pythonshell job's script runs on this machine with its
-- arguments (DefaultArguments, then the task's) and a stand-in for
-- awsglue.utils.getResolvedOptions; a glueetl job needs PySpark.

M.run = {
  resources = { "^arn:[%w-]+:states:::glue:startJobRun$", "^arn:[%w-]+:states:::glue:startJobRun%.sync$" },
  describe = "glue:startJobRun[.sync]",
}

--- Runs a Glue job of the stack, as StartJobRun would.
-- @param rt runtime (lake.run)
-- @param name string the job's Name
-- @param args table|nil the run's Arguments ({["--key"] = value})
-- @param p table|nil { timeout = the state's TimeoutSeconds, state = the state's name }
-- @return outcome { ok=, result = the JobRun | error=, cause=, stdout=, stderr=, duration= }
function M.run_job(rt, name, args, p)
  p = p or {}
  local value = rt.value
  local job = rt:resource("AWS::Glue::Job", name)
  local props = job.props
  local command = props.Command or {}
  local kind = command.Name or "glueetl"
  local step = p.state or name
  if kind == "glueetl" or kind == "gluestreaming" then
    if not rt:has_pyspark() then
      rt:fail("%s step %s needs PySpark: pip install pyspark (for %s), or run it on AWS", kind, step, rt.python)
    end
  elseif kind ~= "pythonshell" then
    rt:fail("%s step %s: Glue %s jobs are not run locally", kind, step, kind)
  end
  local script = rt:asset_path(rt:resolve(command.ScriptLocation, name .. ": ScriptLocation"),
    name .. ": ScriptLocation")
  local merged = {}
  for k, v in pairs(rt:resolve(props.DefaultArguments or {}, name .. ": DefaultArguments")) do
    merged[k] = v
  end
  for k, v in pairs(args or {}) do merged[k] = v end
  rt.calls = rt.calls + 1
  local run_id = "jr_" .. rt:request_id():gsub("-", "")
  local dir = rt:tmp(("glue/%03d-%s"):format(rt.calls, name))
  local stub = rt:tmp("glue-stub/awsglue")
  rt:write(stub .. "/__init__.py", "")
  rt:write(stub .. "/utils.py", bootstrap.GLUE_UTILS)
  local path = { rt.tmp_dir .. "/glue-stub" }
  local extra = merged["--extra-py-files"]
  if type(extra) == "string" and extra ~= "" then
    local pydir = rt:tmp(("glue/%03d-%s/py"):format(rt.calls, name))
    path[#path + 1] = pydir
    for uri in extra:gmatch("[^,]+") do
      local file = rt:asset_path(uri, name .. ": --extra-py-files")
      if file:match("%.py$") then
        rt:copy(file, pydir .. "/" .. uri:match("[^/]*$"), name)
      else
        rt:extract(file, pydir, name .. ": extracting " .. file)
      end
    end
  end
  merged["--JOB_NAME"] = merged["--JOB_NAME"] or name
  merged["--JOB_ID"] = merged["--JOB_ID"] or ("j_local_" .. util.kebab(name):gsub("-", "_"))
  merged["--JOB_RUN_ID"] = merged["--JOB_RUN_ID"] or run_id
  local argv = { script }
  for _, k in ipairs(util.sorted_keys(merged)) do
    local v = merged[k]
    if type(v) == "table" or v == json.null then
      rt:fail("%s step %s: argument %s must be a string, got %s", kind, step, k, value.preview(v))
    end
    argv[#argv + 1] = k
    argv[#argv + 1] = tostring(v)
  end
  local job_timeout = (tonumber(props.Timeout) or 2880) * 60
  local limit = job_timeout
  if p.timeout and p.timeout < limit then limit = p.timeout end
  local started = rt:now()
  local res = rt:run_python(argv, { cwd = dir, path = path, env = {}, timeout = limit })
  local given = value.object()
  for k, v in pairs(args or {}) do given[k] = v end
  local jobrun = value.object({
    Id = run_id, Attempt = 0, JobName = name, Arguments = given, JobMode = "SCRIPT",
    StartedOn = math.floor(started * 1000), LastModifiedOn = math.floor((started + res.duration) * 1000),
    CompletedOn = math.floor((started + res.duration) * 1000), ExecutionTime = math.floor(res.duration + 0.5),
    Timeout = tonumber(props.Timeout) or 2880, GlueVersion = props.GlueVersion, MaxCapacity = props.MaxCapacity,
    PredecessorRuns = value.array(),
  })
  local out = { stdout = res.stdout, stderr = res.stderr, duration = res.duration }
  if res.timed_out and p.timeout and p.timeout <= job_timeout then
    out.error, out.cause = "States.Timeout", ("The task did not end within its TimeoutSeconds (%d s)"):format(p.timeout)
    return out
  end
  if res.ok then
    jobrun.JobRunState = "SUCCEEDED"
    out.ok, out.result = true, jobrun
    return out
  end
  if res.timed_out then
    jobrun.JobRunState = "TIMEOUT"
    jobrun.ErrorMessage = ("Job run timed out after %d minutes"):format(jobrun.Timeout)
  else
    jobrun.JobRunState = "FAILED"
    jobrun.ErrorMessage = util.last_line(res.stderr) or ("the script exited with status %d"):format(res.code)
  end
  out.error, out.cause = "States.TaskFailed", json.encode(jobrun)
  return out
end

--- Runs a Glue task: startJobRun gives { JobRunId }, startJobRun.sync the JobRun.
function M.run.invoke(rt, resource, input, state_name, info)
  local value = rt.value
  if value.kind(input) ~= "object" or type(input.JobName) ~= "string" then
    return false, { Error = "States.Runtime", Cause = "glue:startJobRun needs Parameters.JobName" }
  end
  local o = M.run_job(rt, input.JobName, input.Arguments, { timeout = info.timeout, state = state_name })
  rt:log(state_name, o)
  if not o.ok then return false, { Error = o.error, Cause = o.cause } end
  if not resource:match("%.sync$") then return true, value.object({ JobRunId = o.result.Id }) end
  return true, o.result
end

return M
