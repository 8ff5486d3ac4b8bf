--- Work split across worker processes: copies of this process made with
-- host.proc.fork, each given a run of the items, each answering with a JSON
-- value per item. The calling process only waits and merges, so its memory
-- stays what it was.
--
-- A worker never collects garbage: it allocates from an arena (host.proc)
-- and, once it has used its budget, exits and leaves the rest of its run to
-- a fresh worker. The collector would spend most of its time freeing dead
-- objects one by one; the kernel frees a worker's pages all at once.
--
-- Loading the pipelines of a large lake and synthesizing their stacks use
-- it. Answers are returned by item index, so callers that merge by index
-- produce the same output whatever the number of workers.
local M = {}

--- Workers wanted by the command line (--jobs N): set by lake.cli before
-- app.lua runs, so that loading the pipelines uses it too. nil: one per CPU.
M.jobs = nil

--- Without --jobs, fewer items than this per CPU are done in one process.
M.MIN_PER_WORKER = 32

--- A --jobs value as a number of workers: a whole number from 1 to 256.
-- @param v string|number|nil
-- @return integer|nil (nil when v is not one)
function M.parse(v)
  local n = math.tointeger(tonumber(v))
  if n and n >= 1 and n <= 256 then return n end
  return nil
end

--- Reads --jobs N / --jobs=N from a command's arguments (a value parse
-- refuses is left for the command to report).
-- @param args array
-- @return integer|nil
function M.from_args(args)
  for i, a in ipairs(args) do
    local v = a == "--jobs" and args[i + 1] or a:match("^%-%-jobs=(.*)$")
    local n = v and M.parse(v)
    if n then return n end
  end
  return nil
end

--- How many workers for n items: as many as --jobs asks (jobs, else
-- M.jobs) up to one per item; without --jobs one per CPU, each with at least
-- MIN_PER_WORKER items. 1 means "do it here".
-- @param n integer items
-- @param jobs integer|nil
function M.count(n, jobs)
  jobs = jobs or M.jobs
  if jobs then return math.max(1, math.min(jobs, n)) end
  return math.max(1, math.min(require("host.proc").cpus(), n // M.MIN_PER_WORKER))
end

--- Heap growth (bytes) after which a worker takes no more items. A worker
-- runs with the collector stopped: its garbage goes away with the process,
-- which costs less than collecting it (freeing every dead object one by
-- one is most of what a collector does for synthesis). The items it did
-- not reach go to a fresh worker, so no worker grows past about this much.
M.BUDGET = 40 * 1024 * 1024

-- Seconds between two looks at the running workers.
local POLL = 0.001

--- Runs work(i) for every i in 1..n in worker processes, at most k at a
-- time, and returns the answers by index: the same whatever k and however
-- the items were spread, so callers that merge by index produce the same
-- output with any number of workers.
-- The items go out in runs of consecutive indexes, about four per worker
-- so that one slow run does not keep the others waiting. A worker that
-- raises makes this raise the same message with the same exit status
-- (lake.errors), once the running workers have finished and nothing more
-- is started; one that dies is an operation failure.
-- @param n integer items
-- @param k integer workers at a time (at least 1)
-- @param work function(i) -> JSON-encodable value, not nil (runs in a worker)
-- @param on_answer function(first, values)|nil called here as each worker's
--   answer arrives (values[j] is item first + j - 1): what it records, the
--   workers forked after it inherit (those forked to take the place of the
--   worker that answered start before it is called)
-- @return array of n answers
function M.map(n, k, work, on_answer)
  local fs, json, proc = require("host.fs"), require("host.json"), require("host.proc")
  local errors = require("lake.errors")
  local dir, derr = fs.tmpdir("lakehost-work-")
  if not dir then errors.failed("workers: " .. tostring(derr)) end
  local size = math.max(1, -(-n // (k * 4)))
  local queue = {}
  for a = 1, n, size do queue[#queue + 1] = { a, math.min(n, a + size - 1) } end
  -- raised: the error of the earliest run that raised, which stops the
  -- starting of more (so that the same one is reported whatever the timing)
  local answers, running, raised, raised_at, started = {}, {}, nil, math.huge, 0
  local function raise(err, at)
    if at < raised_at then raised, raised_at = err, at end
  end

  -- No collection first: a full one marks every object of this process,
  -- writing to pages that earlier workers shared (a fault each), and the
  -- garbage it would free costs the workers nothing (they never touch it).
  -- For 2,000 pipelines, collecting before each map cost 30 ms more than
  -- the workers saved, and gave back 5 MiB.
  -- This process's collector rests while workers run: after a fork every
  -- page is shared until written, and a collector step marks objects all
  -- over the heap, so each fork made it copy the pages again. What it would
  -- free meanwhile is the garbage of decoding answers (4 MiB for 2,000
  -- pipelines); it runs again when map returns or raises.
  local resting = collectgarbage("isrunning")
    and setmetatable({}, { __close = function() collectgarbage("restart") end })
  collectgarbage("stop")
  local _ <close> = resting

  local function start(run)
    started = started + 1
    local file = ("%s/%d.json"):format(dir, started)
    local pid, ferr = proc.fork()
    if not pid then
      raise(errors.new("workers: " .. tostring(ferr), 1), run[1])
      return
    end
    if pid == 0 then
      -- the worker: never returns
      collectgarbage("stop")
      local aok, has = pcall(proc.arena, math.max(2 * M.BUDGET, 16 * 1024 * 1024))
      local used = aok and has and proc.arena_used
      if not used then -- no region to be had: the same budget, counted by Lua
        local base = collectgarbage("count")
        used = function() return (collectgarbage("count") - base) * 1024 end
      end
      local values = {}
      local ok, res = pcall(function()
        for i = run[1], run[2] do
          local v = work(i)
          if v == nil then error(("workers.map: no answer for item %d"):format(i), 0) end
          values[#values + 1] = v
          if used() > M.BUDGET then break end
        end
      end)
      -- count: json.encode sorts keys, so it heads the text (see peek)
      local answer = ok and { count = #values, values = values }
        or { raised = tostring(res), exit = errors.is(res) and res.exit or 2 }
      local eok, text = pcall(json.encode, answer)
      local wok = eok and fs.write(file, text, { sync = false })
      proc.exit(wok and 0 or 1)
    end
    running[#running + 1] = { pid = pid, run = run, file = file }
  end

  -- The head of a worker's answer: how many items it answered for, read
  -- without decoding the rest; the items it did not reach are queued first.
  -- nil when it did not answer, or raised (finish tells which).
  local function peek(w, st)
    w.text = st and st.how == "exit" and st.code == 0 and fs.read(w.file) or nil
    os.remove(w.file)
    local count = w.text and math.tointeger(tonumber(w.text:match('^{"count":(%d+),')))
    if count and not raised and w.run[1] + count <= w.run[2] then
      table.insert(queue, 1, { w.run[1] + count, w.run[2] })
    end
    w.count = count
    return count
  end

  -- A worker's answer: its values recorded, or what went wrong raised.
  local function finish(w, st)
    local dok, answer = pcall(json.decode, w.text or "")
    w.text = nil
    if not (st and st.how == "exit" and st.code == 0 and dok and type(answer) == "table")
      or not answer.raised and (type(answer.values) ~= "table" or #answer.values ~= w.count) then
      raise(errors.new(("a worker stopped (%s %s) before it answered, on items %d to %d of %d")
        :format(st and st.how or "?", st and st.code or "?", w.run[1], w.run[2], n), 1), w.run[1])
    elseif answer.raised then
      raise(errors.new(answer.raised, answer.exit), w.run[1])
    elseif not raised then
      local values, first = answer.values, w.run[1]
      for j, v in ipairs(values) do answers[first + j - 1] = v end
      if on_answer then on_answer(first, values) end
    end
  end

  -- Starts workers on the queued runs while CPUs are free and nothing raised.
  local function start_more()
    while #running < k and #queue > 0 and not raised do start(table.remove(queue, 1)) end
  end

  while #running > 0 or (#queue > 0 and not raised) do
    start_more()
    local ended, counted = {}, true
    for i = #running, 1, -1 do
      local w = running[i]
      local st = proc.wait(w.pid, { block = false })
      if st ~= false then
        table.remove(running, i)
        ended[#ended + 1] = { w, st }
        counted = peek(w, st) ~= nil and counted
      end
    end
    -- The CPUs they leave go to the next runs before their answers are
    -- decoded, which takes this process milliseconds; not when one of them
    -- raised or died: then nothing more may start.
    if counted then start_more() end
    for _, e in ipairs(ended) do finish(e[1], e[2]) end
    if #ended == 0 and #running > 0 then proc.sleep(POLL) end
  end
  fs.remove_tree(dir)
  if raised then error(raised, 0) end
  return answers
end

return M
