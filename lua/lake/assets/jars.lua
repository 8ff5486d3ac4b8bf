--- Jars for Glue's --extra-jars: downloaded once through host.http into the
-- build cache (jars/<sha256 of the URL>.jar) and checked against their pin
-- ("URL#sha256=<hex>") when they have one.
local cache = require("lake.assets.cache")
local fs = require("host.fs")
local crypto = require("host.crypto")
local http = require("host.http")

local M = {}

--- Seconds a download may take.
M.TIMEOUT = 600

--- The jar of an entry, from the cache or downloaded into it.
-- @param dir string cache folder
-- @param jar table { url =, sha256 = pin | nil } (lake.assets.requirements.parse_jar)
-- @param opts table|nil { log = function, timeout = seconds }
-- @return { path =, sha256 =, size = } | nil, string on failure
function M.fetch(dir, jar, opts)
  opts = opts or {}
  local path = ("%s/jars/%s.jar"):format(dir, crypto.sha256_hex(jar.url))
  local function pinned(sha, where)
    if jar.sha256 and sha ~= jar.sha256 then
      return nil, ("jar %s: sha256 is %s (%s), the pin says %s"):format(jar.url, sha, where, jar.sha256)
    end
    return true
  end
  if fs.isfile(path) then
    local sha, size = crypto.sha256_file(path)
    if sha and pinned(sha, "cached") then return { path = path, sha256 = sha, size = size } end
    -- a pin that the cached copy does not match: download again, it decides
  end
  local work, werr = cache.workdir(dir)
  if not work then return nil, werr end
  local tmp = work .. "/download.jar"
  local function finish(...)
    fs.remove_tree(work)
    return ...
  end
  if opts.log then opts.log(("jar: downloading %s"):format(jar.url)) end
  local resp, err, kind = http.request({ url = jar.url, output_file = tmp, follow_redirects = true,
    timeout = opts.timeout or M.TIMEOUT })
  if not resp then
    return finish(nil, ("cannot download jar %s (%s): %s"):format(jar.url, tostring(kind),
      (tostring(err):gsub("^http: ", ""))))
  end
  if resp.status < 200 or resp.status >= 300 then
    return finish(nil, ("cannot download jar %s: HTTP %d"):format(jar.url, resp.status))
  end
  local sha, size = crypto.sha256_file(tmp)
  if not sha then return finish(nil, size) end
  local ok, perr = pinned(sha, "downloaded")
  if not ok then return finish(nil, perr) end
  local stored, serr = cache.locked(dir, function()
    local mk, merr = fs.mkdir_p(dir .. "/jars")
    if not mk then return nil, merr end
    return fs.rename(tmp, path)
  end)
  if not stored then return finish(nil, ("cache: %s"):format(serr)) end
  return finish({ path = path, sha256 = sha, size = size })
end

return M
