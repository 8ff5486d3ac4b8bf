--- Checks a state machine definition before it runs.
--
-- Collects every problem (as strings, in a deterministic order) instead of
-- stopping at the first: definitions may come from users' files. The checks
-- follow the Amazon States Language: known state types and fields, Next /
-- End / Default / Catch targets that exist in the same scope, paths that parse
-- (reference paths where one is required), payload templates, Choice rules,
-- Retry and Catch fields, unique state names and reachable states. Features
-- the local interpreter cannot run (JSONata, variables, distributed Map
-- readers and writers) are reported as such.
local choice = require("lake.states.choice")
local intrinsics = require("lake.states.intrinsics")
local jsonpath = require("lake.states.jsonpath")
local payload = require("lake.states.payload")
local timestamp = require("lake.states.timestamp")
local util = require("lake.util")
local value = require("lake.states.value")

local M = {}

local TYPES = { "Choice", "Fail", "Map", "Parallel", "Pass", "Succeed", "Task", "Wait" }

local COMMON = { "Type", "Comment", "QueryLanguage" }
local IO = { "InputPath", "OutputPath" }
local FLOW = { "Next", "End" }
local RESULT = { "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch" }

local FIELDS = {
  Task = { FLOW, IO, RESULT, { "Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds",
    "HeartbeatSecondsPath", "Credentials" } },
  Pass = { FLOW, IO, { "Parameters", "ResultPath", "Result" } },
  Choice = { IO, { "Choices", "Default" } },
  Wait = { FLOW, IO, { "Seconds", "SecondsPath", "Timestamp", "TimestampPath" } },
  Succeed = { IO },
  Fail = { { "Error", "ErrorPath", "Cause", "CausePath" } },
  Parallel = { FLOW, IO, RESULT, { "Branches" } },
  Map = { FLOW, IO, RESULT, { "Iterator", "ItemProcessor", "ItemsPath", "ItemSelector", "MaxConcurrency",
    "MaxConcurrencyPath", "Label", "ItemReader", "ToleratedFailurePercentage" } },
}

-- Fields that exist in the language but that this interpreter cannot run.
local UNSUPPORTED = {
  Assign = "workflow variables (Assign) are not supported by the local interpreter",
  Arguments = "JSONata fields (Arguments) are not supported by the local interpreter",
  Output = "JSONata fields (Output) are not supported by the local interpreter",
  Items = "JSONata fields (Items) are not supported by the local interpreter",
  ItemBatcher = "a distributed Map's ItemBatcher is not supported by the local interpreter",
  ResultWriter = "a distributed Map's ResultWriter is not supported by the local interpreter",
  ToleratedFailurePercentagePath = "ToleratedFailurePercentagePath is not supported by the local interpreter",
  ToleratedFailureCount = "ToleratedFailureCount is not supported by the local interpreter",
  ToleratedFailureCountPath = "ToleratedFailureCountPath is not supported by the local interpreter",
}

local allowed = {}
for t, groups in pairs(FIELDS) do
  local set = {}
  for _, f in ipairs(COMMON) do set[f] = true end
  for _, group in ipairs(groups) do
    for _, f in ipairs(group) do set[f] = true end
  end
  allowed[t] = set
end

local function is_integer(v)
  return math.type(v) == "integer" or (math.type(v) == "float" and math.tointeger(v) ~= nil)
end

local function at(scope, what)
  if scope == "" then return what end
  return what .. " (" .. scope .. ")"
end

-- A checker carries the problem list and the names seen in the whole machine.
local Checker = {}
Checker.__index = Checker

function Checker:add(where, fmt, ...)
  self.problems[#self.problems + 1] = where .. ": " .. string.format(fmt, ...)
end

function Checker:path(where, field, v, opts)
  opts = opts or {}
  if v == value.null then
    if not opts.nullable then self:add(where, "%s must not be null", field) end
    return
  end
  if type(v) ~= "string" then
    self:add(where, "%s must be a path string", field)
    return
  end
  if opts.intrinsic and intrinsics.is_call(v) then
    local _, err = intrinsics.parse(v)
    if err then self:add(where, "%s: %s", field, err) end
    return
  end
  local p, err = jsonpath.parse(v)
  if not p then
    self:add(where, "%s: %s", field, err)
  elseif opts.reference and not p.reference then
    self:add(where, "%s must be a reference path (only .field, ['field'] and [index] steps), got '%s'", field, v)
  elseif opts.input_only and p.context then
    self:add(where, "%s cannot point into the context object ('%s')", field, v)
  end
end

function Checker:target(where, field, name, states)
  if type(name) ~= "string" then
    self:add(where, "%s must be a state name", field)
  elseif states[name] == nil then
    -- one-letter names are all "close"; a suggestion would be noise
    local hint = #name > 1 and util.did_you_mean(name, util.sorted_keys(states))
    self:add(where, "%s \"%s\" is not a state%s%s", field, name,
      self.scope_note or "", hint and " (did you mean \"" .. hint .. "\"?)" or "")
  end
end

function Checker:error_equals(where, list, kind, i, count)
  if value.kind(list) ~= "array" or #list == 0 then
    self:add(where, "ErrorEquals must be a non-empty array of error names")
    return
  end
  for _, name in ipairs(list) do
    if type(name) ~= "string" then
      self:add(where, "ErrorEquals must hold strings")
      return
    end
    if name == "States.ALL" then
      if #list > 1 then self:add(where, "States.ALL must appear alone in ErrorEquals") end
      if i ~= count then self:add(where, "States.ALL must be in the last %s", kind) end
    end
  end
end

local RETRIER = { ErrorEquals = true, IntervalSeconds = true, MaxAttempts = true, BackoffRate = true,
  MaxDelaySeconds = true, JitterStrategy = true, Comment = true }
local CATCHER = { ErrorEquals = true, Next = true, ResultPath = true, Comment = true }

function Checker:unknown_keys(where, t, set, what)
  for _, key in ipairs(util.sorted_keys(t)) do
    if not set[key] then
      local hint = util.did_you_mean(tostring(key), set)
      self:add(where, "unknown field '%s' in %s%s", tostring(key), what,
        hint and " (did you mean '" .. hint .. "'?)" or "")
    end
  end
end

function Checker:retry(where, list)
  if value.kind(list) ~= "array" then
    self:add(where, "Retry must be an array of retriers")
    return
  end
  for i, r in ipairs(list) do
    local w = string.format("%s Retry[%d]", where, i - 1)
    if value.kind(r) ~= "object" then
      self:add(w, "a retrier must be an object")
    else
      self:unknown_keys(w, r, RETRIER, "a retrier")
      self:error_equals(w, r.ErrorEquals, "retrier", i, #list)
      if r.IntervalSeconds ~= nil and not (is_integer(r.IntervalSeconds) and r.IntervalSeconds >= 1) then
        self:add(w, "IntervalSeconds must be a positive integer")
      end
      if r.MaxAttempts ~= nil and not (is_integer(r.MaxAttempts) and r.MaxAttempts >= 0) then
        self:add(w, "MaxAttempts must be an integer, 0 or more")
      end
      if r.BackoffRate ~= nil and not (type(r.BackoffRate) == "number" and r.BackoffRate >= 1) then
        self:add(w, "BackoffRate must be a number, 1.0 or more")
      end
      if r.MaxDelaySeconds ~= nil and not (is_integer(r.MaxDelaySeconds) and r.MaxDelaySeconds >= 1) then
        self:add(w, "MaxDelaySeconds must be a positive integer")
      end
      if r.JitterStrategy ~= nil and r.JitterStrategy ~= "FULL" and r.JitterStrategy ~= "NONE" then
        self:add(w, "JitterStrategy must be \"FULL\" or \"NONE\"")
      end
    end
  end
end

function Checker:catch(where, list, states)
  if value.kind(list) ~= "array" then
    self:add(where, "Catch must be an array of catchers")
    return
  end
  for i, c in ipairs(list) do
    local w = string.format("%s Catch[%d]", where, i - 1)
    if value.kind(c) ~= "object" then
      self:add(w, "a catcher must be an object")
    else
      self:unknown_keys(w, c, CATCHER, "a catcher")
      self:error_equals(w, c.ErrorEquals, "catcher", i, #list)
      self:target(w, "Next", c.Next, states)
      if c.ResultPath ~= nil then
        self:path(w, "ResultPath", c.ResultPath, { nullable = true, reference = true, input_only = true })
      end
    end
  end
end

-- Names a state may go to next (for the reachability walk).
local function successors(state)
  local out = {}
  if type(state.Next) == "string" then out[#out + 1] = state.Next end
  if type(state.Default) == "string" then out[#out + 1] = state.Default end
  if value.kind(state.Choices) == "array" then
    for _, rule in ipairs(state.Choices) do
      if value.kind(rule) == "object" and type(rule.Next) == "string" then out[#out + 1] = rule.Next end
    end
  end
  if value.kind(state.Catch) == "array" then
    for _, c in ipairs(state.Catch) do
      if value.kind(c) == "object" and type(c.Next) == "string" then out[#out + 1] = c.Next end
    end
  end
  return out
end

function Checker:state(name, state, states, scope)
  local where = at(scope, string.format("state \"%s\"", name))
  if value.kind(state) ~= "object" then
    self:add(where, "a state must be an object")
    return
  end
  local t = state.Type
  if type(t) ~= "string" or not FIELDS[t] then
    local hint = type(t) == "string" and util.did_you_mean(t, TYPES)
    self:add(where, "Type must be one of %s%s", table.concat(TYPES, ", "),
      hint and " (did you mean \"" .. hint .. "\"?)" or "")
    return
  end
  for _, key in ipairs(util.sorted_keys(state)) do
    if not allowed[t][key] then
      if UNSUPPORTED[key] then
        self:add(where, "%s", UNSUPPORTED[key])
      elseif (key == "Next" or key == "End") and (t == "Choice" or t == "Succeed" or t == "Fail") then
        self:add(where, t == "Choice" and "a Choice state takes no %s (its Choices and Default name the next state)"
          or "a " .. t .. " state ends its branch and takes no %s", key)
      else
        local hint = util.did_you_mean(tostring(key), allowed[t])
        self:add(where, "unknown field '%s' for a %s state%s", tostring(key), t,
          hint and " (did you mean '" .. hint .. "'?)" or "")
      end
    end
  end
  if state.QueryLanguage ~= nil and state.QueryLanguage ~= "JSONPath" then
    self:add(where, "QueryLanguage %s is not supported by the local interpreter (only JSONPath)",
      tostring(state.QueryLanguage))
  end
  if allowed[t].Next then
    if state.Next ~= nil then
      self:target(where, "Next", state.Next, states)
      if state.End == true then self:add(where, "has both Next and End") end
    elseif state.End ~= true then
      self:add(where, "needs Next or \"End\": true")
    end
    if state.End ~= nil and type(state.End) ~= "boolean" then self:add(where, "End must be true or false") end
  end
  if state.InputPath ~= nil then self:path(where, "InputPath", state.InputPath, { nullable = true }) end
  if state.OutputPath ~= nil then self:path(where, "OutputPath", state.OutputPath, { nullable = true }) end
  if allowed[t].ResultPath and state.ResultPath ~= nil then
    self:path(where, "ResultPath", state.ResultPath, { nullable = true, reference = true, input_only = true })
  end
  for _, field in ipairs({ "Parameters", "ResultSelector", "ItemSelector" }) do
    if allowed[t][field] and state[field] ~= nil then
      payload.check(state[field], where .. " " .. field, self.problems)
    end
  end
  if state.ResultSelector ~= nil and value.kind(state.ResultSelector) ~= "object" then
    self:add(where, "ResultSelector must be an object")
  end
  if allowed[t].Retry and state.Retry ~= nil then self:retry(where, state.Retry) end
  if allowed[t].Catch and state.Catch ~= nil then self:catch(where, state.Catch, states) end

  if t == "Task" then
    if type(state.Resource) ~= "string" or state.Resource == "" then
      self:add(where, "Resource must be a string (an ARN)")
    end
    for _, f in ipairs({ "TimeoutSeconds", "HeartbeatSeconds" }) do
      if state[f] ~= nil and not (is_integer(state[f]) and state[f] >= 1) then
        self:add(where, "%s must be a positive integer", f)
      end
      if state[f] ~= nil and state[f .. "Path"] ~= nil then self:add(where, "give %s or %sPath, not both", f, f) end
      if state[f .. "Path"] ~= nil then
        self:path(where, f .. "Path", state[f .. "Path"], { reference = true, input_only = true })
      end
    end
    if is_integer(state.TimeoutSeconds) and is_integer(state.HeartbeatSeconds)
        and state.HeartbeatSeconds >= state.TimeoutSeconds then
      self:add(where, "HeartbeatSeconds must be less than TimeoutSeconds")
    end
  elseif t == "Wait" then
    local given = {}
    for _, f in ipairs({ "Seconds", "SecondsPath", "Timestamp", "TimestampPath" }) do
      if state[f] ~= nil then given[#given + 1] = f end
    end
    if #given ~= 1 then
      self:add(where, "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath%s",
        #given > 1 and " (got " .. table.concat(given, ", ") .. ")" or "")
    end
    if state.Seconds ~= nil and not (is_integer(state.Seconds) and state.Seconds >= 0) then
      self:add(where, "Seconds must be an integer, 0 or more")
    end
    if state.Timestamp ~= nil and not timestamp.parse(state.Timestamp) then
      self:add(where, "Timestamp must be an RFC 3339 timestamp such as \"2016-08-18T17:33:00Z\"")
    end
    for _, f in ipairs({ "SecondsPath", "TimestampPath" }) do
      if state[f] ~= nil then self:path(where, f, state[f], { reference = true, input_only = true }) end
    end
  elseif t == "Fail" then
    for _, f in ipairs({ "Error", "Cause" }) do
      if state[f] ~= nil and type(state[f]) ~= "string" then self:add(where, "%s must be a string", f) end
      if state[f] ~= nil and state[f .. "Path"] ~= nil then self:add(where, "give %s or %sPath, not both", f, f) end
      if state[f .. "Path"] ~= nil then
        self:path(where, f .. "Path", state[f .. "Path"], { reference = true, intrinsic = true })
      end
    end
  elseif t == "Choice" then
    if value.kind(state.Choices) ~= "array" or #state.Choices == 0 then
      self:add(where, "Choices must be a non-empty array of Choice rules")
    else
      for i, rule in ipairs(state.Choices) do
        local w = string.format("%s Choices[%d]", where, i - 1)
        choice.check(rule, w, true, self.problems)
        if value.kind(rule) == "object" and type(rule.Next) == "string" then
          self:target(w, "Next", rule.Next, states)
        end
      end
    end
    if state.Default ~= nil then self:target(where, "Default", state.Default, states) end
  elseif t == "Parallel" then
    if value.kind(state.Branches) ~= "array" or #state.Branches == 0 then
      self:add(where, "Branches must be a non-empty array of state machines")
    else
      for i, branch in ipairs(state.Branches) do
        local sub = string.format("branch %d of \"%s\"", i - 1, name)
        self:machine(branch, scope == "" and sub or sub .. ", " .. scope, {})
      end
    end
  elseif t == "Map" then
    local proc = state.ItemProcessor
    if proc ~= nil and state.Iterator ~= nil then
      self:add(where, "give ItemProcessor or Iterator, not both")
    elseif proc == nil and state.Iterator == nil then
      self:add(where, "a Map state needs an ItemProcessor")
    else
      local sub = string.format("the ItemProcessor of \"%s\"", name)
      local extra = {}
      if proc ~= nil then
        extra.ProcessorConfig = true
        if value.kind(proc) == "object" and proc.ProcessorConfig ~= nil then
          local cfg = proc.ProcessorConfig
          local mode = value.kind(cfg) == "object" and cfg.Mode
          if mode == false or (mode ~= nil and mode ~= "INLINE" and mode ~= "DISTRIBUTED") then
            self:add(where, "ProcessorConfig.Mode must be \"INLINE\" or \"DISTRIBUTED\"")
          end
        end
      end
      self:machine(proc or state.Iterator, scope == "" and sub or sub .. ", " .. scope, extra)
    end
    if state.Parameters ~= nil and state.ItemSelector ~= nil then
      self:add(where, "give ItemSelector or Parameters, not both")
    end
    if state.ItemsPath ~= nil then self:path(where, "ItemsPath", state.ItemsPath, { reference = true }) end
    if state.MaxConcurrency ~= nil and not (is_integer(state.MaxConcurrency) and state.MaxConcurrency >= 0) then
      self:add(where, "MaxConcurrency must be an integer, 0 or more")
    end
    -- the distributed mode's fields (ItemReader: its items, from the
    -- runner's read_items)
    local mode = value.kind(proc) == "object" and value.kind(proc.ProcessorConfig) == "object"
      and proc.ProcessorConfig.Mode
    for _, f in ipairs({ "ItemReader", "ToleratedFailurePercentage" }) do
      if state[f] ~= nil and mode ~= "DISTRIBUTED" then
        self:add(where, "%s needs ItemProcessor.ProcessorConfig.Mode \"DISTRIBUTED\"", f)
      end
    end
    local tf = state.ToleratedFailurePercentage
    if tf ~= nil and not (type(tf) == "number" and tf >= 0 and tf <= 100) then
      self:add(where, "ToleratedFailurePercentage must be a number from 0 to 100")
    end
    local reader = state.ItemReader
    if reader ~= nil then
      if value.kind(reader) ~= "object" or type(reader.Resource) ~= "string" then
        self:add(where, "ItemReader must be an object with a Resource")
      elseif reader.Parameters ~= nil and value.kind(reader.Parameters) ~= "object" then
        self:add(where, "ItemReader.Parameters must be an object")
      end
      if state.ItemsPath ~= nil then self:add(where, "give ItemReader or ItemsPath, not both") end
    end
  end
end

local MACHINE = { StartAt = true, States = true, Comment = true, Version = true, TimeoutSeconds = true,
  QueryLanguage = true }

function Checker:machine(def, scope, extra)
  local where = scope == "" and "definition" or scope
  if value.kind(def) ~= "object" then
    self:add(where, "a state machine must be an object with StartAt and States")
    return
  end
  local keys = {}
  for k in pairs(MACHINE) do keys[k] = true end
  for k in pairs(extra) do keys[k] = true end
  if scope ~= "" then
    keys.TimeoutSeconds, keys.Version = nil, nil
  end
  for _, key in ipairs(util.sorted_keys(def)) do
    if not keys[key] then
      if UNSUPPORTED[key] then
        self:add(where, "%s", UNSUPPORTED[key])
      else
        local hint = util.did_you_mean(tostring(key), keys)
        self:add(where, "unknown field '%s'%s", tostring(key), hint and " (did you mean '" .. hint .. "'?)" or "")
      end
    end
  end
  if def.QueryLanguage ~= nil and def.QueryLanguage ~= "JSONPath" then
    self:add(where, "QueryLanguage %s is not supported by the local interpreter (only JSONPath)",
      tostring(def.QueryLanguage))
  end
  if scope == "" and def.TimeoutSeconds ~= nil and not (is_integer(def.TimeoutSeconds) and def.TimeoutSeconds >= 1) then
    self:add(where, "TimeoutSeconds must be a positive integer")
  end
  local states = def.States
  if value.kind(states) ~= "object" or next(states) == nil then
    self:add(where, "States must be an object with at least one state")
    return
  end
  local outer_note = self.scope_note
  self.scope_note = scope == "" and "" or " in " .. scope:match("^[^,]*")
  if type(def.StartAt) ~= "string" then
    self:add(where, "StartAt must be a state name")
  else
    self:target(where, "StartAt", def.StartAt, states)
  end
  for _, name in ipairs(util.sorted_keys(states)) do
    if type(name) == "string" then
      if self.seen[name] then
        self:add(at(scope, string.format("state \"%s\"", name)),
          "the name is used more than once (state names must be unique in the whole state machine)")
      end
      self.seen[name] = true
    end
  end
  for _, name in ipairs(util.sorted_keys(states)) do
    self:state(tostring(name), states[name], states, scope)
  end
  self.scope_note = outer_note
  -- reachability from StartAt
  if type(def.StartAt) == "string" and states[def.StartAt] ~= nil then
    local reached, queue = { [def.StartAt] = true }, { def.StartAt }
    while #queue > 0 do
      local name = table.remove(queue)
      local state = states[name]
      if value.kind(state) == "object" then
        for _, n in ipairs(successors(state)) do
          if states[n] ~= nil and not reached[n] then
            reached[n] = true
            queue[#queue + 1] = n
          end
        end
      end
    end
    for _, name in ipairs(util.sorted_keys(states)) do
      if not reached[name] then
        self:add(at(scope, string.format("state \"%s\"", tostring(name))),
          "is not reachable from StartAt \"%s\"", def.StartAt)
      end
    end
  end
end

--- Checks a decoded definition.
-- @param definition any the decoded JSON of a state machine
-- @return table array of problem strings (empty when the definition is fine)
function M.definition(definition)
  local c = setmetatable({ problems = {}, seen = {}, scope_note = "" }, Checker)
  c:machine(definition, "", {})
  return c.problems
end

return M
