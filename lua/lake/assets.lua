--- Assets: module code packaged into files that deploy uploads to the assets
-- bucket, named by the sha256 of their bytes.
--
-- This is the interface the model uses (app:asset with a build function);
-- the packaging here stages module sources as they are (src/ at the root of
-- a deterministic zip, declared shared modules under shared/). Dependency
-- installation and the build cache arrive with the assets issue.
local M = {}

local function id_file(id) return (id:gsub("[^%w%-_.]", "_")) end

--- Moves a freshly built file to <dir>/<sha256>.<ext> and describes it.
local function publish(dir, tmp, sha256, size, ext)
  local fs = require("host.fs")
  local final = ("%s/%s.%s"):format(dir, sha256, ext)
  local ok, err = fs.rename(tmp, final)
  if not ok then
    fs.remove(tmp)
    return nil, err
  end
  return { sha256 = sha256, size = size, ext = ext, path = final }
end

--- A Lambda deployment package: a zip of <module_dir>/src plus the shared
-- modules the module declares, each under shared/<name>/.
-- @param app App
-- @param id string unique asset id, e.g. "pipeline_example/trigger"
-- @param module_dir string folder holding src/ and requirements.json
-- @param opts table|nil { shared = { {name=, dir=}, ... } }
-- @return asset (see App:asset)
function M.lambda_zip(app, id, module_dir, opts)
  opts = opts or {}
  return app:asset {
    id = id, kind = "lambda", describe = module_dir,
    build = function(ctx)
      local zip = require("host.zip")
      local tmp = ("%s/.%s.zip.tmp"):format(ctx.dir, id_file(id))
      local w = zip.writer(tmp)
      w:add_tree(module_dir .. "/src")
      for _, s in ipairs(opts.shared or {}) do w:add_tree(s.dir, "shared/" .. s.name .. "/") end
      local r, err = w:close()
      if not r then return nil, err end
      return publish(ctx.dir, tmp, r.sha256, r.size, "zip")
    end,
  }
end

--- A single file uploaded as it is (a Glue job script).
-- @param app App
-- @param id string unique asset id
-- @param path string the file
-- @param ext string extension of the uploaded object ("py")
function M.file(app, id, path, ext)
  return app:asset {
    id = id, kind = "file", describe = path,
    build = function(ctx)
      local fs = require("host.fs")
      local crypto = require("host.crypto")
      local sha, size = crypto.sha256_file(path)
      if not sha then return nil, size end
      local tmp = ("%s/.%s.tmp"):format(ctx.dir, id_file(id))
      local ok, err = fs.copy(path, tmp)
      if not ok then return nil, err end
      return publish(ctx.dir, tmp, sha, size, ext)
    end,
  }
end

return M
