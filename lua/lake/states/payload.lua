--- Payload templates: the Parameters, ResultSelector and ItemSelector fields.
--
-- A template is a JSON value. In its objects (at any depth, arrays included)
-- a key ending in ".$" names a dynamic field: its value is a path into the
-- input (`$...`), a path into the context object (`$$...`) or an intrinsic
-- function call, and the output key drops the ".$". Every other value is
-- copied as it is.
local intrinsics = require("lake.states.intrinsics")
local jsonpath = require("lake.states.jsonpath")
local value = require("lake.states.value")

local M = {}

-- Sorted keys of a table (deterministic messages).
local function keys_of(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function check(tpl, where, field, problems)
  local kind = value.kind(tpl)
  if kind == "array" then
    for i = 1, #tpl do check(tpl[i], where, field .. "[" .. (i - 1) .. "]", problems) end
  elseif kind == "object" then
    for _, key in ipairs(keys_of(tpl)) do
      local v = tpl[key]
      local name = field == "" and key or field .. "." .. key
      if type(key) == "string" and key:sub(-2) == ".$" then
        if tpl[key:sub(1, -3)] ~= nil then
          problems[#problems + 1] = string.format("%s: both '%s' and '%s' are given", where, key:sub(1, -3), key)
        end
        if type(v) ~= "string" then
          problems[#problems + 1] = string.format(
            "%s: the value of '%s' must be a path or an intrinsic function call", where, name)
        elseif intrinsics.is_call(v) then
          local _, err = intrinsics.parse(v)
          if err then problems[#problems + 1] = string.format("%s: '%s': %s", where, name, err) end
        else
          local _, err = jsonpath.parse(v)
          if err then problems[#problems + 1] = string.format("%s: '%s': %s", where, name, err) end
        end
      else
        check(v, where, name, problems)
      end
    end
  end
end

--- Checks a template once, before any run.
-- @param tpl any the template
-- @param where string prefix of messages ("state \"X\": Parameters")
-- @param problems table array the messages are appended to
function M.check(tpl, where, problems)
  check(tpl, where, "", problems)
end

local function render(tpl, env)
  local kind = value.kind(tpl)
  if kind == "array" then
    local out = {}
    for i = 1, #tpl do
      local v, name, cause = render(tpl[i], env)
      if v == nil then return nil, name, cause end
      out[i] = v
    end
    return value.array(out)
  elseif kind == "object" then
    local out = value.object()
    for _, key in ipairs(keys_of(tpl)) do
      local v = tpl[key]
      if key:sub(-2) == ".$" then
        local res, err
        if intrinsics.is_call(v) then
          res, err = intrinsics.eval(v, env)
          if res == nil then
            return nil, "States.IntrinsicFailure",
              string.format("The intrinsic function in the field '%s' failed: %s", key, err)
          end
        else
          local p = assert(jsonpath.parse(v))
          res, err = jsonpath.get(p.context and env.context or env.input, p)
          if res == nil then
            return nil, "States.ParameterPathFailure",
              string.format("The JSONPath '%s' specified for the field '%s' could not be found in the %s: %s",
                v, key, p.context and "context object" or "input '" .. value.preview(env.input) .. "'", err)
          end
        end
        out[key:sub(1, -3)] = res
      else
        local res, name, cause = render(v, env)
        if res == nil then return nil, name, cause end
        out[key] = res
      end
    end
    return out
  end
  return tpl
end

--- Renders a template against an input and the context object.
-- @param tpl any the template (checked with payload.check)
-- @param env table {input=, context=, random=, uuid=} (see intrinsics.eval)
-- @return any|nil the rendered value, or nil, error name, cause on failure
--   ("States.ParameterPathFailure" or "States.IntrinsicFailure")
function M.render(tpl, env)
  return render(tpl, env)
end

return M
