--- The parallel step: runs its branches at the same time, each a list of
-- steps of its own (any type, parallel and map too) with the step's input,
-- and goes on once all have ended, their outputs in an array in branch
-- order. A failing branch fails the step, which goes to the pipeline's
-- catch like a failing task.
--
--   CleanAll:
--     type: parallel
--     properties:
--       branches:
--         - CleanOrders:
--             type: lambda
--             properties: { module: clean_orders, next_step: LoadOrders }
--           LoadOrders:
--             type: glue
--             properties: { module: load_orders }
--         - CleanCustomers:
--             type: lambda
--             properties: { module: clean_customers }
--       result_path: branches     # the default: the state keeps its keys, the array is in $.branches
--       next_step: AddToDatabase
--
-- Each branch starts at its first step; its steps go on (next_step) only
-- to steps of the same branch. Their names are unique in the pipeline
-- (their resources are named after their modules as anywhere else).
local config = require("lake.pipeline.config")
local json = require("host.json")
local sm = require("lake.pipeline.state_machine")
local steps = require("lake.pipeline.steps")

local M = { name = "parallel", summary = "runs lists of steps side by side and joins their outputs in an array" }

M.keys = { "branches", "result_path", "next_step" }
M.defaults = { result_path = "branches" }

local function arr(t) return setmetatable(t or {}, json.array_mt) end

function M.label(step)
  local n = #(step.branches or {})
  return ("parallel step, %d branch%s"):format(n, n == 1 and "" or "es")
end

---------------------------------------------------------------------------
-- config.yml

--- The `result_path` property of a step that makes an array (parallel,
-- map): a key of the state ("branches", "file.parts") where the array goes,
-- "$" (the array replaces the state) or "none" (the array is dropped, the
-- state goes on unchanged). Sets step.result_path to the ASL ResultPath
-- (a string, or json.null for none).
function M.result_path_property(ck, props, step, default)
  local key, line = step.key .. ".properties", step.properties_line
  local v = props.result_path
  if v == nil then v = default end
  step.result_path = "$." .. default
  local rl = ck:line_of(props, "result_path", line)
  if not ck:expect(v, "string", rl, key .. ".result_path") then return end
  if v == "$" then
    step.result_path = "$"
  elseif v == "none" then
    step.result_path = json.null
  else
    local ok = true
    for part in (v .. "."):gmatch("(.-)%.") do
      if not part:match(config.IDENT_PATTERN) then ok = false end
    end
    if ok then
      step.result_path = "$." .. v
    else
      ck:add(rl, key .. ".result_path", ("'%s' is not a key of the state: use a name such as %s or file.parts, "
        .. "'$' (the array replaces the state) or 'none' (the array is dropped)"):format(v, default))
    end
  end
end

function M.check(ck, props, step)
  steps.next_step_property(ck, props, step)
  M.result_path_property(ck, props, step, M.defaults.result_path)
  local key, line = step.key .. ".properties", step.properties_line
  step.branches = {}
  local b, bl = ck:required_list(props, "branches", key, line, "needs at least one branch: a list of mappings of steps")
  if not b then return end
  for i, branch in ipairs(b) do
    local list = config.step_list(ck, branch, ck:line_of(b, i, bl), ("%s.branches[%d]"):format(key, i))
    if list and #list > 0 then step.branches[#step.branches + 1] = list end
  end
end

--- Its branches are lists of steps (see lake.pipeline.steps.step_lists).
function M.step_lists(step)
  local out = {}
  for i, list in ipairs(step.branches or {}) do out[i] = { steps = list, what = ("branch %d"):format(i) } end
  return out
end

---------------------------------------------------------------------------
-- The state machine (the steps inside have their own resources, made by
-- their types as for any step)

function M.state(p, step, cfg)
  local branches = arr()
  for i, list in ipairs(step.branches) do branches[i] = sm.machine(p, list, cfg) end
  return sm.set_next({ Type = "Parallel", Comment = M.label(step), Branches = branches,
    ResultPath = step.result_path, Catch = sm.catch_all() }, step)
end

function M.diagram(d, step, state)
  local lists = {}
  for i, list in ipairs(step.branches) do
    lists[i] = { steps = list, machine = state.Branches[i], title = ("%s: branch %d"):format(step.name, i) }
  end
  d:holder("parallelogram", M.label(step), lists, state, "all branches")
end

return M
