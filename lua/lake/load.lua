--- The load phase: the only place the lake's own files are read.
--
-- app.lua names folders and files (pipelines/, shared/, standalone scripts);
-- this module reads them and returns plain data, which the model
-- (lake.builder, lake.pipeline) checks and turns into stacks without any
-- I/O of its own. Nothing here judges what it reads: a missing file or a
-- YAML error is recorded as data, and the model reports it with the file
-- and line the user should look at.
--
-- A module folder (trigger/, catch/, steps/<module>/, as loaded):
--   { dir = path to read, rel = path to show, exists = boolean,
--     src = { files = {relative paths}, sums = {sha256}, sizes = {bytes} } | nil (no src/),
--     requirements = { text = ... } | { missing = true } | { error = message } }
local crypto = require("host.crypto")
local fs = require("host.fs")
local json = require("host.json")
local yaml = require("host.yaml")

local M = {}

-- What reading <entry>/config.yml fails with for an entry of pipelines/
-- that is not a pipeline's folder: no config.yml file there, or no folder.
local NOT_A_PIPELINE = { ENOENT = true, ENOTDIR = true, EISDIR = true }

--- A folder as the process reads it (the path as given: absolute, or
-- relative to the working directory, as app.lua builds it from its own
-- folder) and as the user types it in messages (relative to the app root
-- when it lies inside).
-- @return dir, rel
function M.locate(root, path)
  path = path:gsub("(.)/+$", "%1")
  local rroot, rpath = fs.realpath(root or "."), fs.realpath(path)
  if rroot and rpath then
    if rpath == rroot then return path, "." end
    if rpath:sub(1, #rroot + 1) == rroot .. "/" then return path, rpath:sub(#rroot + 2) end
  end
  return path, (path:gsub("^%./", ""))
end

local function join(a, b) return (a == "" or a == ".") and b or (a .. "/" .. b) end

--- The files under dir with their sha256 and sizes.
-- @return { files = {relative paths}, sums = {sha256}, sizes = {bytes} } | nil (not a folder)
function M.tree(dir)
  local files, sums, sizes = fs.walk(dir, { sha256 = true })
  if not files then return nil end
  return { files = files, sums = sums, sizes = sizes }
end

--- The files read from the top of every module folder (lake.pipeline.steps.athena's query).
M.MODULE_FILES = { "query.sql" }

--- Reads one module folder.
-- @param dir string the folder as the process reads it
-- @param rel string the folder as the user types it
-- @return module (see the module comment)
function M.module(dir, rel)
  local m = { dir = dir, rel = rel }
  local text, err, code = fs.read(dir .. "/requirements.json")
  if text then
    m.requirements = { text = text }
  elseif code == "ENOENT" then
    m.requirements = { missing = true }
  else
    m.requirements = { error = tostring(err) }
  end
  m.exists = text ~= nil or fs.isdir(dir)
  if m.exists then m.src = M.tree(dir .. "/src") end
  -- text files a step type reads from the top of its folder (an athena
  -- step's query.sql): { [name] = { text = } | { error = } }, absent ones left out
  m.files = {}
  for _, f in ipairs(M.MODULE_FILES) do
    local t, ferr, fcode = fs.read(dir .. "/" .. f)
    if t then m.files[f] = { text = t } elseif fcode ~= "ENOENT" and fcode ~= "ENOTDIR" then m.files[f] = { error = tostring(ferr) } end
  end
  return m
end

--- Reads the lake's shared/ folder: manifest.json, the folders it
-- declares and shared/__init__.py.
-- @param dir string shared/ as the process reads it
-- @param rel string as the user types it
-- @return { dir, rel, manifest = { text = } | { error = } | nil (no file), folders = { [name] = tree | false },
--   init = { sha256 =, size = } | nil }
function M.shared(dir, rel)
  local out = { dir = dir, rel = rel, folders = {} }
  local path = dir .. "/manifest.json"
  if not fs.isfile(path) then return out end
  local text, err = fs.read(path)
  if not text then
    out.manifest = { error = tostring(err) }
    return out
  end
  out.manifest = { text = text }
  local ok, value = pcall(json.decode, text)
  if ok and type(value) == "table" then
    for name in pairs(value) do
      if type(name) == "string" and name:match("^[A-Za-z_][A-Za-z0-9_]*$") then
        out.folders[name] = fs.isdir(dir .. "/" .. name) and M.tree(dir .. "/" .. name) or false
      end
    end
  end
  if fs.isfile(dir .. "/__init__.py") then
    local sha, size = crypto.sha256_file(dir .. "/__init__.py")
    if sha then out.init = { sha256 = sha, size = size } end
  end
  return out
end

-- config.yml of one entry of pipelines/: { file, value, marks } when it
-- parses, { file, error = { line, msg } } when it does not, nil when the
-- entry is not a pipeline's folder.
local function config(dir, rel)
  local file = rel .. "/config.yml"
  local text, rerr, code = fs.read(dir .. "/config.yml")
  if not text and NOT_A_PIPELINE[code] then return nil end
  if not text then return { file = file, error = { msg = "cannot read: " .. tostring(rerr) } } end
  local value, marks = yaml.load(text, file)
  if value == nil then
    -- "name:line:col: message" -> line, message
    local err = tostring(marks)
    local line, msg = err:match("^.-:(%d+):%d+: (.*)$")
    if not line then line, msg = err:match("^.-:(%d+): (.*)$") end
    return { file = file, error = { line = tonumber(line), msg = msg or err } }
  end
  return { file = file, value = value, marks = marks }
end

--- Reads one pipeline folder: config.yml and every module folder.
-- @return { folder, dir, rel, config = (see above) | nil, trigger = module, catch = module,
--   steps = { [name] = module }, step_entries = { names under steps/ } } | nil (not a pipeline's folder)
function M.pipeline(dir, rel, folder)
  local cfg = config(dir, rel)
  if not cfg then return nil end
  local p = { folder = folder, dir = dir, rel = rel, config = cfg, steps = {},
    trigger = M.module(dir .. "/trigger", join(rel, "trigger")),
    catch = M.module(dir .. "/catch", join(rel, "catch")) }
  p.step_entries = fs.isdir(dir .. "/steps") and fs.list(dir .. "/steps") or {}
  for _, name in ipairs(p.step_entries) do
    local sdir = dir .. "/steps/" .. name
    if fs.isdir(sdir) then p.steps[name] = M.module(sdir, join(rel, "steps/" .. name)) end
  end
  return p
end

--- Reads every pipeline under a folder (entries in name order) and the
-- lake's shared/ folder.
-- @param root string the app's folder
-- @param path string the pipelines folder (absolute, or relative to the working directory)
-- @param opts table|nil { shared_path = shared/ (default <root>/shared) }
-- @return { rel = the folder as the user types it, missing = true (no such folder) | nil,
--   shared = M.shared's, pipelines = { M.pipeline's, ... } }
function M.pipelines(root, path, opts)
  local dir, rel = M.locate(root, path)
  local out = { rel = rel, pipelines = {} }
  out.shared = M.shared(M.locate(root, (opts and opts.shared_path) or ((root or ".") .. "/shared")))
  if not fs.isdir(dir) then
    out.missing = true
    return out
  end
  for _, name in ipairs(fs.list(dir) or {}) do
    local p = M.pipeline(dir .. "/" .. name, join(rel, name), name)
    if p then out.pipelines[#out.pipelines + 1] = p end
  end
  return out
end

--- The name a script goes by in messages: relative to the app's folder when inside it.
-- @param path string
-- @param root string|nil the app's folder
function M.display_name(path, root)
  if type(root) == "string" and root ~= "" and root ~= "." then
    root = root:gsub("/+$", "") .. "/"
    if path:sub(1, #root) == root then return path:sub(#root + 1) end
  end
  return (path:gsub("^%./", ""))
end

--- The standalone scripts of an app's folder: every `standalone/*.lua`
-- file, in name order (what the builder runs when app.lua names none).
-- @param root string the app's folder
-- @return array of paths (empty when there is no standalone/ folder)
function M.standalone_files(root)
  local dir = join(root or ".", "standalone")
  local out = {}
  for _, name in ipairs(fs.list(dir) or {}) do
    local path = dir .. "/" .. name
    if name:match("%.lua$") and fs.isfile(path) then out[#out + 1] = path end
  end
  return out
end

--- Reads standalone scripts.
-- @param paths array of paths
-- @param root string|nil the app's folder (for the names shown)
-- @return array of { path, name, text } | { path, name, error }
function M.scripts(paths, root)
  local out = {}
  for _, path in ipairs(paths) do
    local name = M.display_name(path, root)
    local text, err = fs.read(path)
    out[#out + 1] = text and { path = path, name = name, text = text }
      or { path = path, name = name, error = ("%s: cannot read standalone script: %s"):format(name, tostring(err)) }
  end
  return out
end

return M
