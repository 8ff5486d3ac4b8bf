--- The command line: `lakehost FILE.lua [COMMAND] [OPTIONS]`,
-- `lakehost init [DIR]`, `-e CODE`, `--version`, `--help`.
--
-- A FILE whose chunk returns an App gets a command (one module each,
-- lake.commands.<name>: its summary, options, help and run function); the
-- usage is made from those modules. Any other FILE runs as a plain script
-- with the global `arg`, exactly as the `lua` interpreter would. A project
-- command (init) comes instead of FILE and runs without an app: its run
-- function gets nil for the app.
--
-- Commands return true, or nil and an error value (lake.errors); this
-- module alone turns the kind of an error into an exit status.
local app_mod = require("lake.app")
local errors = require("lake.errors")
local util = require("lake.util")
local installers = require("lake.assets.installers")

local M = {}

--- The commands, in the order the usage lists them.
M.COMMANDS = { "synth", "list", "validate", "bootstrap", "deploy", "watch", "diff", "destroy", "unlock", "run", "new" }

--- Commands that run without an app file, in the place of FILE.lua.
M.PROJECT_COMMANDS = { "init" }

--- Exit status of each kind of error: bad input or usage 2, a failed
-- operation 1, interrupted 130 (as a shell reports a SIGINT).
M.EXIT = { input = 2, failed = 1, interrupted = 130 }

-- Commands whose module is not lake.commands.<name>: lake/commands/init.lua
-- would be the module lake.commands itself (as lua/lake/init.lua is lake).
local MODULES = { init = "lake.commands.init_project" }

--- The module of a command.
function M.command(name)
  -- each command's module is loaded only when it runs (deploy brings the
  -- AWS clients, run the local runner): the one list above names them
  return require(MODULES[name] or ("lake.commands." .. name))
end

local function synopsis(name, c) return name .. (c.synopsis and (" " .. c.synopsis) or "") end

--- How a command is invoked: "lakehost init", "lakehost APP.lua synth".
function M.invocation(name)
  if util.contains(M.PROJECT_COMMANDS, name) then return "lakehost " .. name end
  return "lakehost APP.lua " .. name
end

--- The usage of lakehost, with the commands' synopses and summaries.
function M.usage()
  local lines = {
    "usage: lakehost FILE.lua [COMMAND] [OPTIONS]",
    "       lakehost init [DIR] [OPTIONS]",
    "       lakehost -e CODE [FILE.lua [ARGS]]",
    "       lakehost --version | --help",
    "",
    "Without an app file:",
  }
  for _, name in ipairs(M.PROJECT_COMMANDS) do
    local c = M.command(name)
    lines[#lines + 1] = ("  %-25s %s"):format(synopsis(name, c), c.summary)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "When FILE.lua returns an App (see app.lua), COMMAND is one of:"
  for _, name in ipairs(M.COMMANDS) do
    local c = M.command(name)
    lines[#lines + 1] = ("  %-25s %s"):format(synopsis(name, c), c.summary)
  end
  lines[#lines + 1] = [[
Run `lakehost FILE.lua COMMAND --help` (`lakehost init --help`) for a
command's options.

Otherwise FILE.lua runs as a plain Lua script with `arg`, like `lua`.

Options:
  -e CODE      run CODE before FILE (or alone)
  --version    print the version
  --help       print this help

Environment: AWS_PROFILE, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN, AWS_ENDPOINT_URL, AWS_ACCOUNT_ID, ENVIRONMENT_STAGE,
LAKEHOST_PATH (folders of Lua modules that go before lakehost's own: resource
kinds, step types, development), LAKEHOST_DEBUG=1 (tracebacks).
Exit status: 0 success, 1 an operation failed, 2 bad usage or bad input.
]]
  return table.concat(lines, "\n")
end

--- Loads and runs a script as `lua FILE ARGS` would; returns its first result.
local function run_file(path, args, argv0)
  local script_arg = { [-1] = argv0, [0] = path }
  for i, a in ipairs(args) do script_arg[i] = a end
  rawset(_G, "arg", script_arg)
  -- the file's folder is where require looks after lakehost's own modules:
  -- an app's resources/<kind>.lua, its helper modules
  package.path = (path:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
  local chunk, err = loadfile(path, "t")
  if not chunk then
    -- loadfile says "cannot open x" or "x:3: syntax error"; both are bad input.
    errors.usage(err)
  end
  return chunk(table.unpack(args))
end

---------------------------------------------------------------------------
-- Options of a command

-- Checks of options that several commands take: a message when v is wrong.
local CHECKS = {
  concurrency = function(v)
    local n = tonumber(v)
    if not (n and n >= 1) then return ("--concurrency expects a number >= 1, got '%s'"):format(v) end
  end,
  timeout = function(v)
    local n = tonumber(v)
    if not (n and n > 0) then return ("--timeout expects a number of seconds > 0, got '%s'"):format(v) end
  end,
  builder = function(v)
    if not installers.known(v) then
      return ("--builder expects one of %s, got '%s'%s"):format(table.concat(installers.NAMES, ", "), v,
        util.suggest(v, installers.NAMES))
    end
  end,
}

--- Parses "--name value", "--name=value" and flags against a command's options.
-- @return opts, positional | nil, err
function M.parse(name, args, spec)
  local opts, pos, i = {}, {}, 1
  local function bad(msg) return nil, nil, errors.input(("%s: %s"):format(name, msg)) end
  while args[i] do
    local a = args[i]
    if a == "--help" or a == "-h" then
      opts.help = true
    elseif a:sub(1, 2) == "--" then
      local oname, val = a:match("^%-%-([%w-]+)=(.*)$")
      oname = oname or a:sub(3)
      local key = oname:gsub("-", "_")
      local want = spec[key]
      if want == nil then
        local flags = {}
        for _, k in ipairs(util.sorted_keys(spec)) do flags[#flags + 1] = (k:gsub("_", "-")) end
        local near = util.did_you_mean(oname, flags)
        return bad(("unknown option '--%s'%s (see %s --help)"):format(
          oname, near and (" (did you mean '--%s'?)"):format(near) or "", M.invocation(name)))
      elseif want == true then
        if val then return bad(("--%s takes no value"):format(oname)) end
        opts[key] = true
      else
        if not val then
          i = i + 1
          val = args[i]
          if val == nil then return bad(("--%s needs a value (%s)"):format(oname, want)) end
        end
        local why = CHECKS[key] and CHECKS[key](val)
        if why then return bad(why) end
        opts[key] = val
      end
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return opts, pos
end

--- Runs COMMAND for app.
-- @param app App
-- @param args table the command line after APP.lua
-- @param ctx table { file = path of app.lua, info = host info }
-- @return true | nil, err
function M.run_command(app, args, ctx)
  local name = args[1]
  if name == nil or name == "--help" or name == "-h" or name == "help" then
    local out = name and io.stdout or io.stderr
    out:write(("usage: lakehost %s COMMAND [OPTIONS]\n\ncommands:\n"):format(ctx.file))
    for _, c in ipairs(M.COMMANDS) do out:write(("  %-10s %s\n"):format(c, M.command(c).summary)) end
    if name then return true end
    return nil, errors.input("which command?")
  end
  if not util.contains(M.COMMANDS, name) then
    return nil, errors.input(("unknown command '%s'%s (see lakehost %s --help)"):format(name,
      util.suggest(name, M.COMMANDS), ctx.file))
  end
  return M.run_one(name, table.move(args, 2, #args, 1, {}), app, ctx)
end

--- Parses a command's options and runs it.
-- @param name string the command
-- @param rest table its arguments
-- @param app App|nil nil for a project command
-- @return true | nil, err
function M.run_one(name, rest, app, ctx)
  local cmd = M.command(name)
  local opts, pos, perr = M.parse(name, rest, cmd.options)
  if not opts then return nil, perr end
  if opts.help then
    io.stdout:write(cmd.help or ("usage: " .. M.invocation(name) .. (cmd.synopsis and (" " .. cmd.synopsis) or "") .. "\n"))
    return true
  end
  if #pos > 0 and not cmd.args then
    return nil, errors.input(("%s: unexpected argument '%s'"):format(name, pos[1]))
  end
  if opts.builder then app.settings.builder = opts.builder end
  return cmd.run(app, opts, pos, ctx)
end

---------------------------------------------------------------------------
-- Errors -> messages and exit statuses

local function debug_enabled()
  local d = os.getenv("LAKEHOST_DEBUG")
  return d ~= nil and d ~= "" and d ~= "0"
end

-- Prints an error value: its problems (file:line: key: message), then the
-- message; returns its exit status.
local function report(err)
  for _, p in ipairs(err.problems or {}) do io.stderr:write(p, "\n") end
  io.stderr:write("lakehost: ", err.msg, "\n")
  if err.traceback then io.stderr:write(err.traceback, "\n") end
  io.stderr:flush()
  return M.EXIT[err.kind] or 2
end

-- xpcall's handler: error values are kept, anything else (a bug, a
-- script's own error()) becomes its message; with LAKEHOST_DEBUG set, the
-- traceback of where it was raised goes with it.
local function handler(e)
  local trace = debug_enabled() and debug.traceback(nil, 2) or nil
  if errors.is(e) then
    e.traceback = trace
    return e
  end
  local msg = type(e) == "string" and e or nil
  if msg == nil then
    local mt = getmetatable(e)
    msg = mt and mt.__tostring and tostring(e) or ("(error object is a %s value)"):format(type(e))
  end
  local err = errors.input(msg)
  err.traceback = trace
  return err
end

-- The command line, past lakehost's own options.
local function main(argv, info)
  local i, ran_code = 1, false
  while argv[i] do
    local a = argv[i]
    if a == "--version" or a == "-v" then
      io.stdout:write(("lakehost %s (%s)\n"):format(info.version, info.lua))
      return 0
    elseif a == "--help" or a == "-h" then
      io.stdout:write(M.usage())
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
    io.stderr:write(M.usage())
    return 2
  end
  local args = table.move(argv, i + 1, #argv, 1, {})
  if util.contains(M.PROJECT_COMMANDS, file) then
    local ok, err = M.run_one(file, args, nil, { info = info })
    if ok then return 0 end
    return report(err)
  end
  local result = run_file(file, args, argv[0])
  if not app_mod.is_app(result) then return 0 end
  local ok, err = M.run_command(result, args, { file = file, info = info })
  if ok then return 0 end
  return report(err)
end

--- Entry point called by host/main.c.
-- @param argv table argv[0] is the program, argv[1..] its arguments
-- @param info table { version =, lua = }
-- @return integer exit status
function M.main(argv, info)
  -- A command builds its model once and keeps it to the end: collecting
  -- when the heap has tripled (not doubled) made synth of a 100-pipeline
  -- lake 5% faster than Lua's defaults or the generational mode, for 4 MiB
  -- more at its peak (bench/synth_bench.lua).
  collectgarbage("incremental", 300, 200)
  local ok, res = xpcall(main, handler, argv, info)
  if ok then return res end
  return report(res)
end

return M
