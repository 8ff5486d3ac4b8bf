local app_mod = require("lake.app")
local token = require("lake.token")
local types = require("lake.types")

local function check(props)
  local kind = assert(app_mod.kind("iam_role"))
  local errs = {}
  types.check_fields(kind.schema, props, "", errs)
  return errs
end

local trust = { Version = "2012-10-17", Statement = { {
  Effect = "Allow", Principal = { Service = "glue.amazonaws.com" }, Action = "sts:AssumeRole" } } }

describe("resources.iam_role #unit", function()
  -- refusals
  it("requires a trust policy", function()
    assert.same({ "AssumeRolePolicyDocument: is required" }, check({ RoleName = "r" }))
  end)

  it("refuses misspelt properties with a suggestion", function()
    assert.same({ "ManagedPolicyArn: unknown property (did you mean 'ManagedPolicyArns'?)" },
      check({ AssumeRolePolicyDocument = trust, ManagedPolicyArn = { "arn" } }))
  end)

  it("checks inline policies item by item", function()
    assert.same({
      "Policies[1].PolicyDocument: is required",
      "Policies[2].PolicyNme: unknown property (did you mean 'PolicyName'?)",
      "Policies[2].PolicyName: is required",
    }, check({ AssumeRolePolicyDocument = trust,
      Policies = { { PolicyName = "a" }, { PolicyNme = "b", PolicyDocument = {} } } }))
  end)

  it("refuses names IAM would refuse", function()
    assert.same({ "RoleName: is 65 characters long, at most 64 allowed" },
      check({ AssumeRolePolicyDocument = trust, RoleName = ("r"):rep(65) }))
    assert.same({ "RoleName: letters, digits and +=,.@_- only" },
      check({ AssumeRolePolicyDocument = trust, RoleName = "my role" }))
    assert.same({ "MaxSessionDuration: must be at least 3600, got 60" },
      check({ AssumeRolePolicyDocument = trust, MaxSessionDuration = 60 }))
  end)

  -- acceptance
  it("accepts a full role", function()
    assert.same({}, check({
      RoleName = token.concat("example-raw-crawler-", token.region, "-dev"),
      Description = "crawler role",
      AssumeRolePolicyDocument = trust,
      ManagedPolicyArns = { token.concat("arn:", token.partition, ":iam::aws:policy/service-role/AWSGlueServiceRole") },
      MaxSessionDuration = 3600, Path = "/lake/",
      Policies = { { PolicyName = "read", PolicyDocument = { Version = "2012-10-17", Statement = {} } } },
      Tags = { { Key = "k", Value = "v" } },
    }))
  end)

  it("declares Arn and RoleId", function()
    local kind = assert(app_mod.kind("iam_role"))
    assert.same({ "Arn", "RoleId" }, kind.attributes)
    assert.equal("RoleName", kind.name_property)
    assert.equal(64, kind.name_max)
  end)
end)
