-- Times host.zip on the 50 MiB test tree (25 files of 2 MiB, half random,
-- half text): `./lakehost bench/zip_bench.lua` from the repository root.
package.path = "./?.lua;" .. package.path
local fs = require("host.fs")
local zip = require("host.zip")
local tree = require("spec.fixtures.zip.tree")

--- Wall-clock seconds with sub-second precision (date +%s.%N).
local function now()
  local p = assert(io.popen("date +%s.%N"))
  local t = tonumber(p:read("l"))
  p:close()
  return t
end

local tmp = assert(fs.tmpdir("zip-bench-"))
local ok, err = pcall(function()
  tree.make(tmp .. "/tree", 25, 2 * 1024 * 1024)
  local runs = {}
  for i = 1, 3 do
    local w0, c0 = now(), os.clock()
    local r = assert(zip.writer(tmp .. "/tree.zip"):add_tree(tmp .. "/tree"):close())
    runs[i] = { wall = now() - w0, cpu = os.clock() - c0, size = r.size }
  end
  table.sort(runs, function(a, b) return a.wall < b.wall end)
  local best = runs[1]
  print(("zip 50 MiB (25 files): best of 3 %.2f s wall, %.2f s cpu, %.1f MiB/s, archive %d bytes")
    :format(best.wall, best.cpu, 50 / best.wall, best.size))
  local w0 = now()
  assert(zip.extract(tmp .. "/tree.zip", tmp .. "/out"))
  print(("extract: %.2f s wall"):format(now() - w0))
end)
fs.remove_tree(tmp)
if not ok then error(err, 0) end
