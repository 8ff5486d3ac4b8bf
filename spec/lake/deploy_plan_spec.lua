-- The deploy engine's pure parts: stack selection and the scheduler.
local deploy = require("lake.deploy")

local MANIFEST = { stacks = {
  { name = "lake-storage-stack-dev", dependencies = {} },
  { name = "lake-shared-stack-dev", dependencies = { "lake-storage-stack-dev" } },
  { name = "lake-a-stack-dev", dependencies = { "lake-shared-stack-dev" } },
  { name = "lake-b-stack-dev", dependencies = { "lake-shared-stack-dev" } },
  { name = "extra-dev", dependencies = {} },
} }

local function names(list)
  local out = {}
  for _, s in ipairs(list) do out[#out + 1] = s.name end
  return out
end

describe("lake.deploy selection #unit", function()
  it("takes every stack when none is named", function()
    assert.same(names(MANIFEST.stacks), names(deploy.select(MANIFEST, {})))
  end)

  it("brings a stack's dependencies along, in deploy order", function()
    assert.same({ "lake-storage-stack-dev", "lake-shared-stack-dev", "lake-a-stack-dev" },
      names(deploy.select(MANIFEST, { "lake-a-stack-dev" })))
  end)

  it("takes only the named stacks with exclusively", function()
    assert.same({ "lake-a-stack-dev" }, names(deploy.select(MANIFEST, { "lake-a-stack-dev" }, true)))
  end)

  it("matches globs", function()
    assert.same({ "lake-a-stack-dev", "lake-b-stack-dev" },
      names(deploy.select(MANIFEST, { "lake-?-stack-*" }, true)))
  end)

  it("names an unknown stack with a suggestion", function()
    local s, err = deploy.select(MANIFEST, { "lake-shard-stack-dev" })
    assert.is_nil(s)
    assert.equal("no stack matches 'lake-shard-stack-dev' (did you mean 'lake-shared-stack-dev'?)", err)
  end)

  it("substitutes the account and region into the assets bucket name", function()
    assert.equal("lakehost-assets-111122223333-eu-west-1", deploy.substitute(
      { ["Fn::Sub"] = "lakehost-assets-${AWS::AccountId}-${AWS::Region}" },
      { account = "111122223333", region = "eu-west-1" }))
  end)
end)

describe("lake.deploy scheduler #unit", function()
  -- A clock that only moves when the scheduler sleeps.
  local function clock()
    local t = 0
    return function() return t end, function(s) t = t + s end
  end

  it("runs dependencies first and independent stacks side by side, within the concurrency", function()
    local now, sleep = clock()
    local log, running, peak = {}, 0, 0
    local op = function(e)
      running = running + 1
      peak = math.max(peak, running)
      log[#log + 1] = "start " .. e.name
      coroutine.yield(1) -- waits like a stack being created
      log[#log + 1] = "end " .. e.name
      running = running - 1
      return { ok = true, status = "created" }
    end
    local results, failed = deploy.schedule(MANIFEST.stacks, op, { concurrency = 2, now = now, sleep = sleep })
    assert.equal(0, failed)
    assert.equal(2, peak)
    local pos = {}
    for i, l in ipairs(log) do pos[l] = i end
    assert.is_true(pos["end lake-storage-stack-dev"] < pos["start lake-shared-stack-dev"])
    assert.is_true(pos["end lake-shared-stack-dev"] < pos["start lake-a-stack-dev"])
    assert.is_true(pos["end lake-shared-stack-dev"] < pos["start lake-b-stack-dev"])
    for _, s in ipairs(MANIFEST.stacks) do assert.equal("created", results[s.name].status) end
  end)

  it("skips the stacks that depend on a failed one", function()
    local now, sleep = clock()
    local op = function(e)
      if e.name == "lake-shared-stack-dev" then return { ok = false, status = "failed", message = "boom" } end
      return { ok = true, status = "created" }
    end
    local results, failed = deploy.schedule(MANIFEST.stacks, op, { concurrency = 4, now = now, sleep = sleep })
    assert.equal(3, failed)
    assert.equal("created", results["extra-dev"].status)
    assert.equal("skipped", results["lake-a-stack-dev"].status)
    assert.equal("a stack it depends on failed", results["lake-b-stack-dev"].message)
  end)

  it("deletes dependents first when reversed", function()
    local now, sleep = clock()
    local order = {}
    deploy.schedule(MANIFEST.stacks, function(e)
      order[#order + 1] = e.name
      return { ok = true, status = "deleted" }
    end, { concurrency = 1, reverse = true, now = now, sleep = sleep })
    local pos = {}
    for i, n in ipairs(order) do pos[n] = i end
    assert.is_true(pos["lake-a-stack-dev"] < pos["lake-shared-stack-dev"])
    assert.is_true(pos["lake-shared-stack-dev"] < pos["lake-storage-stack-dev"])
  end)

  it("turns an error inside an operation into a failed result", function()
    local now, sleep = clock()
    local results, failed = deploy.schedule({ { name = "x", dependencies = {} } }, function() error("bug") end,
      { now = now, sleep = sleep })
    assert.equal(1, failed)
    assert.matches("bug", results.x.message)
  end)
end)
