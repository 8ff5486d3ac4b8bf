--- `new pipeline NAME --domain D [--from L --to L]` and `new stack NAME`:
-- a pipeline folder or a standalone stack script from the templates
-- (lake.scaffold), checked against the built lake (app.datalake) before
-- anything is written.
local config = require("lake.pipeline.config")
local errors = require("lake.errors")
local fs = require("host.fs")
local json = require("host.json")
local load = require("lake.load")
local names = require("lake.names")
local pstack = require("lake.pipeline.stack")
local scaffold = require("lake.scaffold")
local util = require("lake.util")
local yaml = require("host.yaml")

local M = {
  synopsis = "pipeline|stack NAME",
  summary = "write a new pipeline or standalone stack from the templates",
  args = true,
  options = { domain = "D", from = "LAYER", to = "LAYER" },
  help = [[
usage: lakehost APP.lua new pipeline NAME --domain D [--from LAYER] [--to LAYER]
       lakehost APP.lua new stack NAME

new pipeline writes NAME/ in the lake's pipelines folder (app.lua's
pipelines_path): config.yml (name NAME, domain D, layers --from, default
raw, and --to, default trusted; triggered by objects put under NAME/ in the
origin bucket), trigger/ and catch/ (the example lake's code) and one Lambda
step, steps/copy_object/ (src/index.py, requirements.json), that copies the
object to the target bucket. NAME follows config.yml's rule for a pipeline's
name (lowercase letters, digits, '_' and '-', starting with a letter; short
enough for the names of its resources) and is no other pipeline's; D is one
of the lake's domains; the layers are raw, trusted or service, and differ.
The trigger imports the shared module example: when the project has no
shared/manifest.json, it is written too (shared/manifest.json, shared/example/).

new stack writes standalone/NAME.lua: a stack of your own (an SSM parameter
holding the raw bucket's name, to start from), whose first lines say what a
standalone script gets. Its stack is lake-NAME-stack-<stage>, with '-' for
'_' in NAME. The lake runs it with every other standalone/*.lua, unless
app.lua lists its standalone scripts (new stack then says so). NAME follows
the same rule as a pipeline's, and the lake must have no stack of that name.

Both check everything first and write nothing when the folder or file
exists, or a name, domain or layer is wrong (exit 2). Then run
`lakehost APP.lua validate`.

  --domain D       the pipeline's domain (required for new pipeline)
  --from LAYER     the layer it reads: raw, trusted or service (default raw)
  --to LAYER       the layer it writes (default trusted)
]],
}

local KINDS = { "pipeline", "stack" }
local NAME_PATTERN = "^[a-z][a-z0-9_-]*$"

-- The option each key of config.yml comes from, in messages.
local FROM_OPTION = { name = "NAME", domain = "--domain", ["layers.origin"] = "--from", ["layers.target"] = "--to" }

--- One error value of a list of messages (the first one's own when alone).
local function refuse(what, msgs)
  if #msgs == 1 then return errors.input(what .. ": " .. msgs[1]) end
  local err = errors.input(("%s: %d problems; nothing was written"):format(what, #msgs))
  err.problems = {}
  for i, m in ipairs(msgs) do err.problems[i] = what .. ": " .. m end
  return err
end

--- The problems of a checker about the options' values, as messages that
-- name the options.
local function messages(ck)
  local out = {}
  for _, p in ipairs(ck:sorted()) do
    local opt = FROM_OPTION[p.key]
    if opt then
      local msg = p.msg:gsub("layers%.origin", "--from"):gsub("layers%.target", "--to")
      out[#out + 1] = ("%s: %s"):format(opt, msg)
    end
  end
  return out
end

--- Prints what was written and what to run next.
local function done(what, written, ctx, note)
  io.stderr:write(("%s: wrote %d file%s:\n"):format(what, #written, #written == 1 and "" or "s"))
  for _, p in ipairs(written) do io.stderr:write("  ", (p:gsub("^%./", "")), "\n") end
  if note then io.stderr:write("note: ", note, "\n") end
  io.stderr:write(("next: lakehost %s validate\n"):format(ctx and ctx.file or "APP.lua"))
  return true
end

-- shared/: the files the trigger's shared module needs, or a refusal when
-- the project's manifest does not declare it.
local function shared_files(app)
  local dir = scaffold.join(app.root, "shared")
  local path = dir .. "/manifest.json"
  local _, rel = load.locate(app.root, path)
  if not fs.exists(path) then
    local out = {}
    for _, f in ipairs(scaffold.shared()) do out[#out + 1] = { path = dir .. "/" .. f.path, text = f.text } end
    return out
  end
  local text, rerr = fs.read(path)
  if not text then return nil, tostring(rerr) end
  local ok, manifest = pcall(json.decode, text, rel)
  if not ok or manifest == nil then return nil, ("%s: %s"):format(rel, tostring(manifest)) end
  if type(manifest) ~= "table" or manifest[scaffold.SHARED_MODULE] == nil then
    return nil, ("the trigger it writes imports the shared module '%s', which %s does not declare: add "
      .. "\"%s\": {\"packages\": [], \"extra_jars\": []} to it, and %s/ from a project of `lakehost init`")
      :format(scaffold.SHARED_MODULE, rel, scaffold.SHARED_MODULE,
        (rel:gsub("manifest%.json$", scaffold.SHARED_MODULE)))
  end
  return {}
end

local function new_pipeline(app, lake, name, opts, ctx)
  local what = "new pipeline"
  if not opts.domain then
    return nil, errors.input(("%s: --domain is required: one of the lake's domains (%s)")
      :format(what, table.concat(lake.domains, ", ")))
  end
  local vars = { name = name, domain = opts.domain, origin = opts.from or "raw", target = opts.to or "trusted" }
  -- config.yml's own rules, on the values before they go into YAML
  local _, ck = config.validate({ name = vars.name, domain = vars.domain,
    layers = { origin = vars.origin, target = vars.target } }, nil, { file = "config.yml", domains = lake.domains })
  local msgs = messages(ck)
  if #msgs > 0 then return nil, refuse(what, msgs) end
  if lake.pipelines[name] then
    return nil, refuse(what, { ("NAME: pipeline '%s' is already defined by %s"):format(name, lake.pipelines[name].file) })
  end
  if not lake.pipelines_path then
    return nil, refuse(what, { "app.lua's DatalakeBuilder has no pipelines_path: no folder to write the pipeline in" })
  end
  local dir = scaffold.join(lake.pipelines_path, name)
  local _, rel = load.locate(app.root, dir)
  if fs.stat(dir, { follow = false }) then
    return nil, refuse(what, { ("%s exists already; nothing was written"):format(rel) })
  end

  local files = scaffold.pipeline(vars)
  -- the config as written: every rule of config.yml, and its resources' names fit
  local text = files[1].text
  local value, marks = yaml.load(text, rel .. "/config.yml")
  if value == nil then error(("lake.commands.new: the config.yml template does not load: %s"):format(marks), 0) end
  local cfg
  cfg, ck = config.validate(value, marks, { file = rel .. "/config.yml", domains = lake.domains })
  if cfg.ok then pstack.check_names(cfg, lake.env, function(line, key, msg) ck:add(line, key, msg) end) end
  -- what is wrong now is the name's length, whichever resource it is seen in
  msgs = {}
  for _, p in ipairs(ck:sorted()) do
    msgs[#msgs + 1] = p.key == "name" and ("NAME: " .. p.msg)
      or ("NAME: in its config.yml, %s: %s"):format(p.key, p.msg)
  end
  if #msgs > 0 then return nil, refuse(what, msgs) end

  local out = {}
  for _, f in ipairs(files) do out[#out + 1] = { path = dir .. "/" .. f.path, text = f.text } end
  local shared, serr = shared_files(app)
  if not shared then return nil, refuse(what, { serr }) end
  for _, f in ipairs(shared) do out[#out + 1] = f end
  local written, werr = scaffold.write(".", out, { what = what })
  if not written then return nil, werr end
  return done(what, written, ctx)
end

local function new_stack(app, lake, name, opts, ctx)
  local what = "new stack"
  for _, o in ipairs({ "domain", "from", "to" }) do
    if opts[o] then return nil, refuse(what, { ("--%s is an option of new pipeline, not of new stack"):format(o) }) end
  end
  if not name:match(NAME_PATTERN) then
    return nil, refuse(what, { ("NAME: '%s' is not a stack name: lowercase letters, digits, '_' and '-', "
      .. "starting with a letter (it names standalone/NAME.lua and the stack lake-NAME-stack-<stage>)"):format(name) })
  end
  local stack = names.name("lake-" .. name .. "-stack", lake.stage)
  local longest = names.name("lake-" .. name .. "-stack", "test")
  if #longest > 128 then
    return nil, refuse(what, { ("NAME: the stack's name ('%s') would be %d characters, CloudFormation allows 128")
      :format(longest, #longest) })
  end
  if app:get_stack(stack) then
    return nil, refuse(what, { ("NAME: the lake has a stack '%s' already"):format(stack) })
  end
  local path = scaffold.join(app.root, "standalone/" .. name .. ".lua")
  local written, err = scaffold.write(".", { { path = path, text = scaffold.stack(name) } }, { what = what })
  if not written then return nil, err end
  local note
  if lake.standalone_listed then
    local _, rel = load.locate(app.root, path)
    note = ("app.lua lists its standalone scripts (the builder's standalone option): add %s there"):format(rel)
  end
  return done(what, written, ctx, note)
end

function M.run(app, opts, pos, ctx)
  local kind, name = pos[1], pos[2]
  if not util.contains(KINDS, kind) then
    return nil, errors.input(("new: %sexpected 'pipeline' or 'stack'%s (see lakehost APP.lua new --help)")
      :format(kind and ("'" .. kind .. "': ") or "", kind and util.suggest(kind, KINDS) or ""))
  end
  if not name then return nil, errors.input(("new %s: NAME is missing (see lakehost APP.lua new --help)"):format(kind)) end
  if pos[3] then return nil, errors.input(("new %s: unexpected argument '%s'"):format(kind, pos[3])) end
  local lake = app.datalake
  if not lake then
    return nil, errors.input(("new %s: the app builds no lake (lake.DatalakeBuilder{...}:build() in app.lua)"):format(kind))
  end
  if kind == "pipeline" then return new_pipeline(app, lake, name, opts, ctx) end
  return new_stack(app, lake, name, opts, ctx)
end

return M
