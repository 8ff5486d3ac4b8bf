-- `lakehost app.lua watch`: the rules of lake.watcher and the command's
-- lines (unit), then the command itself against moto on loopback
-- (signatures checked): a child process on a copy of the example app that
-- deploys, redeploys after a saved step, shows a config error with its
-- file:line and keeps the deployment, redeploys once it is fixed, and stops
-- on SIGINT with exit 0 and no lock left. Every wait is for a line, with a
-- generous deadline: nothing depends on an idle machine.
local fs = require("host.fs")
local proc = require("host.proc")
local watcher = require("lake.watcher")
local watch_cmd = require("lake.commands.watch")
local util = require("spec.support.util")
local moto = require("spec.support.moto")

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function append(path, text)
  local f = assert(io.open(path, "a"))
  f:write(text)
  f:close()
end

describe("lake.watcher #unit", function()
  it("counts app.lua and the files under pipelines/, standalone/ and shared/", function()
    for _, rel in ipairs({ "app.lua", "pipelines/p/config.yml", "pipelines/p/steps/s/src/index.py",
      "standalone/extra.lua", "shared/manifest.json", "shared/example/src/x.py", "pipelines" }) do
      assert.is_true(watcher.counts(rel), rel)
    end
  end)

  it("ignores lake.out, dot-files and folders, caches, tests and editor leftovers", function()
    for _, rel in ipairs({ "lake.out/manifest.json", ".lake-cache/x", "README.md", "bench/x.lua",
      "pipelines/p/.config.yml.swp", "pipelines/p/config.yml~", "pipelines/p/4913", "pipelines/p/#config.yml#",
      "pipelines/.git/HEAD", "pipelines/p/steps/s/src/__pycache__/index.cpython-311.pyc", "shared/x.pyc",
      "pipelines/p/tests/test_x.py", "pipelines/lake.out/x", "" }) do
      assert.is_false(watcher.counts(rel), rel)
    end
  end)

  for _, poll in ipairs({ false, true }) do
    it(("coalesces a burst of saves into one batch of relative paths (%s)"):format(poll and "poll" or "inotify"),
      function()
        local dir = util.tmpdir("lakehost-watcher-")
        assert(fs.mkdir_p(dir .. "/pipelines/p/steps/s/src"))
        assert(fs.mkdir_p(dir .. "/lake.out"))
        write(dir .. "/app.lua", "return 1")
        local w = assert(watcher.new(dir, { poll = poll, interval = 0.05, quiet = 0.5 }))
        assert.equal(poll and "poll" or "inotify", w.how)
        assert.same({}, w:next(0.05))
        for i = 1, 5 do write(dir .. "/pipelines/p/steps/s/src/index.py", ("# %d\n"):format(i)) end
        write(dir .. "/pipelines/p/.index.py.swp", "x")
        write(dir .. "/lake.out/manifest.json", "{}")
        write(dir .. "/app.lua", "return 2")
        -- the batch holds both files: a burst may reach the watcher in more
        -- than one read, but not in more than one batch while it keeps coming
        local got, deadline = {}, proc.monotime() + 15
        repeat
          for _, p in ipairs(assert(w:next(5))) do got[#got + 1] = p end
        until #got >= 2 or proc.monotime() > deadline
        table.sort(got)
        assert.same({ "app.lua", "pipelines/p/steps/s/src/index.py" }, got)
        w:close()
        fs.remove_tree(dir)
      end)
  end
end)

describe("watch command #unit", function()
  it("names up to three files, then how many more", function()
    assert.equal("a", watch_cmd.describe({ "a" }))
    assert.equal("a, b, c (+2 more)", watch_cmd.describe({ "a", "b", "c", "d", "e" }))
  end)

  it("says how an update ended", function()
    local errors = require("lake.errors")
    assert.equal("#0 initial: deployed in 1.50 s", watch_cmd.line(0, "initial", 1.5))
    assert.equal("#2 x.yml: not deployed (config error; the previous deployment stays) in 0.10 s",
      watch_cmd.line(2, "x.yml", 0.1, errors.input("1 problem found")))
    assert.equal("#3 a.py: failed in 2.00 s: boom", watch_cmd.line(3, "a.py", 2, errors.failure("boom")))
  end)

  it("tells the truth in --help: every option listed, nothing else", function()
    local listed = {}
    for name in watch_cmd.help:gmatch("\n  %-%-([%w-]+)") do listed[name:gsub("-", "_")] = true end
    for k in pairs(watch_cmd.options) do assert.is_true(listed[k], "--" .. k .. " missing from the help") end
    for k in pairs(listed) do assert.is_not_nil(watch_cmd.options[k], "--" .. k .. " is no option") end
  end)

  it("refuses a prd stage without --force, and bad numbers (exit 2)", function()
    local _, err, code = util.lakehost({ "app.lua", "watch" }, { env = { ENVIRONMENT_STAGE = "prd" } })
    assert.equal(2, code)
    assert.matches("the stage is prd", err, 1, true)
    _, err, code = util.lakehost({ "app.lua", "watch", "--quiet-period", "-1" })
    assert.equal(2, code)
    assert.matches("--quiet-period expects a number of seconds > 0", err, 1, true)
  end)
end)

describe("watch against moto #integration", function()
  local server, dir, child, log = nil, nil, nil, {}
  local BUCKET = "lakehost-assets-123456789012-us-east-1"

  local function env()
    local e = server.env_with { LAKEHOST_CACHE_DIR = dir .. "/.cache" }
    for k, v in pairs(util.NO_METADATA) do e[k] = v end
    return e
  end

  -- The next line matching pattern (plain text), within timeout seconds.
  local function expect(pattern, timeout)
    local deadline = proc.monotime() + (timeout or 120)
    while true do
      local left = deadline - proc.monotime()
      assert(left > 0, ("no line with %q in time; output so far:\n%s"):format(pattern, table.concat(log, "\n")))
      local line, why = child:read_line("stdout", left)
      assert(line, ("%s while waiting for %q; output:\n%s"):format(tostring(why), pattern, table.concat(log, "\n")))
      log[#log + 1] = line
      if line:find(pattern, 1, true) then return line end
    end
  end

  local function objects(prefix)
    local s3 = require("lake.aws.s3")
    return assert(s3.list_objects(server.client(), BUCKET, prefix))
  end

  setup(function()
    server = moto.start()
    dir = util.tmpdir("lakehost-watch-cmd-")
    local _, err, code = util.lakehost({ util.cwd() .. "/app.lua", "bootstrap" }, { env = env(), cwd = dir })
    assert(code == 0, err)
  end)

  teardown(function()
    if child then child:close() end
    if server then server.stop() end
    if dir then fs.remove_tree(dir) end
  end)

  for _, how in ipairs({ "inotify", "poll" }) do
    it(("deploys, follows saves and config errors, and stops on SIGINT (%s)"):format(how), function()
      local app = dir .. "/" .. how
      assert(fs.mkdir_p(app))
      assert(os.execute(("cp -R app.lua pipelines shared standalone %s/"):format(util.shquote(app))))
      log = {}
      local e = env()
      if how == "poll" then e.LAKEHOST_WATCH_POLL = "1" end
      local bin = util.bin:sub(1, 1) == "/" and util.bin or (util.cwd() .. "/" .. util.bin)
      child = assert(proc.spawn { argv = { bin, "app.lua", "watch", "--require-approval", "never" }, cwd = app,
        env_add = e, stdout = "capture", stderr = "stdout" })
      expect(how == "poll" and "(poll: LAKEHOST_WATCH_POLL)" or "(inotify)", 60)
      expect("#0 initial: deployed in", 300)
      local before = #objects(nil)

      local step = "pipelines/pipeline_example/steps/route_file/src/index.py"
      append(app .. "/" .. step, "\n# saved under watch (" .. how .. ")\n")
      local from = #log
      expect("#1 " .. step .. ": deployed in", 180)
      assert.is_true(#objects(nil) > before, "the changed module was uploaded")
      -- the code went to Lambda directly, not through a change set
      local update = table.concat(log, "\n", from + 1)
      assert.matches("hotswapped lake-pipeline-example-stack-dev", update, 1, true)
      assert.is_nil(update:find("lake%-pipeline%-example%-stack%-dev: %d+ to add, %d+ to modify"), update)

      local config = app .. "/pipelines/pipeline_example/config.yml"
      local good = assert(fs.read(config))
      local bad, n = good:gsub("timeout_seconds: 60", "timeout_seconds: sixty", 1)
      assert.equal(1, n)
      write(config, bad)
      local problem = expect("config.yml:", 120)
      assert.matches("pipelines/pipeline_example/config.yml:%d+: steps%.RouteFile%.properties%.timeout_seconds", problem)
      expect("#2 pipelines/pipeline_example/config.yml: not deployed (config error; the previous deployment stays)", 120)

      write(config, good)
      expect("#3 pipelines/pipeline_example/config.yml: deployed in", 180)

      -- app.lua itself is read again: a syntax error there is shown the same way
      local app_text = assert(fs.read(app .. "/app.lua"))
      write(app .. "/app.lua", app_text .. "\nlocal = 1\n")
      assert.matches("^lakehost: app%.lua:%d+: ", expect("app.lua:", 120))
      expect("#4 app.lua: not deployed (config error; the previous deployment stays)", 120)
      write(app .. "/app.lua", app_text)
      expect("#5 app.lua: deployed in", 180)

      assert.is_true(child:kill("INT"))
      local res = assert(child:wait(120))
      for l in (res.stdout or ""):gmatch("[^\n]+") do log[#log + 1] = l end
      child = nil
      assert.equal(0, res.code, table.concat(log, "\n"))
      assert.matches("watch: stopped", table.concat(log, "\n"), 1, true)
      assert.same({}, objects("locks"), "no deploy lock left") -- (a prefix with "/" fails the signature check)
    end)
  end

  it("stops on SIGINT during an update: what runs settles, the lock is released, exit 0", function()
    -- the first deploy of a fresh stage goes through a gate that holds its
    -- first change set: the lock is held there, no timing involved
    local lock = require("lake.lock")
    local app = dir .. "/interrupted"
    assert(fs.mkdir_p(app))
    assert(os.execute(("cp -R app.lua pipelines shared standalone %s/"):format(util.shquote(app))))
    local gate = app .. "/gate"
    local proxy = assert(proc.spawn { argv = { "python3", "spec/support/gateproxy.py", server.url,
      "Action=CreateChangeSet", gate }, stdout = "capture", stderr = "null" })
    local port = tonumber(assert(proxy:read_line("stdout", 10)):match("^PORT (%d+)"))
    local e = env()
    e.AWS_ENDPOINT_URL, e.ENVIRONMENT_STAGE = "http://127.0.0.1:" .. port, "test"
    local bin = util.bin:sub(1, 1) == "/" and util.bin or (util.cwd() .. "/" .. util.bin)
    log = {}
    child = assert(proc.spawn { argv = { bin, "app.lua", "watch", "--require-approval", "never" }, cwd = app,
      env_add = e, stdout = "capture", stderr = "stdout" })
    local held = proxy:read_line("stdout", 120)
    assert.equal("HELD", held)
    local where = { bucket = BUCKET, app = "example-lake", stage = "test", account = "123456789012",
      region = "us-east-1" }
    assert.is_table(lock.holder(server.client(), where), "the update holds the lock")
    assert.is_true(child:kill("INT"))
    assert(fs.write(gate, ""))
    local res = assert(child:wait(120))
    proxy:close()
    child = nil
    assert.equal(0, res.code, res.stdout)
    assert.matches("#0 initial: interrupted after", res.stdout, 1, true)
    assert.matches("watch: stopped", res.stdout, 1, true)
    assert.is_false(lock.holder(server.client(), where))
  end)
end)
