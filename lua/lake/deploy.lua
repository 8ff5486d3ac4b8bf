--- The deploy engine: a synthesized output folder -> CloudFormation.
--
-- Reads only what synth wrote (manifest.json, templates, assets). Uploads
-- missing assets (one listing of the bucket tells which, several uploads at
-- a time), then creates or updates each stack through a
-- change set, summarised before it runs (lake.changes: what is added,
-- modified or replaced, removed; with an approval level, widened IAM
-- statements and security group rules wait for a yes), streaming its
-- events, in dependency order with up to
-- `concurrency` stacks in flight. A stack whose template hash (kept in its
-- Description by synth) and tags match what is deployed is skipped without
-- a change set. Every step is safe to repeat: an interrupted deploy
-- converges when run again.
--
-- Never silent: a watch (lake.deploy.watch) keeps the stacks in flight and
-- prints where they are at least every 30 s; polls that fail are retried
-- and said; an endpoint silent for the timeout, or a second Ctrl-C, stops
-- the deploy with the stacks still running named. A first Ctrl-C starts
-- nothing new and lets what runs settle. A stack found *_IN_PROGRESS is
-- waited for; one left in REVIEW_IN_PROGRESS (a change set never executed)
-- is deleted before the real create.
local cfn = require("lake.aws.cloudformation")
local changes = require("lake.changes")
local hotswap = require("lake.hotswap")
local endpoints = require("lake.aws.endpoints")
local s3 = require("lake.aws.s3")
local stamp = require("lake.stamp")
local util = require("lake.util")
local vpc_default_sg = require("lake.deploy.vpc_default_sg")
local watch_mod = require("lake.deploy.watch")
local fs = require("host.fs")
local crypto = require("host.crypto")
local json = require("host.json")
local yaml = require("host.yaml")

local M = {}

M.TOOLKIT_STACK = "lakehost-toolkit"

local TERMINAL_OK = { CREATE_COMPLETE = true, UPDATE_COMPLETE = true, IMPORT_COMPLETE = true }

--- Replaces ${AWS::AccountId}, ${AWS::Region}, ${AWS::Partition} in a value
-- that synth left symbolic (the assets bucket name).
function M.substitute(v, env)
  if type(v) == "string" then return v end
  local s = type(v) == "table" and v["Fn::Sub"]
  if type(s) ~= "string" then return nil end
  return (s:gsub("%${([^}]+)}", function(name)
    if name == "AWS::AccountId" then return env.account end
    if name == "AWS::Region" then return env.region end
    if name == "AWS::Partition" then return endpoints.partition(env.region) end
    if name == "AWS::URLSuffix" then return endpoints.dns_suffix(env.region) end
    return "${" .. name .. "}"
  end))
end

--- The hash stamped in the deployed template: from DescribeStacks'
-- Description, or when the stack reports none, from the template itself
-- (one GetTemplate call).
function M.deployed_hash(ctx, stack)
  local h = stamp.of(stack.Description)
  if h or stack.Description then return h end
  stack.template_text = cfn.get_template(ctx.client, stack.StackName) -- kept for the change review
  return stamp.of_text(stack.template_text)
end

--- Whether a stack carries a hotswap drift record (lake.hotswap): from
-- the deploy's listing of the assets bucket, else one HeadObject. Not
-- knowing counts as drifted (a change set is never wrong).
function M.hotswapped(ctx, name)
  if not ctx.bucket then return false end
  local listed = hotswap.listed(ctx, name)
  if listed ~= nil then return listed end
  local key = hotswap.mark_key(name)
  local have = M.existing(ctx, { key })
  return not have or have[key] ~= nil
end

--- Glob match with '*' and '?' (stack selection).
local function glob_match(pattern, s)
  local lp = "^" .. pattern:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".") .. "$"
  return s:match(lp) ~= nil
end
M.glob_match = glob_match

--- Chooses stacks by name or glob, adding their dependencies unless exclusively.
-- @param manifest table (stacks in deploy order)
-- @param selectors array of names/globs; empty = every stack
-- @return array of manifest stack entries in deploy order | nil, message
function M.select(manifest, selectors, exclusively)
  local by = {}
  for _, s in ipairs(manifest.stacks) do by[s.name] = s end
  if #selectors == 0 then return manifest.stacks end
  local chosen = {}
  for _, sel in ipairs(selectors) do
    local hit = false
    for _, s in ipairs(manifest.stacks) do
      if s.name == sel or glob_match(sel, s.name) then chosen[s.name] = true; hit = true end
    end
    if not hit then
      local names = {}
      for _, s in ipairs(manifest.stacks) do names[#names + 1] = s.name end
      return nil, ("no stack matches '%s'%s"):format(sel, util.suggest(sel, names))
    end
  end
  if not exclusively then
    local function add(name)
      for _, d in ipairs(by[name].dependencies or {}) do
        if not chosen[d] then chosen[d] = true; add(d) end
      end
    end
    for name in pairs(util.copy(chosen)) do add(name) end
  end
  local out = {}
  for _, s in ipairs(manifest.stacks) do if chosen[s.name] then out[#out + 1] = s end end
  return out
end

---------------------------------------------------------------------------
-- Scheduling: each stack operation is a coroutine that yields the number of
-- seconds it wants to wait; the scheduler keeps `concurrency` of them going
-- and starts a stack once every dependency in the plan succeeded.

--- The context's watch (made on first use for contexts built without one).
function M.watch(ctx)
  if not ctx.watch then
    ctx.watch = watch_mod.new { now = ctx.now, out = ctx.err or function() end,
      last_answer = function() return ctx.client and ctx.client.last_answer end,
      interrupts = ctx.interrupts, timeout = ctx.timeout }
  end
  return ctx.watch
end

--- Waits inside a stack operation (yields to the scheduler; outside one,
-- as bootstrap runs, ticks the watch and sleeps).
local function wait(ctx, seconds)
  if coroutine.isyieldable() then
    coroutine.yield(seconds)
  else
    M.watch(ctx):tick()
    ctx.sleep(seconds)
  end
end

--- Runs op(entry) for every entry, dependencies first.
-- @param entries array of { name=, dependencies = {...} } in deploy order
-- @param op function(entry) -> result table { ok = bool, ... }
-- @param opts { concurrency = 4, reverse = bool (destroy: dependents first), sleep=, now=,
--   on_resume = function(entry|nil) called around each step (per-stack accounting),
--   stop = function() -> nil | "settle" | reason: "settle" starts nothing new and lets
--     what runs finish; any other reason abandons what runs too,
--   tick = function() called between steps (progress lines) }
-- @return results by name, failed count, the stop reason (when the run stopped early)
function M.schedule(entries, op, opts)
  local concurrency = math.max(1, opts.concurrency or 4)
  local in_plan, results, running = {}, {}, {}
  for _, e in ipairs(entries) do in_plan[e.name] = e end
  -- before[name] = names that must finish first
  local before = {}
  for _, e in ipairs(entries) do before[e.name] = {} end
  for _, e in ipairs(entries) do
    for _, d in ipairs(e.dependencies or {}) do
      if in_plan[d] then
        if opts.reverse then table.insert(before[d], e.name) else table.insert(before[e.name], d) end
      end
    end
  end
  local pending = {}
  for _, e in ipairs(entries) do pending[#pending + 1] = e end
  if opts.reverse then
    local r = {}
    for i = #pending, 1, -1 do r[#r + 1] = pending[i] end
    pending = r
  end
  local failed, stopped = 0, nil
  while #pending > 0 or #running > 0 do
    local stop = opts.stop and opts.stop()
    if stop then
      stopped = stop
      for _, e in ipairs(pending) do
        results[e.name] = { ok = false, skipped = true, status = "not started", message = "the run was stopped" }
        failed = failed + 1
      end
      pending = {}
      if stop ~= "settle" then
        for _, r in ipairs(running) do
          results[r.entry.name] = { ok = false, status = "stopped", message = "abandoned while running",
            seconds = r.started and (opts.now() - r.started) or 0 }
          failed = failed + 1
        end
        break
      end
    end
    if opts.tick then opts.tick() end
    -- start what can start
    local i = 1
    while i <= #pending and #running < concurrency do
      local e = pending[i]
      local state = "ready"
      for _, b in ipairs(before[e.name]) do
        local r = results[b]
        if not r then state = "wait" break end
        if not r.ok then state = "skip" break end
      end
      if state == "skip" then
        results[e.name] = { ok = false, skipped = true, status = "skipped", message = "a stack it depends on failed" }
        failed = failed + 1
        table.remove(pending, i)
      elseif state == "ready" then
        table.remove(pending, i)
        local co = coroutine.create(op)
        running[#running + 1] = { entry = e, co = co, wake = 0, first = true }
      else
        i = i + 1
      end
    end
    if #running == 0 and #pending > 0 then
      -- nothing can run: dependencies outside the plan failed or a cycle
      for _, e in ipairs(pending) do
        results[e.name] = { ok = false, skipped = true, status = "skipped", message = "its dependencies did not finish" }
        failed = failed + 1
      end
      break
    end
    -- resume whatever is due, earliest first
    local now = opts.now()
    local soonest = math.huge
    local j = 1
    while j <= #running do
      local r = running[j]
      if r.wake <= now then
        local ok, res
        if opts.on_resume then opts.on_resume(r.entry) end
        if r.first then
          r.started = opts.now()
          ok, res = coroutine.resume(r.co, r.entry)
          r.first = false
        else
          ok, res = coroutine.resume(r.co)
        end
        if opts.on_resume then opts.on_resume(nil) end
        if not ok then
          res = { ok = false, status = "failed", message = tostring(res) }
        end
        if coroutine.status(r.co) == "dead" then
          res.seconds = opts.now() - r.started
          results[r.entry.name] = res
          if not res.ok then failed = failed + 1 end
          table.remove(running, j)
        else
          r.wake = opts.now() + (tonumber(res) or 1)
          soonest = math.min(soonest, r.wake)
          j = j + 1
        end
      else
        soonest = math.min(soonest, r.wake)
        j = j + 1
      end
    end
    local halt = opts.stop and opts.stop()
    if #running > 0 and soonest ~= math.huge and not (halt and halt ~= "settle") then
      local d = soonest - opts.now()
      -- something may have finished and freed a slot: only sleep when nothing is startable
      if d > 0 then opts.sleep(math.min(d, 5)) end
    end
  end
  return results, failed, stopped
end

---------------------------------------------------------------------------
-- Stack operations

local function fmt_time(iso)
  return (iso and iso:match("T(%d%d:%d%d:%d%d)")) or "--:--:--"
end

--- An error of a poll, short: a transport failure is its message alone.
function M.why(err)
  if type(err) == "table" and err.kind and err.kind ~= "api" and err.message then return err.message end
  return tostring(err)
end

-- Seconds a status or events poll may take before it counts as no answer.
local function poll_opts(ctx)
  local w = M.watch(ctx)
  return { max_attempts = 1, timeout = math.max(1, math.min(5, w.timeout / 10)) }
end

--- Prints stack events not seen yet, oldest first.
-- @return the fresh events, newest first | nil when the poll failed
local function stream_events(ctx, name, seen)
  local events, err = cfn.stack_events(ctx.client, name, poll_opts(ctx))
  if not events then -- a failed poll is not a failed deploy: said, and tried again
    if not seen.baseline then M.watch(ctx):trouble(name, "reading events failed: " .. M.why(err)) end
    return nil
  end
  local fresh = {}
  for _, e in ipairs(events) do
    if seen[e.id] then break end
    fresh[#fresh + 1] = e
  end
  if fresh[1] then
    local e = fresh[1]
    M.watch(ctx):update(name, nil, ("%s %s %s"):format(fmt_time(e.time), e.logical_id or "?", e.status or "?"))
  end
  for i = #fresh, 1, -1 do
    local e = fresh[i]
    seen[e.id] = true
    if not seen.baseline then
      ctx.out(("  %s  %-36s %-32s %-40s %s%s"):format(fmt_time(e.time), name, e.logical_id or "",
        e.type or "", e.status or "", e.reason and e.reason ~= "" and ("  " .. e.reason) or ""))
    end
  end
  return fresh
end

--- What the newest of fresh events (newest first) says of the stack itself:
-- its status when it ended in *_COMPLETE (nothing more to ask), false when
-- it settled otherwise (a failure: DescribeStacks says how), nil while in
-- progress or when no event is the stack's.
local function settled(fresh, name)
  for _, e in ipairs(fresh) do
    if e.logical_id == name and e.type == "AWS::CloudFormation::Stack" and e.status then
      if e.status:match("_IN_PROGRESS$") then return nil end
      return e.status:match("_COMPLETE$") and e.status or false
    end
  end
  return nil
end

--- The resources that failed in the latest operation, with reasons: the
-- newest events back to the one that started it ("User Initiated").
local function failures(ctx, name)
  local events = cfn.stack_events(ctx.client, name, { max_attempts = 10 }) or {}
  local out = {}
  for _, e in ipairs(events) do
    if e.logical_id == name and e.reason == "User Initiated" then break end
    if e.status and e.status:match("FAILED$") and e.reason and e.reason ~= ""
       and not e.reason:match("^Resource creation cancelled") and e.logical_id ~= name then
      out[#out + 1] = ("%s (%s): %s"):format(e.logical_id, e.type or "?", e.reason)
    end
  end
  return out
end

--- Polls a stack until it leaves *_IN_PROGRESS, streaming events. When
-- seen.mine says every event not seen yet belongs to the operation waited
-- for, the events alone tell when the stack completed (one request a poll);
-- DescribeStacks is asked when a poll brings no new event, or a failure.
-- Failed polls are said and retried with backoff; the watch decides when
-- silence has lasted too long (the scheduler then stops).
-- @param status the status the operation starts in (for progress lines)
-- @return final status, stack (when DescribeStacks told) | nil, err
local function wait_stack(ctx, name, seen, status)
  local w = M.watch(ctx)
  local delay = 0.5
  w:begin(name, status)
  -- the run is being abandoned: the stack stays named as in flight
  local function halted()
    local r = w:stop_reason()
    return r ~= nil and r ~= "settle"
  end
  while true do
    local fresh = stream_events(ctx, name, seen)
    if halted() then return nil, "stopped while " .. name .. " was in progress" end
    local final = seen.mine and fresh and settled(fresh, name)
    if final then w:finish(name) return final end
    local s, err
    if not seen.mine or final == false or not fresh or #fresh == 0 then
      w:tick() -- a slow poll must not hold the progress lines back
      s, err = cfn.describe_stack(ctx.client, name, poll_opts(ctx))
      if halted() then return nil, "stopped while " .. name .. " was in progress" end
      if s == false then w:finish(name) return "DELETE_COMPLETE" end
      if s and not s.StackStatus:match("_IN_PROGRESS$") then
        stream_events(ctx, name, seen)
        w:finish(name)
        return s.StackStatus, s
      end
    end
    w:tick()
    if s or not err then
      if s then w:update(name, s.StackStatus) end
      delay = math.min(delay * 1.5, 5)
    elseif not err.throttled and err.kind ~= "transport" and err.status and err.status < 500 then
      w:finish(name)
      return nil, err
    else
      w:trouble(name, "reading its status failed: " .. M.why(err))
      delay = math.min(math.max(delay, 1) * 2, math.max(1, math.min(10, w.timeout / 5)))
    end
    wait(ctx, delay)
  end
end

--- True when the run is stopping: nothing new may start on CloudFormation.
local function stopping(ctx) return M.watch(ctx):stop_reason() ~= nil end

local INTERRUPTED = { ok = false, status = "not started", message = "the run was stopped before it changed anything" }

--- A template text as a table: JSON (what synth writes), else YAML (a
-- stack deployed by another tool); nil when neither reads.
local function decode_template(text)
  if type(text) ~= "string" then return nil end
  local t = json.decode(text)
  if type(t) ~= "table" then t = yaml.load(text, "template") end
  return type(t) == "table" and t or nil
end

--- The entry's template as a table (decoded once), or nil.
local function entry_template(entry)
  if entry.template == nil then entry.template = decode_template(entry.text or entry.body) or false end
  return entry.template or nil
end

--- Creates a change set and waits for it to be ready. Capabilities are
-- those the template needs (lake.changes.capabilities); all of its
-- changes are read, page by page.
-- @return change set description | "nochange" | nil, err
local function make_change_set(ctx, entry, typ, cs_name)
  local tpl = entry_template(entry)
  local params = {
    stack = entry.name, name = cs_name, type = typ, tags = entry.tags, description = "lakehost deploy",
    deployment_mode = ctx.express and "EXPRESS" or nil,
    capabilities = tpl and changes.capabilities(tpl) or nil, -- unreadable: all of them, as before
  }
  if entry.template_url then params.url = entry.template_url else params.body = entry.body end
  local r, err = cfn.create_change_set(ctx.client, params)
  if not r and err.code == "AlreadyExistsException" then
    cfn.delete_change_set(ctx.client, entry.name, cs_name)
    r, err = cfn.create_change_set(ctx.client, params)
  end
  if not r and err.code == "InsufficientCapabilitiesException" and params.capabilities then
    -- what this template cannot show (a macro's output): CloudFormation names it
    local caps = params.capabilities
    for cap in tostring(err.message):gmatch("CAPABILITY_[%u_]+") do
      if not util.contains(caps, cap) then caps[#caps + 1] = cap end
    end
    ctx.progress(("%s: CloudFormation asks for %s"):format(entry.name, table.concat(caps, ", ")))
    r, err = cfn.create_change_set(ctx.client, params)
  end
  if not r then return nil, err end
  local delay = 0.3
  while true do
    local d, derr = cfn.describe_change_set(ctx.client, entry.name, cs_name, { max_attempts = 10 })
    if d then
      if d.status == "CREATE_COMPLETE" then
        d.id = r.id -- its ARN: names are unique only among a stack's change sets
        local token = d.next_token
        while token do
          local more, merr = cfn.describe_change_set(ctx.client, entry.name, cs_name, { max_attempts = 10 }, token)
          if not more then return nil, merr end
          for _, ch in ipairs(more.changes) do d.changes[#d.changes + 1] = ch end
          token = more.next_token
        end
        return d
      end
      if d.status == "FAILED" then
        local reason = tostring(d.reason or "")
        if reason:find("didn't contain changes", 1, true) or reason:find("No updates are to be performed", 1, true) then
          cfn.delete_change_set(ctx.client, entry.name, cs_name)
          return "nochange"
        end
        return nil, "the change set failed: " .. reason
      end
    elseif not derr.throttled and derr.kind ~= "transport" and (derr.status or 500) < 500 then
      return nil, derr
    end
    wait(ctx, delay)
    delay = math.min(delay * 1.5, 3)
  end
end

--- Drops a change set that will not run (by ARN when known): the stack
-- too when the change set made it (an empty stack in REVIEW_IN_PROGRESS).
-- @return true | nil, err
local function discard(ctx, name, cs_name, made_stack)
  if made_stack then
    local ok, err = cfn.delete_stack(ctx.client, name)
    if not ok then return nil, err end
    local final, werr = wait_stack(ctx, name, { baseline = true }, "DELETE_IN_PROGRESS")
    if final ~= "DELETE_COMPLETE" then return nil, werr or final end
    return true
  end
  return cfn.delete_change_set(ctx.client, name, cs_name)
end

--- Prints a ready change set's summary and decides whether it runs: a dry
-- run stops here; an approval level (ctx.require_approval) may ask
-- (ctx.approve(name, level, lines) -> true | false | nil: no terminal).
-- @return summary, nil (go on) | summary, result (it does not run)
local function review(ctx, entry, s, typ, cs, cs_name)
  local name = entry.name
  cs_name = cs.id or cs_name
  local level = ctx.require_approval
  local asking = level ~= nil and level ~= "never"
  local new = entry_template(entry)
  local old, need_old = nil, typ == "UPDATE" and asking
  for _, c in ipairs(cs.changes) do
    if typ == "UPDATE" and c.action == "Modify" and not c.replacement then need_old = true end
  end
  if need_old then
    local text, terr = s.template_text
    if not text then text, terr = cfn.get_template(ctx.client, name) end
    if not text then
      discard(ctx, name, cs_name, false)
      return nil, { ok = false, status = "failed", message = "cannot read the deployed template: " .. tostring(terr) }
    end
    old = decode_template(text)
  end
  local summary = changes.summary(cs.changes, old, new)
  if need_old and not old then summary.source = summary.source .. "; the deployed template did not read" end
  for _, line in ipairs(changes.format_summary(name, summary)) do ctx.out(line) end
  local needed, lines = false, {}
  if asking then needed, lines = changes.approval(level, summary, changes.security(old, new)) end
  if needed then summary.approval = lines end
  local made_stack = s == false
  if ctx.dry_run then
    if needed then
      ctx.err(("%s would need approval (--require-approval %s):"):format(name, level))
      for _, l in ipairs(lines) do ctx.err("  " .. l) end
    end
    local ok, derr = discard(ctx, name, cs_name, made_stack)
    if not ok then
      return summary, { ok = false, status = "failed", message = "dry run: cannot delete the change set: " .. tostring(derr) }
    end
    return summary, { ok = true, status = typ == "CREATE" and "to create" or "to update" }
  end
  if needed then
    local yes = ctx.approve and ctx.approve(name, level, lines)
    if not yes then
      local ok, derr = discard(ctx, name, cs_name, made_stack)
      local r = { ok = false, status = "refused", failures = yes == nil and lines or nil,
        message = yes == nil and ("needs approval (--require-approval %s) and there is no terminal to ask"):format(level)
          or "not approved" }
      if not ok then r.message = r.message .. "; the change set is left: " .. tostring(derr) end
      return summary, r
    end
  end
  return summary, nil
end

--- r with the stack's outputs (lake.changes.outputs) and change summary
-- when there are any.
local function described(r, stack, summary)
  local outs = type(stack) == "table" and changes.outputs(stack.Outputs) or {}
  if #outs > 0 then r.outputs = outs end
  if summary and #summary.added + #summary.modified + #summary.removed > 0 then r.changes = summary end
  return r
end

local deploy_once

-- Statuses after which a stack's "after deploy" steps run (not a dry run's).
local DEPLOYED = { created = true, updated = true, unchanged = true }

--- Deploys one stack (runs inside the scheduler), then the steps that
-- CloudFormation cannot do for it (lake.deploy.vpc_default_sg).
-- @param ctx table the deploy context
-- @param entry table { name=, body=, template_url=, hash=, tags = {} }
-- @return { ok = bool, status = "created"|"updated"|"unchanged"|"failed"|"refused"|"to create"|"to update"
--   (dry run), message=, failures = {...}, outputs = { {key=, value=, export=} } (when it has any),
--   changes = lake.changes.summary (when the change set changes resources) }
function M.deploy_stack(ctx, entry)
  local r = deploy_once(ctx, entry)
  if r.ok and DEPLOYED[r.status] and not ctx.dry_run then
    local ok, err = vpc_default_sg.after_deploy(ctx, entry)
    if not ok then r.ok, r.status, r.message = false, "failed", tostring(err) end
  end
  if r.ok and DEPLOYED[r.status] and not ctx.dry_run and entry.marked and not r.hotswap then
    -- CloudFormation caught up with a hotswapped stack: what it saw as
    -- unchanged is put back, then the drift record goes
    local ok, err = hotswap.resync(ctx, entry)
    if not ok then r.ok, r.status, r.message = false, "failed", "after deploy, hotswap drift: " .. tostring(err) end
  end
  return r
end

function deploy_once(ctx, entry)
  local name = entry.name
  local s, err
  local listed_absent = ctx.absent and ctx.absent[name]
  if listed_absent then -- M.survey saw no such stack: no need to ask (once)
    ctx.absent[name] = nil
    s = false
  else
    s, err = cfn.describe_stack(ctx.client, name, { max_attempts = 10 })
  end
  if s == nil then return { ok = false, status = "failed", message = tostring(err) } end
  if s and s.StackStatus:match("_IN_PROGRESS$") and s.StackStatus ~= "REVIEW_IN_PROGRESS" then
    -- an earlier operation (another deploy, one interrupted, the console) runs
    ctx.err(("%s: %s from an earlier operation: waiting for it to settle"):format(name, s.StackStatus))
    local final, now = wait_stack(ctx, name, { baseline = true }, s.StackStatus)
    if not final then return { ok = false, status = "failed", message = tostring(now) } end
    s = final ~= "DELETE_COMPLETE" and now
    if s then ctx.err(("%s: settled in %s"):format(name, final)) end
  end
  if stopping(ctx) then return INTERRUPTED end
  local typ = "CREATE"
  if s then
    local st = s.StackStatus
    local fresh_start -- why the stack is deleted and created again, if it is
    if st == "REVIEW_IN_PROGRESS" and not ctx.dry_run then
      -- created by a change set that was never executed (a deploy killed
      -- between the two calls): it holds no resources; start afresh
      fresh_start = "REVIEW_IN_PROGRESS (a change set never executed, it holds no resources): "
        .. "deleting the empty stack before creating it"
    elseif st == "REVIEW_IN_PROGRESS" then
      s = false -- (dry run) a CREATE change set, deleted with the empty stack after its summary
    elseif (st == "ROLLBACK_COMPLETE" or st == "ROLLBACK_FAILED") and ctx.dry_run then
      ctx.out(("%s: %s after a failed first create: a deploy deletes it and creates it again"):format(name, st))
      return { ok = true, status = "to create" }
    elseif st == "ROLLBACK_COMPLETE" or st == "ROLLBACK_FAILED" then
      fresh_start = st .. " after a failed first create: deleting it before creating it again"
    elseif st == "UPDATE_ROLLBACK_FAILED" then
      if not ctx.continue_rollback or ctx.dry_run then
        return { ok = false, status = "failed",
          message = "stack is UPDATE_ROLLBACK_FAILED: fix the cause, then deploy with --continue-rollback" }
      end
      local ok, cerr = cfn.continue_update_rollback(ctx.client, name)
      if not ok then return { ok = false, status = "failed", message = tostring(cerr) } end
      local final, werr = wait_stack(ctx, name, {}, "UPDATE_ROLLBACK_IN_PROGRESS")
      if final ~= "UPDATE_ROLLBACK_COMPLETE" then
        return { ok = false, status = "failed", message = ("ContinueUpdateRollback ended in %s"):format(tostring(werr or final)) }
      end
      typ = "UPDATE"
    else
      typ = "UPDATE"
      -- a stack hotswapped since CloudFormation deployed it is never unchanged (lake.hotswap)
      entry.marked = M.hotswapped(ctx, name)
      local deployed = M.deployed_hash(ctx, s)
      if not ctx.force and not entry.marked and entry.hash and deployed == entry.hash then
        return described({ ok = true, status = "unchanged" }, s)
      end
      if ctx.hotswap and not ctx.dry_run and (st == "CREATE_COMPLETE" or st == "UPDATE_COMPLETE"
          or st == "UPDATE_ROLLBACK_COMPLETE" or st == "IMPORT_COMPLETE") then
        local r, why = hotswap.stack(ctx, entry, s, deployed)
        if r then return r end
        if ctx.hotswap == "only" then
          return { ok = false, status = "refused", hotswap_only = true,
            message = ("%s: not deployed (--hotswap-only)"):format(why) }
        end
        ctx.out(("%s: CloudFormation (%s)"):format(name, why))
      end
    end
    if fresh_start then
      ctx.err(("%s: %s"):format(name, fresh_start))
      local ok, derr = cfn.delete_stack(ctx.client, name)
      if not ok then return { ok = false, status = "failed", message = tostring(derr) } end
      local final, werr = wait_stack(ctx, name, { baseline = true }, "DELETE_IN_PROGRESS")
      if final ~= "DELETE_COMPLETE" then
        return { ok = false, status = "failed", message = ("could not delete it: %s"):format(tostring(werr or final)) }
      end
      s = false
    end
  end
  local cs_name = ("lakehost-%s-%d"):format(entry.hash or "x", math.floor(ctx.now()))
  local cs, cerr = make_change_set(ctx, entry, typ, cs_name)
  if not cs and listed_absent and tostring(cerr):find("already exists", 1, true) then
    return deploy_once(ctx, entry) -- the listing was behind: ask, and go on from what the stack is
  end
  if not cs then return { ok = false, status = "failed", message = tostring(cerr) } end
  if cs == "nochange" then return described({ ok = true, status = "unchanged" }, s) end
  if stopping(ctx) then
    discard(ctx, name, cs.id or cs_name, s == false) -- with the empty stack a first change set made
    return INTERRUPTED
  end
  local summary, stop = review(ctx, entry, s, typ, cs, cs_name)
  if stop then return described(stop, nil, summary) end
  local seen = { baseline = true }
  -- a new stack has no history; an old one's is marked seen first
  seen.mine = not s or stream_events(ctx, name, seen) ~= nil
  seen.baseline = nil
  local ok, xerr = cfn.execute_change_set(ctx.client, name, cs_name)
  if not ok then return { ok = false, status = "failed", message = tostring(xerr) } end
  local final, stack_or_err = wait_stack(ctx, name, seen, typ .. "_IN_PROGRESS")
  if final and TERMINAL_OK[final] then
    local tpl = entry_template(entry)
    if not stack_or_err and tpl and type(tpl.Outputs) == "table" and next(tpl.Outputs) then
      -- the events told the end; the outputs are only in DescribeStacks
      stack_or_err = cfn.describe_stack(ctx.client, name, { max_attempts = 3 }) or nil
    end
    return described({ ok = true, status = typ == "CREATE" and "created" or "updated" }, stack_or_err, summary)
  end
  return described({ ok = false, status = "failed", message = ("ended in %s"):format(tostring(final or stack_or_err)),
    failures = final and failures(ctx, name) or nil }, nil, summary)
end

--- Deletes one stack (runs inside the scheduler).
function M.destroy_stack(ctx, entry)
  local s, err = cfn.describe_stack(ctx.client, entry.name, { max_attempts = 10 })
  if s == nil then return { ok = false, status = "failed", message = tostring(err) } end
  if s == false then return { ok = true, status = "absent" } end
  local seen = { baseline = true }
  seen.mine = stream_events(ctx, entry.name, seen) ~= nil
  seen.baseline = nil
  if stopping(ctx) then return INTERRUPTED end
  local ok, derr = cfn.delete_stack(ctx.client, entry.name)
  if not ok then return { ok = false, status = "failed", message = tostring(derr) } end
  local final, werr = wait_stack(ctx, entry.name, seen, "DELETE_IN_PROGRESS")
  if final == "DELETE_COMPLETE" then return { ok = true, status = "deleted" } end
  return { ok = false, status = "failed", message = ("ended in %s"):format(tostring(final or werr)),
    failures = final and failures(ctx, entry.name) or nil }
end

---------------------------------------------------------------------------
-- What exists already

--- Which stacks exist, from ListStacks (one page per 100 stacks of the
-- region), read for at most as many pages as asking for each named stack
-- would take requests. When the listing is complete, every named stack it
-- lacks goes in ctx.absent (deploy_stack then creates it without asking
-- first). Never fails: without an answer (no cloudformation:ListStacks
-- permission, say) nothing is known and every stack is asked for.
-- @param names array of stack names
-- @return { toolkit = the toolkit stack's summary { name=, id=, status= } | false (absent) | nil (not known) }
function M.survey(ctx, names)
  local list, more = cfn.list_stacks(ctx.client, { max_pages = math.max(1, #names) })
  if not list then return {} end
  local found = {}
  for _, st in ipairs(list) do found[st.name] = st end
  if more then return { toolkit = found[M.TOOLKIT_STACK] } end
  ctx.absent = {}
  for _, n in ipairs(names) do
    if not found[n] then ctx.absent[n] = true end
  end
  return { toolkit = found[M.TOOLKIT_STACK] or false }
end

--- The account a stack id (an ARN) names, or nil.
function M.account_of(stack_id)
  return type(stack_id) == "string" and stack_id:match("^arn:[^:]+:cloudformation:[^:]*:(%d+):") or nil
end

--- Which of keys the assets bucket holds, with their sizes. The bucket holds
-- lakehost's objects only (assets at its root, large templates under
-- templates/), so one listing of it, paged and kept in ctx for the rest of
-- the deploy, answers for every key. A bucket so full that listing it
-- would take more pages than there are keys is listed that far, and the
-- keys not seen are asked for with HeadObject, several at once.
-- @param keys array of object keys
-- @return { [key] = size } for the keys it holds | nil, err
function M.existing(ctx, keys)
  local l = ctx.bucket_objects
  if not l then
    local objs, more_or_err = s3.list_objects(ctx.client, ctx.bucket, nil, { max_pages = math.max(1, #keys) })
    if not objs then return nil, more_or_err end
    local more = more_or_err
    l = { sizes = {}, complete = not more }
    for _, o in ipairs(objs) do l.sizes[o.key] = o.size end
    ctx.bucket_objects = l
  end
  local out, ask = {}, {}
  for _, k in ipairs(keys) do
    if l.sizes[k] then out[k] = l.sizes[k] elseif not l.complete then ask[#ask + 1] = k end
  end
  if #ask > 0 then
    local heads, errs = s3.head_objects(ctx.client, ctx.bucket, ask, { parallel = ctx.upload_parallel })
    for i, k in ipairs(ask) do
      if heads[i] == nil then return nil, ("%s: %s"):format(k, tostring(errs[i])) end
      if heads[i] then out[k], l.sizes[k] = heads[i].size, heads[i].size end
    end
  end
  return out
end

-- Uploads objects ({ key=, file= | body=, content_type=, size=, named= }),
-- `parallel` at a time, in windows so the progress lines follow the
-- uploads. Records each in ctx's listing once it is there.
-- @return true | nil, err (the first that failed, in order)
local function put_all(ctx, objects)
  local parallel = ctx.upload_parallel or M.UPLOAD_PARALLEL
  local window = parallel * 8
  for from = 1, #objects, window do
    local part = {}
    for i = from, math.min(#objects, from + window - 1) do
      local o = objects[i]
      part[#part + 1] = o
      if o.progress then ctx.progress(o.progress) end
    end
    local puts, errs = s3.put_objects(ctx.client, ctx.bucket, part, { parallel = parallel })
    local failed = {}
    for i, o in ipairs(part) do
      if puts[i] then
        if ctx.bucket_objects then ctx.bucket_objects.sizes[o.key] = o.size end
      else
        failed[#failed + 1] = ("%s: %s"):format(o.named, tostring(errs[i]))
      end
    end
    if #failed > 0 then
      return nil, failed[1] .. (#failed > 1 and (" (and %d more uploads failed)"):format(#failed - 1) or "")
    end
  end
  return true
end

---------------------------------------------------------------------------
-- Assets and templates

--- Uploads at a time (PutObject, HeadObject).
M.UPLOAD_PARALLEL = 4

--- Uploads the manifest's assets that the bucket does not have (by key and
-- size) yet: one look per file, however many asset ids it is (version 2
-- lists the ids of a file together; version 1 had an entry per id), all
-- answered by one listing of the bucket (M.existing); the missing ones go
-- up ctx.upload_parallel (4) at a time.
-- @return { uploaded = n, present = n, bytes = n } | nil, err
function M.upload_assets(ctx, manifest, out_dir)
  local stats = { uploaded = 0, present = 0, bytes = 0 }
  local files, keys, seen = {}, {}, {}
  for _, a in ipairs(manifest.assets or {}) do
    if not seen[a.key] then
      seen[a.key] = true
      files[#files + 1] = a
      keys[#keys + 1] = a.key
    end
  end
  if #files == 0 then return stats end
  local have, err = M.existing(ctx, keys)
  if not have then return nil, ("assets bucket %s: %s"):format(ctx.bucket, tostring(err)) end
  local missing = {}
  for _, a in ipairs(files) do
    if have[a.key] and have[a.key] == a.size then
      stats.present = stats.present + 1
    else
      local named = a.ids and (#a.ids > 1 and ("%s and %d more"):format(a.ids[1], #a.ids - 1) or a.ids[1]) or a.id
      missing[#missing + 1] = { key = a.key, file = out_dir .. "/" .. a.file, size = a.size or 0,
        content_type = a.key:match("%.zip$") and "application/zip" or "text/plain", named = "asset " .. named,
        progress = ("uploading %s (%s, %d bytes)"):format(a.key, named, a.size or 0) }
    end
  end
  local ok, perr = put_all(ctx, missing)
  if not ok then return nil, perr end
  for _, o in ipairs(missing) do
    stats.uploaded = stats.uploaded + 1
    stats.bytes = stats.bytes + o.size
  end
  return stats
end

--- The URL CloudFormation reads a large template from.
function M.template_url(ctx, key)
  local ep = ctx.client:endpoint("s3")
  if ep.custom then return ("%s/%s/%s"):format(ep.url, ctx.bucket, s3.encode_key(key)) end
  return ("https://%s.s3.%s.%s/%s"):format(ctx.bucket, ctx.region, endpoints.dns_suffix(ctx.region),
    s3.encode_key(key))
end

-- CloudFormation takes a template of at most this many bytes in a request.
M.BODY_MAX = 51200

--- Loads the templates of the chosen stacks. A template over 51,200 bytes
-- is sent without the whitespace synth writes for people (most of its
-- bytes); if that is still too large it goes to the assets bucket
-- (uploaded once, named by its hash; which are there already is learnt
-- from the listing upload_assets made).
-- @return array of entries for deploy_stack | nil, err
function M.prepare(ctx, stacks, out_dir)
  local entries, large, keys = {}, {}, {}
  for _, s in ipairs(stacks) do
    local text, err = fs.read(out_dir .. "/" .. s.template)
    if not text then return nil, err end
    local body = text
    if #body > M.BODY_MAX then
      local tpl, jerr = json.decode(text)
      if tpl == nil then return nil, ("%s/%s: %s"):format(out_dir, s.template, tostring(jerr)) end
      body = json.encode(tpl)
    end
    local e = { name = s.name, dependencies = s.dependencies, tags = s.tags, hash = s.hash, body = body, text = text }
    if #body > M.BODY_MAX then
      if not ctx.bucket then
        return nil, ("template of %s is %d bytes: it must go through the assets bucket; run bootstrap first"):format(s.name, #body)
      end
      local key = ("templates/%s-%s.json"):format(s.name, crypto.sha256_hex(body):sub(1, 16))
      large[#large + 1] = { key = key, body = body, size = #body, content_type = "application/json",
        named = "template of " .. s.name }
      keys[#keys + 1] = key
      e.template_url = M.template_url(ctx, key)
      e.body = nil
    end
    entries[#entries + 1] = e
  end
  if #large > 0 then
    local have, err = M.existing(ctx, keys)
    if not have then return nil, ("assets bucket %s: %s"):format(ctx.bucket, tostring(err)) end
    local missing = {}
    for _, t in ipairs(large) do
      if not have[t.key] then missing[#missing + 1] = t end
    end
    local ok, perr = put_all(ctx, missing)
    if not ok then return nil, perr end
  end
  return entries
end

return M
