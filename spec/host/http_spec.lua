-- host.http against a real HTTP/1.1 server on a loopback port
-- (spec/support/httpd.py, started once per describe block).
local http = require("host.http")
local util = require("spec.support.util")
local cjson = require("cjson")

local FIX = "spec/fixtures/http/"

--- Starts httpd.py (extra: more arguments); returns {port, pid, base, pipe}.
-- The server exits by itself when this process is gone (--ppid $PPID).
local function start_server(extra)
  local p = assert(io.popen("exec python3 spec/support/httpd.py --ppid $PPID " .. (extra or ""), "r"))
  local line = p:read("l")
  local port, pid = (line or ""):match("^PORT (%d+) PID (%d+)$")
  assert(port, "httpd.py did not start: " .. tostring(line))
  return { port = tonumber(port), pid = pid, pipe = p, base = "http://127.0.0.1:" .. port }
end

local function stop_server(s)
  if s then
    os.execute("kill " .. s.pid .. " 2>/dev/null")
    s.pipe:close()
  end
end

local function sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

--- Wall-clock seconds (fractional).
local function now()
  return tonumber((sh("date +%s.%N")))
end

--- A loopback port nobody listens on (bound, then closed).
local function closed_port()
  return tonumber((sh([[python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1]);s.close()"]])))
end

local function sha256_file(path)
  return sh("sha256sum " .. util.shquote(path)):match("^(%x+)")
end

local function sha256(s)
  local path = util.tmpfile(s)
  local h = sha256_file(path)
  os.remove(path)
  return h
end

local tmpdir = util.tmpdir

local function ls(dir)
  return (sh("ls -A " .. util.shquote(dir)))
end

--- n bytes, byte i = i % 256 (as httpd.py's /bytes/<n>).
local function pattern_bytes(n)
  local t = {}
  for i = 0, 255 do t[#t + 1] = string.char(i) end
  local block = table.concat(t)
  return (block:rep(n // 256 + 1)):sub(1, n)
end

--- The request headers httpd.py saw, as a map lowercased name -> list of values.
local function seen_headers(info)
  local m = {}
  for _, kv in ipairs(info.headers) do
    local k = kv[1]:lower()
    m[k] = m[k] or {}
    table.insert(m[k], kv[2])
  end
  return m
end

local function echo_info(resp)
  return cjson.decode(resp.headers["x-echo"])
end

--- Runs `lakehost -e code` with every proxy and CA variable unset, then env set.
local function child(code, env)
  local parts = { "env" }
  for _, v in ipairs({ "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
    "ALL_PROXY", "no_proxy", "NO_PROXY", "AWS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE",
    "SSL_CERT_DIR" }) do
    parts[#parts + 1] = "-u " .. v
  end
  for k, v in pairs(env or {}) do parts[#parts + 1] = k .. "=" .. util.shquote(v) end
  local bin = util.bin
  if bin:sub(1, 1) ~= "/" then bin = util.cwd() .. "/" .. bin end
  parts[#parts + 1] = util.shquote(bin) .. " -e " .. util.shquote(code) .. " 2>&1"
  local out, status = sh(table.concat(parts, " "))
  assert.equal(0, status, out) -- also catches sanitizer reports of the child
  return out
end

-- Prints "status|kind" of one GET in a child process.
local CHILD_GET = [[
local r, msg, kind = require("host.http").request{url = %q, timeout = 5}
io.write(r and (r.status .. "|" .. (r.body or "")) or ("nil|" .. kind .. "|" .. msg))]]

describe("host.http #unit", function()
  local srv

  setup(function()
    srv = start_server()
  end)

  teardown(function()
    stop_server(srv)
  end)

  describe("round trips", function()
    it("GETs with request headers and no default Accept or Expect", function()
      local r = assert(http.request({ url = srv.base .. "/echo?a=1&b=%20",
        headers = { ["X-Test"] = "one", ["X-Num"] = 42 } }))
      assert.equal(200, r.status)
      assert.equal("1.1", r.http_version)
      assert.equal("application/json", r.headers["content-type"])
      local info = cjson.decode(r.body)
      assert.same(info, echo_info(r))
      assert.equal("GET", info.method)
      assert.equal("/echo", info.path)
      assert.equal("a=1&b=%20", info.query)
      local h = seen_headers(info)
      assert.same({ "one" }, h["x-test"])
      assert.same({ "42" }, h["x-num"])
      assert.same({ "127.0.0.1:" .. srv.port }, h.host)
      assert.is_nil(h.accept)
      assert.is_nil(h.expect)
      assert.is_nil(h["content-length"])
      assert.is_nil(h["user-agent"])
      assert.equal("number", math.type(r.time) and "number")
      assert.is_true(r.time > 0)
      assert.equal(#r.body, r.bytes_received)
      assert.equal(0, r.bytes_sent)
    end)

    it("PUTs a binary body with NUL bytes", function()
      local body = "a\0b\0\255\r\n\0" .. pattern_bytes(1000)
      local r = assert(http.request({ method = "PUT", url = srv.base .. "/echo", body = body }))
      assert.equal(200, r.status)
      assert.equal(body, r.body)
      local info = echo_info(r)
      assert.equal("PUT", info.method)
      assert.equal(#body, info.body_length)
      assert.equal(sha256(body), info.body_sha256)
      assert.same({ tostring(#body) }, seen_headers(info)["content-length"])
      assert.is_nil(seen_headers(info)["content-type"])
      assert.equal(#body, r.bytes_sent)
    end)

    it("PUTs 5 MB without Expect: 100-continue and gets them back", function()
      local body = pattern_bytes(5 * 1024 * 1024 - 7)
      local r = assert(http.request({ method = "PUT", url = srv.base .. "/echo", body = body }))
      assert.equal(200, r.status)
      assert.equal(#body, #r.body)
      assert.is_true(body == r.body)
      local info = echo_info(r)
      assert.equal(sha256(body), info.body_sha256)
      assert.is_nil(seen_headers(info).expect)
      assert.equal(#body, r.bytes_sent)
      assert.equal(#body, r.bytes_received)
    end)

    it("POSTs a body, and a POST without body sends Content-Length: 0", function()
      local r = assert(http.request({ method = "POST", url = srv.base .. "/echo",
        body = "Action=ListStacks", headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } }))
      assert.equal("Action=ListStacks", r.body)
      local info = echo_info(r)
      assert.equal("POST", info.method)
      assert.same({ "application/x-www-form-urlencoded" }, seen_headers(info)["content-type"])
      r = assert(http.request({ method = "POST", url = srv.base .. "/echo" }))
      info = echo_info(r)
      assert.equal("", r.body)
      assert.same({ "0" }, seen_headers(info)["content-length"])
    end)

    it("sends HEAD without reading a body", function()
      local r = assert(http.request({ method = "HEAD", url = srv.base .. "/bytes/1000" }))
      assert.equal(200, r.status)
      assert.equal("1000", r.headers["content-length"])
      assert.equal("", r.body)
      assert.equal(0, r.bytes_received)
    end)

    it("sends DELETE, PATCH and any other method token", function()
      local r = assert(http.request({ method = "DELETE", url = srv.base .. "/echo" }))
      local info = echo_info(r)
      assert.equal("DELETE", info.method)
      assert.is_nil(seen_headers(info)["content-length"])
      r = assert(http.request({ method = "PATCH", url = srv.base .. "/echo", body = "p" }))
      assert.equal("PATCH", echo_info(r).method)
      assert.equal("p", r.body)
      r = assert(http.request({ method = "OPTIONS", url = srv.base .. "/echo" }))
      assert.equal("OPTIONS", echo_info(r).method)
    end)

    it("sends headers given as an array of pairs, in order and repeated", function()
      local r = assert(http.request({ url = srv.base .. "/echo",
        headers = { { "X-A", "1" }, { "X-B", "x" }, { "X-A", "2" } } }))
      local info = echo_info(r)
      assert.same({ "1", "2" }, seen_headers(info)["x-a"])
      local names = {}
      for _, kv in ipairs(info.headers) do
        if kv[1]:match("^X%-") then names[#names + 1] = kv[1] .. "=" .. kv[2] end
      end
      assert.same({ "X-A=1", "X-B=x", "X-A=2" }, names)
    end)

    it("sends a header with an empty value", function()
      local r = assert(http.request({ url = srv.base .. "/echo", headers = { ["X-Empty"] = "" } }))
      assert.same({ "" }, seen_headers(echo_info(r))["x-empty"])
    end)

    it("lets the caller set Accept and Expect", function()
      local r = assert(http.request({ url = srv.base .. "/echo",
        headers = { Accept = "application/xml" } }))
      assert.same({ "application/xml" }, seen_headers(echo_info(r)).accept)
    end)

    it("returns 404 and 500 as responses", function()
      local r = assert(http.request({ url = srv.base .. "/status/404" }))
      assert.equal(404, r.status)
      assert.equal("status 404", r.body)
      r = assert(http.request({ method = "PUT", url = srv.base .. "/status/500", body = "x" }))
      assert.equal(500, r.status)
      assert.equal("status 500", r.body)
    end)

    it("joins repeated response headers and lowercases names", function()
      local r = assert(http.request({ url = srv.base .. "/headers" }))
      assert.equal("a=1, b=2", r.headers["set-cookie"])
      assert.equal("one, two", r.headers["x-dup"])
      assert.equal("spaced value", r.headers["x-custom"])
      assert.equal("", r.headers["x-empty"])
      assert.equal("7", r.headers["content-length"])
      assert.is_nil(r.headers["X-Dup"])
    end)

    it("follows redirects only when asked", function()
      local r = assert(http.request({ url = srv.base .. "/redirect" }))
      assert.equal(302, r.status)
      assert.equal("/echo", r.headers.location)
      assert.equal("moved", r.body)
      r = assert(http.request({ url = srv.base .. "/redirect", follow_redirects = true }))
      assert.equal(200, r.status)
      assert.equal("/echo", cjson.decode(r.body).path) -- no "moved" from the 302 before it
      assert.is_nil(r.headers.location) -- headers of the final response only
    end)

    it("reuses one connection across requests (keep-alive)", function()
      local first = tonumber(assert(http.request({ url = srv.base .. "/count" })).body)
      for _ = 1, 20 do
        local r = assert(http.request({ url = srv.base .. "/count" }))
        assert.equal(first, tonumber(r.body))
      end
      -- the measure can fail: with Connection: close every request connects anew
      local r1 = assert(http.request({ url = srv.base .. "/count?close=1" }))
      local r2 = assert(http.request({ url = srv.base .. "/count?close=1" }))
      assert.equal(tonumber(r1.body) + 1, tonumber(r2.body))
    end)

    it("retries on a fresh connection with the body when the kept one was closed", function()
      assert(http.request({ url = srv.base .. "/echo?close=1" }))
      local r = assert(http.request({ method = "PUT", url = srv.base .. "/echo", body = "again" }))
      assert.equal("again", r.body)
    end)
  end)

  describe("files", function()
    local dir
    before_each(function() dir = tmpdir() end)
    after_each(function() os.execute("rm -rf " .. util.shquote(dir)) end)

    it("uploads body_file with Content-Length from its size", function()
      local path = dir .. "/up.bin"
      local data = pattern_bytes(3 * 1024 * 1024 + 11):reverse()
      local f = assert(io.open(path, "wb"))
      f:write(data)
      f:close()
      local r = assert(http.request({ method = "PUT", url = srv.base .. "/echo", body_file = path }))
      local info = echo_info(r)
      assert.equal(sha256_file(path), info.body_sha256)
      assert.same({ tostring(#data) }, seen_headers(info)["content-length"])
      assert.is_nil(seen_headers(info).expect)
      assert.is_true(r.body == data)
    end)

    it("uploads an empty body_file", function()
      local path = dir .. "/empty"
      assert(io.open(path, "wb")):close()
      local r = assert(http.request({ method = "POST", url = srv.base .. "/echo", body_file = path }))
      assert.equal(0, echo_info(r).body_length)
    end)

    it("reports a missing or unreadable body_file as kind file", function()
      local r, msg, kind = http.request({ method = "PUT", url = srv.base .. "/echo",
        body_file = dir .. "/missing" })
      assert.is_nil(r)
      assert.equal("http: cannot open " .. dir .. "/missing: No such file or directory", msg)
      assert.equal("file", kind)
      r, msg, kind = http.request({ method = "PUT", url = srv.base .. "/echo", body_file = dir })
      assert.is_nil(r)
      assert.equal("http: cannot open " .. dir .. ": Is a directory", msg)
      assert.equal("file", kind)
    end)

    it("downloads to output_file, leaving no temporary", function()
      local path = dir .. "/out.bin"
      local r = assert(http.request({ url = srv.base .. "/bytes/300001", output_file = path }))
      assert.equal(200, r.status)
      assert.is_nil(r.body)
      assert.equal(300001, r.bytes_received)
      local f = assert(io.open(path, "rb"))
      local got = f:read("a")
      f:close()
      assert.is_true(got == pattern_bytes(300001))
      assert.equal("out.bin\n", ls(dir))
    end)

    it("replaces an existing output_file", function()
      local path = util.tmpfile("old content")
      assert(http.request({ url = srv.base .. "/bytes/3", output_file = path }))
      local f = assert(io.open(path, "rb"))
      assert.equal("\0\1\2", f:read("a"))
      f:close()
      os.remove(path)
    end)

    it("writes an empty output_file for an empty 2xx body", function()
      local path = dir .. "/empty"
      local r = assert(http.request({ url = srv.base .. "/bytes/0", output_file = path }))
      assert.equal(200, r.status)
      assert.equal("empty\n", ls(dir))
    end)

    it("keeps the body of a non-2xx answer in memory and leaves output_file alone", function()
      local path = dir .. "/out.bin"
      local r = assert(http.request({ url = srv.base .. "/status/404", output_file = path }))
      assert.equal(404, r.status)
      assert.equal("status 404", r.body)
      assert.equal("", ls(dir))
    end)

    it("leaves no partial file when the transfer fails", function()
      local path = dir .. "/out.bin"
      local r, msg, kind = http.request({ url = srv.base .. "/drop", output_file = path })
      assert.is_nil(r)
      assert.matches("^http: ", msg)
      assert.equal("recv", kind)
      assert.equal("", ls(dir))
      -- fails after part of the body was written
      r, msg, kind = http.request({ url = srv.base .. "/bytes/500000?chunked=1",
        output_file = path, max_response_bytes = 200000 })
      assert.is_nil(r)
      assert.equal("too_large", kind)
      assert.matches("^http: response body larger than max_response_bytes %(200000%)", msg)
      assert.equal("", ls(dir))
    end)

    it("reports an output_file that cannot be created as kind file", function()
      local r, msg, kind = http.request({ url = srv.base .. "/bytes/10",
        output_file = dir .. "/no/such/out" })
      assert.is_nil(r)
      assert.equal("http: cannot write " .. dir .. "/no/such/out: No such file or directory", msg)
      assert.equal("file", kind)
    end)
  end)

  describe("limits", function()
    it("refuses a body larger than max_response_bytes, announced or streamed", function()
      local r = assert(http.request({ url = srv.base .. "/bytes/1000", max_response_bytes = 1000 }))
      assert.equal(1000, #r.body)
      local msg, kind
      r, msg, kind = http.request({ url = srv.base .. "/bytes/1000", max_response_bytes = 999 })
      assert.is_nil(r)
      assert.equal("too_large", kind)
      assert.equal("http: response body larger than max_response_bytes (999) (127.0.0.1:"
        .. srv.port .. ")", msg)
      r, msg, kind = http.request({ url = srv.base .. "/bytes/300000?chunked=1",
        max_response_bytes = 299999 })
      assert.is_nil(r)
      assert.matches("max_response_bytes", msg, 1, true)
      assert.equal("too_large", kind)
      r = assert(http.request({ url = srv.base .. "/bytes/300000?chunked=1",
        max_response_bytes = 300000 }))
      assert.is_true(r.body == pattern_bytes(300000))
    end)

    it("times out within timeout + 0.5 s as kind timeout", function()
      local t0 = now()
      local r, msg, kind = http.request({ url = srv.base .. "/slow/3", timeout = 0.5 })
      local dt = now() - t0
      assert.is_nil(r)
      assert.equal("timeout", kind)
      assert.matches("^http: Timeout was reached %(127%.0%.0%.1:" .. srv.port .. "%): ", msg)
      assert.is_true(dt >= 0.45 and dt < 1.0, "took " .. dt .. " s")
    end)

    it("stops a stalled transfer with low_speed_time as kind timeout", function()
      local t0 = now()
      local r, _, kind = http.request({ url = srv.base .. "/slow/3", low_speed_time = 1,
        low_speed_limit = 1 })
      local dt = now() - t0
      assert.is_nil(r)
      assert.equal("timeout", kind)
      assert.is_true(dt < 2.5, "took " .. dt .. " s")
    end)
  end)

  describe("transport failures", function()
    it("reports a closed port as kind connect", function()
      local port = closed_port()
      local r, msg, kind = http.request({ url = "http://127.0.0.1:" .. port .. "/",
        headers = { Authorization = "AWS4-HMAC-SHA256 Credential=SECRETKEY" } })
      assert.is_nil(r)
      assert.equal("connect", kind)
      assert.matches("^http: Couldn't connect to server %(127%.0%.0%.1:" .. port .. "%): ", msg)
      assert.is_nil(msg:find("SECRETKEY", 1, true))
    end)

    it("reports an unresolvable host as kind dns", function()
      local r, msg, kind = http.request({ url = "http://nonexistent.invalid/x", timeout = 10 })
      assert.is_nil(r)
      assert.equal("dns", kind)
      assert.matches("^http: Couldn't resolve host name %(nonexistent%.invalid:80%)", msg)
    end)

    it("reports malformed and unsupported urls as kind url", function()
      for _, u in ipairs({ "not a url", "http://", "ftp://127.0.0.1/", "file:///etc/passwd" }) do
        local r, msg, kind = http.request({ url = u })
        assert.is_nil(r)
        assert.equal("url", kind, u)
        assert.matches("^http: ", msg)
      end
    end)

    it("reports a connection closed without an answer as kind recv", function()
      local r, msg, kind = http.request({ url = srv.base .. "/drop" })
      assert.is_nil(r)
      assert.equal("recv", kind)
      assert.equal("http: Server returned nothing (no headers, no data) (127.0.0.1:" .. srv.port
        .. "): Empty reply from server", msg)
    end)

    it("reports TLS spoken to a plain HTTP port as kind tls", function()
      local r, msg, kind = http.request({ url = "https://127.0.0.1:" .. srv.port .. "/echo" })
      assert.is_nil(r)
      assert.equal("tls", kind)
      assert.matches("^http: SSL connect error", msg)
    end)

    it("works again after failures", function()
      assert.equal(200, assert(http.request({ url = srv.base .. "/echo" })).status)
    end)
  end)

  describe("environment", function()
    local tls

    setup(function()
      tls = start_server("--tls " .. FIX .. "cert.pem " .. FIX .. "key.pem")
    end)

    teardown(function()
      stop_server(tls)
    end)

    it("refuses a certificate outside the trusted CAs as kind tls", function()
      local r, msg, kind = http.request({ url = "https://127.0.0.1:" .. tls.port .. "/echo" })
      assert.is_nil(r)
      assert.equal("tls", kind)
      assert.matches("SSL certificate problem", msg, 1, true)
    end)

    it("trusts the CA bundle from AWS_CA_BUNDLE, CURL_CA_BUNDLE or SSL_CERT_FILE", function()
      local url = "https://127.0.0.1:" .. tls.port .. "/status/201"
      local code = CHILD_GET:format(url)
      local cert, other = util.cwd() .. "/" .. FIX .. "cert.pem", util.cwd() .. "/" .. FIX .. "other-ca.pem"
      assert.equal("201|status 201", child(code, { AWS_CA_BUNDLE = cert }))
      assert.equal("201|status 201", child(code, { CURL_CA_BUNDLE = cert }))
      assert.equal("201|status 201", child(code, { SSL_CERT_FILE = cert }))
      assert.equal("201|status 201", child(code, { AWS_CA_BUNDLE = "", CURL_CA_BUNDLE = cert }))
      -- the first one set wins
      assert.matches("^nil|tls|http: SSL peer certificate or SSH remote key was not OK",
        child(code, { AWS_CA_BUNDLE = other, CURL_CA_BUNDLE = cert }))
      assert.matches("^nil|tls|",
        child(code, { AWS_CA_BUNDLE = util.cwd() .. "/" .. FIX .. "missing.pem" }))
    end)

    it("trusts the CA directory from SSL_CERT_DIR", function()
      local url = "https://127.0.0.1:" .. tls.port .. "/status/202"
      local code = CHILD_GET:format(url)
      local other = util.cwd() .. "/" .. FIX .. "other-ca.pem"
      assert.equal("202|status 202",
        child(code, { AWS_CA_BUNDLE = other, SSL_CERT_DIR = util.cwd() .. "/" .. FIX .. "certdir" }))
      assert.matches("^nil|tls|", child(code, { AWS_CA_BUNDLE = other,
        SSL_CERT_DIR = util.cwd() .. "/" .. FIX }))
    end)

    it("goes through http_proxy unless NO_PROXY names the host", function()
      local url = srv.base .. "/status/203"
      local code = CHILD_GET:format(url)
      local dead = "http://127.0.0.1:" .. closed_port()
      local out = child(code, { http_proxy = dead })
      assert.matches("^nil|connect|", out)
      assert.equal("203|status 203", child(code, { http_proxy = dead, NO_PROXY = "127.0.0.1" }))
      assert.equal("203|status 203", child(code, { http_proxy = dead, no_proxy = "127.0.0.1" }))
      assert.matches("^nil|connect|", child(code, { ALL_PROXY = dead }))
      assert.matches("^nil|proxy|http: Couldn't resolve proxy name ",
        child(code, { http_proxy = "http://nonexistent.invalid:3128" }))
      -- a live proxy (httpd.py serves absolute-URI requests) sees the full URL
      local via = child(([[
local r = assert(require("host.http").request{url = "http://example.invalid/echo"})
io.write(require("cjson").decode(r.body).target)]]), { http_proxy = srv.base })
      assert.equal("http://example.invalid/echo", via)
    end)
  end)

  describe("request_all", function()
    --- What http.request would return, as request_all packs it.
    local function unpack_result(r) return table.unpack(r, 1, r.n) end

    it("returns one result per request, in request order, each as http.request returns it", function()
      local port = closed_port()
      local reqs = {
        { url = srv.base .. "/echo?i=1" },
        { url = srv.base .. "/status/500" },
        { method = "PUT", url = srv.base .. "/echo?i=3", body = "three" },
        { url = "http://127.0.0.1:" .. port .. "/" },
        { method = "HEAD", url = srv.base .. "/echo?i=5" },
        { url = srv.base .. "/drop" },
        { url = srv.base .. "/slow/0.3" },
      }
      local results = http.request_all(reqs, 3)
      assert.equal(#reqs, #results)
      local r1 = unpack_result(results[1])
      assert.equal(1, results[1].n)
      assert.equal(200, r1.status)
      assert.equal("i=1", cjson.decode(r1.body).query)
      -- the same fields as http.request's response
      local single = assert(http.request(reqs[1]))
      local keys, skeys = {}, {}
      for k in pairs(r1) do keys[#keys + 1] = k end
      for k in pairs(single) do skeys[#skeys + 1] = k end
      table.sort(keys)
      table.sort(skeys)
      assert.same(skeys, keys)
      local r2 = unpack_result(results[2])
      assert.equal(500, r2.status) -- an HTTP error is a response, as with http.request
      assert.equal("status 500", r2.body)
      assert.equal("three", (unpack_result(results[3])).body)
      assert.equal("PUT", echo_info(unpack_result(results[3])).method)
      local r4, msg4, kind4 = unpack_result(results[4])
      assert.equal(3, results[4].n)
      assert.is_nil(r4)
      assert.equal("connect", kind4)
      assert.matches("^http: Couldn't connect to server %(127%.0%.0%.1:" .. port .. "%)", msg4)
      local r5 = unpack_result(results[5])
      assert.equal(200, r5.status)
      assert.equal("", r5.body)
      assert.equal("i=5", echo_info(r5).query)
      local r6, msg6, kind6 = unpack_result(results[6])
      assert.is_nil(r6)
      assert.equal("recv", kind6)
      assert.equal(select(2, http.request(reqs[6])), msg6)
      assert.equal("slow", (unpack_result(results[7])).body)
    end)

    it("has as many requests in flight as max_parallel allows", function()
      -- each /barrier/4 answers only once four of them wait at the server together
      local reqs = {}
      for i = 1, 4 do reqs[i] = { url = srv.base .. "/barrier/4", timeout = 30 } end
      for i, r in ipairs(http.request_all(reqs, 4)) do
        local resp = assert(unpack_result(r))
        assert.equal(200, resp.status, "request " .. i)
        assert.equal("met", resp.body)
      end
    end)

    it("never has more than max_parallel requests in flight", function()
      local reqs = {}
      for i = 1, 6 do reqs[i] = { url = srv.base .. "/hold/0.2" } end
      assert(http.request({ url = srv.base .. "/hold/0?reset=1" }))
      for _, r in ipairs(http.request_all(reqs, 2)) do
        assert.is_true(tonumber(assert(unpack_result(r)).body) <= 2)
      end
      reqs = { { url = srv.base .. "/hold/0?reset=1" }, { url = srv.base .. "/hold/0.1" }, { url = srv.base .. "/hold/0.1" } }
      for _, r in ipairs(http.request_all(reqs, 1)) do
        assert.equal("1", assert(unpack_result(r)).body)
      end
    end)

    it("reuses the batch's connections", function()
      local before = tonumber(assert(http.request({ url = srv.base .. "/count?close=1" })).body)
      local reqs = {}
      for i = 1, 40 do reqs[i] = { url = srv.base .. "/echo?i=" .. i } end
      local results = http.request_all(reqs, 4)
      for i, r in ipairs(results) do assert.equal("i=" .. i, echo_info(assert(unpack_result(r))).query) end
      local after = tonumber(assert(http.request({ url = srv.base .. "/count?close=1" })).body)
      -- 40 requests over at most 4 connections (+1: the /count request itself)
      assert.is_true(after - before <= 4 + 1, ("%d connections"):format(after - before))
    end)

    it("uploads body_file and downloads to output_file; a missing file fails only its request", function()
      local dir = tmpdir()
      local src = dir .. "/up.bin"
      local data = pattern_bytes(300000)
      local f = assert(io.open(src, "wb"))
      f:write(data)
      f:close()
      local results = http.request_all({
        { method = "PUT", url = srv.base .. "/echo", body_file = src },
        { url = srv.base .. "/bytes/200000", output_file = dir .. "/down.bin" },
        { method = "PUT", url = srv.base .. "/echo", body_file = dir .. "/missing.bin" },
        { url = srv.base .. "/status/404", output_file = dir .. "/not-found.bin" },
        { url = "http://127.0.0.1:" .. closed_port() .. "/", output_file = dir .. "/refused.bin" },
      })
      local up = assert(unpack_result(results[1]))
      assert.equal(sha256(data), echo_info(up).body_sha256)
      assert.equal(300000, up.bytes_sent)
      local down = assert(unpack_result(results[2]))
      assert.is_nil(down.body)
      assert.equal(sha256(pattern_bytes(200000)), sha256_file(dir .. "/down.bin"))
      local r3, msg3, kind3 = unpack_result(results[3])
      assert.is_nil(r3)
      assert.equal("file", kind3)
      assert.matches("^http: cannot open .*missing%.bin: No such file or directory$", msg3)
      local r4 = assert(unpack_result(results[4]))
      assert.equal(404, r4.status)
      assert.equal("status 404", r4.body)
      assert.equal("connect", select(3, unpack_result(results[5])))
      assert.equal("down.bin\nup.bin\n", ls(dir)) -- no temporaries, no file for the failures
      require("host.fs").remove_tree(dir)
    end)

    it("runs more requests than max_parallel, each with its own files open only while it runs", function()
      local dir = tmpdir()
      local reqs = {}
      for i = 1, 30 do
        local path = ("%s/in-%02d"):format(dir, i)
        local f = assert(io.open(path, "wb"))
        f:write(("body %d"):format(i))
        f:close()
        reqs[i] = { method = "PUT", url = srv.base .. "/echo?i=" .. i, body_file = path }
      end
      for i, r in ipairs(http.request_all(reqs, 8)) do
        assert.equal(("body %d"):format(i), assert(unpack_result(r)).body)
      end
      require("host.fs").remove_tree(dir)
    end)

    it("returns an empty array for no requests", function()
      assert.same({}, http.request_all({}))
    end)

    it("raises on misuse before sending anything", function()
      local before = tonumber(assert(http.request({ url = srv.base .. "/count?close=1" })).body)
      assert.has_error(function() http.request_all({ { url = srv.base .. "/echo" }, { url = 1 } }) end,
        "http.request_all: reqs[2]: field 'url' must be a string, got number")
      assert.has_error(function() http.request_all({ { url = srv.base .. "/echo", x = 1 } }) end,
        "http.request_all: reqs[1]: unknown field 'x'")
      assert.has_error(function() http.request_all({ { url = srv.base, headers = { ["Bad Name"] = "x" } } }) end,
        "http.request_all: reqs[1]: invalid header name 'Bad Name'")
      assert.has_error(function() http.request_all({ "http://x" }) end,
        "http.request_all: reqs[1] must be a table, got string")
      assert.has_error(function() http.request_all({ { url = srv.base } }, 0) end)
      assert.has_error(function() http.request_all("x") end)
      local after = tonumber(assert(http.request({ url = srv.base .. "/count?close=1" })).body)
      assert.equal(before + 1, after) -- only the second /count connected
    end)

    it("leaves the state's own handle working", function()
      assert.equal(200, assert(http.request({ url = srv.base .. "/echo" })).status)
    end)
  end)

  describe("misuse raises", function()
    local function raises(req, msg)
      assert.has_error(function() http.request(req) end, msg)
    end

    it("on unknown fields", function()
      raises({ url = srv.base, x = 1 }, "http.request: unknown field 'x'")
      raises({ url = srv.base, ["url\0x"] = 1 }, "http.request: unknown field 'url'")
      raises({ url = srv.base, [1] = "x" }, "http.request: unknown field of type number")
    end)

    it("on wrong types and values", function()
      raises({}, "http.request: field 'url' is required")
      raises({ url = 1 }, "http.request: field 'url' must be a string, got number")
      raises({ url = srv.base, method = "GE T" }, "http.request: invalid method 'GE T'")
      raises({ url = srv.base, body = {} }, "http.request: field 'body' must be a string, got table")
      raises({ url = srv.base, timeout = "5" }, "http.request: field 'timeout' must be a number, got string")
      raises({ url = srv.base, timeout = -1 }, "http.request: field 'timeout' must be between 0 and 1e9 seconds")
      raises({ url = srv.base, connect_timeout = 0 / 0 },
        "http.request: field 'connect_timeout' must be between 0 and 1e9 seconds")
      raises({ url = srv.base, follow_redirects = 1 },
        "http.request: field 'follow_redirects' must be a boolean, got number")
      raises({ url = srv.base, max_response_bytes = -1 },
        "http.request: field 'max_response_bytes' must be a non-negative integer")
      raises({ url = srv.base, low_speed_time = 1.5 },
        "http.request: field 'low_speed_time' must be a non-negative integer")
      raises({ url = srv.base, body = "a", body_file = "/x" },
        "http.request: fields 'body' and 'body_file' exclude each other")
      raises({ url = srv.base, method = "HEAD", body = "" }, "http.request: a HEAD request cannot have a body")
      raises({ url = srv.base .. "\0x" }, "http.request: field 'url' contains a NUL byte")
      assert.has_error(function() http.request("http://x") end,
        "bad argument #1 to 'request' (table expected, got string)")
    end)

    it("on bad headers", function()
      raises({ url = srv.base, headers = "x" }, "http.request: field 'headers' must be a table, got string")
      raises({ url = srv.base, headers = { ["Bad Name"] = "x" } }, "http.request: invalid header name 'Bad Name'")
      raises({ url = srv.base, headers = { ["X-A"] = "a\r\nX-B: b" } },
        "http.request: header 'X-A' has a CR, LF or NUL in its value")
      raises({ url = srv.base, headers = { ["X-A"] = true } },
        "http.request: header 'X-A' must have a string value, got boolean")
      raises({ url = srv.base, headers = { "X-A" } }, "http.request: headers[1] must be a {name, value} table")
      raises({ url = srv.base, headers = { { "X-A", "1" }, { "Bad:", "x" } } },
        "http.request: invalid header name 'Bad:'")
      raises({ url = srv.base, headers = { { "X-A", "1" }, X = "y" } },
        "http.request: field 'headers' mixes array and map entries")
    end)
  end)

  describe("url helpers", function()
    it("url_encode keeps RFC 3986 unreserved characters only", function()
      assert.equal("", http.url_encode(""))
      assert.equal("AZaz09-_.~", http.url_encode("AZaz09-_.~"))
      assert.equal("a%20b%2Bc%3Dd%26e%2Ff%3Fg%23h%25", http.url_encode("a b+c=d&e/f?g#h%"))
      assert.equal("%C3%A9%00%FF%2A%21%27%28%29", http.url_encode("é\0\255*!'()"))
      assert.has_error(function() http.url_encode({}) end)
    end)

    it("form_encode sorts keys bytewise and encodes both sides", function()
      assert.equal("", http.form_encode({}))
      assert.equal("Action=ListStacks&Version=2010-05-15",
        http.form_encode({ Version = "2010-05-15", Action = "ListStacks" }))
      assert.equal("B=3&a=1&a.b=4&b=2", http.form_encode({ b = "2", a = "1", B = "3", ["a.b"] = 4 }))
      assert.equal("a%20b=c%2Fd%3D&e=", http.form_encode({ ["a b"] = "c/d=", e = "" }))
      assert.equal("x=1.5", http.form_encode({ x = 1.5 }))
      assert.has_error(function() http.form_encode({ "a" }) end,
        "http.form_encode: keys must be strings, got number")
      assert.has_error(function() http.form_encode({ a = true }) end,
        "http.form_encode: value of 'a' must be a string or number, got boolean")
    end)

    it("parse_url splits urls with default ports", function()
      assert.same({ scheme = "https", host = "s3.amazonaws.com", port = 443, path = "/", query = "" },
        http.parse_url("https://s3.amazonaws.com"))
      assert.same({ scheme = "http", host = "127.0.0.1", port = 4566, path = "/a/b%20c", query = "x=1&y=%20" },
        http.parse_url("http://127.0.0.1:4566/a/b%20c?x=1&y=%20#frag"))
      assert.same({ scheme = "http", host = "[::1]", port = 80, path = "/", query = "" },
        http.parse_url("http://[::1]"))
      assert.same({ scheme = "http", host = "h", port = 99, path = "/p", query = "" },
        http.parse_url("HTTP://user:pw@h:99/p?"))
    end)

    it("parse_url returns nil, err for what does not parse", function()
      assert.same({ nil, "http: cannot parse url: Bad scheme" }, { http.parse_url("s3.amazonaws.com/x") })
      assert.same({ nil, "http: cannot parse url: Port number was not a decimal number between 0 and 65535" },
        { http.parse_url("http://h:99999/") })
      assert.same({ nil, "http: cannot parse url: it contains a NUL byte" }, { http.parse_url("http://h/\0") })
    end)

    it("version names libcurl", function()
      assert.matches("^libcurl/%d+%.%d+", http.version())
    end)
  end)
end)
