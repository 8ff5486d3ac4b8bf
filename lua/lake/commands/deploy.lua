--- `deploy [STACK...]`: synth output -> AWS, through change sets,
-- dependencies first; unchanged stacks are skipped.
local cfn = require("lake.aws.cloudformation")
local common = require("lake.commands.common")
local deploy = require("lake.deploy")
local errors = require("lake.errors")
local lock = require("lake.lock")
local proc = require("host.proc")
local util = require("lake.util")

local M = {
  synopsis = "[STACK...]",
  summary = "deploy stacks (all when none given)",
  args = true,
  options = common.aws_options { out = "DIR", from = "DIR", concurrency = "N", express = true, exclusively = true,
    continue_rollback = true, force = true, verbose = true, stats = true, builder = "NAME", no_wait = true,
    timeout = common.WAIT_OPTIONS.timeout },
  help = [[
usage: lakehost APP.lua deploy [STACK...] [OPTIONS]

Synthesizes the app, uploads the assets the bucket lacks and creates or
updates every stack (or the named ones; globs such as 'lake-*-stack-dev'
work) through change sets, dependencies first. Unchanged stacks are skipped.
One deploy, destroy or bootstrap of the app (stage, account, region) runs
at a time: another one waits for it, saying whom it waits for.

  --out DIR            synthesize into DIR (default lake.out)
  --from DIR           deploy an existing synth output instead of synthesizing
  --concurrency N      stacks deployed at once (default 4)
  --exclusively        only the named stacks, not their dependencies
  --express            CloudFormation express mode (no waiting for stabilization)
  --continue-rollback  continue a rollback that failed (UPDATE_ROLLBACK_FAILED)
  --force              create a change set even when the stack looks unchanged
  --stats              print the API calls made
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

-- (guarded: the lock taken below is released however run ends)
M.run = lock.guarded(function(app, opts, selectors, cli)
  local dir, manifest, stacks = common.stacks(app, opts, selectors, opts.exclusively)
  if not dir then return nil, manifest end
  local session = common.session(opts)
  local ctx = common.context(session, opts)
  ctx.bucket = common.assets_bucket(manifest, session)
  local t0 = proc.monotime()
  local tk, tkerr = cfn.describe_stack(ctx.client, deploy.TOOLKIT_STACK)
  if tk == nil then
    return nil, errors.failure(("cannot reach CloudFormation in %s: %s"):format(session.region, tostring(tkerr)))
  elseif tk == false then
    return nil, errors.failure(("the toolkit stack %s is missing in %s: run `lakehost APP.lua bootstrap` first")
      :format(deploy.TOOLKIT_STACK, session.region))
  end
  local held, lerr = lock.take(ctx.client, lock.where(manifest.app, manifest.stage, ctx.bucket, session),
    { command = "deploy", no_wait = opts.no_wait, say = ctx.err, hint = lock.hint(cli) })
  if not held then return nil, lerr end
  ctx.lock = held
  local up, uerr = deploy.upload_assets(ctx, manifest, dir)
  if not up then return nil, errors.failure(uerr) end
  common.eprint("assets: %d uploaded (%d bytes), %d already there", up.uploaded, up.bytes, up.present)
  local entries, perr = deploy.prepare(ctx, stacks, dir)
  if not entries then return nil, errors.failure(perr) end
  common.eprint("deploying %d stack%s to %s (concurrency %d%s)", #entries, #entries == 1 and "" or "s",
    session.region, ctx.concurrency, ctx.express and ", express" or "")
  local again = ("lakehost %s deploy"):format(cli and cli.file or "APP.lua")
  if ctx.interrupts() > 0 then
    return nil, common.interrupted(ctx, "deploy", again)
  end
  local results, serr = common.schedule(ctx, entries, function(e) return deploy.deploy_stack(ctx, e) end,
    { verb = "deploy", again = again })
  if not results then return nil, serr end
  local ok, rerr = common.report(results, entries, "deploy", ctx.client.stats)
  local ierr = common.interrupted(ctx, "deploy", again)
  if ierr then return nil, ierr end
  if not ok then return nil, rerr end
  common.eprint("done in %.1f s, %d API calls", proc.monotime() - t0, ctx.client.stats.calls)
  if opts.stats then
    for k, v in util.spairs(ctx.client.stats.by_action) do common.eprint("  %-40s %d", k, v) end
  end
  return true
end)

return M
