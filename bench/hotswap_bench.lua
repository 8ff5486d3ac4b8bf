-- The edit-deploy loop on the example lake, against moto on loopback: for a
-- one-file Lambda change (a step's index.py) and a one-file Glue script
-- change, the wall time and requests from save to done of
-- `deploy --hotswap` and of a plain `deploy`, side by side. "From save to
-- done" is the whole command: synth (the changed module rebuilt), asset
-- upload, and the update. Every request goes through bench/countproxy.py;
-- Glue's GetJob/UpdateJob (which moto lacks) go to spec/support/gluejobs.py
-- behind a counting proxy of its own. Prints figures; it is not a test.
--   ./lakehost bench/hotswap_bench.lua [ROUNDS]   (default 3 rounds, median shown)
package.path = "./?.lua;" .. package.path
local fs = require("host.fs")
local json = require("host.json")
local proc = require("host.proc")
local moto = require("spec.support.moto")
local support = require("bench.support")
local hotswap = require("lake.hotswap")
local rpc = require("lake.aws.jsonrpc")

local BIN = fs.realpath(arg[-1] and arg[-1]:find("/", 1, true) and arg[-1] or "./lakehost") or "./lakehost"
local ROUNDS = tonumber(arg[1] or "") or 3
local PIPELINE = "lake-pipeline-example-stack-dev"
local FILES = {
  lambda = "pipelines/pipeline_example/steps/route_file/src/index.py",
  glue = "pipelines/pipeline_example/steps/process_type1/src/index.py",
}

local q, run, counting = support.q, support.run, support.counting

local server = moto.start()
local aws = counting(server.url)
local glue = assert(proc.spawn { argv = { "python3", "spec/support/gluejobs.py", server.env.AWS_ACCESS_KEY_ID,
  server.env.AWS_SECRET_ACCESS_KEY }, stdout = "capture", stderr = "null" })
local glue_url = "http://127.0.0.1:" .. tonumber(assert(glue:read_line("stdout", 10)):match("^PORT (%d+)"))
local gluepx = counting(glue_url)
local dir = assert(fs.tmpdir("lakehost-hotswap-bench-"))
assert(os.execute(("cp -R app.lua pipelines shared standalone %s/"):format(q(dir))))

local direct = server.env_with { LAKEHOST_CACHE_DIR = dir .. "/.cache" }
local env = server.env_with { LAKEHOST_CACHE_DIR = dir .. "/.cache",
  -- moto reads a path-style TemplateURL only when its host says "localhost"
  AWS_ENDPOINT_URL = "http://localhost:" .. aws.port, AWS_ENDPOINT_URL_GLUE = "http://127.0.0.1:" .. gluepx.port }

local function counts()
  local a, g = aws.counts(), gluepx.counts()
  return a.requests + g.requests
end

-- Seconds and requests of one deploy, after appending a line to file.
local function measured(kind, args, n)
  local path = dir .. "/" .. FILES[kind]
  assert(fs.write(path, assert(fs.read(path)) .. ("\n# change %s %d\n"):format(table.concat(args, " "), n)))
  local before = counts()
  local t0 = proc.monotime()
  local argv = { BIN, "app.lua", "deploy", "--require-approval", "never" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local r = run(argv, env, dir)
  local dt = proc.monotime() - t0
  local status = r.stderr:match("lake%-pipeline%-example%-stack%-dev%s+(%S+)")
  return { seconds = dt, requests = counts() - before, status = status }
end

local ok, err = pcall(function()
  run({ BIN, "app.lua", "bootstrap" }, direct, dir)
  run({ BIN, "app.lua", "deploy", "--require-approval", "never" }, direct, dir)
  -- moto's CloudFormation makes no Glue jobs: the stand-in gets them as deployed
  local t = json.decode(assert(fs.read(dir .. "/lake.out/" .. PIPELINE .. ".template.json")))
  local resolve = hotswap.resolver { account = "123456789012", region = "us-east-1", template = t,
    physical = function() return nil end }
  local gc = require("lake.aws.client").new { region = "us-east-1",
    credentials = { access_key = server.env.AWS_ACCESS_KEY_ID, secret_key = server.env.AWS_SECRET_ACCESS_KEY },
    getenv = function(k) return k == "AWS_ENDPOINT_URL" and glue_url or nil end }
  for _, id in ipairs({ "StepProcessType1Job", "StepProcessType2Job" }) do
    local props = t.Resources[id].Properties
    props.Role, props.Tags = "arn:aws:iam::123456789012:role/pipeline-example-glue-us-east-1-dev", nil
    assert(rpc.call(gc, "glue", "CreateJob", assert(resolve(props))))
  end
  local rows = {}
  for _, kind in ipairs({ "lambda", "glue" }) do
    local hot, plain = {}, {}
    for n = 1, ROUNDS do
      hot[n] = measured(kind, { "--hotswap" }, n)
      plain[n] = measured(kind, {}, n) -- (also brings CloudFormation back in line)
    end
    rows[#rows + 1] = { kind = kind, hot = hot, plain = plain }
  end
  local function median(list, field)
    local v = {}
    for i, x in ipairs(list) do v[i] = x[field] end
    table.sort(v)
    return v[(#v + 1) // 2]
  end
  print(("hotswap bench: example lake on moto (loopback), one-file change, save to done; median of %d"):format(ROUNDS))
  print(("%-28s %20s %20s"):format("", "deploy --hotswap", "deploy"))
  for _, r in ipairs(rows) do
    local what = r.kind == "lambda" and "Lambda step index.py" or "Glue step script"
    print(("%-28s %9.2f s %4d req %9.2f s %4d req"):format(what, median(r.hot, "seconds"), median(r.hot, "requests"),
      median(r.plain, "seconds"), median(r.plain, "requests")))
    print(("%-28s %20s %20s"):format("  (pipeline stack)", r.hot[1].status or "?", r.plain[1].status or "?"))
  end
end)
gluepx.stop()
glue:close()
aws.stop()
server.stop()
fs.remove_tree(dir)
if not ok then error(err, 0) end
