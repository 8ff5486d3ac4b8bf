--- `synth`: the app's templates, diagrams, assets and manifest.json, in a folder.
local assembly = require("lake.assembly")

local M = {
  synopsis = "[--out DIR]",
  summary = "write templates, manifest and assets (default lake.out)",
  options = { out = "DIR", quiet = true, builder = "NAME" },
  help = [[
usage: lakehost APP.lua synth [--out DIR] [--quiet] [--builder docker|local|none]

Writes <DIR>/<stack>.template.json for every stack, a state machine diagram
(<stack>.<machine>.mmd) per pipeline, <DIR>/assets/ and <DIR>/manifest.json.
DIR defaults to lake.out. Needs no credentials, network or Docker. The folder
is replaced only when everything succeeded.

Module dependencies (requirements.json packages) install with --builder:
docker (the runtime's image), local (pip on this machine, wheels for the
runtime's platform) or none; default docker when an engine answers, else
local (app.lua: settings = { builder = ... }). Built packages are cached in
.lake-cache/ (LAKEHOST_CACHE_DIR) by the hash of their inputs.
]],
}

local function eprint(fmt, ...) io.stderr:write(fmt:format(...), "\n") end

--- The problems the app recorded (config files, app.lua), as one error
-- value, or nil when there are none.
function M.problems(app)
  if #app.problems == 0 then return nil end
  return assembly.problems(app.problems)
end

--- Prints the warnings the app recorded about its input (file:line: warning: ...).
function M.config_warnings(app)
  for _, w in ipairs(app.warnings or {}) do eprint("%s", w) end
end

--- Prints the warnings of a rendering (stacks near CloudFormation's quotas).
function M.warn(res)
  for _, w in ipairs(res.warnings) do eprint("warning: %s", w) end
end

--- Synthesizes app into out, telling what it wrote unless quiet.
-- @return result (lake.assembly.synthesize's) | nil, err
function M.write(app, out, quiet)
  local perr = M.problems(app)
  if perr then return nil, perr end
  local res, err = assembly.synthesize(app, out)
  if not res then return nil, err end
  M.warn(res)
  if not quiet then
    for _, s in ipairs(res.stacks) do
      eprint("  %-48s %4d resources %8d bytes", s.name, s.resources, s.size)
    end
    eprint("wrote %d template%s and %d asset%s to %s", #res.stacks, #res.stacks == 1 and "" or "s",
      #res.manifest.assets, #res.manifest.assets == 1 and "" or "s", out)
  end
  return res
end

function M.run(app, opts)
  M.config_warnings(app)
  local res, err = M.write(app, opts.out or "lake.out", opts.quiet)
  if not res then return nil, err end
  return true
end

return M
