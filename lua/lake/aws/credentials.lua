--- Credentials and region, resolved the way the AWS CLI does.
--
-- Order: environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN]);
-- a profile's role_arn (source_profile or credential_source = Environment,
-- then STS AssumeRole); web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN,
-- or the profile's web_identity_token_file); IAM Identity Center
-- (sso_session or legacy sso_start_url, token from `aws sso login`'s cache);
-- static keys in the shared credentials then config file; credential_process.
-- The profile is AWS_PROFILE (else "default"); the files are
-- AWS_CONFIG_FILE (~/.aws/config) and AWS_SHARED_CREDENTIALS_FILE
-- (~/.aws/credentials).
--
-- Credentials tables print as "<credentials from SOURCE>" so a stray
-- tostring() or log line cannot leak a key.
local ini = require("lake.aws.ini")
local fs = require("host.fs")
local proc = require("host.proc")
local json = require("host.json")
local http = require("host.http")
local client = require("lake.aws.client")
local sts = require("lake.aws.sts")

local M = {}

local Creds = {}
Creds.__index = Creds
Creds.__tostring = function(c) return "<credentials from " .. (c.source or "?") .. ">" end

local function creds(t) return setmetatable(t, Creds) end
M.creds = creds

local function home(getenv) return getenv("HOME") or "" end

local function read_ini(path, getenv)
  local text = fs.read(path)
  if not text then return {} end
  local t, err = ini.parse(text, path)
  if not t then error({ msg = err, exit = 2 }, 0) end
  local _ = getenv
  return t
end

--- Loads the merged settings of a profile.
-- @return settings table, config sections, the profile name
function M.profile(getenv, name)
  getenv = getenv or os.getenv
  name = name or getenv("AWS_PROFILE") or getenv("AWS_DEFAULT_PROFILE") or "default"
  local config_path = getenv("AWS_CONFIG_FILE") or (home(getenv) .. "/.aws/config")
  local creds_path = getenv("AWS_SHARED_CREDENTIALS_FILE") or (home(getenv) .. "/.aws/credentials")
  local config = read_ini(config_path, getenv)
  local credfile = read_ini(creds_path, getenv)
  local function settings(n)
    local s = {}
    for k, v in pairs(config[n == "default" and "default" or ("profile " .. n)] or {}) do s[k] = v end
    if n == "default" then
      for k, v in pairs(config["profile default"] or {}) do if s[k] == nil then s[k] = v end end
    end
    for k, v in pairs(credfile[n] or {}) do s[k] = v end
    local exists = config[n == "default" and "default" or ("profile " .. n)] ~= nil or credfile[n] ~= nil
      or (n == "default" and config["profile default"] ~= nil)
    return s, exists
  end
  return settings, config, name, config_path, creds_path
end

--- The region: AWS_REGION, AWS_DEFAULT_REGION, then the profile's region.
function M.region(getenv)
  getenv = getenv or os.getenv
  local r = getenv("AWS_REGION")
  if r and r ~= "" then return r end
  r = getenv("AWS_DEFAULT_REGION")
  if r and r ~= "" then return r end
  local ok, settings = pcall(M.profile, getenv)
  if ok then
    local s = settings((getenv("AWS_PROFILE") or "default"))
    return s.region
  end
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

--- Resolves credentials once.
-- @param opts table { getenv=, profile=, region=, now = function() }
-- @return creds | nil, message (names what was tried; never a secret)
function M.resolve(opts)
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local now = opts.now or os.time
  local ak, sk = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
  if ak and ak ~= "" and sk and sk ~= "" then
    return creds { access_key = ak, secret_key = sk, session_token = getenv("AWS_SESSION_TOKEN"), source = "environment" }
  end
  if ak and ak ~= "" then return nil, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not" end

  local settings, config, name = M.profile(getenv, opts.profile)
  local region = opts.region or M.region(getenv) or "us-east-1"
  local tf, ra = getenv("AWS_WEB_IDENTITY_TOKEN_FILE"), getenv("AWS_ROLE_ARN")

  local function resolve_profile(pname, seen)
    if seen[pname] then return nil, "profiles refer to each other in a loop: " .. pname end
    seen[pname] = true
    local s, exists = settings(pname)
    if not exists then
      if pname == "default" and not opts.profile and not getenv("AWS_PROFILE") then return nil end
      return nil, ("profile '%s' not found in the AWS config or credentials file"):format(pname)
    end
    if s.role_arn then
      local source
      if s.source_profile then
        local c, e = resolve_profile(s.source_profile, seen)
        if not c then return nil, e or ("source_profile '%s' has no credentials"):format(s.source_profile) end
        source = c
      elseif s.credential_source == "Environment" then
        if not (ak and sk) then return nil, ("profile %s: credential_source Environment needs AWS_ACCESS_KEY_ID"):format(pname) end
        source = creds { access_key = ak, secret_key = sk, session_token = getenv("AWS_SESSION_TOKEN"), source = "environment" }
      elseif s.web_identity_token_file then
        return from_web_identity(s.web_identity_token_file, s.role_arn, s.role_session_name, region, getenv)
      else
        return nil, ("profile %s: role_arn needs source_profile, credential_source or web_identity_token_file"):format(pname)
      end
      if s.mfa_serial then return nil, ("profile %s: MFA (mfa_serial) is not supported; use a session from `aws sts get-session-token`"):format(pname) end
      local c, e = sts.assume_role(sts_client(region, source, getenv), {
        role_arn = s.role_arn, session_name = s.role_session_name, external_id = s.external_id,
        duration = tonumber(s.duration_seconds), source = "assume-role profile " .. pname,
      })
      if not c then return nil, ("profile %s: AssumeRole %s: %s"):format(pname, s.role_arn, tostring(e)) end
      return creds(c)
    end
    if s.sso_session or s.sso_start_url then return from_sso(s, config, pname, getenv, now) end
    if s.aws_access_key_id and s.aws_secret_access_key then
      return creds { access_key = s.aws_access_key_id, secret_key = s.aws_secret_access_key,
        session_token = s.aws_session_token, source = "profile " .. pname }
    end
    if s.credential_process then return from_process(s.credential_process, pname) end
    return nil, ("profile '%s' has no credentials"):format(pname)
  end

  local explicit = opts.profile or getenv("AWS_PROFILE")
  if not explicit and tf and tf ~= "" and ra and ra ~= "" then
    return from_web_identity(tf, ra, getenv("AWS_ROLE_SESSION_NAME"), region, getenv)
  end
  local c, err = resolve_profile(name, {})
  if c then return c end
  if err then return nil, err end
  if tf and tf ~= "" and ra and ra ~= "" then
    return from_web_identity(tf, ra, getenv("AWS_ROLE_SESSION_NAME"), region, getenv)
  end
  return nil, "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, "
    .. "or run `aws configure` / `aws sso login`"
end

--- A provider: returns cached credentials, refreshed 5 minutes before they expire.
function M.provider(opts)
  local cached
  local now = (opts and opts.now) or os.time
  return function()
    if cached then
      local exp = cached.expiration and client.parse_time(cached.expiration)
      if not exp or exp - now() > 300 then return cached end
    end
    local c, err = M.resolve(opts)
    if not c then return nil, err end
    cached = c
    return c
  end
end

return M
