local app_mod = require("lake.app")
local types = require("lake.types")

local function check(props)
  local kind = assert(app_mod.kind("glue_crawler"))
  local errs = {}
  types.check_fields(kind.schema, props, "", errs)
  return errs
end

describe("resources.glue_crawler #unit", function()
  -- refusals
  it("requires a role and targets", function()
    assert.same({ "Role: is required", "Targets: is required" }, check({ Name = "c" }))
  end)

  it("checks the policies' enums", function()
    assert.same({
      "SchemaChangePolicy.UpdateBehavior: expected one of LOG, UPDATE_IN_DATABASE, got 'LOGS' (did you mean 'LOG'?)",
      "RecrawlPolicy.RecrawlBehavior: expected one of CRAWL_EVERYTHING, CRAWL_NEW_FOLDERS_ONLY, " ..
        "CRAWL_EVENT_MODE, got 'NEW'",
    }, check({ Role = "r", Targets = {}, SchemaChangePolicy = { UpdateBehavior = "LOGS" },
      RecrawlPolicy = { RecrawlBehavior = "NEW" } }))
  end)

  it("wants S3 targets as a list of paths", function()
    assert.same({ "Targets.S3Targets[1].Path: is required" }, check({ Role = "r", Targets = { S3Targets = { {} } } }))
    assert.same({ "Targets.S3Targets: expected a list, got table" },
      check({ Role = "r", Targets = { S3Targets = { Path = "s3://b/" } } }))
  end)

  it("takes tags as a map", function()
    assert.same({ "Tags: expected a map, got list" },
      check({ Role = "r", Targets = {}, Tags = { { Key = "a", Value = "b" } } }))
  end)

  -- acceptance
  it("accepts the lake's crawler", function()
    assert.same({}, check({
      Name = "example-raw-crawler-dev", Role = "arn:aws:iam::123456789012:role/x",
      DatabaseName = "example_raw_dev",
      Targets = { S3Targets = { { Path = "s3://example-raw/" } } },
      Schedule = { ScheduleExpression = "cron(0 0 * * ? *)" },
      SchemaChangePolicy = { UpdateBehavior = "LOG", DeleteBehavior = "LOG" },
      RecrawlPolicy = { RecrawlBehavior = "CRAWL_NEW_FOLDERS_ONLY" },
      Tags = { team = "data" },
    }))
    assert.equal("map", assert(app_mod.kind("glue_crawler")).tags)
  end)
end)
