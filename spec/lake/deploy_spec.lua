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

local function tmpdir() return util.tmpdir("lakehost-deploy-spec-") end

--- Starts the fault-injecting proxy in front of server; returns it and its port.
local function start_proxy(server, rate, seed, stats_file, env)
  local proxy = assert(require("host.proc").spawn { argv = { "python3", "spec/support/faultproxy.py", server.url,
    tostring(rate), tostring(seed), stats_file }, env_add = env, stdout = "capture", stderr = "null" })
  return proxy, tonumber(assert(proxy:read_line("stdout", 10)):match("^PORT (%d+)"))
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
    -- and the bucket its server access logs go to (moto's CloudFormation
    -- leaves out LoggingConfiguration: rule_packs_spec checks the template)
    local c = server.client()
    local resp = assert(c:call { service = "s3", action = "ListBuckets", s3 = true, method = "GET", path = "/" })
    local logs
    for name in resp.body:gmatch("<Name>([^<]+)</Name>") do
      if name:lower():find("^lakehost%-toolkit%-accesslogsbucket") then logs = name end
    end
    assert.is_string(logs, resp.body)
    assert.is_table((s3.list_objects(c, logs)))
  end)

  it("uploads each asset file once, however many ids the manifest gives it", function()
    local fs, deploy = require("host.fs"), require("lake.deploy")
    local dir = tmpdir()
    assert(fs.mkdir_p(dir .. "/assets"))
    assert(fs.write(dir .. "/assets/abc.zip", "zip bytes"))
    local progress = {}
    local ctx = { client = server.client(), bucket = "lakehost-assets-123456789012-us-east-1",
      progress = function(msg) progress[#progress + 1] = msg end }
    local v2 = { assets = {
      { key = "abc.zip", file = "assets/abc.zip", kind = "glue-deps", size = 9, ids = { "p/a/deps", "p/b/deps" } },
      { key = "abc.zip", file = "assets/abc.zip", kind = "lambda", size = 9, ids = { "p/c" } },
    } }
    local stats = assert(deploy.upload_assets(ctx, v2, dir))
    assert.same({ uploaded = 1, present = 0, bytes = 9 }, stats)
    assert.same({ "uploading abc.zip (p/a/deps and 1 more, 9 bytes)" }, progress)
    -- a manifest of version 1 had an entry per id
    local v1 = { assets = {
      { key = "abc.zip", file = "assets/abc.zip", size = 9, id = "p/a/deps" },
      { key = "abc.zip", file = "assets/abc.zip", size = 9, id = "p/b/deps" },
    } }
    assert.same({ uploaded = 0, present = 1, bytes = 0 }, assert(deploy.upload_assets(ctx, v1, dir)))
    local head = assert(require("lake.aws.s3").head_object(ctx.client, ctx.bucket, "abc.zip"))
    assert.equal(9, head.size)
    fs.remove_tree(dir)
  end)

  it("deploys every stack in dependency order and the resources exist", function()
    local _, err, code = run(server, { SMALL, "deploy", "--out", out .. "/a" })
    assert.equal(0, code, err)
    assert.matches("small%-storage%-stack%-dev%s+created%s+[%d.]+ s%s+%d+ API calls", err)
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
    -- a new TopicName replaces the topic: approved up front (lake.changes)
    local _, err, code = run(server, { SMALL, "deploy", "--out", out .. "/a", "--require-approval", "never" },
      { LAKEHOST_SPEC_VARIANT = "b" })
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

  it("sends a template over 51,200 bytes through the assets bucket", function()
    -- moto 5.2.1 reads a path-style TemplateURL only when its host says
    -- "localhost" (else it takes the first label of the host for the bucket)
    local _, err, code = run(server, { "spec/fixtures/apps/big/app.lua", "deploy", "--out", out .. "/big" },
      { AWS_ENDPOINT_URL = server.url:gsub("127%.0%.0%.1", "localhost") })
    assert.equal(0, code, err)
    assert.matches("big%-stack%-dev%s+created", err)
    local size = require("host.fs").stat(out .. "/big/big-stack-dev.template.json").size
    assert.is_true(size > 51200, tostring(size))
    -- CloudFormation holds the template without synth's whitespace
    local body = assert(require("lake.aws.cloudformation").get_template(server.client(), "big-stack-dev"))
    assert.is_nil(body:find("\n", 1, true))
    assert.is_true(#body > 51200 and #body < size, tostring(#body))
    -- (moto 5.2.1 refuses signed ListObjectsV2 with a prefix holding '/', the
    -- AWS CLI's too: list everything and filter here)
    local objs = assert(require("lake.aws.s3").list_objects(server.client(), "lakehost-assets-123456789012-us-east-1"))
    local templates = {}
    for _, o in ipairs(objs) do
      if o.key:match("^templates/") then templates[#templates + 1] = o.key end
    end
    assert.equal(1, #templates)
    assert.matches("^templates/big%-stack%-dev%-%x+%.json$", templates[1])
    local query = require("lake.aws.query")
    for _, i in ipairs({ 1, 120, 240 }) do
      local arn = ("arn:aws:sns:us-east-1:123456789012:big-topic-%03d-dev"):format(i)
      local attrs, aerr = query.call(server.client(), "sns", "2010-03-31", "GetTopicAttributes", { TopicArn = arn })
      assert.is_table(attrs, tostring(aerr))
    end
  end)

  it("sends a template that fits without its whitespace in the request, not through the bucket", function()
    local _, err, code = run(server, { "spec/fixtures/apps/big/app.lua", "deploy", "--out", out .. "/mid" },
      { LAKEHOST_SPEC_TOPICS = "240" }) -- (moto's 127.0.0.1 endpoint: a TemplateURL would fail)
    assert.equal(0, code, err)
    assert.matches("big%-stack%-dev%s+updated", err)
    local size = require("host.fs").stat(out .. "/mid/big-stack-dev.template.json").size
    assert.is_true(size > 51200, tostring(size))
    local body = assert(require("lake.aws.cloudformation").get_template(server.client(), "big-stack-dev"))
    assert.is_true(#body <= 51200, tostring(#body))
    assert.same(require("host.json").decode(require("host.fs").read(out .. "/mid/big-stack-dev.template.json")),
      require("host.json").decode(body))
  end)

  it("deploys in express mode when asked", function()
    local _, err, code = run(server, { SMALL, "deploy", "--out", out .. "/a", "--express", "--force",
      "--require-approval", "never" },
      { LAKEHOST_SPEC_VARIANT = "e" })
    assert.equal(0, code, err)
    assert.matches("concurrency 4, express", err, 1, true)
    assert.matches("small%-shared%-stack%-dev%s+updated", err)
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

describe("deploy through a faulty network #integration", function()
  local server, proxy, proxy_port, out, stats_file

  setup(function()
    server = moto.start()
    out = tmpdir()
    stats_file = out .. "/proxy-stats.json"
    -- 25% of requests: 500, 503, Throttling or a dropped connection
    proxy, proxy_port = start_proxy(server, 0.25, 7, stats_file)
  end)

  teardown(function()
    if proxy then proxy:close() end
    if server then server.stop() end
    require("host.fs").remove_tree(out)
  end)

  local function via_proxy(args)
    return run(server, args, { AWS_ENDPOINT_URL = "http://127.0.0.1:" .. proxy_port, AWS_MAX_ATTEMPTS = "8" })
  end

  it("still converges: bootstrap, deploy and a no-op redeploy succeed", function()
    local _, err, code = via_proxy({ SMALL, "bootstrap" })
    assert.equal(0, code, err)
    _, err, code = via_proxy({ SMALL, "deploy", "--out", out .. "/a" })
    assert.equal(0, code, err)
    _, err, code = via_proxy({ SMALL, "deploy", "--out", out .. "/a" })
    assert.equal(0, code, err)
    assert.matches("small%-shared%-stack%-dev%s+unchanged", err)
    local cfn = require("lake.aws.cloudformation")
    assert.equal("CREATE_COMPLETE", assert(cfn.describe_stack(server.client(), "small-shared-stack-dev")).StackStatus)
    local stats = require("host.json").decode(assert(require("host.fs").read(stats_file)))
    -- the faults really happened
    assert.is_true(stats["500"] + stats["503"] + stats.throttle + stats.drop >= 5, require("host.json").encode(stats))
  end)
end)

describe("an interrupted deploy #integration", function()
  local server, proxy, proxy_port, out

  setup(function()
    server = moto.start()
    out = tmpdir()
    proxy, proxy_port = start_proxy(server, 0, 1, nil, { FAULTPROXY_DELAY = "0.15" })
  end)

  teardown(function()
    if proxy then proxy:close() end
    if server then server.stop() end
    require("host.fs").remove_tree(out)
  end)

  it("converges when run again after being killed half-way", function()
    local proc = require("host.proc")
    local env = {}
    for k, v in pairs(server.env) do env[k] = v end
    env.AWS_ENDPOINT_URL = "http://127.0.0.1:" .. proxy_port
    local _, err, code = run(server, { SMALL, "bootstrap" }, { AWS_ENDPOINT_URL = env.AWS_ENDPOINT_URL })
    assert.equal(0, code, err)
    -- every request takes 0.15 s: the kill lands in the middle of the first stack
    local child = assert(proc.spawn { argv = { util.bin, SMALL, "deploy", "--out", out .. "/a" }, env_add = env,
      stdout = "null", stderr = "null" })
    proc.sleep(1.2)
    child:kill("KILL")
    local res = child:wait(10)
    assert.equal("signal", res.how)
    -- the proxy forwards what it holds 0.15 s late, killed client or not:
    -- let that land before the rerun looks at the stacks and the lock
    proc.sleep(0.5)
    -- SIGKILL left the deploy lock behind (if it had taken it yet): break
    -- it, and again should a late lock write land after all
    for _ = 1, 3 do
      _, err, code = run(server, { SMALL, "unlock", "--yes" })
      assert.equal(0, code, err)
      _, err, code = run(server, { SMALL, "deploy", "--out", out .. "/a", "--no-wait" })
      if not err:find("(--no-wait)", 1, true) then break end
    end
    assert.equal(0, code, err)
    local cfn = require("lake.aws.cloudformation")
    for _, name in ipairs({ "small-storage-stack-dev", "small-shared-stack-dev" }) do
      local st = assert(cfn.describe_stack(server.client(), name))
      assert.matches("_COMPLETE$", st.StackStatus)
    end
    -- and a third run finds nothing to do
    _, err, code = run(server, { SMALL, "deploy", "--out", out .. "/a" })
    assert.equal(0, code, err)
    assert.equal(2, select(2, err:gsub("%s+unchanged%s", "")))
  end)
end)
