--- `deploy [STACK...]`: synth output -> AWS, through change sets,
-- dependencies first; unchanged stacks are skipped.
local cfn = require("lake.aws.cloudformation")
local common = require("lake.commands.common")
local deploy = require("lake.deploy")
local errors = require("lake.errors")
local proc = require("host.proc")
local util = require("lake.util")

local M = {
  synopsis = "[STACK...]",
  summary = "deploy stacks (all when none given)",
  args = true,
  options = { out = "DIR", from = "DIR", concurrency = "N", express = true, exclusively = true,
    continue_rollback = true, force = true, verbose = true, stats = true, builder = "NAME" },
  help = [[
usage: lakehost APP.lua deploy [STACK...] [OPTIONS]

Synthesizes the app, uploads the assets the bucket lacks and creates or
updates every stack (or the named ones; globs such as 'lake-*-stack-dev'
work) through change sets, dependencies first. Unchanged stacks are skipped.

  --out DIR            synthesize into DIR (default lake.out)
  --from DIR           deploy an existing synth output instead of synthesizing
  --concurrency N      stacks deployed at once (default 4)
  --exclusively        only the named stacks, not their dependencies
  --express            CloudFormation express mode (no waiting for stabilization)
  --continue-rollback  continue a rollback that failed (UPDATE_ROLLBACK_FAILED)
  --force              create a change set even when the stack looks unchanged
  --stats              print the API calls made
  --builder NAME       how dependencies install: docker, local or none
  --verbose            log every AWS call (never credentials)
]],
}

function M.run(app, opts, selectors)
  local dir, manifest, stacks = common.stacks(app, opts, selectors, opts.exclusively)
  if not dir then return nil, manifest end
  local session = common.session(opts)
  local ctx = common.context(session, opts)
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
  elseif tk == false then
    return nil, errors.failure(("the toolkit stack %s is missing in %s: run `lakehost APP.lua bootstrap` first")
      :format(deploy.TOOLKIT_STACK, session.region))
  end
  session.learn_account(deploy.account_of(tk.id))
  ctx.bucket = common.assets_bucket(manifest, session)
  local up, uerr = deploy.upload_assets(ctx, manifest, dir)
  if not up then return nil, errors.failure(uerr) end
  common.eprint("assets: %d uploaded (%d bytes), %d already there", up.uploaded, up.bytes, up.present)
  local entries, perr = deploy.prepare(ctx, stacks, dir)
  if not entries then return nil, errors.failure(perr) end
  common.eprint("deploying %d stack%s to %s (concurrency %d%s)", #entries, #entries == 1 and "" or "s",
    session.region, ctx.concurrency, ctx.express and ", express" or "")
  local results = deploy.schedule(entries, function(e) return deploy.deploy_stack(ctx, e) end,
    { concurrency = ctx.concurrency, sleep = ctx.sleep, now = ctx.now,
      on_resume = function(e) ctx.client.tag = e and e.name or nil end })
  local ok, rerr = common.report(results, entries, "deploy", ctx.client.stats)
  if not ok then return nil, rerr end
  common.eprint("done in %.1f s, %d API calls", proc.monotime() - t0, ctx.client.stats.calls)
  if opts.stats then
    for k, v in util.spairs(ctx.client.stats.by_action) do common.eprint("  %-40s %d", k, v) end
  end
  return true
end

return M
