--- Dependency installers: put a module's pip requirements into a folder
-- (the `builder` setting and the --builder option choose one).
--
--   none    nothing to install (a module without packages)
--   local   `python3 -m pip install --target DIR` on this machine, for the
--           target's platform (--platform manylinux2014_<arch>,
--           --implementation cp, --python-version X.Y, --only-binary=:all:):
--           wheels only, so nothing compiles for the wrong machine
--   docker  the same pip inside the image built from docker/Dockerfile.lambda
--           or docker/Dockerfile.glue (the runtime's own Python, so packages
--           without wheels compile for the right platform)
--
-- Every command is an argv run through host.proc (lake.docker for Docker)
-- with a timeout. The argv functions are pure, so specs check them exactly.
-- Failures return `nil, string` carrying the last lines of pip's output.
local docker = require("lake.docker")
local proc = require("host.proc")
local fs = require("host.fs")
local util = require("lake.util")

local M = {}

M.NAMES = { "docker", "local", "none" }

--- Lines of pip's output an error message carries.
M.ERROR_LINES = 20

--- Seconds an install may take (app.settings.build_timeout overrides).
M.TIMEOUT = 1800

--- Installs run in this process (specs use it to tell a cache hit).
M.runs = 0

--- manylinux platform tags per Lambda architecture.
M.PLATFORMS = { x86_64 = "manylinux2014_x86_64", arm64 = "manylinux2014_aarch64" }

--- Docker platforms per Lambda architecture.
M.DOCKER_PLATFORMS = { x86_64 = "linux/amd64", arm64 = "linux/arm64" }

--- Base images of docker/Dockerfile.glue per Python version: Glue 4.0
-- (glueetl) runs Python 3.10; Python shell jobs run 3.9, which has no Glue
-- image, so the plain Python image of that version stands in.
M.GLUE_IMAGES = {
  ["3.9"] = "public.ecr.aws/docker/library/python:3.9-slim",
  ["3.10"] = "public.ecr.aws/glue/aws-glue-libs:glue_libs_4.0.0_image_01",
}

--- Where the container sees the mounted folders.
M.IN, M.OUT, M.LINKS = "/lakehost/in", "/lakehost/out", "/lakehost/find-links"

--- True when name is an installer.
function M.known(name)
  for _, n in ipairs(M.NAMES) do
    if n == name then return true end
  end
  return false
end

-- The pip options every installer passes: the user's index settings.
-- find_links are local folders or URLs; map(path) rewrites a local folder
-- (the Docker installer mounts them).
local function index_options(pip, map)
  local out = {}
  if pip.no_index then out[#out + 1] = "--no-index" end
  if pip.index_url then
    out[#out + 1] = "--index-url"
    out[#out + 1] = pip.index_url
  end
  for _, u in ipairs(pip.extra_index_url or {}) do
    out[#out + 1] = "--extra-index-url"
    out[#out + 1] = u
  end
  for i, f in ipairs(pip.find_links or {}) do
    out[#out + 1] = "--find-links"
    out[#out + 1] = map and map(f, i) or f
  end
  return out
end

local function is_url(s) return s:match("^%a[%w+.-]*://") ~= nil end

--- The argv of the local installer.
-- @param job table { python = "python3", python_version = "3.12", architecture = "x86_64",
--   pip = { index_url=, extra_index_url = {}, find_links = {}, no_index= },
--   requirements = path of requirements.txt, target = folder }
-- @return array argv
function M.local_argv(job)
  local argv = { job.python or "python3", "-m", "pip", "install",
    "--target", job.target,
    "--platform", M.PLATFORMS[job.architecture] or M.PLATFORMS.x86_64,
    "--implementation", "cp",
    "--python-version", job.python_version,
    "--only-binary=:all:",
    "--upgrade", "--no-compile", "--disable-pip-version-check" }
  for _, o in ipairs(index_options(job.pip or {})) do argv[#argv + 1] = o end
  argv[#argv + 1] = "-r"
  argv[#argv + 1] = job.requirements
  return argv
end

-- The build arguments of each Dockerfile (docker/Dockerfile.<kind>).
local BUILD_ARGS = {
  lambda = function(job) return { PYTHON_VERSION = job.python_version } end,
  glue = function(job) return { BASE_IMAGE = M.GLUE_IMAGES[job.python_version] or M.GLUE_IMAGES["3.10"] } end,
}

--- The image the Docker installer uses for a job: tag, Dockerfile, build args.
-- @param job table { kind = "lambda"|"glue", python_version =, architecture =, dockerfile = path }
-- @return table { tag =, dockerfile =, context =, build_args =, platform = }
function M.docker_image(job)
  local arch = job.architecture or "x86_64"
  local kind = BUILD_ARGS[job.kind] and job.kind or "lambda"
  return {
    tag = ("lakehost-deps-%s:py%s-%s"):format(kind, job.python_version, arch),
    dockerfile = job.dockerfile, context = job.dockerfile:match("^(.*)/[^/]*$") or ".",
    build_args = BUILD_ARGS[kind](job), platform = M.DOCKER_PLATFORMS[arch] or M.DOCKER_PLATFORMS.x86_64,
  }
end

--- The options of the `docker run` that installs a job (see lake.docker.run):
-- requirements mounted read-only at /lakehost/in, the target at
-- /lakehost/out, local find-links folders read-only under
-- /lakehost/find-links/<n>.
-- @param job table { work = folder holding requirements.txt, target =, pip =, ... } (absolute paths)
-- @param image table from docker_image
-- @return table options for lake.docker.run / argv_for_run
function M.docker_run_options(job, image)
  local mounts = {
    { src = job.work, dst = M.IN, ro = true },
    { src = job.target, dst = M.OUT },
  }
  local opts = index_options(job.pip or {}, function(f, i)
    if is_url(f) then return f end
    local dst = ("%s/%d"):format(M.LINKS, i)
    mounts[#mounts + 1] = { src = f, dst = dst, ro = true }
    return dst
  end)
  local argv = { "python3", "-m", "pip", "install", "--target", M.OUT,
    "--upgrade", "--no-compile", "--no-cache-dir", "--disable-pip-version-check" }
  for _, o in ipairs(opts) do argv[#argv + 1] = o end
  argv[#argv + 1] = "-r"
  argv[#argv + 1] = M.IN .. "/requirements.txt"
  return {
    image = image.tag, platform = image.platform, mounts = mounts, argv = argv,
    env = { HOME = "/tmp", PIP_ROOT_USER_ACTION = "ignore", PYTHONDONTWRITEBYTECODE = "1" },
    timeout = job.timeout or M.TIMEOUT, stderr = "stdout",
  }
end

-- "pip failed for <module> (exit N):\n<last lines>" from a proc result.
local function failure(job, res, timeout)
  local how
  if res.timed_out then
    how = ("timed out after %g s"):format(timeout)
  elseif res.interrupted then
    how = "interrupted"
  elseif res.how == "signal" then
    how = ("killed by signal %d"):format(res.code)
  else
    how = ("exit %d"):format(res.code)
  end
  return ("pip failed for %s (%s):\n%s"):format(job.module, how, util.last_lines(res.stdout, M.ERROR_LINES))
end

--- Images built in this process: docker build runs once per tag.
local built_images = {}

--- Installs job.packages into job.target.
-- @param name string "none" | "local" | "docker"
-- @param job table { module = name for messages, kind = "lambda"|"glue", packages = {...},
--   work = folder for requirements.txt, target = folder, python =, python_version =,
--   architecture =, pip = {...}, timeout =, dockerfile = (docker), log = function|nil }
-- @return true | nil, string on failure
function M.install(name, job)
  if name == "none" or #job.packages == 0 then return true end
  local req = job.work .. "/requirements.txt"
  local ok, err = fs.write(req, table.concat(job.packages, "\n") .. "\n")
  if not ok then return nil, err end
  ok, err = fs.mkdir_p(job.target)
  if not ok then return nil, err end
  local timeout = job.timeout or M.TIMEOUT
  M.runs = M.runs + 1
  if name == "local" then
    local argv = M.local_argv({ python = job.python, python_version = job.python_version,
      architecture = job.architecture, pip = job.pip, requirements = req, target = job.target })
    if job.log then job.log(("pip: %s"):format(table.concat(argv, " "))) end
    local res, perr = proc.run({ argv = argv, stderr = "stdout", timeout = timeout,
      env_add = { PIP_ROOT_USER_ACTION = "ignore", PYTHONDONTWRITEBYTECODE = "1" } })
    if not res then return nil, ("pip failed for %s: %s"):format(job.module, (perr:gsub("^proc: ", ""))) end
    if not res.ok then return nil, failure(job, res, timeout) end
    return true
  elseif name == "docker" then
    local image = M.docker_image(job)
    if not built_images[image.tag] then
      if job.log then job.log(("docker: building %s from %s"):format(image.tag, image.dockerfile)) end
      local bok, berr = docker.build({ context = image.context, dockerfile = image.dockerfile, tag = image.tag,
        build_args = image.build_args, platform = image.platform, timeout = timeout })
      if not bok then return nil, ("docker image for %s: %s"):format(job.module, berr) end
      built_images[image.tag] = true
    end
    local opts = M.docker_run_options(job, image)
    if job.log then job.log(("docker: %s"):format(table.concat(docker.argv_for_run(opts), " "))) end
    local res, rerr = docker.run(opts)
    if not res then return nil, ("pip failed for %s: %s"):format(job.module, rerr) end
    if not res.ok then return nil, failure(job, res, timeout) end
    return true
  end
  return nil, ("unknown builder '%s' (%s)"):format(tostring(name), table.concat(M.NAMES, ", "))
end

return M
