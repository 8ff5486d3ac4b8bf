-- deploy --hotswap: the example lake deployed to moto on loopback (signature
-- checking on), then changed one file at a time; what changed is checked
-- through the AWS APIs. Glue's UpdateJob, which moto lacks, is answered by
-- spec/support/gluejobs.py (signatures checked too); the scripts go to
-- moto's S3 for real.
local util = require("spec.support.util")
local moto = require("spec.support.moto")
local fs = require("host.fs")
local json = require("host.json")
local proc = require("host.proc")
local cfn = require("lake.aws.cloudformation")
local query = require("lake.aws.query")
local rpc = require("lake.aws.jsonrpc")
local s3 = require("lake.aws.s3")
local hotswap = require("lake.hotswap")

local PIPELINE = "lake-pipeline-example-stack-dev"
local BUCKET = "lakehost-assets-123456789012-us-east-1"

local function sh(cmd) assert(os.execute(cmd), cmd) end

describe("hotswap (lake.hotswap.plan) #unit", function()
  local function tpl(props, extra)
    local t = { Description = "x [lakehost:0123456789abcdef]", Resources = {
      Fn = { Type = "AWS::Lambda::Function", Properties = { Code = { S3Bucket = "b", S3Key = "a.zip" }, Timeout = 3,
        Role = "r" } },
      Q = { Type = "AWS::SQS::Queue", Properties = { MessageRetentionPeriod = 60 } },
      Job = { Type = "AWS::Glue::Job", Properties = { Command = { Name = "pythonshell", ScriptLocation = "s3://b/a.py" },
        DefaultArguments = { ["--a"] = "1" } } },
    } }
    for id, p in pairs(props or {}) do
      for k, v in pairs(p) do t.Resources[id].Properties[k] = v end
    end
    for k, v in pairs(extra or {}) do t[k] = v end
    return t
  end

  it("finds hotswappable changes and ignores the stamp, Metadata and Parameters", function()
    local new = tpl({ Fn = { Code = { S3Bucket = "b", S3Key = "b.zip" }, Timeout = 9 },
      Job = { Command = { Name = "pythonshell", ScriptLocation = "s3://b/b.py" } } },
      { Description = "x [lakehost:fedcba9876543210]", Metadata = { a = 1 }, Parameters = { P = { Type = "String" } } })
    new.Resources.Q.Metadata = { note = "changed" }
    local p = hotswap.plan(tpl(), new)
    assert.same({}, p.blockers)
    assert.equal(2, #p.changes)
    assert.same({ id = "Fn", type = "AWS::Lambda::Function", props = { Code = true, Timeout = true } }, p.changes[1])
    assert.same({ id = "Job", type = "AWS::Glue::Job", props = { Command = true } }, p.changes[2])
  end)

  it("names the property paths that need CloudFormation", function()
    local new = tpl({ Q = { MessageRetentionPeriod = 120 }, Fn = { Role = "other" },
      Job = { Command = { Name = "glueetl", ScriptLocation = "s3://b/a.py" } } })
    new.Resources.Extra = { Type = "AWS::SNS::Topic" }
    new.Description = "y [lakehost:fedcba9876543210]"
    local p = hotswap.plan(tpl(), new)
    assert.same({ "Description", "Extra (added)", "Fn.Properties.Role", "Job.Properties.Command.Name",
      "Q.Properties.MessageRetentionPeriod" }, p.blockers)
  end)

  it("resolves Fn::Sub, Ref and Fn::GetAtt with the stack's actual values", function()
    local resolve = hotswap.resolver { account = "111122223333", region = "eu-west-1",
      stack = { StackName = "s", Parameters = { { ParameterKey = "P", ParameterValue = "/ssm/name", ResolvedValue = "v" } } },
      template = { Resources = { Role = { Type = "AWS::IAM::Role" }, Odd = { Type = "AWS::Custom::Thing" } } },
      physical = function(id) return id == "Role" and "role-name" or nil end }
    assert.equal("arn:aws:lambda:eu-west-1:111122223333:function:f role-name v arn:aws:iam::111122223333:role/role-name",
      resolve { ["Fn::Sub"] = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:f ${Role} ${P} ${Role.Arn}" })
    local v, why = resolve { ["Fn::GetAtt"] = { "Odd", "Arn" } }
    assert.is_nil(v)
    assert.matches("cannot resolve Fn::GetAtt Odd.Arn", why, 1, true)
  end)

  it("keeps every field of a Glue job in its JobUpdate", function()
    local u = hotswap.job_update { Name = "j", CreatedOn = 1, Role = "r", Command = { Name = "pythonshell" },
      MaxCapacity = 0.0625, AllocatedCapacity = 0, Timeout = 30, GlueVersion = "3.0", Tags = nil,
      SecurityConfiguration = "sc", ExecutionProperty = { MaxConcurrentRuns = 25 } }
    assert.same({ Role = "r", Command = { Name = "pythonshell" }, MaxCapacity = 0.0625, Timeout = 30, GlueVersion = "3.0",
      SecurityConfiguration = "sc", ExecutionProperty = { MaxConcurrentRuns = 25 } }, u)
  end)

  it("refuses the prd stage unless forced", function()
    assert.matches("stage 'prd' refused", hotswap.refuse_stage("prd"))
    assert.is_nil(hotswap.refuse_stage("prd", true))
    assert.is_nil(hotswap.refuse_stage("dev"))
  end)
end)

describe("deploy --hotswap against a local AWS endpoint #integration", function()
  local server, dir, c, glue, glue_port

  local function run(args, extra)
    local env = server.env_with(extra)
    env.LAKEHOST_CACHE_DIR = dir .. "/.cache"
    local argv = { dir .. "/app.lua" }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return util.lakehost(argv, { env = env, cwd = dir })
  end

  local function append(rel, text)
    local f = assert(io.open(dir .. "/" .. rel, "a"))
    f:write(text)
    f:close()
  end

  -- moto 5.2.1 refuses signed Lambda GETs without a body (lake.aws.lambda's
  -- GetFunctionConfiguration included): the spec's own reads send "{}".
  local function function_conf(name)
    local r = assert(c:call { service = "lambda", action = "GetFunctionConfiguration", method = "GET",
      path = "/2015-03-31/functions/" .. name .. "/configuration", body = "{}" })
    return json.decode(r.body)
  end

  -- Lambda's CodeSha256 of an asset zip in the bucket (base64 of its sha256).
  local function code_sha(key)
    local crypto = require("host.crypto")
    return crypto.base64_encode(crypto.sha256(assert(s3.get_object(c, BUCKET, key))))
  end

  local function change_sets(stack)
    local r = assert(query.call(c, "cloudformation", "2010-05-15", "ListChangeSets", { StackName = stack }))
    return #query.list(r.Summaries)
  end

  local function events(stack) return #assert(cfn.stack_events(c, stack)) end

  local function glue_call(action, params)
    local gc = require("lake.aws.client").new { region = "us-east-1",
      credentials = { access_key = server.env.AWS_ACCESS_KEY_ID, secret_key = server.env.AWS_SECRET_ACCESS_KEY },
      getenv = function(k) return k == "AWS_ENDPOINT_URL" and ("http://127.0.0.1:" .. glue_port) or nil end }
    return rpc.call(gc, "glue", action, params)
  end

  -- The synthesized pipeline template, its ${AWS::...} resolved as on moto.
  local function synthesized()
    local t = json.decode(assert(fs.read(dir .. "/lake.out/" .. PIPELINE .. ".template.json")))
    local resolve = hotswap.resolver { account = "123456789012", region = "us-east-1", template = t,
      physical = function() return nil end }
    return t, resolve
  end

  setup(function()
    server = moto.start()
    c = server.client()
    dir = assert(fs.tmpdir("lakehost-hotswap-"))
    sh(("cp -R app.lua pipelines shared standalone %s/"):format(util.shquote(dir)))
    glue = assert(proc.spawn { argv = { "python3", "spec/support/gluejobs.py", server.env.AWS_ACCESS_KEY_ID,
      server.env.AWS_SECRET_ACCESS_KEY }, stdout = "capture", stderr = "null" })
    glue_port = tonumber(assert(glue:read_line("stdout", 10)):match("^PORT (%d+)"))
    local _, err, code = run({ "bootstrap" })
    assert(code == 0, err)
    _, err, code = run({ "deploy", "--require-approval", "never" })
    assert(code == 0, err)
    -- moto's CloudFormation makes no Glue jobs: the stand-in gets them as deployed
    local t, resolve = synthesized()
    for _, id in ipairs({ "StepProcessType1Job", "StepProcessType2Job" }) do
      local props = t.Resources[id].Properties
      props.Role = "arn:aws:iam::123456789012:role/pipeline-example-glue-us-east-1-dev"
      props.Tags = nil
      local p = assert(resolve(props))
      assert(glue_call("CreateJob", p))
    end
  end)

  teardown(function()
    if glue then glue:close() end
    if server then server.stop() end
    if dir then fs.remove_tree(dir) end
  end)

  it("changes a Lambda step's code without a change set, and says how many requests it took", function()
    local before = function_conf("pipeline-example-route-file-dev").CodeSha256
    local sets, evs = change_sets(PIPELINE), events(PIPELINE)
    append("pipelines/pipeline_example/steps/route_file/src/index.py", "\n# hotswapped\n")
    local out, err, code = run({ "deploy", "--hotswap" })
    assert.equal(0, code, err)
    assert.matches(PIPELINE .. ": hotswapped Lambda pipeline-example-route-file-dev (code)", out, 1, true)
    assert.matches("lake%-pipeline%-example%-stack%-dev%s+hotswapped", err)
    assert.equal(3, select(2, err:gsub("%s+unchanged%s", "")))
    assert.matches("CloudFormation's view of it is behind", err, 1, true)
    assert.matches("done in [%d.]+ s, %d+ API calls", err)
    local after = function_conf("pipeline-example-route-file-dev").CodeSha256
    assert.is_string(after)
    assert.are_not.equal(before, after)
    assert.equal(sets, change_sets(PIPELINE))
    assert.equal(evs, events(PIPELINE))
    -- the drift record
    local mark = json.decode((assert(s3.get_object(c, BUCKET, "hotswap/" .. PIPELINE .. ".json"))))
    assert.equal(PIPELINE, mark.stack)
    assert.equal(synthesized().Description:match("%[lakehost:(%x+)%]"), mark.hash)
    -- the code on moto is the synthesized asset
    assert.equal(code_sha(synthesized().Resources.StepRouteFileFunction.Properties.Code.S3Key), after)
  end)

  it("list marks the stack as drifted by hotswap", function()
    local out, err, code = run({ "list" })
    assert.equal(0, code, err)
    assert.matches(PIPELINE:gsub("%-", "%%-") .. "%s+%u[%u_]+%s+drifted by hotswap since %d%d%d%d%-%d%d%-%d%dT", out)
    assert.not_matches("lake%-storage%-stack%-dev[^\n]*drifted", out)
  end)

  it("changes a Choice rule through UpdateStateMachine: the definition on moto is the synthesized one", function()
    local cfg = dir .. "/pipelines/pipeline_example/config.yml"
    local text = assert(fs.read(cfg))
    local changed, n = text:gsub("equals: type1", "equals: type3", 1)
    assert.equal(1, n)
    assert(fs.write(cfg, changed))
    local sets = change_sets(PIPELINE)
    local _, err, code = run({ "deploy", "--hotswap", "--stats" })
    assert.equal(0, code, err)
    assert.matches("states:UpdateStateMachine%s+1", err)
    assert.not_matches("cloudformation:CreateChangeSet", err)
    assert.not_matches("lambda:UpdateFunctionCode", err) -- hotswapped already: only what changed since
    assert.equal(sets, change_sets(PIPELINE))
    local t, resolve = synthesized()
    local want = assert(resolve(t.Resources.StateMachine.Properties.DefinitionString))
    assert.matches('"type3"', want, 1, true)
    local d = assert(rpc.call(c, "states", "DescribeStateMachine", {
      stateMachineArn = "arn:aws:states:us-east-1:123456789012:stateMachine:pipeline-example-state-machine-dev" }))
    assert.equal(want, d.definition)
  end)

  it("changes a Glue script and keeps every other field of the job", function()
    local before = assert(glue_call("GetJob", { JobName = "pipeline-example-process-type1-dev" })).Job
    append("pipelines/pipeline_example/steps/process_type1/src/index.py", "\n# hotswapped glue\n")
    local out, err, code = run({ "deploy", "--hotswap", "--stats" },
      { AWS_ENDPOINT_URL_GLUE = "http://127.0.0.1:" .. glue_port })
    assert.equal(0, code, err)
    assert.matches("hotswapped Glue job pipeline-example-process-type1-dev (script)", out, 1, true)
    assert.matches("hotswapped role pipeline-example-glue-us-east-1-dev", out, 1, true)
    assert.matches("glue:UpdateJob%s+1", err)
    local after = assert(glue_call("GetJob", { JobName = "pipeline-example-process-type1-dev" })).Job
    local t, resolve = synthesized()
    local want = assert(resolve(t.Resources.StepProcessType1Job.Properties.Command.ScriptLocation))
    assert.are_not.equal(before.Command.ScriptLocation, want)
    assert.equal(want, after.Command.ScriptLocation)
    for _, k in ipairs({ "Role", "MaxCapacity", "Timeout", "GlueVersion", "SecurityConfiguration", "DefaultArguments",
      "ExecutionProperty", "MaxRetries", "Description" }) do
      assert.same(before[k], after[k], k)
    end
    assert.same(before.Command.Name, after.Command.Name)
    -- the script itself is in moto's S3 under that key
    local key = want:match("^s3://[^/]+/(.+)$")
    local body = assert(s3.get_object(c, BUCKET, key))
    assert.matches("# hotswapped glue", body, 1, true)
  end)

  it("refuses with --hotswap-only, and goes through CloudFormation with --hotswap, naming the property", function()
    local app = assert(fs.read(dir .. "/app.lua"))
    assert(fs.write(dir .. "/app.lua", (app:gsub("enable_vpc = false,", "enable_vpc = false,\n  noncurrent_version_days = 45,", 1))))
    local _, err, code = run({ "deploy", "--hotswap-only" })
    assert.equal(1, code, err)
    assert.matches("lake%-storage%-stack%-dev%s+refused: not hotswappable: [^\n]*ExampleRawBucket%.Properties%.LifecycleConfiguration", err)
    local sets = change_sets("lake-storage-stack-dev")
    local out
    out, err, code = run({ "deploy", "--hotswap", "--require-approval", "never" })
    assert.equal(0, code, err)
    assert.matches("lake%-storage%-stack%-dev: CloudFormation %(not hotswappable: [^\n]*"
      .. "ExampleRawBucket%.Properties%.LifecycleConfiguration", out)
    assert.matches("lake%-storage%-stack%-dev%s+updated", err)
    assert.is_true(change_sets("lake-storage-stack-dev") >= sets)
  end)

  it("refuses a prd stage unless --force", function()
    local _, err, code = run({ "deploy", "--hotswap" }, { ENVIRONMENT_STAGE = "prd" })
    assert.equal(2, code, err)
    assert.matches("stage 'prd' refused (pass --force", err, 1, true)
  end)

  it("a plain deploy brings CloudFormation back in line and clears the mark, even with the code reverted", function()
    -- route_file back as deployed by CloudFormation: its stamp matches, yet the function runs the hotswapped code
    local path = "pipelines/pipeline_example/steps/route_file/src/index.py"
    local src = assert(fs.read(dir .. "/" .. path))
    assert(fs.write(dir .. "/" .. path, (src:gsub("\n# hotswapped\n$", ""))))
    local _, err, code = run({ "deploy", "--require-approval", "never" }, { AWS_ENDPOINT_URL_GLUE = "http://127.0.0.1:" .. glue_port })
    assert.equal(0, code, err)
    assert.not_matches("lake%-pipeline%-example%-stack%-dev%s+unchanged", err)
    assert.is_false((s3.get_object(c, BUCKET, "hotswap/" .. PIPELINE .. ".json")))
    local out = run({ "list" })
    assert.not_matches("drifted by hotswap", out)
    -- the function's code is the synthesized asset again
    assert.equal(code_sha(synthesized().Resources.StepRouteFileFunction.Properties.Code.S3Key),
      function_conf("pipeline-example-route-file-dev").CodeSha256)
    -- and a second plain deploy finds everything unchanged
    _, err, code = run({ "deploy" })
    assert.equal(0, code, err)
    assert.equal(4, select(2, err:gsub("%s+unchanged%s", "")))
  end)
end)
