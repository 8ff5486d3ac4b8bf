--- The wait step: the execution waits, then goes on to its next_step.
--
--   WaitForLateFiles:
--     type: wait
--     properties:
--       seconds: 300                 # or one of:
--       # seconds_path: $.delay      #   a field of the state holding seconds
--       # timestamp: '2024-05-01T10:00:00Z'   # until then (RFC 3339)
--       # timestamp_path: $.not_before        #   until the time in that field
--       next_step: ProcessLateFiles
--
-- Exactly one of the four. A Wait state has no Catch: a bad *_path at run
-- time fails the execution (States.Runtime). `run` computes the wait and
-- skips it unless given --wait (lake.run).
local jsonpath = require("lake.states.jsonpath")
local sm = require("lake.pipeline.state_machine")
local steps = require("lake.pipeline.steps")
local timestamp = require("lake.states.timestamp")

local M = { name = "wait", summary = "waits some seconds, or until a time, then goes on" }

M.FORMS = { "seconds", "seconds_path", "timestamp", "timestamp_path" }
M.keys = { "seconds", "seconds_path", "timestamp", "timestamp_path", "next_step" }
--- Step Functions' limit on a Wait of Seconds: one year.
M.MAX_SECONDS = 31536000

local ASL = { seconds = "Seconds", seconds_path = "SecondsPath", timestamp = "Timestamp",
  timestamp_path = "TimestampPath" }

function M.check(ck, props, step)
  local key, line = step.key .. ".properties", step.properties_line
  steps.next_step_property(ck, props, step)
  local given = {}
  for _, f in ipairs(M.FORMS) do if props[f] ~= nil then given[#given + 1] = f end end
  if #given ~= 1 then
    ck:add(#given > 1 and ck:line_of(props, given[2], line) or line, key,
      #given == 0 and "needs one of seconds, seconds_path, timestamp, timestamp_path"
      or ("takes exactly one of seconds, seconds_path, timestamp, timestamp_path, got %s")
        :format(table.concat(given, ", ")))
    return
  end
  local f = given[1]
  local v, fl, fkey = props[f], ck:line_of(props, f, line), key .. "." .. f
  if f == "seconds" then
    if not ck:int_range(v, 1, M.MAX_SECONDS, fl, fkey) then return end
  elseif f == "timestamp" then
    if not ck:expect(v, "string", fl, fkey) then return end
    if not timestamp.parse(v) then
      ck:add(fl, fkey, ("'%s' is not an RFC 3339 timestamp (such as 2024-05-01T10:00:00Z or "
        .. "2024-05-01T12:00:00.5+02:00)"):format(v))
      return
    end
  else
    if not ck:expect(v, "string", fl, fkey) then return end
    local _, err = jsonpath.parse(v)
    if v:sub(1, 1) ~= "$" or err then
      ck:add(fl, fkey, ("'%s' is not a JSONPath of the state (such as $.delay)%s"):format(v,
        err and v:sub(1, 1) == "$" and (": " .. err) or ""))
      return
    end
  end
  step.wait = { field = ASL[f], value = v }
end

--- Seconds, or the time, in words ("300 s", "until $.not_before").
function M.label(step)
  local w = step.wait
  if not w then return "wait step" end
  if w.field == "Seconds" then return ("wait step, %d s"):format(w.value) end
  if w.field == "SecondsPath" then return ("wait step, %s seconds"):format(w.value) end
  return ("wait step, until %s"):format(w.value)
end

function M.state(_, step)
  return sm.set_next({ Type = "Wait", Comment = M.label(step), [step.wait.field] = step.wait.value }, step)
end

function M.diagram(d, step, state)
  d:node("round", M.label(step))
  d:flow(state)
end

return M
