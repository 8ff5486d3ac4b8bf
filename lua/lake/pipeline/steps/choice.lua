--- The choice step: the first choice whose field of the state equals its
-- string goes on to its next_step; when none does, the run fails through
-- the pipeline's catch.
--
--   RouteChoice:
--     type: choice
--     properties:
--       choices:
--         - { variable: route, equals: type1, next_step: ProcessType1 }
--         - { variable: route, equals: type2, next_step: ProcessType2 }
local config = require("lake.pipeline.config")
local json = require("host.json")
local sm = require("lake.pipeline.state_machine")

local M = { name = "choice", summary = "goes on to the step of the first choice that matches the state" }

M.keys = { "choices" }
M.CHOICE_KEYS = { "variable", "equals", "next_step" }

---------------------------------------------------------------------------
-- config.yml

function M.check(ck, props, step)
  local key, line = step.key .. ".properties", step.properties_line
  step.choices = {}
  local choices = ck:required(props, "choices", key, line)
  if choices == nil then return end
  local cl = ck:line_of(props, "choices", line)
  if not ck:expect(choices, "list", cl, key .. ".choices") then return end
  if #choices == 0 then
    ck:add(cl, key .. ".choices", "needs at least one choice")
    return
  end
  for i, c in ipairs(choices) do
    local ckey, il = ("%s.choices[%d]"):format(key, i), ck:line_of(choices, i, cl)
    if ck:expect(c, "mapping", il, ckey) then
      ck:unknown_keys(c, M.CHOICE_KEYS, ckey)
      local out = { index = i, line = il }
      local var = ck:required(c, "variable", ckey, il)
      if var ~= nil and ck:expect(var, "string", ck:line_of(c, "variable", il), ckey .. ".variable") then
        local ok = true
        for part in (var .. "."):gmatch("(.-)%.") do
          if not part:match(config.IDENT_PATTERN) then ok = false end
        end
        if ok then
          out.variable = var
        else
          ck:add(ck:line_of(c, "variable", il), ckey .. ".variable",
            ("'%s' is not a key of the state (use names such as route or file.type)"):format(var))
        end
      end
      local eq = ck:required(c, "equals", ckey, il)
      if eq ~= nil and ck:expect(eq, "string", ck:line_of(c, "equals", il), ckey .. ".equals") then
        out.equals = eq
      end
      local nx = ck:required(c, "next_step", ckey, il)
      if nx ~= nil and ck:expect(nx, "string", ck:line_of(c, "next_step", il), ckey .. ".next_step") then
        out.next_step, out.next_line, out.next_key = nx, ck:line_of(c, "next_step", il), ckey .. ".next_step"
      end
      step.choices[#step.choices + 1] = out
    end
  end
end

--- A choice leads to the next_step of each of its choices.
function M.edges(step)
  local out = {}
  for _, c in ipairs(step.choices or {}) do
    if c.next_step then out[#out + 1] = { to = c.next_step, line = c.next_line, key = c.next_key } end
  end
  return out
end

---------------------------------------------------------------------------
-- The state machine (a choice adds no resources)

--- Compares $.variable with StringEquals; no match goes to ErrorCatch.
function M.state(_, step)
  local choices = setmetatable({}, json.array_mt)
  for i, c in ipairs(step.choices) do
    choices[i] = { Variable = "$." .. c.variable, StringEquals = c.equals, Next = c.next_step }
  end
  return { Type = "Choice", Comment = "choice step", Choices = choices, Default = sm.CATCH_STATE }
end

function M.diagram(d, _, state)
  d:node("rhombus")
  for _, c in ipairs(state.Choices) do
    d:edge(c.Next, c.Variable:gsub("^%$%.", "") .. " = " .. c.StringEquals)
  end
  d:edge(state.Default, "no match", true)
end

return M
