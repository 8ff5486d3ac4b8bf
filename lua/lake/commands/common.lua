--- What the commands that talk to AWS share: the synthesized folder they
-- read, the session, the deploy context and the per-stack report. (Not a
-- command itself: lake.cli lists those.)
local deploy = require("lake.deploy")
local errors = require("lake.errors")
local fs = require("host.fs")
local json = require("host.json")
local proc = require("host.proc")
local session_mod = require("lake.aws.session")
local synth = require("lake.commands.synth")
local watch = require("lake.deploy.watch")

local M = {}

function M.eprint(fmt, ...) io.stderr:write(fmt:format(...), "\n") io.stderr:flush() end

--- The folder to read: --from's, else a fresh synthesis into --out (default lake.out).
-- @return dir | nil, err
function M.synthesized(app, opts)
  if opts.from then return opts.from end
  local dir = opts.out or "lake.out"
  local res, err = synth.write(app, dir, true)
  if not res then return nil, err end
  return dir
end

--- The folder to read without touching lake.out: --from's, a synthesis
-- into --out when given, else a synthesis into a temporary folder that
-- done() removes (call it on every path). deploy keeps M.synthesized.
-- @param prefix string the temporary folder's name prefix
-- @return dir, done | nil, err
function M.synthesized_apart(app, opts, prefix)
  local function keep() end
  if opts.from or opts.out then
    local dir, err = M.synthesized(app, opts)
    if not dir then return nil, err end
    return dir, keep
  end
  local tmp, terr = fs.tmpdir(prefix or "lakehost-")
  if not tmp then return nil, errors.failure("temporary folder: " .. tostring(terr)) end
  local function done() fs.remove_tree(tmp) end
  local ok, res, err = pcall(synth.write, app, tmp .. "/out", true)
  if not (ok and res) then
    done()
    if not ok then error(res, 0) end
    return nil, err
  end
  return tmp .. "/out", done
end

--- The manifest.json of a synthesized folder.
-- @return manifest | nil, err
function M.manifest(dir)
  local text, err = fs.read(dir .. "/manifest.json")
  if not text then
    return nil, errors.input(("%s: no synthesized lake here (%s); run synth first"):format(dir, err))
  end
  local m, jerr = json.decode(text, dir .. "/manifest.json")
  if not m then return nil, errors.input(jerr) end
  return m
end

--- The synthesized folder, its manifest and the stacks the selectors
-- name (lake.deploy.select; every stack without selectors).
-- @param exclusively boolean|nil without the stacks the chosen ones depend on
-- @return dir, manifest, stacks | nil, err
function M.stacks(app, opts, selectors, exclusively)
  local dir, derr = M.synthesized(app, opts)
  if not dir then return nil, derr end
  local manifest, merr = M.manifest(dir)
  if not manifest then return nil, merr end
  local stacks, serr = deploy.select(manifest, selectors, exclusively)
  if not stacks then return nil, errors.input(serr) end
  return dir, manifest, stacks
end

--- The options of every command that talks to AWS, and their help lines.
M.AWS_OPTIONS = { profile = "NAME", region = "REGION" }
M.AWS_HELP = [[
  --profile NAME       the AWS profile (over AWS_PROFILE; as with `aws --profile`,
                       AWS_ACCESS_KEY_ID and the other key variables are then ignored)
  --region REGION      the AWS region (over AWS_REGION, AWS_DEFAULT_REGION and the
                       profile's region)
]]

--- A command's options with M.AWS_OPTIONS added.
-- @param options table the command's own
-- @return the same table
function M.aws_options(options)
  for k, v in pairs(M.AWS_OPTIONS) do options[k] = v end
  return options
end

--- An AWS session (lake.aws.session) for --profile and --region, logging
-- calls with --verbose.
function M.session(opts)
  return session_mod.new { log = opts.verbose and function(m) M.eprint("aws: %s", m) end,
    profile = opts.profile, region = opts.region }
end

--- The options of the commands that wait for CloudFormation, and their help.
M.WAIT_OPTIONS = { timeout = "SECONDS" }
M.WAIT_HELP = [[
  --timeout SECONDS    give up when the endpoint has not answered for this
                       long (default 300); what runs is named, run again to
                       wait for it
]]

--- A deploy context over a session (lake.deploy), with its watch. Ctrl-C
-- and SIGTERM are trapped from here on: the first stops new stack
-- operations, the second ends the run (see lake.deploy.watch).
function M.context(session, opts)
  local timeout = tonumber(opts.timeout) or 300
  local ctx = {
    client = session.client, region = session.region, concurrency = tonumber(opts.concurrency) or 4,
    express = opts.express, force = opts.force, continue_rollback = opts.continue_rollback,
    sleep = proc.sleep, now = proc.time, timeout = timeout, interrupts = proc.interrupts,
    out = function(line) io.stdout:write(line, "\n") io.stdout:flush() end,
    err = function(line) M.eprint("%s", line) end,
    progress = function(line) M.eprint("%s", line) end,
  }
  -- a single request may not outlast the silence the user allows
  session.client.request_timeout = math.min(60, math.max(2, timeout / 2))
  session.client.max_time = math.min(120, math.max(4, timeout))
  local ep = session.client:endpoint("cloudformation")
  ctx.watch = watch.new { now = ctx.now, out = ctx.err, interrupts = proc.interrupts, timeout = timeout,
    last_answer = function() return session.client.last_answer end, endpoint = ep.url }
  proc.trap_interrupts(true)
  return ctx
end

--- Runs op over entries with the scheduler (lake.deploy.schedule), with
-- progress lines and the context's stop rules.
-- @param sopts { reverse = bool, verb = "deploy", again = "lakehost app.lua deploy" }
-- @return results | nil, err, the results so far (stopped: by a second Ctrl-C
--   (exit 130) or a silent endpoint (exit 1), naming the stacks still running)
function M.schedule(ctx, entries, op, sopts)
  local w = ctx.watch
  local results, _, stopped = deploy.schedule(entries, op, {
    concurrency = ctx.concurrency, reverse = sopts.reverse, sleep = ctx.sleep, now = ctx.now,
    on_resume = function(e) ctx.client.tag = e and e.name or nil end,
    stop = function() return w:stop_reason() end, tick = function() w:tick() end })
  if stopped == "now" or stopped == "silence" then
    if ctx.lock then -- released on the way out: quickly, or not at all when nothing answers
      if stopped == "silence" then ctx.lock.leave = true else ctx.lock.quick = true end
    end
    local msg = w:stopped_message(stopped, sopts.verb, sopts.again)
    if stopped == "now" then return nil, errors.interrupted(msg), results end
    return nil, errors.failure(msg), results
  end
  return results
end

--- After a run that settled: an interrupt is still an error (exit 130).
function M.interrupted(ctx, verb, again)
  if ctx.interrupts() > 0 then
    return errors.interrupted(("interrupted: %s stopped after what was running settled; run `%s` again to finish")
      :format(verb, again))
  end
end

--- The assets bucket of a manifest for this session's account and region.
function M.assets_bucket(manifest, session)
  return deploy.substitute(manifest.assets_bucket, { region = session.region, account = session.account() })
end

--- Prints one line per stack; an error value when any failed.
-- @return true | nil, err
function M.report(results, entries, verb, stats)
  local failed = 0
  for _, e in ipairs(entries) do
    local r = results[e.name] or { ok = false, status = "not run" }
    if r.ok then
      local calls = stats and stats.by_tag[e.name]
      M.eprint("  %-48s %-10s %6.2f s %4s API calls", e.name, r.status, r.seconds or 0, calls or 0)
    else
      failed = failed + 1
      M.eprint("  %-48s %s: %s", e.name, r.status, r.message or "")
      for _, f in ipairs(r.failures or {}) do M.eprint("      %s", f) end
    end
  end
  if failed > 0 then
    return nil, errors.failure(("%s failed for %d stack%s"):format(verb, failed, failed == 1 and "" or "s"))
  end
  return true
end

return M
