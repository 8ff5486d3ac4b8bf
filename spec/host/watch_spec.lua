-- host.watch (inotify) and the poll fallback of lake.watcher, through the
-- same cases: both have the interface add/wait/count/close. Waits are
-- bounded by generous deadlines and end as soon as what is awaited shows up.
local fs = require("host.fs")
local hwatch = require("host.watch")
local proc = require("host.proc")
local watcher = require("lake.watcher")
local util = require("spec.support.util")

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text or "x")
  f:close()
end

-- Waits (up to 15 s) until every path of want was reported; returns the set
-- of everything reported meanwhile.
local function collect(w, want)
  local seen, deadline = {}, proc.monotime() + 15
  while true do
    local missing = false
    for _, p in ipairs(want) do if not seen[p] then missing = true end end
    if not missing or proc.monotime() > deadline then break end
    for _, p in ipairs(assert(w:wait(1000))) do seen[p] = true end
  end
  return seen
end

-- Reads what is left until a quiet second.
local function drain(w)
  while #assert(w:wait(1000)) > 0 do end
end

local BACKENDS = {
  inotify = function() return assert(hwatch.new { skip = { "lake.out" } }) end,
  poll = function() return watcher.poller(0.05) end,
}

for _, name in ipairs({ "inotify", "poll" }) do
  describe("watching folders (" .. name .. ")", function()
    local dir, w

    before_each(function()
      dir = util.tmpdir("lakehost-watch-")
      assert(fs.mkdir_p(dir .. "/a/b"))
      assert(fs.mkdir_p(dir .. "/lake.out"))
      assert(fs.mkdir_p(dir .. "/.hidden"))
      write(dir .. "/a/b/one.py", "1")
      w = BACKENDS[name]()
      assert.equal(3, assert(w:add(dir))) -- dir, a, a/b: not lake.out nor .hidden
    end)

    after_each(function()
      w:close()
      fs.remove_tree(dir)
    end)

    it("returns an empty list when nothing changed before the timeout", function()
      assert.same({}, w:wait(50))
    end)

    it("reports a file created, modified, renamed and deleted in a nested folder", function()
      write(dir .. "/a/b/new.py")
      assert.is_true(collect(w, { dir .. "/a/b/new.py" })[dir .. "/a/b/new.py"])
      drain(w)
      write(dir .. "/a/b/one.py", "changed, longer")
      assert.is_true(collect(w, { dir .. "/a/b/one.py" })[dir .. "/a/b/one.py"])
      drain(w)
      assert(fs.rename(dir .. "/a/b/one.py", dir .. "/a/two.py"))
      local seen = collect(w, { dir .. "/a/b/one.py", dir .. "/a/two.py" })
      assert.is_true(seen[dir .. "/a/b/one.py"])
      assert.is_true(seen[dir .. "/a/two.py"])
      drain(w)
      assert(fs.remove(dir .. "/a/two.py"))
      assert.is_true(collect(w, { dir .. "/a/two.py" })[dir .. "/a/two.py"])
    end)

    it("watches a folder made after it started, and the files already in it", function()
      assert(fs.mkdir_p(dir .. "/a/c/d"))
      write(dir .. "/a/c/d/early.py")
      local seen = collect(w, { dir .. "/a/c", dir .. "/a/c/d/early.py" })
      assert.is_true(seen[dir .. "/a/c"])
      assert.is_true(seen[dir .. "/a/c/d/early.py"])
      drain(w)
      assert.equal(5, w:count())
      write(dir .. "/a/c/d/late.py")
      assert.is_true(collect(w, { dir .. "/a/c/d/late.py" })[dir .. "/a/c/d/late.py"])
    end)

    it("returns a burst of changes sorted and once each", function()
      for _ = 1, 3 do
        write(dir .. "/a/b/one.py", tostring(math.random()))
        write(dir .. "/a/z.py")
      end
      local all = {}
      local deadline = proc.monotime() + 15
      while not (all[dir .. "/a/z.py"] and all[dir .. "/a/b/one.py"]) and proc.monotime() < deadline do
        local got = assert(w:wait(1000))
        local sorted = { table.unpack(got) }
        table.sort(sorted)
        assert.same(sorted, got)
        local once = {}
        for _, p in ipairs(got) do
          assert.is_nil(once[p], p .. " twice in one batch")
          once[p] = true
          all[p] = true
        end
      end
      assert.is_true(all[dir .. "/a/z.py"])
      assert.is_true(all[dir .. "/a/b/one.py"])
    end)

    it("does not enter skipped or dot folders, even new ones", function()
      write(dir .. "/lake.out/template.json")
      write(dir .. "/.hidden/x")
      assert(fs.mkdir_p(dir .. "/a/lake.out"))
      drain(w)
      write(dir .. "/a/lake.out/t.json")
      write(dir .. "/a/b/marker.py")
      local seen = collect(w, { dir .. "/a/b/marker.py" })
      assert.is_true(seen[dir .. "/a/b/marker.py"])
      assert.is_nil(seen[dir .. "/a/lake.out/t.json"])
      assert.is_nil(seen[dir .. "/lake.out/template.json"])
      assert.equal(3, w:count())
    end)

    it("stops watching a folder removed or moved away", function()
      assert(fs.remove_tree(dir .. "/a/b"))
      assert.is_true(collect(w, { dir .. "/a/b" })[dir .. "/a/b"])
      drain(w)
      assert.equal(2, w:count())
    end)

    it("watches one folder alone when recursive is false", function()
      local v = BACKENDS[name]()
      assert.equal(1, assert(v:add(dir .. "/a", false)))
      write(dir .. "/a/b/deep.py")
      write(dir .. "/a/top.py")
      local seen = collect(v, { dir .. "/a/top.py" })
      assert.is_nil(seen[dir .. "/a/b/deep.py"])
      v:close()
    end)

    it("raises once closed, and closing twice is harmless", function()
      w:close()
      w:close()
      assert.has_error(function() w:wait(10) end, "attempt to use a closed watcher")
    end)

    it("returns an error for a folder that does not exist", function()
      local ok, err, code = w:add(dir .. "/nope")
      assert.is_nil(ok)
      assert.matches("nope", err)
      assert.is_string(code)
    end)
  end)
end

describe("host.watch", function()
  it("ends a wait at an interrupt while the trap is on", function()
    local dir = util.tmpdir("lakehost-watch-")
    local w = assert(hwatch.new())
    assert(w:add(dir))
    local was = proc.trap_interrupts(true)
    local killer = assert(proc.spawn { argv = { "sh", "-c", "sleep 0.2; kill -INT " .. proc.pid() } })
    local t0 = proc.monotime()
    assert.same({}, w:wait(60000))
    local waited = proc.monotime() - t0
    assert.equal(1, proc.interrupts())
    proc.trap_interrupts(was)
    killer:wait(10)
    w:close()
    fs.remove_tree(dir)
    assert.is_true(waited < 50, "the wait ran to its timeout") -- 60 s without the interrupt
  end)

  it("refuses bad arguments", function()
    assert.has_error(function() hwatch.new { skip = { 1 } } end)
    local w = assert(hwatch.new())
    assert.has_error(function() w:wait(-1) end)
    assert.has_error(function() w:add("") end)
    assert.matches("^watcher %(0 folders%)$", tostring(w))
    w:close()
    assert.equal("watcher (closed)", tostring(w))
  end)
end)
