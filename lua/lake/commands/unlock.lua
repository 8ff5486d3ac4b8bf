--- `unlock`: breaks the app's deploy lock (lake.lock), after showing who
-- holds it: for a lock left by a killed process.
local common = require("lake.commands.common")
local deploy = require("lake.deploy")
local errors = require("lake.errors")
local lock = require("lake.lock")
local proc = require("host.proc")
local token = require("lake.token")

local M = {
  summary = "break the deploy lock a killed process left",
  options = common.aws_options { yes = true, verbose = true },
  help = [[
usage: lakehost APP.lua unlock [--yes] [--verbose] [--profile NAME] [--region REGION]

Deploy, destroy and bootstrap take a lock per app, stage, account and
region (an object under locks/ in the assets bucket), so that one runs at a
time. A process killed while it held the lock leaves it behind, and the
next deploy waits for it. unlock shows who holds the lock (user@host, pid,
command, folder, since when) and breaks it, after asking for confirmation;
--yes breaks it without asking (required when not run from a terminal).
Without a lock there is nothing to do (exit 0).

Break only a lock whose holder is gone: a deploy still running would go on
without it, and another could start beside it. (A lock left by a process of
this host that no longer runs is taken over by the next deploy by itself.)

]] .. common.AWS_HELP,
}

function M.run(app, opts, _, cli)
  local session = common.session(opts)
  local bucket = deploy.substitute(token.resolve(app.assets_bucket, {}),
    { region = session.region, account = session.account() })
  local where = lock.where(app.name, app.stage, bucket, session)
  local at = ("s3://%s/%s"):format(bucket, lock.key(where))
  local info, err = lock.holder(session.client, where)
  if info == nil then
    if type(err) == "table" and err.code == "NoSuchBucket" then
      common.eprint("no lock: the assets bucket %s does not exist (no bootstrap in %s yet)", bucket, session.region)
      return true
    end
    return nil, errors.failure(("cannot read the lock %s: %s"):format(at, tostring(err)))
  end
  if info == false then
    common.eprint("no lock: %s is not there; nothing to do", at)
    return true
  end
  common.eprint("the lock %s is held by %s", at, lock.describe(info))
  if info.cwd then common.eprint("  in %s", info.cwd) end
  if not opts.yes then
    if not proc.isatty(0) then
      return nil, errors.input(("unlock: pass --yes to break the lock when not run interactively (%s unlock --yes)")
        :format("lakehost " .. (cli and cli.file or "APP.lua")))
    end
    io.stderr:write("Break it? Only if that process is gone. [y/N] ")
    io.stderr:flush()
    local answer = io.stdin:read("l")
    if not answer or not answer:lower():match("^y") then return nil, errors.failure("lock kept") end
  end
  local ok, derr = lock.delete(session.client, where, info.etag)
  if ok == nil then return nil, errors.failure(("cannot break the lock %s: %s"):format(at, tostring(derr))) end
  if not ok then
    local now = lock.holder(session.client, where)
    if now == false then
      common.eprint("the lock was released meanwhile; nothing to do")
      return true
    end
    return nil, errors.failure(("the lock %s changed meanwhile%s: nothing broken; run unlock again")
      :format(at, now and (", now held by " .. lock.describe(now)) or ""))
  end
  common.eprint("lock broken (it was held by %s)", lock.describe(info))
  return true
end

return M
