--- Synthesis: the model (lake.app) -> CloudFormation templates, side files,
-- assets and manifest.json in an output folder, cdk.out style.
--
-- Deterministic: no clock, no randomness, sorted keys (host.json), stacks in
-- dependency order with ties by name. The folder is built beside the target
-- and swapped in at the end, so a failed synth leaves the old one intact.
local json = require("host.json")
local token = require("lake.token")
local util = require("lake.util")

local M = {}

-- CloudFormation quotas checked before any API call.
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
M.LIMITS = {
  resources = 500, outputs = 200, parameters = 200,
  template_body = 51200,      -- TemplateBody inline
  template_url = 1000000,     -- TemplateURL (S3)
  logical_id = 255,
}
M.WARN_RATIO = 0.9

local array_mt = json.array_mt

-- Marks the lists of a value with json.array_mt where the schema says
-- "list", so `[]` never comes out as `{}`. Returns v itself when nothing
-- needed marking (tables are copied only on the way to a change).
local function shape(v, typ)
  if type(v) ~= "table" or typ == nil or getmetatable(v) ~= nil and token.is(v) then return v end
  local kind = typ.kind
  if kind == "list" then
    local out = getmetatable(v) == array_mt and nil or setmetatable({}, array_mt)
    local of = typ.of
    for i = 1, #v do
      local x = v[i]
      local y = shape(x, of)
      if y ~= x and not out then
        out = setmetatable({}, array_mt)
        for j = 1, i - 1 do out[j] = v[j] end
      end
      if out then out[i] = y end
    end
    return out or v
  elseif kind == "object" or kind == "map" then
    local out
    local fields, of = typ.fields, typ.of
    for k, x in pairs(v) do
      if type(x) == "table" then
        local y = shape(x, fields and fields[k] or of)
        if y ~= x then
          if not out then
            out = {}
            for k2, x2 in pairs(v) do out[k2] = x2 end
          end
          out[k] = y
        end
      end
    end
    return out and setmetatable(out, getmetatable(v)) or v
  end
  return v
end

local function sorted_tags_list(tags)
  local out = setmetatable({}, array_mt)
  for k, v in util.spairs(tags) do out[#out + 1] = { Key = k, Value = tostring(v) } end
  return out
end

-- The app's and the stack's tags, merged and sorted once per stack.
local function stack_tags(stack)
  local c = stack.tag_cache
  if not c then
    local merged = util.merge(stack.app.tags, stack.tags)
    c = { map = merged, list = sorted_tags_list(merged), empty = next(merged) == nil }
    stack.tag_cache = c
  end
  return c
end

-- Props with the effective tags (app, then stack, then resource) applied;
-- their lists shaped unless raw.
local function tagged_props(res, stack, raw)
  local props = raw and res.props or shape(res.props, res.kind.schema)
  local mode = res.kind.tags
  if not mode then return props end
  local st = stack_tags(stack)
  local own = next(res.tags) ~= nil
  if st.empty and not own then return props end
  props = util.copy(props)
  if mode == "list" then
    if not own and props.Tags == nil then
      props.Tags = st.list
      return props
    end
    local tags = util.merge(st.map, res.tags)
    local have, list = {}, setmetatable({}, array_mt)
    for _, t in ipairs(props.Tags or {}) do
      have[t.Key] = true
      list[#list + 1] = t
    end
    for _, t in ipairs(sorted_tags_list(tags)) do
      if not have[t.Key] then list[#list + 1] = t end
    end
    table.sort(list, function(a, b) return a.Key < b.Key end)
    props.Tags = list
  elseif mode == "map" then
    local tags = util.merge(st.map, res.tags, props.Tags)
    for k, v in pairs(tags) do tags[k] = tostring(v) end
    props.Tags = tags
  end
  return props
end

-- A stack's template as a table. With resolve, the template's JSON as Lua
-- values: tokens resolved, lists shaped. Without it, the props as the model
-- holds them, tokens and all: encoded with M.stamp's raw option, that gives
-- the same text without copying every table that holds a token.
local function assemble(stack, c, resolve)
  local function value(v) return resolve and token.resolve(v, c) or v end
  local resources = {}
  for _, r in ipairs(stack.resources) do
    if resolve then c.where = ("%s/%s"):format(stack.name, r.logical_id) end
    local props = value(tagged_props(r, stack, not resolve))
    local out = { Type = r.kind.type }
    if next(props) ~= nil then out.Properties = props end
    if #r.depends > 0 then
      local ids, seen = setmetatable({}, array_mt), {}
      for _, d in ipairs(r.depends) do
        if not seen[d.logical_id] then
          seen[d.logical_id] = true
          ids[#ids + 1] = d.logical_id
        end
      end
      table.sort(ids)
      out.DependsOn = ids
    end
    out.DeletionPolicy = r.deletion_policy
    out.UpdateReplacePolicy = r.update_replace_policy
    out.Metadata = r.metadata
    resources[r.logical_id] = out
  end
  local tpl = { AWSTemplateFormatVersion = "2010-09-09", Resources = resources }
  if stack.description then tpl.Description = stack.description end
  if stack.parameters and next(stack.parameters) then
    local params = {}
    for id, p in pairs(stack.parameters) do
      c.where = ("%s/Parameters/%s"):format(stack.name, id)
      params[id] = { Type = p.type, Default = value(p.default), Description = p.description }
    end
    tpl.Parameters = params
  end
  if next(stack.outputs) then
    local outputs = {}
    for id, o in pairs(stack.outputs) do
      c.where = ("%s/Outputs/%s"):format(stack.name, id)
      local out = { Value = value(o.value), Description = o.description }
      if o.export_name then out.Export = { Name = value(o.export_name) } end
      outputs[id] = out
    end
    tpl.Outputs = outputs
  end
  return tpl
end

--- The CloudFormation template of a stack, as a Lua table.
-- @param stack Stack
-- @param ctx table { assets = { [id] = {key=...} } }
function M.template(stack, ctx)
  stack:materialize()
  return assemble(stack, { stack = stack, assets = ctx and ctx.assets }, true)
end

--- The template of a stack with its tokens unresolved, and the encoder
-- options that resolve them as the text is made: M.stamp(raw, tags, opts)
-- gives the text M.stamp(M.template(stack, ctx), tags) gives, or raises
-- where that would raise or where an empty table could be [] or {} (the
-- caller then takes the long way, which knows).
-- @return raw template, opts for M.stamp
function M.raw_template(stack, ctx)
  stack:materialize()
  local c = { stack = stack, assets = ctx and ctx.assets }
  return assemble(stack, c, false),
    { replace = function(t) return token.resolve(t, c) end, field = token.FIELD, plain_empty = false }
end

--- Checks a stack against CloudFormation's quotas and name lengths.
-- @param stack Stack
-- @param tpl table the template
-- @param size integer bytes of the template as it will be sent
-- @return errors (array of strings), warnings (array of strings)
function M.check_limits(stack, tpl, size)
  local errs, warns = {}, {}
  local function count(t) local n = 0 for _ in pairs(t or {}) do n = n + 1 end return n end
  local function quota(what, n, max, advice)
    if n > max then
      errs[#errs + 1] = ("stack '%s' has %d %s, CloudFormation allows %d: %s"):format(stack.name, n, what, max, advice)
    elseif n >= max * M.WARN_RATIO then
      warns[#warns + 1] = ("stack '%s' has %d %s, %d%% of CloudFormation's %d: %s soon")
        :format(stack.name, n, what, n * 100 // max, max, advice)
    end
  end
  quota("resources", count(tpl.Resources), M.LIMITS.resources,
    "split it (move pipelines or standalone resources into stacks of their own)")
  quota("outputs", count(tpl.Outputs), M.LIMITS.outputs, "split it or drop outputs nobody imports")
  quota("parameters", count(tpl.Parameters), M.LIMITS.parameters, "split it")
  quota("bytes of template", size, M.LIMITS.template_url,
    "split it (templates over 51,200 bytes deploy through the assets bucket; 1 MB is the hard limit)")
  for _, r in ipairs(stack.resources) do
    local np, max = r.kind.name_property, r.kind.name_max
    if np and max and r.props[np] ~= nil then
      local worst = token.worst_case(r.props[np])
      if worst and #worst > max then
        errs[#errs + 1] = ("stack '%s' resource %s: %s '%s' is %d characters with the longest region and account, %s allows %d")
          :format(stack.name, r.logical_id, np, worst, #worst, r.kind.type, max)
      end
    end
  end
  return errs, warns
end

--- Encodes a template the way synth writes it.
function M.encode(tpl) return (json.encode(tpl, { pretty = true, newline = true })) end

local PLACEHOLDER = "[lakehost:" .. ("0"):rep(16) .. "]"

--- Puts "[lakehost:<hash>]" at the end of the template's Description and
-- returns the final text. The hash covers the template and the stack tags,
-- so deploy can tell from DescribeStacks alone that nothing changed. One
-- encode: the text is hashed with a placeholder, which is then replaced
-- (Description sorts before every section but AWSTemplateFormatVersion, so
-- its value holds the first occurrence).
-- @param tpl table the template (M.template's, or M.raw_template's with raw)
-- @param tags table the stack's tags
-- @param raw table|nil the options M.raw_template gave with tpl
function M.stamp(tpl, tags, raw)
  local desc = tpl.Description
  desc = (desc and desc ~= "" and (desc .. " ") or "")
  tpl.Description = desc .. PLACEHOLDER
  -- M.encode's text, made once: the encoder hashes it and writes the hash
  -- over the placeholder's zeros before it becomes a string (a template is
  -- tens of KB, and a worker keeps every copy of it until it exits)
  local text, digits = json.encode(tpl, { pretty = true, replace = raw and raw.replace, field = raw and raw.field,
    plain_empty = not raw, newline = true, hash_mark = PLACEHOLDER, hash_tail = "\n\0" .. json.encode(tags) })
  tpl.Description = desc .. "[lakehost:" .. assert(digits, "the placeholder is in the text") .. "]"
  return text
end

--- The hash stamped into a template, or nil.
function M.hash_of(tpl)
  return type(tpl.Description) == "string" and tpl.Description:match("%[lakehost:(%x+)%]") or nil
end

local build

--- Builds everything in memory: templates, side files, the manifest.
-- Assets are built by their own builder into ctx.asset_dir; a builder that
-- returns nil, err, "failed" raises a lake.errors failure (exit 1).
-- @param app App
-- @param opts table { asset_dir = folder for built assets, log = function(msg),
--   emit = function(s) called with { stack=, name=, text=, template= (its tokens
--   maybe unresolved) } as each
--   template is ready (then result.stacks keeps only names and sizes, and
--   each deferred stack is released once emitted, so memory stays flat
--   however many pipelines there are), jobs = worker processes for the
--   deferred stacks when emitting (lake.workers.count; nil: the default) }
-- @return result { stacks = {...}, manifest = table, warnings = {...} } | nil, errs (array)
function M.build(app, opts)
  local assets = require("lake.assets")
  assets.open_memo(app)
  local res = table.pack(pcall(build, app, opts or {}))
  assets.close_memo(app)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

function build(app, opts)
  local stacks, err = app:ordered_stacks()
  if not stacks then return nil, { err } end
  for _, s in ipairs(stacks) do
    for _, d in ipairs(s.deps) do
      if not app.by_name[d] then
        return nil, { ("stack '%s' depends on '%s', which is not defined"):format(s.name, d) }
      end
    end
  end

  -- Assets are built as the stacks that declare them are materialized
  -- (deferred stacks declare theirs then); the new ones of each step in id
  -- order. Their files are content-addressed, so the order changes nothing.
  -- manifest_assets: one entry per asset id this process built, in the
  -- order built (what a worker's answer reports). files: the manifest's
  -- entries, one per built file and kind, each with the ids that are that
  -- file (thousands of pipelines share a few files: one entry each, not one
  -- per id); file_list: the same in the order made, so that a worker's
  -- answer can name a file its process knew when forked by its number.
  local assets, manifest_assets, files, file_list = {}, setmetatable({}, array_mt), {}, {}
  local function file_key(key, kind) return key .. "\0" .. (kind or "") end
  local function add_file(id, key, kind, sha256, size)
    local fkey = file_key(key, kind)
    local f = files[fkey]
    if not f then
      f = { key = key, kind = kind, sha256 = sha256, size = size, file = "assets/" .. key,
        ids = setmetatable({}, array_mt) }
      files[fkey] = f
      file_list[#file_list + 1] = f
      file_list[f] = #file_list
    end
    f.ids[#f.ids + 1] = id
    return f
  end
  local declared = 0
  local function build_new_assets(extra)
    local new = {}
    for i = declared + 1, #app.assets do new[#new + 1] = app.assets[i] end
    declared = #app.assets
    for _, a in ipairs(extra or {}) do new[#new + 1] = a end
    table.sort(new, function(a, b) return a.id < b.id end)
    for _, a in ipairs(new) do
      if not assets[a.id] and a.build then -- without build: its stack was released, and builds it again
        local built, berr, code = a.build({ dir = opts.asset_dir, app = app, log = opts.log })
        if not built then
          local msg = ("asset '%s': %s"):format(a.id, tostring(berr))
          -- a build that failed (pip, a download, the disk) is exit 1, not bad input
          if code == "failed" then require("lake.errors").failed(msg) end
          return nil, msg
        end
        built.key = built.key or (built.sha256 .. "." .. built.ext)
        assets[a.id] = built
        manifest_assets[#manifest_assets + 1] = {
          id = a.id, key = built.key, sha256 = built.sha256, size = built.size, kind = a.kind,
        }
      end
    end
    return true
  end
  local ok0, aerr0 = build_new_assets()
  if not ok0 then return nil, { aerr0 } end

  -- One stack: its record { index, name, size, resources, errs, warnings,
  -- manifest = its manifest.json entry, text/template (when not emitted) }
  -- or { index, fatal = message } when an asset is bad input.
  local failed_before = false
  local function synth_one(i, s)
    local rec = { index = i, name = s.name, errs = {}, warnings = {} }
    local ok, tpl = pcall(s.materialize, s)
    local tags, text = util.merge(app.tags, s.tags), nil
    if ok then
      local aok, aerr = build_new_assets(s.assets_declared)
      if not aok then return { index = i, fatal = aerr } end
      -- Only the text is kept when emitting: made from the raw template,
      -- tokens resolved as the encoder meets them. Anything unusual (an
      -- error, an empty list or map) takes the long way, which knows.
      if opts.emit then
        local raw, ropts = M.raw_template(s, { assets = assets })
        local sok, stext = pcall(M.stamp, raw, tags, ropts)
        if sok then tpl, text = raw, stext end
      end
      if not text then ok, tpl = pcall(M.template, s, { assets = assets }) end
    end
    if not ok then
      local errors = require("lake.errors")
      if errors.is(tpl) and tpl.exit ~= 2 then error(tpl, 0) end -- a failed operation, not bad input
      rec.errs[1] = tostring(tpl)
      return rec
    end
    text = text or M.stamp(tpl, tags)
    rec.errs, rec.warnings = M.check_limits(s, tpl, #text)
    local deps = setmetatable(util.copy(s.deps), array_mt)
    table.sort(deps)
    local n = 0
    for _ in pairs(tpl.Resources) do n = n + 1 end
    rec.size, rec.resources = #text, n
    failed_before = failed_before or #rec.errs > 0
    if opts.emit and not failed_before then
      local ok2, eerr = opts.emit({ stack = s, name = s.name, text = text, template = tpl })
      if not ok2 then rec.errs[#rec.errs + 1] = tostring(eerr) end
    else
      rec.text, rec.template = text, tpl
    end
    if opts.emit and s:release() then require("lake.assets").forget_stack(app) end
    rec.manifest = {
      name = s.name, template = s.name .. ".template.json", dependencies = deps,
      tags = tags, description = s.description, hash = M.hash_of(tpl),
      resources = n, size = #text,
    }
    return rec
  end

  -- Deferred stacks (pipelines) may be split across worker processes
  -- (lake.workers; opts.jobs); the others are made here first.
  local recs, deferred = {}, {}
  for i, s in ipairs(stacks) do
    if s.rebuild then deferred[#deferred + 1] = i end
  end
  local workers = require("lake.workers")
  local jobs = opts.emit and workers.count(#deferred, opts.jobs) or 1
  for i, s in ipairs(stacks) do
    if jobs == 1 or not s.rebuild then
      recs[#recs + 1] = synth_one(i, s)
      if recs[#recs].fatal then return nil, { recs[#recs].fatal } end
    end
  end
  if jobs > 1 then
    -- the assets built here so far go to files now: a worker knows the
    -- files of those and of the answers that arrived before it was forked
    for _, a in ipairs(manifest_assets) do add_file(a.id, a.key, a.kind, a.sha256, a.size) end
    manifest_assets = setmetatable({}, array_mt)
    -- Each answer carries the assets its stack built: { id, file = number }
    -- for a file this process knew when the worker was forked, else { id,
    -- key, kind }, with sha256 and size the first time. Workers forked
    -- after it arrived know them, and do not build them again (one that
    -- does, racing, built the same content-addressed file: merged once).
    local function merge(_, values)
      for _, v in ipairs(values) do
        for _, a in ipairs(v.assets) do
          if not assets[a.id] then
            local f = a.file and file_list[a.file]
            if f then
              f.ids[#f.ids + 1] = a.id
            else
              f = add_file(a.id, a.key, a.kind, a.sha256, a.size)
            end
            assets[a.id] = f -- key, sha256 and size: what templates take from it
          end
        end
      end
    end
    local told = {}
    local answers = workers.map(#deferred, jobs, function(k)
      local i, known = deferred[k], #manifest_assets
      local rec = synth_one(i, stacks[i])
      local new = setmetatable({}, array_mt)
      for j = known + 1, #manifest_assets do
        local a = manifest_assets[j]
        local fkey = file_key(a.key, a.kind)
        local f = files[fkey]
        if f then
          new[#new + 1] = { id = a.id, file = file_list[f] }
        elseif told[fkey] then
          new[#new + 1] = { id = a.id, key = a.key, kind = a.kind }
        else
          told[fkey] = true
          new[#new + 1] = { id = a.id, key = a.key, kind = a.kind, sha256 = a.sha256, size = a.size }
        end
      end
      return { rec = rec, assets = new }
    end, merge)
    for _, v in ipairs(answers) do recs[#recs + 1] = v.rec end
  end
  table.sort(recs, function(a, b) return a.index < b.index end)

  local out, errs, warnings = {}, {}, {}
  local mstacks = setmetatable({}, array_mt)
  for _, r in ipairs(recs) do
    if r.fatal then return nil, { r.fatal } end
    for _, x in ipairs(r.errs) do errs[#errs + 1] = x end
    for _, x in ipairs(r.warnings) do warnings[#warnings + 1] = x end
    if r.manifest then
      local s = stacks[r.index]
      out[#out + 1] = { stack = s, name = s.name, size = r.size, resources = r.resources, text = r.text,
        template = r.template }
      mstacks[#mstacks + 1] = r.manifest
    end
  end
  if #errs > 0 then return nil, errs end
  for _, a in ipairs(manifest_assets) do add_file(a.id, a.key, a.kind, a.sha256, a.size) end
  -- by key and kind, each with its ids sorted (plain strings: a lake of
  -- thousands of pipelines has tens of thousands of ids)
  local fkeys, mfiles = {}, setmetatable({}, array_mt)
  for fkey, f in pairs(files) do
    fkeys[#fkeys + 1] = fkey
    table.sort(f.ids)
  end
  table.sort(fkeys)
  for i, fkey in ipairs(fkeys) do mfiles[i] = files[fkey] end
  local manifest = {
    version = 2, app = app.name, stage = app.stage, region = app.region, account = app.account,
    assets_bucket = token.resolve(app.assets_bucket, {}),
    stacks = mstacks, assets = mfiles,
  }
  return { stacks = out, manifest = manifest, warnings = warnings, assets = assets }
end

return M
