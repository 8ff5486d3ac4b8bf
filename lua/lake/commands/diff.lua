--- `diff [STACK...]`: the deployed templates against the synthesized ones.
local cfn = require("lake.aws.cloudformation")
local common = require("lake.commands.common")
local diff = require("lake.diff")
local errors = require("lake.errors")
local fs = require("host.fs")
local json = require("host.json")

local M = {
  synopsis = "[STACK...]",
  summary = "compare with the deployed templates",
  args = true,
  options = common.aws_options { out = "DIR", from = "DIR", verbose = true, fail = true },
  help = [[
usage: lakehost APP.lua diff [STACK...] [--out DIR | --from DIR] [--fail] [--profile NAME] [--region REGION]

Prints resources added (+), removed (-) and changed (~, with property paths)
between the deployed templates and the synthesized ones. --fail exits 1 when
anything differs.

]] .. common.AWS_HELP,
}

function M.run(app, opts, selectors)
  local dir, manifest, stacks = common.stacks(app, opts, selectors, true)
  if not dir then return nil, manifest end
  local session = common.session(opts)
  local differs = 0
  for _, s in ipairs(stacks) do
    local new = assert(json.decode(assert(fs.read(dir .. "/" .. s.template))))
    local old
    local body, err = cfn.get_template(session.client, s.name)
    if body then
      old = json.decode(body, s.name .. " (deployed)")
    elseif err.code == "ValidationError" and tostring(err.message):find("does not exist", 1, true) then
      old = nil
    else
      return nil, errors.failure(("%s: %s"):format(s.name, tostring(err)))
    end
    local d = diff.templates(old, new)
    if not old then io.stdout:write(s.name, " (new stack)\n") end
    for _, line in ipairs(diff.format(s.name, d)) do io.stdout:write(line, "\n") end
    if #d.added + #d.removed + #d.changed + #d.other > 0 then differs = differs + 1 end
  end
  if opts.fail and differs > 0 then
    return nil, errors.failure(("%d stack%s differ%s from what is deployed"):format(differs,
      differs == 1 and "" or "s", differs == 1 and "s" or ""))
  end
  return true
end

return M
