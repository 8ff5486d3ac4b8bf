local app_mod = require("lake.app")
local token = require("lake.token")
local types = require("lake.types")

local function check(props)
  local kind = assert(app_mod.kind("s3_bucket"))
  local errs = {}
  types.check_fields(kind.schema, props, "", errs)
  return errs
end

describe("resources.s3_bucket #unit", function()
  -- refusals
  it("refuses an unknown property with a suggestion", function()
    assert.same({ "BucketNme: unknown property (did you mean 'BucketName'?)" }, check({ BucketNme = "x" }))
  end)

  it("refuses unknown nested properties", function()
    assert.same({
      "PublicAccessBlockConfiguration.BlockPublicAcl: unknown property (did you mean 'BlockPublicAcls'?)",
    }, check({ PublicAccessBlockConfiguration = { BlockPublicAcl = true } }))
  end)

  it("refuses wrong types and enum values", function()
    assert.same({
      "VersioningConfiguration.Status: expected one of Enabled, Suspended, got 'enabled' (did you mean 'Enabled'?)",
    }, check({ VersioningConfiguration = { Status = "enabled" } }))
    assert.same({ "ObjectLockEnabled: expected boolean, got string" }, check({ ObjectLockEnabled = "true" }))
  end)

  it("refuses a missing required nested property", function()
    assert.same({ "VersioningConfiguration.Status: is required" }, check({ VersioningConfiguration = {} }))
    assert.same({ "BucketEncryption.ServerSideEncryptionConfiguration[1].ServerSideEncryptionByDefault.SSEAlgorithm: "
      .. "is required" },
      check({ BucketEncryption = { ServerSideEncryptionConfiguration = { { ServerSideEncryptionByDefault = {} } } } }))
  end)

  it("refuses a bucket name S3 would refuse", function()
    assert.same({ "BucketName: lowercase letters, digits, '.' and '-', starting and ending with a letter or digit" },
      check({ BucketName = "My_Bucket" }))
    assert.same({ "BucketName: is 64 characters long, at most 63 allowed" }, check({ BucketName = ("a"):rep(64) }))
  end)

  it("names the stack and resource when Stack:add refuses", function()
    local app = app_mod.new()
    app:stack("s-dev"):add("s3_bucket", "B", { Tags = { Key = "a" } })
    assert.equal(1, #app.problems)
    assert.matches(": s%-dev B%.Tags: expected a list, got an object %(AWS::S3::Bucket%)$", app.problems[1])
  end)

  -- acceptance
  it("accepts the lake's secure defaults", function()
    assert.same({}, check({
      BucketName = token.concat("example-raw-", token.region, "-", token.account_id, "-dev"),
      PublicAccessBlockConfiguration = { BlockPublicAcls = true, BlockPublicPolicy = true,
        IgnorePublicAcls = true, RestrictPublicBuckets = true },
      BucketEncryption = { ServerSideEncryptionConfiguration = {
        { BucketKeyEnabled = true, ServerSideEncryptionByDefault = { SSEAlgorithm = "AES256" } } } },
      OwnershipControls = { Rules = { { ObjectOwnership = "BucketOwnerEnforced" } } },
      VersioningConfiguration = { Status = "Enabled" },
      NotificationConfiguration = { EventBridgeConfiguration = { EventBridgeEnabled = true } },
      LifecycleConfiguration = { Rules = { { Id = "old", Status = "Enabled",
        NoncurrentVersionExpiration = { NoncurrentDays = 30 } } } },
      Tags = { { Key = "a", Value = "b" } },
    }))
  end)

  it("declares its attributes and tag style", function()
    local kind = assert(app_mod.kind("s3_bucket"))
    assert.equal("AWS::S3::Bucket", kind.type)
    assert.equal("list", kind.tags)
    assert.equal("BucketName", kind.name_property)
    assert.equal(63, kind.name_max)
    local app = app_mod.new()
    local b = app:stack("s-dev"):add("s3_bucket", "B", {})
    assert.same({ ["Fn::GetAtt"] = { "B", "Arn" } }, token.resolve(b:arn(), {}))
    b:attr("Name")
    assert.equal(1, #app.problems)
    assert.matches(": s%-dev B: AWS::S3::Bucket has no attribute 'Name' %(it has: ", app.problems[1])
  end)
end)
