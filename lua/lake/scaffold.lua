--- Project templates: what `lakehost init` and `lakehost APP.lua new` write.
--
-- The templates are files of the repository built into the binary (the
-- Makefile's EMBED_DATA, read with host.embedded): scaffold/ holds the ones
-- of their own, with {{key}} placeholders (app.lua, README.md, gitignore,
-- standalone.lua, pipeline/config.yml and the pipeline's one step); a
-- pipeline's trigger and catch functions, and the shared module the trigger
-- imports, are the example lake's own files (pipelines/pipeline_example/
-- trigger/ and catch/, shared/), so a new project runs the code the example
-- runs and there is one copy of it.
--
-- Everything but M.write works on text in memory and answers lists of
-- { path = relative path, text = }; M.write alone touches the disk.
local embedded = require("host.embedded")
local errors = require("lake.errors")
local fs = require("host.fs")
local util = require("lake.util")

local M = {}

--- The domain, pipeline and standalone stack of a new project.
M.DOMAIN = "example"
M.PIPELINE = "example_pipeline"
M.STACK = "parameters"
--- The shared module the trigger imports (`from shared.example import naming`).
M.SHARED_MODULE = "example"

-- A pipeline folder: { path in it, embedded file, template = has placeholders }.
local PIPELINE_FILES = {
  { "config.yml", "scaffold/pipeline/config.yml", template = true },
  { "trigger/src/index.py", "pipelines/pipeline_example/trigger/src/index.py" },
  { "trigger/requirements.json", "pipelines/pipeline_example/trigger/requirements.json" },
  { "catch/src/index.py", "pipelines/pipeline_example/catch/src/index.py" },
  { "catch/requirements.json", "pipelines/pipeline_example/catch/requirements.json" },
  { "steps/copy_object/src/index.py", "scaffold/pipeline/steps/copy_object/src/index.py" },
  { "steps/copy_object/requirements.json", "scaffold/pipeline/steps/copy_object/requirements.json" },
}

-- shared/: the manifest declaring the module and the module's files.
local SHARED_FILES = {
  { "manifest.json", "shared/manifest.json" },
  { "example/__init__.py", "shared/example/__init__.py" },
  { "example/naming.py", "shared/example/naming.py" },
}

--- A file built into lakehost; raises when it is not (a build without it
-- is broken, not the user's input).
local function data(path)
  local text = embedded.file(path)
  if not text then error(("lake.scaffold: %s is not built into this lakehost"):format(path), 2) end
  return text
end

--- Replaces each {{key}} of text with vars[key] (raises for a key without a value).
function M.render(text, vars)
  return (text:gsub("{{([%w_]+)}}", function(k)
    local v = vars[k]
    if v == nil then error(("lake.scaffold: no value for {{%s}}"):format(k), 0) end
    return v
  end))
end

--- s as the inside of a double-quoted Lua string.
local function lua_string_body(s) return (("%q"):format(s):sub(2, -2)) end

--- The files of a pipeline folder.
-- @param opts table { name =, domain =, origin =, target = } (already checked: they go into YAML as they are)
-- @return array of { path (in the folder), text }
function M.pipeline(opts)
  local vars = { name = opts.name, domain = opts.domain, origin = opts.origin, target = opts.target }
  local out = {}
  for _, f in ipairs(PIPELINE_FILES) do
    local text = data(f[2])
    out[#out + 1] = { path = f[1], text = f.template and M.render(text, vars) or text }
  end
  return out
end

--- The files of shared/ that the pipeline's trigger needs.
-- @return array of { path (in shared/), text }
function M.shared()
  local out = {}
  for _, f in ipairs(SHARED_FILES) do out[#out + 1] = { path = f[1], text = data(f[2]) } end
  return out
end

--- The text of a standalone stack script, standalone/<name>.lua.
-- @param name string the script's name (checked: a pipeline-like name)
function M.stack(name)
  return M.render(data("scaffold/standalone.lua"), { name = name, stack = util.kebab(name) })
end

--- The files of a new project.
-- @param opts table { lake_name = (no control characters) }
-- @return array of { path (in the project), text }
function M.project(opts)
  local app_name = util.kebab(opts.lake_name)
  local out = {
    { path = "app.lua", text = M.render(data("scaffold/app.lua"),
      { lake_name = lua_string_body(opts.lake_name), app_name = app_name }) },
    { path = "README.md", text = M.render(data("scaffold/README.md"),
      { lake_name = opts.lake_name, pipeline = M.PIPELINE, stack = M.STACK }) },
    { path = ".gitignore", text = data("scaffold/gitignore") },
  }
  for _, f in ipairs(M.pipeline { name = M.PIPELINE, domain = M.DOMAIN, origin = "raw", target = "trusted" }) do
    out[#out + 1] = { path = "pipelines/" .. M.PIPELINE .. "/" .. f.path, text = f.text }
  end
  out[#out + 1] = { path = "standalone/" .. M.STACK .. ".lua", text = M.stack(M.STACK) }
  for _, f in ipairs(M.shared()) do out[#out + 1] = { path = "shared/" .. f.path, text = f.text } end
  return out
end

---------------------------------------------------------------------------
-- Writing

--- a/b ("b" when a is "" or "."; a's trailing slashes dropped).
local function join(a, b) return (a == "" or a == ".") and b or (a:gsub("/+$", "") .. "/" .. b) end
M.join = join

--- The folders a file's path goes through ("a", "a/b" for "a/b/c"; "/x" for "/x/y").
local function folders_of(p)
  local out = {}
  for i = 2, #p do
    if p:sub(i, i) == "/" and p:sub(i - 1, i - 1) ~= "/" then out[#out + 1] = p:sub(1, i - 1) end
  end
  return out
end

--- Writes files under dir, creating dir and the folders they need. When any
-- of them exists already (or a folder on the way is a file), writes nothing.
-- Each file is written atomically; when one fails, the files and folders
-- written so far are removed, so a failure leaves nothing half-written.
-- @param dir string the folder, as the process reads it ("." for paths of their own)
-- @param files array of { path = relative to dir, text = }
-- @param opts table|nil { what = "init" (the messages' prefix), fs = host.fs (specs give a stand-in) }
-- @return array of the paths written (dir/path) | nil, err (input: the files that exist, in
--   err.problems; failed: the disk's error, after the clean-up)
function M.write(dir, files, opts)
  opts = opts or {}
  local f, what = opts.fs or fs, opts.what or "write"
  local function exists(p) return f.stat(p, { follow = false }) ~= nil end
  local function isdir(p)
    local st = f.stat(p)
    return st ~= nil and st.type == "directory"
  end

  local clash, seen = {}, {}
  local function refuse(p, why)
    if not seen[p] then
      seen[p] = true
      clash[#clash + 1] = ("%s: %s"):format(p, why)
    end
  end
  if exists(dir) and not isdir(dir) then refuse(dir, "exists and is not a folder") end
  for _, file in ipairs(files) do
    local p = join(dir, file.path)
    for _, d in ipairs(folders_of(p)) do
      if exists(d) and not isdir(d) then refuse(d, "exists and is not a folder") end
    end
    if exists(p) then refuse(p, "exists") end
  end
  if #clash > 0 then
    local err = errors.input(("%s: %d of the files to write exist%s already; nothing was written")
      :format(what, #clash, #clash == 1 and "s" or ""))
    err.problems = clash
    return nil, err
  end

  local created, written = {}, {}
  local function undo(msg)
    for i = #written, 1, -1 do f.remove(written[i]) end
    for i = #created, 1, -1 do f.remove(created[i]) end
    return nil, errors.failure(("%s: %s (nothing was left written)"):format(what, msg))
  end
  -- Creates p and its missing parents, remembering each for undo.
  local function mkdir(p)
    if exists(p) then return true end
    local parent = fs.dirname(p)
    if parent ~= p then
      local ok, err = mkdir(parent)
      if not ok then return nil, err end
    end
    local ok, err = f.mkdir_p(p)
    if not ok then return nil, err end
    created[#created + 1] = p
    return true
  end
  local ok, err = mkdir(dir)
  if not ok then return undo(tostring(err)) end
  for _, file in ipairs(files) do
    local p = join(dir, file.path)
    ok, err = mkdir(fs.dirname(p))
    if not ok then return undo(tostring(err)) end
    ok, err = f.write(p, file.text)
    if not ok then return undo(tostring(err)) end
    written[#written + 1] = p
  end
  return written
end

return M
