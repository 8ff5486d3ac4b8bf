--- `bootstrap`: the toolkit stack (the assets bucket), once per account and region.
local common = require("lake.commands.common")
local deploy = require("lake.deploy")
local errors = require("lake.errors")
local lock = require("lake.lock")
local token = require("lake.token")
local toolkit = require("lake.toolkit")

local M = {
  summary = "create the toolkit stack (assets bucket)",
  options = common.aws_options { verbose = true, no_wait = true, timeout = common.WAIT_OPTIONS.timeout },
  help = [[
usage: lakehost APP.lua bootstrap [--verbose] [--no-wait] [--timeout SECONDS]
                                  [--profile NAME] [--region REGION]

Creates (or updates) the lakehost-toolkit stack: the assets bucket
lakehost-assets-<account>-<region>, encrypted, versioned, public access
blocked, TLS only, old versions expired after 30 days, server access logs
kept for a year in a second bucket of the stack (named by CloudFormation,
kept when the stack is deleted). Run it once per account and region before
the first deploy.

Takes the app's lock as deploy does (waits while another command holds it;
--no-wait fails at once, exit 1), except on the first bootstrap: the lock
is an object in the assets bucket, which does not exist yet.

]] .. common.WAIT_HELP .. common.AWS_HELP,
}

-- (guarded: the lock taken below is released however run ends)
M.run = lock.guarded(function(app, opts, _, cli)
  local session = common.session(opts)
  local bucket = deploy.substitute(token.resolve(app.assets_bucket, {}),
    { region = session.region, account = session.account() })
  common.eprint("bootstrapping %s in %s (assets bucket %s)", toolkit.STACK, session.region, bucket)
  local text, hash = toolkit.template(bucket)
  local ctx = common.context(session, opts)
  local held, lerr = lock.take(ctx.client, lock.where(app.name, app.stage, bucket, session),
    { command = "bootstrap", no_wait = opts.no_wait, say = ctx.err, hint = lock.hint(cli),
      optional = "first bootstrap: the bucket that holds the lock is made now" })
  if held == nil then return nil, lerr end
  ctx.lock = held or nil
  local entry = { name = toolkit.STACK, body = text, hash = hash, tags = app.tags }
  local again = ("lakehost %s bootstrap"):format(cli and cli.file or "APP.lua")
  local results, serr = common.schedule(ctx, { entry }, function(e) return deploy.deploy_stack(ctx, e) end,
    { verb = "bootstrap", again = again })
  if not results then return nil, serr end
  local r = results[toolkit.STACK]
  local ierr = common.interrupted(ctx, "bootstrap", again)
  if ierr then return nil, ierr end
  if not r.ok then
    common.eprint("%s: %s", toolkit.STACK, r.message or r.status)
    for _, f in ipairs(r.failures or {}) do common.eprint("  %s", f) end
    return nil, errors.failure("bootstrap failed")
  end
  common.eprint("%s: %s", toolkit.STACK, r.status)
  return true
end)

return M
