-- The deploy lock (lake.lock and `unlock`) against moto's server on
-- loopback with signature checking on: the lock itself, then deploys that
-- run at once, --no-wait, and a stale lock broken by `unlock`.
local util = require("spec.support.util")
local moto = require("spec.support.moto")
local lock = require("lake.lock")
local s3 = require("lake.aws.s3")
local cfn = require("lake.aws.cloudformation")
local xml = require("host.xml")
local fs = require("host.fs")
local json = require("host.json")
local proc = require("host.proc")

local APP = "spec/fixtures/apps/locked/app.lua"
local ASSETS = "lakehost-assets-123456789012-us-east-1"
local STACKS = { "locked-storage-stack-dev", "locked-shared-stack-dev" }

-- Runs lakehost with stdin from /dev/null (never a terminal, whoever runs
-- the specs): stdout, stderr, exit code.
local function run(server, args, extra)
  local argv = { util.bin }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local r = assert(proc.run { argv = argv, env_add = server.env_with(extra), timeout = 300 })
  return r.stdout, r.stderr, r.code
end

-- Starts lakehost with its stdout thrown away and its stderr captured (read
-- with read_line, the rest in wait's result).
local function spawn(server, args, extra)
  local argv = { util.bin }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return assert(proc.spawn { argv = argv, env_add = server.env_with(extra), stdout = "null", stderr = "capture" })
end

-- The first line of a child's stderr that mentions the lock.
local function lock_line(child)
  local line, err
  repeat line, err = child:read_line("stderr", 60) until not line or line:find("the lock", 1, true)
  return line or err
end

local function s3_call(c, p)
  p.service, p.s3 = "s3", true
  return c:call(p)
end

-- A versioned bucket, as the assets bucket is (a released lock leaves a delete marker).
local function versioned_bucket(c, name)
  assert(s3_call(c, { action = "CreateBucket", method = "PUT", path = "/" .. name }))
  assert(s3_call(c, { action = "PutBucketVersioning", method = "PUT", path = "/" .. name, query = "versioning=",
    body = '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status>'
      .. "</VersioningConfiguration>" }))
end

-- How many versions of key the bucket has (delete markers aside).
local function versions(c, bucket, key)
  local resp = assert(s3_call(c, { action = "ListObjectVersions", method = "GET", path = "/" .. bucket,
    query = "prefix=" .. require("host.http").url_encode(key) .. "&versions=" }))
  local root = assert(xml.decode(resp.body))
  local n = 0
  for _, el in ipairs(root) do
    if el.name == "Version" then
      local k = xml.find(el, "Key")
      if k and k.text == key then n = n + 1 end
    end
  end
  return n
end

local IDENT = { user = "spec", host = "spec-host", pid = 4242, command = "deploy", cwd = "/spec" }

describe("lake.lock against a local S3 #integration", function()
  local server, c
  local BUCKET = "lock-spec-bucket"
  local WHERE = { bucket = BUCKET, app = "locked", stage = "dev", account = "123456789012", region = "us-east-1" }

  setup(function()
    server = moto.start()
    c = server.client()
    versioned_bucket(c, BUCKET)
  end)

  teardown(function()
    if server then server.stop() end
  end)

  after_each(function()
    -- what a failed test left held is not the next one's problem
    lock.release_all()
    s3.delete_object(c, BUCKET, lock.key(WHERE))
  end)

  it("names the key after the app, stage, account and region", function()
    assert.equal("locks/locked-dev-123456789012-us-east-1.json", lock.key(WHERE))
    assert.equal("locks/small-123456789012-eu-west-1.json",
      lock.key { app = "small", account = "123456789012", region = "eu-west-1" })
  end)

  it("takes a free lock, writing who, where, since when and a token", function()
    local h, err = lock.acquire(c, WHERE, { identity = IDENT, no_wait = true, clock = function() return 1767323045 end })
    assert.is_table(h, err)
    local info = assert(lock.holder(c, WHERE))
    assert.equal("spec", info.user)
    assert.equal("spec-host", info.host)
    assert.equal(4242, info.pid)
    assert.equal("deploy", info.command)
    assert.equal("/spec", info.cwd)
    assert.equal("2026-01-02T03:04:05Z", info.since)
    assert.equal(h.token, info.token)
    assert.matches("^%x+$", h.token)
    assert.equal(32, #h.token)
    assert.equal("spec@spec-host (pid 4242, deploy, since 2026-01-02T03:04:05Z)", lock.describe(info))
    -- the lock's requests are counted apart from the client's own
    assert.equal(1, h.stats.calls)
    assert.equal("released", h:release())
  end)

  it("takes over a lock left by a process of this host that no longer runs, and only that", function()
    local dead = assert(lock.acquire(c, WHERE, { identity = IDENT, no_wait = true }))
    local _ = dead
    local said = {}
    local me = { user = "spec", host = "spec-host", pid = 5151, command = "deploy", cwd = "/spec" }
    -- its pid still runs: a second taker is refused as ever
    local h, _, why = lock.acquire(c, WHERE, { identity = me, no_wait = true, alive = function() return true end })
    assert.is_nil(h)
    assert.equal("held", why)
    -- another host's process is never judged from here
    h, _, why = lock.acquire(c, WHERE, { identity = { user = "x", host = "other-host", pid = 1, command = "deploy",
      cwd = "/" }, no_wait = true, alive = function() return false end })
    assert.is_nil(h)
    assert.equal("held", why)
    -- gone: taken over, saying so
    h = assert(lock.acquire(c, WHERE, { identity = me, no_wait = true, alive = function(pid)
      assert.equal(4242, pid)
      return false
    end, say = function(l) said[#said + 1] = l end }))
    assert.equal(h.token, assert(lock.holder(c, WHERE)).token)
    assert.matches("was left by a process that no longer runs on this host: taking it over", said[1], 1, true)
    assert.equal("released", h:release())
    lock.release_all()
  end)

  it("tells a process of this host that runs from one that is gone through /proc", function()
    assert.is_true(lock.alive(require("host.proc").pid()))
    assert.is_false(lock.alive(2 ^ 22 + 7)) -- above Linux's pid_max
  end)

  it("refuses a second taker with the holder, and a release with another token deletes nothing", function()
    local first = assert(lock.acquire(c, WHERE, { identity = IDENT, no_wait = true }))
    local other = { user = "other", host = "elsewhere", pid = 7, command = "destroy", cwd = "/x" }
    local h, msg, why, holder = lock.acquire(c, WHERE, { identity = other, no_wait = true })
    assert.is_nil(h)
    assert.equal("held", why)
    assert.equal(first.token, holder.token)
    assert.matches("the lock for destroy in s3://lock-spec-bucket/locks/locked-dev-123456789012-us-east-1.json "
      .. "is held by spec@spec-host (pid 4242, deploy, since ", msg, 1, true)
    -- a killed holder's lock broken and taken by another: the first one's
    -- release must leave the new holder's lock alone
    local seen = assert(lock.holder(c, WHERE))
    assert.is_true(lock.delete(c, WHERE, seen.etag))
    local second = assert(lock.acquire(c, WHERE, { identity = other, no_wait = true }))
    assert.equal("taken", first:release())
    local now = assert(lock.holder(c, WHERE))
    assert.equal(second.token, now.token)
    -- released twice: the second call sends nothing and says the same
    assert.equal("released", second:release())
    local calls = second.stats.calls
    assert.equal("released", second:release())
    assert.equal(calls, second.stats.calls)
    assert.is_false(lock.holder(c, WHERE))
    -- and the key is free again (the bucket is versioned: a delete marker is no lock)
    local again = assert(lock.acquire(c, WHERE, { identity = IDENT, no_wait = true }))
    assert.equal("released", again:release())
  end)

  it("holds the lock when its write landed but the answer was lost (the retry finds the key taken)", function()
    local http = require("host.http")
    local lost = 0
    local flaky = { request = function(req)
      local resp, msg, kind = http.request(req)
      if req.method == "PUT" and lost == 0 then
        lost = 1
        return nil, "injected: the answer never came", "recv"
      end
      return resp, msg, kind
    end }
    local fc = require("lake.aws.client").new { region = "us-east-1", http = flaky, retry_base = 0,
      credentials = { access_key = server.env.AWS_ACCESS_KEY_ID, secret_key = server.env.AWS_SECRET_ACCESS_KEY },
      getenv = function(k) return server.env[k] end }
    local h, err = lock.acquire(fc, WHERE, { identity = IDENT, no_wait = true })
    assert.is_table(h, err)
    assert.equal(1, lost)
    -- the write sent twice (the retry got 412), then the look that found our own token
    assert.same({ ["s3:PutObject"] = 1, ["s3:GetObject"] = 1 }, h.stats.by_action)
    assert.equal(3, h.stats.attempts)
    assert.equal("released", h:release())
  end)

  it("deletes only the object it read: a stale ETag deletes nothing", function()
    local h = assert(lock.acquire(c, WHERE, { identity = IDENT, no_wait = true }))
    assert.is_false(lock.delete(c, WHERE, '"00000000000000000000000000000000"'))
    assert.equal(h.token, assert(lock.holder(c, WHERE)).token)
    assert.equal("released", h:release())
  end)

  it("waits for the holder, saying so once and then every 30 s, and takes the lock when it is free", function()
    local holder = assert(lock.acquire(c, WHERE, { identity = IDENT, no_wait = true,
      clock = function() return 1767323045 end }))
    local t, said, slept = 0, {}, 0
    local h = lock.acquire(c, WHERE, {
      identity = { user = "me", host = "here", pid = 1, command = "deploy", cwd = "/" },
      say = function(line) said[#said + 1] = line end, hint = "lakehost app.lua unlock",
      now = function() return t end, random = function() return 1 end,
      sleep = function(s)
        slept = slept + 1
        t = t + s
        assert(t < 1000, "still waiting after 1000 s")
        -- the holder finishes after about 75 s
        if t > 75 and holder.status == nil then assert.equal("released", holder:release()) end
      end,
    })
    assert.is_table(h)
    assert.same({
      "waiting for the lock held by spec@spec-host (pid 4242, deploy, since 2026-01-02T03:04:05Z)",
      "still waiting for the lock held by spec@spec-host (pid 4242, deploy, since 2026-01-02T03:04:05Z) (30 s); "
        .. "if that process is gone, `lakehost app.lua unlock` breaks it",
      "still waiting for the lock held by spec@spec-host (pid 4242, deploy, since 2026-01-02T03:04:05Z) (60 s); "
        .. "if that process is gone, `lakehost app.lua unlock` breaks it",
    }, said)
    -- backoff: 1, 1.5, 2.25, ... then 10 s at most between looks (asked at 30.8 and 60.8 s;
    -- the holder is gone at 80.8 s, after the 12th pause)
    assert.equal(12, slept)
    assert.equal("me", assert(lock.holder(c, WHERE)).user)
    assert.equal("released", h:release())
  end)

  it("names an object it cannot read instead of failing on it", function()
    assert(s3.put_object(c, BUCKET, lock.key(WHERE), { body = "not json" }))
    local h, msg, why = lock.acquire(c, WHERE, { identity = IDENT, no_wait = true })
    assert.is_nil(h)
    assert.equal("held", why)
    assert.matches("is held by an object lakehost cannot read (8 bytes, not a lakehost lock)", msg, 1, true)
    assert(s3.delete_object(c, BUCKET, lock.key(WHERE)))
  end)

  it("says when the bucket does not exist", function()
    local where = { bucket = "no-such-lock-bucket", app = "locked", stage = "dev", account = "1", region = "us-east-1" }
    local h, msg, why = lock.acquire(c, where, { identity = IDENT })
    assert.is_nil(h)
    assert.equal("nobucket", why)
    assert.matches("the bucket no-such-lock-bucket does not exist", msg, 1, true)
    local said = {}
    assert.is_false(lock.take(c, where, { identity = IDENT, optional = "first bootstrap",
      say = function(l) said[#said + 1] = l end }))
    assert.matches("going on without it (first bootstrap)", said[1], 1, true)
    local _, err = lock.take(c, where, { identity = IDENT })
    assert.equal("failed", err.kind)
  end)

  it("releases what a guarded function took, when it returns and when it raises", function()
    local said = {}
    local function say(l) said[#said + 1] = l end
    local f = lock.guarded(function(fail)
      local h = assert(lock.take(c, WHERE, { identity = IDENT, no_wait = true }))
      assert.equal(h.token, assert(lock.holder(c, WHERE)).token)
      if fail then error(require("lake.errors").failure("boom"), 0) end
      return "done", 2
    end, say)
    local a, b = f(false)
    assert.equal("done", a)
    assert.equal(2, b)
    assert.is_false(lock.holder(c, WHERE))
    local ok, err = pcall(f, true)
    assert.is_false(ok)
    assert.equal("boom", err.msg)
    assert.is_false(lock.holder(c, WHERE))
    -- a lock broken while the function ran is reported, not deleted again
    local g = lock.guarded(function()
      assert(lock.take(c, WHERE, { identity = IDENT, no_wait = true }))
      assert(lock.delete(c, WHERE, assert(lock.holder(c, WHERE)).etag))
      return true
    end, say)
    assert.is_true(g())
    assert.same({ "the lock s3://lock-spec-bucket/locks/locked-dev-123456789012-us-east-1.json was broken "
      .. "while this command ran" }, said)
    -- release_all (the interrupt path) empties what is held
    local h = assert(lock.take(c, WHERE, { identity = IDENT, no_wait = true }))
    local results = lock.release_all()
    assert.equal(1, #results)
    assert.equal(h, results[1].handle)
    assert.equal("released", results[1].status)
    assert.same({}, lock.release_all())
  end)
end)

describe("deploys that run at once #integration", function()
  local server, dir

  local WHERE = { bucket = ASSETS, app = "locked", stage = "dev", account = "123456789012", region = "us-east-1" }

  setup(function()
    server = moto.start()
    dir = util.tmpdir("lakehost-lock-spec-")
  end)

  teardown(function()
    if server then server.stop() end
    fs.remove_tree(dir)
  end)

  it("bootstraps without a lock the first time (no bucket to hold it yet), with one afterwards", function()
    local _, err, code = run(server, { APP, "bootstrap" })
    assert.equal(0, code, err)
    assert.matches("the bucket lakehost-assets-123456789012-us-east-1 does not exist; going on without it "
      .. "(first bootstrap: the bucket that holds the lock is made now)", err, 1, true)
    _, err, code = run(server, { APP, "bootstrap" })
    assert.equal(0, code, err)
    assert.is_nil(err:find("without it", 1, true))
    assert.is_false(lock.holder(server.client(), WHERE))
  end)

  it("deploys one after the other: the asset is uploaded once and the second finds nothing to do", function()
    -- The first deploy goes through a gate that holds its first change set:
    -- it has the lock (and uploaded the asset) and keeps them while the
    -- second starts. No timing: the second must find the lock held.
    local gate = dir .. "/gate"
    local proxy = assert(proc.spawn { argv = { "python3", "spec/support/gateproxy.py", server.url,
      "Action=CreateChangeSet", gate }, stdout = "capture", stderr = "null" })
    local port = tonumber(assert(proxy:read_line("stdout", 10)):match("^PORT (%d+)"))
    local a = spawn(server, { APP, "deploy", "--out", dir .. "/a", "--stats" },
      { AWS_ENDPOINT_URL = "http://127.0.0.1:" .. port })
    local held = proxy:read_line("stdout", 120)
    local b = spawn(server, { APP, "deploy", "--out", dir .. "/b", "--stats" })
    local waiting = lock_line(b)
    local b_running = b:poll() == nil
    assert(fs.write(gate, ""))
    local ra, rb = assert(a:wait(300)), assert(b:wait(300))
    proxy:close()
    assert.equal("HELD", held, ra.stderr)
    assert.matches(("^waiting for the lock held by [^@ ]+@[^ ]+ %%(pid %d, deploy, since %%d+%%-%%d+%%-%%d+T[%%d:]+Z%%)$")
      :format(a:pid()), waiting)
    assert.is_true(b_running)
    assert.equal(0, ra.code, ra.stderr)
    assert.equal(0, rb.code, rb.stderr)
    assert.is_nil(ra.stderr:find("waiting for the lock", 1, true))
    -- the first created both stacks; the second, after it, found both unchanged
    for _, name in ipairs(STACKS) do
      assert.matches(name:gsub("%-", "%%-") .. "%s+created", ra.stderr)
      assert.matches(name:gsub("%-", "%%-") .. "%s+unchanged", rb.stderr)
    end
    -- the asset went up once: one PutObject in all, and one version in the bucket
    assert.matches("s3:PutObject%s+1\n", ra.stderr)
    assert.is_nil(rb.stderr:find("s3:PutObject", 1, true))
    assert.matches("assets: 0 uploaded (0 bytes), 1 already there", rb.stderr, 1, true)
    local manifest = json.decode(assert(fs.read(dir .. "/a/manifest.json")))
    assert.equal(1, versions(server.client(), ASSETS, manifest.assets[1].key))
    -- and the lock is gone
    assert.is_false(lock.holder(server.client(), WHERE))
  end)

  it("waits while the lock is held and goes on once it is released", function()
    local held = assert(lock.acquire(server.client(), WHERE, { identity = IDENT, no_wait = true,
      clock = function() return 1767323045 end }))
    local child = spawn(server, { APP, "deploy", "--out", dir .. "/a" })
    assert.equal("waiting for the lock held by spec@spec-host (pid 4242, deploy, since 2026-01-02T03:04:05Z)",
      lock_line(child))
    assert.is_nil(child:poll())
    assert.equal("released", held:release())
    local res = assert(child:wait(120))
    assert.equal(0, res.code, res.stderr)
    assert.matches("locked%-storage%-stack%-dev%s+unchanged", res.stderr)
    assert.matches("locked%-shared%-stack%-dev%s+unchanged", res.stderr)
  end)

  it("fails at once with --no-wait, naming the holder; destroy too, deleting nothing", function()
    local held = assert(lock.acquire(server.client(), WHERE, { identity = IDENT, no_wait = true,
      clock = function() return 1767323045 end }))
    local _, err, code = run(server, { APP, "deploy", "--out", dir .. "/a", "--no-wait" })
    assert.equal(1, code, err)
    assert.matches("lakehost: the lock for deploy in s3://lakehost-assets-123456789012-us-east-1/"
      .. "locks/locked-dev-123456789012-us-east-1.json is held by spec@spec-host (pid 4242, deploy, "
      .. "since 2026-01-02T03:04:05Z) (--no-wait); if that process is gone, `lakehost " .. APP
      .. " unlock` breaks it", err, 1, true)
    assert.is_nil(err:find("assets:", 1, true))
    _, err, code = run(server, { APP, "destroy", "--out", dir .. "/a", "--yes", "--no-wait" })
    assert.equal(1, code, err)
    assert.matches("is held by spec@spec-host (pid 4242", err, 1, true)
    for _, name in ipairs(STACKS) do
      assert.equal("CREATE_COMPLETE", assert(cfn.describe_stack(server.client(), name)).StackStatus)
    end
    -- the refused commands left the holder's lock alone
    assert.equal(held.token, assert(lock.holder(server.client(), WHERE)).token)
    assert.equal("released", held:release())
  end)

  it("unlock breaks a lock a killed process left, after showing it; then deploy goes on", function()
    -- what a deploy killed with SIGKILL leaves behind
    local stale = { app = "locked", stage = "dev", account = "123456789012", region = "us-east-1", user = "ci",
      host = "build-7", pid = 31337, command = "deploy", cwd = "/builds/lake", since = "2026-01-02T03:04:05Z",
      token = "0123456789abcdef0123456789abcdef", version = 1 }
    assert(s3.put_object(server.client(), ASSETS, lock.key(WHERE), { body = json.encode(stale) }))
    local _, err, code = run(server, { APP, "deploy", "--out", dir .. "/a", "--no-wait" })
    assert.equal(1, code, err)
    assert.matches("held by ci@build-7 (pid 31337, deploy, since 2026-01-02T03:04:05Z)", err, 1, true)
    -- no terminal and no --yes: refused, bad usage
    _, err, code = run(server, { APP, "unlock" })
    assert.equal(2, code, err)
    assert.matches("is held by ci@build-7 (pid 31337, deploy, since 2026-01-02T03:04:05Z)\n  in /builds/lake\n",
      err, 1, true)
    assert.matches("pass --yes to break the lock when not run interactively", err, 1, true)
    assert.is_table(lock.holder(server.client(), WHERE))
    _, err, code = run(server, { APP, "unlock", "--yes" })
    assert.equal(0, code, err)
    assert.matches("lock broken (it was held by ci@build-7 (pid 31337, deploy, since 2026-01-02T03:04:05Z))",
      err, 1, true)
    assert.is_false(lock.holder(server.client(), WHERE))
    _, err, code = run(server, { APP, "deploy", "--out", dir .. "/a", "--no-wait" })
    assert.equal(0, code, err)
    assert.matches("locked%-shared%-stack%-dev%s+unchanged", err)
    -- with no lock there is nothing to break
    _, err, code = run(server, { APP, "unlock" })
    assert.equal(0, code, err)
    assert.matches("no lock: s3://lakehost-assets-123456789012-us-east-1/locks/locked-dev-123456789012-us-east-1.json "
      .. "is not there; nothing to do", err, 1, true)
  end)

  it("releases the lock when the deploy fails", function()
    local _, err, code = run(server, { "spec/fixtures/apps/broken/app.lua", "deploy", "--out", dir .. "/broken",
      "--verbose" })
    assert.equal(1, code, err)
    assert.matches("broken%-stack%-dev%s+failed", err)
    -- (the app has no assets: its only S3 writes are the lock's)
    assert.matches("aws: s3 PutObject %-> 200.*broken%-stack%-dev%s+failed.*aws: s3 DeleteObject %-> 204", err)
    assert.is_false(lock.holder(server.client(), { bucket = ASSETS, app = "broken", account = "123456789012",
      region = "us-east-1" }))
  end)

  it("destroys under the lock and releases it", function()
    local _, err, code = run(server, { APP, "destroy", "--out", dir .. "/a", "--yes", "--verbose" })
    assert.equal(0, code, err)
    assert.matches("aws: s3 PutObject %-> 200.*cloudformation DeleteStack.*aws: s3 DeleteObject %-> 204", err)
    for _, name in ipairs(STACKS) do assert.is_false(cfn.describe_stack(server.client(), name)) end
    assert.is_false(lock.holder(server.client(), WHERE))
  end)
end)
