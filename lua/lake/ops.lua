--- The commands that talk to AWS: bootstrap, deploy, diff, destroy and the
-- status column of list. They read a synthesized output folder and drive
-- lake.deploy; progress goes to stderr, results to stdout.
local deploy = require("lake.deploy")
local errors = require("lake.errors")
local util = require("lake.util")

local M = {}

local function eprint(fmt, ...) io.stderr:write(fmt:format(...), "\n") io.stderr:flush() end

--- A deploy context over a session.
local function context(session, opts)
  local proc = require("host.proc")
  return {
    client = session.client, region = session.region, concurrency = tonumber(opts.concurrency) or 4,
    express = opts.express, force = opts.force, continue_rollback = opts.continue_rollback,
    sleep = proc.sleep, now = proc.time,
    out = function(line) io.stdout:write(line, "\n") io.stdout:flush() end,
    err = function(line) eprint("%s", line) end,
    progress = function(line) eprint("%s", line) end,
  }
end

local function read_manifest(dir)
  local fs = require("host.fs")
  local json = require("host.json")
  local text, err = fs.read(dir .. "/manifest.json")
  if not text then errors.usage(("%s: no synthesized lake here (%s); run synth first"):format(dir, err)) end
  local m, jerr = json.decode(text, dir .. "/manifest.json")
  if not m then errors.usage(jerr) end
  return m
end
M.read_manifest = read_manifest

--- The assets bucket name for this account and region.
local function assets_bucket(manifest, session)
  local env = { region = session.region, account = session.account() }
  return deploy.substitute(manifest.assets_bucket, env)
end

--- The toolkit stack's template (model + synth, like any stack).
function M.toolkit_template(bucket)
  local app_mod = require("lake.app")
  local synth = require("lake.synth")
  local a = app_mod.new { name = "lakehost-toolkit" }
  local s = a:stack(deploy.TOOLKIT_STACK, { description = "lakehost toolkit: the assets bucket" })
  local b = s:add("s3_bucket", "AssetsBucket", {
    BucketName = bucket,
    BucketEncryption = { ServerSideEncryptionConfiguration = {
      { ServerSideEncryptionByDefault = { SSEAlgorithm = "AES256" }, BucketKeyEnabled = true } } },
    PublicAccessBlockConfiguration = { BlockPublicAcls = true, BlockPublicPolicy = true,
      IgnorePublicAcls = true, RestrictPublicBuckets = true },
    OwnershipControls = { Rules = { { ObjectOwnership = "BucketOwnerEnforced" } } },
    VersioningConfiguration = { Status = "Enabled" },
    LifecycleConfiguration = { Rules = { {
      Id = "expire-old-versions", Status = "Enabled",
      NoncurrentVersionExpiration = { NoncurrentDays = 30 },
      AbortIncompleteMultipartUpload = { DaysAfterInitiation = 7 },
    } } },
  }, { deletion_policy = "Retain", update_replace_policy = "Retain" })
  local token = require("lake.token")
  s:add("s3_bucket_policy", "AssetsBucketPolicy", {
    Bucket = b:ref(),
    PolicyDocument = { Version = "2012-10-17", Statement = { {
      Sid = "DenyInsecureTransport", Effect = "Deny", Principal = "*", Action = "s3:*",
      Resource = { b:arn(), token.concat(b:arn(), "/*") },
      Condition = { Bool = { ["aws:SecureTransport"] = "false" } },
    } } },
  })
  local tpl = synth.template(s, {})
  local text = synth.stamp(tpl, {})
  return text, synth.hash_of(tpl)
end

--- bootstrap: creates or updates the toolkit stack.
function M.bootstrap(app, opts)
  local session = require("lake.aws.session").new { log = opts.verbose and function(m) eprint("aws: %s", m) end }
  local bucket = deploy.substitute(require("lake.token").resolve(app.assets_bucket, {}),
    { region = session.region, account = session.account() })
  eprint("bootstrapping %s in %s (assets bucket %s)", deploy.TOOLKIT_STACK, session.region, bucket)
  local text, hash = M.toolkit_template(bucket)
  local ctx = context(session, opts)
  local r = deploy.deploy_stack(ctx, { name = deploy.TOOLKIT_STACK, body = text, hash = hash, tags = app.tags })
  if not r.ok then
    eprint("%s: %s", deploy.TOOLKIT_STACK, r.message or r.status)
    for _, f in ipairs(r.failures or {}) do eprint("  %s", f) end
    errors.failed("bootstrap failed")
  end
  eprint("%s: %s", deploy.TOOLKIT_STACK, r.status)
  return 0
end

local function report(results, entries, verb, stats)
  local failed = 0
  for _, e in ipairs(entries) do
    local r = results[e.name] or { ok = false, status = "not run" }
    if r.ok then
      local calls = stats and stats.by_tag[e.name]
      eprint("  %-48s %-10s %6.2f s %4s API calls", e.name, r.status, r.seconds or 0, calls or 0)
    else
      failed = failed + 1
      eprint("  %-48s %s: %s", e.name, r.status, r.message or "")
      for _, f in ipairs(r.failures or {}) do eprint("      %s", f) end
    end
  end
  if failed > 0 then errors.failed(("%s failed for %d stack%s"):format(verb, failed, failed == 1 and "" or "s")) end
end

--- deploy [STACK...]: synth output -> AWS.
-- @param out_dir string a folder synth wrote
function M.deploy(out_dir, selectors, opts)
  local proc = require("host.proc")
  local manifest = read_manifest(out_dir)
  local stacks, serr = deploy.select(manifest, selectors, opts.exclusively)
  if not stacks then errors.usage(serr) end
  local session = require("lake.aws.session").new { log = opts.verbose and function(m) eprint("aws: %s", m) end }
  local ctx = context(session, opts)
  ctx.bucket = assets_bucket(manifest, session)
  local t0 = proc.monotime()
  local tk, tkerr = require("lake.aws.cloudformation").describe_stack(ctx.client, deploy.TOOLKIT_STACK)
  if tk == nil then
    errors.failed(("cannot reach CloudFormation in %s: %s"):format(session.region, tostring(tkerr)))
  elseif tk == false then
    errors.failed(("the toolkit stack %s is missing in %s: run `lakehost APP.lua bootstrap` first")
      :format(deploy.TOOLKIT_STACK, session.region))
  end
  local up, uerr = deploy.upload_assets(ctx, manifest, out_dir)
  if not up then errors.failed(uerr) end
  eprint("assets: %d uploaded (%d bytes), %d already there", up.uploaded, up.bytes, up.present)
  local entries, perr = deploy.prepare(ctx, stacks, out_dir)
  if not entries then errors.failed(perr) end
  eprint("deploying %d stack%s to %s (concurrency %d%s)", #entries, #entries == 1 and "" or "s",
    session.region, ctx.concurrency, ctx.express and ", express" or "")
  local results = deploy.schedule(entries, function(e) return deploy.deploy_stack(ctx, e) end,
    { concurrency = ctx.concurrency, sleep = ctx.sleep, now = ctx.now,
      on_resume = function(e) ctx.client.tag = e and e.name or nil end })
  report(results, entries, "deploy", ctx.client.stats)
  eprint("done in %.1f s, %d API calls", proc.monotime() - t0, ctx.client.stats.calls)
  if opts.stats then
    for k, v in util.spairs(ctx.client.stats.by_action) do eprint("  %-40s %d", k, v) end
  end
  return 0
end

--- diff [STACK...]: deployed templates vs. the synthesized ones.
function M.diff(out_dir, selectors, opts)
  local fs = require("host.fs")
  local json = require("host.json")
  local diff = require("lake.diff")
  local cfn = require("lake.aws.cloudformation")
  local manifest = read_manifest(out_dir)
  local stacks, serr = deploy.select(manifest, selectors, true)
  if not stacks then errors.usage(serr) end
  local session = require("lake.aws.session").new { log = opts.verbose and function(m) eprint("aws: %s", m) end }
  local differs = 0
  for _, s in ipairs(stacks) do
    local new = assert(json.decode(assert(fs.read(out_dir .. "/" .. s.template))))
    local old
    local body, err = cfn.get_template(session.client, s.name)
    if body then
      old = json.decode(body, s.name .. " (deployed)")
    elseif err.code == "ValidationError" and tostring(err.message):find("does not exist", 1, true) then
      old = nil
    else
      errors.failed(("%s: %s"):format(s.name, tostring(err)))
    end
    local d = diff.templates(old, new)
    if not old then io.stdout:write(s.name, " (new stack)\n") end
    for _, line in ipairs(diff.format(s.name, d)) do io.stdout:write(line, "\n") end
    if #d.added + #d.removed + #d.changed + #d.other > 0 then differs = differs + 1 end
  end
  if opts.fail and differs > 0 then return 1 end
  return 0
end

--- Resources a stack keeps when deleted (DeletionPolicy Retain).
local function retained(out_dir, s)
  local fs = require("host.fs")
  local json = require("host.json")
  local text = fs.read(out_dir .. "/" .. s.template)
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

--- destroy [STACK...]: deletes stacks, dependents first.
function M.destroy(out_dir, selectors, opts)
  local proc = require("host.proc")
  local manifest = read_manifest(out_dir)
  local stacks, serr = deploy.select(manifest, selectors, true)
  if not stacks then errors.usage(serr) end
  local names = {}
  for _, s in ipairs(stacks) do names[#names + 1] = s.name end
  if not opts.yes then
    if not proc.isatty(0) then
      errors.usage("destroy deletes " .. #stacks .. " stack(s); pass --yes to confirm when not run interactively")
    end
    io.stderr:write(("Delete %d stack%s: %s? [y/N] "):format(#stacks, #stacks == 1 and "" or "s", table.concat(names, ", ")))
    io.stderr:flush()
    local answer = io.stdin:read("l")
    if not answer or not answer:lower():match("^y") then
      eprint("nothing deleted")
      return 1
    end
  end
  local session = require("lake.aws.session").new { log = opts.verbose and function(m) eprint("aws: %s", m) end }
  local ctx = context(session, opts)
  local results = deploy.schedule(stacks, function(e) return deploy.destroy_stack(ctx, e) end,
    { concurrency = ctx.concurrency, reverse = true, sleep = ctx.sleep, now = ctx.now })
  for _, s in ipairs(stacks) do
    for _, k in ipairs(retained(out_dir, s)) do eprint("  kept: %s", k) end
  end
  report(results, stacks, "destroy")
  return 0
end

--- Deployed status of each stack, or nil when AWS is not reachable.
-- @return { [name] = status } | nil, reason
function M.statuses(stacks)
  local ok, session = pcall(require("lake.aws.session").new, {})
  if not ok then return nil, tostring(session) end
  local cfn = require("lake.aws.cloudformation")
  local out = {}
  for _, s in ipairs(stacks) do
    local d, err = cfn.describe_stack(session.client, s.name, { max_attempts = 2 })
    if d == nil then return nil, tostring(err) end
    out[s.name] = d and d.StackStatus or "not deployed"
  end
  return out
end

return M
