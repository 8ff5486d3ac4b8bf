--- Assembly: the model (lake.app) -> an output folder cdk.out style:
-- <stack>.template.json for each stack, its side files (diagrams),
-- assets/<sha256>.<ext> and manifest.json. The only writer of that folder.
--
-- Deterministic: no clock, no randomness, sorted keys (host.json), stacks
-- in dependency order with ties by name; the same app gives the same
-- bytes. The folder is built beside the target and swapped in at the end,
-- so a failed synthesis leaves the previous one intact.
--
-- M.render is pure (templates and manifest in memory, given the built
-- assets); M.synthesize builds the assets and writes the folder.
local assets = require("lake.assets")
local build = require("lake.assets.build")
local errors = require("lake.errors")
local fs = require("host.fs")
local json = require("host.json")
local proc = require("host.proc")
local stamp = require("lake.stamp")
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
M.MANIFEST_VERSION = 2

local array_mt = json.array_mt

---------------------------------------------------------------------------
-- Templates

local function sorted_tags_list(tags)
  local out = setmetatable({}, array_mt)
  for k, v in util.spairs(tags) do out[#out + 1] = { Key = k, Value = tostring(v) } end
  return out
end

-- Props with the effective tags (app, then stack, then resource) applied.
-- @param tags table { map = the stack's tags, list = them as a sorted Tags list }
local function tagged_props(res, tags)
  local props, mode = res.props, res.kind.tags
  if not mode then return props end
  local own = next(res.tags) ~= nil
  if next(tags.map) == nil and not own then return props end
  props = util.copy(props)
  if mode == "list" then
    if not own and props.Tags == nil then
      props.Tags = tags.list
      return props
    end
    local have, list = {}, setmetatable({}, array_mt)
    for _, t in ipairs(props.Tags or {}) do
      have[t.Key] = true
      list[#list + 1] = t
    end
    for _, t in ipairs(sorted_tags_list(util.merge(tags.map, res.tags))) do
      if not have[t.Key] then list[#list + 1] = t end
    end
    table.sort(list, function(a, b) return a.Key < b.Key end)
    props.Tags = list
  elseif mode == "map" then
    local merged = util.merge(tags.map, res.tags, props.Tags)
    for k, v in pairs(merged) do merged[k] = tostring(v) end
    props.Tags = merged
  end
  return props
end

--- The tags of a stack: the app's, then its own.
function M.tags(stack) return util.merge(stack.app.tags, stack.tags) end

-- A stack's template as a table; value(v) gives each value its place
-- (tokens resolved, or as the model holds them for json.encode's replace).
-- c.where follows the part being made, for the messages of token.resolve.
local function assemble(stack, c, value)
  local map = M.tags(stack)
  local tags = { map = map, list = sorted_tags_list(map) }
  local resources = {}
  for _, r in ipairs(stack.resources) do
    c.where = ("%s/%s"):format(stack.name, r.logical_id)
    local props = value(tagged_props(r, tags))
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
    out.Metadata = r.metadata and value(r.metadata)
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

--- The CloudFormation template of a stack, as a Lua table (tokens
-- resolved; raises on a reference to another stack's resource).
-- @param stack Stack
-- @param ctx table|nil { assets = { [id] = { key = ... } } }
function M.template(stack, ctx)
  local c = { stack = stack, assets = ctx and ctx.assets }
  return assemble(stack, c, function(v) return token.resolve(v, c) end)
end

--- The text of a stack's template (stamped, as synth writes it) and the
-- template as a table with its tokens unresolved: the encoder resolves
-- each token as it meets it, so the Lua side does not walk every value.
-- Raises what M.template raises, with the same message.
-- @param stack Stack
-- @param ctx table|nil { assets = }
-- @return text, template (tokens unresolved)
function M.text(stack, ctx)
  local c = { stack = stack, assets = ctx and ctx.assets }
  local tpl = assemble(stack, c, function(v) return v end)
  local ok, text = pcall(stamp.put, tpl, M.tags(stack), function(t) return token.resolve(t, c) end)
  if ok then return text, tpl end
  M.template(stack, ctx) -- the same failure, named where it is (c.where)
  error(text, 0)
end

--- Encodes a template the way synth writes it.
function M.encode(tpl) return (json.encode(tpl, { pretty = true, newline = true })) end

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

---------------------------------------------------------------------------
-- The whole app

--- Problems of bad input, as one error value: err.problems lists them.
local function problems(list)
  local err = errors.input(("%d problem%s found; nothing was written"):format(#list, #list == 1 and "" or "s"))
  err.problems = list
  return err
end
M.problems = problems

-- The manifest's asset entries: one per built file and kind, with the
-- ids of every asset that is that file (pipelines whose modules hold the
-- same code share one archive), sorted by key and kind.
local function manifest_assets(app, built)
  local files, fkeys = {}, {}
  for _, a in ipairs(app.assets) do
    local b = built[a.id]
    if b then
      local fkey = b.key .. "\0" .. (a.kind or "")
      local f = files[fkey]
      if not f then
        f = { key = b.key, kind = a.kind, sha256 = b.sha256, size = b.size, file = "assets/" .. b.key,
          ids = setmetatable({}, array_mt) }
        files[fkey] = f
        fkeys[#fkeys + 1] = fkey
      end
      f.ids[#f.ids + 1] = a.id
    end
  end
  table.sort(fkeys)
  local out = setmetatable({}, array_mt)
  for i, fkey in ipairs(fkeys) do
    table.sort(files[fkey].ids)
    out[i] = files[fkey]
  end
  return out
end

--- The templates and the manifest of an app, in memory.
-- @param app App
-- @param built table { [asset id] = { key =, sha256 =, size = } } (M.build_assets's)
-- @return result { stacks = { { stack =, name =, text =, template =, files =, size =, resources = } },
--   manifest = table, warnings = { strings } } | nil, err (bad input: err.problems)
function M.render(app, built)
  local stacks, oerr = app:ordered_stacks()
  if not stacks then return nil, problems({ oerr }) end
  for _, s in ipairs(stacks) do
    for _, d in ipairs(s.deps) do
      if not app.by_name[d] then
        return nil, problems({ ("stack '%s' depends on '%s', which is not defined"):format(s.name, d) })
      end
    end
  end
  local out, errs, warnings = {}, {}, {}
  local mstacks = setmetatable({}, array_mt)
  for _, s in ipairs(stacks) do
    local ok, text, tpl = pcall(M.text, s, { assets = built })
    if not ok then
      errs[#errs + 1] = tostring(text)
    else
      local tags = M.tags(s)
      local e, w = M.check_limits(s, tpl, #text)
      for _, x in ipairs(e) do errs[#errs + 1] = x end
      for _, x in ipairs(w) do warnings[#warnings + 1] = x end
      local n = 0
      for _ in pairs(tpl.Resources) do n = n + 1 end
      local deps = setmetatable(util.copy(s.deps), array_mt)
      table.sort(deps)
      out[#out + 1] = { stack = s, name = s.name, text = text, template = tpl, files = s.files, size = #text,
        resources = n }
      mstacks[#mstacks + 1] = { name = s.name, template = s.name .. ".template.json", dependencies = deps,
        tags = tags, description = s.description, hash = stamp.of(tpl.Description), resources = n, size = #text }
    end
  end
  if #errs > 0 then return nil, problems(errs) end
  local manifest = {
    version = M.MANIFEST_VERSION, app = app.name, stage = app.stage, region = app.region, account = app.account,
    assets_bucket = token.resolve(app.assets_bucket, {}),
    stacks = mstacks, assets = manifest_assets(app, built),
  }
  return { stacks = out, manifest = manifest, warnings = warnings }
end

--- Builds every asset the app declared into dir (in id order; the files
-- are content-addressed, so the order changes nothing).
-- @param app App
-- @param dir string the output's assets folder
-- @param log function|nil
-- @return { [id] = { key =, sha256 =, size =, path = } } | nil, err
function M.build_assets(app, dir, log)
  local cfg, key, msg = assets.settings(app)
  if not cfg then return nil, problems({ ("app.lua: %s: %s"):format(key, msg) }) end
  local ctx = build.context(app, cfg, dir, log)
  local list = {}
  for i, a in ipairs(app.assets) do list[i] = a end
  table.sort(list, function(a, b) return a.id < b.id end)
  local built = {}
  for _, a in ipairs(list) do
    local b, berr, code = a.build(ctx)
    if not b then
      local text = ("asset '%s': %s"):format(a.id, tostring(berr))
      -- a build that failed (pip, a download, the disk) is not bad input
      if code == "failed" then return nil, errors.failure(text) end
      return nil, problems({ text })
    end
    b.key = b.key or (b.sha256 .. "." .. b.ext)
    built[a.id] = b
  end
  return built
end

-- Writes text as dir/name; when the previous output (folder previous) has
-- a file of that name with the same bytes, the new one is a hard link to
-- it instead. On ext4 a synthesis of the 100-pipeline lake over its
-- previous output spent 80 ms of its 330 creating files it could link
-- (bench/synth_bench.lua).
local function put(dir, previous, name, text)
  local old = previous and previous .. "/" .. name
  if old and fs.same(old, text) and fs.link(old, dir .. "/" .. name) then return true end
  return fs.write(dir .. "/" .. name, text, { atomic = false })
end

-- Writes the files of a rendered app into dir (previous: the output it replaces, if any).
local function write_all(dir, previous, res)
  for _, s in ipairs(res.stacks) do
    local ok, err = put(dir, previous, s.name .. ".template.json", s.text)
    if not ok then return nil, err end
    for suffix, text in util.spairs(s.files) do
      ok, err = put(dir, previous, s.name .. suffix, text)
      if not ok then return nil, err end
    end
  end
  return fs.write(dir .. "/manifest.json", json.encode(res.manifest, { pretty = true, newline = true }),
    { atomic = false })
end

-- Puts the finished staging folder in the place of out.
local function swap(staging, out)
  if not fs.exists(out) then return fs.rename(staging, out) end
  local old = out .. ".old-" .. proc.pid()
  local ok, err = fs.rename(out, old)
  if not ok then return nil, err end
  ok, err = fs.rename(staging, out)
  if not ok then
    fs.rename(old, out)
    return nil, err
  end
  fs.remove_tree(old)
  return true
end

--- Synthesizes an app into the folder out: builds the assets, renders the
-- templates and writes everything, replacing what was there only when
-- everything succeeded.
-- @param app App
-- @param out string the output folder
-- @param opts table|nil { log = function(msg) }
-- @return result (M.render's) | nil, err (an error value; bad input: err.problems)
function M.synthesize(app, out, opts)
  opts = opts or {}
  out = out:gsub("(.)/+$", "%1")
  local parent = out:match("^(.*)/[^/]+$")
  if parent and parent ~= "" then
    local ok, err = fs.mkdir_p(parent)
    if not ok then return nil, errors.failure("synth: " .. err) end
  end
  local staging = out .. ".tmp-" .. proc.pid()
  fs.remove_tree(staging)
  local ok, err = fs.mkdir_p(staging .. "/assets")
  if not ok then return nil, errors.failure("synth: " .. err) end
  local res, rerr
  local built, berr = M.build_assets(app, staging .. "/assets", opts.log)
  if built then res, rerr = M.render(app, built) else rerr = berr end
  if res then
    local wok, werr = write_all(staging, fs.isdir(out) and out or nil, res)
    if wok then wok, werr = swap(staging, out) end
    if not wok then rerr, res = errors.failure("synth: " .. tostring(werr)), nil end
  end
  if not res then
    fs.remove_tree(staging)
    return nil, rerr
  end
  return res
end

return M
