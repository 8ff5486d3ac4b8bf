--- Commands for an app: synth, list, validate (deploy and friends arrive with
-- their issues). Each command parses its own options, prints progress on
-- stderr and results on stdout, and returns an exit status.
local errors = require("lake.errors")
local util = require("lake.util")

local M = {}

local COMMANDS = {
  synth = { summary = "write templates, manifest and assets", options = { out = "DIR", quiet = true,
    builder = "NAME", jobs = "N" } },
  list = { summary = "stacks in deploy order with their dependencies", options = {} },
  validate = { summary = "check app.lua and every pipeline config; write nothing", options = { builder = "NAME",
    jobs = "N" } },
  bootstrap = { summary = "create the toolkit stack (assets bucket)", options = { verbose = true } },
  deploy = { summary = "deploy stacks (all when none given)", stacks = true, options = {
    out = "DIR", from = "DIR", concurrency = "N", express = true, exclusively = true,
    continue_rollback = true, force = true, verbose = true, stats = true, builder = "NAME", jobs = "N" } },
  diff = { summary = "compare with the deployed templates", stacks = true,
    options = { out = "DIR", from = "DIR", verbose = true, fail = true, jobs = "N" } },
  destroy = { summary = "delete stacks in reverse dependency order", stacks = true,
    options = { out = "DIR", from = "DIR", yes = true, concurrency = "N", verbose = true } },
  run = { summary = "run a pipeline on this machine", args = true, options = {
    event = "FILE", endpoint = "URL", verbose = true, out = "DIR", keep = true, python = "PATH" } },
}
M.COMMANDS = COMMANDS

local HELP = {
  synth = [[
usage: lakehost APP.lua synth [--out DIR] [--quiet] [--builder docker|local|none] [--jobs N]

Writes <DIR>/<stack>.template.json for every stack, a state machine diagram
(<stack>.<machine>.mmd) per pipeline, <DIR>/assets/ and <DIR>/manifest.json.
DIR defaults to lake.out. Needs no credentials, network or Docker. The folder
is replaced only when everything succeeded.

Pipeline stacks are made one at a time and let go once written, by N
processes at once (--jobs, default: the number of CPUs; lakes of fewer than
64 pipelines use one). The output is the same whatever N.

Module dependencies (requirements.json packages) install with --builder:
docker (the runtime's image), local (pip on this machine, wheels for the
runtime's platform) or none; default docker when an engine answers, else
local (app.lua: settings = { builder = ... }). Built packages are cached in
.lake-cache/ (LAKEHOST_CACHE_DIR) by the hash of their inputs.
]],
  list = [[
usage: lakehost APP.lua list

Prints the stacks in deploy order with their dependencies and, when AWS
credentials and a region are configured, each stack's deployed status.
]],
  bootstrap = [[
usage: lakehost APP.lua bootstrap [--verbose]

Creates (or updates) the lakehost-toolkit stack: the assets bucket
lakehost-assets-<account>-<region>, encrypted, versioned, public access
blocked, TLS only, old versions expired after 30 days. Run it once per
account and region before the first deploy.
]],
  deploy = [[
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
  --jobs N             processes that synthesize (default: the number of CPUs)
  --verbose            log every AWS call (never credentials)
]],
  diff = [[
usage: lakehost APP.lua diff [STACK...] [--out DIR | --from DIR] [--fail] [--jobs N]

Prints resources added (+), removed (-) and changed (~, with property paths)
between the deployed templates and the synthesized ones. --fail exits 1 when
anything differs.
]],
  destroy = [[
usage: lakehost APP.lua destroy [STACK...] [--yes] [--concurrency N]

Deletes the stacks (all, or the named ones), dependents first. Asks for
confirmation unless --yes. Buckets are retained by CloudFormation and listed
as kept.
]],
  run = [[
usage: lakehost APP.lua run PIPELINE --event FILE [OPTIONS]

Runs the pipeline's state machine on this machine, from the synth output:
the trigger Lambda first, with the event (an S3 "Object Created" EventBridge
event, a custom EventBridge event or an S3 notification, as JSON), then each
step of the execution it starts (its StartExecution is answered locally, not
sent). Lambda steps run the function's packaged code with python, with the
environment variables and the timeout of the template; Glue pythonshell steps
run the job's script with its --key value arguments and a stand-in for
awsglue.utils.getResolvedOptions; glueetl steps need PySpark. A failing step
goes through the state machine's Retry and Catch (ErrorCatch runs the catch
Lambda). Names use AWS_REGION (else us-east-1) and AWS_ACCOUNT_ID (else STS,
else 123456789012).

Prints a timeline (step, duration, status) on stderr and the final output as
JSON on stdout. Exit 0 when the execution succeeded, 1 when it failed, 2 for
bad input.

  --event FILE     the event for the pipeline's trigger (required)
  --endpoint URL   send the steps' AWS calls there (AWS_ENDPOINT_URL), e.g. a
                   local moto server; without it they go to AWS
  --python PATH    the Python that runs the steps (default: LAKEHOST_PYTHON,
                   else python3); it needs what the steps import (boto3)
  --out DIR        synthesize into DIR (default lake.out)
  --verbose        each step's input, output and logs
  --keep           keep the steps' files (code, events, results) and say where
]],
  validate = [[
usage: lakehost APP.lua validate [--builder docker|local|none] [--jobs N]

Checks app.lua, every pipeline config.yml and CloudFormation's limits, and
prints every problem as file:line: key: message. Writes nothing. Exit 2 when
anything is wrong.
]],
}

--- Parses "--name value", "--name=value" and flags against a spec.
-- @return opts, positional
local function parse(cmd, args, spec)
  local opts, pos, i = {}, {}, 1
  while args[i] do
    local a = args[i]
    if a == "--help" or a == "-h" then
      opts.help = true
    elseif a:sub(1, 2) == "--" then
      local name, val = a:match("^%-%-([%w-]+)=(.*)$")
      name = name or a:sub(3)
      local key = name:gsub("-", "_")
      local want = spec[key]
      if want == nil then
        local flags = {}
        for _, k in ipairs(util.sorted_keys(spec)) do flags[#flags + 1] = (k:gsub("_", "-")) end
        local near = util.did_you_mean(name, flags)
        errors.usage(("%s: unknown option '--%s'%s (see lakehost APP.lua %s --help)"):format(
          cmd, name, near and (" (did you mean '--%s'?)"):format(near) or "", cmd))
      elseif want == true then
        if val then errors.usage(("%s: --%s takes no value"):format(cmd, name)) end
        opts[key] = true
      else
        if not val then
          i = i + 1
          val = args[i]
          if val == nil then errors.usage(("%s: --%s needs a value (%s)"):format(cmd, name, want)) end
        end
        opts[key] = val
      end
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return opts, pos
end

local function eprint(fmt, ...) io.stderr:write(fmt:format(...), "\n") end

--- Stops with every problem the app recorded (config errors), exit 2.
local function check_problems(app)
  local probs = app.problems or {}
  if #probs == 0 then return end
  for _, p in ipairs(probs) do io.stderr:write(p, "\n") end
  errors.usage(("%d problem%s found; nothing was written"):format(#probs, #probs == 1 and "" or "s"))
end

local function build(app, asset_dir, emit, jobs)
  local synth = require("lake.synth")
  local res, errs = synth.build(app, { asset_dir = asset_dir, emit = emit,
    jobs = jobs and require("lake.workers").parse(jobs) })
  if not res then
    for _, e in ipairs(errs) do io.stderr:write(e, "\n") end
    errors.usage(("%d problem%s found; nothing was written"):format(#errs, #errs == 1 and "" or "s"))
  end
  for _, w in ipairs(res.warnings) do eprint("warning: %s", w) end
  return res
end

local function cmd_list(app)
  check_problems(app)
  local stacks, err = app:ordered_stacks()
  if not stacks then errors.usage(err) end
  local width = 0
  for _, s in ipairs(stacks) do width = math.max(width, #s.name) end
  local statuses
  local has_creds = os.getenv("AWS_ACCESS_KEY_ID") or os.getenv("AWS_PROFILE") or os.getenv("AWS_WEB_IDENTITY_TOKEN_FILE")
  if has_creds then
    local why
    statuses, why = require("lake.ops").statuses(stacks)
    if not statuses then eprint("list: deployed status unknown: %s", why) end
  end
  for _, s in ipairs(stacks) do
    local deps = util.copy(s.deps)
    table.sort(deps)
    local line = ("%-" .. width .. "s"):format(s.name)
    if statuses then line = line .. ("  %-20s"):format(statuses[s.name]) end
    if #deps > 0 then line = line .. "  after " .. table.concat(deps, ", ") end
    io.stdout:write((line:gsub("%s+$", "")), "\n")
  end
  return 0
end

local function cmd_validate(app, opts)
  check_problems(app)
  local fs = require("host.fs")
  local tmp = assert(fs.tmpdir("lakehost-validate-"))
  -- templates are checked and dropped (emit keeps nothing)
  local ok, res = pcall(build, app, tmp, function() return true end, opts.jobs)
  fs.remove_tree(tmp)
  if not ok then error(res, 0) end
  eprint("ok: %d stack%s, %d asset%s", #res.stacks, #res.stacks == 1 and "" or "s",
    #res.manifest.assets, #res.manifest.assets == 1 and "" or "s")
  return 0
end

-- Writes text as staging/name; when the previous output (folder previous)
-- has a file of that name with the same bytes, the new one is a hard link
-- to it instead. A synthesis of a lake that changed little then makes few
-- files, and removing the previous output frees few: on some disks making
-- and freeing thousands of files is most of the time a synthesis takes.
local function put(staging, previous, name, text)
  local fs = require("host.fs")
  local old = previous and previous .. "/" .. name
  if old and fs.same(old, text) and fs.link(old, staging .. "/" .. name) then return true end
  return fs.write(staging .. "/" .. name, text, { atomic = false })
end

--- Writes one stack's template and side files into the staging folder
-- (written in place: the folder as a whole is swapped in at the end, and
-- removed when anything fails). Files the previous output (folder
-- previous, or nil) has as they are become links to them (put).
local function write_stack(staging, previous, s)
  local ok, err = put(staging, previous, s.name .. ".template.json", s.text)
  if not ok then return nil, err end
  for suffix, text in util.spairs(s.stack.files) do
    ok, err = put(staging, previous, s.name .. suffix, text)
    if not ok then return nil, err end
  end
  return true
end

--- Finishes the staging folder (manifest) and swaps it in for out.
local function publish(res, out, staging)
  local fs = require("host.fs")
  local json = require("host.json")
  local function must(ok, err)
    if not ok then errors.failed(("synth: %s"):format(err)) end
    return ok
  end
  must(fs.write(staging .. "/manifest.json", json.encode(res.manifest, { pretty = true, newline = true }),
    { atomic = false }))
  if fs.exists(out) then
    local old = out .. ".old-" .. require("host.proc").pid()
    must(fs.rename(out, old))
    local ok, err = fs.rename(staging, out)
    if not ok then
      fs.rename(old, out)
      must(nil, err)
    end
    fs.remove_tree(old)
  else
    must(fs.rename(staging, out))
  end
end

local function cmd_synth(app, opts)
  check_problems(app)
  local fs = require("host.fs")
  local out = opts.out or "lake.out"
  local parent = out:match("^(.*)/[^/]+/?$")
  if parent and parent ~= "" then
    local ok, err = fs.mkdir_p(parent)
    if not ok then errors.failed("synth: " .. err) end
  end
  local staging = out:gsub("/+$", "") .. ".tmp-" .. require("host.proc").pid()
  fs.remove_tree(staging)
  local ok, err = fs.mkdir_p(staging .. "/assets")
  if not ok then errors.failed("synth: " .. err) end
  local previous = fs.isdir(out) and out or nil
  local done, res = pcall(function()
    local r = build(app, staging .. "/assets", function(st) return write_stack(staging, previous, st) end, opts.jobs)
    publish(r, out, staging)
    return r
  end)
  if not done then
    fs.remove_tree(staging)
    error(res, 0)
  end
  if not opts.quiet then
    for _, s in ipairs(res.stacks) do
      eprint("  %-48s %4d resources %8d bytes", s.name, s.resources, s.size)
    end
    eprint("wrote %d template%s and %d asset%s to %s", #res.stacks, #res.stacks == 1 and "" or "s",
      #res.manifest.assets, #res.manifest.assets == 1 and "" or "s", out)
  end
  return 0
end

--- Runs COMMAND for app.
-- @param app App
-- @param args table the command line after APP.lua
-- @param ctx table { file = path of app.lua, info = host info }
-- @return integer exit status
function M.run(app, args, ctx)
  local name = args[1]
  if name == nil or name == "--help" or name == "-h" or name == "help" then
    local out = name and io.stdout or io.stderr
    out:write(("usage: lakehost %s COMMAND [OPTIONS]\n\ncommands:\n"):format(ctx.file))
    for _, c in ipairs(util.sorted_keys(COMMANDS)) do
      out:write(("  %-10s %s\n"):format(c, COMMANDS[c].summary))
    end
    return name and 0 or 2
  end
  local cmd = COMMANDS[name]
  if not cmd then
    errors.usage(("unknown command '%s'%s (see lakehost %s --help)"):format(name,
      util.suggest(name, util.sorted_keys(COMMANDS)), ctx.file))
  end
  local rest = {}
  for i = 2, #args do rest[#rest + 1] = args[i] end
  local opts, pos = parse(name, rest, cmd.options)
  if opts.help then
    io.stdout:write(HELP[name] or ("usage: lakehost APP.lua " .. name .. "\n"))
    return 0
  end
  if #pos > 0 and not cmd.stacks and not cmd.args then
    errors.usage(("%s: unexpected argument '%s'"):format(name, pos[1]))
  end
  if opts.concurrency and not (tonumber(opts.concurrency) and tonumber(opts.concurrency) >= 1) then
    errors.usage(("%s: --concurrency expects a number >= 1, got '%s'"):format(name, opts.concurrency))
  end
  if opts.jobs and not require("lake.workers").parse(opts.jobs) then
    errors.usage(("%s: --jobs expects a whole number from 1 to 256, got '%s'"):format(name, opts.jobs))
  end
  if opts.builder then
    local builders = require("lake.assets.builders")
    if not builders.known(opts.builder) then
      errors.usage(("%s: --builder expects one of %s, got '%s'%s"):format(name, table.concat(builders.NAMES, ", "),
        opts.builder, util.suggest(opts.builder, builders.NAMES)))
    end
    app.settings.builder = opts.builder
  end
  if name == "synth" then return cmd_synth(app, opts) end
  if name == "list" then return cmd_list(app) end
  if name == "validate" then return cmd_validate(app, opts) end
  if name == "run" then
    check_problems(app)
    return require("lake.run").command(app, pos, opts, function(dir) cmd_synth(app, { out = dir, quiet = true }) end)
  end
  local ops = require("lake.ops")
  if name == "bootstrap" then return ops.bootstrap(app, opts) end
  local dir = opts.from
  if not dir then
    dir = opts.out or "lake.out"
    cmd_synth(app, { out = dir, quiet = true, jobs = opts.jobs })
  end
  if name == "deploy" then return ops.deploy(dir, pos, opts) end
  if name == "diff" then return ops.diff(dir, pos, opts) end
  if name == "destroy" then return ops.destroy(dir, pos, opts) end
  return 2
end

return M
