--- Assets: module code packaged into files that deploy uploads to the assets
-- bucket, named by the sha256 of their bytes (<sha256>.<ext>).
--
-- The model declares them here (pure: from the module folders as the load
-- phase read them); synthesis builds them (lake.assets.build, called by
-- lake.assembly). What they hold:
--
--   assets.lambda(app, id, mod)  one zip per Lambda module: src/ at the root
--                                (without tests/, __pycache__, *.pyc and dot
--                                files), the installed packages at the root,
--                                each declared shared module under
--                                shared/<name>/ (and an empty
--                                shared/__init__.py, so `from shared.example
--                                import naming` works)
--   assets.glue(app, id, mod)    the script (src/index.py) as a .py object;
--                                one zip for --extra-py-files with the rest
--                                of src/, the packages and the shared
--                                modules; one .jar per extra_jars entry
--   assets.file(app, id, path)   a file as it is
--
-- `mod` is a module as lake.pipeline.modules.check returns it (folders and
-- requirements checked, the files of src/ and of the shared modules listed
-- with their sha256).
--
-- Settings (app.settings, lake.App{ settings = {...} }):
--   builder = "docker"|"local"|"none"   default: docker when an engine
--                                       answers, else local (--builder)
--   lambda_runtime = "python3.12"       lambda_architecture = "x86_64"|"arm64"
--   pip = { index_url =, extra_index_url = {...}, find_links = {...}, no_index = true }
--   cache_dir = ".lake-cache" (relative to the app root; LAKEHOST_CACHE_DIR wins)
--   build_timeout = seconds (1800), python = "python3" (local builder)
local build = require("lake.assets.build")
local cache = require("lake.assets.cache")
local installers = require("lake.assets.installers")
local requirements = require("lake.assets.requirements")
local token = require("lake.token")
local util = require("lake.util")

local M = {}

--- How Lambda calls the code of every module: index.py's `handler`.
M.HANDLER = "index.handler"
M.DEFAULT_RUNTIME = "python3.12"
M.ARCHITECTURES = { "x86_64", "arm64" }
M.SETTINGS = { "builder", "lambda_runtime", "lambda_architecture", "pip", "cache_dir", "build_timeout", "python" }
M.PIP_KEYS = { "index_url", "extra_index_url", "find_links", "no_index" }

local function list_of(v)
  if v == nil then return {} end
  if type(v) == "string" then return { v } end
  return v
end

---------------------------------------------------------------------------
-- Settings

--- The asset settings of an app, checked, with their defaults (find_links
-- as app.lua gave them: lake.assets.build resolves the folders they name).
-- @param app App
-- @return { builder = "auto"|"docker"|"local"|"none", runtime =, python_version =, architecture =,
--   pip = { index_url =, extra_index_url = {}, find_links = {}, no_index = }, timeout =, python =,
--   cache_dir = } | nil, key, message on failure
function M.settings(app)
  local s = app.settings or {}
  local builder = s.builder
  if builder == nil or builder == "auto" then
    builder = "auto"
  elseif not installers.known(builder) then
    return nil, "settings.builder", ("'%s' is not a builder (docker, local or none)%s"):format(tostring(builder),
      util.suggest(tostring(builder), installers.NAMES))
  end
  local runtime = s.lambda_runtime or M.DEFAULT_RUNTIME
  local pyver = type(runtime) == "string" and runtime:match("^python(3%.%d+)$")
  if not pyver then
    return nil, "settings.lambda_runtime",
      ("'%s' is not a Python Lambda runtime (e.g. python3.12)"):format(tostring(runtime))
  end
  local arch = s.lambda_architecture or "x86_64"
  if not util.contains(M.ARCHITECTURES, arch) then
    return nil, "settings.lambda_architecture",
      ("'%s' is not a Lambda architecture (x86_64 or arm64)"):format(tostring(arch))
  end
  local pip = s.pip or {}
  if type(pip) ~= "table" then return nil, "settings.pip", "expected a table { index_url =, find_links =, ... }" end
  for k in pairs(pip) do
    if not util.contains(M.PIP_KEYS, k) then
      return nil, "settings.pip." .. tostring(k), "unknown key" .. util.suggest(tostring(k), M.PIP_KEYS)
    end
  end
  local out = { index_url = pip.index_url, no_index = pip.no_index and true or nil,
    extra_index_url = list_of(pip.extra_index_url), find_links = list_of(pip.find_links) }
  if out.index_url ~= nil and type(out.index_url) ~= "string" then
    return nil, "settings.pip.index_url", "expected a URL (string)"
  end
  for _, k in ipairs({ "extra_index_url", "find_links" }) do
    for _, v in ipairs(out[k]) do
      if type(v) ~= "string" then return nil, "settings.pip." .. k, "expected strings (URLs or folders)" end
    end
  end
  local timeout = s.build_timeout or installers.TIMEOUT
  if type(timeout) ~= "number" or timeout <= 0 then
    return nil, "settings.build_timeout", "expected a number of seconds"
  end
  return { builder = builder, runtime = runtime, python_version = pyver, architecture = arch, pip = out,
    timeout = timeout, python = s.python or "python3", cache_dir = cache.dir_of(app) }
end

--- Records the app's asset settings problem on the app, once (every
-- command then stops with exit 2 before building anything).
-- @return the settings | nil
function M.check_settings(app)
  local cfg, key, msg = M.settings(app)
  if not cfg and not app.asset_settings_reported then
    app.asset_settings_reported = true
    app:problem("app.lua", nil, key, msg)
  end
  return cfg
end

---------------------------------------------------------------------------
-- Requirements

-- True when the module or one of its shared modules lists something under
-- field ("packages", "extra_jars").
local function asks_for(mod, field)
  local own = mod[field]
  if own and #own > 0 then return true end
  for _, s in ipairs(mod.shared or {}) do
    if s[field] and #s[field] > 0 then return true end
  end
  return false
end

--- The pip requirements of a module: its own packages and those of every
-- shared module it declares, merged (one package asked for twice in two
-- different ways is refused, naming both sources).
-- @param mod table module from lake.pipeline.modules.check
-- @return sorted array of requirement strings | nil, string on failure
function M.packages(mod)
  if not asks_for(mod, "packages") then return {} end
  return requirements.merge_packages(requirements.sources(mod))
end

--- The jars of a module and of its shared modules, one per URL.
-- @param mod table
-- @return array of { url =, sha256 = pin|nil, text = } sorted by URL | nil, string on failure
function M.jars(mod)
  if not asks_for(mod, "extra_jars") then return {} end
  return requirements.merge_jars(requirements.sources(mod))
end

--- The problems of a module's requirements (packages asked for twice in
-- two ways, malformed jar pins), without recording them.
-- @param mod table module from lake.pipeline.modules.check
-- @return array of { file =, key =, msg = }
function M.module_problems(mod)
  local file = (mod.rel or mod.dir) .. "/requirements.json"
  local out = {}
  local _, perr = M.packages(mod)
  if perr then out[#out + 1] = { file = file, key = "packages", msg = perr } end
  local _, jerr = M.jars(mod)
  if jerr then out[#out + 1] = { file = file, key = "extra_jars", msg = jerr } end
  return out
end

--- Records the problems of a module's requirements on the app, once per
-- module (a module's assets are declared once per step that uses it).
-- @param app App
-- @param mod table module from lake.pipeline.modules.check
function M.check_module(app, mod)
  app.checked_modules = app.checked_modules or {}
  if app.checked_modules[mod] then return end
  app.checked_modules[mod] = true
  for _, p in ipairs(M.module_problems(mod)) do app:problem(p.file, nil, p.key, p.msg) end
end

---------------------------------------------------------------------------
-- Sources

-- True for a path (relative to a source folder) that is not packaged:
-- tests/ folders, __pycache__/, *.pyc/*.pyo and dot files or folders.
local function skipped(rel)
  for part in rel:gmatch("[^/]+") do
    if part == "tests" or part == "__pycache__" or part:sub(1, 1) == "." then return true end
  end
  return rel:match("%.py[co]$") ~= nil
end

--- The files of a module's archive other than installed packages.
-- @param mod table
-- @param what "lambda" (all of src/) or "script" (src/ without index.py, which a Glue job runs)
-- @return array of { name = entry name, path = file | data = string, from = label, sha256 =, size = }
--   sorted by name | nil, string on failure
function M.sources(mod, what)
  local out = {}
  local function tree(dir, prefix, label, files, sums, sizes)
    for i, rel in ipairs(files) do
      if not skipped(rel) and not (what == "script" and prefix == "" and rel == "index.py") then
        out[#out + 1] = { name = prefix .. rel, path = dir .. "/" .. rel, from = label,
          sha256 = sums and sums[i], size = sizes and sizes[i] }
      end
    end
  end
  if not (mod.src_files and util.contains(mod.src_files, "index.py")) then
    return nil, ("%s/src/index.py is missing"):format(mod.rel or mod.dir)
  end
  tree(mod.dir .. "/src", "", (mod.rel or mod.dir) .. "/src", mod.src_files, mod.src_sums, mod.src_sizes)
  local init
  for _, s in ipairs(mod.shared or {}) do
    if not s.files then return nil, ("shared module %s has no folder %s"):format(s.name, s.rel or s.dir) end
    tree(s.dir, "shared/" .. s.name .. "/", s.rel or s.dir, s.files, s.sums, s.sizes)
    init = init or { path = (s.dir:match("^(.*)/[^/]+$") or ".") .. "/__init__.py", facts = s.init }
  end
  if init then
    local have = false
    for _, e in ipairs(out) do
      if e.name == "shared/__init__.py" then have = true end
    end
    if not have then
      if init.facts then
        out[#out + 1] = { name = "shared/__init__.py", path = init.path, from = "shared",
          sha256 = init.facts.sha256, size = init.facts.size }
      else
        out[#out + 1] = { name = "shared/__init__.py", data = "", from = "(generated)" }
      end
    end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

--- True when M.sources(mod, what) has anything to package (without listing it).
function M.has_sources(mod, what)
  if mod.shared and #mod.shared > 0 then return true end -- shared/__init__.py at least
  for _, rel in ipairs(mod.src_files or {}) do
    if not skipped(rel) and not (what == "script" and rel == "index.py") then return true end
  end
  return false
end

---------------------------------------------------------------------------
-- Declarations

--- Builds the Lambda package of a module (what its asset's build does, at
-- synthesis).
-- @param ctx table lake.assets.build.context's
-- @return built | nil, string, "input"|"failed"
function M.build_lambda(ctx, id, mod)
  local packages, perr = M.packages(mod)
  if not packages then return nil, perr, "input" end
  local entries, serr = M.sources(mod, "lambda")
  if not entries then return nil, serr, "input" end
  local s = ctx.settings
  return build.archive(ctx, { id = id, module = mod.rel or mod.dir, kind = "lambda", entries = entries,
    packages = packages, runtime = s.runtime, python_version = s.python_version, architecture = s.architecture })
end

--- Builds the --extra-py-files zip of a Glue module.
-- @param opts table { runtime = "glue-<job kind>", python_version = }
-- @return built | nil, string, "input"|"failed"
function M.build_glue_deps(ctx, id, mod, opts)
  local packages, perr = M.packages(mod)
  if not packages then return nil, perr, "input" end
  local entries, serr = M.sources(mod, "script")
  if not entries then return nil, serr, "input" end
  return build.archive(ctx, { id = id, module = mod.rel or mod.dir, kind = "glue", entries = entries,
    packages = packages, runtime = opts.runtime, python_version = opts.python_version, architecture = "x86_64" })
end

--- A Lambda deployment package (zip) for a module.
-- @param app App
-- @param id string unique asset id, e.g. "pipeline_example/route_file"
-- @param mod table module from lake.pipeline.modules.check
-- @return asset (App:asset) with .handler, .runtime and .architectures (nil for x86_64)
function M.lambda(app, id, mod)
  local cfg = M.check_settings(app)
  M.check_module(app, mod)
  local asset = app:asset {
    id = id, kind = "lambda", describe = mod.rel or mod.dir,
    build = function(ctx) return M.build_lambda(ctx, id, mod) end,
  }
  asset.handler = M.HANDLER
  asset.runtime = cfg and cfg.runtime or M.DEFAULT_RUNTIME
  if cfg and cfg.architecture ~= "x86_64" then asset.architectures = { cfg.architecture } end
  return asset
end

--- The jar asset of one extra_jars entry (shared by every job that lists
-- the same URL).
-- @param app App
-- @param jar table { url =, sha256 = } (from assets.jars)
-- @return asset
function M.jar(app, jar)
  return app:asset {
    id = "jar:" .. jar.url, kind = "jar", describe = jar.url,
    build = function(ctx) return build.jar(ctx, jar) end,
  }
end

--- A single file uploaded as it is (a Glue job script).
-- @param app App
-- @param id string unique asset id
-- @param path string the file
-- @param ext string extension of the uploaded object ("py")
-- @param known table|nil { sha256 =, size = } of the file, when the load phase hashed it
function M.file(app, id, path, ext, known)
  return app:asset {
    id = id, kind = "file", describe = path,
    build = function(ctx) return build.file(ctx, id, path, ext, known) end,
  }
end

--- The assets of a Glue job.
-- @param app App
-- @param id string unique id prefix, e.g. "pipeline_example/process_type1"
-- @param mod table module from lake.pipeline.modules.check
-- @param opts table { runtime = "glue-<job kind>", python_version = the job's Python (its packages are for it) }
-- @return { script = asset (.py), deps = asset (.zip) | nil when there is nothing to add,
--   jars = { asset (.jar), ... } }
function M.glue(app, id, mod, opts)
  if type(opts) ~= "table" or not (opts.runtime and opts.python_version) then
    error("assets.glue: opts must give the job's runtime and python_version", 2)
  end
  M.check_module(app, mod)
  local known
  for i, rel in ipairs(mod.src_sums and mod.src_files or {}) do
    if rel == "index.py" then known = { sha256 = mod.src_sums[i], size = mod.src_sizes[i] } end
  end
  local out = { script = M.file(app, id .. "/index.py", mod.dir .. "/src/index.py", "py", known), jars = {} }
  -- (a module whose requirements clash has its problem recorded by the
  -- pipeline's checks: the command stops before anything is built)
  local packages = M.packages(mod) or {}
  if #packages > 0 or M.has_sources(mod, "script") then
    out.deps = app:asset {
      id = id .. "/deps", kind = "glue-deps", describe = mod.rel or mod.dir,
      build = function(ctx) return M.build_glue_deps(ctx, id .. "/deps", mod, opts) end,
    }
  end
  for _, j in ipairs(M.jars(mod) or {}) do out.jars[#out.jars + 1] = M.jar(app, j) end
  return out
end

--- "s3://<bucket>/<key>" of an asset (a token resolved at synthesis).
function M.s3_uri(asset)
  return token.concat("s3://", asset.bucket(), "/", asset.key())
end

--- The default arguments a Glue job needs for its assets:
-- --extra-py-files (the deps zip) and --extra-jars (comma-joined).
-- @param g table from assets.glue
-- @return table { ["--extra-py-files"] = token, ["--extra-jars"] = token } (absent keys: nothing to pass)
function M.glue_arguments(g)
  local args = {}
  if g.deps then args["--extra-py-files"] = M.s3_uri(g.deps) end
  if #g.jars > 0 then
    local parts = {}
    for i, j in ipairs(g.jars) do
      if i > 1 then parts[#parts + 1] = "," end
      parts[#parts + 1] = M.s3_uri(j)
    end
    args["--extra-jars"] = token.concat(table.unpack(parts))
  end
  return args
end

return M
