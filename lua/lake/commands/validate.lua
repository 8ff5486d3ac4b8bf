--- `validate`: every problem of app.lua, the pipeline configs and
-- CloudFormation's limits, with nothing written.
local assembly = require("lake.assembly")
local errors = require("lake.errors")
local fs = require("host.fs")
local synth = require("lake.commands.synth")

local M = {
  summary = "check app.lua and every pipeline config, write nothing",
  options = { builder = "NAME" },
  help = [[
usage: lakehost APP.lua validate [--builder docker|local|none]

Checks app.lua, every pipeline config.yml and CloudFormation's limits, and
prints every problem as file:line: key: message. Writes nothing. Exit 2 when
anything is wrong.
]],
}

function M.run(app)
  synth.config_warnings(app)
  local perr = synth.problems(app)
  if perr then return nil, perr end
  local tmp, terr = fs.tmpdir("lakehost-validate-")
  if not tmp then return nil, errors.failure("validate: " .. tostring(terr)) end
  -- The assets are built (their packages must install) into a folder
  -- that goes away; the templates are rendered and checked in memory.
  local res, err
  local built, berr = assembly.build_assets(app, tmp)
  if built then res, err = assembly.render(app, built) else err = berr end
  fs.remove_tree(tmp)
  if not res then return nil, err end
  synth.warn(res)
  io.stderr:write(("ok: %d stack%s, %d asset%s\n"):format(#res.stacks, #res.stacks == 1 and "" or "s",
    #res.manifest.assets, #res.manifest.assets == 1 and "" or "s"))
  return true
end

return M
