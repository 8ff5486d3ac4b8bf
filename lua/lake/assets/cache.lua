--- The build cache: built assets kept under a key that is the sha256 of
-- their inputs, so an unchanged module is never rebuilt.
--
-- Layout of the cache folder (`.lake-cache/` at the app root by default):
--   CACHEDIR.TAG                 marks it as a cache for backup tools
--   lock                         flock(2)ed around every write
--   assets/<key>/meta.json       { sha256 =, size =, ext = } of the entry
--   assets/<key>/<sha256>.<ext>  the built file
--   jars/<sha256 of the URL>.jar downloaded jars
--   tmp/<pid>-<n>/               work folders of running builds
--
-- Entries appear atomically: a build works in tmp/, and put() renames the
-- finished folder into assets/ under the lock. A failed build removes its
-- work folder, so it leaves neither an entry nor a half-written file.
local json = require("host.json")
local crypto = require("host.crypto")
local fs = require("host.fs")
local proc = require("host.proc")

local M = {}

--- Bumped whenever the layout of built archives changes.
M.FORMAT = 1

M.TAG = "Signature: 8a477f597d28d172789f06886806bc55\n"
  .. "# This file is a cache directory tag created by lakehost.\n"
  .. "# For information about cache directory tags see https://bford.info/cachedir/\n"

local counter = 0

--- The cache folder of an app: $LAKEHOST_CACHE_DIR, else
-- app.settings.cache_dir (relative to the app root), else <root>/.lake-cache.
-- @param app App
-- @param getenv function|nil (os.getenv)
-- @return string
function M.dir_of(app, getenv)
  local env = (getenv or os.getenv)("LAKEHOST_CACHE_DIR")
  if env and env ~= "" then return env end
  local root = (app.root or "."):gsub("/+$", "")
  if root == "" then root = "/" end
  local dir = app.settings and app.settings.cache_dir
  if type(dir) == "string" and dir ~= "" then
    if dir:sub(1, 1) == "/" or root == "." then return dir end
    return root .. "/" .. dir
  end
  return root == "." and ".lake-cache" or (root .. "/.lake-cache")
end

--- The sha256 of a list of input lines (each one "name value").
-- @param lines array of strings
-- @return string hex key
function M.key(lines)
  return crypto.sha256_hex(table.concat(lines, "\n") .. "\n")
end

-- Creates the cache folder and its tag once.
local function prepare(dir)
  if fs.isfile(dir .. "/CACHEDIR.TAG") then return true end
  local ok, err = fs.mkdir_p(dir)
  if not ok then return nil, ("cache: %s"):format(err) end
  ok, err = fs.write(dir .. "/CACHEDIR.TAG", M.TAG)
  if not ok then return nil, ("cache: %s"):format(err) end
  return true
end

--- Runs fn() holding the cache's lock.
-- @return what fn returns | nil, string when the lock cannot be taken
function M.locked(dir, fn)
  local ok, err = prepare(dir)
  if not ok then return nil, err end
  local lock, lerr = fs.lock(dir .. "/lock")
  if not lock then return nil, ("cache: %s"):format(lerr) end
  local res = table.pack(pcall(fn))
  lock:unlock()
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

--- A fresh work folder inside the cache (same file system as the entries,
-- so the final rename is atomic). Work folders left by processes that no
-- longer run are removed on the way.
-- @param dir string cache folder
-- @return string path | nil, string on failure
function M.workdir(dir)
  local ok, err = prepare(dir)
  if not ok then return nil, err end
  local tmp = dir .. "/tmp"
  ok, err = fs.mkdir_p(tmp)
  if not ok then return nil, ("cache: %s"):format(err) end
  local pid = proc.pid()
  if counter == 0 and fs.isdir("/proc/self") then
    for _, name in ipairs(fs.list(tmp) or {}) do
      local other = tonumber(name:match("^(%d+)%-"))
      if other and other ~= pid and not fs.exists("/proc/" .. other) then fs.remove_tree(tmp .. "/" .. name) end
    end
  end
  counter = counter + 1
  local path = ("%s/%d-%d"):format(tmp, pid, counter)
  fs.remove_tree(path)
  ok, err = fs.mkdir_p(path)
  if not ok then return nil, ("cache: %s"):format(err) end
  return path
end

--- The entry under key, or nil.
-- @return { path =, sha256 =, size =, ext = } | nil
function M.get(dir, key)
  local edir = ("%s/assets/%s"):format(dir, key)
  local text = fs.read(edir .. "/meta.json")
  if not text then return nil end
  local ok, meta = pcall(json.decode, text)
  if not ok or type(meta) ~= "table" or type(meta.sha256) ~= "string" or type(meta.ext) ~= "string" then
    return nil
  end
  local path = ("%s/%s.%s"):format(edir, meta.sha256, meta.ext)
  local st = fs.stat(path)
  if not st or st.type ~= "file" or st.size ~= meta.size then return nil end
  return { path = path, sha256 = meta.sha256, size = meta.size, ext = meta.ext }
end

--- Stores a built file as the entry of key. The file is moved (renamed)
-- out of the work folder. When another process stored the same key in the
-- meantime, its entry is kept and returned.
-- @param dir string cache folder
-- @param key string
-- @param work string the build's work folder (from workdir)
-- @param file string path of the built file inside work
-- @param meta table { sha256 =, size =, ext = }
-- @return entry (as get) | nil, string on failure
function M.put(dir, key, work, file, meta)
  local entry = work .. "/entry"
  local ok, err = fs.mkdir_p(entry)
  if not ok then return nil, ("cache: %s"):format(err) end
  ok, err = fs.rename(file, ("%s/%s.%s"):format(entry, meta.sha256, meta.ext))
  if not ok then return nil, ("cache: %s"):format(err) end
  ok, err = fs.write(entry .. "/meta.json",
    json.encode({ sha256 = meta.sha256, size = meta.size, ext = meta.ext }) .. "\n")
  if not ok then return nil, ("cache: %s"):format(err) end
  return M.locked(dir, function()
    local have = M.get(dir, key)
    if have then return have end
    local final = ("%s/assets/%s"):format(dir, key)
    fs.remove_tree(final) -- a broken entry (no meta, wrong size)
    local mk, merr = fs.mkdir_p(dir .. "/assets")
    if not mk then return nil, ("cache: %s"):format(merr) end
    local rn, rerr = fs.rename(entry, final)
    if not rn then return nil, ("cache: %s"):format(rerr) end
    local e = M.get(dir, key)
    if not e then return nil, ("cache: entry %s vanished"):format(key) end
    return e
  end)
end

return M
