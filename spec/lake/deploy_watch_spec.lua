-- A deploy you can leave running: progress lines, a bounded wait for a
-- silent endpoint, clean interrupts, and the states a killed deploy leaves.
-- The unit part drives lake.deploy.watch and the scheduler with a fake
-- clock; the integration part deploys to moto on loopback (signatures
-- checked) through spec/support/faultproxy.py and signals a real process.
local deploy = require("lake.deploy")
local watch = require("lake.deploy.watch")
local util = require("spec.support.util")
local moto = require("spec.support.moto")

local function clock()
  local t = { now = 1000 }
  function t.fn() return t.now end
  return t
end

describe("lake.deploy.watch #unit", function()
  it("writes durations as a person reads them", function()
    assert.equal("0s", watch.duration(0))
    assert.equal("45s", watch.duration(45.2))
    assert.equal("3m05s", watch.duration(185))
    assert.equal("1h02m", watch.duration(3725))
  end)

  it("prints each stack in flight, its status, for how long and the last event, every interval", function()
    local c, lines = clock(), {}
    local w = watch.new { now = c.fn, out = function(l) lines[#lines + 1] = l end, timeout = 300 }
    w:begin("lake-b-dev", "UPDATE_IN_PROGRESS")
    w:begin("lake-a-dev", "CREATE_IN_PROGRESS")
    w:update("lake-a-dev", nil, "12:00:01 Raw CREATE_IN_PROGRESS")
    w:tick()
    assert.same({}, lines) -- nothing is due yet
    c.now = c.now + 25
    w:tick()
    assert.same({
      "[25s] 2 stacks in progress:",
      "  lake-a-dev                                   CREATE_IN_PROGRESS for 25s, last event 12:00:01 Raw CREATE_IN_PROGRESS",
      "  lake-b-dev                                   UPDATE_IN_PROGRESS for 25s",
    }, lines)
    c.now = c.now + 10
    w:tick()
    assert.equal(3, #lines)
    w:finish("lake-a-dev")
    w:finish("lake-b-dev")
    c.now = c.now + 60
    w:tick()
    assert.equal(3, #lines) -- nothing in flight: nothing to say
  end)

  it("stops on silence from the endpoint, counted from the last answer", function()
    local c = clock()
    local answered = c.now
    local w = watch.new { now = c.fn, out = function() end, timeout = 10, last_answer = function() return answered end }
    c.now = c.now + 9
    assert.is_nil(w:stop_reason())
    answered = c.now
    c.now = c.now + 9
    assert.is_nil(w:stop_reason())
    c.now = c.now + 2
    assert.equal("silence", w:stop_reason())
    w:begin("lake-a-dev", "CREATE_IN_PROGRESS")
    assert.equal("no answer from the AWS endpoint for 11s: deploy stopped; still running on the CloudFormation side: "
      .. "lake-a-dev (CREATE_IN_PROGRESS). They go on without lakehost: run `lakehost app.lua deploy` again to wait "
      .. "for them and converge", w:stopped_message("silence", "deploy", "lakehost app.lua deploy"))
  end)

  it("tells one interrupt (settle) from two (now), and says the first once", function()
    local c, lines, n = clock(), {}, 0
    local w = watch.new { now = c.fn, out = function(l) lines[#lines + 1] = l end, interrupts = function() return n end }
    w:begin("lake-a-dev", "UPDATE_IN_PROGRESS")
    n = 1
    assert.equal("settle", w:stop_reason())
    w:tick()
    w:tick()
    assert.same({ "interrupted: starting no new stack operations; waiting for what runs on CloudFormation to settle: "
      .. "lake-a-dev (UPDATE_IN_PROGRESS) (Ctrl-C again to exit now)" }, lines)
    n = 2
    assert.equal("now", w:stop_reason())
    assert.equal("interrupted: deploy stopped; still running on the CloudFormation side: lake-a-dev (UPDATE_IN_PROGRESS). "
      .. "They go on without lakehost: run `x` again to wait for them and converge", w:stopped_message("now", "deploy", "x"))
  end)

  it("says failed polls at once, then at most once an interval per stack", function()
    local c, lines = clock(), {}
    local w = watch.new { now = c.fn, out = function(l) lines[#lines + 1] = l end, timeout = 50 }
    w:trouble("a", "reading its status failed: timeout")
    c.now = c.now + 5
    w:trouble("a", "reading its status failed: timeout")
    w:trouble("b", "reading events failed: 503")
    assert.same({
      "  a: reading its status failed: timeout; retrying (no answer for 0s, giving up after 50s)",
      "  b: reading events failed: 503; retrying (no answer for 5s, giving up after 50s)",
    }, lines)
    c.now = c.now + 10
    w:trouble("a", "reading its status failed: timeout")
    assert.equal(3, #lines)
  end)
end)

describe("lake.deploy.schedule stopping #unit", function()
  local ENTRIES = {
    { name = "a", dependencies = {} }, { name = "b", dependencies = {} }, { name = "c", dependencies = { "a" } },
  }

  local function run(stop_after, reason)
    local t, steps, started = 0, 0, {}
    local results, failed, stopped = deploy.schedule(ENTRIES, function(e)
      started[#started + 1] = e.name
      for _ = 1, 3 do coroutine.yield(1) end
      return { ok = true, status = "done" }
    end, { concurrency = 2, now = function() return t end, sleep = function(s) t = t + s end,
      stop = function()
        steps = steps + 1
        if steps > stop_after then return reason end
      end })
    return results, failed, stopped, started
  end

  it("settle: lets what runs finish and starts nothing new", function()
    local results, failed, stopped, started = run(1, "settle")
    assert.equal("settle", stopped)
    assert.same({ "a", "b" }, started)
    assert.equal("done", results.a.status)
    assert.equal("done", results.b.status)
    assert.equal("not started", results.c.status)
    assert.equal(1, failed)
  end)

  it("now: abandons what runs at once", function()
    local results, failed, stopped = run(1, "now")
    assert.equal("now", stopped)
    assert.equal("stopped", results.a.status)
    assert.equal("stopped", results.b.status)
    assert.equal("not started", results.c.status)
    assert.equal(3, failed)
  end)
end)

---------------------------------------------------------------------------

local SMALL = "spec/fixtures/apps/small/app.lua"
local STACKS = { "small-storage-stack-dev", "small-shared-stack-dev" }

local function start_proxy(server, env)
  local proc = require("host.proc")
  local proxy = assert(proc.spawn { argv = { "python3", "spec/support/faultproxy.py", server.url, "0", "1" },
    env_add = env, stdout = "capture", stderr = "null" })
  return proxy, "http://127.0.0.1:" .. assert(proxy:read_line("stdout", 10)):match("^PORT (%d+)")
end

local function assert_converged(server, out)
  local _, err, code = util.lakehost({ SMALL, "deploy", "--from", out }, { env = server.env_with() })
  assert.equal(0, code, err)
  local cfn = require("lake.aws.cloudformation")
  for _, name in ipairs(STACKS) do
    local st = assert(cfn.describe_stack(server.client(), name))
    assert.matches("_COMPLETE$", st.StackStatus)
    assert.not_matches("ROLLBACK", st.StackStatus)
  end
  return err
end

describe("a deploy left running #integration", function()
  local server, out

  before_each(function()
    server = moto.start()
    out = util.tmpdir("lakehost-watch-spec-")
    local _, err, code = util.lakehost({ SMALL, "bootstrap" }, { env = server.env_with() })
    assert.equal(0, code, err)
    _, err, code = util.lakehost({ SMALL, "synth", "--out", out }, { env = server.env_with() })
    assert.equal(0, code, err)
  end)

  after_each(function()
    if server then server.stop() end
    require("host.fs").remove_tree(out)
  end)

  it("stops with the stacks in flight named when the endpoint goes silent, and a rerun converges", function()
    local proxy, url = start_proxy(server, { FAULTPROXY_HANG_AFTER = "ExecuteChangeSet" })
    local proc = require("host.proc")
    local t0 = proc.monotime()
    local _, err, code = util.lakehost({ SMALL, "deploy", "--from", out, "--timeout", "6" },
      { env = server.env_with({ AWS_ENDPOINT_URL = url }) })
    local took = proc.monotime() - t0
    proxy:close()
    assert.equal(1, code, err)
    -- the silence was said while it lasted, then the stop names what runs and what to do
    assert.matches("small%-storage%-stack%-dev: reading [%a ]+ failed: http: Timeout was reached [^\n]*; "
      .. "retrying %(no answer for %d+s, giving up after 6s%)", err)
    assert.matches("%[%d+s%] 1 stack in progress:\n  small%-storage%-stack%-dev%s+CREATE_IN_PROGRESS for %d+s", err)
    assert.matches("lakehost: no answer from " .. url:gsub("%p", "%%%0") .. " for %d+s: deploy stopped; still running on "
      .. "the CloudFormation side: small%-storage%-stack%-dev %(CREATE_IN_PROGRESS%)%. They go on without lakehost: "
      .. "run `lakehost spec/fixtures/apps/small/app.lua deploy` again to wait for them and converge", err)
    assert.is_true(took < 60, ("took %.1f s"):format(took)) -- bounded: 6 s of silence, not an hour
    assert_converged(server, out)
  end)

  it("--json: one document on stdout (stacks, statuses, changes, outputs), the progress on stderr", function()
    local json = require("host.json")
    local out1, err, code = util.lakehost({ SMALL, "deploy", "--from", out, "--json" }, { env = server.env_with() })
    assert.equal(0, code, err)
    local doc = assert(json.decode(out1), out1)
    assert.is_true(doc.ok)
    assert.equal(2, #doc.stacks)
    assert.same({ "small-storage-stack-dev", "created" }, { doc.stacks[1].name, doc.stacks[1].status })
    assert.same({ "small-shared-stack-dev", "created" }, { doc.stacks[2].name, doc.stacks[2].status })
    assert.equal("Raw", doc.stacks[1].changes.added[1].id)
    assert.equal("AWS::S3::Bucket", doc.stacks[1].changes.added[1].type)
    assert.matches("assets: 0 uploaded", err)
    assert.matches("%+ Raw", err) -- the summary went to stderr with the rest
    local out2
    out2, err, code = util.lakehost({ SMALL, "deploy", "--from", out, "--json" }, { env = server.env_with() })
    assert.equal(0, code, err)
    doc = assert(json.decode(out2), out2)
    assert.same({ "unchanged", "unchanged" }, { doc.stacks[1].status, doc.stacks[2].status })
    -- python reads it too
    local f = assert(io.popen("python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d[\"stacks\"]))' > "
      .. out .. "/n.txt", "w"))
    f:write(out2)
    f:close()
    assert.equal("2\n", require("host.fs").read(out .. "/n.txt"))
  end)

  it("diff: Ctrl-C between two stacks exits 130 and leaves no temporary folder", function()
    local proc = require("host.proc")
    local fs = require("host.fs")
    local proxy, url = start_proxy(server, { FAULTPROXY_DELAY = "1.5" })
    local tmp = out .. "/tmp"
    assert(fs.mkdir_p(tmp))
    local env = server.env_with({ AWS_ENDPOINT_URL = url, TMPDIR = tmp })
    local child = assert(proc.spawn { argv = { util.bin, SMALL, "diff" }, env_add = env,
      stdout = "null", stderr = "capture" })
    proc.sleep(0.7) -- synthesized; the first GetTemplate is on its way
    assert.is_true(child:kill("INT"))
    local res = assert(child:wait(30))
    proxy:close()
    assert.equal(130, res.code, res.stderr)
    assert.equal("lakehost: diff: interrupted\n", res.stderr)
    assert.same({}, assert(fs.list(tmp)))
  end)

  it("cleans up a stack left in REVIEW_IN_PROGRESS by a deploy killed before it executed its change set", function()
    local cfn = require("lake.aws.cloudformation")
    local c = server.client()
    assert(cfn.create_change_set(c, { stack = STACKS[1], name = "killed", type = "CREATE",
      body = '{"Resources":{"T":{"Type":"AWS::SNS::Topic"}}}' }))
    assert.equal("REVIEW_IN_PROGRESS", assert(cfn.describe_stack(c, STACKS[1])).StackStatus)
    local err = assert_converged(server, out)
    assert.matches("small%-storage%-stack%-dev: REVIEW_IN_PROGRESS %(a change set never executed, it holds no "
      .. "resources%): deleting the empty stack before creating it", err)
    local res = assert(cfn.stack_resources(c, STACKS[1]))
    assert.equal("AWS::S3::Bucket", res[1].type) -- the real template, not the stray change set's
  end)

  local function spawn_deploy(url)
    local proc = require("host.proc")
    local env = server.env_with({ AWS_ENDPOINT_URL = url })
    return assert(proc.spawn { argv = { util.bin, SMALL, "deploy", "--from", out }, env_add = env,
      stdout = "capture", stderr = "file:" .. out .. "/stderr.txt" })
  end

  -- Waits until the deploy prints an event of the first stack: its change
  -- set executed on the CloudFormation side.
  local function wait_first_stack(child)
    while true do
      local line, why = child:read_line("stdout", 60)
      assert(line, "no event line from deploy: " .. tostring(why))
      if line:find(STACKS[1], 1, true) then return end
    end
  end

  it("Ctrl-C once: lets the running stack settle, starts nothing new, exits 130; a rerun converges", function()
    local proxy, url = start_proxy(server, { FAULTPROXY_DELAY = "0.25" })
    local child = spawn_deploy(url)
    wait_first_stack(child)
    assert.is_true(child:kill("INT"))
    local res = child:wait(120)
    proxy:close()
    local err = assert(require("host.fs").read(out .. "/stderr.txt"))
    assert.equal(130, res.code, err)
    -- (moto finishes a stack in one poll: whether it is still named as running depends on the moment)
    assert.matches("interrupted: starting no new stack operations[^\n]*%(Ctrl%-C again to exit now%)", err)
    assert.matches("small%-storage%-stack%-dev%s+created", err)
    assert.matches("small%-shared%-stack%-dev%s+not started", err)
    assert.matches("lakehost: interrupted: deploy stopped after what was running settled; run "
      .. "`lakehost spec/fixtures/apps/small/app.lua deploy` again to finish", err)
    local cfn = require("lake.aws.cloudformation")
    assert.is_false(cfn.describe_stack(server.client(), STACKS[2])) -- never started
    assert_converged(server, out)
  end)

  it("Ctrl-C twice: exits at once naming what still runs; a rerun converges", function()
    -- the endpoint stops answering once the first change set executes: the
    -- deploy sits in a status poll (15 s per try by default) when Ctrl-C comes
    local stats = out .. "/proxy.json"
    local proc = require("host.proc")
    local proxy = assert(proc.spawn { argv = { "python3", "spec/support/faultproxy.py", server.url, "0", "1", stats },
      env_add = { FAULTPROXY_HANG_AFTER = "ExecuteChangeSet" }, stdout = "capture", stderr = "null" })
    local url = "http://127.0.0.1:" .. assert(proxy:read_line("stdout", 10)):match("^PORT (%d+)")
    local child = spawn_deploy(url)
    local json = require("host.json")
    repeat
      proc.sleep(0.1)
      local text = require("host.fs").read(stats)
      local st = text and json.decode(text)
    until st and (st.unanswered or 0) >= 1
    proc.sleep(0.3)
    assert.is_true(child:kill("INT"))
    proc.sleep(0.2)
    local t0 = proc.monotime()
    assert.is_true(child:kill("INT"))
    local res = child:wait(60)
    local took = proc.monotime() - t0
    proxy:close()
    local err = assert(require("host.fs").read(out .. "/stderr.txt"))
    assert(res, "deploy still runs 60 s after the second Ctrl-C:\n" .. err)
    assert.equal(130, res.code, err)
    -- the poll in flight is aborted, not waited for (curl looks about once a second)
    assert.is_true(took < 5, ("took %.2f s\n%s"):format(took, require("host.fs").read(out .. "/stderr.txt")))
    assert.matches("lakehost: interrupted: deploy stopped; still running on the CloudFormation side: "
      .. "small%-storage%-stack%-dev %(CREATE_IN_PROGRESS%)%. They go on without lakehost", err)
    assert_converged(server, out)
  end)
end)
