--- What a deploy is waiting for, said out loud.
--
-- A watch keeps the stacks whose operation runs on the CloudFormation side
-- (since when, the status and the event last seen), and the time of the
-- last answer from the endpoint (any HTTP response; the client records it).
-- The scheduler asks it, between steps, whether to stop and calls tick(),
-- which prints a line per stack in flight at least every `interval`
-- seconds, so that a deploy is never silent for long:
--
--   [1m30s] 2 stacks in progress:
--     lake-a-stack-dev  UPDATE_IN_PROGRESS for 1m05s, last event 12:01:02 RawBucket CREATE_COMPLETE
--
-- Why a deploy stops early (stop_reason):
--   "settle"   one interrupt (Ctrl-C, SIGTERM): start nothing new, let what
--              runs on CloudFormation settle, then end;
--   "now"      two interrupts: end at once;
--   "silence"  no answer from the endpoint for `timeout` seconds.
-- The watch does no I/O of its own: it prints through `out` and reads the
-- clock and the interrupt count through the functions it is given.
local M = {}

local Watch = {}
Watch.__index = Watch

--- Seconds as "45s", "3m05s", "1h02m".
function M.duration(s)
  s = math.max(0, math.floor(s + 0.5))
  if s < 60 then return ("%ds"):format(s) end
  if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%dh%02dm"):format(s // 3600, (s % 3600) // 60)
end

--- A watch.
-- @param opts { now = fn -> seconds, out = fn(line), interrupts = fn -> n,
--   last_answer = fn -> seconds | nil, timeout = seconds (300),
--   interval = seconds between progress lines (25, less for short timeouts),
--   endpoint = text naming the endpoint in messages }
function M.new(opts)
  local timeout = opts.timeout or 300
  local w = setmetatable({
    now = opts.now, out = opts.out, interrupts = opts.interrupts or function() return 0 end,
    last_answer = opts.last_answer or function() return nil end,
    -- 25 s between lines: a wait of up to 5 s between looks keeps them under 30 s apart
    timeout = timeout, interval = opts.interval or math.min(25, math.max(1, timeout / 5)),
    endpoint = opts.endpoint or "the AWS endpoint",
    flights = {}, started = opts.now(), said = nil, noted = 0, trouble_said = {},
  }, Watch)
  w.last_line = w.started
  return w
end

--- A stack operation began on the CloudFormation side (or is awaited).
function Watch:begin(name, status)
  self.flights[name] = { since = self.now(), status = status or "IN_PROGRESS" }
end

--- The stack's status and, optionally, the newest event seen.
function Watch:update(name, status, event)
  local f = self.flights[name]
  if not f then return end
  if status then f.status = status end
  if event then f.event = event end
end

--- The operation settled (or was given up).
function Watch:finish(name)
  self.flights[name] = nil
  self.trouble_said[name] = nil
end

--- Stacks in flight, by name: array of { name, status, since, event }.
function Watch:in_flight()
  local out = {}
  for name, f in pairs(self.flights) do
    out[#out + 1] = { name = name, status = f.status, since = f.since, event = f.event }
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

--- "a (UPDATE_IN_PROGRESS), b (CREATE_IN_PROGRESS)" or nil when none.
function Watch:flight_list()
  local parts = {}
  for _, f in ipairs(self:in_flight()) do parts[#parts + 1] = ("%s (%s)"):format(f.name, f.status) end
  return #parts > 0 and table.concat(parts, ", ") or nil
end

--- Seconds since the endpoint last answered (since the watch began when it never did).
function Watch:silent_for()
  local t = self.last_answer()
  if not t or t < self.started then t = self.started end
  return self.now() - t
end

--- nil, "settle", "now" or "silence" (see the module comment).
function Watch:stop_reason()
  local n = self.interrupts()
  if n >= 2 then return "now" end
  if self:silent_for() > self.timeout then return "silence" end
  if n == 1 then return "settle" end
  return nil
end

--- A poll failed in transport or on the server's side: said at once, then
-- at most once per interval for the same stack.
function Watch:trouble(name, what)
  local last = self.trouble_said[name]
  local now = self.now()
  if last and now - last < self.interval then return end
  self.trouble_said[name] = now
  self.out(("  %s: %s; retrying (no answer for %s, giving up after %s)"):format(name, what,
    M.duration(self:silent_for()), M.duration(self.timeout)))
end

--- Prints what is due: the interrupt notice once, progress lines every interval.
function Watch:tick()
  local now = self.now()
  local reason = self:stop_reason()
  if reason == "settle" and not self.said then
    self.said = "settle"
    local list = self:flight_list()
    self.out(("interrupted: starting no new stack operations%s (Ctrl-C again to exit now)"):format(
      list and ("; waiting for what runs on CloudFormation to settle: " .. list) or ""))
  end
  local flights = self:in_flight()
  if #flights == 0 then self.last_line = now return end
  if now - self.last_line < self.interval then return end
  self.last_line = now
  self.out(("[%s] %d stack%s in progress:"):format(M.duration(now - self.started), #flights,
    #flights == 1 and "" or "s"))
  for _, f in ipairs(flights) do
    self.out(("  %-44s %s for %s%s"):format(f.name, f.status, M.duration(now - f.since),
      f.event and (", last event " .. f.event) or ""))
  end
end

--- The message of a deploy that stopped early, with what to run next.
-- @param reason "now" | "silence"
-- @param verb "deploy" | "destroy" | "bootstrap"
-- @param command what to run again, e.g. "lakehost app.lua deploy"
function Watch:stopped_message(reason, verb, command)
  local list = self:flight_list()
  local head
  if reason == "silence" then
    head = ("no answer from %s for %s: %s stopped"):format(self.endpoint, M.duration(self:silent_for()), verb)
  else
    head = ("interrupted: %s stopped"):format(verb)
  end
  if list then
    return ("%s; still running on the CloudFormation side: %s. They go on without lakehost: run `%s` "
      .. "again to wait for them and converge"):format(head, list, command)
  end
  return ("%s; no stack operation was running. Run `%s` again to converge"):format(head, command)
end

return M
