--- Error values that carry an exit status.
--
-- lakehost exits 2 for bad usage or bad input and 1 when an operation fails.
-- Code deep in the library raises these tables; the host prints `msg` as
-- "lakehost: <msg>" and exits with `exit`. Plain string errors (a bug, or a
-- user script's error()) count as bad input: exit 2.
local M = {}

local Error = {}
Error.__index = Error
Error.__tostring = function(e) return e.msg end

--- Builds an error value.
-- @param msg string
-- @param exit integer exit status (2 bad input, 1 failed operation)
function M.new(msg, exit)
  return setmetatable({ msg = msg, exit = exit or 2 }, Error)
end

--- True when v is one of our error values.
function M.is(v) return getmetatable(v) == Error end

--- Raises a bad-usage / bad-input error (exit 2).
function M.usage(msg) error(M.new(msg, 2), 0) end

--- Raises a failed-operation error (exit 1).
function M.failed(msg) error(M.new(msg, 1), 0) end

return M
