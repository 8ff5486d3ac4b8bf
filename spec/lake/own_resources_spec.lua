-- The resources lakehost declares itself (the storage and shared stacks,
-- every kind of pipeline step, the VPC, a function of a standalone stack)
-- are right by AWS's resource schemas: synth checks them with their kind
-- modules only (lake.app), so this is where the schemas check them.
local lake = require("lake")
local lake_tree = require("spec.lake.support.lake_tree")
local schema = require("lake.schema")
local fs = require("host.fs")

-- "stack Resource.Path: message" for every problem of every resource of app.
local function schema_problems(app)
  local out = {}
  for _, s in ipairs(app.stacks) do
    for _, r in ipairs(s.resources) do
      for _, e in ipairs(schema.check(r.kind.type, r.props)) do
        out[#out + 1] = ("%s %s.%s: %s"):format(s.name, r.logical_id, e.path, e.msg)
      end
    end
  end
  return out
end

local function count(app)
  local n, types = 0, {}
  for _, s in ipairs(app.stacks) do
    for _, r in ipairs(s.resources) do
      n = n + 1
      types[r.kind.type] = true
    end
  end
  local t = 0
  for _ in pairs(types) do t = t + 1 end
  return n, t
end

local PIPELINE = [[
name: every_step
domain: example
layers: {origin: raw, target: trusted}
contract: {key: str}
triggers:
  - s3: {prefix: in/, suffix: .json}
  - event_rule: {source: [my.app], detail_type: [Ready]}
steps:
  Route:
    type: lambda
    properties: {module: route, next_step: Pick, timeout_seconds: 900, memory_size: 1024, environment: {MODE: x}}
  Pick:
    type: choice
    properties:
      choices:
        - {variable: kind, equals: etl, next_step: Etl}
        - {variable: kind, equals: shell, next_step: Shell}
  Etl:
    type: glue
    properties: {module: etl, glue_version: glueetl, worker_type: G.2X, worker_count: 4, timeout_minutes: 5}
  Shell:
    type: glue
    properties: {module: shell, glue_version: pythonshell, max_capacity: 1}
]]

describe("lakehost's own resources, by AWS's resource schemas #unit", function()
  for _, case in ipairs({
    { name = "without a VPC", vpc = false, region = nil, account = nil, stage = "dev" },
    { name = "with a VPC, region and account given", vpc = true, region = "eu-west-1", account = "111122223333",
      stage = "prd" },
  }) do
    it("the lake and a pipeline of every step type, " .. case.name, function()
      local files = lake_tree.pipeline({}, "every_step", PIPELINE, { "route", "etl", "shell" })
      local dir = lake_tree.tree(files)
      local app = lake.App { root = dir, region = case.region, account = case.account }
      lake.DatalakeBuilder { scope = app, lake_name = "Own Lake", env = case.stage, lake_domains = { "example", "sales" },
        region = case.region, account_id = case.account, enable_vpc = case.vpc, tags = { team = "data" },
        sns_subscriptions = { { protocol = "email", endpoint = "data@example.com" },
          { protocol = "lambda", endpoint = "arn:aws:lambda:us-east-1:123456789012:function:notify" } },
        pipelines_path = dir .. "/pipelines", standalone = {} }:build()
      fs.remove_tree(dir)
      assert.same({}, app.problems)
      local n, types = count(app)
      assert.is_true(n > 40 and types >= 14, ("%d resources of %d types"):format(n, types))
      assert.same({}, schema_problems(app))
    end)
  end

  it("a function of a standalone stack (datalake:lambda_function), in the VPC", function()
    local files = lake_tree.module({}, "functions/worker")
    files["standalone/worker.lua"] = [[
local app, datalake = ...
local stack = app:stack("worker-stack-" .. datalake.stage)
datalake:lambda_function(stack, "Worker", { folder = "functions/worker", timeout = 30, memory = 512,
  environment = { MODE = "1" }, statements = { { Effect = "Allow", Action = "s3:GetObject", Resource = "*" } } })
]]
    local dir = lake_tree.tree(files)
    local app = lake.App { root = dir }
    local dl = lake.DatalakeBuilder { scope = app, lake_name = "Own Lake", env = "dev", lake_domains = { "example" },
      enable_vpc = true, standalone = { dir .. "/standalone/worker.lua" } }:build()
    fs.remove_tree(dir)
    assert.same({}, app.problems)
    local stack = app:get_stack("worker-stack-dev")
    assert.equal(3, #stack.resources)
    assert.is_table(stack.parameters.VpcPrivateSubnetIds)
    assert.is_table(dl.vpc)
    assert.same({}, schema_problems(app))
  end)
end)
