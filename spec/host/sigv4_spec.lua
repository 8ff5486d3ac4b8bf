-- host.sigv4: driven by the AWS SigV4 test suite (spec/fixtures/sigv4, one folder per
-- case, as in aws-c-auth) and by S3 cases (spec/fixtures/sigv4-s3, written by the
-- independent reference.py there and anchored on the S3 documentation's examples).
-- Each case is checked per form (header, query) stage by stage, byte for byte:
-- canonical request, string to sign, signature, then the signed request rebuilt
-- from the request and what the signer says to add.
local cjson = require("cjson")
local sigv4 = require("host.sigv4")

local SUITE_DIR = "spec/fixtures/sigv4"
local S3_DIR = "spec/fixtures/sigv4-s3"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

--- Case folder names under dir (those holding a context.json), sorted.
local function case_names(dir)
  local p = assert(io.popen("ls -1 '" .. dir .. "'"))
  local names = {}
  for name in p:lines() do
    if exists(dir .. "/" .. name .. "/context.json") then names[#names + 1] = name end
  end
  p:close()
  table.sort(names)
  return names
end

--- Parses request.txt: request line, headers (continuation lines kept with their
-- "\n" and indentation, i.e. obs-fold as sent), blank line, body.
local function parse_request(text)
  local head, body = text:match("^(.-)\n\n(.*)$")
  if not head then head, body = text:gsub("\n$", ""), "" end
  local lines = {}
  for line in (head .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
  local method, target = lines[1]:match("^(%S+) (.*) HTTP/1%.1$")
  assert(method, "bad request line: " .. lines[1])
  local path, query = target:match("^([^?]*)%??(.*)$")
  local headers = {}
  for i = 2, #lines do
    local line = lines[i]
    if line:match("^[ \t]") then
      local last = assert(headers[#headers], "continuation line without a header")
      last[2] = last[2] .. "\n" .. line
    else
      local name, value = line:match("^([^:]+):(.*)$")
      headers[#headers + 1] = { assert(name, "bad header line: " .. line), value }
    end
  end
  return { line = lines[1], method = method, path = path, query = query, headers = headers, body = body }
end

local CONTEXT_KEYS = {
  credentials = true, expiration_in_seconds = true, normalize = true, region = true, service = true,
  sign_body = true, timestamp = true, omit_session_token = true, s3 = true, unsigned_payload = true,
}

--- "2015-08-30T12:36:00Z" -> "20150830T123600Z"
local function basic_time(iso)
  return (iso:gsub("[-:]", ""))
end

--- Builds the sigv4 request table for a case in one form ("header" or "query").
local function make_req(ctx, r, form)
  for k in pairs(ctx) do assert(CONTEXT_KEYS[k], "context.json: unknown key " .. k) end
  local headers = {}
  for i, h in ipairs(r.headers) do headers[i] = { h[1], h[2] } end
  local req = {
    method = r.method, path = r.path, query = r.query, headers = headers,
    access_key = ctx.credentials.access_key_id, secret_key = ctx.credentials.secret_access_key,
    session_token = ctx.credentials.token, region = ctx.region, service = ctx.service,
    time = basic_time(ctx.timestamp), mode = form,
  }
  if ctx.s3 then req.s3 = true end
  if ctx.normalize ~= nil then req.normalize = ctx.normalize end
  if ctx.sign_body then req.sign_body = true end
  if ctx.omit_session_token then req.omit_session_token_from_signature = true end
  if ctx.unsigned_payload then
    req.unsigned_payload = true
  elseif r.body ~= "" then
    req.body = r.body
  end
  if form == "query" then req.expires = ctx.expiration_in_seconds or 3600 end
  return req
end

--- The request as sent: the caller's headers plus result.headers (header form), or
-- the caller's query plus result.query_params (query form).
local function rebuild(r, result, form)
  local out = {}
  if form == "header" then
    out[1] = r.line
  else
    local params = {}
    for i, p in ipairs(result.query_params) do params[i] = p[1] .. "=" .. p[2] end
    local q = (r.query ~= "" and r.query .. "&" or "") .. table.concat(params, "&")
    out[1] = r.method .. " " .. r.path .. "?" .. q .. " HTTP/1.1"
  end
  for _, h in ipairs(r.headers) do out[#out + 1] = h[1] .. ":" .. h[2] end
  for _, h in ipairs(result.headers) do out[#out + 1] = h[1] .. ":" .. h[2] end
  return table.concat(out, "\n") .. "\n\n" .. r.body
end

local function lines_of(s)
  local t = {}
  for line in (s .. "\n"):gmatch("(.-)\n") do t[#t + 1] = line end
  return t
end

--- Registers the four stage checks of every case and form found under dir.
local function describe_cases(dir)
  for _, name in ipairs(case_names(dir)) do
    local folder = dir .. "/" .. name
    local ctx = cjson.decode(read(folder .. "/context.json"))
    local r = parse_request(read(folder .. "/request.txt"))
    for _, form in ipairs({ "header", "query" }) do
      local prefix = folder .. "/" .. form .. "-"
      if exists(prefix .. "canonical-request.txt") then
        local want = {
          cr = read(prefix .. "canonical-request.txt"),
          sts = read(prefix .. "string-to-sign.txt"),
          sig = read(prefix .. "signature.txt"),
          signed = read(prefix .. "signed-request.txt"),
        }
        describe(name .. " (" .. form .. ")", function()
          it("canonical request", function()
            local cr, signed_headers = sigv4.canonical_request(make_req(ctx, r, form))
            assert.equal(want.cr, cr)
            local cr_lines = lines_of(want.cr)
            assert.equal(cr_lines[#cr_lines - 1], signed_headers)
          end)

          it("string to sign", function()
            assert.equal(want.sts, sigv4.string_to_sign(make_req(ctx, r, form), want.cr))
          end)

          it("signature", function()
            assert.equal(want.sig, sigv4.sign(make_req(ctx, r, form)).signature)
          end)

          it("signed request", function()
            local result = sigv4.sign(make_req(ctx, r, form))
            assert.equal(want.signed, rebuild(r, result, form))
            if form == "query" then
              assert.same({}, result.headers)
              assert.is_nil(result.authorization)
              -- the query to send = the canonical one (+ an unsigned token) + the signature
              local q = lines_of(want.cr)[3]
              if ctx.omit_session_token and ctx.credentials.token then
                q = q .. "&X-Amz-Security-Token=" .. sigv4.uri_encode(ctx.credentials.token, true)
              end
              assert.equal(q .. "&X-Amz-Signature=" .. want.sig, result.query)
            else
              assert.equal("Authorization", result.headers[#result.headers][1])
              assert.equal(result.headers[#result.headers][2], result.authorization)
              assert.is_nil(result.query)
            end
          end)
        end)
      end
    end
  end
end

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local function errmsg(f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error")
  return err
end

local NONE = {} -- in vanilla(overrides): removes the field

--- A valid request (the suite's get-vanilla) with some fields replaced or removed.
local function vanilla(overrides)
  local req = {
    method = "GET", path = "/", headers = { { "Host", "example.amazonaws.com" } },
    access_key = "AKIDEXAMPLE", secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    region = "us-east-1", service = "service", time = "20150830T123600Z",
  }
  for k, v in pairs(overrides or {}) do
    if v == NONE then v = nil end
    req[k] = v
  end
  return req
end

local function header_value(result, name)
  for _, h in ipairs(result.headers) do
    if h[1] == name then return h[2] end
  end
end

describe("host.sigv4 #unit", function()
  describe("AWS SigV4 test suite", function()
    describe_cases(SUITE_DIR)
  end)

  describe("S3 cases", function()
    describe_cases(S3_DIR)
  end)

  describe("the fixtures", function()
    it("hold every suite case in both forms", function()
      local names = case_names(SUITE_DIR)
      assert.equal(38, #names)
      for _, name in ipairs(names) do
        for _, form in ipairs({ "header", "query" }) do
          for _, stage in ipairs({ "canonical-request", "string-to-sign", "signature", "signed-request" }) do
            assert.is_true(exists(("%s/%s/%s-%s.txt"):format(SUITE_DIR, name, form, stage)), name)
          end
        end
      end
      assert.is_true(exists(SUITE_DIR .. "/NOTICE"))
    end)

    it("hold the S3 documentation's examples and the unicode key case", function()
      assert.same({
        "get-bucket-lifecycle", "get-bucket-list-objects", "get-object-range",
        "get-object-unicode-key", "presigned-get-object", "put-object",
      }, case_names(S3_DIR))
    end)
  end)

  -- refusals ---------------------------------------------------------------

  describe("refuses misuse", function()
    it("a request that is not a table", function()
      assert.matches("table expected, got nil", errmsg(sigv4.sign, nil), 1, true)
      assert.matches("table expected, got string", errmsg(sigv4.canonical_request, "GET /"), 1, true)
    end)

    it("an unknown field", function()
      assert.equal("sigv4.sign: unknown field 'bogus'", errmsg(sigv4.sign, vanilla({ bogus = 1 })))
      assert.equal("sigv4.sign: unknown field 'sessionToken'",
        errmsg(sigv4.sign, vanilla({ sessionToken = "t" })))
      local req = vanilla()
      req[1] = "x"
      assert.equal("sigv4.sign: unknown field '1'", errmsg(sigv4.sign, req))
      assert.equal("sigv4.canonical_request: unknown field 'x'",
        errmsg(sigv4.canonical_request, vanilla({ x = true })))
      assert.equal("sigv4.string_to_sign: unknown field 'x'",
        errmsg(sigv4.string_to_sign, vanilla({ x = true }), "GET"))
    end)

    it("a missing field", function()
      for _, field in ipairs({ "method", "path", "headers", "access_key", "secret_key", "region", "service" }) do
        assert.equal("sigv4.sign: missing field '" .. field .. "'", errmsg(sigv4.sign, vanilla({ [field] = NONE })))
      end
    end)

    it("a field of the wrong type", function()
      assert.equal("sigv4.sign: field 'method' must be a string", errmsg(sigv4.sign, vanilla({ method = 1 })))
      assert.equal("sigv4.sign: field 'normalize' must be a boolean",
        errmsg(sigv4.sign, vanilla({ normalize = "yes" })))
      assert.equal("sigv4.sign: field 'headers' must be a table", errmsg(sigv4.sign, vanilla({ headers = "Host: x" })))
      assert.equal("sigv4.sign: field 'mode' must be 'header' or 'query'", errmsg(sigv4.sign, vanilla({ mode = "url" })))
      assert.equal("sigv4.sign: field 'mode' must be 'header' or 'query'", errmsg(sigv4.sign, vanilla({ mode = 1 })))
    end)

    it("empty or malformed values", function()
      assert.equal("sigv4.sign: field 'path' must start with '/'", errmsg(sigv4.sign, vanilla({ path = "a/b" })))
      assert.equal("sigv4.sign: field 'path' must not contain '?' or '#' (pass the query as 'query')",
        errmsg(sigv4.sign, vanilla({ path = "/?a=1" })))
      assert.equal("sigv4.sign: field 'method' must not be empty", errmsg(sigv4.sign, vanilla({ method = "" })))
      assert.equal("sigv4.sign: field 'region' must not be empty", errmsg(sigv4.sign, vanilla({ region = "" })))
      assert.equal("sigv4.sign: field 'service' has a character not allowed in a credential scope",
        errmsg(sigv4.sign, vanilla({ service = "s3/x" })))
      assert.equal("sigv4.sign: field 'method' is not an HTTP method", errmsg(sigv4.sign, vanilla({ method = "GET /" })))
      assert.equal("sigv4.sign: field 'session_token' must not be empty",
        errmsg(sigv4.sign, vanilla({ session_token = "" })))
    end)

    it("a bad time", function()
      local shape = "sigv4.sign: field 'time' must look like '20150830T123600Z'"
      for _, t in ipairs({ "2015-08-30T12:36:00Z", "20150830T123600", "20150230T000000Z", "20150830T243600Z", "" }) do
        assert.equal(shape, errmsg(sigv4.sign, vanilla({ time = t })))
      end
      assert.equal("sigv4.sign: field 'time' must be integer epoch seconds or a 'YYYYMMDDTHHMMSSZ' string",
        errmsg(sigv4.sign, vanilla({ time = 1.5 })))
      assert.equal("sigv4.sign: field 'time' out of range (0..253402300799)", errmsg(sigv4.sign, vanilla({ time = -1 })))
    end)

    it("a bad payload choice", function()
      assert.equal("sigv4.sign: give only one of 'body', 'payload_hash', 'unsigned_payload'",
        errmsg(sigv4.sign, vanilla({ body = "x", unsigned_payload = true })))
      assert.equal("sigv4.sign: field 'payload_hash' must be 64 lowercase hex digits",
        errmsg(sigv4.sign, vanilla({ payload_hash = ("E"):rep(64) })))
      assert.equal("sigv4.sign: field 'payload_hash' must be 64 lowercase hex digits",
        errmsg(sigv4.sign, vanilla({ payload_hash = "abc" })))
    end)

    it("a bad expiry", function()
      for _, e in ipairs({ 0, 604801 }) do
        assert.equal("sigv4.sign: field 'expires' must be within 1..604800",
          errmsg(sigv4.sign, vanilla({ mode = "query", expires = e })))
      end
      assert.equal("sigv4.sign: field 'expires' must be an integer",
        errmsg(sigv4.sign, vanilla({ mode = "query", expires = "60" })))
      assert.equal("sigv4.sign: field 'expires' needs mode = 'query'", errmsg(sigv4.sign, vanilla({ expires = 60 })))
    end)

    it("bad headers", function()
      assert.equal("sigv4.sign: headers[2] must be a {name, value} pair of strings",
        errmsg(sigv4.sign, vanilla({ headers = { { "Host", "h" }, { "X-A" } } })))
      assert.equal("sigv4.sign: headers[1] must be a {name, value} pair of strings",
        errmsg(sigv4.sign, vanilla({ headers = { "Host: h" } })))
      assert.equal("sigv4.sign: field 'headers' must map header names to string values",
        errmsg(sigv4.sign, vanilla({ headers = { Host = "h", ["Content-Length"] = 3 } })))
      assert.equal("sigv4.sign: invalid header name", errmsg(sigv4.sign, vanilla({ headers = { { "Bad Name", "v" } } })))
      assert.equal("sigv4.sign: header name must not be empty", errmsg(sigv4.sign, vanilla({ headers = { { "", "v" } } })))
    end)

    it("headers the signer adds itself", function()
      for _, name in ipairs({ "X-Amz-Date", "authorization", "X-Amz-Security-Token" }) do
        assert.equal("sigv4.sign: header '" .. name .. "' is added by the signer",
          errmsg(sigv4.sign, vanilla({ headers = { { "Host", "h" }, { name, "v" } } })))
      end
      assert.equal("sigv4.sign: header 'X-Amz-Content-Sha256' is added by the signer (s3/sign_body)",
        errmsg(sigv4.sign, vanilla({ s3 = true, headers = { { "X-Amz-Content-Sha256", "v" } } })))
    end)

    it("without echoing secrets or header values", function()
      local err = errmsg(sigv4.sign, vanilla({ headers = { { "X-Token", "hunter2\0secret" } } }))
      assert.equal("sigv4.sign: invalid character in the value of header 'X-Token'", err)
      err = errmsg(sigv4.sign, vanilla({ secret_key = "TOPSECRET", session_token = "TOKEN", bogus = 1 }))
      assert.is_nil(err:find("TOPSECRET", 1, true))
      assert.is_nil(err:find("TOKEN", 1, true))
    end)

    it("bad signing_key and uri_encode arguments", function()
      assert.matches("date must be YYYYMMDD", errmsg(sigv4.signing_key, "s", "2015-08-30", "r", "s"), 1, true)
      assert.matches("empty secret", errmsg(sigv4.signing_key, "", "20150830", "r", "s"), 1, true)
      assert.matches("boolean expected", errmsg(sigv4.uri_encode, "a", "yes"), 1, true)
    end)
  end)

  -- acceptance -------------------------------------------------------------

  describe("signs", function()
    it("the same with epoch seconds and with a basic ISO 8601 string", function()
      local a = sigv4.sign(vanilla({ time = 1440938160 }))
      local b = sigv4.sign(vanilla({ time = "20150830T123600Z" }))
      assert.equal("20150830T123600Z", a.amz_date)
      assert.same(b, a)
      assert.same(b, sigv4.sign(vanilla({ time = 1440938160.0 })))
    end)

    it("epoch seconds at the edges of the calendar", function()
      local cases = {
        [0] = "19700101T000000Z", [951782400] = "20000229T000000Z", [1369353600] = "20130524T000000Z",
        [951868800] = "20000301T000000Z", [4102444799] = "20991231T235959Z",
        [4107542399] = "21000228T235959Z", [4107542400] = "21000301T000000Z",
        [253402300799] = "99991231T235959Z",
      }
      for t, want in pairs(cases) do
        assert.equal(want, sigv4.sign(vanilla({ time = t })).amz_date)
      end
    end)

    it("at the current UTC time when no time is given", function()
      local before = os.date("!%Y%m%dT%H%M%SZ")
      local got = sigv4.sign(vanilla({ time = NONE })).amz_date
      local after = os.date("!%Y%m%dT%H%M%SZ")
      assert.is_true(got == before or got == after, got)
    end)

    it("with every product in the result", function()
      local r = sigv4.sign(vanilla())
      assert.equal("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", r.signature)
      assert.equal("host;x-amz-date", r.signed_headers)
      assert.equal("20150830/us-east-1/service/aws4_request", r.credential_scope)
      assert.equal("20150830T123600Z", r.amz_date)
      assert.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", r.payload_hash)
      assert.same({
        { "X-Amz-Date", "20150830T123600Z" },
        { "Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
          .. "SignedHeaders=host;x-amz-date, Signature=" .. r.signature },
      }, r.headers)
    end)

    it("with the session token in the headers (header form)", function()
      local r = sigv4.sign(vanilla({ session_token = "tok/en+=" }))
      assert.equal("tok/en+=", header_value(r, "X-Amz-Security-Token"))
      assert.equal("host;x-amz-date;x-amz-security-token", r.signed_headers)
      assert.matches("\nx-amz-security-token:tok/en+=\n", r.canonical_request, 1, true)
      assert.is_nil(r.query)
    end)

    it("with the session token in the query (query form)", function()
      local r = sigv4.sign(vanilla({ session_token = "tok/en+=", mode = "query" }))
      assert.same({}, r.headers)
      assert.equal("host", r.signed_headers)
      assert.matches("&X-Amz-Security-Token=tok%2Fen%2B%3D&", r.query, 1, true)
      assert.matches("&X-Amz-Security-Token=tok%2Fen%2B%3D&", r.canonical_request, 1, true)
      local names = {}
      for i, p in ipairs(r.query_params) do names[i] = p[1] end
      assert.same({ "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders",
        "X-Amz-Expires", "X-Amz-Security-Token", "X-Amz-Signature" }, names)
    end)

    it("leaving the token out of the signature on request, yet still sending it", function()
      local r = sigv4.sign(vanilla({ session_token = "tok", omit_session_token_from_signature = true }))
      assert.equal("tok", header_value(r, "X-Amz-Security-Token"))
      assert.equal("host;x-amz-date", r.signed_headers)
      assert.equal(sigv4.sign(vanilla()).signature, r.signature)
      local q = sigv4.sign(vanilla({ session_token = "tok", omit_session_token_from_signature = true, mode = "query" }))
      assert.is_nil(q.canonical_request:find("Security-Token", 1, true))
      assert.matches("&X-Amz-Security-Token=tok&X-Amz-Signature=", q.query, 1, true)
    end)

    it("headers given as a map like the same headers given as pairs", function()
      local pairs_form = sigv4.sign(vanilla({ headers = { { "Host", "example.amazonaws.com" }, { "My-Header1", "value1" } } }))
      local map_form = sigv4.sign(vanilla({ headers = { Host = "example.amazonaws.com", ["My-Header1"] = "value1" } }))
      assert.equal(pairs_form.canonical_request, map_form.canonical_request)
      assert.equal(pairs_form.signature, map_form.signature)
    end)

    it("repeated header names in input order, whatever their case", function()
      local cr = sigv4.canonical_request(vanilla({ headers = {
        { "Host", "h" }, { "X-B", "2" }, { "x-a", " 1 " }, { "X-A", "\t0" }, { "x-b", "" },
      } }))
      assert.matches("\nhost:h\nx-a:1,0\nx-amz-date:20150830T123600Z\nx-b:2,\n\nhost;x-a;x-amz-date;x-b\n", cr, 1, true)
    end)

    it("the query canonically: decoded, re-encoded, sorted by name then value", function()
      local cr = sigv4.canonical_request(vanilla({ query = "b=2&a=1&a=0&c&&k=v=w&p=a+b&x=%zz&u=%c3%A9&" }))
      assert.equal("a=0&a=1&b=2&c=&k=v%3Dw&p=a%2Bb&u=%C3%A9&x=%25zz", lines_of(cr)[3])
      assert.equal("", lines_of(sigv4.canonical_request(vanilla({ query = "" })))[3])
    end)

    it("the payload from body, payload_hash or UNSIGNED-PAYLOAD", function()
      assert.equal("9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
        sigv4.sign(vanilla({ body = "Param1=value1" })).payload_hash)
      assert.equal(("ab"):rep(32), sigv4.sign(vanilla({ payload_hash = ("ab"):rep(32) })).payload_hash)
      local u = sigv4.sign(vanilla({ unsigned_payload = true }))
      assert.equal("UNSIGNED-PAYLOAD", u.payload_hash)
      assert.equal("UNSIGNED-PAYLOAD", lines_of(u.canonical_request)[#lines_of(u.canonical_request)])
      local binary = sigv4.sign(vanilla({ body = "a\0b" })).payload_hash
      assert.equal("59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138", binary)
    end)

    it("for S3 with x-amz-content-sha256 added and signed", function()
      local r = sigv4.sign(vanilla({ s3 = true, service = "s3", body = "Welcome to Amazon S3." }))
      assert.equal("44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        header_value(r, "x-amz-content-sha256"))
      assert.equal("host;x-amz-content-sha256;x-amz-date", r.signed_headers)
      local q = sigv4.sign(vanilla({ s3 = true, service = "s3", mode = "query", unsigned_payload = true }))
      assert.equal("host", q.signed_headers)
    end)

    it("an S3 key once, as sent, without normalising it", function()
      local key = "photos/café au lait//2024/../menu €.txt"
      local path = "/bucket/" .. sigv4.uri_encode(key, false)
      assert.equal("/bucket/photos/caf%C3%A9%20au%20lait//2024/../menu%20%E2%82%AC.txt", path)
      local s3 = sigv4.canonical_request(vanilla({ s3 = true, service = "s3", path = path }))
      assert.equal(path, lines_of(s3)[2])
      assert.equal("/bucket/a//b/../c", lines_of(sigv4.canonical_request(vanilla({ s3 = true, path = "/bucket/a//b/../c" })))[2])
      -- the same path for another service: normalised, then encoded a second time
      local other = sigv4.canonical_request(vanilla({ path = path }))
      assert.equal("/bucket/photos/caf%25C3%25A9%2520au%2520lait/menu%2520%25E2%2582%25AC.txt", lines_of(other)[2])
      -- explicit flags override the s3 shortcut
      local mixed = sigv4.canonical_request(vanilla({ s3 = true, normalize = true, path = "/bucket/a//b/../c" }))
      assert.equal("/bucket/a/c", lines_of(mixed)[2])
    end)

    it("the same request the same way each time", function()
      local a, b = sigv4.sign(vanilla({ session_token = "t" })), sigv4.sign(vanilla({ session_token = "t" }))
      assert.same(a, b)
    end)
  end)

  describe("signing_key", function()
    it("derives the AWS documentation's keys", function()
      assert.equal("c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9",
        hex(sigv4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam")))
      assert.equal("f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d",
        hex(sigv4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")))
      assert.equal("dbb893acc010964918f1fd433add87c70e8b0db6be30c1fbeafefa5ec6ba8378",
        hex(sigv4.signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3")))
    end)
  end)

  describe("uri_encode", function()
    it("keeps only the unreserved characters (and '/' on request)", function()
      assert.equal("-._~AZaz09", sigv4.uri_encode("-._~AZaz09"))
      assert.equal("a%2Fb%20c%2B%3D%26%3F%23%25", sigv4.uri_encode("a/b c+=&?#%"))
      assert.equal("a%2Fb", sigv4.uri_encode("a/b", true))
      assert.equal("a/b%20c/%C3%A9", sigv4.uri_encode("a/b c/é", false))
      assert.equal("%00%FF", sigv4.uri_encode("\0\255"))
      assert.equal("", sigv4.uri_encode(""))
    end)
  end)
end)
