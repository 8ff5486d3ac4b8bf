-- Stacks of one's own: any CloudFormation resource type, checked against
-- AWS's resource schemas at synth, written against the documented datalake
-- API (spec/fixtures/apps/standalone), deployed to moto with signature
-- checking on and checked through the AWS APIs.
local app_mod = require("lake.app")
local fs = require("host.fs")
local json = require("host.json")
local moto = require("spec.support.moto")
local schema = require("lake.schema")
local util = require("spec.support.util")

local FIXTURE = "spec/fixtures/apps/own_stacks"
local BROKEN = "spec/fixtures/apps/standalone_broken"

local function copy_fixture(from)
  local dir = assert(fs.tmpdir("lakehost-standalone-"))
  assert(os.execute(("cp -R %s/. %s/"):format(util.shquote(from), util.shquote(dir))))
  assert(os.execute(("cp -R shared %s/shared"):format(util.shquote(dir))))
  return dir
end

describe("resource kinds from AWS's schemas #unit", function()
  it("covers CloudFormation's resource types, by name and by snake name", function()
    local src = schema.source()
    assert.equal("cfn-lint", src.source)
    assert.is_true(src.types >= 1500, src.types)
    local a = assert(app_mod.kind("AWS::SQS::Queue"))
    local b = assert(app_mod.kind("sqs_queue"))
    assert.equal("AWS::SQS::Queue", a.type)
    assert.equal(a.type, b.type)
    assert.same({ "Arn", "QueueUrl" }, a.attributes)
    assert.equal("list", a.tags)
    assert.equal("AWS::EC2::VPCEndpoint", assert(app_mod.kind("ec2_vpc_endpoint")).type)
    assert.equal("AWS::Athena::WorkGroup", assert(app_mod.kind("athena_work_group")).type)
  end)

  it("keeps a hand-written kind's own checks and attributes", function()
    local k = assert(app_mod.kind("AWS::Glue::Job"))
    assert.equal("glue_job", k.name)
    assert.is_table(k.schema)
    assert.same({}, k.attributes) -- Glue jobs have no GetAtt, whatever the schema's read-only list says
    assert.equal("map", k.tags)
  end)

  it("names the closest type of a misspelt one", function()
    local k, err = app_mod.kind("AWS::SQS::Queu")
    assert.is_nil(k)
    assert.equal("unknown resource type 'AWS::SQS::Queu' (did you mean 'AWS::SQS::Queue'?)", err)
    k, err = app_mod.kind("sqs_queu")
    assert.is_nil(k)
    assert.equal("unknown resource kind 'sqs_queu' (did you mean 'sqs_queue'?)", err)
  end)

  it("checks properties against the schema: nested, lists, bounds, read-only", function()
    local function paths(typ, props)
      local out = {}
      for _, e in ipairs(schema.check(typ, props)) do out[#out + 1] = e.path .. ": " .. e.msg end
      table.sort(out)
      return out
    end
    assert.same({}, paths("AWS::SQS::Queue", { DelaySeconds = 10, RedrivePolicy = { maxReceiveCount = 3 } }))
    assert.same({
      "DelaySeconds: must be at most 900, got 901",
      "RedrivePolicy.maxReceiveCount: expected an integer, got a string",
      "RedrivePolicy.maxRecieveCount: unknown property (did you mean 'maxReceiveCount'?)",
    }, paths("AWS::SQS::Queue", { DelaySeconds = 901,
      RedrivePolicy = { maxReceiveCount = "3", maxRecieveCount = 3 } }))
    assert.same({
      "Arn: is read-only: CloudFormation sets it (res:attr(\"Arn\") reads it)",
    }, paths("AWS::SQS::Queue", { Arn = "arn:aws:sqs:us-east-1:1:q" }))
    assert.same({
      "KeySchema: is required",
    }, paths("AWS::DynamoDB::Table", { BillingMode = "PAY_PER_REQUEST" }))
    assert.same({
      "KeySchema[1].KeyType: is required",
    }, paths("AWS::DynamoDB::Table", { KeySchema = { { AttributeName = "day" } } }))
    assert.same({
      "Architectures[1]: expected one of x86_64, arm64, got 'x86-64' (did you mean 'x86_64'?)",
      "Code: is required",
      "Role: is required",
    }, paths("AWS::Lambda::Function", { Architectures = { "x86-64" } }))
  end)

  it("takes a token wherever a value may stand", function()
    local token = require("lake.token")
    assert.same({}, schema.check("AWS::SQS::Queue", { DelaySeconds = token.ref("AWS::NoValue"),
      RedrivePolicy = token.raw({ ["Fn::If"] = { "c", {}, {} } }) }))
  end)

  it("marks an empty list as a list, so the template says []", function()
    local props = { KeySchema = { { AttributeName = "day", KeyType = "HASH" } }, AttributeDefinitions = {} }
    assert.same({}, schema.check("AWS::DynamoDB::Table", props))
    assert.equal("[]", json.encode(props.AttributeDefinitions))
  end)
end)

describe("mistakes in a standalone stack #unit", function()
  local EXPECTED = {
    "standalone/mistakes.lua:3: mistakes-stack-dev Queue.DelaySeconds: expected an integer, got a string (AWS::SQS::Queue)",
    "standalone/mistakes.lua:3: mistakes-stack-dev Queue.VisibilityTimout: unknown property (did you mean 'VisibilityTimeout'?) (AWS::SQS::Queue)",
    "standalone/mistakes.lua:7: mistakes-stack-dev Mapping.FunctionName: is required (AWS::Lambda::EventSourceMapping)",
    "standalone/mistakes.lua:8: mistakes-stack-dev Analysts.State: expected one of ENABLED, DISABLED, got 'ENABLE' (did you mean 'ENABLED'?) (AWS::Athena::WorkGroup)",
    "standalone/mistakes.lua:9: mistakes-stack-dev Queue: AWS::SQS::Queue has no attribute 'QueueURL' (did you mean 'QueueUrl'?) (it has: Arn, QueueUrl)",
  }

  local function lines(text)
    local out = {}
    for l in text:gmatch("[^\n]+") do out[#out + 1] = l end
    return out
  end

  for _, command in ipairs({ "validate", "synth" }) do
    it(command .. " reports every one of them with its line, exits 2 and writes nothing", function()
      local dir = copy_fixture(BROKEN)
      local out, err, code = util.lakehost({ dir .. "/app.lua", command, command == "synth" and "--out" or nil,
        command == "synth" and (dir .. "/lake.out") or nil }, { cwd = dir })
      fs.remove_tree(dir .. "/.lake-cache")
      local written = fs.exists(dir .. "/lake.out")
      fs.remove_tree(dir)
      assert.equal(2, code, err)
      assert.equal("", out)
      local got = lines(err)
      assert.same(EXPECTED, { table.unpack(got, 1, #EXPECTED) })
      assert.equal("lakehost: 5 problems found; nothing was written", got[#EXPECTED + 1])
      assert.is_false(written)
    end)
  end
end)

describe("a kind of the project's own #unit", function()
  it("adds its checks to the schema's, found in resources/ beside app.lua", function()
    local dir = copy_fixture(BROKEN)
    assert(fs.mkdir_p(dir .. "/resources"))
    assert(fs.write(dir .. "/resources/sqs_queue.lua", [[
-- The team's queues keep messages 4 days at most.
local t = require("lake.types")
return { type = "AWS::SQS::Queue", tags = "list",
  fields = { { MessageRetentionPeriod = t.integer { max = 345600 } } } }
]]))
    assert(fs.write(dir .. "/standalone/mistakes.lua", [[
local app, datalake = ...
local stack = app:stack("mistakes-stack-" .. datalake.stage)
stack:add("sqs_queue", "Queue", { MessageRetentionPeriod = 1209600, VisibilityTimeout = 30, DelaySeconds = 901 })
]]))
    local _, err, code = util.lakehost({ dir .. "/app.lua", "validate" }, { cwd = dir })
    fs.remove_tree(dir)
    assert.equal(2, code)
    assert.equal("standalone/mistakes.lua:3: mistakes-stack-dev Queue.DelaySeconds: must be at most 900, got 901 "
      .. "(AWS::SQS::Queue)\n"
      .. "standalone/mistakes.lua:3: mistakes-stack-dev Queue.MessageRetentionPeriod: must be at most 345600, "
      .. "got 1209600 (AWS::SQS::Queue)\n"
      .. "lakehost: 2 problems found; nothing was written\n", err)
  end)
end)

describe("datalake:lambda_function's mistakes #unit", function()
  it("are the script's, with its line: options, the folder, and what AWS's schema refuses", function()
    local dir = copy_fixture(BROKEN)
    assert(fs.mkdir_p(dir .. "/functions/ok/src"))
    assert(fs.write(dir .. "/functions/ok/src/index.py", "def handler(event, context):\n    return event\n"))
    assert(fs.write(dir .. "/functions/ok/requirements.json", '{"packages": ["_private"]}\n'))
    assert(fs.write(dir .. "/standalone/mistakes.lua", [[
local app, datalake = ...
local stack = app:stack("mistakes-stack-" .. datalake.stage)
datalake:lambda_function(stack, "NoCode", { folder = "functions/none", timout = 30 })
datalake:lambda_function(stack, "Short", { folder = "functions/ok", memory = 64, environment = { A = "1" } })
]]))
    local _, err, code = util.lakehost({ dir .. "/app.lua", "validate" }, { cwd = dir })
    fs.remove_tree(dir)
    assert.equal(2, code)
    local got = {}
    for l in err:gmatch("[^\n]+") do got[#got + 1] = l end
    assert.same({
      "standalone/mistakes.lua:3: mistakes-stack-dev NoCode.timout: unknown option (did you mean 'timeout'?)",
      "standalone/mistakes.lua:3: mistakes-stack-dev NoCode.folder: no folder functions/none",
      "standalone/mistakes.lua:4: mistakes-stack-dev Short.memory: expected a whole number from 128 to 10240, got 64",
      "functions/ok/requirements.json: packages: '_private' is not a pip requirement (name[extras] and a version "
        .. "specifier, e.g. requests==2.32.3) (functions/ok/requirements.json)",
      "standalone/mistakes.lua:4: mistakes-stack-dev ShortFunction.Environment.Variables.A: is not a key this map "
        .. "takes (keys match [a-zA-Z][a-zA-Z0-9_]+) (AWS::Lambda::Function)",
      "lakehost: 5 problems found; nothing was written",
    }, got)
  end)
end)

describe("a standalone stack of any resource types #integration", function()
  local dir

  setup(function() dir = copy_fixture(FIXTURE) end)
  teardown(function() if dir then fs.remove_tree(dir) end end)

  it("synthesizes templates cfn-lint finds clean", function()
    local _, err, code = util.lakehost({ dir .. "/app.lua", "synth", "--quiet", "--out", dir .. "/lake.out" },
      { cwd = dir, env = { LAKEHOST_CACHE_DIR = dir .. "/.cache" } })
    assert.equal(0, code, err)
    local ok, out = util.cfn_lint(dir .. "/lake.out/*.template.json")
    assert.is_true(ok, out)
    local analytics = json.decode(assert(fs.read(dir .. "/lake.out/orders-analytics-stack-dev.template.json")))
    assert.equal("AWS::DynamoDB::Table", analytics.Resources.DailyTotals.Type)
    assert.equal("AWS::Athena::WorkGroup", analytics.Resources.Analysts.Type)
    assert.same({ ["Fn::Sub"] = "s3://sales-service-${AWS::Region}-${AWS::AccountId}-dev/athena-results/" },
      analytics.Resources.Analysts.Properties.WorkGroupConfiguration.ResultConfiguration.OutputLocation)
    assert.equal("sales_trusted_dev", analytics.Resources.Orders.Properties.DatabaseName)
  end)

  describe("deployed to moto", function()
    local server, c

    local function run(args)
      local env = { LAKEHOST_CACHE_DIR = dir .. "/.cache" }
      for k, v in pairs(server.env) do env[k] = v end
      local argv = { dir .. "/app.lua" }
      for _, a in ipairs(args) do argv[#argv + 1] = a end
      return util.lakehost(argv, { env = env, cwd = dir })
    end

    setup(function()
      server = moto.start()
      c = server.client()
      local _, err, code = run({ "bootstrap" })
      assert(code == 0, err)
    end)
    teardown(function() if server then server.stop() end end)

    it("creates the queue worker's stack with the lake's storage before it", function()
      local _, err, code = run({ "deploy", "orders-worker-stack-dev", "--require-approval", "never" })
      assert.equal(0, code, err)
      assert.matches("lake%-storage%-stack%-dev%s+created", err)
      assert.matches("orders%-worker%-stack%-dev%s+created", err)
    end)

    it("made the queues, the dead-letter queue wired in", function()
      local query = require("lake.aws.query")
      local cfn = require("lake.aws.cloudformation")
      local by = {}
      for _, r in ipairs(assert(cfn.stack_resources(c, "orders-worker-stack-dev"))) do by[r.logical_id] = r end
      for _, id in ipairs({ "Orders", "DeadLetters", "Worker" .. "Function", "WorkerRole", "WorkerLogGroup",
        "OrdersToWorker" }) do
        assert.equal("CREATE_COMPLETE", by[id] and by[id].status, id)
      end
      local url = by.Orders.physical_id
      local attrs = assert(query.call(c, "sqs", "2012-11-05", "GetQueueAttributes", { QueueUrl = url,
        ["AttributeName.1"] = "All" }))
      local got = {}
      for _, a in ipairs(query.list(attrs.GetQueueAttributesResult and attrs.GetQueueAttributesResult.Attribute
        or attrs.Attribute)) do got[a.Name] = a.Value end
      assert.equal("120", got.VisibilityTimeout)
      local redrive = json.decode(got.RedrivePolicy)
      assert.equal(5, tonumber(redrive.maxReceiveCount))
      assert.matches("-DeadLetters-", redrive.deadLetterTargetArn, 1, true)
    end)

    it("uploaded the function's code, packaged from its folder", function()
      local manifest = json.decode(assert(fs.read(dir .. "/lake.out/manifest.json")))
      assert.equal(1, #manifest.assets)
      assert.same({ "functions/worker" }, manifest.assets[1].ids)
      local objs = assert(require("lake.aws.s3").list_objects(c, "lakehost-assets-123456789012-us-east-1"))
      local keys = {}
      for _, o in ipairs(objs) do keys[o.key] = true end
      assert.is_true(keys[manifest.assets[1].key])
      local zip = dir .. "/lake.out/assets/" .. manifest.assets[1].key
      local listed = util.run({ "unzip", "-Z1", zip })
      assert.equal("index.py", (listed:gsub("%s+$", "")))
    end)
  end)
end)
