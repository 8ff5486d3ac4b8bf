--- Hotswap: a stack whose template differs from the deployed one only in
-- properties the service APIs can change directly gets them changed that
-- way, without a CloudFormation change set.
--
-- API (what `deploy --hotswap` and `watch` use):
--   * the deploy command: require("lake.commands.deploy").run(app,
--     { hotswap = true | "only", force = bool, ... }, selectors, cli) --
--     opts.hotswap_only = true is the same as hotswap = "only";
--   * one level down, lake.deploy's per-stack entry point honours
--     ctx.hotswap = true | "only": deploy.deploy_stack(ctx, entry) tries
--     M.stack first, and goes through CloudFormation (true) or refuses
--     ("only") when the difference is not hotswappable;
--   * M.refuse_stage(stage, force) -> nil | message: hotswap is for
--     development stages; call it before anything else (watch too).
--
-- What is hotswappable (anything else in the difference sends the stack
-- through CloudFormation, naming the property paths):
--   AWS::Lambda::Function          Code (S3Bucket/S3Key), Environment, MemorySize, Timeout
--   AWS::StepFunctions::StateMachine DefinitionString
--   AWS::Glue::Job                 Command.ScriptLocation, DefaultArguments
--   AWS::IAM::Role                 Policies, when only the assets-bucket objects
--                                  they name differ (a Glue job's new script)
-- Not differences at all: the Parameters section (stack parameters), any
-- Metadata, and the hash stamp in Description.
--
-- Drift record: a hotswapped stack gets an object `hotswap/<stack>.json`
-- in the assets bucket: { stack, hash (the synthesized hash now live),
-- deployed (the stamp CloudFormation holds), since (first hotswap since
-- CloudFormation last deployed it), template (the template now live) }.
-- Why there: the deploy engine lists that bucket once per deploy anyway
-- (the assets), so a plain deploy learns which stacks are marked without a
-- request of its own; a stack tag or the Description cannot change without
-- a CloudFormation update; an SSM parameter would cost a request per
-- stack. The key is deterministic and the object is written only by
-- hotswap and deleted only once CloudFormation has caught up (M.resync).
local cfn = require("lake.aws.cloudformation")
local endpoints = require("lake.aws.endpoints")
local jsonrpc = require("lake.aws.jsonrpc")
local lambda = require("lake.aws.lambda")
local query = require("lake.aws.query")
local s3 = require("lake.aws.s3")
local json = require("host.json")

local M = {}

--- Properties each resource type can change without CloudFormation.
M.HOTSWAPPABLE = {
  ["AWS::Lambda::Function"] = { Code = true, Environment = true, MemorySize = true, Timeout = true },
  ["AWS::StepFunctions::StateMachine"] = { DefinitionString = true },
  ["AWS::Glue::Job"] = { Command = true, DefaultArguments = true },
  -- only when nothing but the asset objects it names differ (M.asset_arn)
  ["AWS::IAM::Role"] = { Policies = true },
}

--- Whether a value is the ARN of an object in lakehost's assets bucket (a
-- content-named asset: "<sha256>.py", ".zip"). A Glue job's role may read
-- exactly its own scripts and archives, so a new script is a new ARN in the
-- role's inline policy; a role whose policies differ only in such ARNs is
-- hotswapped (IAM PutRolePolicy) along with the job. Anything else in a
-- role's policies -- an action, another resource, a condition -- needs
-- CloudFormation (and its change review).
function M.asset_arn(v)
  if type(v) == "table" then v = v["Fn::Sub"] end
  return type(v) == "string" and v:match(":s3:::lakehost%-assets%-[^/]+/%x+%.[%w.]+$") ~= nil
end

-- A copy of v with every asset ARN left out (from lists) or blanked.
local function without_assets(v)
  if type(v) ~= "table" or M.asset_arn(v) then return M.asset_arn(v) and "<asset>" or v end
  local out = {}
  if #v > 0 then
    for _, x in ipairs(v) do
      if not M.asset_arn(x) then out[#out + 1] = without_assets(x) end
    end
    return out
  end
  for k, x in pairs(v) do out[k] = without_assets(x) end
  return out
end

-- Template sections whose differences need no CloudFormation update.
local IGNORED_SECTIONS = { Parameters = true, Metadata = true, Description = true }

--- Refuses hotswap on a production stage unless forced.
-- @return nil (allowed) | message
function M.refuse_stage(stage, force)
  if stage == "prd" and not force then
    return "hotswap is for development stages: stage 'prd' refused (pass --force to hotswap it anyway)"
  end
  return nil
end

local function same(a, b)
  if a == b then return true end
  if a == nil or b == nil then return false end
  return json.encode(a) == json.encode(b)
end

local function sorted_keys(...)
  local seen, out = {}, {}
  for i = 1, select("#", ...) do
    local t = select(i, ...)
    for k in pairs(type(t) == "table" and t or {}) do
      if not seen[k] then seen[k] = true; out[#out + 1] = k end
    end
  end
  table.sort(out)
  return out
end

-- Only S3Bucket/S3Key (and a version) say where a function's code is.
local function s3_code(code)
  if type(code) ~= "table" then return false end
  for k in pairs(code) do
    if k ~= "S3Bucket" and k ~= "S3Key" and k ~= "S3ObjectVersion" then return false end
  end
  return true
end

--- Compares two templates resource by resource, property by property.
-- @param old table the deployed template
-- @param new table the synthesized template
-- @return { changes = { { id=, type=, props = { [Prop] = true } } } (hotswappable, by id),
--   blockers = { "Logical.Properties.Prop", ... } (sorted) }
function M.plan(old, new)
  local changes, blockers = {}, {}
  for _, sec in ipairs(sorted_keys(old, new)) do
    if sec ~= "Resources" and not IGNORED_SECTIONS[sec] then
      if type(old[sec]) == "table" and type(new[sec]) == "table" then
        for _, k in ipairs(sorted_keys(old[sec], new[sec])) do
          if not same(old[sec][k], new[sec][k]) then blockers[#blockers + 1] = sec .. "." .. tostring(k) end
        end
      elseif not same(old[sec], new[sec]) then
        blockers[#blockers + 1] = sec
      end
    end
  end
  if not same((old.Description or ""):gsub("%s*%[lakehost:%x+%]", ""), ((new.Description or ""):gsub("%s*%[lakehost:%x+%]", ""))) then
    blockers[#blockers + 1] = "Description"
  end
  local ro, rn = old.Resources or {}, new.Resources or {}
  for _, id in ipairs(sorted_keys(ro, rn)) do
    local a, b = ro[id], rn[id]
    if a == nil then
      blockers[#blockers + 1] = id .. " (added)"
    elseif b == nil then
      blockers[#blockers + 1] = id .. " (removed)"
    elseif a.Type ~= b.Type then
      blockers[#blockers + 1] = id .. ".Type"
    else
      local allowed = M.HOTSWAPPABLE[b.Type] or {}
      local props = {}
      for _, key in ipairs(sorted_keys(a, b)) do
        if key ~= "Metadata" and key ~= "Properties" and not same(a[key], b[key]) then
          blockers[#blockers + 1] = id .. "." .. key
        end
      end
      local pa, pb = a.Properties or {}, b.Properties or {}
      for _, p in ipairs(sorted_keys(pa, pb)) do
        if not same(pa[p], pb[p]) then
          local path = id .. ".Properties." .. p
          if not allowed[p] then
            blockers[#blockers + 1] = path
          elseif p == "Code" and not (s3_code(pa[p]) and s3_code(pb[p])) then
            blockers[#blockers + 1] = path
          elseif p == "Policies" and not same(without_assets(pa[p]), without_assets(pb[p])) then
            blockers[#blockers + 1] = path
          elseif p == "Command" then
            local ok = type(pa[p]) == "table" and type(pb[p]) == "table"
            for _, ck in ipairs(sorted_keys(pa[p], pb[p])) do
              if ck ~= "ScriptLocation" and not (ok and same(pa[p][ck], pb[p][ck])) then
                blockers[#blockers + 1] = path .. "." .. ck
                ok = false
              end
            end
            if ok then props[p] = true end
          else
            props[p] = true
          end
        end
      end
      if next(props) then changes[#changes + 1] = { id = id, type = b.Type, props = props } end
    end
  end
  table.sort(blockers)
  return { changes = changes, blockers = blockers }
end

---------------------------------------------------------------------------
-- Resolving a template's values with the stack's actual ones

local UNRESOLVED = {}

local function fail(why) error(setmetatable({ why = why }, UNRESOLVED), 0) end

-- The ARN a Fn::GetAtt [id, "Arn"] names, from the resource's physical id.
local ARNS = {
  ["AWS::IAM::Role"] = function(e, p) return ("arn:%s:iam::%s:role/%s"):format(e.partition, e.account, p) end,
  ["AWS::Lambda::Function"] = function(e, p)
    return ("arn:%s:lambda:%s:%s:function:%s"):format(e.partition, e.region, e.account, p)
  end,
  ["AWS::Logs::LogGroup"] = function(e, p)
    return ("arn:%s:logs:%s:%s:log-group:%s:*"):format(e.partition, e.region, e.account, p)
  end,
  ["AWS::SQS::Queue"] = function(e, p)
    return ("arn:%s:sqs:%s:%s:%s"):format(e.partition, e.region, e.account, p:match("([^/]+)$") or p)
  end,
  ["AWS::S3::Bucket"] = function(e, p) return ("arn:%s:s3:::%s"):format(e.partition, p) end,
  ["AWS::Events::Rule"] = function(e, p) return ("arn:%s:events:%s:%s:rule/%s"):format(e.partition, e.region, e.account, p) end,
  ["AWS::SNS::Topic"] = function(_, p) return p end,
  ["AWS::StepFunctions::StateMachine"] = function(_, p) return p end,
}

--- A resolver of template values for a deployed stack.
-- @param env { account=, region=, stack = DescribeStacks' stack, template = the template,
--   physical = function(logical_id) -> physical id | nil, err }
-- @return function(value) -> resolved value | nil, why
function M.resolver(env)
  local partition = endpoints.partition(env.region)
  env.partition = partition
  local params = {}
  for _, p in ipairs(env.stack and env.stack.Parameters or {}) do
    params[p.ParameterKey] = p.ResolvedValue or p.ParameterValue
  end
  local resources = env.template and env.template.Resources or {}
  local function physical(id)
    local p, err = env.physical(id)
    if not p then fail(("no physical id for %s: %s"):format(id, tostring(err or "not in the stack"))) end
    return p
  end
  local function ref(name)
    if name == "AWS::AccountId" then return env.account end
    if name == "AWS::Region" then return env.region end
    if name == "AWS::Partition" then return partition end
    if name == "AWS::URLSuffix" then return endpoints.dns_suffix(env.region) end
    if name == "AWS::StackName" then return env.stack and env.stack.StackName end
    if name == "AWS::StackId" then return env.stack and env.stack.StackId end
    if params[name] ~= nil then return params[name] end
    if resources[name] then return physical(name) end
    fail("cannot resolve Ref " .. tostring(name))
  end
  local function getatt(id, attr)
    local r = resources[id]
    if not r then fail(("cannot resolve Fn::GetAtt %s.%s"):format(tostring(id), tostring(attr))) end
    local arn = ARNS[r.Type]
    if attr ~= "Arn" or not arn then fail(("cannot resolve Fn::GetAtt %s.%s (%s)"):format(id, attr, r.Type)) end
    return arn(env, physical(id))
  end
  local resolve
  local function sub(s, vars)
    return (s:gsub("%${([^}]+)}", function(name)
      if name:sub(1, 1) == "!" then return "${" .. name:sub(2) .. "}" end
      if vars and vars[name] ~= nil then return tostring(resolve(vars[name])) end
      local id, attr = name:match("^([^.]+)%.(.+)$")
      if id and resources[id] then return tostring(getatt(id, attr)) end
      return tostring(ref(name))
    end))
  end
  resolve = function(v)
    if type(v) ~= "table" then return v end
    if #v > 0 or next(v) == nil then
      local out = {}
      for i, x in ipairs(v) do out[i] = resolve(x) end
      return next(v) == nil and v or json.array(out)
    end
    local k, x = next(v)
    if next(v, k) == nil and type(k) == "string" and (k == "Ref" or k:match("^Fn::")) then
      if k == "Ref" then return ref(x) end
      if k == "Fn::GetAtt" then
        if type(x) == "string" then return getatt(x:match("^([^.]+)%.(.+)$")) end
        return getatt(x[1], x[2])
      end
      if k == "Fn::Sub" then
        if type(x) == "string" then return sub(x) end
        return sub(x[1], x[2])
      end
      if k == "Fn::Join" then
        local parts = {}
        for i, p in ipairs(resolve(x[2])) do parts[i] = tostring(p) end
        return table.concat(parts, x[1])
      end
      if k == "Fn::Select" then return resolve(x[2])[tonumber(resolve(x[1])) + 1] end
      fail("cannot resolve " .. k)
    end
    local out = {}
    for kk, vv in pairs(v) do out[kk] = resolve(vv) end
    return out
  end
  return function(v)
    local ok, r = pcall(resolve, v)
    if ok then return r end
    if getmetatable(r) == UNRESOLVED then return nil, r.why end
    return nil, tostring(r)
  end
end

---------------------------------------------------------------------------
-- Applying changes through the service APIs

-- Waits inside the deploy scheduler (yields), or sleeps outside it.
local function pause(ctx, seconds)
  if coroutine.isyieldable() then coroutine.yield(seconds) else (ctx.sleep or function() end)(seconds) end
end

-- Waits until a function's last update is done (its configuration says so).
-- @return true | nil, err
local function settled_function(ctx, name, conf)
  local delay, deadline = 0.25, (ctx.now and ctx.now() or 0) + 300
  while true do
    local st = conf.LastUpdateStatus
    if st == nil or st == "Successful" then return true end
    if st == "Failed" then
      return nil, ("%s: update failed: %s"):format(name, tostring(conf.LastUpdateStatusReason or "?"))
    end
    if ctx.now and ctx.now() > deadline then return nil, name .. ": still updating after 300 s" end
    pause(ctx, delay)
    delay = math.min(delay * 2, 2)
    local err
    conf, err = lambda.get_function_configuration(ctx.client, name, { max_attempts = 5 })
    if not conf then return nil, err end
  end
end

local APPLY = {}

APPLY["AWS::Lambda::Function"] = function(ctx, ch, props, resolve, physical)
  local name = props.FunctionName and resolve(props.FunctionName) or physical(ch.id)
  if not name then return nil, "no name for " .. ch.id end
  local done = {}
  if ch.props.Code then
    local code, why = resolve(props.Code)
    if not code then return nil, why end
    local conf, err = lambda.update_function_code(ctx.client, name, code)
    if not conf then return nil, err end
    local ok, werr = settled_function(ctx, name, conf)
    if not ok then return nil, werr end
    done[#done + 1] = "code"
  end
  local update = {}
  for _, p in ipairs({ "Environment", "MemorySize", "Timeout" }) do
    if ch.props[p] then
      local v, why
      if props[p] == nil then
        v = ({ Environment = { Variables = json.object() }, MemorySize = 128, Timeout = 3 })[p]
      else
        v, why = resolve(props[p])
        if v == nil then return nil, why end
      end
      update[p] = v
      done[#done + 1] = p
    end
  end
  if next(update) then
    if update.Environment and update.Environment.Variables and next(update.Environment.Variables) == nil then
      update.Environment.Variables = json.object()
    end
    local conf, err = lambda.update_function_configuration(ctx.client, name, update)
    if not conf then return nil, err end
    local ok, werr = settled_function(ctx, name, conf)
    if not ok then return nil, werr end
  end
  return ("Lambda %s (%s)"):format(name, table.concat(done, ", "))
end

APPLY["AWS::StepFunctions::StateMachine"] = function(ctx, ch, props, resolve, physical, env)
  local arn
  if props.StateMachineName then
    local n = resolve(props.StateMachineName)
    arn = n and ("arn:%s:states:%s:%s:stateMachine:%s"):format(env.partition, env.region, env.account, n)
  end
  arn = arn or physical(ch.id)
  if not arn then return nil, "no ARN for " .. ch.id end
  local def, why = resolve(props.DefinitionString)
  if not def then return nil, why end
  local r, err = jsonrpc.call(ctx.client, "states", "UpdateStateMachine", { stateMachineArn = arn, definition = def })
  if not r then return nil, err end
  return ("state machine %s (definition)"):format(arn:match("([^:]+)$"))
end

APPLY["AWS::IAM::Role"] = function(ctx, ch, props, resolve, physical)
  local name = props.RoleName and resolve(props.RoleName) or physical(ch.id)
  if not name then return nil, "no name for " .. ch.id end
  local names = {}
  for _, pol in ipairs(props.Policies or {}) do
    local doc, why = resolve(pol.PolicyDocument)
    if not doc then return nil, why end
    local r, err = query.call(ctx.client, "iam", "2010-05-08", "PutRolePolicy",
      { RoleName = name, PolicyName = pol.PolicyName, PolicyDocument = json.encode(doc) })
    if not r then return nil, err end
    names[#names + 1] = pol.PolicyName
  end
  return ("role %s (the asset objects policy %s names)"):format(name, table.concat(names, ", "))
end

-- The fields of a Glue Job that JobUpdate takes back as they are.
local JOB_FIELDS = { "Description", "LogUri", "Role", "ExecutionProperty", "Command", "DefaultArguments",
  "NonOverridableArguments", "Connections", "MaxRetries", "Timeout", "MaxCapacity", "WorkerType",
  "NumberOfWorkers", "SecurityConfiguration", "NotificationProperty", "GlueVersion", "CodeGenConfigurationNodes",
  "ExecutionClass", "SourceControlDetails", "MaintenanceWindow", "JobMode", "JobRunQueuingEnabled" }

--- The JobUpdate that keeps every field of a job as GetJob returned it
-- (UpdateJob replaces the whole definition). AllocatedCapacity is the
-- deprecated spelling of MaxCapacity: sent only when neither MaxCapacity
-- nor a worker type is set.
function M.job_update(job)
  local u = {}
  for _, f in ipairs(JOB_FIELDS) do
    if job[f] ~= nil then u[f] = job[f] end
  end
  if job.AllocatedCapacity ~= nil and job.MaxCapacity == nil and job.WorkerType == nil then
    u.AllocatedCapacity = job.AllocatedCapacity
  end
  -- MaxCapacity and a worker type exclude each other (GetJob may return both)
  if u.WorkerType ~= nil then u.MaxCapacity = nil end
  return u
end

APPLY["AWS::Glue::Job"] = function(ctx, ch, props, resolve, physical)
  local name = props.Name and resolve(props.Name) or physical(ch.id)
  if not name then return nil, "no name for " .. ch.id end
  local got, gerr = jsonrpc.call(ctx.client, "glue", "GetJob", { JobName = name })
  if not got then return nil, gerr end
  if type(got.Job) ~= "table" then return nil, ("GetJob %s: no job in the answer"):format(name) end
  local u, done = M.job_update(got.Job), {}
  if ch.props.Command then
    local loc, why = resolve(props.Command.ScriptLocation)
    if not loc then return nil, why end
    u.Command = u.Command or {}
    u.Command.ScriptLocation = loc
    done[#done + 1] = "script"
  end
  if ch.props.DefaultArguments then
    local args, why = json.object(), nil
    if props.DefaultArguments ~= nil then args, why = resolve(props.DefaultArguments) end
    if not args then return nil, why end
    u.DefaultArguments = next(args) and args or json.object()
    done[#done + 1] = "arguments"
  end
  local r, err = jsonrpc.call(ctx.client, "glue", "UpdateJob", { JobName = name, JobUpdate = u })
  if not r then return nil, err end
  return ("Glue job %s (%s)"):format(name, table.concat(done, ", "))
end

-- What a hotswap needs to resolve values: account, region, physical ids
-- (ListStackResources, asked once, only when a value needs one).
local function environment(ctx, stack, template)
  local env = { region = ctx.region, stack = stack, template = template,
    account = (stack and stack.StackId or ""):match("^arn:[^:]+:cloudformation:[^:]*:(%d+):") or ctx.account }
  local ids, ids_err
  env.physical = function(id)
    if ids == nil and not ids_err then
      local res, err = cfn.stack_resources(ctx.client, stack.StackName)
      if res then
        ids = {}
        for _, r in ipairs(res) do ids[r.logical_id] = r.physical_id end
      else
        ids_err = err
      end
    end
    if not ids then return nil, ids_err end
    return ids[id]
  end
  return env
end

--- Applies the hotswappable changes of a plan.
-- @return array of lines (what changed) | nil, err
function M.apply(ctx, plan, template, stack)
  local env = environment(ctx, stack, template)
  local resolve = M.resolver(env)
  local function physical(id) return (env.physical(id)) end
  local lines = {}
  for _, ch in ipairs(plan.changes) do
    local props = template.Resources[ch.id].Properties or {}
    local line, err = APPLY[ch.type](ctx, ch, props, resolve, physical, env)
    if not line then return nil, ("%s: %s"):format(ch.id, tostring(err)) end
    lines[#lines + 1] = line
  end
  return lines
end

---------------------------------------------------------------------------
-- The drift record

--- The key of a stack's drift record in the assets bucket.
function M.mark_key(name) return "hotswap/" .. name .. ".json" end

--- Whether a stack has a drift record, from the deploy's listing of the
-- assets bucket when it is complete (no request), else nil (unknown).
function M.listed(ctx, name)
  local l = ctx.bucket_objects
  if not l then return nil end
  if l.sizes[M.mark_key(name)] then return true end
  if l.complete then return false end
  return nil
end

--- Reads a stack's drift record.
-- @return record table | false (none) | nil, err
function M.read_mark(ctx, name)
  if not ctx.bucket then return false end
  if M.listed(ctx, name) == false then return false end
  local body, err = s3.get_object(ctx.client, ctx.bucket, M.mark_key(name))
  if body == nil then return nil, err end
  if body == false then return false end
  local v = json.decode(body)
  if type(v) ~= "table" then return false end -- unreadable: as if absent (rewritten by the next hotswap)
  return v
end

local function write_mark(ctx, mark)
  local body = json.encode(mark)
  local ok, err = s3.put_object(ctx.client, ctx.bucket, M.mark_key(mark.stack),
    { body = body, content_type = "application/json" })
  if not ok then return nil, err end
  if ctx.bucket_objects then ctx.bucket_objects.sizes[M.mark_key(mark.stack)] = #body end
  return true
end

local function delete_mark(ctx, name)
  local ok, err = s3.delete_object(ctx.client, ctx.bucket, M.mark_key(name))
  if not ok then return nil, err end
  if ctx.bucket_objects then ctx.bucket_objects.sizes[M.mark_key(name)] = nil end
  return true
end

local function decode(text)
  local t = type(text) == "string" and json.decode(text) or nil
  return type(t) == "table" and t or nil
end

--- The entry's synthesized template as a table.
local function entry_template(entry)
  if entry.template == nil then entry.template = decode(entry.text or entry.body) or false end
  return entry.template or nil
end

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) end

--- Tries to hotswap one deployed stack (inside lake.deploy.deploy_stack).
-- @param s the stack as DescribeStacks returned it
-- @param cfn_hash the stamp of the template CloudFormation holds (lake.deploy.deployed_hash)
-- @return result { ok = true, status = "hotswapped"|"unchanged", message=, hotswapped = lines, hotswap = true }
--   | nil, why (the property paths that need CloudFormation, or what failed before changing anything)
function M.stack(ctx, entry, s, cfn_hash)
  local new = entry_template(entry)
  if not new then return nil, "the synthesized template does not read" end
  local mark, merr = M.read_mark(ctx, entry.name)
  if mark == nil then return nil, "cannot read the drift record: " .. tostring(merr) end
  if mark and mark.deployed ~= cfn_hash then mark = false end -- CloudFormation moved since: stale
  if mark and mark.hash == entry.hash then return { ok = true, status = "unchanged", message = "as hotswapped", hotswap = true } end
  if not mark and cfn_hash == entry.hash then return { ok = true, status = "unchanged", hotswap = true } end
  local old
  if mark and type(mark.template) == "table" then
    old = mark.template
  else
    local text, terr = s.template_text
    if not text then text, terr = cfn.get_template(ctx.client, entry.name) end
    if not text then return nil, "cannot read the deployed template: " .. tostring(terr) end
    s.template_text = text
    old = decode(text)
    if not old then return nil, "the deployed template does not read" end
  end
  local plan = M.plan(old, new)
  if #plan.blockers > 0 then return nil, "not hotswappable: " .. table.concat(plan.blockers, ", ") end
  if #plan.changes == 0 and not mark then return { ok = true, status = "unchanged", hotswap = true } end
  local lines, aerr = M.apply(ctx, plan, new, s)
  if not lines then return { ok = false, status = "failed", message = "hotswap: " .. tostring(aerr), hotswap = true } end
  local ok, werr = write_mark(ctx, { stack = entry.name, hash = entry.hash, deployed = cfn_hash,
    since = mark and mark.since or iso(ctx.now and ctx.now() or os.time()), template = new })
  if not ok then
    return { ok = false, status = "failed", hotswap = true,
      message = "hotswapped, but the drift record was not written: " .. tostring(werr) }
  end
  for _, l in ipairs(lines) do ctx.out(("%s: hotswapped %s"):format(entry.name, l)) end
  return { ok = true, status = "hotswapped", hotswapped = lines, hotswap = true }
end

--- After CloudFormation deployed a stack that was hotswapped: puts back
-- what CloudFormation left as hotswapped (a property it saw unchanged),
-- then deletes the drift record.
-- @return true | nil, err
function M.resync(ctx, entry)
  local mark, merr = M.read_mark(ctx, entry.name)
  if mark == nil then return nil, merr end
  if not mark then return true end
  local new = entry_template(entry)
  if type(mark.template) == "table" and new then
    local plan = M.plan(mark.template, new)
    if #plan.changes > 0 then
      local s, serr = cfn.describe_stack(ctx.client, entry.name, { max_attempts = 5 })
      if not s then return nil, serr or "the stack is gone" end
      local lines, aerr = M.apply(ctx, plan, new, s)
      if not lines then return nil, aerr end
      for _, l in ipairs(lines) do ctx.out(("%s: put back %s"):format(entry.name, l)) end
    end
  end
  return delete_mark(ctx, entry.name)
end

--- The drift records of an assets bucket: { [stack] = since } (one
-- listing, one read per record).
-- @return table | nil, err
function M.marks(c, bucket)
  -- (prefix without its '/': moto 5.2.1 miscomputes the signature of an encoded one)
  local objs, err = s3.list_objects(c, bucket, "hotswap")
  if not objs then return nil, err end
  local out = {}
  for _, o in ipairs(objs) do
    local name = o.key:match("^hotswap/(.+)%.json$")
    if name then
      local body = s3.get_object(c, bucket, o.key)
      local v = type(body) == "string" and json.decode(body) or nil
      out[name] = type(v) == "table" and v.since or "?"
    end
  end
  return out
end

return M
