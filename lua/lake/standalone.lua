--- Standalone stacks: plain Lua files that get the app and the built lake and
-- add stacks of their own.
--
--   -- standalone/extra_policies.lua
--   local app, datalake = ...
--   local stack = app:stack(lake.Name("lake-extra-policies-stack", datalake.stage))
--
-- A script runs in its own environment: the safe builtins, `lake` (the DSL,
-- require("lake")), `datalake` (the built lake) and a `require` limited to
-- "lake" and "lake.*". Globals are declared by nobody: assigning or reading
-- an undeclared one is an error naming the script's line, so a typo cannot
-- silently create or read nil. The script's text comes from the load phase
-- (lake.load.scripts); nothing here reads a file.
local M = {}

--- Builtins a script may use.
M.SAFE = { "assert", "error", "ipairs", "pairs", "next", "pcall", "select", "tonumber", "tostring",
  "type", "string", "table", "math", "utf8", "print" }

local function limited_require(name)
  if type(name) == "string" and (name == "lake" or name:match("^lake%.[%w_.]+$")) then
    return require(name)
  end
  error(("require '%s' is not allowed in a standalone script: only 'lake' and 'lake.*'"):format(tostring(name)), 2)
end

--- The environment of one script.
-- @param datalake table the built lake
-- @param dsl table what the script sees as `lake` (require("lake"))
function M.env(datalake, dsl)
  local env = {}
  for _, k in ipairs(M.SAFE) do env[k] = _G[k] end
  env.lake = dsl
  env.datalake = datalake
  env.require = limited_require
  return setmetatable(env, {
    __newindex = function(_, k)
      error(("assignment to undeclared global '%s'"):format(tostring(k)), 2)
    end,
    __index = function(_, k)
      error(("undeclared global '%s'"):format(tostring(k)), 2)
    end,
  })
end

--- Runs a standalone script with (app, datalake) as its arguments.
-- @param script table { name = as messages show it, text = | error = } (lake.load.scripts)
-- @param datalake table the built lake (lake.builder)
-- @param dsl table the DSL (require("lake"))
-- @return true | nil, string "file:line: message" on failure (unreadable
--   file, syntax error, runtime error)
function M.run(script, datalake, dsl)
  if type(datalake) ~= "table" or not datalake.app then
    error("lake.standalone: expected the built lake (DatalakeBuilder{...}:build()) as the second argument", 2)
  end
  if script.error then return nil, script.error end
  local chunk, lerr = load(script.text, "@" .. script.name, "t", M.env(datalake, dsl))
  if not chunk then return nil, lerr end
  local ok, rerr = pcall(chunk, datalake.app, datalake)
  if not ok then
    if type(rerr) == "table" and getmetatable(rerr) and getmetatable(rerr).__tostring then
      rerr = tostring(rerr)
    elseif type(rerr) ~= "string" then
      rerr = ("%s: error object is a %s value"):format(script.name, type(rerr))
    end
    return nil, rerr
  end
  return true
end

return M
