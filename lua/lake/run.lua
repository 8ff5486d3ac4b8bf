--- `lakehost APP.lua run PIPELINE --event FILE`: a pipeline's synthesized
-- state machine, run on this machine.
--
-- The runner reads only the synth output (manifest.json, the pipeline
-- stack's template, assets/), so it runs what a deploy would deploy:
--
--  * the state machine definition comes from the template, its ${...}
--    resolved with the local region and account and the physical names of
--    the stack's resources (FunctionName, the Glue job's Name, ...);
--  * the trigger Lambda (FunctionName "...-trigger-<stage>") runs first with
--    the event. Its code is unchanged: a botocore hook answers
--    states:StartExecution in place of Step Functions, after botocore has
--    validated and serialized the request, and records the execution it
--    asked for. That input, byte for byte, is the execution input;
--  * the interpreter (lake.states.interpreter) runs the definition. Lambda tasks
--    (lambda:invoke, or a function ARN) run the function's asset zip,
--    extracted once, as `python -c <bootstrap>` (lake.run_bootstrap) with
--    the function's environment variables, its Timeout and a Lambda-like
--    context; results and errors take the shapes Step Functions gives them.
--    Glue tasks (glue:startJobRun[.sync]) run a pythonshell job's script with
--    its arguments (DefaultArguments, then the task's) and a stand-in for
--    awsglue.utils.getResolvedOptions; a glueetl job needs PySpark;
--  * each step is a child process group, killed (with whatever it started in
--    the background) on a timeout or when it ends. AWS calls made by the
--    steps go to --endpoint when given (AWS_ENDPOINT_URL), else to AWS with
--    the caller's credentials (the environment is passed on).
--
-- Progress (a timeline: step, duration, status) goes to stderr; the final
-- output, as JSON, to stdout. Exit 0 when every execution SUCCEEDED, 1 when
-- one FAILED or the run could not go on, 2 for bad input.
local assets = require("lake.assets")
local bootstrap = require("lake.run_bootstrap")
local client = require("lake.aws.client")
local credentials = require("lake.aws.credentials")
local crypto = require("host.crypto")
local endpoints = require("lake.aws.endpoints")
local errors = require("lake.errors")
local fs = require("host.fs")
local interpreter = require("lake.states.interpreter")
local json = require("host.json")
local names = require("lake.names")
local proc = require("host.proc")
local steps = require("lake.pipeline.steps")
local sts = require("lake.aws.sts")
local util = require("lake.util")
local value = require("lake.states.value")
local zip = require("host.zip")

local M = {}

M.DEFAULT_REGION = "us-east-1"
M.DEFAULT_ACCOUNT = "123456789012"

-- ---- pipelines of a synthesized lake ---------------------------------------

--- The pipelines among stacks: each stack tagged `pipeline` whose name is
-- that pipeline's stack name (lake.names.pipeline_stack) for some stage.
-- @param stacks array of { name=, tags= } (app stacks or manifest entries)
-- @return array of { pipeline=, stage=, stack= } sorted by pipeline
function M.pipelines(stacks)
  local out = {}
  for _, s in ipairs(stacks) do
    local p = s.tags and s.tags.pipeline
    if type(p) == "string" then
      for _, stage in ipairs(names.STAGES) do
        if names.pipeline_stack(p, stage) == s.name then
          out[#out + 1] = { pipeline = p, stage = stage, stack = s.name }
        end
      end
    end
  end
  table.sort(out, function(a, b) return a.pipeline < b.pipeline end)
  return out
end

--- The pipeline called name (or written in kebab-case) among list.
-- @return entry | nil, message (with the known pipelines and a did-you-mean)
function M.find_pipeline(list, name)
  local known = {}
  for _, e in ipairs(list) do
    if e.pipeline == name then return e end
    known[#known + 1] = e.pipeline
  end
  for _, e in ipairs(list) do
    if util.kebab(e.pipeline) == util.kebab(name) then return e end
  end
  if #known == 0 then return nil, ("run: unknown pipeline '%s': this app has no pipelines"):format(name) end
  return nil, ("run: unknown pipeline '%s'%s; pipelines: %s"):format(name, util.suggest(name, known),
    table.concat(known, ", "))
end

-- ---- template values ---------------------------------------------------------

-- Physical names of the resource kinds steps refer to: the property that
-- names it, what Ref gives ("name" or "arn"), its ARN, and other attributes.
local function arn(env, service, regional, resource)
  return ("arn:%s:%s:%s:%s:%s"):format(env.partition, service, regional and env.region or "",
    service == "s3" and "" or env.account, resource)
end

local KINDS = {
  ["AWS::Lambda::Function"] = { name = "FunctionName", ref = "name", what = "function", many = "functions",
    arn = function(e, n) return arn(e, "lambda", true, "function:" .. n) end },
  ["AWS::Glue::Job"] = { name = "Name", ref = "name", what = "Glue job", many = "jobs" },
  ["AWS::Glue::Crawler"] = { name = "Name", ref = "name" },
  ["AWS::Glue::Database"] = { name = { "DatabaseInput", "Name" }, ref = "name" },
  ["AWS::StepFunctions::StateMachine"] = { name = "StateMachineName", ref = "arn", attrs = { Name = "name" },
    arn = function(e, n) return arn(e, "states", true, "stateMachine:" .. n) end },
  ["AWS::SNS::Topic"] = { name = "TopicName", ref = "arn", attrs = { TopicName = "name", TopicArn = "arn" },
    arn = function(e, n) return arn(e, "sns", true, n) end },
  ["AWS::SQS::Queue"] = { name = "QueueName", ref = "url", attrs = { QueueName = "name", QueueUrl = "url" },
    arn = function(e, n) return arn(e, "sqs", true, n) end },
  ["AWS::S3::Bucket"] = { name = "BucketName", ref = "name",
    arn = function(e, n) return arn(e, "s3", false, n) end },
  ["AWS::IAM::Role"] = { name = "RoleName", ref = "name",
    arn = function(e, n) return arn(e, "iam", false, "role/" .. n) end },
  ["AWS::Logs::LogGroup"] = { name = "LogGroupName", ref = "name",
    arn = function(e, n) return arn(e, "logs", true, "log-group:" .. n .. ":*") end },
  ["AWS::Events::Rule"] = { name = "Name", ref = "name",
    arn = function(e, n) return arn(e, "events", true, "rule/" .. n) end },
}

local Resolver = {}
Resolver.__index = Resolver

--- Resolves template values the way CloudFormation would for this stack,
-- with the local region and account.
-- @param template table the decoded template
-- @param env table { region=, account=, stack_name= }
-- @return resolver: resolver:value(v) -> value | nil, message
function M.resolver(template, env)
  local e = { region = env.region, account = env.account, partition = endpoints.partition(env.region),
    stack_name = env.stack_name or "" }
  return setmetatable({ template = template, env = e, depth = 0 }, Resolver)
end

local function only_key(v)
  local k = next(v)
  if k == nil or next(v, k) ~= nil or type(k) ~= "string" then return nil end
  if k == "Ref" or k:sub(1, 4) == "Fn::" then return k end
  return nil
end

function Resolver:pseudo(name)
  local e = self.env
  local v = ({ ["AWS::Region"] = e.region, ["AWS::AccountId"] = e.account, ["AWS::Partition"] = e.partition,
    ["AWS::StackName"] = e.stack_name, ["AWS::NoValue"] = json.null,
    ["AWS::URLSuffix"] = endpoints.dns_suffix(e.region) })[name]
  if v == nil then return nil, ("%s is not known locally"):format(name) end
  return v
end

-- The name of resource id (resolved), and its kind.
function Resolver:name_of(id)
  local res = (self.template.Resources or {})[id]
  if type(res) ~= "table" then return nil, ("no resource '%s' in the template"):format(id) end
  local kind = KINDS[res.Type]
  if not kind then return nil, ("%s (%s) is not resolved locally"):format(id, tostring(res.Type)) end
  local v = res.Properties or {}
  local path = type(kind.name) == "table" and kind.name or { kind.name }
  for _, k in ipairs(path) do v = type(v) == "table" and v[k] or nil end
  if v == nil then
    return nil, ("%s (%s) has no %s: CloudFormation would make one up at deploy"):format(id, res.Type,
      table.concat(path, "."))
  end
  local name, err = self:value(v)
  if name == nil then return nil, err end
  return name, kind
end

function Resolver:attr(id, which)
  local name, kind = self:name_of(id)
  if name == nil then return nil, kind end
  if which == "name" then return name end
  if which == "arn" and kind.arn then return kind.arn(self.env, name) end
  if which == "url" then
    return ("https://sqs.%s.amazonaws.com/%s/%s"):format(self.env.region, self.env.account, name)
  end
  return nil, ("%s: no %s locally"):format(id, which)
end

function Resolver:ref(id)
  if id:sub(1, 5) == "AWS::" then return self:pseudo(id) end
  local params = self.template.Parameters or {}
  if params[id] ~= nil and (self.template.Resources or {})[id] == nil then
    if params[id].Default ~= nil then return params[id].Default end
    return nil, ("parameter %s has no default (it is given at deploy)"):format(id)
  end
  local res = (self.template.Resources or {})[id]
  if type(res) ~= "table" then return nil, ("Ref to '%s', which is not in the template"):format(id) end
  local kind = KINDS[res.Type]
  if not kind then return nil, ("Ref to %s (%s) is not resolved locally"):format(id, tostring(res.Type)) end
  return self:attr(id, kind.ref)
end

function Resolver:getatt(id, attr)
  local res = (self.template.Resources or {})[id]
  if type(res) ~= "table" then return nil, ("Fn::GetAtt of '%s', which is not in the template"):format(id) end
  local kind = KINDS[res.Type]
  local which = kind and (attr == "Arn" and "arn" or (kind.attrs or {})[attr])
  if not which then return nil, ("Fn::GetAtt %s.%s is not resolved locally"):format(id, attr) end
  return self:attr(id, which)
end

function Resolver:sub(text, vars)
  local err
  local out = text:gsub("%${([^}]*)}", function(name)
    if err then return "" end
    if name:sub(1, 1) == "!" then return "${" .. name:sub(2) .. "}" end
    local v, e
    if vars and vars[name] ~= nil then
      v, e = self:value(vars[name])
    elseif name:sub(1, 5) == "AWS::" then
      v, e = self:pseudo(name)
    elseif name:find(".", 1, true) then
      v, e = self:getatt(name:match("^([^.]+)%.(.+)$"))
    else
      v, e = self:ref(name)
    end
    if v == nil then
      err = e
      return ""
    end
    return tostring(v)
  end)
  if err then return nil, err end
  return out
end

local INTRINSIC = {}

function INTRINSIC.Ref(self, arg)
  if type(arg) ~= "string" then return nil, "Ref expects a name" end
  return self:ref(arg)
end

INTRINSIC["Fn::GetAtt"] = function(self, arg)
  local id, attr
  if type(arg) == "string" then id, attr = arg:match("^([^.]+)%.(.+)$") end
  if type(arg) == "table" then id, attr = arg[1], arg[2] end
  if type(id) ~= "string" or type(attr) ~= "string" then return nil, "Fn::GetAtt expects [resource, attribute]" end
  return self:getatt(id, attr)
end

INTRINSIC["Fn::Sub"] = function(self, arg)
  if type(arg) == "string" then return self:sub(arg) end
  if type(arg) == "table" and type(arg[1]) == "string" then return self:sub(arg[1], arg[2]) end
  return nil, "Fn::Sub expects a string or [string, {variables}]"
end

INTRINSIC["Fn::Join"] = function(self, arg)
  if type(arg) ~= "table" or type(arg[1]) ~= "string" then return nil, "Fn::Join expects [separator, list]" end
  local list, err = self:value(arg[2])
  if list == nil then return nil, err end
  local parts = {}
  for i, p in ipairs(list) do parts[i] = tostring(p) end
  return table.concat(parts, arg[1])
end

INTRINSIC["Fn::Select"] = function(self, arg)
  if type(arg) ~= "table" then return nil, "Fn::Select expects [index, list]" end
  local list, err = self:value(arg[2])
  if list == nil then return nil, err end
  local v = list[(tonumber(arg[1]) or -1) + 1]
  if v == nil then return nil, "Fn::Select: index out of range" end
  return v
end

--- A template value with its intrinsic functions resolved.
-- @return value | nil, message
function Resolver:value(v)
  if type(v) ~= "table" then return v end
  if self.depth > 32 then return nil, "references nest too deep (a loop?)" end
  local k = only_key(v)
  self.depth = self.depth + 1
  local out, err
  if k then
    local f = INTRINSIC[k]
    if f then
      out, err = f(self, v[k])
    else
      err = ("%s is not resolved by the local runner"):format(k)
    end
  else
    out = setmetatable({}, getmetatable(v))
    for key, item in pairs(v) do
      local r, e = self:value(item)
      if r == nil then
        err = e
        break
      end
      out[key] = r
    end
    if err then out = nil end
  end
  self.depth = self.depth - 1
  return out, err
end

-- ---- the runtime: one synthesized pipeline stack ------------------------------
--
-- The step types' local runs (lake.pipeline.steps: their `run`) get the
-- runtime and use its methods: rt:invoke_lambda, rt:resource,
-- rt:resolve, rt:asset_path, rt:tmp, rt:run_python, ... and rt.value (lake.states.value).

local Runtime = {}
Runtime.__index = Runtime

local function fail(fmt, ...) errors.failed(fmt:format(...)) end

local function eprint(rt, fmt, ...)
  rt.err(fmt:format(...))
end

--- Raises a failed-operation error (the run cannot go on).
function Runtime.fail(_, fmt, ...) fail(fmt, ...) end

-- Resources the runtime indexes by their physical name.
local RUNS = { ["AWS::Lambda::Function"] = true, ["AWS::Glue::Job"] = true,
  ["AWS::StepFunctions::StateMachine"] = true }

--- A runtime over a decoded pipeline template.
-- @param dir string the synth output folder (assets are read from <dir>/assets)
-- @param template table the decoded template of the pipeline stack
-- @param opts table { stack=, stage=, region=, account=, python=, endpoint=, verbose=, wait= (sleep
--   through Wait states instead of skipping them),
--   err = function(line) (default: stderr), tmp = folder for the steps' files }
-- @return runtime
function M.runtime(dir, template, opts)
  local rt = setmetatable({
    dir = fs.realpath(dir) or dir, template = template, stack = opts.stack or "stack",
    stage = opts.stage, value = value,
    python = opts.python or "python3", endpoint = opts.endpoint, verbose = opts.verbose, wait = opts.wait,
    tmp_dir = opts.tmp, err = opts.err or function(line) io.stderr:write(line, "\n") io.stderr:flush() end,
    resources = {}, extracted = {}, calls = 0, logs = {},
  }, Runtime)
  rt.env = { region = opts.region or M.DEFAULT_REGION, account = opts.account or M.DEFAULT_ACCOUNT }
  rt.resolver = M.resolver(template, { region = rt.env.region, account = rt.env.account, stack_name = rt.stack })
  rt.env.partition = rt.resolver.env.partition
  for _, id in ipairs(util.sorted_keys(template.Resources or {})) do
    local res = template.Resources[id]
    if RUNS[res.Type] then
      local name, err = rt.resolver:name_of(id)
      local entry = { id = id, props = res.Properties or {}, name = name, problem = err }
      rt.resources[res.Type] = rt.resources[res.Type] or {}
      if name then rt.resources[res.Type][name] = entry end
      if res.Type == "AWS::Lambda::Function" and name and rt.stage
        and name:sub(-#("-trigger-" .. rt.stage)) == "-trigger-" .. rt.stage then
        rt.trigger = entry
      elseif res.Type == "AWS::StepFunctions::StateMachine" then
        if rt.state_machine then fail("%s: more than one state machine; the runner runs one per pipeline", rt.stack) end
        rt.state_machine = entry
      end
    end
  end
  return rt
end

--- A template value resolved, or a failed-operation error naming what.
function Runtime:resolve(v, what)
  local r, err = self.resolver:value(v)
  if r == nil then fail("%s: %s", what, tostring(err)) end
  return r
end

--- The entry of a resource of the stack ({ id, props, name }) by type and
-- physical name, or a failure that lists the known ones.
-- @param typ string "AWS::Lambda::Function" or "AWS::Glue::Job"
-- @param name string
function Runtime:resource(typ, name)
  local of = self.resources[typ] or {}
  local e = of[name]
  if e then return e end
  local known = util.sorted_keys(of)
  fail("%s %s is not in %s%s; the runner runs this pipeline's %s: %s", KINDS[typ].what, name, self.stack,
    util.suggest(name, known), KINDS[typ].many, table.concat(known, ", "))
end

--- The state machine of the runtime: definition text (resolved), name, ARN, role ARN.
-- @return { text=, name=, arn=, role= }
function Runtime:machine()
  local m = self.state_machine
  if not m then fail("%s: no state machine in the template", self.stack) end
  local where = self.stack .. ": state machine " .. m.id
  if m.name == nil then fail("%s: %s", where, tostring(m.problem)) end
  local p = m.props
  local text
  if p.DefinitionString ~= nil then
    text = self:resolve(p.DefinitionString, where .. ": DefinitionString")
  elseif p.Definition ~= nil then
    local subs = {}
    for k, v in pairs(p.DefinitionSubstitutions or {}) do
      subs[k] = self:resolve(v, where .. ": DefinitionSubstitutions." .. k)
    end
    local def = self:resolve(p.Definition, where .. ": Definition")
    text = json.encode(def):gsub("%${([^}]*)}", function(k)
      if subs[k] ~= nil then return (json.encode(tostring(subs[k])):sub(2, -2)) end
    end)
  else
    fail("%s: the definition is not in the template (DefinitionS3Location is not supported locally)", where)
  end
  local role = p.RoleArn and self.resolver:value(p.RoleArn) or nil
  return { text = text, name = m.name, arn = KINDS["AWS::StepFunctions::StateMachine"].arn(self.env, m.name),
    role = type(role) == "string" and role or nil }
end

-- ---- child processes -----------------------------------------------------------

--- A fresh request id, as AWS makes them.
function Runtime.request_id(_)
  local hex = crypto.hex_encode(crypto.random(16))
  return ("%s-%s-4%s-%s-%s"):format(hex:sub(1, 8), hex:sub(9, 12), hex:sub(14, 16), hex:sub(17, 20), hex:sub(21, 32))
end

--- The AWS client of the service integrations a step calls itself
-- (athena, crawler, notify): --endpoint when given (AWS_ENDPOINT_URL_<SERVICE>
-- still wins, as for the AWS CLI), the caller's credentials and profile.
function Runtime:client()
  if self.aws then return self.aws end
  local endpoint = self.endpoint
  local function getenv(k)
    if k == "AWS_ENDPOINT_URL" and endpoint then return endpoint end
    return os.getenv(k)
  end
  local creds
  self.aws = client.new { region = self.env.region, getenv = getenv, credentials = function()
    if creds then return creds end
    local c, err = credentials.resolve { getenv = getenv, region = self.env.region, profile = self.profile }
    creds = c
    return c, err
  end }
  return self.aws
end

--- The wall clock, in seconds.
function Runtime.now(_) return proc.time() end

-- Calls f(...) -> true | nil, err; raises a failed-operation error naming what.
local function try(what, f, ...)
  local ok, err = f(...)
  if not ok then fail("%s: %s", what, tostring(err)) end
  return ok
end

--- A folder of the run's own (made once), or a sub-folder of it.
function Runtime:tmp(sub)
  if not self.tmp_dir then
    local d, err = fs.tmpdir("lakehost-run-")
    if not d then fail("run: temporary folder: %s", tostring(err)) end
    self.tmp_dir, self.own_tmp = d, true
  end
  local path = self.tmp_dir .. "/" .. sub
  try("run", fs.mkdir_p, path)
  return path
end

function Runtime.write(_, path, text) try("run", fs.write, path, text) end
function Runtime.copy(_, from, to, what) try(what, fs.copy, from, to) end
function Runtime.extract(_, file, dest, what) try(what, zip.extract, file, dest) end

--- Removes the runtime's temporary files (unless keep) -> the folder, when kept.
function Runtime:close(keep)
  if self.tmp_dir and self.own_tmp and not keep then
    fs.remove_tree(self.tmp_dir)
    return nil
  end
  return self.tmp_dir
end

--- Runs the step interpreter with argv; the environment is the caller's plus
-- env (the function's) plus the runtime's settings.
-- @param argv array arguments after the interpreter
-- @param p table { cwd =, path = { PYTHONPATH entries }, env = {}, timeout = }
-- @return host.proc.run's result
function Runtime:run_python(argv, p)
  local full = { self.python }
  for _, a in ipairs(argv) do full[#full + 1] = a end
  local env = {}
  for k, v in pairs(p.env or {}) do env[k] = v end
  env.PYTHONPATH = table.concat(p.path, ":")
  env.PYTHONDONTWRITEBYTECODE = "1"
  env.PYTHONUNBUFFERED = "1"
  env.AWS_REGION = self.env.region
  env.AWS_DEFAULT_REGION = self.env.region
  if self.endpoint then env.AWS_ENDPOINT_URL = self.endpoint end
  if self.profile then -- as `--profile` does for lakehost: the profile, not the key variables
    env.AWS_PROFILE = self.profile
    env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN = false, false, false
  end
  local res, err = proc.run { argv = full, cwd = p.cwd, env_add = env, timeout = p.timeout, kill_group = true,
    kill_grace = 1 }
  if not res then fail("cannot run %s: %s (choose the interpreter with --python PATH)", self.python, err) end
  if res.interrupted then errors.failed("run: interrupted") end
  return res
end

--- True when the runtime's Python can import pyspark (asked once).
function Runtime:has_pyspark()
  if self.pyspark == nil then
    local res = proc.run { argv = { self.python, "-c", "import pyspark" }, stdout = "null",
      stderr = "null", timeout = 60 }
    self.pyspark = res ~= nil and res.ok
  end
  return self.pyspark
end

--- The synthesized file an S3 URI of the template names (an asset).
function Runtime:asset_path(uri, what)
  local base = tostring(uri):match("[^/]*$")
  local path = self.dir .. "/assets/" .. base
  if base == "" or not fs.isfile(path) then
    fail("%s: %s is not among the synthesized assets in %s/assets", what, tostring(uri), self.dir)
  end
  return path
end

--- Keeps what a step printed, for the timeline.
function Runtime:log(state_name, o)
  self.logs[state_name] = self.logs[state_name] or {}
  table.insert(self.logs[state_name], { stdout = o.stdout, stderr = o.stderr })
end

local function write_json(rt, path, v)
  local text = (value.kind(v) == "array" or value.kind(v) == "object") and json.encode(value.copy(v))
    or json.encode(v)
  rt:write(path, text)
end

-- The folder with the function's code, extracted once.
local function code_dir(rt, fn)
  if rt.extracted[fn.name] then return rt.extracted[fn.name] end
  local code = fn.props.Code or {}
  local dest = rt:tmp("lambda/" .. fn.name)
  if code.ZipFile ~= nil then
    local src = rt:resolve(code.ZipFile, fn.name .. ": Code.ZipFile")
    local module = (fn.props.Handler or assets.HANDLER):match("^(.*)%.[^.]+$") or "index"
    try(fn.name, fs.write, dest .. "/" .. module:gsub("%.", "/") .. ".py", src)
  else
    local key = rt:resolve(code.S3Key, fn.name .. ": Code.S3Key")
    local zip_path = rt.dir .. "/assets/" .. tostring(key):match("[^/]*$")
    if not fs.isfile(zip_path) then
      fail("the code of %s (%s) is not in %s/assets: synthesize again", fn.name, key, rt.dir)
    end
    rt:extract(zip_path, dest, fn.name .. ": extracting " .. zip_path)
  end
  rt.extracted[fn.name] = dest
  return dest
end

local function resolved_env(rt, props, what)
  local vars = props.Environment and props.Environment.Variables or {}
  local out = {}
  for k, v in pairs(vars) do
    local r, err = rt.resolver:value(v)
    if r == nil then fail("%s: environment variable %s: %s", what, k, err) end
    out[k] = tostring(r)
  end
  return out
end

--- Runs a Lambda function of the stack with an event, as Lambda would.
-- @param name string the function's name (FunctionName)
-- @param event any JSON value
-- @param p table|nil { timeout = the state's TimeoutSeconds, capture = true: record StartExecution }
-- @return outcome { ok=, result= | error=, cause=, started = {...}, stdout=, stderr=, duration=, request_id= }
function Runtime:invoke_lambda(name, event, p)
  p = p or {}
  local fn = self:resource("AWS::Lambda::Function", name)
  local dir = code_dir(self, fn)
  local props = fn.props
  self.calls = self.calls + 1
  local base = ("%s/%03d-%s"):format(self:tmp("calls"), self.calls, name)
  write_json(self, base .. ".event.json", event)
  local id = self:request_id()
  local fn_timeout = tonumber(props.Timeout) or 3
  local limit = fn_timeout
  if p.timeout and p.timeout < limit then limit = p.timeout end
  local log_group = props.LoggingConfig and props.LoggingConfig.LogGroup
  log_group = log_group and self.resolver:value(log_group) or ("/aws/lambda/" .. name)
  local meta = {
    function_name = name, function_arn = KINDS["AWS::Lambda::Function"].arn(self.env, name),
    memory = tonumber(props.MemorySize) or 128, request_id = id, log_group = tostring(log_group),
    timeout = fn_timeout, capture_start_execution = p.capture or false,
  }
  local env = resolved_env(self, props, name)
  env.AWS_LAMBDA_FUNCTION_NAME = name
  env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE = tostring(meta.memory)
  env.AWS_LAMBDA_FUNCTION_VERSION = "$LATEST"
  env.AWS_LAMBDA_LOG_GROUP_NAME = meta.log_group
  env.LAMBDA_TASK_ROOT = dir
  env._HANDLER = props.Handler or assets.HANDLER
  local res = self:run_python({ "-c", bootstrap.LAMBDA, env._HANDLER, base .. ".event.json", base .. ".result.json",
    json.encode(meta) }, { cwd = dir, path = { dir }, env = env, timeout = limit })
  local out = { stdout = res.stdout, stderr = res.stderr, duration = res.duration, request_id = id, started = {} }
  if res.timed_out then
    if p.timeout and p.timeout <= fn_timeout then
      out.error = "States.Timeout"
      out.cause = ("The task did not end within its TimeoutSeconds (%d s)"):format(p.timeout)
    else
      out.error = "Sandbox.Timedout"
      out.cause = json.encode({ errorType = "Sandbox.Timedout",
        errorMessage = ("RequestId: %s Error: Task timed out after %.2f seconds"):format(id, fn_timeout) })
    end
    return out
  end
  local text = fs.read(base .. ".result.json")
  local r = text and json.decode(text)
  if not r then
    local how = res.how == "signal" and ("signal %d"):format(res.code) or ("error: exit status %d"):format(res.code)
    out.error = "Runtime.ExitError"
    out.cause = json.encode({ errorType = "Runtime.ExitError",
      errorMessage = ("RequestId: %s Error: Runtime exited with %s"):format(id, how) })
    return out
  end
  out.started = r.started or {}
  if r.ok then
    out.ok = true
    out.result = r.result
    if out.result == nil then out.result = json.null end
  else
    out.error = r.errorType
    out.cause = json.encode({ errorMessage = r.errorMessage, errorType = r.errorType, requestId = id,
      stackTrace = r.stackTrace or setmetatable({}, json.array_mt) })
  end
  return out
end

-- ---- the timeline ----------------------------------------------------------------

local function pretty(v)
  local k = value.kind(v)
  if k == "array" or k == "object" then v = value.copy(v) end
  return json.encode(v, { pretty = true })
end

local function indent(text, pad)
  return pad .. text:gsub("\n", "\n" .. pad)
end

--- "Error: message" from an error and its Cause (Lambda's JSON error,
-- a Glue JobRun, or text), on one line.
function M.describe(err, cause)
  local msg = cause
  if type(cause) == "string" and cause:sub(1, 1) == "{" then
    local c = json.decode(cause)
    if type(c) == "table" then msg = c.errorMessage or c.ErrorMessage or cause end
  end
  if msg == nil or msg == "" then return tostring(err) end
  msg = tostring(msg):gsub("%s*\n%s*", " ")
  if #msg > 300 then msg = msg:sub(1, 297) .. "..." end
  return ("%s: %s"):format(tostring(err), msg)
end

local function print_logs(rt, key, failed)
  local logs = rt.logs[key]
  rt.logs[key] = nil
  if not logs or not (rt.verbose or failed) then return end
  for _, l in ipairs(logs) do
    local text = ((l.stdout or "") .. (l.stderr or "")):gsub("\n+$", "")
    if text ~= "" then
      local lines = {}
      for line in (text .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
      local from = (rt.verbose or #lines <= 20) and 1 or #lines - 19
      if from > 1 then eprint(rt, "      | ... (%d lines; --verbose shows all)", #lines) end
      for i = from, #lines do eprint(rt, "      | %s", lines[i]) end
    end
  end
end

-- The traceback of a Lambda error (its Cause), as the function's log shows it.
local function print_trace(rt, cause)
  if type(cause) ~= "string" or cause:sub(1, 1) ~= "{" then return end
  local c = json.decode(cause)
  if type(c) ~= "table" or type(c.stackTrace) ~= "table" or #c.stackTrace == 0 then return end
  eprint(rt, "      | Traceback (most recent call last):")
  local n = #c.stackTrace
  for i, frame in ipairs(c.stackTrace) do
    -- the handler's frames come first, the libraries' last: keep both ends
    if rt.verbose or n <= 6 or i <= 3 or i > n - 2 then
      for line in tostring(frame):gmatch("[^\n]+") do eprint(rt, "      | %s", line) end
    elseif i == 4 then
      eprint(rt, "      |   ... %d more frames (--verbose shows them)", n - 5)
    end
  end
  eprint(rt, "      | %s: %s", tostring(c.errorType), tostring(c.errorMessage))
end

-- The interpreter's on_event: one line per state as it ends.
local function timeline(rt, width)
  local entered = {}
  local function key_of(ev) return (ev.scope and ev.scope .. "/" or "") .. tostring(ev.state) end
  local function line(ev, status, failed)
    local key = key_of(ev)
    local e = entered[key] or { t = proc.monotime() }
    eprint(rt, "  %-" .. width .. "s %7.2f s  %s", key, proc.monotime() - e.t, status)
    if rt.verbose and e.input ~= nil then eprint(rt, "%s", indent("input  " .. pretty(e.input), "      ")) end
    if rt.verbose and ev.output ~= nil then eprint(rt, "%s", indent("output " .. pretty(ev.output), "      ")) end
    print_logs(rt, ev.state, failed)
    if failed then print_trace(rt, ev.cause) end
  end
  return function(ev)
    local t = ev.type
    if t == "StateEntered" then
      entered[key_of(ev)] = { t = proc.monotime(), input = ev.input }
    elseif t == "StateExited" then
      line(ev, "succeeded")
    elseif t == "RetryScheduled" then
      line(ev, ("failed: %s; retry %d in %s s"):format(M.describe(ev.error, ev.cause), ev.attempt, ev.delay), true)
      entered[key_of(ev)].t = proc.monotime() + ev.delay
    elseif t == "Caught" then
      line(ev, ("failed: %s; caught, next %s"):format(M.describe(ev.error, ev.cause), ev.next), true)
    elseif t == "StateFailed" then
      line(ev, "failed: " .. M.describe(ev.error, ev.cause), true)
    end
  end
end

-- The interpreter's invoke: each Task goes to the step type whose `run`
-- takes its Resource (lake.pipeline.steps).
local function task_runner(rt)
  return function(resource, input, state_name, _, info)
    local res = tostring(resource)
    local described = {}
    for _, t in ipairs(steps.all()) do
      if t.run then
        for _, pattern in ipairs(t.run.resources) do
          if res:match(pattern) then return t.run.invoke(rt, res, input, state_name, info) end
        end
        described[#described + 1] = t.run.describe
      end
    end
    fail("state %s: the local runner cannot run %s (it runs %s tasks)", state_name, res,
      table.concat(described, ", "))
  end
end

-- The interpreter's read_items: a Map state's ItemReader goes to the step
-- type whose `run_items` takes its Resource (lake.pipeline.steps.map).
local function item_reader(rt)
  return function(resource, params, state_name)
    local res = tostring(resource)
    for _, t in ipairs(steps.all()) do
      for _, pattern in ipairs(t.run_items and t.run_items.resources or {}) do
        if res:match(pattern) then return t.run_items.read(rt, res, params, state_name) end
      end
    end
    fail("state %s: the local runner cannot read the items of %s", state_name, res)
  end
end

-- The interpreter's wait: a Wait state's seconds, computed by the
-- interpreter (Seconds, SecondsPath, or until Timestamp), are skipped
-- locally unless --wait was given, and said either way.
local function wait_runner(rt)
  return function(seconds, state, scope)
    local name = (scope and scope .. "/" or "") .. tostring(state)
    local secs = (("%.3f"):format(seconds):gsub("%.?0+$", ""))
    if rt.wait then
      eprint(rt, "wait %s: %s s (sleeping, --wait)", name, secs)
      proc.sleep(seconds)
    else
      eprint(rt, "wait %s: %s s (skipped locally; --wait to sleep)", name, secs)
    end
  end
end

local function width_of(def)
  local w = 7
  local function walk(g)
    for name, s in pairs(g.States or {}) do
      if #name > w then w = #name end
      for _, b in ipairs(s.Branches or {}) do walk(b) end
      if s.Iterator then walk(s.Iterator) end
      if s.ItemProcessor then walk(s.ItemProcessor) end
    end
  end
  walk(def)
  return math.min(w + 2, 40)
end

--- Runs the trigger with event, then the state machine for every execution it
-- started. Prints the timeline (stderr) and the outputs (stdout).
-- @param rt runtime
-- @param event any the event (decoded JSON)
-- @param out function(text) for the outputs (default: stdout)
-- @return integer exit status: 0 all SUCCEEDED, 1 otherwise
function M.execute(rt, event, out)
  out = out or function(text) io.stdout:write(text, "\n") io.stdout:flush() end
  local sm = rt:machine()
  local function new_machine(name, on_event)
    return interpreter.new(sm.text, {
      invoke = task_runner(rt), read_items = item_reader(rt), sleep = proc.sleep, wait = wait_runner(rt),
      now = proc.time, on_event = on_event,
      state_machine_name = sm.name, state_machine_arn = sm.arn, role_arn = sm.role, execution_name = name,
    })
  end
  local machine, problems = new_machine("check")
  if not machine then
    fail("%s: the state machine definition is not valid:\n  %s", rt.stack, table.concat(problems, "\n  "))
  end
  local width = width_of(json.decode(sm.text))
  if not rt.trigger then fail("%s: no trigger function (FunctionName *-trigger-%s)", rt.stack, tostring(rt.stage)) end
  local tname = "trigger"
  if #tname > width then width = #tname end
  -- the trigger
  local o = rt:invoke_lambda(rt.trigger.name, event, { capture = true })
  local label = ("  %-" .. width .. "s %7.2f s  "):format(tname, o.duration)
  if not o.ok then
    eprint(rt, "%sfailed: %s", label, M.describe(o.error, o.cause))
    rt.logs.trigger = { { stdout = o.stdout, stderr = o.stderr } }
    print_logs(rt, "trigger", true)
    print_trace(rt, o.cause)
    eprint(rt, "FAILED: the trigger %s did not accept the event", rt.trigger.name)
    return 1
  end
  if #o.started == 0 then
    eprint(rt, "%ssucceeded, but started no execution", label)
    rt.logs.trigger = { { stdout = o.stdout, stderr = o.stderr } }
    print_logs(rt, "trigger", true)
    eprint(rt, "FAILED: the trigger %s started no execution for this event: nothing to run", rt.trigger.name)
    return 1
  end
  eprint(rt, "%sstarted %s%s", label, o.started[1].name,
    #o.started > 1 and (" and %d more"):format(#o.started - 1) or "")
  if rt.verbose then
    eprint(rt, "%s", indent("event  " .. pretty(event), "      "))
    rt.logs.trigger = { { stdout = o.stdout, stderr = o.stderr } }
    print_logs(rt, "trigger")
  end
  local status = 0
  for i, start in ipairs(o.started) do
    if start.stateMachineArn ~= sm.arn then
      fail("the trigger started an execution of %s, not of this pipeline's state machine %s",
        tostring(start.stateMachineArn), sm.arn)
    end
    local input, jerr = json.decode(start.input, "execution input")
    if input == nil then fail("the trigger's execution input is not JSON: %s", jerr) end
    if #o.started > 1 then eprint(rt, "execution %d of %d: %s", i, #o.started, start.name) end
    machine = new_machine(start.name, timeline(rt, width))
    local t0 = proc.monotime()
    local r = machine:run(input)
    local took = proc.monotime() - t0
    if r.status == "SUCCEEDED" then
      eprint(rt, "SUCCEEDED in %.2f s (%d state%s)", took, r.steps, r.steps == 1 and "" or "s")
      out(pretty(r.output))
    else
      status = 1
      eprint(rt, "FAILED in %.2f s at %s: %s", took, tostring(r.state), M.describe(r.error, r.cause))
    end
  end
  return status
end

-- ---- the command -------------------------------------------------------------------

--- Region and account for local names: AWS_REGION / AWS_DEFAULT_REGION /
-- the profile's region (else us-east-1); AWS_ACCOUNT_ID, else STS
-- GetCallerIdentity when credentials are configured (through endpoint when
-- given), else 123456789012.
-- @return { region=, account=, note = string|nil }
function M.local_env(getenv, endpoint)
  local region = credentials.region(getenv) or M.DEFAULT_REGION
  local account = getenv("AWS_ACCOUNT_ID")
  if account and account ~= "" then return { region = region, account = account } end
  local function env2(k)
    if k == "AWS_ENDPOINT_URL" and endpoint then return endpoint end
    return getenv(k)
  end
  local creds = credentials.resolve { getenv = env2, region = region }
  if not creds then
    return { region = region, account = M.DEFAULT_ACCOUNT,
      note = ("no AWS credentials: names use account %s (set AWS_ACCOUNT_ID)"):format(M.DEFAULT_ACCOUNT) }
  end
  local c = client.new { region = region, credentials = function() return creds end,
    getenv = env2, max_attempts = 2 }
  local id, err = sts.get_caller_identity(c)
  if not id then
    return { region = region, account = M.DEFAULT_ACCOUNT,
      note = ("cannot tell the account (STS: %s): names use account %s (set AWS_ACCOUNT_ID)"):format(
        tostring(err), M.DEFAULT_ACCOUNT) }
  end
  return { region = region, account = id.account }
end

--- The absolute path of a Python interpreter (sys.executable), so that
-- steps skip launchers such as pyenv's shims.
-- @param python string a name on PATH or a path
-- @return path | nil, err (bad input)
function M.interpreter(python)
  local res, err = proc.run { argv = { python, "-c", "import sys; print(sys.executable)" }, timeout = 60 }
  if not res then
    return nil, errors.input(("run: %s not found (%s): install Python 3, or choose the interpreter with " ..
      "--python PATH (or LAKEHOST_PYTHON)"):format(python, err))
  end
  local exe = res.stdout:match("^%s*(.-)%s*$")
  if not res.ok or exe == "" then
    return nil, errors.input(("run: %s does not run Python code: %s"):format(python, util.last_line(res.stderr) or res.how))
  end
  return exe
end

--- Reads and decodes the event file.
-- @return event | nil, err (bad input)
function M.read_event(path)
  local text, err = fs.read(path)
  if not text then return nil, errors.input(("run: cannot read the event file %s: %s"):format(path, err)) end
  local v, jerr = json.decode(text, path)
  if v == nil then return nil, errors.input("run: the event is not JSON: " .. jerr) end
  return v
end

-- The decoded template of a pipeline's stack in a synthesized folder.
local function pipeline_template(dir, stack)
  local mtext, merr = fs.read(dir .. "/manifest.json")
  local manifest = mtext and json.decode(mtext, dir .. "/manifest.json")
  if not manifest then return nil, errors.failure(("run: no synth output in %s: %s"):format(dir, tostring(merr))) end
  local listed
  for _, s in ipairs(manifest.stacks or {}) do
    if s.name == stack then listed = s end
  end
  if not listed then return nil, errors.failure(("run: %s/manifest.json lists no stack %s"):format(dir, stack)) end
  local file = dir .. "/" .. (listed.template or (stack .. ".template.json"))
  local text, err = fs.read(file)
  if not text then return nil, errors.failure(("run: %s"):format(err)) end
  local template, jerr = json.decode(text, file)
  if not template then return nil, errors.failure("run: " .. jerr) end
  return template
end

--- `run PIPELINE --event FILE`: checks the arguments, synthesizes (synth(dir)),
-- then runs.
-- @param app App
-- @param pos array positional arguments (the pipeline)
-- @param opts table { event=, endpoint=, verbose=, out=, keep=, python=, profile= }
-- @param synth function(dir) -> true | nil, err: writes the synth output into dir
-- @param getenv function|nil (default os.getenv)
-- @return exit status of the run (0 SUCCEEDED, 1 FAILED) | nil, err
function M.command(app, pos, opts, synth, getenv)
  getenv = getenv or os.getenv
  local list = M.pipelines(app.stacks)
  local known = {}
  for _, e in ipairs(list) do known[#known + 1] = e.pipeline end
  if #pos == 0 then
    return nil, errors.input(("run: which pipeline? usage: lakehost APP.lua run PIPELINE --event FILE (pipelines: %s)")
      :format(#known > 0 and table.concat(known, ", ") or "none"))
  end
  if #pos > 1 then return nil, errors.input(("run: unexpected argument '%s' (one pipeline at a time)"):format(pos[2])) end
  local entry, why = M.find_pipeline(list, pos[1])
  if not entry then return nil, errors.input(why) end
  if not opts.event then
    return nil, errors.input("run: --event FILE is required (an S3 or EventBridge event, as JSON, for the " ..
      "pipeline's trigger)")
  end
  local event, eerr = M.read_event(opts.event)
  if event == nil then return nil, eerr end
  if opts.endpoint and not opts.endpoint:match("^https?://[^/]") then
    return nil, errors.input(("run: --endpoint expects an http:// or https:// URL, got '%s'"):format(opts.endpoint))
  end
  local python = opts.python or getenv("LAKEHOST_PYTHON")
  if python == nil or python == "" then python = "python3" end
  local perr
  python, perr = M.interpreter(python)
  if not python then return nil, perr end
  local dir = opts.out or "lake.out"
  local sok, serr = synth(dir)
  if not sok then return nil, serr end
  local template, terr = pipeline_template(dir, entry.stack)
  if not template then return nil, terr end
  local env = M.local_env(getenv, opts.endpoint)
  local rt = M.runtime(dir, template, { stack = entry.stack, stage = entry.stage, region = env.region,
    account = env.account, python = python, endpoint = opts.endpoint, verbose = opts.verbose,
    wait = opts.wait })
  rt.profile = opts.profile -- the steps' boto3 reads it too
  if env.note then eprint(rt, "note: %s", env.note) end
  local endpoint = opts.endpoint or getenv("AWS_ENDPOINT_URL")
  eprint(rt, "run %s (%s) in %s, account %s, with %s%s", entry.pipeline, entry.stack, env.region, env.account,
    python, endpoint and endpoint ~= "" and (", AWS calls to " .. endpoint) or "")
  local status, err = errors.catch(M.execute, rt, event)
  local kept = rt:close(opts.keep)
  if kept then eprint(rt, "kept the steps' files in %s", kept) end
  if status == nil then return nil, err end
  return status
end

return M
