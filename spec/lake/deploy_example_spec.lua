-- The example lake, deployed to moto on loopback with signature checking on,
-- checked through the AWS APIs.
local moto = require("spec.support.moto")

describe("deploying the example lake #integration", function()
  local project, dir, c, run

  setup(function()
    project = moto.project { files = { "app.lua", "pipelines", "shared", "standalone" }, prefix = "lakehost-example-" }
    dir, c, run = project.dir, project.client, project.run
  end)

  teardown(function()
    if project then project.stop() end
  end)

  it("deploys the four stacks", function()
    -- its roles are new IAM statements: approved up front (lake.changes)
    local _, err, code = run({ "deploy", "--require-approval", "never" })
    assert.equal(0, code, err)
    for _, s in ipairs({ "lake-storage-stack-dev", "lake-shared-stack-dev", "lake-extra-policies-stack-dev",
      "lake-pipeline-example-stack-dev" }) do
      assert.matches(s:gsub("%-", "%%-") .. "%s+created", err)
    end
  end)

  it("created the buckets of every layer", function()
    local s3 = require("lake.aws.s3")
    for _, layer in ipairs({ "raw", "trusted", "service" }) do
      local objs, err = s3.list_objects(c, ("example-%s-us-east-1-123456789012-dev"):format(layer))
      assert.is_table(objs, tostring(err))
    end
  end)

  it("created the error topic", function()
    local query = require("lake.aws.query")
    local r = assert(query.call(c, "sns", "2010-03-31", "ListTopics", {}))
    local found = false
    for _, t in ipairs(query.list(r.Topics)) do
      if t.TopicArn == "arn:aws:sns:us-east-1:123456789012:example-lake-errors-dev" then found = true end
    end
    assert.is_true(found)
  end)

  it("created the pipeline's roles", function()
    local query = require("lake.aws.query")
    for _, role in ipairs({ "trigger", "catch", "lambda", "glue", "sfn" }) do
      local name = ("pipeline-example-%s-us-east-1-dev"):format(role)
      local r, err = query.call(c, "iam", "2010-05-08", "GetRole", { RoleName = name })
      assert.is_table(r, tostring(err))
      assert.equal(name, r.Role.RoleName)
    end
  end)

  -- moto 5.2.1 refuses every signed Lambda API request (the AWS CLI's too:
  -- SignatureDoesNotMatch on ListFunctions), so the functions are checked
  -- through CloudFormation's resource list and the state machine definition.
  it("created the functions, and their code objects are in the assets bucket", function()
    local json = require("host.json")
    local cfn = require("lake.aws.cloudformation")
    local res = assert(cfn.stack_resources(c, "lake-pipeline-example-stack-dev"))
    local names = {}
    for _, r in ipairs(res) do
      if r.type == "AWS::Lambda::Function" then
        assert.equal("CREATE_COMPLETE", r.status)
        names[#names + 1] = r.physical_id
      end
    end
    table.sort(names)
    assert.same({ "pipeline-example-add-to-database-dev", "pipeline-example-catch-dev",
      "pipeline-example-route-file-dev", "pipeline-example-trigger-dev" }, names)
    local manifest = json.decode(assert(require("host.fs").read(dir .. "/lake.out/manifest.json")))
    local objs = assert(require("lake.aws.s3").list_objects(c, "lakehost-assets-123456789012-us-east-1"))
    local keys = {}
    for _, o in ipairs(objs) do keys[o.key] = true end
    -- 4 Lambda zips, 2 Glue scripts, and one dependency zip that both Glue steps have
    assert.equal(7, #manifest.assets)
    local ids = 0
    for _, a in ipairs(manifest.assets) do
      assert.is_true(keys[a.key], a.key)
      ids = ids + #a.ids
    end
    assert.equal(8, ids)
  end)

  it("created the state machine and the trigger rules", function()
    local rpc = require("lake.aws.jsonrpc")
    local sm = assert(rpc.call(c, "states", "ListStateMachines", {}))
    local names = {}
    for _, m in ipairs(sm.stateMachines) do names[#names + 1] = m.name end
    assert.same({ "pipeline-example-state-machine-dev" }, names)
    local d = assert(rpc.call(c, "states", "DescribeStateMachine", { stateMachineArn = sm.stateMachines[1].stateMachineArn }))
    assert.matches("arn:aws:lambda:us-east-1:123456789012:function:pipeline-example-route-file-dev", d.definition, 1, true)
    local rules = assert(rpc.call(c, "events", "ListRules", { NamePrefix = "pipeline-example" }))
    local by = {}
    for _, r in ipairs(rules.Rules) do by[r.Name] = r end
    local s3rule = assert(by["pipeline-example-s3-trigger-1-dev"])
    local pattern = require("host.json").decode(s3rule.EventPattern)
    assert.same({ "aws.s3" }, pattern.source)
    assert.same({ "example-raw-us-east-1-123456789012-dev" }, pattern.detail.bucket.name)
    assert.is_table(by["pipeline-example-event-trigger-2-dev"])
    -- events from the lake's account only: the account is not known at synth
    -- (no AWS_ACCOUNT_ID), so the template says Ref AWS::AccountId, which
    -- CloudFormation resolves inside the pattern
    for _, name in ipairs({ "pipeline-example-s3-trigger-1-dev", "pipeline-example-event-trigger-2-dev" }) do
      local r = assert(rpc.call(c, "events", "DescribeRule", { Name = name }))
      assert.same({ "123456789012" }, require("host.json").decode(r.EventPattern).account, name)
    end
  end)

  it("created the state machine's log group, kept as long as the functions' logs", function()
    local rpc = require("lake.aws.jsonrpc")
    local r = assert(rpc.call(c, "logs", "DescribeLogGroups", { logGroupNamePrefix = "/aws/vendedlogs/states/" }))
    assert.equal(1, #r.logGroups)
    assert.equal("/aws/vendedlogs/states/pipeline-example-state-machine-dev", r.logGroups[1].logGroupName)
    assert.equal(require("lake.functions").LOG_RETENTION_DAYS, r.logGroups[1].retentionInDays)
  end)

  it("changes nothing and uploads nothing on a second deploy", function()
    local _, err, code = run({ "deploy" })
    assert.equal(0, code, err)
    assert.matches("assets: 0 uploaded (0 bytes), 7 already there", err, 1, true) -- one look per file
    assert.equal(4, select(2, err:gsub("%s+unchanged%s", "")))
  end)

  it("changing one step's code changes only that asset and that pipeline stack", function()
    local f = assert(io.open(dir .. "/pipelines/pipeline_example/steps/route_file/src/index.py", "a"))
    f:write("\n# a change\n")
    f:close()
    local _, err, code = run({ "deploy" })
    assert.equal(0, code, err)
    assert.matches("assets: 1 uploaded", err, 1, true)
    assert.matches("pipeline_example/route_file", err, 1, true)
    assert.matches("lake%-pipeline%-example%-stack%-dev%s+updated", err)
    assert.equal(3, select(2, err:gsub("%s+unchanged%s", "")))
  end)
end)
