-- Helpers shared by the specs. No globals; require("spec.support.util").
local M = {}

--- Absolute path of the lakehost binary under test.
M.bin = os.getenv("LAKEHOST_BIN") or "./lakehost"

--- Single-quotes s for /bin/sh.
function M.shquote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- lakehost children never look for credentials on the link-local
-- addresses of EC2 instance metadata or ECS (an empty variable is unset to
-- lakehost): a spec that wants those sources points them at loopback.
M.NO_METADATA = { AWS_EC2_METADATA_DISABLED = "true", AWS_CONTAINER_CREDENTIALS_RELATIVE_URI = "",
  AWS_CONTAINER_CREDENTIALS_FULL_URI = "" }

--- Runs lakehost with args (strings); returns stdout, stderr, exit status.
-- @param args table argv after the program name
-- @param opts table|nil {cwd=, env={K=V}} (M.NO_METADATA unless env says otherwise)
function M.lakehost(args, opts)
  opts = opts or {}
  local parts = {}
  for k, v in pairs(opts.env or {}) do parts[#parts + 1] = k .. "=" .. M.shquote(v) end
  for k, v in pairs(M.NO_METADATA) do
    if (opts.env or {})[k] == nil then parts[#parts + 1] = k .. "=" .. M.shquote(v) end
  end
  local bin = M.bin
  if bin:sub(1, 1) ~= "/" then bin = M.cwd() .. "/" .. bin end
  parts[#parts + 1] = M.shquote(bin)
  for _, a in ipairs(args) do parts[#parts + 1] = M.shquote(a) end
  local errf = os.tmpname()
  local cmd = table.concat(parts, " ") .. " 2>" .. errf
  if opts.cwd then cmd = "cd " .. M.shquote(opts.cwd) .. " && " .. cmd end
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  local f = io.open(errf, "r")
  local err = f and f:read("a") or ""
  if f then f:close() end
  os.remove(errf)
  return out, err, code
end

--- Runs argv (no shell); returns its stdout, or raises with its output when it fails.
function M.run(argv)
  local parts = {}
  for i, a in ipairs(argv) do parts[i] = M.shquote(a) end
  local p = assert(io.popen(table.concat(parts, " ") .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  if not ok then error(table.concat(argv, " ") .. " failed:\n" .. out, 2) end
  return out
end

--- cfn-lint over templates (a shell glob of paths): true when it finds
-- nothing at all (its exit status is a bit mask: 2 errors, 4 warnings,
-- 8 informational), and what it printed.
function M.cfn_lint(glob)
  local p = assert(io.popen("cfn-lint --format parseable -- " .. glob .. " 2>&1; echo \"rc=$?\""))
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return rc == 0, out
end

local cwd
--- The directory the specs run from (the repository root).
function M.cwd()
  if not cwd then
    local p = assert(io.popen("pwd"))
    cwd = p:read("l")
    p:close()
  end
  return cwd
end

--- A fresh temporary folder (the caller removes it).
function M.tmpdir(prefix)
  return assert(require("host.fs").tmpdir(prefix or "lakehost-spec-"))
end

--- Writes text to a fresh temporary file and returns its path.
function M.tmpfile(text, suffix)
  local path = os.tmpname() .. (suffix or "")
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

return M
