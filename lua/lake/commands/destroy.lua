--- `destroy [STACK...]`: deletes stacks, dependents first.
local common = require("lake.commands.common")
local deploy = require("lake.deploy")
local errors = require("lake.errors")
local fs = require("host.fs")
local json = require("host.json")
local lock = require("lake.lock")
local proc = require("host.proc")
local util = require("lake.util")

local M = {
  synopsis = "[STACK...]",
  summary = "delete stacks in reverse dependency order",
  args = true,
  options = common.aws_options { out = "DIR", from = "DIR", yes = true, concurrency = "N", verbose = true,
    no_wait = true, timeout = common.WAIT_OPTIONS.timeout },
  help = [[
usage: lakehost APP.lua destroy [STACK...] [--yes] [--concurrency N] [--no-wait] [--timeout SECONDS]
                                [--profile NAME] [--region REGION]

Deletes the stacks (all, or the named ones), dependents first. Asks for
confirmation unless --yes. Buckets are retained by CloudFormation and listed
as kept. Takes the app's lock as deploy does: waits while another command
holds it, or with --no-wait fails at once (exit 1).

]] .. common.WAIT_HELP .. common.AWS_HELP .. [[

Ctrl-C once: no new deletion starts; the running ones are waited for.
Twice: exit at once (130), naming them.
]],
}

--- Resources a stack keeps when deleted (DeletionPolicy Retain).
local function retained(dir, s)
  local text = fs.read(dir .. "/" .. s.template)
  local tpl = text and json.decode(text)
  local out = {}
  for id, r in util.spairs(type(tpl) == "table" and tpl.Resources or {}) do
    if r.DeletionPolicy == "Retain" or r.DeletionPolicy == "RetainExceptOnCreate" then
      local name = r.Properties and (r.Properties.BucketName or r.Properties.TableName) or nil
      if type(name) == "table" then name = name["Fn::Sub"] end
      out[#out + 1] = ("%s (%s%s)"):format(id, r.Type, name and (" " .. tostring(name)) or "")
    end
  end
  return out
end

-- (guarded: the lock taken below is released however run ends)
M.run = lock.guarded(function(app, opts, selectors, cli)
  local dir, manifest, stacks = common.stacks(app, opts, selectors, true)
  if not dir then return nil, manifest end
  local names = {}
  for _, s in ipairs(stacks) do names[#names + 1] = s.name end
  if not opts.yes then
    if not proc.isatty(0) then
      return nil, errors.input("destroy deletes " .. #stacks .. " stack(s); pass --yes to confirm when not run interactively")
    end
    io.stderr:write(("Delete %d stack%s: %s? [y/N] "):format(#stacks, #stacks == 1 and "" or "s", table.concat(names, ", ")))
    io.stderr:flush()
    local answer = io.stdin:read("l")
    if not answer or not answer:lower():match("^y") then
      return nil, errors.failure("nothing deleted")
    end
  end
  local session = common.session(opts)
  local ctx = common.context(session, opts)
  local held, lerr = lock.take(ctx.client, lock.where(manifest.app, manifest.stage,
    common.assets_bucket(manifest, session), session),
    { command = "destroy", no_wait = opts.no_wait, say = ctx.err, hint = lock.hint(cli),
      optional = "no deploy can run without the bucket either" })
  if held == nil then return nil, lerr end
  ctx.lock = held or nil
  local again = ("lakehost %s destroy"):format(cli and cli.file or "APP.lua")
  local results, serr = common.schedule(ctx, stacks, function(e) return deploy.destroy_stack(ctx, e) end,
    { reverse = true, verb = "destroy", again = again })
  if not results then return nil, serr end
  for _, s in ipairs(stacks) do
    for _, k in ipairs(retained(dir, s)) do common.eprint("  kept: %s", k) end
  end
  local ok, rerr = common.report(results, stacks, "destroy")
  local ierr = common.interrupted(ctx, "destroy", again)
  if ierr then return nil, ierr end
  return ok, rerr
end)

return M
