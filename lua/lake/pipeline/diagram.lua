--- A Mermaid flowchart of a pipeline's state machine, for people who would
-- rather look than read. Pure and deterministic: states in the order
-- lake.pipeline.asl gives them, edges in the order of each state's fields.
local asl = require("lake.pipeline.asl")

local M = {}

-- Mermaid labels live in "..."; quotes and markup become entities.
local ENTITY = { ['"'] = "#quot;", ["#"] = "#35;", ["<"] = "#lt;", [">"] = "#gt;", ["&"] = "#amp;" }
local label = require("lake.util").memoize(function(s)
  return (s:gsub("[\"#<>&]", ENTITY))
end)

--- Mermaid text of a definition.
-- @param def table ASL document from asl.build
-- @param order table state names from asl.build
-- @param title string|nil a comment line (e.g. the pipeline and its file)
-- @return string
function M.mermaid(def, order, title)
  local id = {}
  for i, name in ipairs(order) do id[name] = "s" .. i end
  local out = { "flowchart TD" }
  local function add(fmt, ...) out[#out + 1] = "  " .. fmt:format(...) end
  if title then add("%%%% %s", title) end
  add("start((start)) --> %s", id[def.StartAt])
  for _, name in ipairs(order) do
    local s, n = def.States[name], id[name]
    local what = s.Comment and s.Comment:match("^(%a+ step.*)$")
    local text = label(name) .. (what and ("<br/><small>" .. label(what) .. "</small>") or "")
    if s.Type == "Choice" then
      add('%s{"%s"}', n, label(name))
    elseif s.Type == "Fail" then
      add('%s(["%s"]):::fail', n, label(name))
    elseif name == asl.CATCH_STATE then
      add('%s["%s<br/><small>catch Lambda</small>"]:::catch', n, label(name))
    elseif s.Resource and tostring(s.Comment):match("^glue") then
      add('%s[["%s"]]', n, text)
    else
      add('%s["%s"]', n, text)
    end
    if s.Type == "Choice" then
      for _, c in ipairs(s.Choices) do
        add('%s -->|"%s = %s"| %s', n, label(c.Variable:gsub("^%$%.", "")), label(c.StringEquals), id[c.Next])
      end
      if s.Default then add('%s -.->|"no match"| %s', n, id[s.Default]) end
    else
      if s.Next then add("%s --> %s", n, id[s.Next]) end
      if s.End then add("%s --> done((end))", n) end
      for _, c in ipairs(s.Catch or {}) do add('%s -.->|"error"| %s', n, id[c.Next]) end
    end
  end
  add("classDef catch fill:#fff4e5,stroke:#d9822b")
  add("classDef fail fill:#fde8e8,stroke:#c23030")
  return table.concat(out, "\n") .. "\n"
end

return M
