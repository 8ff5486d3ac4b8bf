-- Retry, backoff and clock-skew arithmetic of lake.aws.client, with the
-- transport, clock and sleep injected (the real network path is covered by
-- the deploy specs through the fault-injecting proxy).
local client = require("lake.aws.client")

local function scripted(responses)
  local calls = {}
  return {
    calls = calls,
    request = function(req)
      calls[#calls + 1] = req
      local r = responses[#calls] or responses[#responses]
      if r.fail then return nil, r.fail, r.kind end
      return { status = r.status, headers = r.headers or {}, body = r.body or "" }
    end,
  }
end

local THROTTLE = '<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r1</RequestId></ErrorResponse>'

local function new(http, opts)
  local t, sleeps = 1000000000, {}
  opts = opts or {}
  local c = client.new {
    region = "us-east-1", credentials = { access_key = "AKID", secret_key = "secret" },
    getenv = function(k) if k == "AWS_ENDPOINT_URL" then return "http://127.0.0.1:1" end end,
    http = http, sleep = function(s) sleeps[#sleeps + 1] = s; t = t + s end,
    now = function() return t end, max_attempts = opts.max_attempts, max_time = opts.max_time,
    random = opts.random,
  }
  return c, sleeps
end

describe("lake.aws.client #unit", function()
  it("retries throttling with capped exponential backoff", function()
    local http = scripted { { status = 400, body = THROTTLE }, { status = 400, body = THROTTLE },
      { status = 400, body = THROTTLE }, { status = 200, body = "ok" } }
    local c, sleeps = new(http, { random = function() return 1 end }) -- the jitter's upper bound
    local r = c:call { service = "cloudformation", action = "DescribeStacks", method = "POST", body = "x" }
    assert.equal(200, r.status)
    assert.same({ 0.25, 0.5, 1.0 }, sleeps)
    assert.equal(3, c.stats.retries)
  end)

  it("gives up after max_attempts with the last error", function()
    local http = scripted { { status = 503, body = "" } }
    local c, sleeps = new(http, { max_attempts = 3 })
    local r, err = c:call { service = "s3", action = "HeadObject", method = "HEAD" }
    assert.is_nil(r)
    assert.equal(3, #http.calls)
    assert.equal(2, #sleeps)
    assert.equal("ServiceUnavailable", err.code)
    assert.equal(3, err.attempts)
  end)

  it("stops retrying when the time budget is spent", function()
    local http = scripted { { status = 500, body = "" } }
    local c = new(http, { max_attempts = 100, max_time = 3 })
    local r, err = c:call { service = "sts", action = "GetCallerIdentity", method = "POST" }
    assert.is_nil(r)
    assert.is_true(#http.calls < 100)
    assert.equal("InternalError", err.code)
  end)

  it("retries dropped connections but not bad requests", function()
    local http = scripted { { fail = "http: Connection reset", kind = "recv" }, { status = 200 } }
    local c = new(http)
    assert.equal(200, c:call { service = "sts", action = "X", method = "POST" }.status)
    http = scripted { { status = 400, body = '<ErrorResponse><Error><Code>ValidationError</Code><Message>bad</Message></Error></ErrorResponse>' } }
    c = new(http)
    local r, err = c:call { service = "cloudformation", action = "X", method = "POST" }
    assert.is_nil(r)
    assert.equal(1, #http.calls)
    assert.equal("ValidationError: bad (cloudformation X, HTTP 400)", tostring(err))
  end)

  it("corrects a skewed clock from the server's Date and signs again", function()
    local skewed = '<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>'
    local http = scripted { { status = 403, body = skewed, headers = { date = "Sat, 09 Sep 2001 02:16:40 GMT" } },
      { status = 200 } }
    local c = new(http) -- local clock: 1000000000 = 2001-09-09T01:46:40Z, the server is 30 min ahead
    local r = c:call { service = "s3", action = "GetObject", method = "GET", s3 = true }
    assert.equal(200, r.status)
    assert.equal(1800, c.skew)
    local function amz_date(req)
      for _, h in ipairs(req.headers) do if h[1] == "X-Amz-Date" then return h[2] end end
    end
    assert.equal("20010909T014640Z", amz_date(http.calls[1]))
    assert.equal("20010909T021640Z", amz_date(http.calls[2]))
  end)

  it("keeps secrets out of errors and logs", function()
    local lines = {}
    local http = scripted { { status = 403, body = '<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error></ErrorResponse>' } }
    local c = new(http)
    c.log = function(m) lines[#lines + 1] = m end
    local _, err = c:call { service = "sts", action = "GetCallerIdentity", method = "POST" }
    local all = tostring(err) .. table.concat(lines, "\n")
    assert.is_nil(all:find("secret", 1, true))
    assert.is_nil(all:find("Signature=", 1, true))
  end)

  describe("call_all", function()
    -- A transport with request_all: answers[url] is a list of answers given
    -- in turn to that url; every batch it was handed is kept.
    local function batches(answers)
      local seen, batches_ = {}, {}
      local function answer(req)
        seen[req.url] = (seen[req.url] or 0) + 1
        local list = answers[req.url:match("/([^/]*)$")]
        local a = list[math.min(seen[req.url], #list)]
        if a.fail then return nil, a.fail, a.kind end
        return { status = a.status, headers = a.headers or {}, body = a.body or "" }
      end
      return {
        batches = batches_,
        request = function() error("call_all must not send one at a time") end,
        request_all = function(reqs, parallel)
          local names = {}
          for i, r in ipairs(reqs) do names[i] = r.url:match("/([^/]*)$") end
          batches_[#batches_ + 1] = { names = names, parallel = parallel }
          local out = {}
          for i, r in ipairs(reqs) do out[i] = table.pack(answer(r)) end
          return out
        end,
      }
    end

    local function put(name) return { service = "s3", action = "PutObject", method = "PUT", path = "/b/" .. name, s3 = true } end

    it("sends every request in one batch and retries only the failed ones, together", function()
      local http = batches {
        a = { { status = 200, body = "A" } },
        b = { { status = 503 }, { status = 200, body = "B" } },
        c = { { fail = "http: Connection reset", kind = "recv" }, { status = 503 }, { status = 200, body = "C" } },
        d = { { status = 403, body = "<Error><Code>AccessDenied</Code><Message>no</Message></Error>" } },
      }
      local c, sleeps = new(http, { random = function() return 1 end })
      local resps, errs = c:call_all({ put("a"), put("b"), put("c"), put("d") }, { parallel = 3 })
      assert.same({ { "a", "b", "c", "d" }, { "b", "c" }, { "c" } },
        { http.batches[1].names, http.batches[2].names, http.batches[3].names })
      assert.equal(3, #http.batches)
      assert.equal(3, http.batches[1].parallel)
      assert.same({ "A", "B", "C" }, { resps[1].body, resps[2].body, resps[3].body })
      assert.is_false(resps[4])
      assert.equal("AccessDenied", errs[4].code)
      assert.equal(1, errs[4].attempts)
      assert.is_nil(errs[1])
      assert.same({ 0.25, 0.5 }, sleeps) -- one wait per round, the longest backoff of the round
      assert.equal(4, c.stats.calls)
      assert.equal(7, c.stats.attempts)
      assert.equal(3, c.stats.retries)
      assert.equal(4, c.stats.by_action["s3:PutObject"])
    end)

    it("gives up on a request after its max_attempts, with its last error", function()
      local http = batches { a = { { status = 200 } }, b = { { status = 500 } } }
      local c = new(http, { max_attempts = 3 })
      local resps, errs = c:call_all({ put("a"), put("b") })
      assert.equal(200, resps[1].status)
      assert.is_false(resps[2])
      assert.equal("InternalError", errs[2].code)
      assert.equal(3, errs[2].attempts)
      assert.equal(3, #http.batches)
      assert.equal(4, http.batches[1].parallel) -- the default
    end)

    it("signs every attempt anew, after a skew correction too", function()
      local skewed = '<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>'
      local http = batches { a = { { status = 403, body = skewed, headers = { date = "Sat, 09 Sep 2001 02:16:40 GMT" } },
        { status = 200 } } }
      local c = new(http)
      local resps = c:call_all({ put("a") })
      assert.equal(200, resps[1].status)
      assert.equal(1800, c.skew)
    end)

    it("sends one request after the other over a transport without request_all", function()
      local http = scripted { { status = 503 }, { status = 200, body = "x" }, { status = 200, body = "y" } }
      local c = new(http)
      local resps = c:call_all({ put("a"), put("b") })
      assert.same({ "y", "x" }, { resps[1].body, resps[2].body })
      assert.equal(3, #http.calls)
    end)

    it("returns empty arrays for no requests", function()
      local resps, errs = new(batches {}):call_all({})
      assert.same({}, resps)
      assert.same({}, errs)
    end)
  end)

  it("parses HTTP and ISO 8601 dates as UTC", function()
    assert.equal(1000000000, client.parse_time("Sun, 09 Sep 2001 01:46:40 GMT"))
    assert.equal(1000000000, client.parse_time("2001-09-09T01:46:40Z"))
    assert.equal(951782400, client.parse_time("2000-02-29T00:00:00.000Z"))
  end)
end)

describe("query protocol bodies #unit", function()
  it("flattens lists as Name.member.N, and EC2's as Name.N", function()
    local query = require("lake.aws.query")
    local params = { Tags = { { Key = "a b", Value = "1" } }, Empty = {}, On = true }
    assert.equal("Action=X&Version=V&Empty=&On=true&Tags.member.1.Key=a+b&Tags.member.1.Value=1",
      query.body("X", "V", params))
    assert.equal("Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1",
      require("lake.aws.ec2").body("DescribeSecurityGroups", { Filter = { { Name = "vpc-id", Value = { "vpc-1" } } },
        GroupIds = {} }))
  end)
end)
