--- `list`: the stacks in deploy order, with their deployed status when AWS
-- can be asked.
local cfn = require("lake.aws.cloudformation")
local common = require("lake.commands.common")
local deploy = require("lake.deploy")
local errors = require("lake.errors")
local hotswap = require("lake.hotswap")
local json = require("host.json")
local synth = require("lake.commands.synth")
local token = require("lake.token")
local util = require("lake.util")

local M = {
  summary = "stacks in deploy order with their dependencies",
  options = common.aws_options { json = true },
  help = [[
usage: lakehost APP.lua list [--json] [--profile NAME] [--region REGION]

Prints the stacks in deploy order with their dependencies and, when AWS
credentials are configured (AWS_ACCESS_KEY_ID, AWS_PROFILE, web identity,
container credentials, or --profile / --region given: on EC2, --region
lets the instance's role answer), each stack's deployed status ("not
deployed" for a stack CloudFormation does not know). When AWS cannot be
asked, a warning on stderr says why and the statuses are left out.

  --json   print one JSON document on stdout instead: {"stacks": [...]} in
           deploy order, each with its name, dependencies (sorted) and,
           when known, status; "status_error" says why statuses are missing

]] .. common.AWS_HELP,
}

-- Variables that say credentials are configured without asking anyone.
local CREDENTIAL_VARS = { "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI" }

--- Deployed status of each stack, or nil when AWS is not reachable.
-- @param opts table|nil the command's options (--profile, --region)
-- @param bucket the assets bucket (a name or an Fn::Sub of the account and region), for the hotswap marks
-- @return { [name] = status }, { [name] = since } (stacks drifted by hotswap) | nil, reason
function M.statuses(stacks, opts, bucket)
  opts = opts or {}
  local session
  if opts.profile or opts.region then
    -- asked for: a wrong profile or region is the user's to fix (exit 2)
    session = common.session(opts)
  else
    local ok
    ok, session = pcall(common.session, opts)
    if not ok then return nil, tostring(session) end
  end
  local out = {}
  for _, s in ipairs(stacks) do
    local d, err = cfn.describe_stack(session.client, s.name, { max_attempts = 2 })
    if d == nil then return nil, tostring(err) end
    out[s.name] = d and d.StackStatus or "not deployed"
    if d then session.learn_account(deploy.account_of(d.StackId)) end
  end
  -- the drift records deploy --hotswap leaves (lake.hotswap); no bucket, none
  local known, account = pcall(session.account)
  local name = bucket and known and deploy.substitute(bucket, { region = session.region, account = account })
  local marks = name and hotswap.marks(session.client, name) or {}
  return out, marks
end

function M.run(app, opts)
  opts = opts or {}
  local perr = synth.problems(app)
  if perr then return nil, perr end
  local stacks, err = app:ordered_stacks()
  if not stacks then return nil, errors.input(err) end
  local width = 0
  for _, s in ipairs(stacks) do width = math.max(width, #s.name) end
  local asked = opts.profile or opts.region
  for _, k in ipairs(CREDENTIAL_VARS) do asked = asked or (os.getenv(k) or "") ~= "" end
  local statuses, why, marks
  if asked then
    statuses, why = M.statuses(stacks, opts, token.resolve(app.assets_bucket, {}))
    if statuses then marks, why = why, nil end
    if not statuses then common.eprint("list: deployed status unknown: %s", why) end
  end
  if opts.json then
    local out = {}
    for i, s in ipairs(stacks) do
      local deps = util.copy(s.deps)
      table.sort(deps)
      out[i] = { name = s.name, dependencies = json.array(deps), status = statuses and statuses[s.name] or nil,
        hotswapped_since = marks and marks[s.name] or nil }
    end
    io.stdout:write(json.encode({ stacks = json.array(out), status_error = why }, { pretty = true, newline = true }))
    return true
  end
  for _, s in ipairs(stacks) do
    local deps = util.copy(s.deps)
    table.sort(deps)
    local line = ("%-" .. width .. "s"):format(s.name)
    if statuses then line = line .. ("  %-20s"):format(statuses[s.name]) end
    if marks and marks[s.name] then line = line .. ("  drifted by hotswap since %s"):format(marks[s.name]) end
    if #deps > 0 then line = line .. "  after " .. table.concat(deps, ", ") end
    io.stdout:write((line:gsub("%s+$", "")), "\n")
  end
  return true
end

return M
