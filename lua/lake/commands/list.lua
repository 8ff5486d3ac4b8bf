--- `list`: the stacks in deploy order, with their deployed status when AWS
-- can be asked.
local cfn = require("lake.aws.cloudformation")
local common = require("lake.commands.common")
local errors = require("lake.errors")
local json = require("host.json")
local session_mod = require("lake.aws.session")
local synth = require("lake.commands.synth")
local util = require("lake.util")

local M = {
  summary = "stacks in deploy order with their dependencies",
  options = { json = true },
  help = [[
usage: lakehost APP.lua list [--json]

Prints the stacks in deploy order with their dependencies and, when AWS
credentials are configured (AWS_ACCESS_KEY_ID, AWS_PROFILE or
AWS_WEB_IDENTITY_TOKEN_FILE), each stack's deployed status ("not deployed"
for a stack CloudFormation does not know). When AWS cannot be asked, a
warning on stderr says why and the statuses are left out.

  --json   print one JSON document on stdout instead: {"stacks": [...]} in
           deploy order, each with its name, dependencies (sorted) and,
           when known, status; "status_error" says why statuses are missing
           when AWS was asked and did not answer
]],
}

--- Deployed status of each stack, or nil when AWS is not reachable.
-- @return { [name] = status } | nil, reason
function M.statuses(stacks)
  local ok, session = pcall(session_mod.new, {})
  if not ok then return nil, tostring(session) end
  local out = {}
  for _, s in ipairs(stacks) do
    local d, err = cfn.describe_stack(session.client, s.name, { max_attempts = 2 })
    if d == nil then return nil, tostring(err) end
    out[s.name] = d and d.StackStatus or "not deployed"
  end
  return out
end

function M.run(app, opts)
  opts = opts or {}
  local perr = synth.problems(app)
  if perr then return nil, perr end
  local stacks, err = app:ordered_stacks()
  if not stacks then return nil, errors.input(err) end
  local width = 0
  for _, s in ipairs(stacks) do width = math.max(width, #s.name) end
  local statuses, why
  if os.getenv("AWS_ACCESS_KEY_ID") or os.getenv("AWS_PROFILE") or os.getenv("AWS_WEB_IDENTITY_TOKEN_FILE") then
    statuses, why = M.statuses(stacks)
    if not statuses then common.eprint("list: deployed status unknown: %s", why) end
  end
  if opts.json then
    local out = {}
    for i, s in ipairs(stacks) do
      local deps = util.copy(s.deps)
      table.sort(deps)
      out[i] = { name = s.name, dependencies = json.array(deps), status = statuses and statuses[s.name] or nil }
    end
    io.stdout:write(json.encode({ stacks = json.array(out), status_error = why }, { pretty = true, newline = true }))
    return true
  end
  for _, s in ipairs(stacks) do
    local deps = util.copy(s.deps)
    table.sort(deps)
    local line = ("%-" .. width .. "s"):format(s.name)
    if statuses then line = line .. ("  %-20s"):format(statuses[s.name]) end
    if #deps > 0 then line = line .. "  after " .. table.concat(deps, ", ") end
    io.stdout:write((line:gsub("%s+$", "")), "\n")
  end
  return true
end

return M
