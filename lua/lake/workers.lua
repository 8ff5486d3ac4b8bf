--- Work split across worker processes: copies of this process made with
-- host.proc.fork, each given a share of the items, each answering with a
-- JSON value. The calling process only waits, so its memory stays what it
-- was; a worker's memory is its share's.
--
-- Loading the pipelines of a large lake and synthesizing their stacks use
-- it. Answers are gathered in share order, so callers that merge by item
-- index produce the same output whatever the number of workers.
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

--- Splits 1..n into k shares, round robin (neighbours go to different
-- workers, so similar items spread evenly).
-- @return array of arrays of indexes
function M.shares(n, k)
  local out = {}
  for w = 1, k do out[w] = {} end
  for i = 1, n do table.insert(out[(i - 1) % k + 1], i) end
  return out
end

--- Runs work(share, w) in one worker per share and returns their answers.
-- A worker that raises makes this raise the same message with the same
-- exit status (lake.errors); one that dies is an operation failure.
-- @param shares array of shares (any values; each goes to one worker)
-- @param work function(share, w) -> JSON-encodable value
-- @return array of answers, in share order
function M.run(shares, work)
  local fs, json, proc = require("host.fs"), require("host.json"), require("host.proc")
  local errors = require("lake.errors")
  local dir, derr = fs.tmpdir("lakehost-work-")
  if not dir then errors.failed("workers: " .. tostring(derr)) end
  local pids = {}
  -- the workers start from a collected heap: less to copy, less to traverse
  collectgarbage()
  for w = 1, #shares do
    local pid, ferr = proc.fork()
    if not pid then
      for _, p in ipairs(pids) do proc.wait(p) end
      fs.remove_tree(dir)
      errors.failed("workers: " .. tostring(ferr))
    end
    if pid == 0 then
      -- the worker: never returns
      local ok, res = pcall(work, shares[w], w)
      local answer = ok and { value = res } or { raised = tostring(res), exit = errors.is(res) and res.exit or 2 }
      local eok, text = pcall(json.encode, answer)
      local wok = eok and fs.write(("%s/%d.json"):format(dir, w), text, { sync = false })
      proc.exit(wok and 0 or 1)
    end
    pids[w] = pid
  end
  local answers, raised = {}, nil
  for w = 1, #shares do
    local st = proc.wait(pids[w])
    local text = fs.read(("%s/%d.json"):format(dir, w))
    local dok, answer = pcall(json.decode, text or "")
    if not raised then
      if not (st and st.how == "exit" and st.code == 0 and dok and type(answer) == "table") then
        raised = errors.new(("worker %d of %d stopped (%s %s) before it answered"):format(w, #shares,
          st and st.how or "?", st and st.code or "?"), 1)
      elseif answer.raised then
        raised = errors.new(answer.raised, answer.exit)
      else
        answers[w] = answer.value
      end
    end
  end
  fs.remove_tree(dir)
  if raised then error(raised, 0) end
  return answers
end

return M
