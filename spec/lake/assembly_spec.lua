local app_mod = require("lake.app")
local assembly = require("lake.assembly")
local token = require("lake.token")
local util = require("spec.support.util")
local fs = require("host.fs")

-- Renders an app whose stacks use no asset: result | nil, the problems.
local function render(app)
  local res, err = assembly.render(app, {})
  if not res then return nil, err.problems end
  return res
end

local function stack_with(n, kind, props)
  local app = app_mod.new()
  local s = app:stack("big-stack-dev")
  for i = 1, n do s:add(kind or "sns_topic", "T" .. i, props and props(i) or {}) end
  return app, s
end

describe("lake.assembly limits #unit", function()
  -- refusals
  it("refuses more than 500 resources, naming the stack and what to do", function()
    local app = stack_with(501)
    local res, errs = render(app)
    assert.is_nil(res)
    assert.equal("stack 'big-stack-dev' has 501 resources, CloudFormation allows 500: split it "
      .. "(move pipelines or standalone resources into stacks of their own)", errs[1])
  end)

  it("refuses a name too long for its resource with the longest region and account", function()
    local app = stack_with(1, "s3_bucket", function()
      return { BucketName = token.concat("a-very-long-domain-name-for-testing-raw-", token.region, "-", token.account_id, "-dev") }
    end)
    local res, errs = render(app)
    assert.is_nil(res)
    assert.same({ "stack 'big-stack-dev' resource T1: BucketName "
      .. "'a-very-long-domain-name-for-testing-raw-ap-southeast-5-123456789012-dev' is 71 characters with the longest "
      .. "region and account, AWS::S3::Bucket allows 63" }, errs)
  end)

  it("refuses a template over 1 MB", function()
    local statement = {}
    for i = 1, 2000 do
      statement[i] = { Effect = "Allow", Action = "s3:GetObject", Resource = ("arn:aws:s3:::bucket-%04d/*"):format(i) }
    end
    local app = stack_with(6, "iam_managed_policy", function()
      return { PolicyDocument = { Version = "2012-10-17", Statement = statement } }
    end)
    local res, errs = render(app)
    assert.is_nil(res)
    assert.equal(1, #errs)
    assert.matches("^stack 'big%-stack%-dev' has %d+ bytes of template, CloudFormation allows 1000000: split it", errs[1])
  end)

  -- warnings
  it("warns at 90% of a quota", function()
    local app = stack_with(455)
    local res = assert(render(app))
    assert.same({ "stack 'big-stack-dev' has 455 resources, 91% of CloudFormation's 500: split it "
      .. "(move pipelines or standalone resources into stacks of their own) soon" }, res.warnings)
  end)

  -- acceptance
  it("accepts 449 resources without a word", function()
    local res = assert(render(stack_with(449)))
    assert.same({}, res.warnings)
  end)
end)

describe("lake.assembly output #unit", function()
  local tmp
  before_each(function() tmp = assert(fs.tmpdir("lakehost-assembly-")) end)
  after_each(function() fs.remove_tree(tmp) end)

  local function tree(dir)
    local out = {}
    for _, f in ipairs(assert(fs.walk(dir))) do
      out[f] = require("host.crypto").sha256_hex(assert(fs.read(dir .. "/" .. f)))
    end
    return out
  end

  it("writes byte-identical output twice, from another directory too", function()
    local _, err, code = util.lakehost({ "app.lua", "synth", "--out", tmp .. "/a" })
    assert.equal(0, code, err)
    _, err, code = util.lakehost({ util.cwd() .. "/app.lua", "synth", "--out", tmp .. "/b" }, { cwd = "/" })
    assert.equal(0, code, err)
    local a, b = tree(tmp .. "/a"), tree(tmp .. "/b")
    assert.same(a, b)
    assert.is_truthy(a["manifest.json"])
    assert.is_truthy(a["lake-storage-stack-dev.template.json"])
    assert.is_truthy(a["lake-pipeline-example-stack-dev.pipeline-example-state-machine-dev.mmd"])
  end)

  it("records stacks in deploy order with their dependencies in the manifest", function()
    local _, err, code = util.lakehost({ "app.lua", "synth", "--out", tmp .. "/a" })
    assert.equal(0, code, err)
    local m = require("host.json").decode(assert(fs.read(tmp .. "/a/manifest.json")))
    local order, deps = {}, {}
    for _, s in ipairs(m.stacks) do
      order[#order + 1] = s.name
      deps[s.name] = s.dependencies
      assert.matches("^%x+$", s.hash)
    end
    assert.same({ "lake-storage-stack-dev", "lake-shared-stack-dev", "lake-extra-policies-stack-dev",
      "lake-pipeline-example-stack-dev" }, order)
    assert.same({ "lake-shared-stack-dev" }, deps["lake-pipeline-example-stack-dev"])
    for _, a in ipairs(m.assets) do assert.is_true(fs.isfile(tmp .. "/a/" .. a.file)) end
  end)

  it("needs no credentials, network or Docker", function()
    local _, err, code = util.lakehost({ "app.lua", "synth", "--out", tmp .. "/a" }, { env = {
      AWS_ACCESS_KEY_ID = "", AWS_SECRET_ACCESS_KEY = "", AWS_PROFILE = "", HOME = tmp,
      AWS_ENDPOINT_URL = "http://127.0.0.1:9", PATH = "/usr/bin:/bin" } })
    assert.equal(0, code, err)
  end)

  it("keeps the previous output's files that have not changed, as links to them", function()
    local function inode(path)
      local p = assert(io.popen("stat -c %i " .. util.shquote(path)))
      local v = p:read("a")
      p:close()
      return assert(tonumber(v), path)
    end
    local _, err, code = util.lakehost({ "app.lua", "synth", "--out", tmp .. "/a" })
    assert.equal(0, code, err)
    local before = tree(tmp .. "/a")
    local storage, pipeline = "lake-storage-stack-dev.template.json", "lake-pipeline-example-stack-dev.template.json"
    local was = { [storage] = inode(tmp .. "/a/" .. storage), [pipeline] = inode(tmp .. "/a/" .. pipeline) }
    -- the same app: the same files, under the same inodes
    _, err, code = util.lakehost({ "app.lua", "synth", "--out", tmp .. "/a" })
    assert.equal(0, code, err)
    assert.same(before, tree(tmp .. "/a"))
    assert.equal(was[storage], inode(tmp .. "/a/" .. storage))
    assert.equal(was[pipeline], inode(tmp .. "/a/" .. pipeline))
    -- a changed stack gets a new file; the others stay linked
    local tagged = util.tmpfile(([[
      local app = dofile(%q)
      app.by_name["lake-pipeline-example-stack-dev"]:tag("owner", "someone")
      return app
    ]]):format(util.cwd() .. "/app.lua"), ".lua")
    _, err, code = util.lakehost({ tagged, "synth", "--out", tmp .. "/a" })
    assert.equal(0, code, err)
    os.remove(tagged)
    assert.equal(was[storage], inode(tmp .. "/a/" .. storage))
    assert.not_equal(was[pipeline], inode(tmp .. "/a/" .. pipeline))
    assert.matches('"owner"', assert(fs.read(tmp .. "/a/" .. pipeline)), 1, true)
    assert.same({ "a" }, fs.list(tmp)) -- the previous output is gone
  end)

  it("leaves the previous output untouched when synth fails", function()
    local _, err, code = util.lakehost({ "app.lua", "synth", "--out", tmp .. "/a" })
    assert.equal(0, code, err)
    local before = tree(tmp .. "/a")
    local bad = util.tmpfile(([[
      local app = dofile(%q)
      app.stacks[1]:add("s3_bucket", "Broken", { BucketName = "Not_A_Valid_Name" })
      return app
    ]]):format(util.cwd() .. "/app.lua"), ".lua")
    _, err, code = util.lakehost({ bad, "synth", "--out", tmp .. "/a" })
    assert.equal(2, code)
    assert.matches("BucketName: lowercase letters", err, 1, true)
    assert.same(before, tree(tmp .. "/a"))
    assert.same({ "a" }, fs.list(tmp))
    os.remove(bad)
  end)
end)

describe("lake.assembly templates #unit", function()
  it("resolve tokens in resources, parameters and outputs, and keep [] apart from {}", function()
    local app = app_mod.new()
    app.tags = { team = "data" }
    local s = app:stack("s-dev", { description = "d" })
    local t = s:add("sns_topic", "T", { TopicName = token.concat("t-", token.region),
      Subscription = { { Endpoint = token.get_att(s:add("sns_topic", "Q", { Subscription = {} }), "TopicArn"),
        Protocol = "sqs" } } })
    s:add("sns_topic_policy", "P", { Topics = { t:ref() }, PolicyDocument = { Statement = { { Effect = "Allow" } } } })
    s:output("TopicArn", t:ref(), { export_name = token.concat(token.stack_name, "-topic") })
    s:parameter("Subnets", { type = "AWS::SSM::Parameter::Value<String>", default = token.concat("/lake/", token.region) })
    local text = assembly.encode(assembly.template(s))
    assert.matches('"Export": {\n        "Name": {\n          "Fn::Sub": "${AWS::StackName}-topic"', text, 1, true)
    assert.matches('"Default": {\n        "Fn::Sub": "/lake/${AWS::Region}"', text, 1, true)
    assert.matches('"Endpoint": {\n              "Fn::GetAtt": [\n                "Q",', text, 1, true)
    assert.matches('"Subscription": []', text, 1, true)
  end)

  it("stamps a hash of the text and the tags into the Description", function()
    local stamp = require("lake.stamp")
    local app = app_mod.new()
    local s = app:stack("s-dev", { description = "d" })
    s:add("sns_topic", "T", { TopicName = "t" })
    local tpl = assembly.template(s)
    local text = stamp.put(tpl, { k = "v" })
    local hash = assert(stamp.of(tpl.Description))
    assert.equal(16, #hash)
    assert.equal(hash, stamp.of_text(text))
    assert.matches('"Description": "d [lakehost:' .. hash .. ']"', text, 1, true)
    -- the hash of the text with the placeholder, a NUL and the tags
    local crypto, json = require("host.crypto"), require("host.json")
    local placeholder = text:gsub("%[lakehost:%x+%]", "[lakehost:" .. ("0"):rep(16) .. "]")
    assert.equal(crypto.sha256_hex(placeholder .. "\0" .. json.encode({ k = "v" })):sub(1, 16), hash)
    local other = assembly.template(s)
    stamp.put(other, { k = "w" }) -- other tags, another hash
    assert.not_equal(hash, stamp.of(other.Description))
  end)
end)

describe("lake.assembly assets #unit", function()
  local tmp
  before_each(function() tmp = assert(fs.tmpdir("lakehost-assembly-")) end)
  after_each(function() fs.remove_tree(tmp) end)

  it("fails with exit 1 when an operation fails, and writes nothing", function()
    local file = util.tmpfile([[
      local lake = require("lake")
      local app = lake.App { name = "w", stage = "dev" }
      local s = app:stack("s01-dev")
      local a = app:asset { id = "disk", build = function() return nil, "stack 4: the disk is full", "failed" end }
      s:add("sns_topic", "Topic", { TopicName = require("lake.token").concat("t-", a.key()) })
      return app
    ]], ".lua")
    local _, err, code = util.lakehost({ file, "synth", "--out", tmp .. "/o" })
    assert.equal(1, code)
    assert.equal("lakehost: asset 'disk': stack 4: the disk is full\n", err)
    assert.same({}, fs.list(tmp))
    os.remove(file)
  end)

  it("publishes one file for an asset that many stacks share", function()
    local script = util.tmpfile("print('shared')\n", ".py")
    local lines = { 'local lake = require("lake")', 'local assets = require("lake.assets")',
      'local app = lake.App { name = "w", stage = "dev" }' }
    for i = 1, 16 do
      lines[#lines + 1] = ('do local st = app:stack("s%02d-dev") local a = assets.file(app, "shared/script", %q, "py")'
        .. ' st:add("sns_topic", "Topic", { TopicName = token_concat("t-%d-", a.key()) }) end'):format(i, script, i)
    end
    lines[#lines + 1] = "return app"
    local file = util.tmpfile(("local token_concat = require('lake.token').concat\n" .. table.concat(lines, "\n")), ".lua")
    local _, err, code = util.lakehost({ file, "synth", "--out", tmp .. "/o" })
    assert.equal(0, code, err)
    local names = fs.list(tmp .. "/o/assets")
    assert.equal(1, #names) -- one file, and no temporary left beside it
    assert.matches("^%x+%.py$", names[1])
    os.remove(file)
    os.remove(script)
  end)

  it("lists each asset file once in the manifest, with the ids of every stack that has it", function()
    local a = util.tmpfile("print('a')\n", ".py")
    local b = util.tmpfile("print('b')\n", ".py")
    local lines = { 'local lake = require("lake")', 'local assets = require("lake.assets")',
      'local token_concat = require("lake.token").concat', 'local app = lake.App { name = "w", stage = "dev" }' }
    for i = 1, 40 do -- stacks 1, 3, 5, ... have b too
      lines[#lines + 1] = ('do local st = app:stack("s%02d-dev")'
        .. ' local x = assets.file(app, "s%02d/a", %q, "py")'
        .. ' if %d %% 2 == 1 then assets.file(app, "s%02d/b", %q, "py") end'
        .. ' st:add("sns_topic", "Topic", { TopicName = token_concat("t-%d-", x.key()) }) end')
        :format(i, i, a, i, i, b, i)
    end
    lines[#lines + 1] = "return app"
    local file = util.tmpfile(table.concat(lines, "\n") .. "\n", ".lua")
    local json = require("host.json")
    local manifests = {}
    for _, out in ipairs({ "o1", "o2" }) do
      local _, err, code = util.lakehost({ file, "synth", "--out", tmp .. "/" .. out })
      assert.equal(0, code, err)
      manifests[#manifests + 1] = assert(fs.read(tmp .. "/" .. out .. "/manifest.json"))
    end
    assert.equal(manifests[1], manifests[2])
    local m = json.decode(manifests[1])
    assert.equal(2, m.version)
    assert.equal(2, #m.assets)
    local ids_a, ids_b = {}, {}
    for i = 1, 40 do
      ids_a[#ids_a + 1] = ("s%02d/a"):format(i)
      if i % 2 == 1 then ids_b[#ids_b + 1] = ("s%02d/b"):format(i) end
    end
    local by_ids = {}
    for _, e in ipairs(m.assets) do
      assert.equal("assets/" .. e.key, e.file)
      assert.equal(e.sha256 .. ".py", e.key)
      assert.equal("file", e.kind)
      by_ids[#e.ids] = e.ids
    end
    assert.same(ids_a, by_ids[40]) -- sorted
    assert.same(ids_b, by_ids[20])
    assert.is_true(m.assets[1].key < m.assets[2].key)
    os.remove(file)
    os.remove(a)
    os.remove(b)
  end)
end)

describe("lake.pipeline loading #unit", function()
  local lake_tree = require("spec.lake.support.lake_tree")

  it("reports every pipeline's problems, in folder order, and skips entries that are no pipeline", function()
    local files = {}
    local function good(folder, name) lake_tree.pipeline(files, folder, lake_tree.config(name), { "a" }) end
    good("a_first", "alpha")
    good("b_dup", "alpha") -- the name is taken by the earlier folder
    lake_tree.pipeline(files, "c_unknown", lake_tree.config("charlie", nil, "colour: blue\n"), { "a" })
    files["pipelines/d_yaml/config.yml"] = "name: [unclosed\n"
    good("e_long", "e" .. ("x"):rep(70))
    good("f_jar", "foxtrot")
    files["pipelines/f_jar/steps/a/requirements.json"] = '{"packages": ["boto3==1.0", "Boto3>=2"]}\n'
    lake_tree.pipeline(files, "g_nomodule", lake_tree.config("golf"), {})
    good("h_fine", "hotel")
    -- entries that are no pipeline's folder, skipped by whichever process reads them
    files["pipelines/notes.txt"] = "a file\n"
    files["pipelines/i_docs/README.md"] = "no config.yml\n"
    files["pipelines/j_odd/config.yml/x"] = "config.yml is a folder\n"
    files["app.lua"] = [[
      local lake = require("lake")
      local root = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$")
      local app = lake.App { root = root }
      lake.DatalakeBuilder { scope = app, lake_name = "W", env = "dev", lake_domains = { "example" },
        pipelines_path = root .. "/pipelines" }:build()
      return app
    ]]
    local root = lake_tree.tree(files)
    local outs = {}
    for _ = 1, 2 do
      local _, err, code = util.lakehost({ root .. "/app.lua", "validate" })
      assert.equal(2, code, err)
      outs[#outs + 1] = err
    end
    assert.equal(outs[1], outs[2])
    for _, want in ipairs({ "pipelines/b_dup/config.yml:1: name: pipeline 'alpha' is already defined by "
      .. "pipelines/a_first/config.yml", "pipelines/c_unknown/config.yml", "pipelines/d_yaml/config.yml:",
      "pipelines/e_long/config.yml:1: name: makes the", "pipelines/f_jar/steps/a/requirements.json: packages:",
      "pipelines/g_nomodule/config.yml", "problems found; nothing was written" }) do
      assert.matches(want, outs[1], 1, true)
    end
    assert.is_nil(outs[1]:find("h_fine", 1, true))
    for _, skipped in ipairs({ "notes.txt", "i_docs", "j_odd" }) do assert.is_nil(outs[1]:find(skipped, 1, true)) end
    lake_tree.remove(root)
  end)
end)
