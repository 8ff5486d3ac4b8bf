--- Assets: module code packaged into files that deploy uploads to the assets
-- bucket, named by the sha256 of their bytes (<sha256>.<ext>).
--
-- The model declares them (app:asset with a build function); synthesis
-- builds them in id order into <out>/assets/. What they hold:
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
-- requirements already checked). Packages install with a builder
-- (lake.assets.builders: docker, local or none) and archives go through the
-- build cache (lake.assets.cache), keyed by the sha256 of the inputs: the
-- sources (relative path and sha256 of every file), the merged package
-- list, the builder, the runtime, the architecture, the pip options and the
-- cache format. A hit is copied into the output without building.
--
-- Archives are deterministic (host.zip: sorted entries, fixed times and
-- modes). From pip's output the zips leave out *.pyc, __pycache__/ and the
-- top-level bin/ folder: console scripts whose shebang names the Python of
-- the machine that built them, which Lambda and Glue never run. The
-- .dist-info folders stay (importlib.metadata reads them; for one wheel
-- they are the same bytes everywhere).
--
-- Settings (app.settings, lake.App{ settings = {...} }):
--   builder = "docker"|"local"|"none"   default: docker when an engine
--                                       answers, else local (--builder)
--   lambda_runtime = "python3.12"       lambda_architecture = "x86_64"|"arm64"
--   pip = { index_url =, extra_index_url = {...}, find_links = {...}, no_index = true }
--   cache_dir = ".lake-cache" (relative to the app root; LAKEHOST_CACHE_DIR wins)
--   build_timeout = seconds (1800), python = "python3" (local builder)
--
-- Errors: a build returns `nil, string, code` where code is "input" (the
-- user's files are wrong: exit 2) or "failed" (pip, a download, the disk:
-- exit 1). Nothing is left in the output or the cache after a failure.
local builders = require("lake.assets.builders")
local cache = require("lake.assets.cache")
local requirements = require("lake.assets.requirements")
local token = require("lake.token")
local util = require("lake.util")

local M = {}

M.HANDLER = "index.handler"
M.DEFAULT_RUNTIME = "python3.12"
M.ARCHITECTURES = { "x86_64", "arm64" }
--- Python of the Glue job types (Glue 3.0 Python shell, Glue 4.0 Spark).
M.GLUE_PYTHON = { pythonshell = "3.9", glueetl = "3.10" }
M.SETTINGS = { "builder", "lambda_runtime", "lambda_architecture", "pip", "cache_dir", "build_timeout", "python" }
M.PIP_KEYS = { "index_url", "extra_index_url", "find_links", "no_index" }
--- pip's environment variables that change what the local builder installs.
M.PIP_ENV = { "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX" }

local function id_file(id) return (id:gsub("[^%w%-_.]", "_")) end

-- A temporary name for an asset's file in dir, of this process only (synth's
-- worker processes may publish the same asset, a shared jar, at once).
local function tmp_file(dir, id, ext)
  return ("%s/.%s.%d.%s.tmp"):format(dir, id_file(id), require("host.proc").pid(), ext or "file")
end

local function list_of(v)
  if v == nil then return {} end
  if type(v) == "string" then return { v } end
  return v
end

---------------------------------------------------------------------------
-- Settings

local checked = setmetatable({}, { __mode = "k" })

--- The asset settings of an app, checked, with their defaults.
-- @param app App
-- @return { builder = "auto"|"docker"|"local"|"none", runtime =, python_version =, architecture =,
--   pip = { index_url =, extra_index_url = {}, find_links = {}, no_index = }, timeout =, python =,
--   cache_dir = } | nil, key, message on failure
local check_settings

function M.settings(app)
  -- Called several times per asset: within one synthesis (the file memo
  -- is open) the settings are read once; otherwise the answer is kept for
  -- the same settings.
  local fm = app.file_memo
  local once = fm and fm.settings
  if once then return once.cfg, once.key, once.msg end
  local ok, fp = pcall(require("host.json").encode, app.settings or {})
  fp = (ok and fp or "?") .. "\0" .. tostring(app.root) .. "\0" .. tostring(os.getenv("LAKEHOST_CACHE_DIR"))
  local memo = app.asset_settings_memo
  if not (ok and memo and memo.fp == fp) then
    local cfg, key, msg = check_settings(app)
    memo = { fp = fp, cfg = cfg, key = key, msg = msg }
    if ok then app.asset_settings_memo = memo end
  end
  if fm then fm.settings = memo end
  return memo.cfg, memo.key, memo.msg
end

function check_settings(app)
  local s = app.settings or {}
  local builder = s.builder
  if builder == nil or builder == "auto" then
    builder = "auto"
  elseif not builders.known(builder) then
    return nil, "settings.builder", ("'%s' is not a builder (docker, local or none)%s"):format(tostring(builder),
      util.suggest(tostring(builder), builders.NAMES))
  end
  local runtime = s.lambda_runtime or M.DEFAULT_RUNTIME
  local pyver = type(runtime) == "string" and runtime:match("^python(3%.%d+)$")
  if not pyver then
    return nil, "settings.lambda_runtime",
      ("'%s' is not a Python Lambda runtime (e.g. python3.12)"):format(tostring(runtime))
  end
  local arch = s.lambda_architecture or "x86_64"
  if arch ~= "x86_64" and arch ~= "arm64" then
    return nil, "settings.lambda_architecture",
      ("'%s' is not a Lambda architecture (x86_64 or arm64)"):format(tostring(arch))
  end
  local pip = s.pip or {}
  if type(pip) ~= "table" then return nil, "settings.pip", "expected a table { index_url =, find_links =, ... }" end
  local known = {}
  for _, k in ipairs(M.PIP_KEYS) do known[k] = true end
  for k in pairs(pip) do
    if not known[k] then
      return nil, "settings.pip." .. tostring(k), "unknown key" .. util.suggest(tostring(k), M.PIP_KEYS)
    end
  end
  local out = { index_url = pip.index_url, no_index = pip.no_index and true or nil,
    extra_index_url = list_of(pip.extra_index_url), find_links = {} }
  if out.index_url ~= nil and type(out.index_url) ~= "string" then
    return nil, "settings.pip.index_url", "expected a URL (string)"
  end
  for _, k in ipairs({ "extra_index_url", "find_links" }) do
    for _, v in ipairs(list_of(pip[k])) do
      if type(v) ~= "string" then return nil, "settings.pip." .. k, "expected strings (URLs or folders)" end
    end
  end
  -- Local find-links folders are relative to the app root; the Docker
  -- builder mounts them, so they become absolute.
  local root = (app.root or "."):gsub("/+$", "")
  for _, f in ipairs(list_of(pip.find_links)) do
    if not f:match("^%a[%w+.-]*://") then
      if f:sub(1, 1) ~= "/" and root ~= "." and root ~= "" then f = root .. "/" .. f end
      f = require("host.fs").realpath(f) or f
    end
    out.find_links[#out.find_links + 1] = f
  end
  local timeout = s.build_timeout or builders.TIMEOUT
  if type(timeout) ~= "number" or timeout <= 0 then
    return nil, "settings.build_timeout", "expected a number of seconds"
  end
  return { builder = builder, runtime = runtime, python_version = pyver, architecture = arch, pip = out,
    timeout = timeout, python = s.python or "python3", cache_dir = cache.dir_of(app) }
end

-- Settings or a problem recorded once on the app (exit 2 before building).
local function settings_or_problem(app)
  local cfg, key, msg = M.settings(app)
  if not cfg and not checked[app] then
    checked[app] = true
    app:problem("app.lua", nil, key, msg)
  end
  return cfg
end

--- Records the app's asset settings problem, once (see check_module).
function M.check_settings(app) settings_or_problem(app) end

local resolved = setmetatable({}, { __mode = "k" })

--- The builder an app uses for modules with packages: the configured one,
-- else docker when an engine answers, else local (asked once per app).
-- @param app App
-- @param cfg table from settings
-- @param log function|nil
-- @return string
function M.builder(app, cfg, log)
  if cfg.builder ~= "auto" then return cfg.builder end
  if not resolved[app] then
    local ok, why = require("lake.docker").available()
    resolved[app] = ok and "docker" or "local"
    if log then
      log(ok and "assets: building dependencies with Docker"
        or ("assets: %s; building dependencies with pip on this machine"):format(why))
    end
  end
  return resolved[app]
end

--- The Dockerfile of a kind ("lambda" or "glue"): the app's own
-- docker/Dockerfile.<kind>, else the one built into lakehost, written to
-- dir/Dockerfile.<kind> (a fresh temporary folder when dir is nil, left to
-- the caller) so that docker gets a file; dir is then the build context.
-- @param app App
-- @param kind string
-- @param dir string|nil folder for the built-in Dockerfile
-- @return path | nil, string on failure
function M.dockerfile(app, kind, dir)
  local fs = require("host.fs")
  local name = "Dockerfile." .. kind
  local root = (app.root or "."):gsub("/+$", "")
  local own = (root == "" and "" or root .. "/") .. "docker/" .. name
  if fs.isfile(own) then return fs.realpath(own) or own end
  local text = require("host.embedded").file("docker/" .. name)
  if not text then return nil, ("no %s (looked for %s; lakehost has none built in)"):format(name, own) end
  local ok, err
  if dir then
    ok, err = fs.mkdir_p(dir)
  else
    dir, err = fs.tmpdir("lakehost-docker-")
    ok = dir ~= nil
  end
  if not ok then return nil, err end
  local path = dir .. "/" .. name
  if not fs.same(path, text) then
    ok, err = fs.write(path, text)
    if not ok then return nil, err end
  end
  return fs.realpath(path) or path
end

---------------------------------------------------------------------------
-- Requirements

-- True when the module or one of its shared modules lists something under
-- field ("packages", "extra_jars"): most list nothing, and then there is
-- nothing to merge.
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

---------------------------------------------------------------------------
-- Input files, remembered for one synthesis
--
-- synth.build opens a memo on the app (M.open_memo) and closes it when it
-- is done: while it runs, a folder's listing and a file's sha256 do not
-- change, and a lake of many pipelines reads the same shared modules for
-- every one of them. What belongs to shared modules is kept for the whole
-- synthesis; what belongs to one module only until its stack is written
-- (M.forget_stack). Without a memo every call goes to the disk.

local function level() return { walk = {}, kind = {}, sha = {} } end

--- Starts remembering file facts for app; returns the memo.
function M.open_memo(app)
  app.file_memo = { keep = level(), stack = level(), built = {} }
  return app.file_memo
end

--- Forgets what was remembered of the last stack's own modules.
function M.forget_stack(app)
  if app.file_memo then app.file_memo.stack = level() end
end

--- Stops remembering (the next synthesis reads everything again).
function M.close_memo(app) app.file_memo = nil end

-- The memo's table of a kind of fact ("walk", "kind", "sha"), or nil.
local function remembered(memo, what, keep)
  return memo and (keep and memo.keep or memo.stack)[what]
end

local function walk(memo, dir, keep)
  local t = remembered(memo, "walk", keep)
  local hit = t and t[dir]
  if hit then return hit end
  local paths, err = require("host.fs").walk(dir)
  if t and paths then t[dir] = paths end
  return paths, err
end

-- "file", "directory", or false when path is neither.
local function kind_of(memo, path, keep)
  local t = remembered(memo, "kind", keep)
  local hit = t and t[path]
  if hit ~= nil then return hit end
  local st = require("host.fs").stat(path)
  local k = st and (st.type == "file" or st.type == "directory") and st.type or false
  if t then t[path] = k end
  return k
end

local function sha256_file(memo, path, keep)
  local t = remembered(memo, "sha", keep)
  local hit = t and t[path]
  if hit then return hit[1], hit[2] end
  local sha, size = require("host.crypto").sha256_file(path)
  if t and sha then t[path] = { sha, size } end
  return sha, size
end

---------------------------------------------------------------------------
-- Sources

-- True for a path (relative to a source folder) that is not packaged:
-- tests/ folders, __pycache__/, *.pyc/*.pyo and dot files or folders.
local skipped = util.memoize(function(rel)
  for part in rel:gmatch("[^/]+") do
    if part == "tests" or part == "__pycache__" or part:sub(1, 1) == "." then return true end
  end
  return rel:match("%.py[co]$") ~= nil
end)

--- The files of a module's archive other than installed packages.
-- @param mod table
-- @param what "lambda" (all of src/) or "glue" (src/ without index.py)
-- @param memo table|nil from open_memo
-- @return array of { name = entry name, path = file | data = string, from = label, sha256 =, size = (when
--   known already) } | nil, string on failure
function M.sources(mod, what, memo)
  local out = {}
  -- keep: a shared module's folder (remembered for the whole synthesis);
  -- paths: its files when they are known already
  -- sums, sizes: of paths, when the walk that found them hashed them too
  local function tree(dir, prefix, label, keep, paths, sums, sizes)
    local err
    if not paths then paths, err = walk(memo, dir, keep) end
    if not paths then return nil, err end
    for i, rel in ipairs(paths) do
      if not skipped(rel) and not (what == "glue" and prefix == "" and rel == "index.py") then
        out[#out + 1] = { name = prefix .. rel, path = dir .. "/" .. rel, from = label, keep = keep,
          sha256 = sums and sums[i], size = sizes and sizes[i] }
      end
    end
    return true
  end
  -- src/index.py is a file when the walk of src/ (which lists files only)
  -- has it: no stat of its own. A module checked by lake.pipeline.modules
  -- carries that walk (src_files).
  local src = mod.src_files or walk(memo, mod.dir .. "/src")
  if not (src and util.contains(src, "index.py")) then
    return nil, ("%s/src/index.py is missing"):format(mod.rel or mod.dir)
  end
  local sums = mod.src_files and mod.src_sums
  local ok, err = tree(mod.dir .. "/src", "", (mod.rel or mod.dir) .. "/src", false, src, sums, sums and mod.src_sizes)
  if not ok then return nil, err end
  local init
  for _, s in ipairs(mod.shared or {}) do
    if kind_of(memo, s.dir, true) ~= "directory" then return nil, ("shared module %s has no folder %s"):format(s.name, s.rel or s.dir) end
    ok, err = tree(s.dir, "shared/" .. s.name .. "/", s.rel or s.dir, true)
    if not ok then return nil, err end
    init = init or ((s.dir:match("^(.*)/[^/]+$") or ".") .. "/__init__.py")
  end
  if init then
    local have = false
    for _, e in ipairs(out) do
      if e.name == "shared/__init__.py" then have = true end
    end
    if not have then
      if kind_of(memo, init, true) == "file" then
        out[#out + 1] = { name = "shared/__init__.py", path = init, from = "shared", keep = true }
      else
        out[#out + 1] = { name = "shared/__init__.py", data = "", from = "(generated)" }
      end
    end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

---------------------------------------------------------------------------
-- Building

-- Copies a built file into the output folder as <sha256>.<ext>. A file of
-- the cache (from_cache: its files are written once, whole, and never
-- changed in place) is linked instead when the file system allows: the
-- output shares it rather than a copy of its bytes. A source file is always
-- copied: an editor may change it in place, and its copy must not follow.
local function publish(dir, id, entry, from_cache)
  local fs = require("host.fs")
  local final = ("%s/%s.%s"):format(dir, entry.sha256, entry.ext)
  local st = fs.stat(final)
  if not (st and st.type == "file" and st.size == entry.size) and not (from_cache and fs.link(entry.path, final)) then
    local tmp = tmp_file(dir, id, entry.ext)
    local ok, err = fs.copy(entry.path, tmp)
    if ok then ok, err = fs.rename(tmp, final) end
    if not ok then
      fs.remove(tmp)
      return nil, err, "failed"
    end
  end
  return { sha256 = entry.sha256, size = entry.size, ext = entry.ext, path = final }
end

--- The cache key of an archive and the lines it hashes (for specs and
-- debugging: every input is one "name value" line).
-- @param spec table { kind =, builder =, runtime =, python_version =, architecture =, packages =,
--   entries = from sources, pip = settings.pip, dockerfile_sha256 =, env = {K=V} }
-- @param memo table|nil from open_memo
-- @return key, lines | nil, string on failure
function M.cache_key(spec, memo)
  local crypto = require("host.crypto")
  local lines = { "lakehost-asset " .. cache.FORMAT, "kind " .. spec.kind, "builder " .. spec.builder,
    "runtime " .. spec.runtime, "python " .. spec.python_version, "architecture " .. spec.architecture }
  for _, p in ipairs(spec.packages) do lines[#lines + 1] = "package " .. p end
  if spec.builder ~= "none" then
    local pip = spec.pip or {}
    if pip.no_index then lines[#lines + 1] = "pip --no-index" end
    if pip.index_url then lines[#lines + 1] = "pip --index-url " .. pip.index_url end
    for _, u in ipairs(pip.extra_index_url or {}) do lines[#lines + 1] = "pip --extra-index-url " .. u end
    for _, f in ipairs(pip.find_links or {}) do lines[#lines + 1] = "pip --find-links " .. f end
    for _, k in ipairs(M.PIP_ENV) do
      local v = spec.env and spec.env[k]
      if v and v ~= "" then lines[#lines + 1] = ("env %s=%s"):format(k, v) end
    end
    if spec.dockerfile_sha256 then lines[#lines + 1] = "dockerfile " .. spec.dockerfile_sha256 end
  end
  for _, e in ipairs(spec.entries) do
    local sha = e.sha256 -- hashed by the walk that found it
    if not sha and e.data then
      sha = crypto.sha256_hex(e.data)
    elseif not sha then
      local err
      sha, err = sha256_file(memo, e.path, e.keep)
      if not sha then return nil, err end
    end
    lines[#lines + 1] = ("file %s %s"):format(e.name, sha)
  end
  return cache.key(lines), lines
end

-- Writes the zip of entries plus the packages installed under pkgs.
local function write_zip(path, entries, pkgs)
  local fs, zip = require("host.fs"), require("host.zip")
  local from, all = {}, {}
  for _, e in ipairs(entries) do
    from[e.name] = e.from
    all[#all + 1] = e
  end
  if pkgs and fs.isdir(pkgs) then
    local paths, err = fs.walk(pkgs)
    if not paths then return nil, err, "failed" end
    for _, rel in ipairs(paths) do
      local skip = rel:match("^bin/") or rel:match("%.py[co]$") or ("/" .. rel .. "/"):find("/__pycache__/", 1, true)
      if not skip then
        if from[rel] then
          return nil, ("%s is both in %s and in the installed packages"):format(rel, from[rel]), "input"
        end
        from[rel] = "packages"
        all[#all + 1] = { name = rel, path = pkgs .. "/" .. rel }
      end
    end
  end
  local w = zip.writer(path)
  for _, e in ipairs(all) do
    if e.data then w:add_data(e.name, e.data) else w:add_file(e.name, e.path) end
  end
  local r, err = w:close()
  if not r then return nil, err, "failed" end
  return r
end

--- Builds one archive through the cache and copies it into ctx.dir.
-- @param app App
-- @param ctx table { dir = output folder, log = function|nil }
-- @param spec table { id =, module = label, kind = "lambda"|"glue", entries =, packages =,
--   runtime =, python_version =, architecture = }
-- @return { sha256 =, size =, ext = "zip", path =, cached = boolean } | nil, string, "input"|"failed"
function M.build_archive(app, ctx, spec)
  local fs = require("host.fs")
  local cfg, key_name, msg = M.settings(app)
  if not cfg then return nil, ("%s: %s"):format(key_name, msg), "input" end
  if #spec.packages > 0 and cfg.builder == "none" then
    return nil, ("%s lists packages (%s) but the builder is 'none' (use local or docker)")
      :format(spec.module, table.concat(spec.packages, ", ")), "input"
  end
  local builder = #spec.packages == 0 and "none" or M.builder(app, cfg, ctx.log)
  local dockerfile, dsha
  if builder == "docker" then
    local derr
    dockerfile, derr = M.dockerfile(app, spec.kind, cfg.cache_dir .. "/docker")
    if not dockerfile then return nil, derr, "failed" end
    dsha = require("host.crypto").sha256_file(dockerfile)
  end
  local env = {}
  for _, k in ipairs(M.PIP_ENV) do env[k] = builder == "local" and os.getenv(k) or nil end
  local memo = app.file_memo
  local key, kerr = M.cache_key({ kind = spec.kind, builder = builder, runtime = spec.runtime,
    python_version = spec.python_version, architecture = spec.architecture, packages = spec.packages,
    entries = spec.entries, pip = cfg.pip, dockerfile_sha256 = dsha, env = env }, memo)
  if not key then return nil, kerr, "failed" end
  -- The same inputs already built and published by this synthesis.
  local seen = memo and memo.built[ctx.dir .. "\0" .. key]
  if seen then
    if ctx.log then ctx.log(("assets: %s: same as %s (%s)"):format(spec.id, seen.id, key:sub(1, 12))) end
    return { sha256 = seen.sha256, size = seen.size, ext = seen.ext, path = seen.path, cached = true }
  end
  local function remember(out)
    if memo and out then
      memo.built[ctx.dir .. "\0" .. key] = { id = spec.id, sha256 = out.sha256, size = out.size, ext = out.ext,
        path = out.path }
    end
    return out
  end
  local dir = cfg.cache_dir
  local entry = cache.get(dir, key)
  if entry then
    if ctx.log then ctx.log(("assets: %s: cached (%s)"):format(spec.id, key:sub(1, 12))) end
    local out, err, code = publish(ctx.dir, spec.id, entry, true)
    if out then out.cached = true end
    return remember(out), err, code
  end
  if ctx.log then ctx.log(("assets: %s: building (%s, %s)"):format(spec.id, builder, key:sub(1, 12))) end
  local work, werr = cache.workdir(dir)
  if not work then return nil, werr, "failed" end
  local ok, res, err, code = pcall(function()
    local pkgs
    if builder ~= "none" then
      pkgs = work .. "/packages"
      local target = pkgs
      local wdir = work
      if builder == "docker" then
        -- docker mounts need absolute paths
        wdir = fs.realpath(work) or work
        target = wdir .. "/packages"
      end
      local iok, ierr = builders.install(builder, {
        module = spec.module, kind = spec.kind, packages = spec.packages, work = wdir, target = target,
        python = cfg.python, python_version = spec.python_version, architecture = spec.architecture,
        pip = cfg.pip, timeout = cfg.timeout, dockerfile = dockerfile, log = ctx.log,
      })
      if not iok then return nil, ierr, "failed" end
    end
    local zpath = work .. "/asset.zip"
    local r, zerr, zcode = write_zip(zpath, spec.entries, pkgs)
    if not r then return nil, zerr, zcode end
    local stored, serr = cache.put(dir, key, work, zpath, { sha256 = r.sha256, size = r.size, ext = "zip" })
    if not stored then return nil, serr, "failed" end
    return stored
  end)
  fs.remove_tree(work)
  if not ok then return nil, tostring(res), "failed" end
  if not res then return nil, err, code end
  local out, perr, pcode = publish(ctx.dir, spec.id, res, true)
  if out then out.cached = false end
  return remember(out), perr, pcode
end

--- Builds the Lambda package of a module (see assets.lambda).
-- @return built | nil, string, "input"|"failed"
function M.build_lambda(app, id, mod, ctx)
  local cfg, key_name, msg = M.settings(app)
  if not cfg then return nil, ("%s: %s"):format(key_name, msg), "input" end
  local packages, perr = M.packages(mod)
  if not packages then return nil, perr, "input" end
  local entries, serr = M.sources(mod, "lambda", app.file_memo)
  if not entries then return nil, serr, "input" end
  return M.build_archive(app, ctx, { id = id, module = mod.rel or mod.dir, kind = "lambda", entries = entries,
    packages = packages, runtime = cfg.runtime, python_version = cfg.python_version,
    architecture = cfg.architecture })
end

--- Builds the --extra-py-files zip of a Glue module (see assets.glue).
-- @param entries table|nil M.sources(mod, "glue"), when made already
-- @return built | nil, string, "input"|"failed"
function M.build_glue_deps(app, id, mod, ctx, glue_type, entries)
  local packages, perr = M.packages(mod)
  if not packages then return nil, perr, "input" end
  local serr
  if not entries then entries, serr = M.sources(mod, "glue", app.file_memo) end
  if not entries then return nil, serr, "input" end
  local pyver = M.GLUE_PYTHON[glue_type or "pythonshell"] or M.GLUE_PYTHON.pythonshell
  return M.build_archive(app, ctx, { id = id, module = mod.rel or mod.dir, kind = "glue", entries = entries,
    packages = packages, runtime = "glue-" .. (glue_type or "pythonshell"), python_version = pyver,
    architecture = "x86_64" })
end

--- The problems of a module's requirements (packages asked for twice in
-- two ways, malformed jar pins), without recording them.
-- @param mod table module from lake.pipeline.modules.check
-- @return array of { file =, key =, msg = }
function M.module_problems(mod)
  -- nothing asked for, nothing that can clash (most modules)
  if not asks_for(mod, "packages") and not asks_for(mod, "extra_jars") then return {} end
  local file = (mod.rel or mod.dir) .. "/requirements.json"
  local out = {}
  local _, perr = M.packages(mod)
  if perr then out[#out + 1] = { file = file, key = "packages", msg = perr } end
  local _, jerr = M.jars(mod)
  if jerr then out[#out + 1] = { file = file, key = "extra_jars", msg = jerr } end
  return out
end

-- Records the requirement problems of a module on the app (exit 2 before
-- anything is built).
local function check_requirements(app, mod)
  for _, p in ipairs(M.module_problems(mod)) do app:problem(p.file, nil, p.key, p.msg) end
end

--- Records the problems of a module's requirements and of the app's asset
-- settings (once per module). Pipelines call it as they load, before their
-- stacks are built, so that bad input stops every command with exit 2.
-- @param app App
-- @param mod table module from lake.pipeline.modules.check
function M.check_module(app, mod)
  M.check_settings(app)
  if mod.requirements_checked then return end
  mod.requirements_checked = true
  check_requirements(app, mod)
end

--- A Lambda deployment package (zip) for a module.
-- @param app App
-- @param id string unique asset id, e.g. "pipeline_example/route_file"
-- @param mod table module from lake.pipeline.modules.check
--   ({ dir=, rel=, packages=, extra_jars=, shared = { {name=, dir=, rel=, packages=, extra_jars=} } })
-- @return asset (App:asset) with .handler, .runtime and .architectures (nil for x86_64)
function M.lambda(app, id, mod)
  local cfg = settings_or_problem(app)
  M.check_module(app, mod)
  local asset = app:asset {
    id = id, kind = "lambda", describe = mod.rel or mod.dir,
    build = function(ctx) return M.build_lambda(app, id, mod, ctx) end,
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
    build = function(ctx)
      local cfg, key_name, msg = M.settings(app)
      if not cfg then return nil, ("%s: %s"):format(key_name, msg), "input" end
      local got, err = require("lake.assets.jars").fetch(cfg.cache_dir, jar, { log = ctx.log })
      if not got then return nil, err, "failed" end
      return publish(ctx.dir, "jar:" .. jar.url, { path = got.path, sha256 = got.sha256, size = got.size, ext = "jar" },
        true)
    end,
  }
end

--- The assets of a Glue job.
-- @param app App
-- @param id string unique id prefix, e.g. "pipeline_example/process_type1"
-- @param mod table module from lake.pipeline.modules.check
-- @param opts table|nil { glue_type = "pythonshell"|"glueetl" (the Python the packages are for) }
-- @return { script = asset (.py), deps = asset (.zip) | nil when there is nothing to add,
--   jars = { asset (.jar), ... } }
function M.glue(app, id, mod, opts)
  opts = opts or {}
  M.check_module(app, mod)
  local known
  for i, rel in ipairs(mod.src_sums and mod.src_files or {}) do
    if rel == "index.py" then known = { sha256 = mod.src_sums[i], size = mod.src_sizes[i] } end
  end
  local out = { script = M.file(app, id .. "/index.py", mod.dir .. "/src/index.py", "py", known), jars = {} }
  local packages = M.packages(mod) or {}
  local entries = M.sources(mod, "glue", app.file_memo) -- the build takes them (one listing a run)
  if #packages > 0 or #(entries or {}) > 0 then
    out.deps = app:asset {
      id = id .. "/deps", kind = "glue-deps", describe = mod.rel or mod.dir,
      build = function(ctx) return M.build_glue_deps(app, id .. "/deps", mod, ctx, opts.glue_type, entries) end,
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

---------------------------------------------------------------------------
-- Earlier interface (kept: other code and specs use it)

--- Moves a freshly built file to <dir>/<sha256>.<ext> and describes it.
local function move_into(dir, tmp, sha256, size, ext)
  local fs = require("host.fs")
  local final = ("%s/%s.%s"):format(dir, sha256, ext)
  local ok, err = fs.rename(tmp, final)
  if not ok then
    fs.remove(tmp)
    return nil, err
  end
  return { sha256 = sha256, size = size, ext = ext, path = final }
end

--- A Lambda deployment package of sources only: a zip of <module_dir>/src
-- plus the shared modules given, each under shared/<name>/ (no packages,
-- no cache). assets.lambda is the full version.
-- @param app App
-- @param id string unique asset id, e.g. "pipeline_example/trigger"
-- @param module_dir string folder holding src/ and requirements.json
-- @param opts table|nil { shared = { {name=, dir=}, ... } }
-- @return asset (see App:asset)
function M.lambda_zip(app, id, module_dir, opts)
  opts = opts or {}
  return app:asset {
    id = id, kind = "lambda", describe = module_dir,
    build = function(ctx)
      local zip = require("host.zip")
      local tmp = tmp_file(ctx.dir, id, "zip")
      local w = zip.writer(tmp)
      w:add_tree(module_dir .. "/src")
      for _, s in ipairs(opts.shared or {}) do w:add_tree(s.dir, "shared/" .. s.name .. "/") end
      local r, err = w:close()
      if not r then return nil, err end
      return move_into(ctx.dir, tmp, r.sha256, r.size, "zip")
    end,
  }
end

--- A single file uploaded as it is (a Glue job script).
-- @param app App
-- @param id string unique asset id
-- @param path string the file
-- @param ext string extension of the uploaded object ("py")
-- @param known table|nil { sha256 =, size = } of the file, when a walk hashed it already
function M.file(app, id, path, ext, known)
  return app:asset {
    id = id, kind = "file", describe = path,
    build = function(ctx)
      local sha, size
      if known then
        sha, size = known.sha256, known.size
      else
        sha, size = sha256_file(app.file_memo, path)
      end
      if not sha then return nil, size, "input" end
      return publish(ctx.dir, id, { path = path, sha256 = sha, size = size, ext = ext })
    end,
  }
end

return M
