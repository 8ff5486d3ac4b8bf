-- Deploys to moto's server on loopback with signature checking on, and
-- checks the result through the AWS APIs, not through lakehost's own view.
local util = require("spec.support.util")
local moto = require("spec.support.moto")

local SMALL = "spec/fixtures/apps/small/app.lua"

local function run(server, args, extra)
  local env = {}
  for k, v in pairs(server.env) do env[k] = v end
  for k, v in pairs(extra or {}) do env[k] = v end
  return util.lakehost(args, { env = env })
end

local function tmpdir()
  return assert(require("host.fs").tmpdir("lakehost-deploy-spec-"))
end

describe("deploy against a local AWS endpoint #integration", function()
  local server, out

  setup(function()
    server = moto.start()
    out = tmpdir()
  end)

  teardown(function()
    if server then server.stop() end
    require("host.fs").remove_tree(out)
  end)

  it("refuses to deploy before bootstrap, naming the command to run", function()
    local _, err, code = run(server, { SMALL, "deploy", "--out", out .. "/a" })
    assert.equal(1, code)
    assert.matches("the toolkit stack lakehost%-toolkit is missing in us%-east%-1: run `lakehost APP.lua bootstrap` first", err)
  end)

  it("bootstraps the assets bucket", function()
    local _, err, code = run(server, { SMALL, "bootstrap" })
    assert.equal(0, code, err)
    local s3 = require("lake.aws.s3")
    local objs, lerr = s3.list_objects(server.client(), "lakehost-assets-123456789012-us-east-1")
    assert.is_table(objs, tostring(lerr))
    local cfn = require("lake.aws.cloudformation")
    local st = assert(cfn.describe_stack(server.client(), "lakehost-toolkit"))
    assert.equal("CREATE_COMPLETE", st.StackStatus)
  end)

  it("deploys every stack in dependency order and the resources exist", function()
    local _, err, code = run(server, { SMALL, "deploy", "--out", out .. "/a" })
    assert.equal(0, code, err)
    assert.matches("small%-storage%-stack%-dev%s+created", err)
    assert.matches("small%-shared%-stack%-dev%s+created", err)
    assert.is_true(err:find("small-storage-stack-dev", 1, true) < err:find("small-shared-stack-dev  ", 1, true))
    -- checked through the APIs
    local c = server.client()
    local s3 = require("lake.aws.s3")
    assert.is_table(s3.list_objects(c, "small-raw-123456789012-dev"))
    local query = require("lake.aws.query")
    local topics = assert(query.call(c, "sns", "2010-03-31", "ListTopics", {}))
    local arns = {}
    for _, t in ipairs(query.list(topics.Topics)) do arns[#arns + 1] = t.TopicArn end
    assert.same({ "arn:aws:sns:us-east-1:123456789012:small-errors-a-dev" }, arns)
  end)

  it("changes nothing on a second deploy", function()
    local _, err, code = run(server, { SMALL, "deploy", "--out", out .. "/a", "--stats" })
    assert.equal(0, code, err)
    assert.matches("small%-storage%-stack%-dev%s+unchanged", err)
    assert.matches("small%-shared%-stack%-dev%s+unchanged", err)
    assert.matches("assets: 0 uploaded", err, 1, true)
    assert.is_nil(err:find("CreateChangeSet", 1, true))
  end)

  it("updates only the stack whose template changed", function()
    local _, err, code = run(server, { SMALL, "deploy", "--out", out .. "/a" }, { LAKEHOST_SPEC_VARIANT = "b" })
    assert.equal(0, code, err)
    assert.matches("small%-storage%-stack%-dev%s+unchanged", err)
    assert.matches("small%-shared%-stack%-dev%s+updated", err)
  end)

  it("shows the difference against what is deployed", function()
    local stdout, err, code = run(server, { SMALL, "diff", "--out", out .. "/a" }, { LAKEHOST_SPEC_VARIANT = "c" })
    assert.equal(0, code, err)
    assert.matches("small-storage-stack-dev: no differences", stdout, 1, true)
    assert.matches('~ Errors (AWS::SNS::Topic)', stdout, 1, true)
    assert.matches('Properties.TopicName: "small-errors-b-dev" -> "small-errors-c-dev"', stdout, 1, true)
  end)

  it("lists stacks with their deployed status", function()
    local stdout, err, code = run(server, { SMALL, "list" })
    assert.equal(0, code, err)
    assert.matches("small%-storage%-stack%-dev%s+CREATE_COMPLETE", stdout)
    assert.matches("small%-shared%-stack%-dev%s+UPDATE_COMPLETE%s+after small%-storage%-stack%-dev", stdout)
  end)

  it("fails with the endpoint's reason and exit 1 when a template is rejected", function()
    local _, err, code = run(server, { "spec/fixtures/apps/broken/app.lua", "deploy", "--out", out .. "/b" })
    assert.equal(1, code)
    assert.matches("broken%-stack%-dev%s+failed", err)
    assert.matches("NoSuchBucket", err, 1, true)
  end)

  it("fails clearly with wrong credentials", function()
    local _, err, code = run(server, { SMALL, "deploy", "--out", out .. "/a" },
      { AWS_SECRET_ACCESS_KEY = "wrong-secret-key-0000000000000000000000" })
    assert.equal(1, code)
    assert.matches("SignatureDoesNotMatch", err, 1, true)
    assert.is_nil(err:find("wrong-secret-key", 1, true))
  end)

  it("destroys the stacks and keeps the retained bucket", function()
    local _, err, code = run(server, { SMALL, "destroy", "--out", out .. "/a", "--yes" })
    assert.equal(0, code, err)
    assert.matches("kept: Raw (AWS::S3::Bucket", err, 1, true)
    local cfn = require("lake.aws.cloudformation")
    assert.is_false(cfn.describe_stack(server.client(), "small-shared-stack-dev"))
    assert.is_false(cfn.describe_stack(server.client(), "small-storage-stack-dev"))
  end)

  it("refuses destroy without --yes when not interactive", function()
    local _, err, code = run(server, { SMALL, "destroy", "--out", out .. "/a" })
    assert.equal(2, code)
    assert.matches("pass --yes to confirm", err, 1, true)
  end)
end)
