--- `deploy [STACK...]`: synth output -> AWS, through change sets,
-- dependencies first; unchanged stacks are skipped.
local cfn = require("lake.aws.cloudformation")
local changes = require("lake.changes")
local common = require("lake.commands.common")
local deploy = require("lake.deploy")
local errors = require("lake.errors")
local hotswap = require("lake.hotswap")
local lock = require("lake.lock")
local json = require("host.json")
local proc = require("host.proc")
local util = require("lake.util")

local M = {
  synopsis = "[STACK...]",
  summary = "deploy stacks (all when none given)",
  args = true,
  options = common.aws_options { out = "DIR", from = "DIR", concurrency = "N", express = true, exclusively = true,
    continue_rollback = true, force = true, verbose = true, stats = true, builder = "NAME", no_wait = true,
    timeout = common.WAIT_OPTIONS.timeout, require_approval = "LEVEL", dry_run = true, json = true,
    hotswap = true, hotswap_only = true },
  help = [[
usage: lakehost APP.lua deploy [STACK...] [OPTIONS]

Synthesizes the app, uploads the assets the bucket lacks and creates or
updates every stack (or the named ones; globs such as 'lake-*-stack-dev'
work) through change sets, dependencies first. Unchanged stacks are skipped.
One deploy, destroy or bootstrap of the app (stage, account, region) runs
at a time: another one waits for it, saying whom it waits for.
Each change set is summarised before it runs (resources added, modified --
with replacement True/Conditional -- and removed); the stacks' outputs are
printed at the end.

  --out DIR            synthesize into DIR (default lake.out)
  --from DIR           deploy an existing synth output instead of synthesizing
  --concurrency N      stacks deployed at once (default 4)
  --exclusively        only the named stacks, not their dependencies
  --express            CloudFormation express mode (no waiting for stabilization)
  --continue-rollback  continue a rollback that failed (UPDATE_ROLLBACK_FAILED)
  --force              create a change set even when the stack looks unchanged;
                       with --hotswap, allows hotswapping a stage named prd
  --hotswap            for a stack whose template differs from the deployed
                       one only in a Lambda function's code (S3 key),
                       environment, memory or timeout, a state machine's
                       definition, or a Glue job's script location and
                       default arguments: change those through the Lambda,
                       Step Functions and Glue APIs instead of a change set
                       (seconds instead of minutes); the changed assets
                       (zips, scripts, --extra-py-files archives) upload
                       as in any deploy, and a Glue job's role follows its
                       new script's object. Any other difference
                       sends that stack through CloudFormation, naming the
                       property paths. CloudFormation's view is then behind:
                       `list` shows such stacks as drifted by hotswap, and
                       the next plain deploy brings CloudFormation back in
                       line. For development stages: refused on 'prd'
                       unless --force
  --hotswap-only       as --hotswap, but a stack that would need
                       CloudFormation is refused (exit 1) instead
  --require-approval LEVEL
                       when to ask before a change set runs (default broadening):
                       never; broadening: IAM statements, resource policies,
                       policy attachments or security group rules that widen,
                       or a resource replaced; any-change: any of those that
                       change, widening or not. Asks on a terminal; without
                       one, the stack is refused (exit 1)
  --dry-run            create the change sets, print their summaries, delete
                       them: nothing is deployed, no asset uploaded
  --stats              print the API calls made
  --json               print one JSON document on stdout at the end: per stack
                       its name, status, seconds, message and failures, the
                       change summary and the outputs; everything else goes
                       to stderr
  --no-wait            fail at once (exit 1) while another command holds the lock
  --builder NAME       how dependencies install: docker, local or none
  --verbose            log every AWS call (never credentials)
]] .. common.WAIT_HELP .. common.AWS_HELP .. [[

While stacks are in progress a line at least every 30 s says which, for
how long and the last event. A stack that another operation is changing
is waited for; one left in REVIEW_IN_PROGRESS by a killed deploy is
deleted (it holds no resources) and created again.

Ctrl-C once: no new stack operation starts; the ones running on
CloudFormation are waited for. Twice: exit at once (130), naming them.
]],
}

--- Asks on a terminal whether a stack's changes may go ahead.
-- @return true | false | nil (no terminal on stdin and stderr)
local function approve(name, level, lines)
  if not (proc.isatty(0) and proc.isatty(2)) then return nil end
  io.stderr:write(("%s needs approval (--require-approval %s):\n"):format(name, level))
  for _, l in ipairs(lines) do io.stderr:write("  ", l, "\n") end
  io.stderr:write("deploy these changes? [y/N] ")
  io.stderr:flush()
  local answer = io.stdin:read("l")
  return answer ~= nil and answer:lower():match("^%s*y") ~= nil
end

--- The outputs of the stacks that have any, in deploy order (on stdout,
-- or stderr under --json).
local function print_outputs(results, entries, out)
  local lines = {}
  for _, e in ipairs(entries) do
    local r = results[e.name]
    for _, l in ipairs(r and changes.format_outputs(e.name, r.outputs) or {}) do lines[#lines + 1] = l end
  end
  if #lines == 0 then return end
  out:write("Outputs:\n", table.concat(lines, "\n"), "\n")
  out:flush()
end

-- A change summary (lake.changes.summary) as JSON: lists stay lists when empty.
local function summary_doc(sm)
  if not sm then return nil end
  local doc = { source = sm.source, approval = sm.approval and json.array(sm.approval) or nil }
  for _, group in ipairs({ "added", "modified", "removed" }) do
    local items = {}
    for i, it in ipairs(sm[group] or {}) do
      local item = {}
      for k, v in pairs(it) do item[k] = (type(v) == "table" and #v >= 0 and next(v) == nil) and json.array(v) or v end
      items[i] = item
    end
    doc[group] = json.array(items)
  end
  return doc
end

--- The --json document of a run: every stack in deploy order.
local function json_doc(results, entries, extra)
  local stacks = {}
  for i, e in ipairs(entries) do
    local r = results[e.name] or { ok = false, status = "not run" }
    stacks[i] = { name = e.name, status = r.status, ok = r.ok, seconds = r.seconds, message = r.message,
      failures = r.failures and json.array(r.failures) or nil, changes = summary_doc(r.changes),
      outputs = r.outputs and json.array(r.outputs) or nil }
  end
  local doc = { stacks = json.array(stacks) }
  for k, v in pairs(extra) do doc[k] = v end
  io.stdout:write(json.encode(doc, { pretty = true, newline = true }))
  io.stdout:flush()
end

-- (guarded: the lock taken below is released however run ends)
M.run = lock.guarded(function(app, opts, selectors, cli)
  local level = opts.require_approval or changes.DEFAULT_LEVEL
  local bad_level = changes.check_level(level)
  if bad_level then return nil, errors.input("deploy: " .. bad_level) end
  local dir, manifest, stacks = common.stacks(app, opts, selectors, opts.exclusively)
  if not dir then return nil, manifest end
  local hot = (opts.hotswap_only or opts.hotswap == "only") and "only" or (opts.hotswap and true) or nil
  -- (watch asks for its stage itself, with its own --force: stage_allowed)
  local refused_stage = hot and not opts.stage_allowed and hotswap.refuse_stage(manifest.stage, opts.force)
  if refused_stage then return nil, errors.input("deploy: " .. refused_stage) end
  local session = common.session(opts)
  local ctx = common.context(session, opts)
  ctx.require_approval, ctx.dry_run, ctx.approve = level, opts.dry_run, approve
  ctx.hotswap = hot
  if opts.json then ctx.out = ctx.err end -- stdout is the document's alone
  local t0 = proc.monotime()
  -- one ListStacks says which stacks exist, the toolkit's among them (and
  -- its ARN the account); without it, the toolkit stack is asked for
  local names = {}
  for i, s in ipairs(stacks) do names[i] = s.name end
  local tk, tkerr = deploy.survey(ctx, names).toolkit, nil
  if tk == nil then
    tk, tkerr = cfn.describe_stack(ctx.client, deploy.TOOLKIT_STACK)
    if tk then tk.id = tk.StackId end
  end
  if tk == nil then
    return nil, errors.failure(("cannot reach CloudFormation in %s: %s"):format(session.region, tostring(tkerr)))
  elseif tk == false and not opts.dry_run then
    return nil, errors.failure(("the toolkit stack %s is missing in %s: run `lakehost APP.lua bootstrap` first")
      :format(deploy.TOOLKIT_STACK, session.region))
  end
  if tk then session.learn_account(deploy.account_of(tk.id)) end
  -- (no toolkit in a dry run: a template too big to send inline then says to bootstrap)
  ctx.bucket = tk and common.assets_bucket(manifest, session) or nil
  -- a dry run locks too: it makes (and deletes) change sets and empty stacks
  local held, lerr = lock.take(ctx.client, lock.where(manifest.app, manifest.stage, ctx.bucket
      or common.assets_bucket(manifest, session), session),
    { command = opts.dry_run and "deploy --dry-run" or "deploy", no_wait = opts.no_wait, say = ctx.err,
      hint = lock.hint(cli), optional = opts.dry_run and "a dry run before bootstrap" or nil })
  if held == nil then return nil, lerr end
  ctx.lock = held or nil
  -- another deploy ran meanwhile: what exists is learned again
  if held and held.waited then deploy.survey(ctx, names) end
  if opts.dry_run then
    common.eprint("dry run: no asset uploaded, every change set deleted after its summary")
  else
    local up, uerr = deploy.upload_assets(ctx, manifest, dir)
    if not up then return nil, errors.failure(uerr) end
    common.eprint("assets: %d uploaded (%d bytes), %d already there", up.uploaded, up.bytes, up.present)
  end
  local entries, perr = deploy.prepare(ctx, stacks, dir)
  if not entries then return nil, errors.failure(perr) end
  common.eprint("deploying %d stack%s to %s (concurrency %d%s)", #entries, #entries == 1 and "" or "s",
    session.region, ctx.concurrency, (ctx.express and ", express" or "") .. (opts.dry_run and ", dry run" or ""))
  local again = ("lakehost %s deploy"):format(cli and cli.file or "APP.lua")
  if ctx.interrupts() > 0 then
    return nil, common.interrupted(ctx, "deploy", again)
  end
  local results, serr, partial = common.schedule(ctx, entries, function(e) return deploy.deploy_stack(ctx, e) end,
    { verb = "deploy", again = again })
  if not results then
    if opts.json then
      json_doc(partial or {}, entries, { ok = false, stopped = tostring(serr), calls = ctx.client.stats.calls })
    end
    return nil, serr
  end
  local ok, rerr = common.report(results, entries, "deploy", ctx.client.stats)
  local swapped = {}
  for _, e in ipairs(entries) do
    if results[e.name] and results[e.name].status == "hotswapped" then swapped[#swapped + 1] = e.name end
  end
  if #swapped > 0 then
    common.eprint("hotswapped %s: CloudFormation's view of %s is behind (`list` marks %s); "
      .. "a plain deploy brings CloudFormation back in line", table.concat(swapped, ", "),
      #swapped == 1 and "it" or "them", #swapped == 1 and "it" or "them")
  end
  print_outputs(results, entries, opts.json and io.stderr or io.stdout)
  if opts.json then
    json_doc(results, entries, { ok = ok == true and ctx.interrupts() == 0, dry_run = opts.dry_run or nil,
      interrupted = ctx.interrupts() > 0 or nil, calls = ctx.client.stats.calls })
  end
  local ierr = common.interrupted(ctx, "deploy", again)
  if ierr then return nil, ierr end
  if not ok then
    local refused = {}
    for _, e in ipairs(entries) do
      local r = results[e.name]
      if r and r.status == "refused" and not r.hotswap_only then refused[#refused + 1] = e.name end
    end
    if #refused > 0 then
      return nil, errors.failure(("not deployed without approval: %s (--require-approval %s); review the changes "
        .. "listed above, then deploy from a terminal to answer, or pass --require-approval never")
        :format(table.concat(refused, ", "), level))
    end
    return nil, rerr
  end
  common.eprint("%s in %.1f s, %d API calls", opts.dry_run and "dry run done, nothing deployed," or "done",
    proc.monotime() - t0, ctx.client.stats.calls)
  if opts.stats then
    for k, v in util.spairs(ctx.client.stats.by_action) do common.eprint("  %-40s %d", k, v) end
  end
  return true
end)

return M
