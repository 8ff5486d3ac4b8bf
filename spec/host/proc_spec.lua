local fs = require("host.fs")
local proc = require("host.proc")
local util = require("spec.support.util")

-- State letter of /proc/<pid>/stat, or nil when the process is gone.
local function state(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s:match("^%d+ %b() (%a)")
end

-- True once pid is dead (gone, or a zombie of some other parent) within 2 s.
local function dies(pid)
  local limit = proc.monotime() + 2
  repeat
    local st = state(pid)
    if st == nil or st == "Z" then return true end
    proc.sleep(0.02)
  until proc.monotime() > limit
  return false
end

local function run_ok(req)
  local res, err, code = proc.run(req)
  assert(res, tostring(err) .. " " .. tostring(code))
  return res
end

-- The fds open in this process, as the sorted kinds of what they are
-- (file, dir, other for pipes and sockets, ...), read here rather than by a
-- child: `ls` run through io.popen could list the pipe popen had not yet
-- closed. Files an earlier spec let go of are closed first, so the list
-- moves only with what the code under test holds.
local function open_fds()
  collectgarbage("collect")
  collectgarbage("collect")
  local out = {}
  for _, fd in ipairs(assert(fs.list("/proc/self/fd"))) do
    local st = fs.stat("/proc/self/fd/" .. fd)
    out[#out + 1] = st and st.type or "gone" -- gone: the listing's own
  end
  table.sort(out)
  return out
end

-- Pids of our children that are zombies (from /proc: no ps needed).
local function zombies()
  local p = assert(io.popen("ls /proc"))
  local names = {}
  for name in p:lines() do names[#names + 1] = name end
  p:close() -- reaps ls, which would otherwise count
  local me, z = tostring(proc.pid()), {}
  for _, name in ipairs(names) do
    local f = name:match("^%d+$") and io.open("/proc/" .. name .. "/stat", "r")
    if f then
      local st, ppid = (f:read("a") or ""):match("^%d+ %b() (%a) (%d+)")
      f:close()
      if ppid == me and st == "Z" then z[#z + 1] = name end
    end
  end
  return z
end

local tmpdir = util.tmpdir

local function rmtree(d) os.execute("rm -rf " .. util.shquote(d)) end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

describe("host.proc #unit", function()
  describe("run", function()
    it("reports exit codes 0, 1 and 42 as results", function()
      for _, c in ipairs({ 0, 1, 42 }) do
        local res = run_ok({ argv = { "sh", "-c", "exit " .. c } })
        assert.equal(c == 0, res.ok)
        assert.equal("exit", res.how)
        assert.equal(c, res.code)
        assert.is_false(res.timed_out)
        assert.is_false(res.truncated)
        assert.is_false(res.interrupted)
        assert.is_number(res.pid)
        assert.is_true(res.duration >= 0 and res.duration < 5)
      end
    end)

    it("reports death by signal with the signal number", function()
      local res = run_ok({ argv = { "sh", "-c", "kill -9 $$" } })
      assert.is_false(res.ok)
      assert.equal("signal", res.how)
      assert.equal(9, res.code)
    end)

    it("captures stdout and stderr separately", function()
      local res = run_ok({ argv = { "sh", "-c", "echo out; echo err >&2; echo out2" } })
      assert.equal("out\nout2\n", res.stdout)
      assert.equal("err\n", res.stderr)
    end)

    it("merges stderr into stdout in order", function()
      local res = run_ok({ argv = { "sh", "-c", "echo a; echo b >&2; echo c" }, stderr = "stdout" })
      assert.equal("a\nb\nc\n", res.stdout)
      assert.is_nil(res.stderr)
    end)

    it("sends output to null and files, and leaves out what it did not capture", function()
      local d = tmpdir()
      local res = run_ok({ argv = { "sh", "-c", "echo o; echo e >&2" }, stdout = "null",
                           stderr = "file:" .. d .. "/err.txt" })
      assert.is_nil(res.stdout)
      assert.is_nil(res.stderr)
      assert.equal("e\n", read_file(d .. "/err.txt"))
      run_ok({ argv = { "sh", "-c", "echo o; echo e >&2" }, stdout = "file:" .. d .. "/both.txt",
               stderr = "file:" .. d .. "/both.txt" })
      assert.equal("o\ne\n", read_file(d .. "/both.txt"))
      local r2, err, code = proc.run({ argv = { "true" }, stdout = "file:" .. d .. "/no/such/x" })
      assert.is_nil(r2)
      assert.equal("proc: cannot open '" .. d .. "/no/such/x': No such file or directory", err)
      assert.equal("ENOENT", code)
      rmtree(d)
    end)

    it("gives /dev/null as stdin by default", function()
      local res = run_ok({ argv = { "cat" } })
      assert.equal("", res.stdout)
      assert.is_true(res.ok)
    end)

    it("feeds stdin: 5 MB round-trip through cat", function()
      local chunk = {}
      for i = 0, 255 do chunk[#chunk + 1] = string.char(i) end
      local data = table.concat(chunk):rep(5 * 4096) -- 5 MiB, every byte value incl. NUL
      local res = run_ok({ argv = { "cat" }, stdin = data })
      assert.is_true(res.ok)
      assert.equal(#data, #res.stdout)
      assert.is_true(data == res.stdout)
    end)

    it("survives a child that does not read its stdin", function()
      local res = run_ok({ argv = { "true" }, stdin = ("x"):rep(1024 * 1024) })
      assert.is_true(res.ok)
    end)

    it("drains 10 MB on stdout and stderr at once without deadlock", function()
      local py = "import sys\nfor i in range(160):\n"
        .. "    sys.stdout.write('o' * 65536); sys.stdout.flush()\n"
        .. "    sys.stderr.write('e' * 65536); sys.stderr.flush()\n"
      local res = run_ok({ argv = { "python3", "-c", py }, timeout = 60 })
      assert.is_true(res.ok)
      assert.equal(160 * 65536, #res.stdout)
      assert.equal(160 * 65536, #res.stderr)
      assert.is_nil(res.stdout:find("[^o]"))
      assert.is_nil(res.stderr:find("[^e]"))
    end)

    it("keeps the first max_output bytes and says it truncated", function()
      local res = run_ok({ argv = { "sh", "-c", "printf 0123456789; printf abcdefgh >&2" },
                           max_output = 4 })
      assert.is_true(res.ok) -- the child was not blocked by the limit
      assert.equal("0123", res.stdout)
      assert.equal("abcd", res.stderr)
      assert.is_true(res.truncated)
      local big = run_ok({ argv = { "head", "-c", "3000000", "/dev/zero" }, max_output = 1000 })
      assert.is_true(big.ok)
      assert.equal(1000, #big.stdout)
      local exact = run_ok({ argv = { "printf", "abcd" }, max_output = 4 })
      assert.equal("abcd", exact.stdout)
      assert.is_false(exact.truncated)
    end)

    it("times out: kills the whole process group and says so", function()
      local t0 = proc.monotime()
      local res = run_ok({ argv = { "sh", "-c", "sleep 100 & echo $!; sleep 100" }, timeout = 0.3 })
      local took = proc.monotime() - t0
      assert.is_true(res.timed_out)
      assert.is_false(res.ok)
      assert.equal("signal", res.how)
      assert.equal(15, res.code)
      assert.is_true(res.duration >= 0.29 and res.duration < 1.5, "duration " .. res.duration)
      assert.is_true(took < 1.5)
      local grandchild = tonumber(res.stdout:match("^(%d+)\n"))
      assert.is_number(grandchild)
      assert.is_true(dies(grandchild), "grandchild " .. grandchild .. " still runs")
      assert.is_nil(state(res.pid)) -- reaped, no zombie
    end)

    it("kill_group: once the child exits, what is left of its group is killed", function()
      local t0 = proc.monotime()
      local res = run_ok({ argv = { "sh", "-c", "trap '' TERM; sleep 30 & echo $!" }, kill_group = true,
                           timeout = 20 })
      assert.is_true(res.ok)
      assert.is_false(res.timed_out)
      assert.is_true(proc.monotime() - t0 < 5, "waited for the background process")
      local grandchild = tonumber(res.stdout:match("^(%d+)\n"))
      assert.is_number(grandchild)
      assert.is_true(dies(grandchild), "grandchild " .. grandchild .. " still runs")
      -- without it, the background process outlives the child (and holds stdout here: null it)
      local bg = run_ok({ argv = { "sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!" } })
      local pid = tonumber(bg.stdout:match("^(%d+)"))
      assert.is_false(dies(pid))
      os.execute("kill " .. pid)
      assert.has_error(function() proc.run({ argv = { "true" }, kill_group = 1 }) end,
        "proc.run: field 'kill_group' must be a boolean (got number)")
    end)

    it("returns after a timeout even when a process outside the group holds the pipes", function()
      local res = run_ok({ argv = { "sh", "-c", "setsid sleep 30 & echo $!; sleep 30" }, timeout = 0.1,
                           kill_grace = 0.1 })
      local escaped = tonumber(res.stdout:match("^(%d+)"))
      assert.is_true(res.timed_out)
      assert.is_true(res.duration < 2.5, "duration " .. res.duration)
      if escaped then os.execute("kill " .. escaped .. " 2>/dev/null") end
    end)

    it("sends SIGKILL after kill_grace to a child that ignores SIGTERM", function()
      local res = run_ok({ argv = { "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done" },
                           timeout = 0.2, kill_grace = 0.3 })
      assert.is_true(res.timed_out)
      assert.equal("signal", res.how)
      assert.equal(9, res.code)
      assert.is_true(res.duration >= 0.45 and res.duration < 2, "duration " .. res.duration)
    end)

    it("forwards SIGTERM received while waiting to the child and reports it", function()
      -- The child signals its parent (this process); the parent must survive,
      -- pass the signal on to the child's group and return.
      local res = run_ok({ argv = { "sh", "-c", "kill -TERM $PPID; sleep 5; echo not-interrupted" } })
      assert.is_true(res.interrupted)
      assert.is_false(res.ok)
      assert.equal("", res.stdout)
      assert.is_true(res.duration < 4)
    end)

    it("forwards SIGINT (Ctrl-C) the same way", function()
      -- In a fresh lakehost with SIGINT at its default: a background job of a
      -- shell (as CI may run us) inherits SIGINT ignored, and an ignored
      -- signal stays ignored, so that case is not forwarded.
      local code = [[
        local r = require("host.proc").run{argv = {"sh", "-c", "kill -INT $PPID; sleep 5"}}
        io.write(tostring(r.interrupted), " ", r.how, " ", tostring(r.duration < 4))]]
      local wrapper = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        .. "os.execv(sys.argv[1], sys.argv[1:])"
      local res = run_ok({ argv = { "python3", "-c", wrapper, util.bin, "-e", code } })
      assert.equal(0, res.code, res.stderr)
      assert.equal("true signal true", res.stdout)
    end)

    it("replaces the environment with env", function()
      local res = run_ok({ argv = { "env" }, env = { ONLY = "this", N = 42 } })
      local lines = {}
      for l in res.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
      table.sort(lines)
      assert.same({ "N=42", "ONLY=this" }, lines)
    end)

    it("adds to, overrides and removes from the environment with env_add", function()
      assert.is_string(proc.getenv("PATH"))
      assert.is_string(proc.getenv("HOME"))
      local res = run_ok({ argv = { "sh", "-c", 'printf "%s|%s" "$NEWVAR" "$HOME"' },
                           env_add = { NEWVAR = "x y", HOME = "/elsewhere" } })
      assert.equal("x y|/elsewhere", res.stdout)
      local removed = run_ok({ argv = { "env" }, env_add = { HOME = false, NEWVAR = 1 } })
      assert.is_nil(removed.stdout:match("\nHOME=") or removed.stdout:match("^HOME="))
      assert.matches("\nNEWVAR=1\n", "\n" .. removed.stdout)
      assert.matches("\nPATH=", "\n" .. removed.stdout)
      local inherited = run_ok({ argv = { "sh", "-c", 'printf %s "$HOME"' } })
      assert.equal(proc.getenv("HOME"), inherited.stdout)
    end)

    it("looks the program up in the child's PATH", function()
      local d = tmpdir()
      local f = assert(io.open(d .. "/only-here", "w"))
      f:write("#!/bin/sh\necho found me\n")
      f:close()
      assert(os.execute("chmod +x " .. util.shquote(d .. "/only-here")))
      local res = run_ok({ argv = { "only-here" }, env_add = { PATH = d .. ":/usr/bin:/bin" } })
      assert.equal("found me\n", res.stdout)
      local r2, err, code = proc.run({ argv = { "only-here" } })
      assert.is_nil(r2)
      assert.equal("proc: cannot run 'only-here': No such file or directory", err)
      assert.equal("ENOENT", code)
      rmtree(d)
    end)

    it("runs in cwd", function()
      local d = tmpdir()
      local res = run_ok({ argv = { "pwd" }, cwd = d })
      assert.equal(d .. "\n", res.stdout)
      rmtree(d)
    end)

    it("never goes through a shell", function()
      local res = run_ok({ argv = { "echo", "$HOME; rm -rf x", "*", "`id`", "a\"b'c" } })
      assert.equal("$HOME; rm -rf x * `id` a\"b'c\n", res.stdout)
    end)

    it("leaks no file descriptors into the child", function()
      local keep = assert(io.open(os.tmpname(), "w")) -- an fd without O_CLOEXEC
      local res = run_ok({ argv = { "python3", "-c", "import os; print(sorted(int(f) for f in os.listdir('/proc/self/fd')))" } })
      keep:close()
      -- 0, 1, 2 and the fd listdir itself opened
      assert.equal("[0, 1, 2, 3]\n", res.stdout)
    end)

    it("inherits stdout and stderr when asked", function()
      local out, _, code = util.lakehost({ "-e", [[
        local p = require("host.proc")
        io.stdout:write("before\n"); io.stdout:flush()
        local r = p.run{argv = {"echo", "from child"}, stdout = "inherit", stderr = "inherit"}
        io.stdout:write(tostring(r.stdout), "\n")]] })
      assert.equal(0, code)
      assert.equal("before\nfrom child\nnil\n", out)
    end)
  end)

  describe("refusals", function()
    it("returns nil, message, code for a program that does not exist", function()
      local res, err, code = proc.run({ argv = { "no-such-program-lakehost" } })
      assert.is_nil(res)
      assert.equal("proc: cannot run 'no-such-program-lakehost': No such file or directory", err)
      assert.equal("ENOENT", code)
      res, err, code = proc.run({ argv = { "/no/such/prog" } })
      assert.is_nil(res)
      assert.equal("proc: cannot run '/no/such/prog': No such file or directory", err)
      assert.equal("ENOENT", code)
    end)

    it("returns EACCES for a file that is not executable", function()
      local path = util.tmpfile("#!/bin/sh\n")
      local res, err, code = proc.run({ argv = { path } })
      assert.is_nil(res)
      assert.equal("proc: cannot run '" .. path .. "': Permission denied", err)
      assert.equal("EACCES", code)
      os.remove(path)
    end)

    it("returns ENOEXEC for a script without #! (no shell fallback)", function()
      local path = util.tmpfile("echo hi\n")
      assert(os.execute("chmod +x " .. util.shquote(path)))
      local res, err, code = proc.run({ argv = { path } })
      assert.is_nil(res)
      assert.equal("proc: cannot run '" .. path .. "': Exec format error", err)
      assert.equal("ENOEXEC", code)
      os.remove(path)
    end)

    it("returns nil, message, code for a bad cwd", function()
      local res, err, code = proc.run({ argv = { "true" }, cwd = "/no/such/dir" })
      assert.is_nil(res)
      assert.equal("proc: cannot chdir to '/no/such/dir': No such file or directory", err)
      assert.equal("ENOENT", code)
    end)

    it("raises on an unknown field", function()
      assert.has_error(function() proc.run({ argv = { "true" }, timout = 1 }) end,
        "proc.run: unknown field 'timout'")
      assert.has_error(function() proc.spawn({ argv = { "true" }, [1] = "x" }) end,
        "proc.spawn: unknown field '1'")
    end)

    it("raises on wrong argument types", function()
      local cases = {
        { nil, "bad argument #1 to 'run' (table expected, got nil)" },
        { {}, "proc.run: field 'argv' must be a table (got nil)" },
        { { argv = "ls" }, "proc.run: field 'argv' must be a table (got string)" },
        { { argv = {} }, "proc.run: field 'argv' must not be empty" },
        { { argv = { "echo", 1 } }, "proc.run: argv[2] must be a string (got number)" },
        { { argv = { "echo", "a\0b" } }, "proc.run: argv[2] contains a NUL byte" },
        { { argv = { "true" }, cwd = 1 }, "proc.run: field 'cwd' must be a string (got number)" },
        { { argv = { "true" }, stdin = true }, "proc.run: field 'stdin' must be a string (got boolean)" },
        { { argv = { "true" }, timeout = "1" }, "proc.run: field 'timeout' must be a number (got string)" },
        { { argv = { "true" }, timeout = 0 }, "proc.run: field 'timeout' must be a positive number" },
        { { argv = { "true" }, kill_grace = -1 }, "proc.run: field 'kill_grace' must be a non-negative number" },
        { { argv = { "true" }, max_output = 1.5 }, "proc.run: field 'max_output' must be an integer" },
        { { argv = { "true" }, stdout = "stdout" },
          "proc.run: field 'stdout' must be \"capture\", \"inherit\", \"null\" or \"file:PATH\" (got 'stdout')" },
        { { argv = { "true" }, stderr = "file:" },
          "proc.run: field 'stderr' must be \"capture\", \"inherit\", \"null\", \"stdout\" or \"file:PATH\" (got 'file:')" },
        { { argv = { "true" }, env = "A=1" }, "proc.run: field 'env' must be a table (got string)" },
        { { argv = { "true" }, env = { [1] = "x" } }, "proc.run: env keys must be strings (got number)" },
        { { argv = { "true" }, env_add = { ["A=B"] = "x" } }, "proc.run: bad env_add variable name 'A=B'" },
        { { argv = { "true" }, env_add = { A = {} } },
          "proc.run: env_add value of 'A' must be a string, a number or false (got table)" },
      }
      for _, c in ipairs(cases) do
        assert.has_error(function() proc.run(c[1]) end, c[2])
      end
      assert.has_error(function() proc.which(nil) end,
        "bad argument #1 to 'which' (string expected, got nil)")
      assert.has_error(function() proc.sleep(-1) end,
        "bad argument #1 to 'sleep' (must be a non-negative number of seconds)")
    end)
  end)

  describe("spawn", function()
    it("reads lines, is killed with its group, and leaves no zombie", function()
      local h = assert(proc.spawn({ argv = { "sh", "-c", "echo PORT 1234; echo note >&2; sleep 100 & echo $!; wait" } }))
      assert.matches("^lakehost.proc.child %(pid %d+%)$", tostring(h))
      local pid = h:pid()
      assert.equal("PORT 1234", h:read_line("stdout", 5))
      assert.equal("note", h:read_line("stderr", 5))
      local grandchild = tonumber(h:read_line(5))
      assert.is_number(grandchild)
      assert.same({ nil, "timeout" }, { h:read_line("stdout", 0.1) })
      assert.is_nil(h:poll())
      assert.same({ nil, "timeout" }, { h:wait(0.1) })
      assert.is_true(h:kill("KILL"))
      local res = h:wait(5)
      assert.equal("signal", res.how)
      assert.equal(9, res.code)
      assert.is_false(h:kill())
      assert.is_nil(state(pid))
      assert.is_true(dies(grandchild))
      assert.is_table(h:close())
      assert.is_nil(h:close())
      assert.equal("lakehost.proc.child (closed)", tostring(h))
      assert.has_error(function() h:pid() end, "proc: attempt to use a closed child")
    end)

    it("close() terminates a running child with SIGTERM and reaps it", function()
      local h = assert(proc.spawn({ argv = { "sleep", "100" } }))
      local pid = h:pid()
      assert.is_string(state(pid))
      local res = h:close()
      assert.equal("signal", res.how)
      assert.equal(15, res.code)
      assert.is_nil(state(pid))
    end)

    it("close() uses SIGKILL when SIGTERM is ignored", function()
      local h = assert(proc.spawn({ argv = { "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done" } }))
      assert.equal("ready", h:read_line(5))
      local t0 = proc.monotime()
      local res = h:close()
      assert.equal(9, res.code)
      assert.is_true(proc.monotime() - t0 >= 1.9)
    end)

    it("is killed and reaped by the garbage collector", function()
      local h = assert(proc.spawn({ argv = { "sleep", "100" }, stdout = "null" }))
      local pid = h:pid()
      h = nil -- luacheck: ignore
      collectgarbage()
      collectgarbage()
      assert.is_nil(state(pid))
    end)

    it("is killed when lakehost exits with it still running (finalizers run at exit)", function()
      local code = [[
        local h = assert(require("host.proc").spawn({ argv = { "sleep", "100" }, stdout = "null" }))
        KEEP = h -- still referenced when the program ends
        io.write(h:pid(), "\n")
      ]]
      local res = run_ok({ argv = { util.bin, "-e", code } })
      assert.is_true(res.ok, res.stderr)
      local pid = assert(tonumber(res.stdout:match("^(%d+)")), res.stdout)
      assert.is_true(dies(pid), "the child outlived lakehost")
    end)

    it("is closed by a to-be-closed variable", function()
      local pid
      do
        local h <close> = assert(proc.spawn({ argv = { "sleep", "100" } }))
        pid = h:pid()
      end
      assert.is_nil(state(pid))
    end)

    it("waits for a finished child and returns its unread output", function()
      local h = assert(proc.spawn({ argv = { "sh", "-c", "echo one; echo two; exit 3" }, stdin = "" }))
      assert.equal("one", h:read_line())
      local res = h:wait(5)
      assert.equal(3, res.code)
      assert.equal("two\n", res.stdout) -- unread output; wait() does not consume it
      assert.equal("two", h:read_line())
      assert.same({ nil, "eof" }, { h:read_line() })
      local again = h:poll()
      assert.equal(3, again.code)
      h:close()
    end)

    it("returns the last line without a newline at EOF", function()
      local h = assert(proc.spawn({ argv = { "printf", "a\nb" } }))
      assert.equal("a", h:read_line(5))
      assert.equal("b", h:read_line(5))
      assert.same({ nil, "eof" }, { h:read_line(5) })
      h:close()
    end)

    it("feeds stdin to a spawned child", function()
      local h = assert(proc.spawn({ argv = { "cat" }, stdin = "hello\nworld\n" }))
      assert.equal("hello", h:read_line(5))
      assert.equal("world", h:read_line(5))
      assert.is_true(h:wait(5).ok)
      h:close()
    end)

    it("refuses misuse and reports start failures as values", function()
      local h = assert(proc.spawn({ argv = { "true" }, stdout = "null" }))
      assert.has_error(function() h:read_line("stdout", 1) end)
      assert.has_error(function() h:read_line("nope", 1) end)
      assert.has_error(function() h:kill("BOGUS") end,
        "bad argument #1 to 'kill' (unknown signal name)")
      h:close()
      local r, err, code = proc.spawn({ argv = { "no-such-program-lakehost" } })
      assert.is_nil(r)
      assert.equal("proc: cannot run 'no-such-program-lakehost': No such file or directory", err)
      assert.equal("ENOENT", code)
    end)
  end)

  describe("hygiene", function()
    it("leaves no fds open and no zombies in the host", function()
      local before = open_fds()
      for _ = 1, 20 do
        run_ok({ argv = { "sh", "-c", "echo x; echo y >&2" }, stdin = "in" })
        assert.is_nil(proc.run({ argv = { "true" }, cwd = "/no/such/dir" }))
        assert.is_nil(proc.run({ argv = { "/no/such/prog" } }))
        run_ok({ argv = { "sleep", "5" }, timeout = 0.01, kill_grace = 0.01 })
        local h = assert(proc.spawn({ argv = { "sh", "-c", "echo hi; sleep 5" } }))
        assert.equal("hi", h:read_line(5))
        h:close()
      end
      assert.same(before, open_fds())
      assert.same({}, zombies())
    end)
  end)

  describe("which", function()
    it("finds executables on PATH or a given path", function()
      local sh = proc.which("sh")
      assert.matches("^/.*/sh$", sh)
      assert.equal("/bin/sh", proc.which("sh", "/nonexistent:/bin"))
      assert.equal("/bin/sh", proc.which("/bin/sh"))
      assert.is_nil(proc.which("sh", "/nonexistent"))
      assert.is_nil(proc.which("no-such-program-lakehost"))
      assert.is_nil(proc.which(""))
      assert.is_nil(proc.which("bin", "/")) -- a directory is not a program
      local plain = util.tmpfile("x")   -- a regular file without x bits
      assert.is_nil(proc.which(plain))
      os.remove(plain)
    end)

    it("returns absolute paths for relative names", function()
      local got = proc.which("spec/fixtures/proc/fake-docker")
      assert.equal(util.cwd() .. "/spec/fixtures/proc/fake-docker", got)
    end)
  end)

  describe("environment, clocks, terminals and resource usage", function()
    it("reads the environment", function()
      local env = proc.environ()
      assert.equal(proc.getenv("PATH"), env.PATH)
      assert.is_nil(proc.getenv("LAKEHOST_SURELY_UNSET_VAR"))
      assert.is_nil(env.LAKEHOST_SURELY_UNSET_VAR)
      local out, _, code = util.lakehost({ "-e", "io.write(require('host.proc').getenv('PROC_SPEC_VAR'))" },
        { env = { PROC_SPEC_VAR = "a=b c" } })
      assert.equal(0, code)
      assert.equal("a=b c", out)
    end)

    it("knows its pid, uid and gid", function()
      local res = run_ok({ argv = { "sh", "-c", "echo $PPID; id -u; id -g" } })
      assert.equal(("%d\n%d\n%d\n"):format(proc.pid(), proc.uid(), proc.gid()), res.stdout)
    end)

    it("has a monotonic clock, a wall clock and sleep", function()
      local a = proc.monotime()
      proc.sleep(0.2)
      local b = proc.monotime()
      assert.is_true(b > a)
      assert.is_true(b - a >= 0.2 and b - a < 0.6, "slept " .. (b - a))
      assert.is_true(math.abs(proc.time() - os.time()) < 2)
      proc.sleep(0)
    end)

    it("tells whether an fd is a terminal", function()
      local out, _, code = util.lakehost({ "-e", "io.write(tostring(require('host.proc').isatty(1)))" })
      assert.equal(0, code)
      assert.equal("false", out) -- a pipe
      assert.is_false(proc.isatty(12345))
      assert.is_false(proc.isatty(-1))
    end)

    it("counts interrupts under the trap, wakes a sleep on one, and exits 130 on the third", function()
      -- in a child lakehost: the spec process keeps its own handlers
      local code = [[
        local proc = require("host.proc")
        assert(proc.trap_interrupts(true) == false)
        io.write("ready\n") io.flush()
        local t0 = proc.monotime()
        proc.sleep(30)
        io.write(("woke %d %.1f\n"):format(proc.interrupts(), proc.monotime() - t0)) io.flush()
        proc.sleep(30)
        io.write(("woke %d\n"):format(proc.interrupts())) io.flush()
        proc.sleep(30)
        io.write("not reached\n")
      ]]
      local child = assert(proc.spawn { argv = { util.bin, "-e", code }, stdout = "capture", stderr = "capture" })
      assert.equal("ready", child:read_line("stdout", 10))
      proc.sleep(0.3) -- into its sleep
      child:kill("INT")
      local line = assert(child:read_line("stdout", 10))
      local n, took = line:match("^woke (%d) ([%d.]+)$")
      assert.equal("1", n, line)
      assert.is_true(tonumber(took) < 10, line) -- the 30 s sleep ended at the signal
      proc.sleep(0.3)
      child:kill("TERM")
      assert.equal("woke 2", child:read_line("stdout", 10))
      proc.sleep(0.3)
      child:kill("INT")
      local res = child:wait(10)
      assert.equal(130, res.code)
      assert.equal("\nlakehost: interrupted three times: exiting now\n", res.stderr)
      assert.equal("", res.stdout)
    end)

    it("turns the trap off again, resetting the count", function()
      local res = run_ok({ argv = { util.bin, "-e", [[
        local proc = require("host.proc")
        proc.trap_interrupts(true)
        io.write(tostring(proc.trap_interrupts(false)), " ", proc.interrupts())
      ]] } })
      assert.equal("true 0", res.stdout)
    end)

    it("reports resource usage of itself and waited-for children", function()
      local self = assert(proc.rusage("self"))
      assert.is_true(self.maxrss > 1000 and self.user >= 0 and self.system >= 0)
      assert(proc.run { argv = { "python3", "-c", "b = bytearray(80 * 1024 * 1024)" } })
      assert.is_true(proc.rusage("children").maxrss >= 80 * 1024)
      assert.has_error(function() proc.rusage("others") end)
    end)
  end)
end)
