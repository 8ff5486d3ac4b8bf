--- `diff [STACK...]`: the deployed templates against the synthesized ones.
local cfn = require("lake.aws.cloudformation")
local common = require("lake.commands.common")
local deploy = require("lake.deploy")
local diff = require("lake.diff")
local errors = require("lake.errors")
local fs = require("host.fs")
local json = require("host.json")
local proc = require("host.proc")

local M = {
  synopsis = "[STACK...]",
  summary = "compare with the deployed templates",
  args = true,
  options = common.aws_options { out = "DIR", from = "DIR", verbose = true, fail = true, json = true },
  help = [[
usage: lakehost APP.lua diff [STACK...] [--out DIR | --from DIR] [--fail] [--json]
                             [--profile NAME] [--region REGION]

Prints, for each stack (every stack without STACK names), the resources
added (+), removed (-) and changed (~, with the property paths that changed)
between the deployed template and the synthesized one, and the changes to
its Outputs, Parameters, Conditions and Mappings. A property holding
a JSON document as text (a state machine's DefinitionString, even through
Fn::Sub or Fn::Join) is compared as a document: the states added and
removed and each path inside that changed, with `${...}` placeholders as
plain text; when either side does not parse, both values are shown whole.

The app is synthesized into a temporary folder, removed afterwards: lake.out
is left as it is. --out DIR synthesizes into DIR instead (and keeps it);
--from DIR compares what DIR already holds, without synthesizing.

  --json      print one JSON document on stdout instead of the text:
              {"stacks": [...], "differ": N}, per stack its name, status
              (new, changed or unchanged), resources added, removed and
              changed, and "other" (the sections above); each change has its path, kind (added, removed,
              changed) and old and new values (over 1024 bytes of JSON:
              old_bytes/new_bytes, their size); a changed document has
              "document" (asl or json), its own "changes" and, for a state
              machine, the "states" added, removed and changed
  --fail      exit 1 when any stack differs
  --verbose   log each AWS call on stderr
]] .. common.AWS_HELP,
}

-- The deployed template of a stack: a table, false when the stack does not
-- exist, or nil and an error value.
local function deployed(client, name)
  local body, err = cfn.get_template(client, name)
  if body then
    local t, jerr = json.decode(body, name .. " (deployed)")
    if not t then return nil, errors.failure(jerr) end
    return t
  end
  if err.code == "ValidationError" and tostring(err.message):find("does not exist", 1, true) then return false end
  return nil, errors.failure(("%s: %s"):format(name, tostring(err)))
end

-- Compares the stacks of the synthesized folder dir with what is deployed.
-- @return true | nil, err
local function compare(dir, opts, selectors)
  local manifest, merr = common.manifest(dir)
  if not manifest then return nil, merr end
  local stacks, serr = deploy.select(manifest, selectors, true)
  if not stacks then return nil, errors.input(serr) end
  local session = common.session(opts)
  local differs, docs = 0, {}
  -- Ctrl-C ends the comparison between two stacks (or a request, when
  -- pressed twice): the temporary folder is removed on the way out
  proc.trap_interrupts(true)
  for _, s in ipairs(stacks) do
    if proc.interrupts() > 0 then return nil, errors.interrupted("diff: interrupted") end
    local text, rerr = fs.read(dir .. "/" .. s.template)
    if not text then return nil, errors.failure(rerr) end
    local new, jerr = json.decode(text, s.template)
    if not new then return nil, errors.failure(jerr) end
    local old, derr = deployed(session.client, s.name)
    if old == nil and proc.interrupts() > 0 then return nil, errors.interrupted("diff: interrupted") end
    if old == nil then return nil, derr end
    local d = diff.templates(old or nil, new)
    if opts.json then
      docs[#docs + 1] = diff.to_json(s.name, d, old == false)
    else
      if old == false then io.stdout:write(s.name, " (new stack)\n") end
      for _, line in ipairs(diff.format(s.name, d)) do io.stdout:write(line, "\n") end
    end
    if diff.differs(d) then differs = differs + 1 end
  end
  if opts.json then
    io.stdout:write(json.encode({ stacks = json.array(docs), differ = differs }, { pretty = true, newline = true }))
  end
  io.stdout:flush()
  if opts.fail and differs > 0 then
    return nil, errors.failure(("%d stack%s differ%s from what is deployed"):format(differs,
      differs == 1 and "" or "s", differs == 1 and "s" or ""))
  end
  return true
end

function M.run(app, opts, selectors)
  local dir, done = common.synthesized_apart(app, opts, "lakehost-diff-")
  if not dir then return nil, done end
  -- the temporary folder goes on every path out, a raised error's too
  local ok, res, err = pcall(compare, dir, opts, selectors)
  done()
  if not ok then error(res, 0) end
  return res, err
end

return M
