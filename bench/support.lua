--- What the benchmarks share: lakes to measure, a counting proxy in front
-- of an endpoint, a command that must succeed. Run from the repository root
-- (the benches put "./?.lua" on package.path).
local fs = require("host.fs")
local json = require("host.json")
local proc = require("host.proc")

local M = {}

--- A shell word.
function M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function sh(cmd) assert(os.execute(cmd), cmd) end

--- A D x P lake in a fresh folder: app.lua, shared/ and pipelines/, copies
-- of the example pipeline with their name and domain changed.
-- @param opts table { prefix = tmpdir prefix, domain = function(i) -> name,
--   pipeline = function(i, j) -> name, own_code = true: each module's code marked with its
--   pipeline's name, so every pipeline has assets of its own }
-- @return the folder
function M.lake(d, p, opts)
  local dir = assert(fs.tmpdir(opts.prefix))
  sh(("cp -R shared %s/shared"):format(M.q(dir)))
  local example = assert(fs.read("pipelines/pipeline_example/config.yml"))
  local src = "pipelines/pipeline_example"
  local domains = {}
  for i = 1, d do
    local domain = opts.domain(i)
    domains[i] = ("%q"):format(domain)
    for j = 1, p do
      local name = opts.pipeline(i, j)
      local pdir = dir .. "/pipelines/" .. name
      assert(fs.mkdir_p(pdir))
      sh(("cp -R %s/trigger %s/catch %s/steps %s/"):format(src, src, src, M.q(pdir)))
      if opts.own_code then
        for _, f in ipairs(assert(fs.walk(pdir))) do
          if f:match("index%.py$") then
            local path = pdir .. "/" .. f
            assert(fs.write(path, assert(fs.read(path)) .. ("\n# pipeline %s\n"):format(name)))
          end
        end
      end
      assert(fs.write(pdir .. "/config.yml", (example:gsub("name: pipeline_example", "name: " .. name)
        :gsub("domain: example", "domain: " .. domain))))
    end
  end
  assert(fs.write(dir .. "/app.lua", ([[
local lake = require("lake")
local root = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
local app = lake.App { name = "bench-lake", root = root }
lake.DatalakeBuilder { scope = app, lake_name = "Bench Lake", env = "dev", lake_domains = { %s },
  sns_subscriptions = { { protocol = "email", endpoint = "data@example.com" } },
  pipelines_path = root .. "/pipelines", tags = { team = "data" } }:build()
return app
]]):format(table.concat(domains, ", "))))
  return dir
end

--- bench/countproxy.py in front of url: { port, counts = function() -> { requests =,
--- by_action = { [action] = n } }, stop = function }.
function M.counting(url)
  local stats_file = os.tmpname()
  local px = assert(proc.spawn { argv = { "python3", "bench/countproxy.py", url, stats_file },
    stdout = "capture", stderr = "null" })
  local port = tonumber(assert(px:read_line("stdout", 10)):match("^PORT (%d+)"))
  return { port = port,
    counts = function()
      local t = fs.read(stats_file)
      return t and json.decode(t) or { requests = 0, by_action = {} }
    end,
    stop = function() px:close() os.remove(stats_file) end }
end

--- Runs a command that must succeed (its output shown, and an error, if not).
function M.run(argv, env, cwd)
  local r = assert(proc.run { argv = argv, env_add = env, cwd = cwd, timeout = 3600 })
  if not r.ok then
    io.stderr:write(r.stdout, r.stderr)
    error(table.concat(argv, " ") .. " failed", 0)
  end
  return r
end

return M
