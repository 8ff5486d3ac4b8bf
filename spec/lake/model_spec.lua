local app_mod = require("lake.app")
local token = require("lake.token")
local types = require("lake.types")
local util = require("lake.util")

describe("lake.token #unit", function()
  it("keeps plain strings plain when concatenated", function()
    assert.equal("a-b-1", token.concat("a", "-", "b", "-", 1))
    assert.equal("", token.concat())
  end)

  it("makes ARN tokens (lake.names.arn) with the region and account the lake was given", function()
    local names = require("lake.names")
    local a = names.arn("glue", "database/raw", { stage = "dev" })
    assert.same({ ["Fn::Sub"] = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/raw" },
      token.resolve(a, {}))
    local fixed = { region = "eu-west-1", account = "123456789012" }
    assert.same({ ["Fn::Sub"] = "arn:${AWS::Partition}:sns:eu-west-1:123456789012:topic" },
      token.resolve(names.arn("sns", "topic", fixed), {}))
  end)

  it("refuses parts that are neither strings, whole numbers nor tokens", function()
    for _, case in ipairs({ { {}, "table" }, { 1.5, "number" }, { true, "boolean" },
      { setmetatable({}, { __index = string }), "table" } }) do
      local ok, err = pcall(token.concat, "a", case[1])
      assert.is_false(ok)
      assert.matches("token.concat: part 2 is a " .. case[2] .. ", expected a string or a token", err, 1, true)
    end
  end)

  it("turns pseudo parameters into one Fn::Sub, made as the token is", function()
    local v = token.concat("bucket-", token.region, "-", token.account_id, "-dev")
    assert.equal("sub", v.kind) -- the same in every stack
    assert.same({ ["Fn::Sub"] = "bucket-${AWS::Region}-${AWS::AccountId}-dev" }, token.resolve(v, {}))
    assert.same({ ["Fn::Sub"] = "bucket-${AWS::Region}-${AWS::AccountId}-dev/*" },
      token.resolve(token.concat(v, "/*"), {}))
  end)

  it("escapes ${ in literal parts of a Fn::Sub", function()
    local v = token.concat("x${y}-", token.region)
    assert.same({ ["Fn::Sub"] = "x${!y}-${AWS::Region}" }, token.resolve(v, {}))
  end)

  it("writes a Fn::Sub left with nothing to substitute as its text (cfn-lint W1020)", function()
    local fixed = token.concat("s3://", token.sub("assets-123456789012-us-east-1"), "/k.py")
    assert.equal("s3://assets-123456789012-us-east-1/k.py", token.resolve(fixed, {}))
    -- a lazy part that turns out to be a string, after a fixed bucket name
    local lazy = token.concat("s3://assets-123456789012-us-east-1/", token.lazy(function() return "k.zip" end))
    assert.equal("s3://assets-123456789012-us-east-1/k.zip", token.resolve(lazy, {}))
    assert.same({ ["Fn::Sub"] = "s3://b-${AWS::Region}/k.zip" },
      token.resolve(token.concat("s3://b-", token.region, "/", token.lazy(function() return "k.zip" end)), {}))
    -- an escaped ${ still needs Fn::Sub to come out as ${
    assert.same({ ["Fn::Sub"] = "a${!b}" }, token.resolve(token.sub("a${!b}"), {}))
  end)

  it("flattens nested concatenations", function()
    local inner = token.concat("a-", token.region)
    local v = token.concat(inner, "-b")
    assert.same({ ["Fn::Sub"] = "a-${AWS::Region}-b" }, token.resolve(v, {}))
  end)

  it("writes refs and attributes inline, and refuses them from another stack every time", function()
    local app = app_mod.new()
    local a, b = app:stack("a"), app:stack("b")
    local topic = a:add("sns_topic", "Topic", {})
    local ref, att = token.ref(topic), token.get_att(topic, "TopicName")
    local v = token.concat("t/", ref, "/", att, "/", token.region)
    local want = { ["Fn::Sub"] = "t/${Topic}/${Topic.TopicName}/${AWS::Region}" }
    assert.same(want, token.resolve(v, { stack = a }))
    assert.same(want, token.resolve(v, { stack = a })) -- the same the second time
    for _ = 1, 2 do
      local ok, err = pcall(token.resolve, token.concat("x", ref), { stack = b, where = "b/Thing" })
      assert.is_false(ok)
      assert.equal("b/Thing refers to Topic in stack 'a' from stack 'b': refer to it by name, not by reference", err)
    end
    local ok, err = pcall(token.resolve, token.concat("x", att), { stack = b, where = "b/Other" })
    assert.is_false(ok)
    assert.matches("^b/Other refers to Topic in stack 'a'", err)
  end)

  it("asks a lazy value at every use", function()
    local calls = 0
    local lazy = token.lazy(function() calls = calls + 1 return "k" end)
    local l = token.concat("x/", lazy)
    assert.equal("x/k", token.resolve(l, {}))
    assert.equal("x/k", token.resolve(l, {}))
    assert.equal(2, calls)
  end)

  it("joins the strings side by side in a concatenation", function()
    local app = app_mod.new()
    local topic = app:stack("a"):add("sns_topic", "Topic", {})
    local v = token.concat("a", "b", token.ref(topic), "c", "", "d")
    assert.same({ "ab", token.ref(topic), "cd" }, v.parts)
    -- "$" and "{" from two parts are escaped as the "${" they make
    assert.same({ ["Fn::Sub"] = "x${!y-${AWS::Region}" }, token.resolve(token.concat("x$", "{y-", token.region), {}))
  end)

  it("puts other tokens in Fn::Sub variables", function()
    local v = token.concat("x-", token.import_value("Shared"))
    assert.same({ ["Fn::Sub"] = { "x-${v1}", { v1 = { ["Fn::ImportValue"] = "Shared" } } } },
      token.resolve(v, {}))
  end)

  it("refuses '..' on a token", function()
    assert.has_error(function() return "x" .. token.region end,
      "a token cannot be joined with '..': use token.concat(a, b, ...)")
  end)

  it("computes the worst-case length of names", function()
    local v = token.concat("b-", token.region, "-", token.account_id)
    assert.equal("b-ap-southeast-5-123456789012", token.worst_case(v))
  end)

  it("refuses unknown pseudo parameters", function()
    assert.has_error(function() token.ref("AWS::Nope") end, "token.ref: unknown pseudo parameter 'AWS::Nope'")
  end)
end)

describe("lake.types #unit", function()
  local obj = types.object({
    { Name = types.string { required = true } },
    { Size = types.integer { min = 1, max = 10 } },
    { Mode = types.enum { "on", "off" } },
    { Items = types.list(types.string()) },
  })

  local function check(v)
    local errs = {}
    obj.check(v, "", errs)
    return errs
  end

  -- refusals
  it("collects every problem at once", function()
    assert.same({
      "Nmae: unknown property (did you mean 'Name'?)",
      "Name: is required",
      "Size: must be at most 10, got 11",
      "Mode: expected one of on, off, got 'of' (did you mean 'on'?)",
      "Items[2]: expected string, got integer",
    }, check({ Nmae = "x", Size = 11, Mode = "of", Items = { "a", 2 } }))
  end)

  it("names the wrong type", function()
    assert.same({ "Name: expected string, got boolean" }, check({ Name = true }))
  end)

  it("reports in the schema's order whichever key the first look trips on", function()
    assert.same({ "Name: is required" }, check({ Size = 2 }))
    assert.same({ "Size: must be at least 1, got 0", "Items[1]: expected string, got boolean" },
      check({ Items = { true }, Name = "n", Size = 0 }))
  end)

  -- acceptance
  it("accepts tokens where scalars are expected", function()
    assert.same({}, check({ Name = token.region, Size = 3 }))
  end)
end)

describe("lake.util #unit", function()
  it("suggests the closest name", function()
    assert.equal("next_step", util.did_you_mean("next", { "module", "next_step", "timeout_seconds" }))
    assert.is_nil(util.did_you_mean("zzzzzz", { "module", "next_step" }))
  end)

  it("tells whether a list holds a value", function()
    assert.is_true(util.contains({ "a", "b" }, "b"))
    assert.is_false(util.contains({ "a", "b" }, "c"))
    assert.is_false(util.contains({}, "a"))
    assert.is_false(util.contains({ 1, 2 }, "1")) -- no conversion
  end)

  it("kebab-cases and pascal-cases names, the same when asked again", function()
    for _ = 1, 2 do
      assert.equal("pipeline-example", util.kebab("pipeline_example"))
      assert.equal("example-lake", util.kebab("Example Lake"))
      assert.equal("route-file", util.kebab("RouteFile"))
      assert.equal("already-kebab-2", util.kebab("already-kebab-2"))
      assert.equal("p-d01-001", util.kebab("p_d01_001"))
      assert.equal("a-b", util.kebab("a__b"))
      assert.equal("x", util.kebab("_x_"))
      assert.equal("my-step-x", util.kebab("my_stepX"))
      assert.equal("PipelineExampleX", util.pascal("pipeline_example-x"))
      assert.equal("RouteFile", util.pascal("RouteFile"))
    end
    assert.equal("12", util.kebab(12))
  end)

  it("sorts dependencies first, ties by name", function()
    local order = util.toposort({ "c", "b", "a" }, { a = { "c" }, b = {} })
    assert.same({ "b", "c", "a" }, order)
  end)

  it("always takes the smallest ready name next, among thousands made ready at once", function()
    -- a hub every other node depends on, plus chains: checked against the
    -- definition (scan for the smallest ready name) on a few shapes
    local function reference(names, deps)
      local done, out = {}, {}
      while #out < #names do
        local best
        for _, n in ipairs(names) do
          if not done[n] then
            local ready = true
            for _, d in ipairs(deps[n] or {}) do if not done[d] then ready = false end end
            if ready and (not best or n < best) then best = n end
          end
        end
        done[best] = true
        out[#out + 1] = best
      end
      return out
    end
    local names, deps = { "hub" }, {}
    for i = 1, 400 do
      local n = ("p%03d"):format((i * 7919) % 400) -- names in no particular order
      names[#names + 1] = n
      deps[n] = { "hub" }
      -- every third also waits on a node made earlier (never a cycle)
      if i % 3 == 0 then deps[n][2] = names[2 + (i * 31) % (#names - 1)] ~= n and names[2 + (i * 31) % (#names - 1)] or nil end
    end
    local got = assert(util.toposort(names, deps))
    assert.equal(401, #got)
    assert.same(reference(names, deps), got)
    local small = { "e", "d", "c", "b", "a" }
    assert.same({ "a", "d", "b", "c", "e" },
      util.toposort(small, { b = { "d" }, c = { "d" }, e = { "c" } }))
  end)

  it("names a cycle", function()
    local order, err = util.toposort({ "a", "b" }, { a = { "b" }, b = { "a" } })
    assert.is_nil(order)
    assert.equal("a -> b -> a", err)
  end)
end)

-- The one problem an app recorded, after checking it names this spec's
-- line (where the mistake was made).
local function the_problem(app, line)
  assert.equal(1, #app.problems, table.concat(app.problems, "\n"))
  local file, at, rest = app.problems[1]:match("^(.-):(%d+): (.*)$")
  assert.matches("model_spec%.lua$", file)
  assert.equal(line, tonumber(at))
  return rest
end

local function here() return debug.getinfo(2, "l").currentline end

describe("lake.app #unit", function()
  it("checks every resource against its kind, those lakehost builds too", function()
    local app = app_mod.new()
    local s = app:stack("u-dev")
    s:add("sns_topic", "Other", { TopicNmae = "t" }); local line = here()
    assert.equal("u-dev Other.TopicNmae: unknown property (did you mean 'TopicName'?) (AWS::SNS::Topic)",
      the_problem(app, line))
    -- the stacks of pipelines are built the same way (lake.pipeline.stack adds through Stack:add)
    local lake_tree = require("spec.lake.support.lake_tree")
    local papp, dl = lake_tree.build(".")
    assert.same({}, papp.problems)
    assert.is_true(#dl.pipelines.pipeline_example.stack.resources > 0)
  end)

  it("builds a stack's resources as they are added, and synthesizes it the same every time", function()
    local assembly = require("lake.assembly")
    local app = app_mod.new()
    local s = app:stack("d-dev", { description = "d" })
    local t = s:add("sns_topic", "Topic", { TopicName = "t" })
    s:add("sns_topic_policy", "Policy", { Topics = { t:ref() }, PolicyDocument = { Statement = {} } })
    s:attach(".txt", "side file")
    assert.equal(2, #s.resources)
    assert.equal("Topic", s:get("Topic").logical_id)
    assert.is_nil(s:get("Missing"))
    local first = assembly.encode(assembly.template(s))
    assert.equal(first, assembly.encode(assembly.template(s)))
    assert.equal("side file", s.files[".txt"])
  end)

  it("records suppressions of rule-pack findings in the Metadata cdk-nag reads", function()
    local assembly = require("lake.assembly")
    local s = app_mod.new():stack("n-dev")
    local r = s:add("sns_topic", "Topic", { TopicName = "t" })
    r:suppress("AwsSolutions-SNS3", "Publishers are AWS services that always use TLS.")
      :suppress("AwsSolutions-IAM5", "Glue writes its logs to log groups it names itself.", { "Resource::*" })
    local tpl = assembly.template(s)
    assert.same({ cdk_nag = { rules_to_suppress = {
      { id = "AwsSolutions-SNS3", reason = "Publishers are AWS services that always use TLS." },
      { id = "AwsSolutions-IAM5", reason = "Glue writes its logs to log groups it names itself.",
        applies_to = { "Resource::*" } } } } }, tpl.Resources.Topic.Metadata)
    assert.has_error(function() r:suppress("AwsSolutions-S1", "no") end,
      "suppress AwsSolutions-S1: give a reason of at least a sentence")
  end)

  it("refuses a duplicate stack", function()
    local app = app_mod.new()
    app:stack("s-dev")
    assert.has_error(function() app:stack("s-dev") end, "stack 's-dev' is defined twice")
  end)

  it("refuses a duplicate logical id, keeping the first", function()
    local app = app_mod.new()
    local s = app:stack("s-dev")
    local first = s:add("s3_bucket", "B", {})
    s:add("s3_bucket", "B", {}); local line = here()
    assert.equal("s-dev B: the stack already has a resource 'B'", the_problem(app, line))
    assert.same({ first }, s.resources)
  end)

  it("refuses an unknown kind, and goes on", function()
    local app = app_mod.new()
    local s = app:stack("s-dev")
    local r = s:add("no_such_kind", "B", {}); local line = here()
    assert.equal("s-dev B: unknown resource kind 'no_such_kind'", the_problem(app, line))
    assert.same({}, s.resources)
    assert.is_true(token.is(r:attr("Arn"))) -- a reference to it is not a second problem
    assert.equal(1, #app.problems)
  end)

  it("refuses a misuse of the DSL itself at once", function()
    local s = app_mod.new():stack("s-dev")
    assert.has_error(function() s:add("s3_bucket", "B", "props") end,
      "stack:add: properties must be a table, got string")
  end)

  it("validates properties against the kind", function()
    local app = app_mod.new()
    local s = app:stack("s-dev")
    s:add("s3_bucket", "B", { BucketNme = "x" }); local line = here()
    assert.equal("s-dev B.BucketNme: unknown property (did you mean 'BucketName'?) (AWS::S3::Bucket)",
      the_problem(app, line))
  end)

  it("refuses an attribute the kind does not have", function()
    local app = app_mod.new()
    local s = app:stack("s-dev")
    local b = s:add("s3_bucket", "B", {})
    assert.is_true(token.is(b:attr("Arn")))
    assert.same({}, app.problems)
    assert.is_true(token.is(b:attr("Nope"))); local line = here()
    assert.matches("^s%-dev B: AWS::S3::Bucket has no attribute 'Nope' %(it has: Arn, ", the_problem(app, line))
  end)

  it("orders stacks by dependency", function()
    local app = app_mod.new()
    local a = app:stack("a-dev")
    local b = app:stack("b-dev")
    a:depends_on(b)
    local names = {}
    for _, s in ipairs(assert(app:ordered_stacks())) do names[#names + 1] = s.name end
    assert.same({ "b-dev", "a-dev" }, names)
  end)

  it("formats problems as file:line: key: message", function()
    local app = app_mod.new()
    app:problem("pipelines/x/config.yml", 7, "steps.A.type", "expected one of lambda, glue, choice")
    assert.same({ "pipelines/x/config.yml:7: steps.A.type: expected one of lambda, glue, choice" }, app.problems)
  end)
end)
