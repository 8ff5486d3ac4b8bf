local credentials = require("lake.aws.credentials")
local fs = require("host.fs")
local proc = require("host.proc")
local moto = require("spec.support.moto")

local function write(path, text)
  assert(fs.mkdir_p(path:match("^(.*)/[^/]+$")))
  assert(fs.write(path, text))
end

-- An environment of t's variables only; the instance metadata service is
-- off unless t says otherwise (specs never reach its link-local address).
local function env_of(t)
  if t.AWS_EC2_METADATA_DISABLED == nil then t.AWS_EC2_METADATA_DISABLED = "true" end
  return function(k) return t[k] end
end

describe("lake.aws.credentials #unit", function()
  local home

  before_each(function() home = assert(fs.tmpdir("lakehost-creds-")) end)
  after_each(function() fs.remove_tree(home) end)

  it("takes the environment first and never prints the secret", function()
    local c = assert(credentials.resolve { getenv = env_of {
      HOME = home, AWS_ACCESS_KEY_ID = "AKIDENV", AWS_SECRET_ACCESS_KEY = "env-secret", AWS_SESSION_TOKEN = "env-token" } })
    assert.equal("AKIDENV", c.access_key)
    assert.equal("env-token", c.session_token)
    assert.equal("<credentials from environment>", tostring(c))
  end)

  it("reads static keys of AWS_PROFILE from the shared credentials file", function()
    write(home .. "/.aws/credentials", "[default]\naws_access_key_id = AKIDDEF\naws_secret_access_key = d\n\n"
      .. "[work]\naws_access_key_id = AKIDWORK\naws_secret_access_key = w\naws_session_token = t\n")
    local c = assert(credentials.resolve { getenv = env_of { HOME = home, AWS_PROFILE = "work" } })
    assert.equal("AKIDWORK", c.access_key)
    assert.equal("t", c.session_token)
    c = assert(credentials.resolve { getenv = env_of { HOME = home } })
    assert.equal("AKIDDEF", c.access_key)
  end)

  it("honours AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE, and the profile's region", function()
    write(home .. "/cfg", "[profile p]\nregion = eu-west-3\n")
    write(home .. "/creds", "[p]\naws_access_key_id = AKIDP\naws_secret_access_key = s\n")
    local getenv = env_of { HOME = home, AWS_PROFILE = "p", AWS_CONFIG_FILE = home .. "/cfg",
      AWS_SHARED_CREDENTIALS_FILE = home .. "/creds" }
    assert.equal("AKIDP", assert(credentials.resolve { getenv = getenv }).access_key)
    assert.equal("eu-west-3", credentials.region(getenv))
  end)

  it("runs credential_process without a shell", function()
    write(home .. "/.aws/config", ("[profile proc]\ncredential_process = %s/spec/fixtures/creds/process.sh 'X Y'\n")
      :format(require("host.fs").cwd()))
    local c = assert(credentials.resolve { getenv = env_of { HOME = home, AWS_PROFILE = "proc" } })
    assert.equal("AKIDPROCESSX Y", c.access_key)
    assert.equal("process-token", c.session_token)
  end)

  it("reports a failing credential_process with its stderr", function()
    write(home .. "/.aws/config", ("[profile proc]\ncredential_process = %s/spec/fixtures/creds/process.sh --fail\n")
      :format(require("host.fs").cwd()))
    local c, err = credentials.resolve { getenv = env_of { HOME = home, AWS_PROFILE = "proc" } }
    assert.is_nil(c)
    assert.equal("profile proc: credential_process exited with exit 3: token expired, run login", err)
  end)

  -- refusals
  it("names a missing profile", function()
    local c, err = credentials.resolve { getenv = env_of { HOME = home, AWS_PROFILE = "nope" } }
    assert.is_nil(c)
    assert.equal("profile 'nope' not found in the AWS config or credentials file", err)
  end)

  it("detects profiles that refer to each other", function()
    write(home .. "/.aws/config", "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
      .. "[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = a\n")
    local c, err = credentials.resolve { getenv = env_of { HOME = home, AWS_PROFILE = "a" } }
    assert.is_nil(c)
    assert.equal("profiles refer to each other in a loop: a", err)
  end)

  it("says how to get credentials when there are none", function()
    local c, err = credentials.resolve { getenv = env_of { HOME = home } }
    assert.is_nil(c)
    assert.matches("^no AWS credentials: set AWS_ACCESS_KEY_ID", err)
  end)

  it("refuses a key id without its secret", function()
    local c, err = credentials.resolve { getenv = env_of { HOME = home, AWS_ACCESS_KEY_ID = "AKID" } }
    assert.is_nil(c)
    assert.equal("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not", err)
  end)

  it("splits credential_process command lines like a shell would, without running one", function()
    assert.same({ "a", "b c", "d'e", "f" }, credentials.split_command([[a "b c" "d'e" f]]))
    assert.same({ "x", "" }, credentials.split_command([[x '']]))
  end)
end)

describe("lake.aws.credentials through STS #integration", function()
  local server, home

  setup(function()
    server = moto.start { auth = false }
    home = assert(fs.tmpdir("lakehost-creds-"))
  end)
  teardown(function()
    server.stop()
    fs.remove_tree(home)
  end)

  it("assumes a role from a source profile", function()
    write(home .. "/.aws/credentials", "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = b\n")
    write(home .. "/.aws/config", "[profile deployer]\nrole_arn = arn:aws:iam::123456789012:role/deployer\n"
      .. "source_profile = base\nrole_session_name = ci\n")
    local c, err = credentials.resolve { getenv = env_of { HOME = home, AWS_PROFILE = "deployer",
      AWS_ENDPOINT_URL = server.url, AWS_REGION = "us-east-1" } }
    assert.is_table(c, err)
    assert.matches("^ASIA", c.access_key)
    assert.truthy(c.session_token)
    assert.equal("<credentials from assume-role profile deployer>", tostring(c))
  end)

  it("exchanges a web identity token", function()
    write(home .. "/token", "eyJhbGciOiJSUzI1NiJ9.e30.sig\n")
    local c, err = credentials.resolve { getenv = env_of { HOME = home, AWS_WEB_IDENTITY_TOKEN_FILE = home .. "/token",
      AWS_ROLE_ARN = "arn:aws:iam::123456789012:role/ci", AWS_ENDPOINT_URL = server.url, AWS_REGION = "us-east-1" } }
    assert.is_table(c, err)
    assert.matches("^ASIA", c.access_key)
    assert.truthy(c.session_token)
  end)

  it("gets IAM Identity Center role credentials with the cached token", function()
    local portal = assert(proc.spawn { argv = { "python3", "spec/support/sso_portal.py" }, stdout = "capture", stderr = "null" })
    local port = tonumber(assert(portal:read_line("stdout", 10)):match("PORT (%d+)"))
    write(home .. "/.aws/config", "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\n"
      .. "sso_role_name = DataEngineer\nregion = us-east-1\n\n[sso-session corp]\n"
      .. "sso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n")
    write(home .. "/.aws/sso/cache/0123abcd.json", '{"startUrl": "https://corp.awsapps.com/start", "region": "us-east-1", '
      .. '"accessToken": "good-token", "expiresAt": "2099-01-01T00:00:00Z"}')
    local getenv = env_of { HOME = home, AWS_PROFILE = "sso", AWS_ENDPOINT_URL_SSO = "http://127.0.0.1:" .. port }
    local c, err = credentials.resolve { getenv = getenv }
    assert.is_table(c, err)
    assert.equal("ASIASSO123456789012", c.access_key)
    assert.equal("sso-token-DataEngineer", c.session_token)
    -- an expired token says what to run
    write(home .. "/.aws/sso/cache/0123abcd.json", '{"startUrl": "https://corp.awsapps.com/start", '
      .. '"accessToken": "good-token", "expiresAt": "2001-01-01T00:00:00Z"}')
    c, err = credentials.resolve { getenv = getenv }
    assert.is_nil(c)
    assert.equal("profile sso: the IAM Identity Center token expired: run `aws sso login --profile sso`", err)
    portal:close()
  end)
end)
