-- Synthesizes lakes of D domains x P pipelines per domain (default 20 x 100)
-- made of copies of the example pipeline, and prints wall time per phase,
-- CPU time and peak RSS. Each size runs in a fresh lakehost process so the
-- RSS is its own; synth's worker processes (--jobs, default the number of
-- CPUs) are reported beside it.
--   ./lakehost bench/synth_bench.lua [D P]...     e.g. 5 20 10 50 20 100
--   LAKEHOST_JOBS=1 ./lakehost bench/synth_bench.lua 20 100   (one process)
-- The lakes are made under $TMPDIR (default /tmp).
package.path = "./?.lua;" .. package.path
local fs = require("host.fs")
local proc = require("host.proc")

local sizes = {}
for i = 1, #arg, 2 do sizes[#sizes + 1] = { tonumber(arg[i]), tonumber(arg[i + 1]) } end

-- One size, in this process: called as `bench/synth_bench.lua --one D P DIR`.
local function one(d, p, dir)
  -- the number of processes for loading too, as --jobs on the command line does
  require("lake.workers").jobs = tonumber(os.getenv("LAKEHOST_JOBS") or "")
  local t0 = proc.monotime()
  local lake = require("lake")
  local app = lake.App { root = dir }
  local domains = {}
  for i = 1, d do domains[i] = ("d%02d"):format(i) end
  lake.DatalakeBuilder { scope = app, lake_name = "Bench Lake", env = "dev", lake_domains = domains,
    sns_subscriptions = { { protocol = "email", endpoint = "data@example.com" } },
    pipelines_path = dir .. "/pipelines", tags = { team = "data" } }:build()
  assert(#app.problems == 0, table.concat(app.problems, "\n"))
  local t1 = proc.monotime()
  local commands = require("lake.commands")
  local jobs = os.getenv("LAKEHOST_JOBS") or tostring(proc.cpus())
  local rc = commands.run(app, { "synth", "--out", dir .. "/lake.out", "--quiet", "--jobs", jobs }, { file = "bench" })
  assert(rc == 0)
  local t2 = proc.monotime()
  local me, kids = assert(proc.rusage("self")), assert(proc.rusage("children"))
  local files = fs.list(dir .. "/lake.out")
  local bytes = 0
  for _, f in ipairs(files) do
    local st = fs.stat(dir .. "/lake.out/" .. f)
    if st.type == "file" then bytes = bytes + st.size end
  end
  io.write(("%d x %d: %d pipelines, %d stacks, %s process%s: model %.2f s, synth+write %.2f s, total %.2f s; "
    .. "CPU %.2f s user + %.2f s system; peak RSS %.1f MiB (largest worker %.1f MiB); %.1f MB of templates\n")
    :format(d, p, d * p, #app.stacks, jobs, jobs == "1" and "" or "es", t1 - t0, t2 - t1, t2 - t0,
      me.user + kids.user, me.system + kids.system, me.maxrss / 1024, kids.maxrss / 1024, bytes / 1e6))
end

if arg[1] == "--one" then
  one(tonumber(arg[2]), tonumber(arg[3]), arg[4])
  return
end
if #sizes == 0 then sizes = { { 5, 20 }, { 10, 50 }, { 20, 100 } } end

-- The example pipeline, copied P times per domain with its name and domain changed.
local example = assert(fs.read("pipelines/pipeline_example/config.yml"))
for _, size in ipairs(sizes) do
  local d, p = size[1], size[2]
  local dir = assert(fs.tmpdir("lakehost-synth-bench-"))
  assert(os.execute(("cp -R shared %s/shared"):format(dir)))
  local src = "pipelines/pipeline_example"
  for i = 1, d do
    for j = 1, p do
      local name = ("p_d%02d_%03d"):format(i, j)
      local pdir = dir .. "/pipelines/" .. name
      assert(fs.mkdir_p(pdir))
      assert(os.execute(("cp -R %s/trigger %s/catch %s/steps %s/"):format(src, src, src, pdir)))
      local cfg = example:gsub("name: pipeline_example", "name: " .. name):gsub("domain: example", ("domain: d%02d"):format(i))
      assert(fs.write(pdir .. "/config.yml", cfg))
    end
  end
  local r = assert(proc.run { argv = { os.getenv("LAKEHOST_BIN") or "./lakehost", "bench/synth_bench.lua", "--one", tostring(d), tostring(p), dir },
    timeout = 1800, stderr = "stdout" })
  io.write(r.stdout)
  if not r.ok then error("bench failed") end
  fs.remove_tree(dir)
end
