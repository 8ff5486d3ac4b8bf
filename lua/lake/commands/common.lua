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

--- A deploy context over a session (lake.deploy).
function M.context(session, opts)
  return {
    client = session.client, region = session.region, concurrency = tonumber(opts.concurrency) or 4,
    express = opts.express, force = opts.force, continue_rollback = opts.continue_rollback,
    sleep = proc.sleep, now = proc.time,
    out = function(line) io.stdout:write(line, "\n") io.stdout:flush() end,
    err = function(line) M.eprint("%s", line) end,
    progress = function(line) M.eprint("%s", line) end,
  }
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
