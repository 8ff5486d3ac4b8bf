--- Error values: a message and what kind of failure it is.
--
-- Three kinds: "input" (the user's command line, app.lua or a config file is
-- wrong: nothing was changed), "failed" (an operation against the world
-- failed: a build, the disk, AWS) and "interrupted" (the user stopped it:
-- Ctrl-C, SIGTERM). Library code returns them as `nil, err`,
-- or raises them where a failure must unwind several frames at once (the
-- local runner, a DSL misuse); the command line (lake.cli) alone turns a
-- kind into an exit status. A plain string raised is a bug or a user
-- script's own error(), which the command line treats as bad input.
local M = {}

local Error = {}
Error.__index = Error
Error.__name = "lake.error"
Error.__tostring = function(e) return e.msg end

M.KINDS = { input = true, failed = true, interrupted = true }

--- An error value.
-- @param kind string "input" or "failed"
-- @param msg string
function M.new(kind, msg)
  if not M.KINDS[kind] then error(("lake.errors: unknown kind '%s'"):format(tostring(kind)), 2) end
  return setmetatable({ kind = kind, msg = msg }, Error)
end

--- Bad input (the user's to fix).
function M.input(msg) return M.new("input", msg) end

--- A failed operation (the world's).
function M.failure(msg) return M.new("failed", msg) end

--- Stopped by the user (Ctrl-C).
function M.interrupted(msg) return M.new("interrupted", msg) end

--- True when v is an error value.
function M.is(v) return getmetatable(v) == Error end

--- Raises bad input (for code that must unwind; see the module comment).
function M.usage(msg) error(M.new("input", msg), 0) end

--- Raises a failed operation.
function M.failed(msg) error(M.new("failed", msg), 0) end

--- Runs fn(...) and turns an error value it raised into `nil, err`; any
-- other error (a bug) is raised again as it was.
-- @return what fn returns | nil, err
function M.catch(fn, ...)
  local res = table.pack(pcall(fn, ...))
  if res[1] then return table.unpack(res, 2, res.n) end
  if M.is(res[2]) then return nil, res[2] end
  error(res[2], 0)
end

return M
