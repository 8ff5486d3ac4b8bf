--- Credentials and region, resolved the way the AWS CLI does.
--
-- The order is botocore's (create_credential_resolver in
-- botocore/credentials.py, the AWS CLI's engine), the first source that
-- applies wins:
--   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
--      [+ AWS_SESSION_TOKEN];
--   2. assume role: the profile's role_arn with source_profile, or with
--      credential_source Environment, EcsContainer or Ec2InstanceMetadata,
--      then STS AssumeRole;
--   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
--      [+ AWS_ROLE_SESSION_NAME], else the profile's web_identity_token_file
--      and role_arn, then STS AssumeRoleWithWebIdentity;
--   4. IAM Identity Center: the profile's sso_session (or legacy
--      sso_start_url), with the token from `aws sso login`'s cache;
--   5. static keys of the profile in the shared credentials file;
--   6. the profile's credential_process;
--   7. static keys of the profile in the config file;
--   8. container credentials (ECS task role, EKS Pod Identity):
--      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on http://169.254.170.2), else
--      AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback
--      address, 169.254.170.2, 169.254.170.23, fd00:ec2::23 or localhost, as
--      botocore allows), with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read
--      again at each fetch) or AWS_CONTAINER_AUTHORIZATION_TOKEN as the
--      Authorization header;
--   9. EC2 instance metadata, IMDSv2: PUT /latest/api/token, then the role
--      name and its credentials under
--      /latest/meta-data/iam/security-credentials/ with the token; at
--      AWS_EC2_METADATA_SERVICE_ENDPOINT (else http://169.254.169.254, or
--      http://[fd00:ec2::254] with AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE
--      IPv6); skipped with AWS_EC2_METADATA_DISABLED=true.
-- (botocore's legacy boto2 sources, ~/.boto and AWS_CREDENTIAL_FILE, come
-- between 7 and 8 there; lakehost does not read them.)
--
-- The profile is --profile (opts.profile), else AWS_PROFILE, else
-- AWS_DEFAULT_PROFILE, else "default". As with `aws --profile`, a profile
-- given on the command line makes 1 and the web identity variables of 3 be
-- ignored. A named profile that neither file has is an error; one without
-- any credentials (only a region, say) lets 8 and 9 be tried, as botocore
-- does. The files are AWS_CONFIG_FILE (~/.aws/config) and
-- AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials).
--
-- Instance metadata, as the CLI does it: 1 s to connect
-- (AWS_METADATA_SERVICE_TIMEOUT; a second more for the answer), 1 attempt
-- (AWS_METADATA_SERVICE_NUM_ATTEMPTS), so a machine without IMDS does not
-- hang: it gives up at once when nothing listens, after 2 s when the
-- address drops packets (the token PUT, then the IMDSv1 GET), after 4 s
-- when it accepts and never answers. The token (TTL 6 h) is kept for later
-- refreshes and fetched again once when a GET answers 401 (an expired or
-- missing token). A token PUT answered 403, 404 or 405, or timing out
-- (a hop limit of 1 in a container drops the answer), falls back to IMDSv1
-- (GETs without a token) exactly as botocore does, unless
-- AWS_EC2_METADATA_V1_DISABLED=true; a GET that then answers 401 says both
-- what the token request got and that IMDSv2 is required. When IMDS gives
-- nothing, the "no AWS credentials" message says why.
--
-- Temporary credentials (assume role, web identity, Identity Center,
-- credential_process, container, IMDS) are refreshed by M.provider as
-- botocore refreshes them: from 15 minutes before they expire (a failure
-- then keeps the current ones), and a failure within the last 10 minutes
-- is an error.
--
-- Credentials tables print as "<credentials from SOURCE>" so a stray
-- tostring() or log line cannot leak a key; no message or log line of this
-- module holds a key, a session token or an authorization token.
local ini = require("lake.aws.ini")
local errors = require("lake.errors")
local fs = require("host.fs")
local proc = require("host.proc")
local json = require("host.json")
local http = require("host.http")
local client = require("lake.aws.client")
local sts = require("lake.aws.sts")

local M = {}

--- Refresh windows of temporary credentials, in seconds before they expire
-- (botocore's advisory and mandatory refresh timeouts).
M.ADVISORY_REFRESH = 15 * 60
M.MANDATORY_REFRESH = 10 * 60

--- The instance metadata service (IPv4 and IPv6 endpoints) and the TTL
-- asked for its tokens.
M.IMDS_ENDPOINT = "http://169.254.169.254"
M.IMDS_ENDPOINT_IPV6 = "http://[fd00:ec2::254]"
M.IMDS_TOKEN_TTL = 21600

--- Where AWS_CONTAINER_CREDENTIALS_RELATIVE_URI points (ECS). Only Lua code
-- in the same process can change it: the specs point it at a loopback
-- server; nothing in the environment or on the command line can.
M.CONTAINER_HOST = "http://169.254.170.2"

--- Hosts AWS_CONTAINER_CREDENTIALS_FULL_URI may name over plain http,
-- besides loopback addresses (botocore's ContainerMetadataFetcher).
M.CONTAINER_HOSTS = { "169.254.170.2", "169.254.170.23", "fd00:ec2::23", "localhost" }

local Creds = {}
Creds.__index = Creds
Creds.__tostring = function(c) return "<credentials from " .. (c.source or "?") .. ">" end

local function creds(t) return setmetatable(t, Creds) end
M.creds = creds

local function home(getenv) return getenv("HOME") or "" end

-- An environment variable, nil when unset or empty.
local function env(getenv, k)
  local v = getenv(k)
  if v == nil or v == "" then return nil end
  return v
end

-- A malformed file is bad input (exit 2); raised, as it is found deep in a
-- signed call's credential lookup.
local function read_ini(path)
  local text = fs.read(path)
  if not text then return {} end
  local t, err = ini.parse(text, path)
  if not t then errors.usage(err) end
  return t
end

--- The profile named by --profile, AWS_PROFILE or AWS_DEFAULT_PROFILE, or
-- nil when none is (the "default" profile then applies).
function M.named_profile(getenv, name)
  getenv = getenv or os.getenv
  return name or env(getenv, "AWS_PROFILE") or env(getenv, "AWS_DEFAULT_PROFILE")
end

--- Loads the merged settings of a profile.
-- @return settings function (name -> settings, exists, the credentials
--   file's section), config sections, the profile name, the config file's
--   path, the credentials file's path
function M.profile(getenv, name)
  getenv = getenv or os.getenv
  name = M.named_profile(getenv, name) or "default"
  local config_path = env(getenv, "AWS_CONFIG_FILE") or (home(getenv) .. "/.aws/config")
  local creds_path = env(getenv, "AWS_SHARED_CREDENTIALS_FILE") or (home(getenv) .. "/.aws/credentials")
  local config = read_ini(config_path)
  local credfile = read_ini(creds_path)
  local function settings(n)
    local s = {}
    for k, v in pairs(config[n == "default" and "default" or ("profile " .. n)] or {}) do s[k] = v end
    if n == "default" then
      for k, v in pairs(config["profile default"] or {}) do if s[k] == nil then s[k] = v end end
    end
    for k, v in pairs(credfile[n] or {}) do s[k] = v end
    local exists = config[n == "default" and "default" or ("profile " .. n)] ~= nil or credfile[n] ~= nil
      or (n == "default" and config["profile default"] ~= nil)
    return s, exists, credfile[n] or {}
  end
  return settings, config, name, config_path, creds_path
end

--- The region: AWS_REGION, AWS_DEFAULT_REGION, then the profile's region
-- (of profile, else AWS_PROFILE's, else default's).
function M.region(getenv, profile)
  getenv = getenv or os.getenv
  local r = env(getenv, "AWS_REGION") or env(getenv, "AWS_DEFAULT_REGION")
  if r then return r end
  local ok, settings, _, name = pcall(M.profile, getenv, profile)
  if ok then return (settings(name)).region end
  return nil
end

-- Splits a command line the way credential_process is documented to be
-- split (whitespace, single and double quotes, backslash escapes); no shell.
local function split_command(s)
  local argv, cur, i, quote, have = {}, {}, 1, nil, false
  while i <= #s do
    local ch = s:sub(i, i)
    if quote then
      if ch == quote then quote = nil
      elseif ch == "\\" and quote == '"' and i < #s then i = i + 1; cur[#cur + 1] = s:sub(i, i)
      else cur[#cur + 1] = ch end
    elseif ch == "'" or ch == '"' then quote, have = ch, true
    elseif ch == "\\" and i < #s then i = i + 1; cur[#cur + 1] = s:sub(i, i); have = true
    elseif ch:match("%s") then
      if have or #cur > 0 then argv[#argv + 1] = table.concat(cur); cur = {}; have = false end
    else cur[#cur + 1] = ch; have = true end
    i = i + 1
  end
  if quote then return nil, "unterminated quote" end
  if have or #cur > 0 then argv[#argv + 1] = table.concat(cur) end
  return argv
end
M.split_command = split_command

local function from_process(cmd, profile)
  local argv, err = split_command(cmd)
  if not argv or #argv == 0 then return nil, ("profile %s: credential_process: %s"):format(profile, err or "empty") end
  local res, perr = proc.run { argv = argv, timeout = 60 }
  if not res then return nil, ("profile %s: credential_process: %s"):format(profile, perr) end
  if not res.ok then
    local last = (res.stderr or ""):match("([^\n]+)\n?$") or ""
    return nil, ("profile %s: credential_process exited with %s %d: %s"):format(profile, res.how, res.code, last)
  end
  local v = json.decode(res.stdout or "", "credential_process output")
  if type(v) ~= "table" or v.Version ~= 1 or not v.AccessKeyId or not v.SecretAccessKey then
    return nil, ("profile %s: credential_process must print JSON with Version 1, AccessKeyId and SecretAccessKey"):format(profile)
  end
  return creds { access_key = v.AccessKeyId, secret_key = v.SecretAccessKey, session_token = v.SessionToken,
    expiration = v.Expiration, source = "credential_process of profile " .. profile }
end

local function sts_client(region, c, getenv)
  return client.new { region = region or "us-east-1", credentials = c, getenv = getenv }
end

local function from_web_identity(token_file, role_arn, session, region, getenv)
  local token, err = fs.read(token_file)
  if not token then return nil, "web identity token: " .. tostring(err) end
  local c, e = sts.assume_role_with_web_identity(sts_client(region, nil, getenv), {
    role_arn = role_arn, session_name = session, token = token:gsub("%s+$", ""),
  })
  if not c then return nil, "web identity: " .. tostring(e) end
  return creds(c)
end

local function sso_token(getenv, start_url)
  local dir = home(getenv) .. "/.aws/sso/cache"
  local best
  for _, f in ipairs(fs.glob(dir .. "/*.json") or {}) do
    local text = fs.read(f)
    local ok, v = pcall(json.decode, text or "")
    if ok and type(v) == "table" and v.startUrl == start_url and v.accessToken then
      if not best or tostring(v.expiresAt) > tostring(best.expiresAt) then best = v end
    end
  end
  return best
end

local function from_sso(s, config, profile, getenv, now)
  local start_url, sso_region = s.sso_start_url, s.sso_region
  if s.sso_session then
    local sess = config["sso-session " .. s.sso_session]
    if not sess then return nil, ("profile %s: sso_session '%s' has no [sso-session %s] section"):format(profile, s.sso_session, s.sso_session) end
    start_url, sso_region = sess.sso_start_url, sess.sso_region
  end
  if not (start_url and sso_region and s.sso_account_id and s.sso_role_name) then
    return nil, ("profile %s: IAM Identity Center needs sso_start_url, sso_region, sso_account_id and sso_role_name"):format(profile)
  end
  local tok = sso_token(getenv, start_url)
  if not tok then
    return nil, ("profile %s: no IAM Identity Center token for %s: run `aws sso login --profile %s`"):format(profile, start_url, profile)
  end
  local expires = client.parse_time(tok.expiresAt)
  if expires and expires <= now() then
    return nil, ("profile %s: the IAM Identity Center token expired: run `aws sso login --profile %s`"):format(profile, profile)
  end
  local c = sts_client(sso_region, nil, getenv)
  local resp, err = c:call {
    service = "sso", action = "GetRoleCredentials", method = "GET", path = "/federation/credentials",
    query = "account_id=" .. http.url_encode(s.sso_account_id) .. "&role_name=" .. http.url_encode(s.sso_role_name),
    headers = { ["x-amz-sso_bearer_token"] = tok.accessToken }, unsigned = true,
  }
  if not resp then return nil, ("profile %s: IAM Identity Center: %s"):format(profile, tostring(err)) end
  local v = json.decode(resp.body or "")
  local rc = type(v) == "table" and v.roleCredentials
  if type(rc) ~= "table" then return nil, ("profile %s: IAM Identity Center answered without credentials"):format(profile) end
  return creds { access_key = rc.accessKeyId, secret_key = rc.secretAccessKey, session_token = rc.sessionToken,
    expiration = rc.expiration and os.date("!%Y-%m-%dT%H:%M:%SZ", rc.expiration // 1000) or nil,
    source = "IAM Identity Center profile " .. profile }
end

-- ---- container credentials (ECS, EKS Pod Identity) -------------------------

local function is_loopback(host)
  local a, b, c, d = host:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if a then
    return tonumber(a) == 127 and tonumber(b) <= 255 and tonumber(c) <= 255 and tonumber(d) <= 255
  end
  return host == "::1" or host:match("^0*:0*:0*:0*:0*:0*:0*:0*1$") ~= nil
end

--- Whether AWS_CONTAINER_CREDENTIALS_FULL_URI may be used: https to any
-- host, http only to a loopback address or one of M.CONTAINER_HOSTS (the
-- AWS CLI's rule: credentials must not travel in clear over a network).
-- @return true | nil, message
function M.container_url_check(url)
  local u = http.parse_url(url)
  if not u or (u.scheme ~= "http" and u.scheme ~= "https") then
    return nil, ("'%s' is not an http(s) URL"):format(url)
  end
  if u.scheme == "https" then return true end
  local host = u.host:lower():gsub("^%[(.*)%]$", "%1")
  if is_loopback(host) then return true end
  for _, h in ipairs(M.CONTAINER_HOSTS) do if host == h then return true end end
  return nil, ("host '%s' is not allowed over http: only https, a loopback address or one of %s")
    :format(host, table.concat(M.CONTAINER_HOSTS, ", "))
end

-- A short reason from an error body: its JSON message, without the token.
local function body_reason(body, secret)
  local ok, v = pcall(json.decode, body or "")
  local msg = ok and type(v) == "table" and (v.message or v.Message or v.Code)
  if type(msg) ~= "string" or msg == "" then return "" end
  if secret and secret ~= "" then msg = msg:gsub(secret:gsub("%p", "%%%0"), "***") end
  if #msg > 200 then msg = msg:sub(1, 200) .. "..." end
  return ": " .. msg
end

--- Container credentials.
-- @param o table { getenv=, log = function(msg), sleep = function(s) }
-- @return creds | nil when not configured | nil, message when they fail
function M.from_container(o)
  local getenv = o.getenv or os.getenv
  local rel = env(getenv, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
  local full = env(getenv, "AWS_CONTAINER_CREDENTIALS_FULL_URI")
  if not rel and not full then return nil end
  local var = rel and "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" or "AWS_CONTAINER_CREDENTIALS_FULL_URI"
  local url = rel and (M.CONTAINER_HOST .. (rel:sub(1, 1) == "/" and "" or "/") .. rel) or full
  local ok, why = M.container_url_check(url)
  if not ok then return nil, ("container credentials: %s: %s"):format(var, why) end
  local auth
  local token_file = env(getenv, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
  if token_file then
    -- read at each fetch: EKS rotates the file under a running pod
    local text, ferr = fs.read(token_file)
    if not text then
      return nil, ("container credentials: cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (%s)"):format(tostring(ferr))
    end
    auth = text:gsub("[\r\n]+$", "")
  else
    auth = env(getenv, "AWS_CONTAINER_AUTHORIZATION_TOKEN")
  end
  if auth and auth:find("[\r\n]") then
    return nil, "container credentials: the authorization token holds a line break, which no header may"
  end
  local headers = { Accept = "application/json", Authorization = auth }
  local sleep = o.sleep or proc.sleep
  -- botocore: 2 s per request, 3 attempts 1 s apart; only transport
  -- failures and 5xx are worth another attempt here (a 4xx stays a 4xx)
  local resp, msg
  for attempt = 1, 3 do
    local t0 = proc.monotime()
    resp, msg = http.request { method = "GET", url = url, headers = headers, timeout = 2, connect_timeout = 1 }
    if o.log then
      o.log(("container credentials GET %s -> %s (%.0f ms)"):format(var, resp and resp.status or tostring(msg),
        (proc.monotime() - t0) * 1000))
    end
    if resp and resp.status < 500 then break end
    if attempt < 3 then sleep(1) end
  end
  if not resp then return nil, ("container credentials: %s (%s): %s"):format(url, var, tostring(msg)) end
  if resp.status ~= 200 then
    return nil, ("container credentials: %s (%s) answered HTTP %d%s"):format(url, var, resp.status,
      body_reason(resp.body, auth))
  end
  local v = json.decode(resp.body or "")
  if type(v) ~= "table" or type(v.AccessKeyId) ~= "string" or type(v.SecretAccessKey) ~= "string" then
    return nil, ("container credentials: %s answered without AccessKeyId and SecretAccessKey"):format(url)
  end
  return creds { access_key = v.AccessKeyId, secret_key = v.SecretAccessKey,
    session_token = type(v.Token) == "string" and v.Token ~= "" and v.Token or nil,
    expiration = type(v.Expiration) == "string" and v.Expiration or nil,
    source = "container credentials (" .. var .. ")" }
end

-- ---- EC2 instance metadata (IMDSv2) --------------------------------------------

local CREDS_PATH = "/latest/meta-data/iam/security-credentials/"

--- Instance credentials from the EC2 instance metadata service.
-- @param o table { getenv=, settings = the profile's settings (for the
--   ec2_metadata_* keys), state = table kept between calls (the token),
--   now = function() -> epoch seconds, log = function(msg) }
-- @return creds | nil, why (what the service said or why it was not asked;
--   never fatal: the caller goes on without)
function M.from_imds(o)
  local getenv = o.getenv or os.getenv
  local s = o.settings or {}
  local function cfg(var, key)
    local v = env(getenv, var) or (key and s[key]) or nil
    if v == "" then return nil end
    return v
  end
  if (cfg("AWS_EC2_METADATA_DISABLED") or ""):lower() == "true" then
    return nil, "disabled (AWS_EC2_METADATA_DISABLED)"
  end
  local base = cfg("AWS_EC2_METADATA_SERVICE_ENDPOINT", "ec2_metadata_service_endpoint")
  if not base then
    local mode = cfg("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "ec2_metadata_service_endpoint_mode")
    base = (mode and mode:lower() == "ipv6") and M.IMDS_ENDPOINT_IPV6 or M.IMDS_ENDPOINT
  end
  local u = http.parse_url(base)
  if not u or (u.scheme ~= "http" and u.scheme ~= "https") then
    return nil, ("AWS_EC2_METADATA_SERVICE_ENDPOINT '%s' is not an http(s) URL"):format(base)
  end
  base = base:gsub("/+$", "")
  local timeout = tonumber(cfg("AWS_METADATA_SERVICE_TIMEOUT", "metadata_service_timeout")) or 1
  local attempts = math.max(1, math.floor(tonumber(cfg("AWS_METADATA_SERVICE_NUM_ATTEMPTS",
    "metadata_service_num_attempts")) or 1))
  local v1_disabled = (cfg("AWS_EC2_METADATA_V1_DISABLED", "ec2_metadata_v1_disabled") or ""):lower() == "true"
  local state = o.state or {}
  local now = o.now or os.time

  local function send(method, path, headers)
    local resp, msg, kind
    for _ = 1, attempts do
      local t0 = proc.monotime()
      resp, msg, kind = http.request { method = method, url = base .. path, headers = headers,
        timeout = timeout + 1, connect_timeout = timeout }
      if o.log then
        o.log(("imds %s %s -> %s (%.0f ms)"):format(method, path, resp and resp.status or tostring(kind),
          (proc.monotime() - t0) * 1000))
      end
      if resp and resp.status < 500 then break end
    end
    return resp, msg, kind
  end

  -- a token: kept until a minute before its TTL ends, or fresh when asked
  local function token(fresh)
    if not fresh and state.token and (state.token_expires or 0) > now() then return state.token end
    state.token = nil
    local resp, msg, kind = send("PUT", "/latest/api/token",
      { ["X-aws-ec2-metadata-token-ttl-seconds"] = tostring(M.IMDS_TOKEN_TTL) })
    if not resp then
      if kind == "timeout" then return nil, "v1", "the token request timed out" end
      return nil, "down", ("not reachable at %s (%s)"):format(base, tostring(msg))
    end
    if resp.status == 200 and (resp.body or "") ~= "" then
      state.token, state.token_expires = resp.body, now() + M.IMDS_TOKEN_TTL - 60
      return state.token
    end
    if resp.status == 403 or resp.status == 404 or resp.status == 405 then
      return nil, "v1", ("the token request was refused (HTTP %d)"):format(resp.status)
    end
    return nil, "error", ("the token request failed (HTTP %d)"):format(resp.status)
  end

  local tok, how, why = token(false)
  if not tok then
    if how ~= "v1" then return nil, why end
    if v1_disabled then return nil, why .. " and IMDSv1 is disabled (AWS_EC2_METADATA_V1_DISABLED)" end
  end
  local v1_why = why
  local retried = false
  -- GET path; a 401 (token expired, or missing) gets one fresh token
  local function get(path)
    while true do
      local resp, msg = send("GET", path, tok and { ["X-aws-ec2-metadata-token"] = tok } or nil)
      if not resp then return nil, ("no answer from %s (%s)"):format(base, tostring(msg)) end
      if resp.status ~= 401 then return resp end
      if retried then
        return nil, ("HTTP 401 on %s%s"):format(path, tok and " with a fresh token" or
          (" without a token: IMDSv2 is required, and " .. (v1_why or "no token was had")))
      end
      retried = true
      local t2, _, w2 = token(true)
      if not t2 then
        return nil, ("HTTP 401 on %s %s, and %s"):format(path,
          tok and "with an expired token" or "without a token (IMDSv2 is required)", w2)
      end
      tok = t2
    end
  end
  local resp, err = get(CREDS_PATH)
  if not resp then return nil, err end
  if resp.status == 404 then return nil, "no IAM role is attached to this instance (HTTP 404)" end
  local role = resp.status == 200 and (resp.body or ""):match("^%s*([^%s]+)")
  if not role then return nil, ("the role list answered HTTP %d%s"):format(resp.status,
    resp.status == 200 and " with no role" or "") end
  resp, err = get(CREDS_PATH .. http.url_encode(role))
  if not resp then return nil, err end
  if resp.status ~= 200 then
    return nil, ("the credentials of role %s answered HTTP %d"):format(role, resp.status)
  end
  local v = json.decode(resp.body or "")
  if type(v) ~= "table" then return nil, ("the credentials of role %s are not JSON"):format(role) end
  if v.Code and v.Code ~= "Success" then
    return nil, ("the credentials of role %s: %s%s"):format(role, tostring(v.Code),
      type(v.Message) == "string" and (": " .. v.Message) or "")
  end
  if type(v.AccessKeyId) ~= "string" or type(v.SecretAccessKey) ~= "string" or type(v.Expiration) ~= "string" then
    return nil, ("the credentials of role %s lack AccessKeyId, SecretAccessKey or Expiration"):format(role)
  end
  return creds { access_key = v.AccessKeyId, secret_key = v.SecretAccessKey,
    session_token = type(v.Token) == "string" and v.Token ~= "" and v.Token or nil,
    expiration = v.Expiration, source = ("EC2 instance metadata (role %s)"):format(role), imds = true }
end

-- ---- the chain ---------------------------------------------------------------------

--- Resolves credentials once.
-- @param opts table { getenv=, profile = --profile's name, region=,
--   now = function() -> epoch seconds, imds_state = table kept between
--   calls, log = function(msg), sleep = function(s) }
-- @return creds | nil, message (names what was tried; never a secret)
function M.resolve(opts)
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local now = opts.now or os.time
  local cli_profile = opts.profile
  local function env_creds()
    local ak, sk = env(getenv, "AWS_ACCESS_KEY_ID"), env(getenv, "AWS_SECRET_ACCESS_KEY")
    if ak and sk then
      return creds { access_key = ak, secret_key = sk, session_token = env(getenv, "AWS_SESSION_TOKEN"),
        source = "environment" }
    end
    if ak then return nil, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not" end
    return nil
  end
  -- 1. the environment, unless --profile
  if not cli_profile then
    local c, err = env_creds()
    if c or err then return c, err end
  end

  local settings, config, name = M.profile(getenv, cli_profile)
  local explicit = M.named_profile(getenv, cli_profile)
  local region = opts.region or M.region(getenv, cli_profile) or "us-east-1"
  local top_settings = settings(name)
  local function container() return M.from_container { getenv = getenv, log = opts.log, sleep = opts.sleep } end
  local function imds()
    return M.from_imds { getenv = getenv, settings = top_settings, state = opts.imds_state, now = now, log = opts.log }
  end

  -- credential_source of an assume-role profile
  local function source_of(kind, pname)
    if kind == "Environment" then
      local c, err = env_creds()
      if c then return c end
      return nil, err or ("profile %s: credential_source Environment needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):format(pname)
    elseif kind == "EcsContainer" then
      local c, err = container()
      if c then return c end
      return nil, err or ("profile %s: credential_source EcsContainer needs AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI"):format(pname)
    elseif kind == "Ec2InstanceMetadata" then
      local c, why = imds()
      if c then return c end
      return nil, ("profile %s: credential_source Ec2InstanceMetadata: EC2 instance metadata: %s"):format(pname, why)
    end
    return nil, ("profile %s: credential_source must be Environment, EcsContainer or Ec2InstanceMetadata, not '%s'")
      :format(pname, tostring(kind))
  end

  local function static(t, pname)
    if t.aws_access_key_id and t.aws_secret_access_key then
      return creds { access_key = t.aws_access_key_id, secret_key = t.aws_secret_access_key,
        session_token = t.aws_session_token, source = "profile " .. pname }
    end
  end

  -- 2 to 7 for one profile; top: the profile the command uses (nil, nil
  -- when it has no credentials, so that 8 and 9 are tried)
  local function profile_creds(pname, seen, top)
    if seen[pname] then return nil, "profiles refer to each other in a loop: " .. pname end
    seen[pname] = true
    local s, exists, credfile = settings(pname)
    if not exists then
      if not (top and not explicit) then
        return nil, ("profile '%s' not found in the AWS config or credentials file"):format(pname)
      end
      s, credfile = {}, {}
    end
    if s.role_arn and (s.source_profile or s.credential_source) then
      if s.mfa_serial then
        return nil, ("profile %s: MFA (mfa_serial) is not supported; use a session from `aws sts get-session-token`"):format(pname)
      end
      local source, e
      if s.source_profile == pname then
        -- a profile may be its own source: its static keys assume its role
        source = static(credfile, pname) or static(s, pname)
        if not source then e = ("profile %s: source_profile is itself but it has no static keys"):format(pname) end
      elseif s.source_profile then
        source, e = profile_creds(s.source_profile, seen, false)
      else
        source, e = source_of(s.credential_source, pname)
      end
      if not source then return nil, e end
      local c, ae = sts.assume_role(sts_client(region, source, getenv), {
        role_arn = s.role_arn, session_name = s.role_session_name, external_id = s.external_id,
        duration = tonumber(s.duration_seconds), source = "assume-role profile " .. pname,
      })
      if not c then return nil, ("profile %s: AssumeRole %s: %s"):format(pname, s.role_arn, tostring(ae)) end
      return creds(c)
    end
    local use_env = top and not cli_profile
    local tf = (use_env and env(getenv, "AWS_WEB_IDENTITY_TOKEN_FILE")) or s.web_identity_token_file
    if tf then
      local ra = (use_env and env(getenv, "AWS_ROLE_ARN")) or s.role_arn
      if not ra then return nil, "web identity: AWS_WEB_IDENTITY_TOKEN_FILE is set but not AWS_ROLE_ARN (or role_arn)" end
      local sn = (use_env and env(getenv, "AWS_ROLE_SESSION_NAME")) or s.role_session_name
      return from_web_identity(tf, ra, sn, region, getenv)
    end
    if s.role_arn then
      return nil, ("profile %s: role_arn needs source_profile, credential_source or web_identity_token_file"):format(pname)
    end
    if s.sso_session or s.sso_start_url then return from_sso(s, config, pname, getenv, now) end
    local c = static(credfile, pname)
    if c then return c end
    if s.credential_process then return from_process(s.credential_process, pname) end
    c = static(s, pname)
    if c then return c end
    if top then return nil end
    return nil, ("profile '%s' has no credentials"):format(pname)
  end

  local c, err = profile_creds(name, {}, true)
  if c or err then return c, err end
  -- 8. containers
  c, err = container()
  if c or err then return c, err end
  -- 9. the instance's role
  local why
  c, why = imds()
  if c then return c end
  return nil, ("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (--profile), "
    .. "or run `aws configure` / `aws sso login`%s (EC2 instance metadata: %s)"):format(
      explicit and (" (profile '" .. name .. "' has no credentials)") or "", why)
end

--- A provider: returns cached credentials and refreshes temporary ones as
-- botocore does (see the module comment): from M.ADVISORY_REFRESH seconds
-- before they expire a refresh is tried and, when it fails, the current
-- ones are kept (and a refresh tried again a minute later); within
-- M.MANDATORY_REFRESH a failed refresh is an error. Credentials that come
-- already close to their end are used and refreshed after half their
-- remaining time (at most 5 minutes); instance credentials that come
-- expired are used too (EC2 keeps serving them while its credential
-- service is impaired, and AWS accepts them) and asked for again 5 minutes
-- later.
-- @param opts table as M.resolve's (now = the clock, injectable)
-- @return function() -> creds | nil, message
function M.provider(opts)
  opts = opts or {}
  local now = opts.now or os.time
  local o = setmetatable({ imds_state = opts.imds_state or {} }, { __index = opts })
  local cached, expires, next_refresh
  return function()
    local t = now()
    if cached and (not next_refresh or t < next_refresh) then return cached end
    local c, err = M.resolve(o)
    if not c then
      if cached and expires and expires - t > M.MANDATORY_REFRESH then
        if opts.log then opts.log(("credentials: refreshing those from %s failed, kept until %s: %s")
          :format(cached.source, cached.expiration, err)) end
        next_refresh = t + 60
        return cached
      end
      if cached then
        return nil, ("the credentials from %s expire at %s and could not be refreshed: %s"):format(cached.source,
          tostring(cached.expiration), err)
      end
      return nil, err
    end
    local e = c.expiration and client.parse_time(c.expiration)
    if e and e <= t and not c.imds then
      return nil, ("the credentials from %s expired at %s"):format(c.source, c.expiration)
    end
    cached, expires = c, e
    if not e then
      next_refresh = nil
    elseif e - t > M.ADVISORY_REFRESH then
      next_refresh = e - M.ADVISORY_REFRESH
    elseif e > t then
      next_refresh = t + math.max(1, math.min(300, (e - t) // 2))
    else
      next_refresh = t + 300
    end
    if opts.log then
      opts.log(("credentials: from %s%s"):format(c.source, c.expiration and (", expire " .. c.expiration) or ""))
    end
    return c
  end
end

return M
