--- The lakehost DSL, as app.lua and standalone scripts see it:
--   local lake = require("lake")
--   local app = lake.App{ ... }
--   local datalake = lake.DatalakeBuilder{ scope = app, ... }:build()
--
-- This is where the paths app.lua names meet the load phase: the builder
-- gets lake.load as its loader, so the model itself reads no file.
local app = require("lake.app")
local builder = require("lake.builder")
local load = require("lake.load")
local names = require("lake.names")
local standalone = require("lake.standalone")
local token = require("lake.token")

local M = {}

--- A new App (see lake.app.new for the options).
function M.App(opts) return app.new(opts) end

--- Name("lake-storage-stack", "dev") -> "lake-storage-stack-dev".
M.Name = names.name
M.names = names
M.token = token

--- The lake builder (lake.builder), reading what its options name with lake.load.
function M.DatalakeBuilder(opts) return builder.new(opts, { loader = load, dsl = M }) end

--- Runs a standalone stack script.
-- @param path string the script
-- @param datalake table the built lake
-- @return true | nil, string
function M.standalone(path, datalake)
  if type(path) ~= "string" then error("lake.standalone: path must be a string", 2) end
  if type(datalake) ~= "table" or not datalake.app then
    error("lake.standalone: expected the built lake (DatalakeBuilder{...}:build()) as the second argument", 2)
  end
  return standalone.run(load.scripts({ path }, datalake.app.root)[1], datalake, M)
end

return M
