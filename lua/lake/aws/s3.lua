--- S3 through REST-XML: the object calls deploy needs.
--
-- Virtual-hosted addressing on AWS endpoints (bucket.s3.<region>...), path
-- style on custom ones (AWS_ENDPOINT_URL, e.g. moto on loopback) and for
-- bucket names with dots. Keys are encoded once, segment by segment.
local client = require("lake.aws.client")
local xmlmap = require("lake.aws.xmlmap")
local http = require("host.http")
local crypto = require("host.crypto")
local xml = require("host.xml")

local M = {}

local function encode_key(key)
  local parts = {}
  for seg in (key .. "/"):gmatch("([^/]*)/") do parts[#parts + 1] = http.url_encode(seg) end
  return table.concat(parts, "/")
end
M.encode_key = encode_key

-- Request fields that address an object (or the bucket when key is nil).
local function where(c, bucket, key)
  local ep = c:endpoint("s3")
  local k = key and ("/" .. encode_key(key)) or "/"
  if ep.custom or bucket:find(".", 1, true) then
    return { path = "/" .. bucket .. (key and k or "") }
  end
  return { path = k, host_prefix = bucket .. "." }
end

-- The request fields of one call (not sent).
local function request(c, action, bucket, key, req)
  local w = where(c, bucket, key)
  req.service, req.action, req.s3 = "s3", action, true
  req.path, req.host_prefix = w.path, w.host_prefix
  return req
end

local function head_request(c, bucket, key)
  return request(c, "HeadObject", bucket, key, { method = "HEAD", ok = { [200] = true, [404] = true } })
end

local function head_result(resp)
  if resp.status == 404 then return false end
  local meta = {}
  for k, v in pairs(resp.headers) do
    local m = k:match("^x%-amz%-meta%-(.+)$")
    if m then meta[m] = v end
  end
  return { size = tonumber(resp.headers["content-length"]), etag = resp.headers["etag"], metadata = meta }
end

--- HeadObject -> { size=, etag=, metadata = {} } | false (absent) | nil, err
function M.head_object(c, bucket, key)
  local resp, err = c:call(head_request(c, bucket, key))
  if not resp then return nil, err end
  return head_result(resp)
end

--- HeadObject of several keys at once (Client:call_all).
-- @param opts table|nil { parallel = 4 }
-- @return heads, errs: heads[i] as head_object answers (a table or false), nil when errs[i] says why
function M.head_objects(c, bucket, keys, opts)
  local reqs = {}
  for i, key in ipairs(keys) do reqs[i] = head_request(c, bucket, key) end
  local resps, errs = c:call_all(reqs, opts)
  local heads = {}
  for i = 1, #keys do
    if resps[i] then heads[i] = head_result(resps[i]) end
  end
  return heads, errs
end

local function put_request(c, bucket, key, p)
  local headers = { ["Content-Type"] = p.content_type or "application/octet-stream" }
  for k, v in pairs(p.metadata or {}) do headers["x-amz-meta-" .. k] = v end
  if p.if_none_match then headers["If-None-Match"] = p.if_none_match end
  if p.body then headers["Content-MD5"] = crypto.md5_base64(p.body) end
  return request(c, "PutObject", bucket, key, {
    method = "PUT", headers = headers, body = p.body, body_file = p.file, timeout = p.timeout or 900,
  })
end

--- PutObject from a file or a string -> { etag= } | nil, err
-- A conditional write that does not hold (`if_none_match = "*"` on a key
-- that exists) fails with status 412 (PreconditionFailed), or 409
-- (ConditionalRequestConflict) when it raced another write of the key.
-- @param p table { file = path | body = string, content_type=, metadata = {K=V},
--   if_none_match = "*" (write only when the key has no current object) }
function M.put_object(c, bucket, key, p)
  local resp, err = c:call(put_request(c, bucket, key, p))
  if not resp then return nil, err end
  return { etag = resp.headers["etag"] }
end

--- PutObject of several objects at once (Client:call_all: `parallel` in
-- flight, each with its own retries).
-- @param objects array of { key=, file = path | body = string, content_type=, metadata = {K=V} }
-- @param opts table|nil { parallel = 4 }
-- @return puts, errs: puts[i] = { etag= }, or nil when errs[i] says why
function M.put_objects(c, bucket, objects, opts)
  local reqs = {}
  for i, o in ipairs(objects) do reqs[i] = put_request(c, bucket, o.key, o) end
  local resps, errs = c:call_all(reqs, opts)
  local puts = {}
  for i = 1, #objects do
    if resps[i] then puts[i] = { etag = resps[i].headers["etag"] } end
  end
  return puts, errs
end

--- GetObject -> body string (or true when written to opts.output_file), { etag= }
-- | false (absent) | nil, err
function M.get_object(c, bucket, key, opts)
  opts = opts or {}
  local resp, err = c:call(request(c, "GetObject", bucket, key, {
    method = "GET", output_file = opts.output_file, ok = { [200] = true, [404] = true },
  }))
  if not resp then return nil, err end
  if resp.status == 404 then return false end
  return opts.output_file and true or resp.body, { etag = resp.headers["etag"] }
end

--- DeleteObject -> true | nil, err. On a versioned bucket this adds a
-- delete marker. With opts.if_match = ETag the delete happens only while
-- the key's current object has that ETag: else 412 (PreconditionFailed),
-- or 404 (NoSuchKey) when there is no current object.
-- @param opts table|nil { if_match = etag }
function M.delete_object(c, bucket, key, opts)
  opts = opts or {}
  local headers = opts.if_match and { ["If-Match"] = opts.if_match } or nil
  local resp, err = c:call(request(c, "DeleteObject", bucket, key, { method = "DELETE", headers = headers }))
  if not resp then return nil, err end
  return true
end

--- ListObjectsV2, following continuation tokens.
-- @param prefix string|nil only keys that start with it
-- @param opts table|nil { limit = n (stop once n keys are listed), max_keys = n (keys per page; S3's
--   default is 1000), max_pages = n (stop after n pages) }
-- @return array of { key=, size=, etag= }, more (true when it stopped before the end) | nil, err
function M.list_objects(c, bucket, prefix, opts)
  opts = opts or {}
  local out, token, pages = {}, nil, 0
  repeat
    local q = { "list-type=2" }
    if prefix then q[#q + 1] = "prefix=" .. http.url_encode(prefix) end
    if token then q[#q + 1] = "continuation-token=" .. http.url_encode(token) end
    if opts.max_keys then q[#q + 1] = ("max-keys=%d"):format(opts.max_keys) end
    table.sort(q)
    local resp, err = c:call(request(c, "ListObjectsV2", bucket, nil, { method = "GET", query = table.concat(q, "&") }))
    if not resp then return nil, err end
    pages = pages + 1
    local root, xerr = xml.decode(resp.body)
    if not root then return nil, client.error { code = "MalformedResponse", message = xerr, service = "s3" } end
    local v = xmlmap.value(root, { Contents = true })
    if type(v) ~= "table" then v = {} end
    for _, o in ipairs(v.Contents or {}) do
      out[#out + 1] = { key = o.Key, size = tonumber(o.Size), etag = o.ETag }
    end
    token = (v.IsTruncated == "true") and v.NextContinuationToken or nil
  until not token or (opts.limit and #out >= opts.limit) or (opts.max_pages and pages >= opts.max_pages)
  return out, token ~= nil
end

return M
