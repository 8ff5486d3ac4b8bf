--- `make demo`: the example lake on a local AWS endpoint, end to end.
--
-- Starts moto's server on a free loopback port (spec/support/moto.lua, with
-- signature checking on), bootstraps, deploys the example lake, puts a sample
-- object into the raw bucket, runs the example pipeline on this machine
-- (`lakehost app.lua run`) with its AWS calls sent to moto, then shows the
-- object in the trusted bucket and the table in the Glue catalog, and stops
-- moto. Run from the repository root: ./lakehost tools/demo.lua
local here = (arg and arg[0] or "tools/demo.lua"):match("^(.*)/tools/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path

local fs = require("host.fs")
local json = require("host.json")
local proc = require("host.proc")

local BIN = here .. "/lakehost"
local APP = "app.lua"
local PIPELINE = "pipeline_example"
local KEY = "example/type1/sample.json"
local SAMPLE = {
  { orderId = 1001, customerName = "Ada Lovelace", totalAmount = 12.5, paid = true },
  { orderId = 1002, customerName = "Alan Turing", totalAmount = 7.25, paid = false },
  { orderId = 1003, customerName = "Grace Hopper", totalAmount = 30, paid = true, giftNote = "thanks" },
}

local function say(fmt, ...) io.stdout:write(fmt:format(...), "\n") io.stdout:flush() end
local function die(fmt, ...)
  io.stderr:write("demo: ", fmt:format(...), "\n")
  os.exit(1)
end

-- The Python the steps run with: the first of LAKEHOST_PYTHON, python3 and
-- /usr/bin/python3 that can import boto3 (the steps talk to moto with it).
local function python_with_boto3()
  local tried = {}
  for _, p in ipairs({ os.getenv("LAKEHOST_PYTHON") or "", "python3", "/usr/bin/python3" }) do
    if p ~= "" and not tried[p] then
      tried[p] = true
      local res = proc.run { argv = { p, "-c", "import boto3" }, stdout = "null", stderr = "null", timeout = 60 }
      if res and res.ok then return p end
    end
  end
  return nil
end

if not proc.which("moto_server") then die("moto_server not found: pip install 'moto[server]'") end
local python = python_with_boto3()
if not python then
  die("the pipeline steps need a Python with boto3: apt-get install python3-boto3 (or pip install boto3), " ..
    "or set LAKEHOST_PYTHON")
end

local moto = require("spec.support.moto")
local run = require("lake.run")
local s3 = require("lake.aws.s3")
local rpc = require("lake.aws.jsonrpc")

local server, tmp
local function cleanup()
  if server then server.stop() end
  if tmp then fs.remove_tree(tmp) end
end

-- Runs lakehost with the demo's environment, its output shown as it comes.
local function lakehost(env, ...)
  local argv = { BIN, ... }
  local shown = { "./lakehost" }
  for i = 2, #argv do shown[#shown + 1] = argv[i]:find("[%s']") and ("'" .. argv[i] .. "'") or argv[i] end
  say("\n$ %s", table.concat(shown, " "))
  local res, err = proc.run { argv = argv, env_add = env, stdout = "inherit", stderr = "inherit" }
  if not res then error(err, 0) end
  return res.code
end

local function main()
  tmp = assert(fs.tmpdir("lakehost-demo-"))
  say("== starting moto on loopback (signatures checked)")
  server = moto.start()
  say("moto %s; steps run with %s", server.url, python)
  local env = { LAKEHOST_PYTHON = python, AWS_PROFILE = false, AWS_SESSION_TOKEN = false, AWS_ACCOUNT_ID = false,
    ENVIRONMENT_STAGE = false, AWS_CONFIG_FILE = "/dev/null", AWS_SHARED_CREDENTIALS_FILE = "/dev/null" }
  for k, v in pairs(server.env) do env[k] = v end
  local c = server.client()

  say("\n== bootstrap and deploy the example lake")
  if lakehost(env, APP, "bootstrap") ~= 0 then error("bootstrap failed", 0) end
  -- unattended: the lake's new IAM roles would otherwise wait for a yes on a terminal
  if lakehost(env, APP, "deploy", "--require-approval", "never") ~= 0 then error("deploy failed", 0) end

  -- moto's CloudFormation skips Glue resources: create the databases the
  -- shared stack declares, through the Glue API, from its template.
  local shared = assert(json.decode(assert(fs.read("lake.out/lake-shared-stack-dev.template.json"))))
  local resolver = run.resolver(shared, { region = server.region, account = run.DEFAULT_ACCOUNT })
  local made = {}
  for _, id in ipairs(require("lake.util").sorted_keys(shared.Resources)) do
    local r = shared.Resources[id]
    if r.Type == "AWS::Glue::Database" then
      local input = assert(resolver:value(r.Properties.DatabaseInput))
      if not rpc.call(c, "glue", "GetDatabase", { Name = input.Name }) then
        assert(rpc.call(c, "glue", "CreateDatabase", { DatabaseInput = input }))
        made[#made + 1] = input.Name
      end
    end
  end
  if #made > 0 then
    say("\n(moto's CloudFormation skips Glue resources: created the databases lake-shared-stack-dev declares " ..
      "through the Glue API: %s)", table.concat(made, ", "))
  end

  local raw = ("example-raw-%s-%s-dev"):format(server.region, run.DEFAULT_ACCOUNT)
  local trusted = ("example-trusted-%s-%s-dev"):format(server.region, run.DEFAULT_ACCOUNT)
  local body = json.encode(SAMPLE, { pretty = true }) .. "\n"
  say("\n== put s3://%s/%s", raw, KEY)
  io.stdout:write(body)
  local put = assert(s3.put_object(c, raw, KEY, { body = body, content_type = "application/json" }))

  -- The event EventBridge delivers for that object (the s3 trigger's rule).
  local event = {
    version = "0", id = "5f1b2c3d-0000-4000-8000-000000000001", ["detail-type"] = "Object Created",
    source = "aws.s3", account = run.DEFAULT_ACCOUNT, time = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    region = server.region, resources = { "arn:aws:s3:::" .. raw },
    detail = { version = "0", bucket = { name = raw },
      object = { key = KEY, size = #body, etag = (put.etag or ""):gsub('"', ""), sequencer = "0062E99A88DC407460" },
      ["request-id"] = "demo", requester = run.DEFAULT_ACCOUNT, reason = "PutObject" },
  }
  local event_file = tmp .. "/object-created.json"
  assert(fs.write(event_file, json.encode(event, { pretty = true }) .. "\n"))

  say("\n== run the pipeline on this machine, its AWS calls to moto")
  local code = lakehost(env, APP, "run", PIPELINE, "--event", event_file, "--endpoint", server.url)
  if code ~= 0 then error("the pipeline run failed (exit " .. code .. ")", 0) end

  say("\n== the trusted bucket")
  local objs = assert(s3.list_objects(c, trusted))
  for _, o in ipairs(objs) do say("s3://%s/%s  %d bytes", trusted, o.key, o.size) end
  local landed = s3.get_object(c, trusted, KEY)
  if not landed then error("the object did not land in the trusted bucket", 0) end
  io.stdout:write(landed)

  say("\n== the Glue catalog: tables of example_trusted_dev")
  local tables = assert(rpc.call(c, "glue", "GetTables", { DatabaseName = "example_trusted_dev" }))
  if #(tables.TableList or {}) == 0 then error("no table in the catalog", 0) end
  for _, t in ipairs(tables.TableList) do
    local sd = t.StorageDescriptor or {}
    local cols = {}
    for _, col in ipairs(sd.Columns or {}) do cols[#cols + 1] = col.Name .. " " .. col.Type end
    say("%s  %s  (%s)", t.Name, tostring(sd.Location), table.concat(cols, ", "))
  end
  say("\ndemo: done (moto stops now; nothing was sent to AWS)")
end

local ok, err = pcall(main)
cleanup()
if not ok then die("%s", tostring(err)) end
