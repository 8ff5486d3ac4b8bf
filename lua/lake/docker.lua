--- Docker invocation: is an engine there, `docker build`, `docker run`.
--
-- Pure Lua on top of host.proc: every command is an argv run without a
-- shell. The argv builders (`argv_for_build`, `argv_for_run`) are pure
-- functions, so specs can check the exact command line; `build` and `run`
-- execute it.
--
-- The docker binary is, in order: `opts.docker`, the environment variable
-- `LAKEHOST_DOCKER` (a name looked up on PATH, or a path), then `docker`.
--
-- Misuse (missing or mistyped options, unknown option names) raises an error
-- that blames the caller's line; a failing docker returns `nil, string`.
local proc = require("host.proc")
local util = require("lake.util")

local M = {}

--- Platform used when `opts.platform` is not given (Lambda's default x86_64).
M.default_platform = "linux/amd64"

--- Seconds `available` waits for `docker version`.
M.version_timeout = 10

--- Lines of output an error message of `build` carries.
M.error_lines = 20

local build_fields = {
  context = "string", dockerfile = "string", tag = "string", build_args = "table",
  platform = "string|false", docker = "string", timeout = "number",
}

local run_fields = {
  image = "string", argv = "table", mounts = "table", env = "table", workdir = "string",
  platform = "string|false", user = "string|false", rm = "boolean", timeout = "number",
  docker = "string", stdout = "string", stderr = "string",
}

local mount_fields = { src = "string", dst = "string", ro = "boolean" }

--- The docker binary to run.
-- @param opts table|nil {docker=}
-- @return string
local function docker_bin(opts)
  if opts and opts.docker then return opts.docker end
  local env = proc.getenv("LAKEHOST_DOCKER")
  if env and env ~= "" then return env end
  return "docker"
end

--- Raises "fname: msg" at `level` (counted from fail itself). The public
-- functions call the argv builders without tail calls, so the level of the
-- user's line is fixed: 5 from check/assignments, 4 from the builders.
local function fail(fname, msg, level) error(fname .. ": " .. msg, level) end

--- Checks opts against fields (name -> "type" or "type|false"); raises.
local function check(fname, opts, fields, required)
  if type(opts) ~= "table" then
    fail(fname, ("options must be a table (got %s)"):format(type(opts)), 5)
  end
  for k, v in pairs(opts) do
    local want = fields[k]
    if not want then fail(fname, ("unknown option '%s'"):format(tostring(k)), 5) end
    local t = type(v)
    if not (want:match("^[^|]+") == t or (v == false and want:find("|false", 1, true))) then
      fail(fname, ("option '%s' must be a %s (got %s)"):format(k, (want:gsub("|", " or ")), t), 5)
    end
  end
  for _, k in ipairs(required) do
    if opts[k] == nil or opts[k] == "" then fail(fname, ("option '%s' is required"):format(k), 5) end
  end
end

--- Sorted "K=V" strings of a map of variables; raises on bad names or values.
local function assignments(fname, what, map)
  local keys = {}
  for k, v in pairs(map) do
    if type(k) ~= "string" or k == "" or k:find("=", 1, true) then
      fail(fname, ("%s name %s is not a valid variable name"):format(what, tostring(k)), 5)
    end
    if type(v) ~= "string" and type(v) ~= "number" then
      fail(fname, ("%s '%s' must be a string or a number (got %s)"):format(what, k, type(v)), 5)
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local out = {}
  for i, k in ipairs(keys) do out[i] = k .. "=" .. tostring(map[k]) end
  return out
end

--- The argv of `docker build`.
-- `docker build --platform P -f DOCKERFILE -t TAG --build-arg K=V... CONTEXT`
-- (build args sorted by name; no `-f` without `dockerfile`; no `--platform`
-- with `platform = false`).
-- @param opts table {context=, tag=, dockerfile=, build_args={K=V}, platform=, docker=}
-- @return table argv
local function build_argv(opts)
  check("docker.build", opts, build_fields, { "context", "tag" })
  local argv = { docker_bin(opts), "build" }
  local platform = opts.platform
  if platform == nil then platform = M.default_platform end
  if platform then
    argv[#argv + 1] = "--platform"
    argv[#argv + 1] = platform
  end
  if opts.dockerfile then
    argv[#argv + 1] = "-f"
    argv[#argv + 1] = opts.dockerfile
  end
  argv[#argv + 1] = "-t"
  argv[#argv + 1] = opts.tag
  for _, kv in ipairs(assignments("docker.build", "build arg", opts.build_args or {})) do
    argv[#argv + 1] = "--build-arg"
    argv[#argv + 1] = kv
  end
  argv[#argv + 1] = opts.context
  return argv
end

--- The argv of `docker run`.
-- `docker run --rm --platform P --user U -v SRC:DST[:ro]... -e K=V... -w W IMAGE ARGV...`
-- `user` defaults to the current uid:gid so that files written into mounts
-- belong to the user; `user = false`, `platform = false`, `rm = false` leave
-- those flags out. Mount paths must be absolute and free of ':'.
-- @param opts table {image=, argv={}, mounts={{src=, dst=, ro=}}, env={K=V},
--   workdir=, platform=, user=, rm=, docker=}
-- @return table argv
local function run_argv(opts)
  check("docker.run", opts, run_fields, { "image" })
  local argv = { docker_bin(opts), "run" }
  local function add(...)
    for _, a in ipairs({ ... }) do argv[#argv + 1] = a end
  end
  if opts.rm ~= false then add("--rm") end
  local platform = opts.platform
  if platform == nil then platform = M.default_platform end
  if platform then add("--platform", platform) end
  local user = opts.user
  if user == nil then user = ("%d:%d"):format(proc.uid(), proc.gid()) end
  if user then add("--user", user) end
  for i, m in ipairs(opts.mounts or {}) do
    local where = ("mounts[%d]"):format(i)
    if type(m) ~= "table" then fail("docker.run", where .. " must be a table", 4) end
    for k, v in pairs(m) do
      local want = mount_fields[k]
      if not want then fail("docker.run", ("%s: unknown field '%s'"):format(where, tostring(k)), 4) end
      if type(v) ~= want then
        fail("docker.run", ("%s.%s must be a %s (got %s)"):format(where, k, want, type(v)), 4)
      end
    end
    for _, k in ipairs({ "src", "dst" }) do
      local p = m[k]
      if not p or p:sub(1, 1) ~= "/" then
        fail("docker.run", ("%s.%s must be an absolute path (got %s)"):format(where, k, tostring(p)), 4)
      end
      if p:find(":", 1, true) then
        fail("docker.run", ("%s.%s must not contain ':' (got %s)"):format(where, k, p), 4)
      end
    end
    add("-v", m.src .. ":" .. m.dst .. (m.ro and ":ro" or ""))
  end
  for _, kv in ipairs(assignments("docker.run", "env", opts.env or {})) do add("-e", kv) end
  if opts.workdir then add("-w", opts.workdir) end
  add(opts.image)
  for i, a in ipairs(opts.argv or {}) do
    if type(a) ~= "string" then
      fail("docker.run", ("argv[%d] must be a string (got %s)"):format(i, type(a)), 4)
    end
    add(a)
  end
  return argv
end

--- The argv of `docker build` (see build_argv); raises on misuse.
-- @param opts table
-- @return table argv
function M.argv_for_build(opts)
  local argv = build_argv(opts) -- not a tail call: errors blame our caller
  return argv
end

--- The argv of `docker run` (see run_argv); raises on misuse.
-- @param opts table
-- @return table argv
function M.argv_for_run(opts)
  local argv = run_argv(opts)
  return argv
end

--- First non-empty line of s, or nil.
local function first_line(s)
  return s and s:match("^%s*([^\n]-)%s*\n") or (s and s:match("^%s*(.-)%s*$"))
end

--- How a failed docker run ended, for messages.
local function outcome(res, timeout)
  if res.timed_out then return ("timed out after %g s"):format(timeout) end
  if res.interrupted then return "interrupted" end
  if res.how == "signal" then return ("killed by signal %d"):format(res.code) end
  return ("exit status %d"):format(res.code)
end

--- Whether a Docker engine can be used.
-- Looks the docker binary up on PATH, then asks the engine for its version
-- (`docker version --format '{{.Server.Version}}'`, 10 s at most).
-- @param opts table|nil {docker=}
-- @return true, string server version
-- @return false, string reason ("docker not found on PATH",
--   "Docker engine not reachable: <first line docker printed>")
function M.available(opts)
  opts = opts or {}
  local name = docker_bin(opts)
  local path = proc.which(name)
  if not path then return false, name .. " not found on PATH" end
  local res, err = proc.run({
    argv = { path, "version", "--format", "{{.Server.Version}}" },
    timeout = M.version_timeout,
  })
  if not res then return false, "Docker engine not reachable: " .. err:gsub("^proc: ", "") end
  local version = res.stdout:match("^%s*(%S+)")
  if res.ok and version then return true, version end
  local why = first_line(res.stderr) or first_line(res.stdout)
  if res.timed_out or not why or why == "" then why = "docker version: " .. outcome(res, M.version_timeout) end
  return false, "Docker engine not reachable: " .. why
end

--- Builds an image (`docker build`, see argv_for_build).
-- Output (stdout and stderr merged) is captured; on failure the message
-- carries its last 20 lines.
-- @param opts table as argv_for_build, plus timeout= (seconds)
-- @return true
-- @return nil, string on failure
function M.build(opts)
  local argv = build_argv(opts)
  local res, err = proc.run({ argv = argv, stderr = "stdout", timeout = opts.timeout })
  if not res then return nil, "docker build: " .. err:gsub("^proc: ", "") end
  if res.ok then return true end
  return nil, ("docker build of %s failed (%s):\n%s"):format(opts.tag, outcome(res, opts.timeout),
    util.last_lines(res.stdout, M.error_lines))
end

--- Runs a container (`docker run`, see argv_for_run).
-- A container that exits non-zero is a result (`res.ok == false`), not an error.
-- @param opts table as argv_for_run, plus timeout=, stdout=, stderr= (as proc.run)
-- @return table res of proc.run {ok=, how=, code=, stdout=, stderr=, timed_out=, ...}
-- @return nil, string when docker cannot be started
function M.run(opts)
  local argv = run_argv(opts)
  local res, err = proc.run({ argv = argv, timeout = opts.timeout, stdout = opts.stdout,
                              stderr = opts.stderr })
  if not res then return nil, "docker run: " .. err:gsub("^proc: ", "") end
  return res
end

return M
