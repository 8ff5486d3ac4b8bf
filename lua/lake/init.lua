--- The lakehost DSL, as app.lua and standalone scripts see it:
--   local lake = require("lake")
--   local app = lake.App{ ... }
--   local datalake = lake.DatalakeBuilder{ scope = app, ... }:build()
local app = require("lake.app")
local names = require("lake.names")
local token = require("lake.token")

local M = {}

--- A new App (see lake.app.new for the options).
function M.App(opts) return app.new(opts) end

--- Name("lake-storage-stack", "dev") -> "lake-storage-stack-dev".
M.Name = names.name
M.names = names
M.token = token

--- The lake builder (lake.builder), loaded on first use.
function M.DatalakeBuilder(opts) return require("lake.builder").new(opts) end

--- Runs a standalone stack script (lake.standalone), loaded on first use.
-- @return true | nil, string
function M.standalone(path, datalake) return require("lake.standalone").load(path, datalake) end

return M
