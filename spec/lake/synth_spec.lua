local app_mod = require("lake.app")
local synth = require("lake.synth")
local token = require("lake.token")
local util = require("spec.support.util")
local fs = require("host.fs")

local function stack_with(n, kind, props)
  local app = app_mod.new()
  local s = app:stack("big-stack-dev")
  for i = 1, n do s:add(kind or "sns_topic", "T" .. i, props and props(i) or {}) end
  return app, s
end

describe("lake.synth limits #unit", function()
  -- refusals
  it("refuses more than 500 resources, naming the stack and what to do", function()
    local app = stack_with(501)
    local res, errs = synth.build(app, {})
    assert.is_nil(res)
    assert.equal("stack 'big-stack-dev' has 501 resources, CloudFormation allows 500: split it "
      .. "(move pipelines or standalone resources into stacks of their own)", errs[1])
  end)

  it("refuses a name too long for its resource with the longest region and account", function()
    local app = stack_with(1, "s3_bucket", function()
      return { BucketName = token.concat("a-very-long-domain-name-for-testing-raw-", token.region, "-", token.account_id, "-dev") }
    end)
    local res, errs = synth.build(app, {})
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
    local res, errs = synth.build(app, {})
    assert.is_nil(res)
    assert.equal(1, #errs)
    assert.matches("^stack 'big%-stack%-dev' has %d+ bytes of template, CloudFormation allows 1000000: split it", errs[1])
  end)

  -- warnings
  it("warns at 90% of a quota", function()
    local app = stack_with(455)
    local res = assert(synth.build(app, {}))
    assert.same({ "stack 'big-stack-dev' has 455 resources, 91% of CloudFormation's 500: split it "
      .. "(move pipelines or standalone resources into stacks of their own) soon" }, res.warnings)
  end)

  -- acceptance
  it("accepts 449 resources without a word", function()
    local res = assert(synth.build(stack_with(449), {}))
    assert.same({}, res.warnings)
  end)
end)

describe("lake.synth output #unit", function()
  local tmp
  before_each(function() tmp = assert(fs.tmpdir("lakehost-synth-")) end)
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

describe("lake.synth raw templates #unit", function()
  it("give the text the resolved template gives, tokens resolved as the encoder meets them", function()
    local app = app_mod.new()
    app.tags = { team = "data" }
    local s = app:stack("s-dev", { description = "d" })
    local t = s:add("sns_topic", "T", { TopicName = token.concat("t-", token.region),
      Subscription = { { Endpoint = token.get_att(s:add("sns_topic", "Q", {}), "TopicArn"), Protocol = "sqs" } } })
    s:add("sns_topic_policy", "P", { Topics = { t:ref() }, PolicyDocument = { Statement = { { Effect = "Allow" } } } })
    s:output("TopicArn", t:ref(), { export_name = token.concat(token.stack_name, "-topic") })
    s:parameter("Subnets", { type = "AWS::SSM::Parameter::Value<String>", default = token.concat("/lake/", token.region) })
    local tags = { team = "data", k = "v" }
    local slow = synth.stamp(synth.template(s, {}), tags)
    local raw, ropts = synth.raw_template(s, {})
    assert.equal(slow, synth.stamp(raw, tags, ropts))
    assert.matches('"Export": {\n        "Name": {\n          "Fn::Sub": "${AWS::StackName}-topic"', slow, 1, true)
    assert.matches('"Default": {\n        "Fn::Sub": "/lake/${AWS::Region}"', slow, 1, true)
  end)

  it("refuse an empty table, which only the resolved template can tell [] from {} in", function()
    local app = app_mod.new()
    local s = app:stack("s-dev")
    s:add("sns_topic", "T", { Subscription = {} })
    local raw, ropts = synth.raw_template(s, {})
    assert.has_error(function() synth.stamp(raw, {}, ropts) end,
      "json: empty table that is neither json.array nor json.object (at $.Resources.T.Properties.Subscription)")
    assert.matches('"Subscription": []', synth.stamp(synth.template(s, {}), {}), 1, true)
  end)

  it("are what synth writes, and the long way is taken where they refuse", function()
    local file = util.tmpfile([[
      local lake = require("lake")
      local app = lake.App { name = "w", stage = "dev" }
      app:stack("a-dev", { build = function(st) st:add("sns_topic", "T", { Subscription = {} }) end })
      app:stack("b-dev", { build = function(st) st:add("sns_topic", "T", { TopicName = "b" }) end })
      return app
    ]], ".lua")
    local tmp = assert(fs.tmpdir("lakehost-raw-"))
    local _, err, code = util.lakehost({ file, "synth", "--out", tmp .. "/o" })
    assert.equal(0, code, err)
    assert.matches('"Subscription": []', fs.read(tmp .. "/o/a-dev.template.json"), 1, true)
    assert.matches('"TopicName": "b"', fs.read(tmp .. "/o/b-dev.template.json"), 1, true)
    fs.remove_tree(tmp)
    os.remove(file)
  end)
end)

describe("lake.synth deferred stacks #unit", function()
  it("lets go of a released stack's asset builds and makes them again on the next synthesis", function()
    local app = app_mod.new()
    local builds = 0
    local s = app:stack("p-dev", { build = function(st)
      local a = app:asset { id = "p/code", build = function()
        builds = builds + 1
        return { sha256 = ("ab"):rep(32), size = 3, ext = "zip" }
      end }
      st:add("sns_topic", "T", { TopicName = token.concat("t-", a.key()) })
    end })
    local texts = {}
    local function emit(r) texts[#texts + 1] = r.text return true end
    local res = assert(synth.build(app, { emit = emit }))
    assert.equal(1, builds)
    assert.same({}, s.resources) -- released once written
    assert.is_nil(app.asset_by_id["p/code"].build) -- and its build function with it
    assert.same({ "p/code" }, res.manifest.assets[1].ids)
    res = assert(synth.build(app, { emit = emit }))
    assert.equal(2, builds)
    assert.equal(texts[1], texts[2])
    assert.matches('"Fn::Sub": "t-' .. ("ab"):rep(32) .. '.zip"', texts[2], 1, true)
    assert.same(res.manifest.assets[1].key, ("ab"):rep(32) .. ".zip")
  end)
end)

describe("lake.synth workers #unit", function()
  local tmp
  before_each(function() tmp = assert(fs.tmpdir("lakehost-workers-")) end)
  after_each(function() fs.remove_tree(tmp) end)

  -- An app of n deferred stacks; fail = { [i] = "error" | "failed" } makes
  -- stack i raise a plain error or an operation failure when it is built.
  local function app_file(n, fail)
    local lines = { 'local lake = require("lake")', 'local errors = require("lake.errors")',
      'local app = lake.App { name = "w", stage = "dev" }' }
    for i = 1, n do
      local how = fail and fail[i]
      local body = how == "error" and ('error("stack %d cannot be built", 0)'):format(i)
        or how == "failed" and ('errors.failed("stack %d: the disk is full")'):format(i)
        or ('st:add("sns_topic", "Topic", { TopicName = "topic-%d" }); st:attach(".txt", "file %d")'):format(i, i)
      lines[#lines + 1] = ('app:stack("s%02d-dev", { build = function(st) %s end })'):format(i, body)
    end
    lines[#lines + 1] = "return app"
    return util.tmpfile(table.concat(lines, "\n") .. "\n", ".lua")
  end

  local function tree(dir)
    local out = {}
    for _, f in ipairs(assert(fs.walk(dir))) do out[f] = assert(fs.read(dir .. "/" .. f)) end
    return out
  end

  it("writes the same output with one process and with several", function()
    local file = app_file(9)
    local outs = {}
    for _, jobs in ipairs({ "1", "2", "4" }) do
      local _, err, code = util.lakehost({ file, "synth", "--out", tmp .. "/j" .. jobs, "--jobs", jobs })
      assert.equal(0, code, err)
      outs[#outs + 1] = tree(tmp .. "/j" .. jobs)
    end
    assert.equal("file 9", outs[1]["s09-dev.txt"])
    assert.same(outs[1], outs[2])
    assert.same(outs[1], outs[3])
    assert.same({ "j1", "j2", "j4" }, fs.list(tmp)) -- no worker files left behind
    os.remove(file)
  end)

  it("reports every stack's error, in stack order, whichever process built it", function()
    local file = app_file(6, { [2] = "error", [5] = "error" })
    local _, err, code = util.lakehost({ file, "synth", "--out", tmp .. "/o", "--jobs", "3" })
    assert.equal(2, code)
    assert.equal("stack 2 cannot be built\nstack 5 cannot be built\n"
      .. "lakehost: 2 problems found; nothing was written\n", err)
    assert.same({}, fs.list(tmp))
    os.remove(file)
  end)

  it("fails with exit 1 when a worker's operation fails, and writes nothing", function()
    local file = app_file(6, { [4] = "failed" })
    local _, err, code = util.lakehost({ file, "synth", "--out", tmp .. "/o", "--jobs", "2" })
    assert.equal(1, code)
    assert.equal("lakehost: stack 4: the disk is full\n", err)
    assert.same({}, fs.list(tmp))
    os.remove(file)
  end)

  it("fails with exit 1 when a worker dies, and writes nothing", function()
    local file = app_file(4)
    local text = assert(fs.read(file)):gsub('app:stack%("s03%-dev", { build = function%(st%)',
      'app:stack("s03-dev", { build = function(st) os.execute("kill -KILL " .. require("host.proc").pid())')
    assert(fs.write(file, text))
    local _, err, code = util.lakehost({ file, "synth", "--out", tmp .. "/o", "--jobs", "2" })
    assert.equal(1, code)
    assert.matches("^lakehost: a worker stopped %(signal 9%) before it answered, on items %d to %d of 4\n$", err)
    assert.same({}, fs.list(tmp))
    os.remove(file)
  end)

  it("lets several workers publish one asset that many stacks share", function()
    local script = util.tmpfile("print('shared')\n", ".py")
    local lines = { 'local lake = require("lake")', 'local assets = require("lake.assets")',
      'local app = lake.App { name = "w", stage = "dev" }' }
    for i = 1, 16 do
      lines[#lines + 1] = ('app:stack("s%02d-dev", { build = function(st) local a = assets.file(app, "shared/script", %q, "py")'
        .. ' st:add("sns_topic", "Topic", { TopicName = token_concat("t-%d-", a.key()) }) end })'):format(i, script, i)
    end
    lines[#lines + 1] = "return app"
    local file = util.tmpfile(("local token_concat = require('lake.token').concat\n" .. table.concat(lines, "\n")), ".lua")
    for _, jobs in ipairs({ "1", "8" }) do
      local _, err, code = util.lakehost({ file, "synth", "--out", tmp .. "/j" .. jobs, "--jobs", jobs })
      assert.equal(0, code, err)
    end
    local function files(d)
      local t = {}
      for _, f in ipairs(assert(fs.walk(d))) do t[f] = assert(fs.read(d .. "/" .. f)) end
      return t
    end
    local one, eight = files(tmp .. "/j1"), files(tmp .. "/j8")
    assert.same(one, eight)
    local names = fs.list(tmp .. "/j8/assets")
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
      lines[#lines + 1] = ('app:stack("s%02d-dev", { build = function(st)'
        .. ' local x = assets.file(app, "s%02d/a", %q, "py")'
        .. ' if %d %% 2 == 1 then assets.file(app, "s%02d/b", %q, "py") end'
        .. ' st:add("sns_topic", "Topic", { TopicName = token_concat("t-%d-", x.key()) }) end })')
        :format(i, i, a, i, i, b, i)
    end
    lines[#lines + 1] = "return app"
    local file = util.tmpfile(table.concat(lines, "\n") .. "\n", ".lua")
    local json = require("host.json")
    local manifests = {}
    for _, jobs in ipairs({ "1", "3", "8" }) do
      local _, err, code = util.lakehost({ file, "synth", "--out", tmp .. "/j" .. jobs, "--jobs", jobs })
      assert.equal(0, code, err)
      manifests[#manifests + 1] = assert(fs.read(tmp .. "/j" .. jobs .. "/manifest.json"))
    end
    assert.equal(manifests[1], manifests[2])
    assert.equal(manifests[1], manifests[3])
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

  it("refuses --jobs that is not a whole number from 1 to 256", function()
    for _, bad in ipairs({ "0", "x", "1.5", "999" }) do
      local _, err, code = util.lakehost({ "app.lua", "synth", "--out", tmp .. "/o", "--jobs", bad })
      assert.equal(2, code)
      assert.equal(("lakehost: synth: --jobs expects a whole number from 1 to 256, got '%s'\n"):format(bad), err)
    end
  end)
end)

describe("lake.pipeline loading in workers #unit", function()
  local lake_tree = require("spec.lake.support.lake_tree")

  it("reports the same problems in the same order with one process and with several", function()
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
    for _, jobs in ipairs({ "1", "3", "8" }) do
      local _, err, code = util.lakehost({ root .. "/app.lua", "validate", "--jobs", jobs })
      assert.equal(2, code, err)
      outs[#outs + 1] = err
    end
    assert.equal(outs[1], outs[2])
    assert.equal(outs[1], outs[3])
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
