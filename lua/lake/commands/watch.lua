--- `watch [STACK...]`: deploy, then deploy again (hotswap) whenever a file
-- of the app is saved, until Ctrl-C.
--
-- Each update reloads app.lua (and so every config.yml) and runs the deploy
-- command's own run function with `hotswap = true`, on the stacks named (all
-- when none). One line on stdout per update says what changed and how it
-- ended; a config error shows its file:line problems on stderr and leaves
-- the previous deployment as it was; an AWS failure is shown; either way
-- the watch goes on. The deploy lock is taken and released by each update
-- (lake.lock through the deploy command), so another deploy may run between
-- two updates.
local common = require("lake.commands.common")
local deploy_cmd = require("lake.commands.deploy")
local app_mod = require("lake.app")
local errors = require("lake.errors")
local lock = require("lake.lock")
local proc = require("host.proc")
local watcher = require("lake.watcher")

local M = {
  synopsis = "[STACK...]",
  summary = "deploy, then hotswap every saved change until Ctrl-C",
  args = true,
  options = common.aws_options { out = "DIR", concurrency = "N", exclusively = true, force = true, verbose = true,
    builder = "NAME", timeout = common.WAIT_OPTIONS.timeout, require_approval = "LEVEL", poll = true,
    interval = "SECONDS", quiet_period = "SECONDS" },
  help = [[
usage: lakehost APP.lua watch [STACK...] [OPTIONS]

Deploys the app's stacks (or the named ones, with the stacks they depend
on; globs work as with deploy), then watches the app's files and deploys
again with hotswap after every change: app.lua and what is under
pipelines/, standalone/ and shared/, except dot-files and dot-folders,
lake.out/, tests/ and __pycache__/ folders, *.pyc and editor leftovers
(x~, #x#, 4913). Saves that come in a burst make one update, once
--quiet-period has passed without another.

Each update reloads app.lua and its pipelines' config.yml, synthesizes
(into --out, default lake.out) and deploys, then prints one line:
  #N CHANGED: deployed in S s
  #N CHANGED: not deployed (config error; the previous deployment stays) in S s
  #N CHANGED: failed in S s: MESSAGE
where #0 is the first deploy and CHANGED lists the files saved (relative to
the app's folder; the first three, then "+N more"). Config problems
(file:line: key: message) and the deploy's own progress go to stderr. The
watch goes on after any failure.

Ctrl-C stops it (exit 0); during an update, what runs on CloudFormation
is waited for first, and the deploy lock is released.

Watching is for development stages: on the stage prd it refuses unless
--force is given.

  --out DIR            synthesize into DIR (default lake.out)
  --concurrency N      stacks deployed at once (default 4)
  --exclusively        only the named stacks, not their dependencies
  --require-approval LEVEL
                       as with deploy (default broadening); without a
                       terminal a change that needs approval is refused, and
                       the watch goes on
  --builder NAME       how dependencies install: docker, local or none
  --poll               look for changes every --interval seconds instead of
                       through inotify (also LAKEHOST_WATCH_POLL=1; used by
                       itself where inotify is missing or fails)
  --interval SECONDS   between two looks with --poll (default 0.5)
  --quiet-period SECONDS
                       how long without a new save ends a burst (default 0.3)
  --force              watch a prd stage all the same
  --verbose            log every AWS call (never credentials)
]] .. common.WAIT_HELP .. common.AWS_HELP,
}

local MAX_NAMED = 3

--- The changed files as a line shows them.
-- @param paths table sorted relative paths
function M.describe(paths)
  local shown = {}
  for i = 1, math.min(#paths, MAX_NAMED) do shown[i] = paths[i] end
  local s = table.concat(shown, ", ")
  if #paths > MAX_NAMED then s = s .. (" (+%d more)"):format(#paths - MAX_NAMED) end
  return s
end

--- The line of an update.
-- @param n integer the update's number (0: the first deploy)
-- @param what string what changed
-- @param seconds number
-- @param err error value | nil (deployed)
function M.line(n, what, seconds, err)
  local head = ("#%d %s: "):format(n, what)
  if not err then return head .. ("deployed in %.2f s"):format(seconds) end
  if err.kind == "input" then
    return head .. ("not deployed (config error; the previous deployment stays) in %.2f s"):format(seconds)
  elseif err.kind == "interrupted" then
    return head .. ("interrupted after %.2f s"):format(seconds)
  end
  return head .. ("failed in %.2f s: %s"):format(seconds, err.msg)
end

local function positive(name, v, default)
  if v == nil then return default end
  local n = tonumber(v)
  if not (n and n > 0) then
    return nil, errors.input(("watch: --%s expects a number of seconds > 0, got '%s'"):format(name, v))
  end
  return n
end

local function refuse_prd(app, opts)
  if app.stage == "prd" and not opts.force then
    return errors.input("watch: the stage is prd: watch and hotswap are for development stages "
      .. "(--force to watch prd all the same)")
  end
end

--- Runs app.lua again, as the command line did: a fresh App.
-- @return app | nil, err (input)
local function reload(file, builder)
  local chunk, lerr = loadfile(file, "t")
  if not chunk then return nil, errors.input(lerr) end
  local ok, res = pcall(chunk)
  if not ok then
    if errors.is(res) then return nil, res end
    return nil, errors.input(type(res) == "string" and res or tostring(res))
  end
  if not app_mod.is_app(res) then return nil, errors.input(("%s no longer returns an App"):format(file)) end
  if builder then res.settings.builder = builder end
  return res
end

-- One deploy through the deploy command; any error comes back as a value.
local function deploy_once(app, dopts, selectors, cli)
  local ok, res, err = pcall(deploy_cmd.run, app, dopts, selectors, cli)
  if not ok then
    if errors.is(res) then return nil, res end
    return nil, errors.failure(tostring(res))
  end
  if res then return true end
  return nil, err or errors.failure("deploy failed")
end

-- Shows an error's problems (file:line: key: message) and message on stderr.
local function show(err)
  for _, p in ipairs(err.problems or {}) do io.stderr:write(p, "\n") end
  io.stderr:write("lakehost: ", err.msg, "\n")
  io.stderr:flush()
end

local function say(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end

function M.run(app, opts, selectors, cli)
  local interval, ierr = positive("interval", opts.interval, nil)
  if ierr then return nil, ierr end
  local quiet, qerr = positive("quiet-period", opts.quiet_period, nil)
  if qerr then return nil, qerr end
  local refused = refuse_prd(app, opts)
  if refused then return nil, refused end
  local file = cli and cli.file or "app.lua"
  local root = app.root or (file:match("^(.*)/[^/]*$") or ".")
  local w, werr = watcher.new(root, { poll = opts.poll, interval = interval, quiet = quiet })
  if not w then return nil, errors.failure(("watch: %s"):format(tostring(werr))) end
  proc.trap_interrupts(true)
  -- the deploy command's options: --force there would force change sets;
  -- the stage was allowed above (refuse_prd), with watch's own --force
  local dopts = { hotswap = true, stage_allowed = true }
  for k, v in pairs(opts) do
    if k ~= "force" and k ~= "poll" and k ~= "interval" and k ~= "quiet_period" then dopts[k] = v end
  end
  common.eprint("watching %s (%s%s); Ctrl-C to stop", root, w.how, w.why and (": " .. tostring(w.why)) or "")
  local n, current, last = 0, app, nil
  while true do
    local t0 = proc.monotime()
    local ok, err
    if current then
      err = refuse_prd(current, opts)
      if not err then ok, err = deploy_once(current, dopts, selectors, cli) end
    else
      current, err = reload(file, opts.builder)
      if current then
        err = refuse_prd(current, opts)
        if not err then ok, err = deploy_once(current, dopts, selectors, cli) end
      end
    end
    if not ok then show(err) end
    say(M.line(n, n == 0 and "initial" or M.describe(last), proc.monotime() - t0, (not ok) and err or nil))
    if (err and err.kind == "interrupted") or proc.interrupts() > 0 then break end
    local changed, cerr = w:next()
    if not changed then
      if cerr == "interrupted" then break end
      w:close()
      return nil, errors.failure(("watch: %s"):format(tostring(cerr)))
    end
    n, current, last = n + 1, nil, changed
  end
  w:close()
  lock.release_all()
  common.eprint("watch: stopped")
  return true
end

return M
