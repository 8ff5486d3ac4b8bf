--- One deploy at a time: a lock per app, stage, account and region, held
-- as an object in the assets bucket (locks/<app>-<stage>-<account>-<region>.json).
--
-- Taken with S3's conditional write, PutObject with `If-None-Match: *`: of
-- two writers of the key exactly one succeeds, the other gets 412
-- (PreconditionFailed; 409 ConditionalRequestConflict when the writes
-- overlapped). The object says who holds the lock (user@host, pid), where
-- (command, folder), since when, and carries a random token. Release
-- deletes it only while it still holds this process's token: GetObject,
-- compare, then DeleteObject with `If-Match` on the ETag just read, so a
-- lock broken and taken again in between is left to its new holder.
--
-- A waiter polls the object (with backoff) until it is gone, says once
-- whom it waits for and then every 30 s that it still waits. Nothing here
-- guesses that a holder is dead: a lock left by a killed process stays
-- until `lakehost APP.lua unlock` (lake.commands.unlock) breaks it.
--
-- Every lock taken by this process is also in a list that release_all()
-- empties (interrupts: the Ctrl-C handling releases through it or through
-- the handle in the deploy context, ctx.lock). The lock's own requests are
-- counted apart from the command's (handle.stats), so the request counts a
-- deploy prints (--stats) compare with the AWS CLI's, the lock aside.
local errors = require("lake.errors")
local s3 = require("lake.aws.s3")
local crypto = require("host.crypto")
local fs = require("host.fs")
local json = require("host.json")
local proc = require("host.proc")

local M = {}

M.PREFIX = "locks/"

--- Seconds between progress lines while waiting.
M.PROGRESS_EVERY = 30

--- The first and the longest pause between two looks at a held lock.
M.POLL_FIRST, M.POLL_MAX = 1, 10

-- Locks this process holds, in the order taken.
local held = {}

--- The lock's object key.
-- @param where table { app=, stage= (optional), account=, region= }
function M.key(where)
  local parts = { where.app }
  if where.stage and where.stage ~= "" then parts[#parts + 1] = where.stage end
  parts[#parts + 1] = where.account
  parts[#parts + 1] = where.region
  return M.PREFIX .. table.concat(parts, "-") .. ".json"
end

--- Where the lock of an app lives.
-- @param app_name string the app's name (manifest.app, app.name)
-- @param stage string|nil
-- @param bucket string the assets bucket
-- @param session table lake.aws.session (region, account())
-- @return { bucket=, app=, stage=, account=, region= }
function M.where(app_name, stage, bucket, session)
  return { bucket = bucket, app = app_name, stage = stage, account = session.account(), region = session.region }
end

local function hostname()
  local f = io.open("/proc/sys/kernel/hostname", "r")
  local name = f and f:read("l")
  if f then f:close() end
  if not name or name == "" then
    local r = proc.run { argv = { "uname", "-n" }, stderr = "null" }
    name = r and r.ok and r.stdout:match("^%s*(.-)%s*$") or nil
  end
  if not name or name == "" then name = os.getenv("HOSTNAME") end
  return (name and name ~= "") and name or "unknown-host"
end

--- The command that breaks a lock: "lakehost FILE unlock".
-- @param cli table|nil the command line's context ({ file = the app file })
function M.hint(cli)
  return ("lakehost %s unlock"):format(cli and cli.file or "APP.lua")
end

--- Who and where this process is: the lock's content but its time and token.
-- @param command string "deploy", "destroy", "bootstrap"
function M.identity(command)
  local user = os.getenv("USER")
  if not user or user == "" then user = os.getenv("LOGNAME") end
  if not user or user == "" then user = "uid" .. proc.uid() end
  return { user = user, host = hostname(), pid = proc.pid(), command = command, cwd = fs.cwd() or "?" }
end

--- Whether a process of this host still runs: false only when /proc says
-- so for sure (nil where there is no /proc to ask).
function M.alive(pid)
  if not fs.stat("/proc/self") then return nil end
  return fs.stat("/proc/" .. math.floor(tonumber(pid) or 0)) ~= nil
end

--- An ISO 8601 UTC time of epoch seconds.
function M.iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) end

--- "USER@HOST (pid N, COMMAND, since TIME)" of a holder (from holder()).
function M.describe(info)
  if info.unreadable then
    return ("an object lakehost cannot read (%d bytes, not a lakehost lock)"):format(info.size or 0)
  end
  local function f(v) return v ~= nil and tostring(v) or "?" end
  return ("%s@%s (pid %s, %s, since %s)"):format(f(info.user), f(info.host), f(info.pid), f(info.command),
    f(info.since))
end

-- A view of client c whose requests count in stats of their own.
local function counted_apart(c)
  return setmetatable({ stats = { calls = 0, attempts = 0, retries = 0, by_action = {}, by_tag = {} } },
    { __index = c })
end

-- True when a conditional write failed because the key is taken.
local function conflict(err)
  return type(err) == "table" and (err.status == 412 or err.status == 409
    or err.code == "PreconditionFailed" or err.code == "ConditionalRequestConflict")
end

local function no_bucket(err)
  return type(err) == "table" and err.code == "NoSuchBucket"
end

--- The lock's current holder.
-- @param c client
-- @param where table (M.where)
-- @return info { user, host, pid, command, cwd, since, token, etag } (or
--   { unreadable = true, size =, etag = } for an object that is not a lock)
--   | false (no lock) | nil, err (an AWS error value; code NoSuchBucket when
--   the bucket is missing)
function M.holder(c, where)
  local body, meta = s3.get_object(c, where.bucket, M.key(where))
  if body == nil then return nil, meta end
  if body == false then return false end
  local ok, info = pcall(json.decode, body)
  if not ok or type(info) ~= "table" or type(info.token) ~= "string" then
    return { unreadable = true, size = #body, etag = meta.etag }
  end
  info.etag = meta.etag
  return info
end

--- Deletes the lock object if it is still the one read (its ETag).
-- @return true | false (it changed or went meanwhile) | nil, err
function M.delete(c, where, etag)
  local ok, err = s3.delete_object(c, where.bucket, M.key(where), { if_match = etag })
  if ok then return true end
  if type(err) == "table" and (err.status == 412 or err.status == 404 or err.status == 409) then return false end
  return nil, err
end

local Lock = {}
Lock.__index = Lock

--- Releases the lock: deletes the object while it holds this lock's token.
-- Safe to call again (and after the lock was broken).
-- @return "released" | "gone" (broken meanwhile) | "taken" (broken and taken
--   by another: left alone) | nil, err (not released; calling again retries)
function Lock:release()
  if self.status then return self.status end
  -- the run stopped because the endpoint went silent: asking it again
  -- would only wait; the next run from this host takes the lock over
  if self.leave then self.status = "left" return "left" end
  -- bounded: a release runs last; after a second Ctrl-C it gets one short try
  if self.quick then
    self.client.request_timeout, self.client.max_attempts, self.client.max_time = 2, 1, 2
  else
    self.client.request_timeout, self.client.max_attempts, self.client.max_time = 5, 2, 10
  end
  local info, err = M.holder(self.client, self.where)
  if info == nil then return nil, err end
  local status
  if info == false then
    status = "gone"
  elseif info.token ~= self.token then
    status, self.taken_by = "taken", info
  else
    local ok, derr = M.delete(self.client, self.where, info.etag)
    if ok == nil then return nil, derr end
    status = ok and "released" or "taken"
  end
  self.status = status
  for i, h in ipairs(held) do
    if h == self then table.remove(held, i) break end
  end
  return status
end

--- Takes the lock, waiting while another process holds it (unless no_wait).
-- @param c client
-- @param where table (M.where)
-- @param opts table { command = "deploy", no_wait = bool, say = function(line) (messages),
--   hint = "lakehost app.lua unlock" (named while waiting), identity = (M.identity's shape),
--   sleep=, now = (monotonic seconds), clock = (epoch seconds), random = () -> [0, 1),
--   interrupts = () -> n (proc.interrupts: waiting ends at Ctrl-C),
--   alive = (pid) -> bool|nil (M.alive: a holder of this host whose process is gone is replaced) }
-- @return handle { key, token, info, stats, waited (another held it first), release } | nil, message, why
--   ("held": the holder is the 4th value; "nobucket"; "interrupted"; "failed")
function M.acquire(c, where, opts)
  local lc = counted_apart(c)
  local say = opts.say or function() end
  local sleep, now, clock = opts.sleep or proc.sleep, opts.now or proc.monotime, opts.clock or proc.time
  local random = opts.random or math.random
  local key = M.key(where)
  local bytes, rerr = crypto.random(16)
  if not bytes then return nil, ("cannot make the lock's token: %s"):format(rerr), "failed" end
  local token = crypto.hex_encode(bytes)
  local ident = opts.identity or M.identity(opts.command or "deploy")
  local label = ("%s in s3://%s/%s"):format(ident.command, where.bucket, key)
  local waited_for, since_said, started, info
  local delay, write = M.POLL_FIRST, true
  local function mine()
    local h = setmetatable({ client = lc, where = where, key = key, token = token, info = info,
      stats = lc.stats, waited = started ~= nil }, Lock)
    held[#held + 1] = h
    return h
  end
  while true do
    if write then
      info = { app = where.app, stage = where.stage, account = where.account, region = where.region,
        user = ident.user, host = ident.host, pid = ident.pid, command = ident.command, cwd = ident.cwd,
        since = M.iso(clock()), token = token, version = 1 }
      local r, err = s3.put_object(lc, where.bucket, key, { body = json.encode(info, { pretty = true, newline = true }),
        content_type = "application/json", if_none_match = "*" })
      if r then return mine() end
      if no_bucket(err) then
        return nil, ("no lock for %s: the bucket %s does not exist"):format(label, where.bucket), "nobucket"
      end
      if not conflict(err) then return nil, ("cannot take the lock for %s: %s"):format(label, tostring(err)), "failed" end
    end
    local h, herr = M.holder(lc, where)
    if h == nil then return nil, ("cannot read the lock for %s: %s"):format(label, tostring(herr)), "failed" end
    if h and h.token == token then
      -- our own write, whose answer was lost: the client's retry of it
      -- found the key taken (by that very write)
      return mine()
    elseif h == false then
      -- released between our write and our look: write again (a short
      -- pause in case a store keeps answering 412 for a missing key)
      if not write then delay = M.POLL_FIRST end
      if write then sleep(0.2) end
      write = true
    elseif h.host == ident.host and tonumber(h.pid) and h.pid ~= ident.pid
        and (opts.alive or M.alive)(h.pid) == false then
      -- left by a process of this machine that is gone (killed, or it could
      -- not reach the bucket to release it): nobody else will release it
      say(("the lock held by %s was left by a process that no longer runs on this host: taking it over")
        :format(M.describe(h)))
      local ok, derr = M.delete(lc, where, h.etag)
      if ok == nil then return nil, ("cannot break the stale lock for %s: %s"):format(label, tostring(derr)), "failed" end
      write = true
    else
      if opts.no_wait then
        return nil, ("the lock for %s is held by %s (--no-wait)"):format(label, M.describe(h)), "held", h
      end
      if (opts.interrupts or proc.interrupts)() > 0 then
        return nil, ("interrupted while waiting for the lock held by %s"):format(M.describe(h)), "interrupted"
      end
      local t = now()
      started = started or t
      if waited_for ~= (h.token or h.etag) then
        say(("waiting for the lock held by %s"):format(M.describe(h)))
        waited_for, since_said = h.token or h.etag, t
      elseif t - since_said >= M.PROGRESS_EVERY then
        say(("still waiting for the lock held by %s (%d s)%s"):format(M.describe(h), math.floor(t - started),
          opts.hint and ("; if that process is gone, `%s` breaks it"):format(opts.hint) or ""))
        since_said = t
      end
      sleep(delay * (0.5 + 0.5 * random()))
      delay = math.min(delay * 1.5, M.POLL_MAX)
      write = false
    end
  end
end

--- Releases every lock this process holds (interrupts, the end of a command).
-- @return array of { handle =, status = | err = } (what each release said)
function M.release_all()
  local out = {}
  for i = #held, 1, -1 do
    local h = held[i]
    local st, err = h:release()
    out[#out + 1] = { handle = h, status = st, err = err }
    -- one that could not be released is dropped all the same: the caller
    -- says so (and how to break it); trying forever helps nobody
    for j, x in ipairs(held) do
      if x == h then table.remove(held, j) break end
    end
  end
  return out
end

--- Takes the lock for a command.
-- @param c client
-- @param where table (M.where)
-- @param opts table as acquire's, plus optional = "why a missing bucket
--   is no reason to stop" (then the command goes on without a lock, saying so)
-- @return handle | false (skipped: no bucket and optional) | nil, err (lake.errors)
function M.take(c, where, opts)
  local h, msg, why = M.acquire(c, where, opts)
  if h then return h end
  if why == "nobucket" and opts.optional then
    if opts.say then opts.say(("%s; going on without it (%s)"):format(msg, opts.optional)) end
    return false
  end
  if why == "nobucket" then
    return nil, errors.failure(msg .. ": run `lakehost APP.lua bootstrap` first")
  end
  if why == "interrupted" then return nil, errors.interrupted(msg) end
  if why == "held" and opts.hint then
    msg = msg .. ("; if that process is gone, `%s` breaks it"):format(opts.hint)
  end
  return nil, errors.failure(msg)
end

--- Says how releasing the locks ended, where it did not simply release them.
local function report_release(results, say)
  for _, r in ipairs(results) do
    local h = r.handle
    local where = ("s3://%s/%s"):format(h.where.bucket, h.key)
    if r.status == "left" then
      say(("the lock %s is left (the endpoint does not answer): the next run from this host takes it over; "
        .. "from another, `lakehost APP.lua unlock` breaks it"):format(where))
    elseif r.status == "gone" then
      say(("the lock %s was broken while this command ran"):format(where))
    elseif r.status == "taken" then
      say(("the lock %s was broken while this command ran; now held by %s (left alone)"):format(where,
        h.taken_by and M.describe(h.taken_by) or "another process"))
    elseif not r.status then
      say(("could not release the lock %s: %s; `lakehost APP.lua unlock` breaks it"):format(where, tostring(r.err)))
    end
  end
end

--- fn, made to release the locks it took (through take/acquire) when it
-- returns or raises; what fn returns (or raises) goes on unchanged.
-- @param fn function
-- @param say function(line)|nil where to say a release that went wrong (stderr)
function M.guarded(fn, say)
  say = say or function(line) io.stderr:write(line, "\n") io.stderr:flush() end
  return function(...)
    local before = #held
    local res = table.pack(pcall(fn, ...))
    local mine = {}
    while #held > before do mine[#mine + 1] = table.remove(held) end
    local results = {}
    for _, h in ipairs(mine) do
      local st, err = h:release()
      results[#results + 1] = { handle = h, status = st, err = err }
    end
    report_release(results, say)
    if not res[1] then error(res[2], 0) end
    return table.unpack(res, 2, res.n)
  end
end

return M
