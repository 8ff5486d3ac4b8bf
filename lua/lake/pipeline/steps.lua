--- The step registry: every step type of a pipeline is one module,
-- lake.pipeline.steps.<type> (lua/lake/pipeline/steps/<type>.lua), and
-- config checking, the stack, the state machine, the diagram and the local
-- runner find a step's type here and ask it; none of them knows a type by
-- name. lua/lake/pipeline/README.md says how to write one.
--
-- The built-in types are listed below; any other type named in a
-- config.yml is looked up as a module of the same name, so a file
-- lake/pipeline/steps/<type>.lua in a folder on LAKEHOST_PATH adds a type
-- without changing lakehost.
local util = require("lake.util")

local M = {}

--- The types lakehost ships, in the order messages list them.
M.BUILT_IN = { "lambda", "glue", "choice", "wait", "parallel", "map", "athena", "crawler", "notify" }

local NAME_PATTERN = "^[a-z][a-z0-9_]*$"

-- Types looked up so far: name -> type, or false (no such module).
local known = {}

-- The fields a type must have, and what each is (for a clear error when a
-- type file lacks one).
local REQUIRED = { name = "string", keys = "table", check = "function", state = "function" }

local function validate(t, name)
  if type(t) ~= "table" then return nil, ("step type '%s' must return a table"):format(name) end
  for field, want in util.spairs(REQUIRED) do
    if type(t[field]) ~= want then
      return nil, ("step type '%s' (lake.pipeline.steps.%s) has no %s %s"):format(name, name,
        want == "function" and "function" or want, field)
    end
  end
  if t.name ~= name then
    return nil, ("step type file lake.pipeline.steps.%s says its name is '%s'"):format(name, t.name)
  end
  return t
end

--- The step type called name.
-- @return type | nil, message, "unknown" (no such type: the message lists
--   the known ones) | nil, message (a type file that fails to load or lacks
--   a field: what is wrong)
function M.get(name)
  local t = known[name]
  if t then return t end
  if t == nil and type(name) == "string" and name:match(NAME_PATTERN) then
    -- looked up by name, so that a type on LAKEHOST_PATH is found: the
    -- one require that cannot stand at the top of a file
    local ok, mod = pcall(require, "lake.pipeline.steps." .. name)
    if ok then
      local valid, err = validate(mod, name)
      if not valid then return nil, err end
      known[name] = valid
      return valid
    end
    if not tostring(mod):find("module 'lake.pipeline.steps." .. name .. "' not found", 1, true) then
      return nil, ("step type '%s' cannot be loaded: %s"):format(name, tostring(mod))
    end
    known[name] = false
  end
  return nil, ("expected one of %s, got '%s'"):format(table.concat(M.names(), ", "), tostring(name)), "unknown"
end

--- The names of the types known: the built-in ones, then those found on
-- LAKEHOST_PATH so far, in name order.
function M.names()
  local out, seen = {}, {}
  for _, n in ipairs(M.BUILT_IN) do
    out[#out + 1] = n
    seen[n] = true
  end
  for _, n in ipairs(util.sorted_keys(known)) do
    if known[n] and not seen[n] then out[#out + 1] = n end
  end
  return out
end

--- Every type known, in the order of M.names.
function M.all()
  local out = {}
  for _, n in ipairs(M.names()) do
    local t = M.get(n)
    if t then out[#out + 1] = t end
  end
  return out
end

---------------------------------------------------------------------------
-- Helpers for the types' config checks (see README.md)

local MODULE_PATTERN = "^[A-Za-z_][A-Za-z0-9_-]*$"

--- The `module` property (a folder under steps/): sets step.module and step.module_line.
-- @param ck checker
-- @param props table the step's properties
-- @param step table the step being normalised ({ key, line, ... })
function M.module_property(ck, props, step)
  local pkey, pl = step.key .. ".properties", step.properties_line
  local mod = ck:required(props, "module", pkey, pl)
  if mod ~= nil and ck:expect(mod, "string", ck:line_of(props, "module", pl), pkey .. ".module") then
    if mod:match(MODULE_PATTERN) then
      step.module, step.module_line = mod, ck:line_of(props, "module", pl)
    else
      ck:add(ck:line_of(props, "module", pl), pkey .. ".module",
        ("'%s' is not a folder name under steps/ (letters, digits, '_' and '-')"):format(mod))
    end
  end
end

--- The `next_step` property: sets step.next_step (and where it was written).
function M.next_step_property(ck, props, step)
  if props.next_step == nil then return end
  local pkey = step.key .. ".properties"
  local nl = ck:line_of(props, "next_step", step.properties_line)
  if ck:expect(props.next_step, "string", nl, pkey .. ".next_step") then
    step.next_step, step.next_line, step.next_key = props.next_step, nl, pkey .. ".next_step"
  end
end

-- Line number of the byte offset pos in text.
local function line_at(text, pos)
  local n = 1
  for _ in text:sub(1, pos - 1):gmatch("\n") do n = n + 1 end
  return n
end

--- A text with ${name} placeholders as the value of a Parameters field,
-- filled from the state at run time by States.Format. The rest of the text
-- is a literal of the intrinsic: its \, ', { and } are escaped with a
-- backslash (https://states-language.net/spec.html#intrinsic-functions),
-- and each ${name} becomes {} with the path path(name) as its argument.
-- @param text string
-- @param path function(name) -> JSONPath ("$.x") | nil, message (a name refused)
-- @return { text = the text as it is (no placeholder) | format = "States.Format('...', $.a, ...)",
--   names = { the names, in order }, problems = { { line =, msg = } } (line in text) }
function M.format_template(text, path)
  local parts, args, out = {}, {}, { names = {}, problems = {} }
  local function lit(s) parts[#parts + 1] = (s:gsub("[\\'{}]", "\\%0")) end
  local pos = 1
  while true do
    local s = text:find("${", pos, true)
    if not s then
      lit(text:sub(pos))
      break
    end
    lit(text:sub(pos, s - 1))
    local e = text:find("}", s + 2, true)
    if not e then
      out.problems[#out.problems + 1] = { line = line_at(text, s), msg = "'${' without its closing '}'" }
      break
    end
    local name = text:sub(s + 2, e - 1)
    local p, err = path(name)
    if p then
      parts[#parts + 1] = "{}"
      args[#args + 1] = p
      out.names[#out.names + 1] = name
    else
      out.problems[#out.problems + 1] = { line = line_at(text, s), msg = err }
    end
    pos = e + 1
  end
  if #args == 0 then
    out.text = text
  else
    out.format = ("States.Format('%s', %s)"):format(table.concat(parts), table.concat(args, ", "))
  end
  return out
end

--- Parameters field key = a template (format_template's answer): "key" with
-- the text, or "key.$" with the States.Format call.
function M.set_template(params, key, t)
  if t.format then params[key .. ".$"] = t.format else params[key] = t.text end
  return params
end

--- The edges of a step that has a next_step: { {to=, line=, key=} } or {}.
function M.next_edge(step)
  if not step.next_step then return {} end
  return { { to = step.next_step, line = step.next_line, key = step.next_key } }
end

--- The lists of steps a step holds (a parallel's branches, a map's
-- steps), from its type's optional `step_lists(step)`: { { steps = array
-- (lake.pipeline.config.step_list's), what = "branch 1" } }, or {}.
function M.step_lists(step)
  local t = step.type and M.get(step.type)
  if t and t.step_lists then return t.step_lists(step) end
  return {}
end

--- The edges of a step, from its type (default: next_step).
function M.edges(step)
  local t = step.type and M.get(step.type)
  if t and t.edges then return t.edges(step) end
  return M.next_edge(step)
end

return M
