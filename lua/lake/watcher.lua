--- Saved files under an app, as batches: which files count, a poll fallback
-- where inotify is missing, and bursts of saves coalesced into one batch.
--
-- What counts: app.lua and every file under pipelines/, standalone/ and
-- shared/ of the app's folder (M.TOP), except dot-files and dot-folders
-- (.lake-cache/, .git/, vim's .x.swp), lake.out/, tests/ and __pycache__/
-- folders, *.pyc/*.pyo, editor leftovers (x~, #x#, vim's probe file 4913).
-- Anything else in the app's folder (lake.out/ included, where synth
-- writes) is not even watched.
--
-- How: host.watch (inotify), or, where that is missing or fails, or with
-- opts.poll or LAKEHOST_WATCH_POLL=1, a poll every opts.interval seconds
-- that compares each file's type, size and mtime. Both have the same small
-- interface (add, wait, count, close), so the specs run the same cases
-- against each.
local fs = require("host.fs")
local proc = require("host.proc")

local M = {}

--- What is watched in the app's folder: files, then folders (recursively).
M.TOP_FILES = { "app.lua" }
M.TOP_DIRS = { "pipelines", "standalone", "shared" }

--- Folder names never entered (besides any starting with '.').
M.SKIP = { "lake.out", "__pycache__", "tests", "node_modules" }

--- Seconds without a new event that end a burst of saves.
M.QUIET = 0.3

--- Seconds between two looks of the poll fallback.
M.INTERVAL = 0.5

local function contains(list, v)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end

--- True when a path relative to the app's folder is a file whose change
-- counts (see the module comment).
-- @param rel string "pipelines/p/config.yml"
function M.counts(rel)
  local parts = {}
  for part in rel:gmatch("[^/]+") do parts[#parts + 1] = part end
  if #parts == 0 then return false end
  if #parts == 1 then return contains(M.TOP_FILES, parts[1]) or contains(M.TOP_DIRS, parts[1]) end
  if not contains(M.TOP_DIRS, parts[1]) then return false end
  for i, part in ipairs(parts) do
    if part:sub(1, 1) == "." then return false end
    if i < #parts and contains(M.SKIP, part) then return false end
  end
  local base = parts[#parts]
  if contains(M.SKIP, base) then return false end
  if base:sub(-1) == "~" or base == "4913" or base:match("^#.*#$") or base:match("%.py[co]$") then
    return false
  end
  return true
end

---------------------------------------------------------------------------
-- The poll fallback: host.watch's interface over fs.list and fs.stat

local Poll = {}
Poll.__index = Poll

local function skipped(name) return name:sub(1, 1) == "." or contains(M.SKIP, name) end

-- Adds to snap every path under dir: "d" for a folder watched, "D" for one
-- seen but not entered (recursive false), "type size mtime" for the rest;
-- skipped folders are left out.
local function scan(snap, dir, recursive, depth)
  local names = fs.list(dir)
  if not names or depth > 128 then return end
  for _, name in ipairs(names) do
    local path = dir .. "/" .. name
    local st = fs.stat(path, { follow = false })
    if st and st.type == "directory" then
      if not skipped(name) then
        snap[path] = recursive and "d" or "D"
        if recursive then scan(snap, path, true, depth + 1) end
      end
    elseif st then
      snap[path] = ("%s %d %d"):format(st.type, st.size, st.mtime_ns)
    end
  end
end

--- A poll watcher.
-- @param interval number seconds between looks (M.INTERVAL)
function M.poller(interval)
  return setmetatable({ roots = {}, snap = {}, interval = interval or M.INTERVAL }, Poll)
end

function Poll:snapshot()
  local snap = {}
  for _, r in ipairs(self.roots) do
    if fs.isdir(r.dir) then snap[r.dir] = "d" end
    scan(snap, r.dir, r.recursive, 0)
  end
  return snap
end

--- Watches dir (and below unless recursive is false).
-- @return n folders watched | nil, err
function Poll:add(dir, recursive)
  if self.closed then error("attempt to use a closed watcher", 2) end
  if not fs.isdir(dir) then return nil, ("watch: %s: not a folder"):format(dir), "ENOTDIR" end
  self.roots[#self.roots + 1] = { dir = (dir:gsub("(.)/+$", "%1")), recursive = recursive ~= false }
  self.snap = self:snapshot()
  return self:count()
end

function Poll:count()
  if self.closed then error("attempt to use a closed watcher", 2) end
  local n = 0
  for _, sig in pairs(self.snap) do if sig == "d" then n = n + 1 end end
  return n
end

--- The paths changed since the last look, sorted; waits up to timeout_ms
-- for the first change, looking every interval (an interrupt ends the wait).
function Poll:wait(timeout_ms)
  if self.closed then error("attempt to use a closed watcher", 2) end
  local deadline = proc.monotime() + timeout_ms / 1000
  while true do
    local now, changed = self:snapshot(), {}
    for path, sig in pairs(now) do
      local was = self.snap[path]
      local folder = (sig == "d" or sig == "D") and (was == "d" or was == "D")
      if was ~= sig and not folder then changed[#changed + 1] = path end
    end
    for path in pairs(self.snap) do if now[path] == nil then changed[#changed + 1] = path end end
    self.snap = now
    table.sort(changed)
    local left = deadline - proc.monotime()
    if #changed > 0 or left <= 0 or proc.interrupts() > 0 then return changed end
    proc.sleep(math.min(self.interval, left))
  end
end

function Poll:close() self.closed = true end

---------------------------------------------------------------------------
-- An app's watcher

local Watcher = {}
Watcher.__index = Watcher

local function want_poll(opts)
  if opts.poll then return true end
  local v = os.getenv("LAKEHOST_WATCH_POLL")
  return v ~= nil and v ~= "" and v ~= "0"
end

--- Watches the app whose folder is root.
-- @param root string the app's folder
-- @param opts table|nil { poll = bool, interval = s, quiet = s }
-- @return watcher (with .how = "inotify" | "poll", .why = why it polls) | nil, err
function M.new(root, opts)
  opts = opts or {}
  local self = setmetatable({ root = (root:gsub("(.)/+$", "%1")), quiet = opts.quiet or M.QUIET }, Watcher)
  local backend, why
  if not want_poll(opts) then
    local ok, hw = pcall(require, "host.watch")
    if ok then
      backend, why = hw.new { skip = M.SKIP }
    else
      why = "no host.watch in this build"
    end
  else
    why = opts.poll and "asked for" or "LAKEHOST_WATCH_POLL"
  end
  if backend then
    self.how = "inotify"
  else
    self.how, self.why = "poll", why
    backend = M.poller(opts.interval)
  end
  self.backend = backend
  local ok, err = self:add_all()
  if not ok and self.how == "inotify" then
    -- too many folders for the user's inotify limit, say: poll instead
    backend:close()
    self.how, self.why = "poll", err
    self.backend = M.poller(opts.interval)
    ok, err = self:add_all()
  end
  if not ok then
    self.backend:close()
    return nil, err
  end
  return self
end

-- Watches the app's folder (alone) and each of M.TOP_DIRS there is.
function Watcher:add_all()
  local n, err = self.backend:add(self.root, false)
  if not n then return nil, err end
  for _, d in ipairs(M.TOP_DIRS) do
    local path = self.root .. "/" .. d
    if fs.isdir(path) then
      n, err = self.backend:add(path)
      if not n then return nil, err end
    end
  end
  return true
end

--- Paths relative to the root, of those that count; a top folder that
-- appeared gets watched.
function Watcher:relevant(paths, into)
  local prefix = self.root .. "/"
  for _, p in ipairs(paths) do
    local rel = p:sub(1, #prefix) == prefix and p:sub(#prefix + 1) or nil
    if p == self.root then rel = "." end
    if rel == "." or (rel and M.counts(rel)) then
      if rel ~= "." and contains(M.TOP_DIRS, rel) and fs.isdir(p) then self.backend:add(p) end
      into[rel] = true
    end
  end
end

--- Waits for the next burst of changes that count and returns it once
-- quiet seconds passed without a new one.
-- @param timeout number|nil seconds to wait for the first change (forever)
-- @return sorted relative paths (empty: the timeout passed) | nil, "interrupted" | nil, err
function Watcher:next(timeout)
  local deadline = timeout and proc.monotime() + timeout
  local seen = {}
  while next(seen) == nil do
    if proc.interrupts() > 0 then return nil, "interrupted" end
    local left = deadline and (deadline - proc.monotime()) or 3600
    if left <= 0 then return {} end
    local paths, err = self.backend:wait(math.floor(math.min(left, 3600) * 1000))
    if not paths then return nil, err end
    self:relevant(paths, seen)
  end
  -- the burst: until quiet seconds pass without anything new
  while proc.interrupts() == 0 do
    local paths, err = self.backend:wait(math.floor(self.quiet * 1000))
    if not paths then return nil, err end
    if #paths == 0 then break end
    self:relevant(paths, seen)
  end
  if proc.interrupts() > 0 then return nil, "interrupted" end
  local out = {}
  for rel in pairs(seen) do out[#out + 1] = rel end
  table.sort(out)
  return out
end

function Watcher:close() self.backend:close() end

return M
