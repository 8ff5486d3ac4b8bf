-- Deploys against moto on loopback, counted: for the example lake (1 domain
-- x 1 pipeline, 4 stacks) and a lake of 5 domains x 20 pipelines (102
-- stacks; each pipeline's code its own, so ~600 asset files), the requests
-- and wall time of a first deploy, a no-op redeploy and a redeploy after
-- one step's code changed; next to them, when the `aws` CLI is installed,
-- the same for `aws s3 sync` of the assets plus `aws cloudformation deploy`
-- of every synthesized template in deploy order. Every request goes through
-- bench/countproxy.py (a counting proxy on loopback); each tool gets a moto
-- of its own, bootstrapped by lakehost (not counted). Prints figures; it is
-- not a test.
--   ./lakehost bench/deploy_bench.lua [--small] [--no-cli]
--     --small   the example lake only
--     --no-cli  lakehost only
package.path = "./?.lua;" .. package.path
local fs = require("host.fs")
local json = require("host.json")
local proc = require("host.proc")
local moto = require("spec.support.moto")
local support = require("bench.support")

local BIN = fs.realpath(arg[-1] and arg[-1]:find("/", 1, true) and arg[-1] or "./lakehost") or "./lakehost"
local BUCKET = "lakehost-assets-123456789012-us-east-1"
local opts = {}
for _, a in ipairs(arg) do opts[a] = true end
local with_cli = not opts["--no-cli"] and proc.which("aws") ~= nil

local function sh(cmd) assert(os.execute(cmd), cmd) end
local q = support.q

-- A copy of the example lake (app.lua, pipelines/, shared/, standalone/).
local function example_lake()
  local dir = assert(fs.tmpdir("lakehost-deploy-bench-"))
  sh(("cp -R app.lua pipelines shared standalone %s/"):format(q(dir)))
  return dir, "pipelines/pipeline_example/steps/route_file/src/index.py"
end

-- A D x P lake: copies of the example pipeline, each module's code marked
-- with its pipeline's name so every pipeline has assets of its own.
local function big_lake(d, p)
  local dir = support.lake(d, p, { prefix = "lakehost-deploy-bench-", own_code = true,
    domain = function(i) return ("domain%d"):format(i) end,
    pipeline = function(i, j) return ("p_d%d_%02d"):format(i, j) end })
  return dir, "pipelines/p_d1_01/steps/route_file/src/index.py"
end

-- moto, and the counting proxy in front of it.
local function endpoint()
  local server = moto.start()
  local px = support.counting(server.url)
  local e = { server = server, env = {} }
  for k, v in pairs(server.env) do e.env[k] = v end
  -- moto reads a path-style TemplateURL only when its host says "localhost"
  e.env.AWS_ENDPOINT_URL = "http://localhost:" .. px.port
  e.direct = {}
  for k, v in pairs(server.env) do e.direct[k] = v end
  e.counts = px.counts
  function e.stop()
    px.stop()
    server.stop()
  end
  return e
end

local run = support.run

-- Requests and seconds of fn(), as the proxy counted them.
local function measured(e, fn)
  local before = e.counts()
  local t0 = proc.monotime()
  fn()
  local dt = proc.monotime() - t0
  local after = e.counts()
  local by = {}
  for k, v in pairs(after.by_action) do
    local d = v - (before.by_action[k] or 0)
    if d > 0 then by[k] = d end
  end
  return { requests = after.requests - before.requests, seconds = dt, by = by }
end

local function change_code(dir, file)
  local path = dir .. "/" .. file
  assert(fs.write(path, assert(fs.read(path)) .. "\n# one change\n"))
end

local PHASES = { "first deploy", "no-op redeploy", "one change" }

-- lakehost: bootstrap (direct), then the three phases through the proxy.
local function lakehost_phases(make)
  local dir, file = make()
  local e = endpoint()
  local env = {}
  for k, v in pairs(e.env) do env[k] = v end
  env.LAKEHOST_CACHE_DIR = dir .. "/.cache"
  local direct = {}
  for k, v in pairs(e.direct) do direct[k] = v end
  direct.LAKEHOST_CACHE_DIR = env.LAKEHOST_CACHE_DIR
  local out, info = {}, {}
  local ok, err = pcall(function()
    run({ BIN, "app.lua", "bootstrap" }, direct, dir)
    run({ BIN, "app.lua", "synth", "--quiet" }, direct, dir) -- warms the asset cache: deploys time deploying
    local m = json.decode(assert(fs.read(dir .. "/lake.out/manifest.json")))
    info.stacks, info.assets = #m.stacks, #m.assets
    for i, phase in ipairs(PHASES) do
      if phase == "one change" then change_code(dir, file) end
      local stderr
      out[i] = measured(e, function() stderr = run({ BIN, "app.lua", "deploy", "--stats", "--require-approval", "never" }, env, dir).stderr end)
      out[i].calls = tonumber(stderr:match("done in [%d.]+ s, (%d+) API calls"))
    end
  end)
  e.stop()
  fs.remove_tree(dir)
  if not ok then error(err, 0) end
  return out, info
end

-- The AWS CLI: `aws s3 sync` of the assets, then `aws cloudformation
-- deploy` of each template in deploy order (templates over 51,200 bytes go
-- through the assets bucket, as the CLI requires).
local function cli_phases(make)
  local dir, file = make()
  local e = endpoint()
  local direct = {}
  for k, v in pairs(e.direct) do direct[k] = v end
  direct.LAKEHOST_CACHE_DIR = dir .. "/.cache"
  local out = {}
  local ok, err = pcall(function()
    run({ BIN, "app.lua", "bootstrap" }, direct, dir)
    for i, phase in ipairs(PHASES) do
      if phase == "one change" then change_code(dir, file) end
      run({ BIN, "app.lua", "synth", "--quiet" }, direct, dir)
      local lo = dir .. "/lake.out"
      local m = json.decode(assert(fs.read(lo .. "/manifest.json")))
      out[i] = measured(e, function()
        run({ "aws", "s3", "sync", "--only-show-errors", lo .. "/assets", "s3://" .. BUCKET .. "/" }, e.env, dir)
        for _, s in ipairs(m.stacks) do
          local argv = { "aws", "cloudformation", "deploy", "--template-file", lo .. "/" .. s.template,
            "--stack-name", s.name, "--no-fail-on-empty-changeset",
            "--capabilities", "CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND" }
          if (s.size or 0) > 51200 then
            for _, a in ipairs({ "--s3-bucket", BUCKET, "--s3-prefix", "cli" }) do argv[#argv + 1] = a end
          end
          local keys = {}
          for k in pairs(s.tags or {}) do keys[#keys + 1] = k end
          table.sort(keys)
          if #keys > 0 then
            argv[#argv + 1] = "--tags"
            for _, k in ipairs(keys) do argv[#argv + 1] = k .. "=" .. s.tags[k] end
          end
          run(argv, e.env, dir)
        end
      end)
    end
  end)
  e.stop()
  fs.remove_tree(dir)
  if not ok then error(err, 0) end
  return out
end

local function short(action)
  return (action:gsub("^cloudformation:", "cfn:"))
end

local function by_line(by)
  local keys = {}
  for k in pairs(by) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = ("%s %d"):format(short(k), by[k]) end
  return table.concat(parts, ", ")
end

local lakes = { { "example lake, 1 domain x 1 pipeline", example_lake } }
if not opts["--small"] then
  lakes[2] = { "5 domains x 20 pipelines", function() return big_lake(5, 20) end }
end

print(("%s against moto %s on loopback; requests counted by a proxy; %s"):format(
  (run({ BIN, "--version" }).stdout:gsub("%s+$", "")), (io.popen("python3 -c 'import moto; print(moto.__version__)'")
    :read("l")), with_cli and ("aws CLI: " .. (run({ "aws", "--version" }).stdout .. run({ "aws", "--version" }).stderr)
    :match("^(%S+)")) or "no aws CLI"))
for _, lake in ipairs(lakes) do
  local lh, info = lakehost_phases(lake[2])
  local cli = with_cli and cli_phases(lake[2]) or nil
  print()
  print(("%s: %d stacks, %d asset files"):format(lake[1], info.stacks, info.assets))
  print(("  %-16s %10s %9s %12s %9s"):format("", "lakehost", "", cli and "aws CLI" or "", ""))
  print(("  %-16s %10s %9s %12s %9s"):format("phase", "requests", "time", cli and "requests" or "",
    cli and "time" or ""))
  for i, phase in ipairs(PHASES) do
    local c = cli and cli[i]
    print(("  %-16s %10d %8.2fs %12s %9s"):format(phase, lh[i].requests, lh[i].seconds,
      c and tostring(c.requests) or "", c and ("%.2fs"):format(c.seconds) or ""))
  end
  for i, phase in ipairs(PHASES) do
    print(("  lakehost %s: %s"):format(phase, by_line(lh[i].by)))
    if lh[i].calls and lh[i].calls ~= lh[i].requests then
      print(("    (--stats counted %d calls; the rest: the lock's own PUT, GET and DELETE, and retries)"):format(lh[i].calls))
    end
  end
  if cli then
    for i, phase in ipairs(PHASES) do print(("  aws CLI %s: %s"):format(phase, by_line(cli[i].by))) end
  end
end
print()
print("lakehost times are whole commands (synth of an unchanged lake included); the CLI's are its")
print("commands only, the synth before them not counted. moto keeps no Description for stacks made")
print("through change sets, so lakehost reads the template hash with GetTemplate there (one request a")
print("stack that AWS does not need). `aws s3 sync` compares size and time: it uploads again the")
print("files a synth wrote anew.")
