-- Synthesis at the sizes lakes have: the example lake (1 domain x 1
-- pipeline) and a lake of 20 domains x 5 pipelines (100 pipelines, copies
-- of the example pipeline). For each, `lakehost app.lua synth` and
-- `validate` as a user runs them, timed over several runs (median and
-- range), a first synth into an empty folder and a synth over the
-- previous output; then the phases of one synth in one process (load and
-- model, assets, render, write) with its peak RSS.
--   ./lakehost bench/synth_bench.lua [RUNS]        (default 11 runs)
--   ./lakehost bench/synth_bench.lua --lake D P    (the phases of a D x P lake, in this process)
-- The lakes are made under $TMPDIR (default /tmp).
package.path = "./?.lua;" .. package.path
local fs = require("host.fs")
local proc = require("host.proc")
local support = require("bench.support")

local BIN = os.getenv("LAKEHOST_BIN") or arg[-1] or "./lakehost"

-- A D x P lake in a fresh folder (copies of the example pipeline).
local function make_lake(d, p)
  return support.lake(d, p, { prefix = "lakehost-synth-bench-",
    domain = function(i) return ("d%02d"):format(i) end,
    pipeline = function(i, j) return ("p_d%02d_%03d"):format(i, j) end })
end

-- The phases of one synthesis of the lake in dir, in this process.
local function phases(dir)
  local t0 = proc.monotime()
  local app = dofile(dir .. "/app.lua")
  assert(#app.problems == 0, table.concat(app.problems, "\n"))
  local t1 = proc.monotime()
  local assembly = require("lake.assembly")
  local out = dir .. "/phases.out"
  fs.remove_tree(out)
  assert(fs.mkdir_p(out .. "/assets"))
  local built = assert(assembly.build_assets(app, out .. "/assets"))
  local t2 = proc.monotime()
  local res = assert(assembly.render(app, built))
  local t3 = proc.monotime()
  local bytes = 0
  for _, s in ipairs(res.stacks) do
    assert(fs.write(out .. "/" .. s.name .. ".template.json", s.text, { atomic = false }))
    bytes = bytes + #s.text
  end
  local t4 = proc.monotime()
  local me = assert(proc.rusage("self"))
  io.write(("  one process: load+model %.0f ms, assets %.0f ms, render %.0f ms, write %.0f ms; "
    .. "%d stacks, %.1f MB of templates; peak RSS %.1f MiB\n"):format((t1 - t0) * 1000, (t2 - t1) * 1000,
    (t3 - t2) * 1000, (t4 - t3) * 1000, #res.stacks, bytes / 1e6, me.maxrss / 1024))
end

if arg[1] == "--lake" then
  phases(arg[4] or error("--lake D P DIR"))
  return
end

local RUNS = tonumber(arg[1]) or 11

-- Median and range of a command's wall time over RUNS runs (one warm-up).
local function time(argv, cwd, before)
  local t = {}
  for i = 0, RUNS do
    if before then before() end
    local t0 = proc.monotime()
    local r = assert(proc.run { argv = argv, cwd = cwd, stderr = "stdout", timeout = 600 })
    local dt = proc.monotime() - t0
    if not r.ok then error(table.concat(argv, " ") .. " failed: " .. tostring(r.stdout)) end
    if i > 0 then t[#t + 1] = dt end
  end
  table.sort(t)
  return ("%.0f ms (%.0f-%.0f)"):format(t[(#t + 1) // 2] * 1000, t[1] * 1000, t[#t] * 1000)
end

local bin = fs.realpath(BIN) or BIN
for _, size in ipairs({ { 1, 1 }, { 20, 5 } }) do
  local d, p = size[1], size[2]
  local dir = make_lake(d, p)
  io.write(("%d x %d (%d pipeline%s), medians of %d runs:\n"):format(d, p, d * p, d * p == 1 and "" or "s", RUNS))
  local out = dir .. "/lake.out"
  io.write("  synth, first (empty folder)  ", time({ bin, "app.lua", "synth", "--quiet" }, dir,
    function() fs.remove_tree(out) end), "\n")
  io.write("  synth, over its last output  ", time({ bin, "app.lua", "synth", "--quiet" }, dir), "\n")
  io.write("  validate                     ", time({ bin, "app.lua", "validate" }, dir), "\n")
  local r = assert(proc.run { argv = { bin, "bench/synth_bench.lua", "--lake", tostring(d), tostring(p), dir },
    stderr = "stdout", timeout = 600 })
  io.write(r.stdout)
  if not r.ok then error("bench failed") end
  fs.remove_tree(dir)
end
