-- cdk-nag for the specs and the rule-pack report: installs the npm packages
-- pinned by spec/support/cdknag/package-lock.json into a cache folder (once;
-- later runs reuse it) and runs spec/support/cdknag/nag.js over templates.
--
--   local cdknag = require("spec.support.cdknag")
--   local dir, why = cdknag.ensure()          -- nil, reason: skip, say why
--   local doc, err = cdknag.run(files, { "AwsSolutionsChecks" })
--
-- The cache folder is $LAKEHOST_CDKNAG_DIR, else
-- ${XDG_CACHE_HOME:-$HOME/.cache}/lakehost/cdknag-<sha256 of package.json
-- and package-lock.json, 12 digits>: a new pin installs into a new folder.
-- Nothing here waits long on a network that is not there: `npm ping` gets
-- PING_TIMEOUT seconds, the install INSTALL_TIMEOUT.
local crypto = require("host.crypto")
local fs = require("host.fs")
local json = require("host.json")
local proc = require("host.proc")

local M = {}

M.PING_TIMEOUT = 20
M.INSTALL_TIMEOUT = 300
M.RUN_TIMEOUT = 600
M.PACKS = { "AwsSolutionsChecks", "HIPAASecurityChecks", "NIST80053R5Checks" }
M.STAMP = ".lakehost-installed"

-- The folder of this file's package.json, lock and nag.js.
local function source_dir()
  local src = debug.getinfo(1, "S").source
  local here = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "spec/support"
  if here:sub(1, 1) ~= "/" then here = assert(fs.cwd()) .. "/" .. here end
  return here .. "/cdknag"
end
M.SOURCE = source_dir()

local function read(path)
  local text, err = fs.read(path)
  if not text then return nil, err end
  return text
end

--- The pin's hash: sha256 of package.json and package-lock.json, 12 digits.
function M.pin_hash()
  local pkg = assert(read(M.SOURCE .. "/package.json"))
  local lock = assert(read(M.SOURCE .. "/package-lock.json"))
  return crypto.sha256_hex(pkg .. "\0" .. lock):sub(1, 12)
end

--- Where the packages are (or will be) installed.
function M.cache_dir()
  local over = os.getenv("LAKEHOST_CDKNAG_DIR")
  if over and over ~= "" then return over end
  local base = os.getenv("XDG_CACHE_HOME")
  if not base or base == "" then
    local home = os.getenv("HOME")
    if not home or home == "" then return nil, "neither XDG_CACHE_HOME nor HOME is set" end
    base = home .. "/.cache"
  end
  return base .. "/lakehost/cdknag-" .. M.pin_hash()
end

local function installed(dir, hash)
  local stamp = read(dir .. "/" .. M.STAMP)
  return stamp ~= nil and stamp:match("^(%x+)") == hash and fs.isfile(dir .. "/node_modules/cdk-nag/package.json")
end

local function first_line(s)
  s = (s or ""):gsub("^%s+", "")
  return s:match("^[^\n]*") or ""
end

-- Runs argv; nil, reason when it cannot run, times out or fails.
local function try(what, req)
  local res, err = proc.run(req)
  if not res then return nil, what .. ": " .. tostring(err) end
  if res.timed_out then return nil, ("%s: no answer in %d s"):format(what, req.timeout) end
  if not res.ok then
    local out = (res.stderr or "") ~= "" and res.stderr or res.stdout
    return nil, ("%s failed: %s"):format(what, first_line(out))
  end
  return res
end

local NPM_ENV = { npm_config_update_notifier = "false", npm_config_fund = "false", npm_config_audit = "false",
  npm_config_loglevel = "error" }

local memo
--- Installs the pinned packages when they are not yet in the cache folder.
-- @return dir | nil, reason (no node or npm, registry unreachable, install failed)
function M.ensure()
  if memo then return memo[1], memo[2] end
  local dir, why = M.install()
  memo = { dir, why }
  return dir, why
end

--- M.ensure without the memo (one run installs once, then reuses).
function M.install()
  local dir, derr = M.cache_dir()
  if not dir then return nil, derr end
  local hash = M.pin_hash()
  if installed(dir, hash) then return dir end
  if not proc.which("node") then return nil, "node is not on PATH" end
  if not proc.which("npm") then return nil, "npm is not on PATH" end
  local v = try("node --version", { argv = { "node", "--version" }, timeout = 20 })
  if not v then return nil, "node does not run" end
  local major = tonumber(v.stdout:match("^v(%d+)"))
  if not major or major < 18 then return nil, "node " .. first_line(v.stdout) .. " is older than 18" end
  local _, perr = try("npm ping", { argv = { "npm", "ping", "--fetch-retries=0", "--fetch-timeout=10000" }, env_add = NPM_ENV, timeout = M.PING_TIMEOUT })
  if perr then return nil, "the npm registry cannot be reached (" .. perr .. ")" end

  local parent = dir:match("^(.*)/[^/]+$") or "."
  local ok, merr = fs.mkdir_p(parent)
  if not ok then return nil, merr end
  -- one install at a time; a second run waits, then finds it done
  local lock, lerr = fs.lock(dir .. ".lock")
  if not lock then return nil, lerr end
  if installed(dir, hash) then
    lock:unlock()
    return dir
  end
  local tmp = ("%s.tmp-%d"):format(dir, proc.pid())
  fs.remove_tree(tmp)
  assert(fs.mkdir_p(tmp))
  for _, f in ipairs({ "package.json", "package-lock.json" }) do
    local cok, cerr = fs.copy(M.SOURCE .. "/" .. f, tmp .. "/" .. f)
    if not cok then
      lock:unlock()
      return nil, cerr
    end
  end
  local t0 = proc.monotime()
  local _, ierr = try("npm ci", {
    argv = { "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--fetch-timeout=60000",
      "--fetch-retries=1" },
    cwd = tmp, env_add = NPM_ENV, timeout = M.INSTALL_TIMEOUT, stdout = "null",
  })
  if ierr then
    fs.remove_tree(tmp)
    lock:unlock()
    return nil, ierr
  end
  M.install_seconds = proc.monotime() - t0
  assert(fs.write(tmp .. "/" .. M.STAMP, hash .. "\n"))
  fs.remove_tree(dir)
  local rok, rerr = fs.rename(tmp, dir)
  lock:unlock()
  if not rok then return nil, rerr end
  return dir
end

--- Runs nag.js over template files.
-- @param files table paths of templates
-- @param packs table|nil pack class names (default M.PACKS)
-- @return doc (the decoded JSON nag.js prints) | nil, err
function M.run(files, packs)
  local dir, why = M.ensure()
  if not dir then return nil, why end
  local argv = { "node", M.SOURCE .. "/nag.js", "--packs", table.concat(packs or M.PACKS, ",") }
  for _, f in ipairs(files) do argv[#argv + 1] = f end
  local res, err = proc.run { argv = argv, env_add = { NODE_PATH = dir .. "/node_modules" },
    timeout = M.RUN_TIMEOUT }
  if not res then return nil, err end
  if not res.ok then
    return nil, ("nag.js failed (%s %s): %s"):format(res.how, tostring(res.code), res.stderr or "")
  end
  local doc, jerr = json.decode(res.stdout)
  if not doc then return nil, "nag.js printed no JSON: " .. tostring(jerr) end
  return doc
end

--- Checks Amazon States Language documents with the asl-validator npm
-- package of the same pinned install.
-- @param texts table { name = ASL JSON text }
-- @return true | false, output (what it said of the invalid ones) | nil, why it cannot run (skip)
function M.asl_validate(texts)
  local dir, why = M.ensure()
  if not dir then return nil, why end
  local argv, paths = { dir .. "/node_modules/.bin/asl-validator" }, {}
  local names = {}
  for name in pairs(texts) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local path = assert(fs.tmpdir("lakehost-asl-")) .. "/" .. name:gsub("[^%w_.-]", "_") .. ".json"
    assert(fs.write(path, texts[name]))
    paths[#paths + 1] = path
    argv[#argv + 1] = "--json-path"
    argv[#argv + 1] = path
  end
  local res, err = proc.run { argv = argv, timeout = M.RUN_TIMEOUT }
  for _, path in ipairs(paths) do fs.remove_tree((path:match("^(.*)/[^/]*$"))) end
  if not res then return nil, err end
  local out = (res.stdout or "") .. (res.stderr or "")
  if not res.ok then return false, out end
  return true, out
end

return M
