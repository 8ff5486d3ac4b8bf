--- A Mermaid flowchart of a pipeline's state machine, for people who would
-- rather look than read. Pure and deterministic: the steps in file order,
-- each drawn by its type (lake.pipeline.steps: its `diagram`), then the
-- error path.
local state_machine = require("lake.pipeline.state_machine")
local steps = require("lake.pipeline.steps")

local M = {}

-- Mermaid labels live in "..."; quotes and markup become entities.
local ENTITY = { ['"'] = "#quot;", ["#"] = "#35;", ["<"] = "#lt;", [">"] = "#gt;", ["&"] = "#amp;" }
local function label(s) return (tostring(s):gsub("[\"#<>&]", ENTITY)) end
M.label = label

--- Node shapes a step type may ask for: Mermaid's brackets around the text.
M.SHAPES = { rect = { "[", "]" }, subroutine = { "[[", "]]" }, rhombus = { "{", "}" },
  stadium = { "([", "])" }, circle = { "((", "))" }, hexagon = { "{{", "}}" },
  parallelogram = { "[/", "/]" }, trapezoid = { "[/", "\\]" }, cylinder = { "[(", ")]" }, flag = { ">", "]" },
  parallelogram_alt = { "[\\", "\\]" }, round = { "(", ")" } }

local Drawing = {}
Drawing.__index = Drawing

--- The current state's node: its name, and what it is in small print.
-- @param shape string a key of M.SHAPES
-- @param what string|nil the line under the name ("lambda step, module x")
-- @param class string|nil a classDef of the drawing ("catch", "fail")
function Drawing:node(shape, what, class)
  local b = assert(M.SHAPES[shape], "diagram: unknown shape " .. tostring(shape))
  local text = label(self.name) .. (what and ("<br/><small>" .. label(what) .. "</small>") or "")
  self:line('%s%s"%s"%s%s', self.id, b[1], text, b[2], class and (":::" .. class) or "")
end

--- An edge from the current state to the state called to, with a label;
-- dotted for a path taken only when something goes wrong.
function Drawing:edge(to, text, dotted)
  if to == nil then return end
  local arrow = dotted and "-.->" or "-->"
  if text then
    self:line('%s %s|"%s"| %s', self.id, arrow, label(text), self.ids[to])
  else
    self:line("%s %s %s", self.id, arrow, self.ids[to])
  end
end

--- The edges of a task-like state: Next, End and its Catch.
function Drawing:flow(state)
  if state.Next then self:edge(state.Next) end
  if state.End then self:line("%s --> %s", self.id, self.done or "done((end))") end
  for _, c in ipairs(state.Catch or {}) do self:edge(c.Next, "error", true) end
end

function Drawing:line(fmt, ...) self.out[#self.out + 1] = ("  "):rep(self.depth) .. fmt:format(...) end

-- Draws each step of list with its state in machine (its type's diagram).
function Drawing:draw_steps(list, machine)
  for _, step in ipairs(list) do
    local t = assert(steps.get(step.type))
    local state = machine.States[step.name]
    self.name, self.id, self.states = step.name, self.ids[step.name], machine.States
    if t.diagram then
      t.diagram(self, step, state)
    else
      self:node("rect")
      self:flow(state)
    end
  end
end

--- For a step that holds lists of steps (a parallel, a map): draws the
-- current state's node, then each list as a subgraph entered from the node
-- and whose ends meet at a join node, which has the state's own edges
-- (Next, End, Catch).
-- @param shape string the node's shape
-- @param what string|nil the node's small print
-- @param lists array of { steps = array, machine = the list's state machine, title = string }
-- @param state table the state (its Next, End and Catch)
-- @param join string the join node's text ("all branches", "every item")
function Drawing:holder(shape, what, lists, state, join)
  local id, name = self.id, self.name
  self:node(shape, what)
  local join_id = id .. "_join"
  for i, l in ipairs(lists) do
    self:line('subgraph %s_%d ["%s"]', id, i, label(l.title))
    self.depth = self.depth + 1
    local done = self.done
    self.done = join_id
    self:draw_steps(l.steps, l.machine)
    self.done = done
    self.depth = self.depth - 1
    self:line("end")
    self:line("%s --> %s", id, self.ids[l.machine.StartAt])
  end
  self:line('%s(("%s"))', join_id, label(join))
  self.name, self.id = name, join_id
  self:flow(state)
  self.id = id
end

--- Mermaid text of a pipeline's definition.
-- @param cfg table the validated config (its steps, in file order)
-- @param def table ASL document from lake.pipeline.state_machine.build
-- @param order table state names from that build
-- @param title string|nil a comment line (e.g. the pipeline and its file)
-- @return string
function M.mermaid(cfg, def, order, title)
  -- ids: the top-level states in order, then the states inside parallel
  -- and map steps as they are met
  local n = #order
  local ids = setmetatable({}, { __index = function(t, name)
    n = n + 1
    t[name] = "s" .. n
    return t[name]
  end })
  local d = setmetatable({ ids = ids, out = { "flowchart TD" }, depth = 1 }, Drawing)
  for i, name in ipairs(order) do d.ids[name] = "s" .. i end
  if title then d:line("%%%% %s", title) end
  d:line("start((start)) --> %s", d.ids[def.StartAt])
  d:draw_steps(cfg.steps, def)
  -- the error path
  local catch, fail = state_machine.CATCH_STATE, state_machine.FAIL_STATE
  d.name, d.id = catch, d.ids[catch]
  d:node("rect", "catch Lambda", "catch")
  d:flow(def.States[catch])
  d.name, d.id = fail, d.ids[fail]
  d:node("stadium", nil, "fail")
  d:line("classDef catch fill:#fff4e5,stroke:#d9822b")
  d:line("classDef fail fill:#fde8e8,stroke:#c23030")
  return table.concat(d.out, "\n") .. "\n"
end

return M
