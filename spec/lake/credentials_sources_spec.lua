-- The credential sources of AWS compute: EC2 instance metadata (IMDSv2) and
-- container credentials (ECS, EKS Pod Identity), against a stand-in on
-- loopback (spec/support/metadata_server.py): never the link-local
-- addresses. Then --profile and --region on the commands, and a bootstrap,
-- deploy and list against moto (signatures checked) whose only credentials
-- come from that stand-in.
local credentials = require("lake.aws.credentials")
local fs = require("host.fs")
local http = require("host.http")
local json = require("host.json")
local proc = require("host.proc")
local moto = require("spec.support.moto")
local util = require("spec.support.util")

local T0 = 2000000000 -- the injected clock's start (2033-05-18)
local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end

--- Starts the stand-in; returns { url, control(t), stats(), stop() }.
local function start_metadata()
  local h = assert(proc.spawn { argv = { "python3", "spec/support/metadata_server.py", "--ppid", tostring(proc.pid()) },
    stdout = "capture", stderr = "null" })
  local port = tonumber(assert(h:read_line("stdout", 10)):match("^PORT (%d+)"))
  local srv = { url = "http://127.0.0.1:" .. port }
  function srv.control(t)
    local r = assert(http.request { method = "POST", url = srv.url .. "/_control", body = json.encode(t),
      headers = { ["Content-Type"] = "application/json" } })
    assert.equal(200, r.status)
  end
  function srv.stats()
    local r = assert(http.request { url = srv.url .. "/_stats" })
    return assert(json.decode(r.body))
  end
  function srv.stop() h:close() end
  return srv
end

--- A clock the specs move.
local function clock()
  local c = { t = T0 }
  function c.now() return c.t end
  return c
end

-- An environment of exactly t's variables.
local function env_of(t)
  return function(k) return t[k] end
end

local function write(path, text)
  assert(fs.mkdir_p(path:match("^(.*)/[^/]+$")))
  assert(fs.write(path, text))
end

describe("EC2 instance metadata (IMDSv2) against a loopback stand-in #integration", function()
  local srv, home

  setup(function()
    srv = start_metadata()
    home = util.tmpdir("lakehost-imds-")
  end)
  teardown(function()
    srv.stop()
    fs.remove_tree(home)
  end)
  before_each(function() srv.control { reset = true } end)

  local function imds_env(extra)
    local t = { HOME = home, AWS_EC2_METADATA_SERVICE_ENDPOINT = srv.url }
    for k, v in pairs(extra or {}) do t[k] = v end
    return env_of(t)
  end

  it("gets the instance role's credentials with a token", function()
    srv.control { expiration = iso(T0 + 3600) }
    local c, err = credentials.resolve { getenv = imds_env(), now = function() return T0 end }
    assert.is_table(c, err)
    assert.equal("ASIAIMDSEXAMPLE", c.access_key)
    assert.equal("imds-secret-value", c.secret_key)
    assert.equal("imds-session-token-value", c.session_token)
    assert.equal(iso(T0 + 3600), c.expiration)
    assert.equal("<credentials from EC2 instance metadata (role lakehost-ec2-role)>", tostring(c))
    local st = srv.stats()
    assert.equal(1, st.token_puts)
    assert.equal("21600", st.token_ttl)
    assert.same({ "PUT /latest/api/token", "GET /latest/meta-data/iam/security-credentials/",
      "GET /latest/meta-data/iam/security-credentials/lakehost-ec2-role" }, st.paths)
    assert.equal(0, st.unauthorized)
  end)

  it("refreshes the credentials 15 minutes before they expire, with the token it has", function()
    srv.control { expiration = iso(T0 + 3600), rotate = true }
    local clk = clock()
    local logs = {}
    local p = credentials.provider { getenv = imds_env(), now = clk.now, log = function(m) logs[#logs + 1] = m end }
    local first = assert(p())
    assert.equal("ASIAIMDSEXAMPLE1", first.access_key)
    clk.t = T0 + 2600 -- 16 min 40 s left: still good
    assert.equal(first, p())
    assert.equal(1, srv.stats().creds_gets)
    srv.control { expiration = iso(T0 + 7200) }
    clk.t = T0 + 2750 -- 14 min 10 s left: refreshed
    local second = assert(p())
    assert.equal("ASIAIMDSEXAMPLE2", second.access_key)
    assert.equal(iso(T0 + 7200), second.expiration)
    local st = srv.stats()
    assert.equal(2, st.creds_gets)
    assert.equal(1, st.token_puts) -- the 6-hour token served both
    clk.t = T0 + 5000
    assert.equal(second, p())
    assert.equal(2, srv.stats().creds_gets)
    -- what --verbose shows: the source and the expiry, never a secret
    assert.same({ "credentials: from EC2 instance metadata (role lakehost-ec2-role), expire " .. iso(T0 + 3600),
      "credentials: from EC2 instance metadata (role lakehost-ec2-role), expire " .. iso(T0 + 7200) },
      (function()
        local out = {}
        for _, l in ipairs(logs) do if l:match("^credentials:") then out[#out + 1] = l end end
        return out
      end)())
    for _, l in ipairs(logs) do
      assert.is_nil(l:find("imds-secret-value", 1, true))
      assert.is_nil(l:find("imds-session-token-value", 1, true))
      assert.is_nil(l:find("imds-v2-token", 1, true))
    end
  end)

  it("keeps the credentials when an early refresh fails, and says so when they are about to expire", function()
    srv.control { expiration = iso(T0 + 3600) }
    local clk = clock()
    local p = credentials.provider { getenv = imds_env(), now = clk.now }
    local first = assert(p())
    srv.control { creds_status = 500 }
    clk.t = T0 + 3600 - 800 -- advisory window: the refresh fails, the credentials stay
    assert.equal(first, p())
    assert.equal(2, srv.stats().creds_gets)
    clk.t = clk.t + 30 -- tried again only a minute later
    assert.equal(first, p())
    assert.equal(2, srv.stats().creds_gets)
    clk.t = T0 + 3600 - 500 -- mandatory window: an error that names the source and why
    local c, err = p()
    assert.is_nil(c)
    assert.equal("the credentials from EC2 instance metadata (role lakehost-ec2-role) expire at " .. iso(T0 + 3600)
      .. " and could not be refreshed: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
      .. "or AWS_PROFILE (--profile), or run `aws configure` / `aws sso login` (EC2 instance metadata: "
      .. "the credentials of role lakehost-ec2-role answered HTTP 500)", err)
    -- the service is back: so are the credentials
    srv.control { creds_status = 200, expiration = iso(T0 + 9000) }
    assert.equal(iso(T0 + 9000), assert(p()).expiration)
  end)

  it("fetches a new token once when the service answers 401 to an expired one", function()
    srv.control { expiration = iso(T0 + 3600) }
    local clk = clock()
    local p = credentials.provider { getenv = imds_env(), now = clk.now }
    assert(p())
    srv.control { expire_tokens = true }
    clk.t = T0 + 3000
    local c, err = p()
    assert.is_table(c, err)
    local st = srv.stats()
    assert.equal(1, st.unauthorized)
    assert.equal(2, st.token_puts)
    assert.equal(2, st.creds_gets)
  end)

  it("says why when the service wants a token (401) and the token request is refused", function()
    srv.control { token_status = 405 }
    local c, err = credentials.resolve { getenv = imds_env() }
    assert.is_nil(c)
    assert.matches("(EC2 instance metadata: HTTP 401 on /latest/meta-data/iam/security-credentials/ without a "
      .. "token (IMDSv2 is required), and the token request was refused (HTTP 405))", err, 1, true)
    local st = srv.stats()
    assert.equal(2, st.token_puts) -- the first, and the one retry after the 401
    assert.equal(1, st.unauthorized)
    assert.equal(0, st.creds_gets)
  end)

  it("falls back to IMDSv1 when the token request is refused, as the AWS CLI does, unless v1 is disabled", function()
    srv.control { token_status = 403, v1 = true }
    local c, err = credentials.resolve { getenv = imds_env() }
    assert.is_table(c, err)
    assert.equal("ASIAIMDSEXAMPLE", c.access_key)
    assert.equal(0, srv.stats().unauthorized)
    srv.control { reset = true, token_status = 403, v1 = true }
    c, err = credentials.resolve { getenv = imds_env { AWS_EC2_METADATA_V1_DISABLED = "true" } }
    assert.is_nil(c)
    assert.matches("(EC2 instance metadata: the token request was refused (HTTP 403) and IMDSv1 is disabled "
      .. "(AWS_EC2_METADATA_V1_DISABLED))", err, 1, true)
    assert.equal(0, srv.stats().role_gets)
  end)

  it("gives up on a service that never answers, after AWS_METADATA_SERVICE_TIMEOUT", function()
    srv.control { token_stall = 10 }
    local c, err = credentials.resolve { getenv = imds_env { AWS_METADATA_SERVICE_TIMEOUT = "0.5" } }
    assert.is_nil(c)
    -- the PUT timed out: IMDSv1 was tried, as botocore does, and refused
    assert.matches("(EC2 instance metadata: HTTP 401 on /latest/meta-data/iam/security-credentials/ without a "
      .. "token (IMDSv2 is required), and the token request timed out)", err, 1, true)
    local st = srv.stats()
    assert.equal(2, st.token_puts)
    assert.equal(1, st.unauthorized)
  end)

  it("is not asked with AWS_EC2_METADATA_DISABLED=true", function()
    local c, err = credentials.resolve { getenv = imds_env { AWS_EC2_METADATA_DISABLED = "TRUE" } }
    assert.is_nil(c)
    assert.matches("(EC2 instance metadata: disabled (AWS_EC2_METADATA_DISABLED))", err, 1, true)
    assert.same({}, srv.stats().paths)
  end)

  it("names the endpoint when nothing answers there, and an instance without a role", function()
    local port = moto.free_port() -- nothing listens there
    local c, err = credentials.resolve { getenv = env_of { HOME = home,
      AWS_EC2_METADATA_SERVICE_ENDPOINT = "http://127.0.0.1:" .. port .. "/" } }
    assert.is_nil(c)
    assert.matches("(EC2 instance metadata: not reachable at http://127.0.0.1:" .. port .. " (", err, 1, true)
    srv.control { no_role = true }
    c, err = credentials.resolve { getenv = imds_env() }
    assert.is_nil(c)
    assert.matches("(EC2 instance metadata: no IAM role is attached to this instance (HTTP 404))", err, 1, true)
  end)

  it("is asked when the profile has no credentials of its own, as botocore does", function()
    write(home .. "/.aws/config", "[profile regional]\nregion = eu-west-3\n")
    local c, err = credentials.resolve { getenv = imds_env { AWS_PROFILE = "regional" } }
    assert.is_table(c, err)
    assert.equal("ASIAIMDSEXAMPLE", c.access_key)
    fs.remove_tree(home .. "/.aws")
  end)
end)

describe("container credentials against a loopback stand-in #integration", function()
  local srv, dir

  setup(function()
    srv = start_metadata()
    dir = util.tmpdir("lakehost-container-")
  end)
  teardown(function()
    srv.stop()
    fs.remove_tree(dir)
  end)
  before_each(function() srv.control { reset = true } end)

  it("gets them from AWS_CONTAINER_CREDENTIALS_FULL_URI with the authorization token", function()
    srv.control { container_token = "Bearer pod-identity-token", expiration = iso(T0 + 3600) }
    local c, err = credentials.resolve { getenv = env_of { HOME = dir, AWS_EC2_METADATA_DISABLED = "true",
      AWS_CONTAINER_CREDENTIALS_FULL_URI = srv.url .. "/container/v1/credentials",
      AWS_CONTAINER_AUTHORIZATION_TOKEN = "Bearer pod-identity-token" } }
    assert.is_table(c, err)
    assert.equal("ASIACONTAINEREXAMPLE", c.access_key)
    assert.equal("imds-session-token-value", c.session_token)
    assert.equal(iso(T0 + 3600), c.expiration)
    assert.equal("<credentials from container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI)>", tostring(c))
    local st = srv.stats()
    assert.same({ "/container/v1/credentials" }, st.container_paths)
    assert.equal(0, st.container_unauthorized)
  end)

  it("stops at a refused token, without printing it", function()
    srv.control { container_token = "Bearer right-token" }
    local c, err = credentials.resolve { getenv = env_of { HOME = dir, AWS_EC2_METADATA_DISABLED = "true",
      AWS_CONTAINER_CREDENTIALS_FULL_URI = srv.url .. "/container/creds",
      AWS_CONTAINER_AUTHORIZATION_TOKEN = "Bearer wrong-token" } }
    assert.is_nil(c)
    assert.equal("container credentials: " .. srv.url .. "/container/creds (AWS_CONTAINER_CREDENTIALS_FULL_URI) "
      .. "answered HTTP 401: invalid authorization token", err)
    assert.equal(1, srv.stats().container_gets) -- a 4xx is not tried again
  end)

  it("reads AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE again at each refresh, before the token variable", function()
    local file = dir .. "/eks-pod-identity-token"
    write(file, "token-one\n")
    srv.control { container_token = "token-one", expiration = iso(T0 + 3600), rotate = true }
    local clk = clock()
    local p = credentials.provider { now = clk.now, getenv = env_of { HOME = dir, AWS_EC2_METADATA_DISABLED = "true",
      AWS_CONTAINER_CREDENTIALS_FULL_URI = srv.url .. "/container/creds",
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE = file, AWS_CONTAINER_AUTHORIZATION_TOKEN = "not-this-one" } }
    assert.equal("ASIACONTAINEREXAMPLE1", assert(p()).access_key)
    write(file, "token-two")
    srv.control { container_token = "token-two", expiration = iso(T0 + 7200) }
    clk.t = T0 + 3000
    local c, err = p()
    assert.is_table(c, err)
    assert.equal("ASIACONTAINEREXAMPLE2", c.access_key)
    assert.equal(0, srv.stats().container_unauthorized)
    -- a token that no header may hold is refused before anything is sent
    write(file, "token\nInjected: header")
    clk.t = T0 + 7000
    c, err = p()
    assert.is_nil(c)
    assert.matches("the authorization token holds a line break", err, 1, true)
    assert.equal(2, srv.stats().container_gets)
  end)

  it("reads AWS_CONTAINER_CREDENTIALS_RELATIVE_URI on the ECS host, first", function()
    local host = credentials.CONTAINER_HOST
    credentials.CONTAINER_HOST = srv.url -- the one in-process way to move it off 169.254.170.2
    local ok, c, err = pcall(credentials.resolve, { getenv = env_of { HOME = dir, AWS_EC2_METADATA_DISABLED = "true",
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = "/container/v2/credentials/6f1c",
      AWS_CONTAINER_CREDENTIALS_FULL_URI = srv.url .. "/container/full" } })
    credentials.CONTAINER_HOST = host
    assert(ok, c)
    assert.is_table(c, err)
    assert.equal("<credentials from container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)>", tostring(c))
    assert.same({ "/container/v2/credentials/6f1c" }, srv.stats().container_paths)
  end)

  it("tries a failing endpoint three times, a second apart", function()
    srv.control { container_status = 503 }
    local slept = {}
    local c, err = credentials.from_container { sleep = function(s) slept[#slept + 1] = s end,
      getenv = env_of { AWS_CONTAINER_CREDENTIALS_FULL_URI = srv.url .. "/container/creds" } }
    assert.is_nil(c)
    assert.equal("container credentials: " .. srv.url .. "/container/creds (AWS_CONTAINER_CREDENTIALS_FULL_URI) "
      .. "answered HTTP 503: agent unavailable", err)
    assert.same({ 1, 1 }, slept)
    assert.equal(3, srv.stats().container_gets)
  end)

  it("refuses a FULL_URI over plain http to a host that is not loopback or the container agent", function()
    local c, err = credentials.resolve { getenv = env_of { HOME = dir, AWS_EC2_METADATA_DISABLED = "true",
      AWS_CONTAINER_CREDENTIALS_FULL_URI = "http://192.0.2.10/creds" } }
    assert.is_nil(c)
    assert.equal("container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI: host '192.0.2.10' is not allowed "
      .. "over http: only https, a loopback address or one of 169.254.170.2, 169.254.170.23, fd00:ec2::23, localhost", err)
    -- the rule itself (nothing is sent for these)
    for _, u in ipairs { "https://creds.example.com/v1", "http://127.0.0.2:8080/c", "http://[::1]:9/c",
      "http://LOCALHOST/c", "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1/credentials" } do
      assert.is_true(credentials.container_url_check(u), u)
    end
    for _, u in ipairs { "http://169.254.169.254/latest", "http://10.0.0.1/c", "http://128.0.0.1/c",
      "http://127.0.0.1.example.com/c", "ftp://127.0.0.1/c" } do
      assert.is_nil(credentials.container_url_check(u), u)
    end
  end)
end)

describe("the order of the sources #integration", function()
  local srv, home

  setup(function()
    srv = start_metadata()
    home = util.tmpdir("lakehost-order-")
  end)
  teardown(function()
    srv.stop()
    fs.remove_tree(home)
  end)

  it("is environment, profile, container, then instance metadata", function()
    local vars = { HOME = home, AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "env-secret",
      AWS_CONTAINER_CREDENTIALS_FULL_URI = srv.url .. "/container/creds", AWS_EC2_METADATA_SERVICE_ENDPOINT = srv.url }
    local function source() return tostring(assert(credentials.resolve { getenv = env_of(vars) })) end
    srv.control { reset = true }
    assert.equal("<credentials from environment>", source())
    assert.same({}, srv.stats().paths)
    -- a profile named on the command line goes before the environment
    write(home .. "/.aws/credentials", "[ci]\naws_access_key_id = AKIDCI\naws_secret_access_key = ci-secret\n")
    assert.equal("<credentials from profile ci>",
      tostring(assert(credentials.resolve { getenv = env_of(vars), profile = "ci" })))
    vars.AWS_ACCESS_KEY_ID, vars.AWS_SECRET_ACCESS_KEY = nil, nil
    vars.AWS_PROFILE = "ci"
    assert.equal("<credentials from profile ci>", source())
    vars.AWS_PROFILE = nil
    assert.equal("<credentials from container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI)>", source())
    local st = srv.stats()
    assert.equal(1, st.container_gets)
    assert.equal(0, st.token_puts)
    vars.AWS_CONTAINER_CREDENTIALS_FULL_URI = nil
    assert.equal("<credentials from EC2 instance metadata (role lakehost-ec2-role)>", source())
    assert.equal(1, srv.stats().token_puts)
  end)
end)

describe("--profile and --region", function()
  it("are options of every command that talks to AWS, with their help #unit", function()
    for _, name in ipairs { "bootstrap", "deploy", "destroy", "diff", "list", "unlock", "run" } do
      local cmd = require("lake.commands." .. name)
      assert.equal("NAME", cmd.options.profile, name)
      assert.equal("REGION", cmd.options.region, name)
      assert.matches("--profile NAME", cmd.help, 1, true)
      assert.matches("--region REGION", cmd.help, 1, true)
    end
  end)

  it("are checked when the session is made: an unknown profile, a wrong region #unit", function()
    local session = require("lake.aws.session")
    local home = util.tmpdir("lakehost-session-")
    write(home .. "/.aws/config", "[profile eu]\nregion = eu-west-3\naws_access_key_id = AKIDEU\n"
      .. "aws_secret_access_key = eu-secret\n")
    local getenv = env_of { HOME = home, AWS_REGION = "us-east-1", AWS_ACCESS_KEY_ID = "AKIDENV",
      AWS_SECRET_ACCESS_KEY = "env-secret", AWS_EC2_METADATA_DISABLED = "true" }
    local s = session.new { getenv = getenv }
    assert.equal("us-east-1", s.region)
    assert.equal("AKIDENV", s.creds().access_key)
    s = session.new { getenv = getenv, profile = "eu" }
    assert.equal("us-east-1", s.region) -- AWS_REGION still beats the profile's region
    assert.equal("AKIDEU", s.creds().access_key) -- --profile beats the environment's keys
    s = session.new { getenv = getenv, profile = "eu", region = "ap-south-2" }
    assert.equal("ap-south-2", s.region)
    local ok, err = pcall(session.new, { getenv = getenv, profile = "nope" })
    assert.is_false(ok)
    assert.equal("input", err.kind)
    assert.equal(("AWS profile 'nope' not found in %s/.aws/config or %s/.aws/credentials"):format(home, home), err.msg)
    ok, err = pcall(session.new, { getenv = getenv, region = "Europe" })
    assert.is_false(ok)
    assert.equal("AWS region 'Europe' does not look like a region (e.g. us-east-1)", err.msg)
    fs.remove_tree(home)
  end)
end)

describe("commands against moto with credentials from instance metadata #integration", function()
  local server, srv, home, out
  local role_creds
  local SMALL = "spec/fixtures/apps/small/app.lua"

  setup(function()
    server = moto.start()
    srv = start_metadata()
    home = util.tmpdir("lakehost-imds-home-")
    out = util.tmpdir("lakehost-imds-out-")
    -- the instance's role: temporary credentials from moto's STS, which
    -- moto then checks the signatures of (session token included)
    local query, sts = require("lake.aws.query"), require("lake.aws.sts")
    local c = server.client()
    local V = "2010-05-08"
    local role = assert(query.call(c, "iam", V, "CreateRole", { RoleName = "lakehost-ec2-role",
      AssumeRolePolicyDocument = json.encode { Version = "2012-10-17", Statement = { {
        Effect = "Allow", Action = "sts:AssumeRole", Principal = { AWS = "arn:aws:iam::123456789012:user/lakehost-spec" } } } } }))
    local pol = assert(query.call(c, "iam", V, "CreatePolicy", { PolicyName = "ec2-admin", PolicyDocument =
      '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}' }))
    assert(query.call(c, "iam", V, "AttachRolePolicy", { RoleName = "lakehost-ec2-role", PolicyArn = pol.Policy.Arn }))
    role_creds = assert(sts.assume_role(c, { role_arn = role.Role.Arn, session_name = "i-0123456789abcdef0" }))
    srv.control { access_key = role_creds.access_key, secret_key = role_creds.secret_key,
      session_token = role_creds.session_token }
  end)
  teardown(function()
    srv.stop()
    server.stop()
    fs.remove_tree(home)
    fs.remove_tree(out)
  end)

  -- lakehost with no credentials but the stand-in's, and no region
  local function run(args, extra)
    local env = { AWS_ENDPOINT_URL = server.url, HOME = home, AWS_EC2_METADATA_DISABLED = "false",
      AWS_EC2_METADATA_SERVICE_ENDPOINT = srv.url, AWS_ACCESS_KEY_ID = "", AWS_SECRET_ACCESS_KEY = "",
      AWS_SESSION_TOKEN = "", AWS_PROFILE = "", AWS_REGION = "", AWS_DEFAULT_REGION = "" }
    for k, v in pairs(extra or {}) do env[k] = v end
    return util.lakehost(args, { env = env })
  end

  local function no_secret(text)
    for _, s in ipairs { role_creds.secret_key, role_creds.session_token, role_creds.access_key, "imds-v2-token" } do
      assert.is_nil(text:find(s, 1, true), "a secret was printed")
    end
  end

  it("bootstraps and deploys, signing with the instance role's credentials, and prints none of them", function()
    local o, e, code = run { SMALL, "bootstrap", "--region", "us-east-1", "--verbose" }
    assert.equal(0, code, e)
    assert.matches("credentials: from EC2 instance metadata (role lakehost-ec2-role), expire ", e, 1, true)
    assert.matches("aws: sts GetCallerIdentity -> 200", e, 1, true)
    no_secret(o .. e)
    o, e, code = run { SMALL, "deploy", "--region", "us-east-1", "--verbose", "--out", out .. "/a" }
    assert.equal(0, code, e)
    no_secret(o .. e)
    local st = srv.stats()
    assert.equal(2, st.token_puts) -- one per process
    assert.equal(2, st.creds_gets)
    -- what moto holds, asked with the spec user's own keys
    local cfn = require("lake.aws.cloudformation")
    local stack = assert(cfn.describe_stack(server.client(), "lakehost-toolkit"))
    assert.equal("CREATE_COMPLETE", stack.StackStatus)
  end)

  it("lists the deployed status in the region --region names", function()
    local o, e, code = run { SMALL, "list", "--region", "us-east-1" }
    assert.equal(0, code, e)
    assert.matches("CREATE_COMPLETE", o, 1, true)
    assert.is_nil(o:find("not deployed", 1, true))
    o, e, code = run({ SMALL, "list", "--region", "eu-west-1" }, { AWS_REGION = "us-east-1" })
    assert.equal(0, code, e)
    assert.matches("not deployed", o, 1, true)
    assert.is_nil(o:find("CREATE_COMPLETE", 1, true))
  end)

  it("signs with --profile's keys over the environment's", function()
    write(home .. "/.aws/credentials", ("[moto]\naws_access_key_id = %s\naws_secret_access_key = %s\n")
      :format(server.env.AWS_ACCESS_KEY_ID, server.env.AWS_SECRET_ACCESS_KEY))
    local wrong = { AWS_ACCESS_KEY_ID = "AKIAWRONGWRONGWRONG1", AWS_SECRET_ACCESS_KEY = "wrong",
      AWS_EC2_METADATA_DISABLED = "true", AWS_REGION = "us-east-1" }
    local o, e, code = run({ SMALL, "list", "--profile", "moto" }, wrong)
    assert.equal(0, code, e)
    assert.matches("CREATE_COMPLETE", o, 1, true)
    assert.equal("", e)
    -- without --profile, the environment's keys, which moto refuses
    o, e, code = run({ SMALL, "list" }, wrong)
    assert.equal(0, code, e)
    assert.matches("list: deployed status unknown: InvalidClientTokenId", e, 1, true)
    assert.is_nil(o:find("CREATE_COMPLETE", 1, true))
    fs.remove(home .. "/.aws/credentials")
  end)

  it("exits 2 for an unknown profile or a wrong region", function()
    local _, e, code = run { SMALL, "list", "--profile", "nope" }
    assert.equal(2, code, e)
    assert.equal(("lakehost: AWS profile 'nope' not found in %s/.aws/config or %s/.aws/credentials\n"):format(home, home), e)
    _, e, code = run { SMALL, "deploy", "--profile", "nope", "--out", out .. "/b" }
    assert.equal(2, code, e)
    assert.matches("AWS profile 'nope' not found", e, 1, true)
    _, e, code = run { SMALL, "list", "--region", "mars" }
    assert.equal(2, code, e)
    assert.matches("lakehost: AWS region 'mars' does not look like a region (e.g. us-east-1)", e, 1, true)
    _, e, code = run { SMALL, "list", "--profile" }
    assert.equal(2, code, e)
    assert.matches("--profile needs a value (NAME)", e, 1, true)
  end)
end)
