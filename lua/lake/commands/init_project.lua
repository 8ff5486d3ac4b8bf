--- `init [DIR]`: a new lake project from the templates (lake.scaffold).
-- The one command that runs without an app file (lake.cli's
-- PROJECT_COMMANDS): it gets nil for the app. (Not lake/commands/init.lua,
-- which would be the module lake.commands.)
local errors = require("lake.errors")
local fs = require("host.fs")
local names = require("lake.names")
local scaffold = require("lake.scaffold")
local util = require("lake.util")

local M = {
  synopsis = "[DIR] [--name NAME]",
  summary = "write a new lake project into DIR (default: here)",
  args = true,
  options = { name = "NAME" },
  help = [[
usage: lakehost init [DIR] [--name NAME]

Writes a new lake project into DIR (default: the current folder; created
when missing):

  app.lua                      the lake: one domain, example; pipelines/ and
                               standalone/ of this folder
  pipelines/example_pipeline/  config.yml, trigger/ and catch/ (the example
                               lake's code), and one Lambda step,
                               steps/copy_object/, that copies each object put
                               under example_pipeline/ in the raw bucket to the
                               trusted one
  standalone/parameters.lua    a stack of your own: an SSM parameter holding
                               the raw bucket's name
  shared/                      manifest.json and example/, the shared module
                               the trigger imports
  .gitignore, README.md        lake.out/ and .lake-cache/ ignored; the next
                               commands

The project validates, synthesizes and deploys as written:
  cd DIR && lakehost app.lua validate && lakehost app.lua deploy

Nothing is overwritten: when any of these files exists already, init
writes nothing, names them and exits 2.

  --name NAME   the lake's name (default: the name of DIR's folder)
]],
}

-- The name of the folder dir is (or will be).
local function folder_name(dir)
  local full = fs.realpath(dir)
  if not full then
    full = dir:sub(1, 1) == "/" and dir or ((fs.cwd() or ".") .. "/" .. dir)
  end
  return fs.basename(full)
end

--- The reason a lake name is unusable, or nil.
local function bad_name(name, given)
  local how = given and "--name" or "the folder's name (give another with --name)"
  if name:find("%c") then return ("%s: a lake's name has no control characters"):format(how) end
  if util.kebab(name) == "" then
    return ("%s: '%s' has no letter or digit to name the lake with"):format(how, name)
  end
  local topic = names.topic(name, "test")
  if #topic > 256 then
    return ("%s: too long: the error topic's name would be %d characters, SNS allows 256"):format(how, #topic)
  end
end

function M.run(_, opts, pos)
  if #pos > 1 then return nil, errors.input(("init: unexpected argument '%s' (one folder at most)"):format(pos[2])) end
  local dir = pos[1] or "."
  local name = opts.name or folder_name(dir)
  local why = bad_name(name, opts.name ~= nil)
  if why then return nil, errors.input("init: " .. why) end
  local written, err = scaffold.write(dir, scaffold.project { lake_name = name }, { what = "init" })
  if not written then return nil, err end
  local out = io.stderr
  out:write(("init: wrote the lake '%s', %d files, in %s:\n"):format(name, #written, dir))
  local prefix = dir == "." and "" or (dir:gsub("/+$", "") .. "/")
  for _, p in ipairs(written) do out:write("  ", p:sub(#prefix + 1), "\n") end
  out:write(("next: %slakehost app.lua validate   (then synth, bootstrap, deploy)\n")
    :format(dir == "." and "" or ("cd " .. dir .. " && ")))
  return true
end

return M
