--- The command line: `lakehost FILE.lua [ARGS]`, `-e CODE`, `--version`, `--help`.
--
-- A FILE whose chunk returns an App hands the rest of the command line to
-- lake.commands (synth, list, deploy, ...). Any other FILE runs as a plain
-- script with the global `arg`, exactly as the `lua` interpreter would.
local errors = require("lake.errors")

local M = {}

M.usage = [=[
usage: lakehost FILE.lua [COMMAND] [OPTIONS]
       lakehost -e CODE [FILE.lua [ARGS]]
       lakehost --version | --help

When FILE.lua returns an App (see app.lua), COMMAND is one of:
  synth [--out DIR]        write templates, manifest and assets (default lake.out)
  list                     stacks in deploy order with their dependencies
  validate                 check app.lua and every pipeline config, write nothing
  bootstrap                create the toolkit stack (assets bucket)
  deploy [STACK...]        deploy stacks (all when none given)
  diff [STACK...]          compare with the deployed templates
  destroy [STACK...]       delete stacks in reverse dependency order
  run PIPELINE --event F   run a pipeline's state machine on this machine
Run `lakehost FILE.lua COMMAND --help` for a command's options.

Otherwise FILE.lua runs as a plain Lua script with `arg`, like `lua`.

Options:
  -e CODE      run CODE before FILE (or alone)
  --version    print the version
  --help       print this help

Environment: AWS_PROFILE, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS_ENDPOINT_URL, AWS_ACCOUNT_ID, ENVIRONMENT_STAGE,
LAKEHOST_PATH (extra Lua library folders), LAKEHOST_DEBUG=1 (tracebacks),
LAKEHOST_STRICT=1 (check the resources lakehost builds for pipelines against
their schemas too, as the tests do).
Exit status: 0 success, 1 an operation failed, 2 bad usage or bad input.
]=]

--- True when v is an App built by lake.app.
local function is_app(v)
  if type(v) ~= "table" then return false end
  local ok, app = pcall(require, "lake.app")
  return ok and app.is_app(v)
end

--- Loads and runs a script as `lua FILE ARGS` would; returns its first result.
local function run_file(path, args, argv0)
  local script_arg = { [-1] = argv0, [0] = path }
  for i, a in ipairs(args) do script_arg[i] = a end
  rawset(_G, "arg", script_arg)
  local chunk, err = loadfile(path, "t")
  if not chunk then
    -- loadfile says "cannot open x" or "x:3: syntax error"; both are bad input.
    errors.usage(err)
  end
  return chunk(table.unpack(args))
end

--- Entry point called by host/main.c.
-- @param argv table argv[0] is the program, argv[1..] its arguments
-- @param info table {version=, libdir=, lua=}
-- @return integer exit status
function M.main(argv, info)
  -- Synthesis makes many short-lived tables around a large, long-lived
  -- model: the generational collector keeps the peak RSS about 30% lower.
  collectgarbage("generational")
  if os.getenv("LAKEHOST_STRICT") == "1" then require("lake.app").strict = true end
  local i, ran_code = 1, false
  while argv[i] do
    local a = argv[i]
    if a == "--version" or a == "-v" then
      io.stdout:write(("lakehost %s (%s)\n"):format(info.version, info.lua))
      return 0
    elseif a == "--help" or a == "-h" then
      io.stdout:write(M.usage)
      return 0
    elseif a == "-e" then
      local code = argv[i + 1]
      if not code then errors.usage("-e needs an argument (lakehost -e CODE)") end
      local chunk, err = load(code, "=(command line)", "t")
      if not chunk then errors.usage(err) end
      chunk()
      ran_code = true
      i = i + 2
    elseif a == "--" then
      i = i + 1
      break
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      errors.usage(("unknown option '%s' (see lakehost --help)"):format(a))
    else
      break
    end
  end
  local file = argv[i]
  if not file then
    if ran_code then return 0 end
    io.stderr:write(M.usage)
    return 2
  end
  local args = {}
  for j = i + 1, #argv do args[#args + 1] = argv[j] end
  -- --jobs applies to loading the pipelines too, which app.lua does
  require("lake.workers").jobs = require("lake.workers").from_args(args)
  local result = run_file(file, args, argv[0])
  if is_app(result) then
    return require("lake.commands").run(result, args, { file = file, info = info })
  end
  return 0
end

return M
