-- No-op redeploy of the example lake against moto on loopback: API calls
-- and wall time per stack, printed. Usage: ./lakehost bench/deploy_bench.lua [APP]
package.path = "./?.lua;" .. package.path
local fs = require("host.fs")
local proc = require("host.proc")
local moto = require("spec.support.moto")

local app = arg[1] or (fs.exists("app.lua") and "app.lua" or "spec/fixtures/apps/small/app.lua")
local server = moto.start()
local out = assert(fs.tmpdir("lakehost-bench-"))
local env = {}
for k, v in pairs(server.env) do env[k] = v end
env.LAKEHOST_CACHE_DIR = out .. "/cache"

local function lakehost(args)
  local argv = { "./lakehost", app }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local t0 = proc.monotime()
  local r = assert(proc.run { argv = argv, env_add = env, timeout = 900 })
  if not r.ok then
    io.stderr:write(r.stderr)
    server.stop()
    error("lakehost " .. table.concat(args, " ") .. " failed")
  end
  return r, proc.monotime() - t0
end

local ok, err = pcall(function()
  local _, tb = lakehost({ "bootstrap" })
  local _, tc = lakehost({ "deploy", "--out", out .. "/lake.out", "--require-approval", "never" })
  print(("app: %s"):format(app))
  print(("bootstrap %.2f s, first deploy %.2f s"):format(tb, tc))
  for run = 1, 3 do
    local r, t = lakehost({ "deploy", "--out", out .. "/lake.out", "--stats" })
    print(("no-op redeploy #%d: %.2f s wall (synth included)"):format(run, t))
    for line in r.stderr:gmatch("[^\n]+") do
      local name, status, secs, calls = line:match("^%s+(%S+)%s+(%S+)%s+([%d.]+) s%s+(%d+) API calls")
      if name then print(("  %-44s %-10s %6.3f s %3d API calls"):format(name, status, tonumber(secs), tonumber(calls))) end
      local total = line:match("^done in .*")
      if total then print("  " .. total) end
    end
  end
end)
server.stop()
fs.remove_tree(out)
if not ok then error(err, 0) end
