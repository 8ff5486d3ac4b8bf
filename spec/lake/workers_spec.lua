local workers = require("lake.workers")
local errors = require("lake.errors")
local proc = require("host.proc")

describe("lake.workers.map #unit", function()
  local budget
  before_each(function() budget = workers.BUDGET end)
  after_each(function() workers.BUDGET = budget end)

  local function square(i) return { i = i, sq = i * i } end

  it("answers by index, the same with any number of workers", function()
    local want = {}
    for i = 1, 37 do want[i] = square(i) end
    for _, k in ipairs({ 1, 2, 3, 8 }) do
      assert.same(want, workers.map(37, k, square))
    end
    assert.same({}, workers.map(0, 2, square))
  end)

  it("hands the items a worker did not reach to a fresh one once its memory budget is spent", function()
    workers.BUDGET = 1024 * 1024
    local kept = {}
    local answers = workers.map(12, 2, function(i)
      kept[#kept + 1] = ("x"):rep(700 * 1024) .. i -- garbage is never collected in a worker
      return { i = i, pid = proc.pid(), before = #kept - 1 }
    end)
    local pids = {}
    for i, a in ipairs(answers) do
      assert.equal(i, a.i)
      pids[a.pid] = (pids[a.pid] or 0) + 1
    end
    local n = 0
    for _, count in pairs(pids) do
      n = n + 1
      assert.is_true(count <= 2) -- at most one item past the budget
    end
    assert.is_true(n >= 6)
    assert.same({}, kept) -- the parent's own table is untouched
  end)

  it("counts the budget in Lua's own terms when no arena can be had", function()
    workers.BUDGET = 1024 * 1024
    local arena = proc.arena
    proc.arena = function() return nil, "proc: cannot reserve 80 MiB: Cannot allocate memory", "ENOMEM" end
    -- one worker at a time, runs of 4 items of about 600 KiB each, which is
    -- never collected: a worker stops after 2, a fresh one does the next 2
    local ok, answers = pcall(workers.map, 16, 1, function(i)
      local keep = {}
      for j = 1, 7000 do keep[j] = { j } end
      return { i = i, pid = proc.pid(), used = proc.arena_used(), kept = #keep }
    end)
    proc.arena = arena
    assert(ok, answers)
    local pids, n = {}, 0
    for i, a in ipairs(answers) do
      assert.equal(i, a.i)
      assert.equal(0, a.used) -- no arena: malloc as usual
      if not pids[a.pid] then n = n + 1 end
      pids[a.pid] = true
    end
    assert.is_true(n >= 6, n .. " workers") -- 4 runs, each split by the budget
  end)

  it("tells this process each answer once, and the workers forked after it inherit it", function()
    workers.BUDGET = 1 -- one item per worker
    local seen = {}
    local answers = workers.map(6, 1, function(i)
      local copy = {}
      for j, x in ipairs(seen) do copy[j] = x end
      return { i = i, seen = copy }
    end, function(first, values)
      for j in ipairs(values) do seen[#seen + 1] = first + j - 1 end
    end)
    local told = {}
    for _, i in ipairs(seen) do
      assert.is_nil(told[i], "told twice: " .. i)
      told[i] = true
    end
    assert.equal(6, #seen)
    -- a worker knows the answers told before it was forked: all but at most
    -- the one of the worker whose place it took
    for i, a in ipairs(answers) do
      assert.equal(i, a.i)
      local pos
      for p, x in ipairs(seen) do if x == i then pos = p end end
      assert.is_true(#a.seen >= pos - 2, ("item %d knew %d answers, told as #%d"):format(i, #a.seen, pos))
      for p, x in ipairs(a.seen) do assert.equal(seen[p], x) end -- in the order they were told
    end
  end)

  it("stops this process's collector while workers run, and starts it again as it was", function()
    local during = {}
    local answers = workers.map(6, 2, square, function() during[#during + 1] = collectgarbage("isrunning") end)
    assert.equal(6, #answers)
    assert.is_true(#during > 0)
    for _, running in ipairs(during) do assert.is_false(running) end
    assert.is_true(collectgarbage("isrunning"))
    -- also when a worker raised
    assert.is_false(pcall(workers.map, 4, 2, function(i) if i == 2 then error("no", 0) end return i end))
    assert.is_true(collectgarbage("isrunning"))
    -- a collector stopped before stays stopped
    collectgarbage("stop")
    workers.map(3, 2, square)
    local after = collectgarbage("isrunning")
    collectgarbage("restart")
    assert.is_false(after)
  end)

  it("reads how many items a worker did from the head of its answer, and refuses an answer that disagrees", function()
    workers.BUDGET = 1
    local json = require("host.json")
    local encode = json.encode
    -- a worker whose answer says more than it holds: a failure, not a short result
    local ok, err = pcall(workers.map, 4, 2, function(i)
      if i == 3 then
        json.encode = function(v, ...)
          if type(v) == "table" and v.count then v.count = v.count + 1 end
          return encode(v, ...)
        end
      end
      return i
    end)
    json.encode = encode
    assert.is_false(ok)
    assert.matches("a worker stopped %(exit 0%) before it answered, on items 3 to 3 of 4", tostring(err))
    assert.equal(1, err.exit)
  end)

  it("raises the error of the earliest run that raised, with its exit status", function()
    workers.BUDGET = 1
    local ok, err = pcall(workers.map, 10, 2, function(i)
      if i == 4 then errors.failed("item 4: the disk is full") end
      if i == 7 then error("item 7 is wrong", 0) end
      return i
    end)
    assert.is_false(ok)
    assert.is_true(errors.is(err))
    assert.equal("item 4: the disk is full", tostring(err))
    assert.equal(1, err.exit)
    ok, err = pcall(workers.map, 5, 3, function(i)
      if i == 5 then error("item 5 is wrong", 0) end
      return i
    end)
    assert.is_false(ok)
    assert.equal("item 5 is wrong", tostring(err))
    assert.equal(2, err.exit)
  end)

  it("fails with exit 1 when a worker dies or gives no answer", function()
    local ok, err = pcall(workers.map, 4, 2, function(i)
      if i == 3 then os.execute("kill -KILL " .. proc.pid()) end
      return i
    end)
    assert.is_false(ok)
    assert.equal(1, err.exit)
    assert.matches("^a worker stopped %(signal 9%) before it answered, on items 3 to 3 of 4$", tostring(err))
    ok, err = pcall(workers.map, 2, 1, function(i)
      if i == 1 then return i end
    end)
    assert.is_false(ok)
    assert.equal("workers.map: no answer for item 2", tostring(err))
  end)
end)
