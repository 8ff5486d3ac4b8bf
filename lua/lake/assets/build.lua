--- Building the assets the model declared (lake.assets), at synthesis:
-- archives made through the build cache (lake.assets.cache), keyed by the
-- sha256 of their inputs (the sources' names and sha256, the merged package
-- list, the installer, the runtime, the architecture, the pip options and
-- the cache format), and published into the output's assets/ folder as
-- <sha256>.<ext>. A hit is copied (or linked) into the output without
-- building.
--
-- Archives are deterministic (host.zip: sorted entries, fixed times and
-- modes). From pip's output the zips leave out *.pyc, __pycache__/ and the
-- top-level bin/ folder: console scripts whose shebang names the Python of
-- the machine that built them, which Lambda and Glue never run. The
-- .dist-info folders stay (importlib.metadata reads them; for one wheel
-- they are the same bytes everywhere).
--
-- Every builder takes ctx, one per synthesis (made by lake.assembly):
-- { dir = the output's assets folder, app = App, log = function|nil,
--   settings = M.settings's, built = {} (archives made so far, by key) }.
--
-- Errors: a build returns `nil, string, code` where code is "input" (the
-- user's files are wrong: exit 2) or "failed" (pip, a download, the disk:
-- exit 1). Nothing is left in the output or the cache after a failure.
local cache = require("lake.assets.cache")
local crypto = require("host.crypto")
local docker = require("lake.docker")
local embedded = require("host.embedded")
local fs = require("host.fs")
local installers = require("lake.assets.installers")
local jars = require("lake.assets.jars")
local proc = require("host.proc")
local zip = require("host.zip")

local M = {}

--- pip's environment variables that change what the local installer installs.
M.PIP_ENV = { "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX" }

local function id_file(id) return (id:gsub("[^%w%-_.]", "_")) end

-- A temporary name for an asset's file in dir, of this process only.
local function tmp_file(dir, id, ext)
  return ("%s/.%s.%d.%s.tmp"):format(dir, id_file(id), proc.pid(), ext or "file")
end

--- The app's asset settings (lake.assets.settings's) with the local
-- find-links folders made absolute (relative to the app root; the Docker
-- installer mounts them).
-- @param app App
-- @param cfg table lake.assets.settings(app)
-- @return settings
function M.settings(app, cfg)
  local root = (app.root or "."):gsub("/+$", "")
  local links = {}
  for _, f in ipairs(cfg.pip.find_links) do
    if not f:match("^%a[%w+.-]*://") then
      if f:sub(1, 1) ~= "/" and root ~= "." and root ~= "" then f = root .. "/" .. f end
      f = fs.realpath(f) or f
    end
    links[#links + 1] = f
  end
  cfg.pip.find_links = links
  return cfg
end

--- The context the builds of one synthesis share.
-- @param app App
-- @param cfg table lake.assets.settings(app)
-- @param dir string the output's assets folder
-- @param log function|nil
function M.context(app, cfg, dir, log)
  return { dir = dir, app = app, log = log, settings = M.settings(app, cfg), built = {} }
end

--- The installer for modules with packages: the configured one, else
-- docker when an engine answers, else local (asked once a synthesis).
function M.installer(ctx)
  local cfg = ctx.settings
  if cfg.builder ~= "auto" then return cfg.builder end
  if not ctx.installer then
    local ok, why = docker.available()
    ctx.installer = ok and "docker" or "local"
    if ctx.log then
      ctx.log(ok and "assets: building dependencies with Docker"
        or ("assets: %s; building dependencies with pip on this machine"):format(why))
    end
  end
  return ctx.installer
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
  local name = "Dockerfile." .. kind
  local root = (app.root or "."):gsub("/+$", "")
  local own = (root == "" and "" or root .. "/") .. "docker/" .. name
  if fs.isfile(own) then return fs.realpath(own) or own end
  local text = embedded.file("docker/" .. name)
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

-- Copies a built file into the output folder as <sha256>.<ext>. A file of
-- the cache (from_cache: its files are written once, whole, and never
-- changed in place) is linked instead when the file system allows: the
-- output shares it rather than a copy of its bytes. A source file is always
-- copied: an editor may change it in place, and its copy must not follow.
local function publish(dir, id, entry, from_cache)
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
--   entries = from lake.assets.sources, pip = settings.pip, dockerfile_sha256 =, env = {K=V} }
-- @return key, lines | nil, string on failure
function M.cache_key(spec)
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
    local sha = e.sha256 -- hashed by the load phase
    if not sha and e.data then
      sha = crypto.sha256_hex(e.data)
    elseif not sha then
      local err
      sha, err = crypto.sha256_file(e.path)
      if not sha then return nil, err end
    end
    lines[#lines + 1] = ("file %s %s"):format(e.name, sha)
  end
  return cache.key(lines), lines
end

-- Writes the zip of entries plus the packages installed under pkgs.
local function write_zip(path, entries, pkgs)
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

--- Builds one archive through the cache and publishes it into ctx.dir.
-- @param ctx table (see the module comment)
-- @param spec table { id =, module = label, kind = "lambda"|"glue", entries =, packages =,
--   runtime =, python_version =, architecture = }
-- @return { sha256 =, size =, ext = "zip", path =, cached = boolean } | nil, string, "input"|"failed"
function M.archive(ctx, spec)
  local cfg = ctx.settings
  if #spec.packages > 0 and cfg.builder == "none" then
    return nil, ("%s lists packages (%s) but the builder is 'none' (use local or docker)")
      :format(spec.module, table.concat(spec.packages, ", ")), "input"
  end
  local builder = #spec.packages == 0 and "none" or M.installer(ctx)
  local dockerfile, dsha
  if builder == "docker" then
    local derr
    dockerfile, derr = M.dockerfile(ctx.app, spec.kind, cfg.cache_dir .. "/docker")
    if not dockerfile then return nil, derr, "failed" end
    dsha = crypto.sha256_file(dockerfile)
  end
  local env = {}
  for _, k in ipairs(M.PIP_ENV) do env[k] = builder == "local" and os.getenv(k) or nil end
  local key, kerr = M.cache_key({ kind = spec.kind, builder = builder, runtime = spec.runtime,
    python_version = spec.python_version, architecture = spec.architecture, packages = spec.packages,
    entries = spec.entries, pip = cfg.pip, dockerfile_sha256 = dsha, env = env })
  if not key then return nil, kerr, "failed" end
  -- The same inputs already built for this output (pipelines share code).
  local seen = ctx.built[key]
  if seen then
    if ctx.log then ctx.log(("assets: %s: same as %s (%s)"):format(spec.id, seen.id, key:sub(1, 12))) end
    return { sha256 = seen.sha256, size = seen.size, ext = seen.ext, path = seen.path, cached = true }
  end
  local function remember(out)
    if out then
      ctx.built[key] = { id = spec.id, sha256 = out.sha256, size = out.size, ext = out.ext, path = out.path }
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
      local iok, ierr = installers.install(builder, {
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

--- Fetches a jar (lake.assets.jars) and publishes it.
function M.jar(ctx, jar)
  local got, err = jars.fetch(ctx.settings.cache_dir, jar, { log = ctx.log })
  if not got then return nil, err, "failed" end
  return publish(ctx.dir, "jar:" .. jar.url, { path = got.path, sha256 = got.sha256, size = got.size, ext = "jar" },
    true)
end

--- Publishes a file as it is.
-- @param known table|nil { sha256 =, size = } when the load phase hashed it
function M.file(ctx, id, path, ext, known)
  local sha, size
  if known then
    sha, size = known.sha256, known.size
  else
    sha, size = crypto.sha256_file(path)
  end
  if not sha then return nil, size, "input" end
  return publish(ctx.dir, id, { path = path, sha256 = sha, size = size, ext = ext })
end

return M
