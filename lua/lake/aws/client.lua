--- One signed AWS request, with retries.
--
-- Signs with host.sigv4, sends with host.http, parses AWS error bodies into
-- { code, message, status, request_id }, and retries throttling, 5xx and
-- transport failures with capped exponential backoff and full jitter,
-- bounded in attempts and in total time. A response that says the clock
-- is skewed corrects the signing time from the server's Date and retries.
--
-- Secrets never leave this module: errors and logs carry the service,
-- action, status and request id, never headers, keys or tokens.
local endpoints = require("lake.aws.endpoints")
local xmlmap = require("lake.aws.xmlmap")
local proc = require("host.proc")
local sigv4 = require("host.sigv4")
local crypto = require("host.crypto")
local xml = require("host.xml")
local json = require("host.json")
local http = require("host.http")

local M = {}

local Error = {}
Error.__index = Error
Error.__tostring = function(e)
  local parts = { (e.code and (e.code .. ": ") or "") .. (e.message or "request failed") }
  local ctx = {}
  if e.service then ctx[#ctx + 1] = e.service .. (e.action and (" " .. e.action) or "") end
  if e.status then ctx[#ctx + 1] = "HTTP " .. e.status end
  if e.request_id and e.request_id ~= "" then ctx[#ctx + 1] = "request id " .. e.request_id end
  if #ctx > 0 then parts[#parts + 1] = " (" .. table.concat(ctx, ", ") .. ")" end
  return table.concat(parts)
end

--- An error value (also used by the service modules).
function M.error(t) return setmetatable(t, Error) end
local THROTTLING = {
  Throttling = true, ThrottlingException = true, ThrottledException = true,
  RequestThrottledException = true, TooManyRequestsException = true,
  ProvisionedThroughputExceededException = true, TransactionInProgressException = true,
  RequestLimitExceeded = true, BandwidthLimitExceeded = true, LimitExceededException = false,
  RequestThrottled = true, SlowDown = true, PriorRequestNotComplete = true,
  EC2ThrottledException = true,
}
local TRANSIENT = {
  RequestTimeout = true, RequestTimeoutException = true, InternalError = true,
  InternalFailure = true, ServiceUnavailable = true, IDPCommunicationError = true,
}
local SKEW = {
  RequestTimeTooSkewed = true, RequestExpired = true, RequestInTheFuture = true,
  InvalidSignatureException = "expired", SignatureDoesNotMatch = "expired", AuthFailure = "expired",
}
local TRANSPORT_RETRY = { timeout = true, connect = true, recv = true, send = true, other = true }

M.THROTTLING = THROTTLING

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10, Nov = 11, Dec = 12 }

--- Seconds since the epoch of a UTC civil time (no dependence on TZ).
function M.epoch(y, mo, d, h, mi, s)
  y = (mo <= 2) and (y - 1) or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return (era * 146097 + doe - 719468) * 86400 + h * 3600 + mi * 60 + s
end

--- Parses an HTTP date ("Tue, 24 Nov 2026 03:36:50 GMT") or ISO 8601
-- ("2026-11-24T03:36:50Z", fractions allowed) into epoch seconds.
function M.parse_time(s)
  if type(s) ~= "string" then return nil end
  local d, mon, y, h, mi, sec = s:match("^%a+, (%d+) (%a+) (%d+) (%d+):(%d+):(%d+)")
  if d and MONTHS[mon] then
    return M.epoch(tonumber(y), MONTHS[mon], tonumber(d), tonumber(h), tonumber(mi), tonumber(sec))
  end
  local Y, Mo, D, H, Mi, S = s:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  if Y then
    return M.epoch(tonumber(Y), tonumber(Mo), tonumber(D), tonumber(H), tonumber(Mi), tonumber(S))
  end
  return nil
end

--- Parses an AWS error response into { code, message, request_id }.
function M.parse_error(resp)
  local body = resp.body or ""
  local out = { status = resp.status, request_id = resp.headers["x-amzn-requestid"]
    or resp.headers["x-amz-request-id"] }
  if body:match("^%s*<") then
    local ok, root = pcall(function() return xml.decode(body) end)
    if ok and root then
      -- <ErrorResponse><Error>, S3's bare <Error>, and <Response><Errors><Error>
      -- (EC2 and some emulators): the first <Error> element found, depth first.
      local function find(el, depth)
        if el.name == "Error" then return el end
        if depth > 4 then return nil end
        for _, c in ipairs(el) do
          local f = find(c, depth + 1)
          if f then return f end
        end
      end
      local e = find(root, 0)
      if e then
        local v = xmlmap.value(e)
        if type(v) == "table" then
          out.code = v.Code
          out.message = v.Message
          out.request_id = out.request_id or v.RequestId
        end
      end
      local rid = xml.find(root, "RequestId")
      out.request_id = out.request_id or (rid and rid.text)
    end
  elseif body:match("^%s*{") then
    local ok, v = pcall(function() return json.decode(body) end)
    if ok and type(v) == "table" then
      out.code = v.__type or v.code or v.Code
      if type(out.code) == "string" then out.code = out.code:match("([^#]+)$") end
      out.message = v.message or v.Message
    end
  end
  local hdr = resp.headers["x-amzn-errortype"]
  if not out.code and hdr then out.code = hdr:match("^([^:]+)") end
  if not out.code then
    out.code = ({ [301] = "PermanentRedirect", [400] = "BadRequest", [403] = "Forbidden",
      [404] = "NotFound", [409] = "Conflict", [429] = "TooManyRequests",
      [500] = "InternalError", [503] = "ServiceUnavailable" })[resp.status] or ("HTTP" .. resp.status)
  end
  out.message = out.message or ("HTTP " .. resp.status)
  return out
end

local Client = {}
Client.__index = Client

--- Creates a client.
-- @param opts table { region = string, credentials = creds | function() -> creds | nil, err,
--   getenv = function, log = function(msg) (verbose), max_attempts = 5, max_time = 120,
--   retry_base = 0.25, retry_cap = 20, sleep = function(s), now = function() -> epoch seconds,
--   request_timeout = 60 (seconds per attempt; connecting gets at most 10) }
-- The client records in `last_answer` when the endpoint last answered
-- anything (any status): how a deploy tells a silent endpoint.
function M.new(opts)
  local c = setmetatable({
    region = opts.region, credentials = opts.credentials, getenv = opts.getenv or os.getenv,
    log = opts.log, max_attempts = opts.max_attempts or tonumber((opts.getenv or os.getenv)("AWS_MAX_ATTEMPTS") or "") or 5,
    max_time = opts.max_time or 120, retry_base = opts.retry_base or 0.25, retry_cap = opts.retry_cap or 20,
    sleep = opts.sleep or proc.sleep, now = opts.now or proc.time, skew = 0, random = opts.random or math.random,
    request_timeout = opts.request_timeout or 60,
    stats = { calls = 0, attempts = 0, retries = 0, by_action = {}, by_tag = {} },
    http = opts.http or http,
  }, Client)
  return c
end

function Client:creds()
  local cr = self.credentials
  if type(cr) == "function" then return cr() end
  if cr == nil then return nil, "no AWS credentials" end
  return cr
end

--- The endpoint of a service for this client's region.
function Client:endpoint(service)
  return endpoints.resolve(service, self.region, self.getenv)
end

local function header_list(h)
  local out = {}
  if h == nil then return out end
  if #h > 0 then
    for _, p in ipairs(h) do out[#out + 1] = { p[1], p[2] } end
  else
    local names = {}
    for k in pairs(h) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do out[#out + 1] = { k, h[k] } end
  end
  return out
end

-- What a request needs across attempts: url, signing path, host, payload hash.
-- @return prepared | nil, err
local function prepare(self, req)
  local ep = self:endpoint(req.service)
  if req.host_prefix and not ep.custom then
    ep = { url = ep.url:gsub("^(%a+://)", "%1" .. req.host_prefix), custom = false, signing_name = ep.signing_name }
  end
  local path = (ep.url:match("^%a+://[^/]+(/.*)$") or "") .. (req.path or "/")
  local p = {
    req = req, ep = ep, path = path, host = ep.url:match("^%a+://([^/]+)"),
    url = ep.url:match("^(%a+://[^/]+)") .. path .. ((req.query and req.query ~= "") and ("?" .. req.query) or ""),
    action = req.action or (req.method or "GET"), max_attempts = req.max_attempts or self.max_attempts,
    started = self.now(), attempt = 0, payload_hash = req.payload_hash,
  }
  self.stats.calls = self.stats.calls + 1
  if self.tag then self.stats.by_tag[self.tag] = (self.stats.by_tag[self.tag] or 0) + 1 end
  local key = req.service .. ":" .. p.action
  self.stats.by_action[key] = (self.stats.by_action[key] or 0) + 1
  if not p.payload_hash and req.body_file then
    local h, e = crypto.sha256_file(req.body_file)
    if not h then return nil, M.error { code = "LocalFile", message = e, service = req.service, action = p.action } end
    p.payload_hash = h
  end
  return p
end

-- The signed host.http request of the next attempt of p.
-- @return http request table | nil, err
local function signed_request(self, p)
  local req = p.req
  p.attempt = p.attempt + 1
  self.stats.attempts = self.stats.attempts + 1
  local headers = header_list(req.headers)
  headers[#headers + 1] = { "Host", p.host }
  if not req.unsigned then
    local creds, cerr = self:creds()
    if not creds then
      return nil, M.error { code = "NoCredentials", message = tostring(cerr), service = req.service, action = p.action }
    end
    local signed = sigv4.sign {
      method = req.method or "GET", path = p.path, query = req.query or "", headers = headers,
      body = (not p.payload_hash) and (req.body or "") or nil, payload_hash = p.payload_hash,
      access_key = creds.access_key, secret_key = creds.secret_key, session_token = creds.session_token,
      region = self.region, service = p.ep.signing_name, s3 = req.s3 or nil,
      time = math.floor(self.now() + self.skew),
    }
    for _, h in ipairs(signed.headers) do headers[#headers + 1] = h end
  end
  p.t0 = self.now()
  return {
    method = req.method or "GET", url = p.url, headers = headers, body = req.body, body_file = req.body_file,
    output_file = req.output_file, timeout = req.timeout or self.request_timeout,
    connect_timeout = math.min(10, req.timeout or self.request_timeout),
  }
end

-- Judges what one attempt of p brought (host.http's resp | nil, msg, kind).
-- @return resp (success) | nil, err, retry (true when another attempt may help)
local function judge(self, p, resp, msg, kind)
  local req = p.req
  local err, retry
  if resp then self.last_answer = self.now() end
  if not resp then
    err = M.error { kind = kind or "transport", code = "Transport:" .. tostring(kind), message = msg,
      service = req.service, action = p.action }
    retry = TRANSPORT_RETRY[kind] or false
  elseif (req.ok and req.ok[resp.status]) or (not req.ok and resp.status >= 200 and resp.status < 300) then
    if self.log then
      self.log(("%s %s -> %d (%.0f ms)"):format(req.service, p.action, resp.status, (self.now() - p.t0) * 1000))
    end
    return resp
  else
    local pe = M.parse_error(resp)
    err = M.error { kind = "api", code = pe.code, message = pe.message, status = resp.status,
      request_id = pe.request_id, service = req.service, action = p.action }
    local skew = SKEW[pe.code]
    if skew and (skew == true or tostring(pe.message):lower():find(skew, 1, true)) then
      local server = M.parse_time(resp.headers["date"])
      if server then
        local new_skew = server - self.now()
        retry = math.abs(new_skew - self.skew) > 1
        self.skew = new_skew
      end
    else
      retry = THROTTLING[pe.code] or TRANSIENT[pe.code] or resp.status >= 500 or resp.status == 429
    end
    err.throttled = THROTTLING[pe.code] or resp.status == 429 or nil
  end
  if self.log then
    self.log(("%s %s -> %s (attempt %d)"):format(req.service, p.action, tostring(err), p.attempt))
  end
  err.attempts = p.attempt
  return nil, err, retry and p.attempt < p.max_attempts or false
end

-- The wait before attempt n + 1 (capped exponential backoff, full jitter), or
-- nil when it would take p past the client's max_time.
local function backoff(self, p)
  local delay = math.min(self.retry_cap, self.retry_base * 2 ^ (p.attempt - 1)) * self.random()
  if self.now() - p.started + delay > self.max_time then return nil end
  return delay
end

--- Sends one request, retrying what is worth retrying.
-- @param req table { service=, action=, method = "GET", path = "/" (already encoded), query = "" (encoded),
--   headers = {}, body = string | body_file = path, payload_hash = hex, s3 = bool, output_file = path,
--   unsigned = bool (no signature, e.g. AssumeRoleWithWebIdentity), max_attempts = n, timeout = s,
--   host_prefix = "bucket." (virtual-hosted S3 on AWS endpoints; ignored on custom ones),
--   ok = { [status] = true } (statuses that are not errors; default 2xx) }
-- @return resp | nil, err (an error value: code, message, status, request_id, kind)
function Client:call(req)
  local p, perr = prepare(self, req)
  if not p then return nil, perr end
  while true do
    local hreq, serr = signed_request(self, p)
    if not hreq then return nil, serr end
    local resp, err, retry = judge(self, p, self.http.request(hreq))
    if resp then return resp end
    local delay = retry and backoff(self, p)
    if not delay then return nil, err end
    self.stats.retries = self.stats.retries + 1
    if delay > 0 then self.sleep(delay) end
  end
end

-- host.http.request_all, or one request after the other for a transport
-- without it (the specs' scripted ones).
local function send_all(self, hreqs, parallel)
  if self.http.request_all then return self.http.request_all(hreqs, parallel) end
  local out = {}
  for i, h in ipairs(hreqs) do out[i] = table.pack(self.http.request(h)) end
  return out
end

--- Sends several requests at once (host.http.request_all, `parallel` in
-- flight), each with the retries Client:call gives it: the ones that fail
-- in a way worth retrying go again together, signed anew, after one
-- backoff wait, until each succeeds or runs out of attempts or time.
-- @param reqs array of requests as Client:call takes them
-- @param opts table|nil { parallel = 4 }
-- @return resps, errs: resps[i] the response or false, errs[i] its error value when it failed
function Client:call_all(reqs, opts)
  local parallel = math.max(1, math.min(64, (opts and opts.parallel) or 4))
  local resps, errs, pending = {}, {}, {}
  for i, req in ipairs(reqs) do
    local p, perr = prepare(self, req)
    resps[i] = false
    if p then pending[#pending + 1] = { i = i, p = p } else errs[i] = perr end
  end
  while #pending > 0 do
    local batch, hreqs = {}, {}
    for _, it in ipairs(pending) do
      local hreq, serr = signed_request(self, it.p)
      if hreq then
        batch[#batch + 1] = it
        hreqs[#hreqs + 1] = hreq
      else
        errs[it.i] = serr
      end
    end
    local results = #hreqs > 0 and send_all(self, hreqs, parallel) or {}
    local again, wait = {}, 0
    for k, it in ipairs(batch) do
      local r = results[k]
      local resp, err, retry = judge(self, it.p, table.unpack(r, 1, r.n))
      if resp then
        resps[it.i] = resp
      else
        local delay = retry and backoff(self, it.p)
        if delay then
          self.stats.retries = self.stats.retries + 1
          again[#again + 1] = it
          wait = math.max(wait, delay)
        else
          errs[it.i] = err
        end
      end
    end
    if #again > 0 and wait > 0 then self.sleep(wait) end
    pending = again
  end
  return resps, errs
end

return M
