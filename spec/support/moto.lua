-- Starts moto's server on a free loopback port for integration specs, with
-- SigV4 checking on after the first few calls (INITIAL_NO_AUTH_ACTION_COUNT),
-- and creates an IAM user whose keys the specs sign with.
local M = {}

local function free_port()
  local p = assert(io.popen([[python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])']]))
  local port = tonumber(p:read("l"))
  p:close()
  return port
end
M.free_port = free_port

--- Starts moto. Returns a server table { url=, port=, env = {...} (what a
-- lakehost child needs: endpoint, region, keys), stop = function }.
-- @param opts table|nil { auth = true (default): check signatures }
function M.start(opts)
  opts = opts or {}
  local proc = require("host.proc")
  local http = require("host.http")
  local port = free_port()
  local auth = opts.auth ~= false
  local env_add = { MOTO_PORT = tostring(port) }
  -- 4 unsigned calls create the IAM user below; everything after is checked.
  if auth then env_add.INITIAL_NO_AUTH_ACTION_COUNT = "4" end
  local h = assert(proc.spawn { argv = { "moto_server", "-H", "127.0.0.1", "-p", tostring(port) },
    env_add = env_add, stdout = "null", stderr = "null" })
  local url = "http://127.0.0.1:" .. port
  local deadline = proc.monotime() + 30
  while true do
    local r = http.request { url = url .. "/moto-api/", timeout = 2 }
    if r and r.status == 200 then break end
    if proc.monotime() > deadline then
      h:close()
      error("moto_server did not start on port " .. port)
    end
    proc.sleep(0.1)
  end
  local server = { url = url, port = port, handle = h, region = "us-east-1" }
  function server.stop() h:close() end
  server.env = {
    AWS_ENDPOINT_URL = url, AWS_REGION = "us-east-1", AWS_DEFAULT_REGION = "us-east-1",
    AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY = "not-checked-yet",
  }
  if auth then
    local client = require("lake.aws.client")
    local query = require("lake.aws.query")
    local c = client.new { region = "us-east-1", credentials = { access_key = "AKIAIOSFODNN7EXAMPLE", secret_key = "x" },
      getenv = function(k) if k == "AWS_ENDPOINT_URL" then return url end return nil end }
    local V = "2010-05-08"
    assert(query.call(c, "iam", V, "CreateUser", { UserName = "lakehost-spec" }))
    local pol = assert(query.call(c, "iam", V, "CreatePolicy", { PolicyName = "admin", PolicyDocument =
      '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}' }))
    assert(query.call(c, "iam", V, "AttachUserPolicy", { UserName = "lakehost-spec", PolicyArn = pol.Policy.Arn }))
    local key = assert(query.call(c, "iam", V, "CreateAccessKey", { UserName = "lakehost-spec" }))
    server.env.AWS_ACCESS_KEY_ID = key.AccessKey.AccessKeyId
    server.env.AWS_SECRET_ACCESS_KEY = key.AccessKey.SecretAccessKey
  end
  --- The environment a lakehost child needs (server.env), with extra on top.
  function server.env_with(extra)
    local env = {}
    for k, v in pairs(server.env) do env[k] = v end
    for k, v in pairs(extra or {}) do env[k] = v end
    return env
  end
  --- A client signed with the spec user's keys (for checking through the API).
  function server.client()
    local client = require("lake.aws.client")
    return client.new { region = "us-east-1",
      credentials = { access_key = server.env.AWS_ACCESS_KEY_ID, secret_key = server.env.AWS_SECRET_ACCESS_KEY },
      getenv = function(k) return server.env[k] end }
  end
  return server
end

--- A copy of a lakehost project in a temporary folder, bootstrapped on a
-- fresh moto server: what the deploy specs start from.
-- @param opts table { files = { paths copied from the checkout } | from = a folder whose
--   contents are copied, prepare = function(dir) | nil (after the copy: patch files),
--   env = { extra environment for every run } | nil, prefix = tmpdir prefix }
-- @return project { server, dir, client = server.client(), run = function(args, extra_env)
--   -> stdout, stderr, code (lakehost <dir>/app.lua args...), stop = function }
function M.project(opts)
  local fs = require("host.fs")
  local util = require("spec.support.util")
  local server = M.start()
  local dir = assert(fs.tmpdir(opts.prefix or "lakehost-project-"))
  local copy = opts.from and ("cp -R %s/. %s/"):format(util.shquote(opts.from), util.shquote(dir))
    or ("cp -R %s %s/"):format(table.concat(opts.files, " "), util.shquote(dir))
  assert(os.execute(copy), copy)
  if opts.prepare then opts.prepare(dir) end
  local p = { server = server, dir = dir, client = server.client() }
  function p.run(args, extra)
    local env = server.env_with(opts.env or {})
    env.LAKEHOST_CACHE_DIR = dir .. "/.cache"
    for k, v in pairs(extra or {}) do env[k] = v end
    local argv = { dir .. "/app.lua" }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return util.lakehost(argv, { env = env, cwd = dir })
  end
  function p.stop()
    server.stop()
    fs.remove_tree(dir)
  end
  local _, err, code = p.run({ "bootstrap" })
  assert(code == 0, err)
  return p
end

return M
