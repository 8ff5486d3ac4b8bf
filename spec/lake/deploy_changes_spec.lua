-- Seeing before changing, against moto on loopback with signatures
-- checked: change set summaries, --require-approval without a terminal (the
-- specs run without one), --dry-run, stack outputs. Checked through the
-- CloudFormation API, not through lakehost's own view.
local util = require("spec.support.util")
local moto = require("spec.support.moto")
local cfn = require("lake.aws.cloudformation")
local query = require("lake.aws.query")
local fs = require("host.fs")
local json = require("host.json")

local SMALL = "spec/fixtures/apps/small/app.lua"

-- The index of v in list, or nil.
local function index_of(list, v)
  for i, x in ipairs(list) do if x == v then return i end end
  return nil
end
local V = "2010-05-15"

-- What a policy of the worker role allows.
local READ = { actions = '{ "s3:GetObject" }', resource = '"arn:aws:s3:::small-data-dev/*"' }
local WIDE = { actions = '"s3:*"', resource = '"*"' }

-- The small app, with an output on its bucket and a role in its second stack.
local function app_text(opts)
  local src = assert(fs.read(SMALL))
  local n
  src, n = src:gsub('\nstorage:add%(', "\nlocal raw = storage:add(")
  assert(n == 1, "the small app's bucket moved")
  src, n = src:gsub('"small%-raw%-"', ('"%s-"'):format(opts.bucket or "small-raw"))
  assert(n == 1, "the small app's bucket name moved")
  local role = ([[
storage:output("RawBucketName", raw:ref(), { export_name = "small-raw-bucket-dev" })
shared:add("iam_role", "Worker", {
  RoleName = "small-worker-dev",
  AssumeRolePolicyDocument = { Version = "2012-10-17", Statement = { {
    Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "lambda.amazonaws.com" } } } },
  Policies = { { PolicyName = "work", PolicyDocument = { Version = "2012-10-17", Statement = { {
    Effect = "Allow", Action = %s, Resource = %s } } } } },
})
return app
]]):format(opts.policy.actions, opts.policy.resource)
  src, n = src:gsub("return app\n$", function() return role end)
  assert(n == 1, "the small app's end moved")
  return src
end

describe("deploy shows its changes and asks before widening #integration", function()
  local server, dir, c

  local function write_app(opts) assert(fs.write(dir .. "/app.lua", app_text(opts))) end

  local function run(args)
    local argv = { dir .. "/app.lua" }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return util.lakehost(argv, { env = server.env })
  end

  local function deploy(...)
    return run({ "deploy", "--out", dir .. "/lake.out", ... })
  end

  -- The stacks that exist (ListStacks also lists deleted ones).
  local function live_stacks()
    local r = assert(query.call(c, "cloudformation", V, "ListStacks", {}))
    local out = {}
    for _, s in ipairs(query.list(r.StackSummaries)) do
      if s.StackStatus ~= "DELETE_COMPLETE" then out[#out + 1] = s.StackName .. " " .. s.StackStatus end
    end
    table.sort(out)
    return out
  end

  -- The change sets left to run on a stack (moto lists every stack's, and
  -- keeps executed ones, which AWS deletes: keep this one's, not executed).
  local function change_sets(name)
    local st = assert(cfn.describe_stack(c, name))
    local r = assert(query.call(c, "cloudformation", V, "ListChangeSets", { StackName = name }))
    local out = {}
    for _, s in ipairs(query.list(r.Summaries)) do
      if s.StackId == st.StackId and s.ExecutionStatus ~= "EXECUTE_COMPLETE" then out[#out + 1] = s.ChangeSetName end
    end
    return out
  end

  local function worker_policy(name)
    local tpl = assert(json.decode(assert(cfn.get_template(c, name or "small-shared-stack-dev"))))
    return tpl.Resources.Worker.Properties.Policies[1].PolicyDocument.Statement[1]
  end

  setup(function()
    server = moto.start()
    c = server.client()
    dir = util.tmpdir("lakehost-changes-spec-")
    write_app { policy = READ }
  end)

  teardown(function()
    if server then server.stop() end
    if dir then fs.remove_tree(dir) end
  end)

  it("--dry-run on a fresh lake prints what each stack would get and leaves no stack behind", function()
    local stdout, err, code = deploy("--dry-run")
    assert.equal(0, code, err)
    assert.matches("small-storage-stack-dev: 1 to add, 0 to modify, 0 to remove (source: change set)", stdout, 1, true)
    assert.matches("  + Raw (AWS::S3::Bucket)", stdout, 1, true)
    assert.matches("small-shared-stack-dev: 2 to add, 0 to modify, 0 to remove (source: change set)", stdout, 1, true)
    assert.matches("  + Worker (AWS::IAM::Role)", stdout, 1, true)
    -- what approval it would need, without asking
    assert.matches("small-shared-stack-dev would need approval (--require-approval broadening):", err, 1, true)
    assert.matches('+ Worker (AWS::IAM::Role) policy "work": Allow s3:GetObject on arn:aws:s3:::small-data-dev/*',
      err, 1, true)
    assert.matches("small%-storage%-stack%-dev%s+to create", err)
    assert.matches("small%-shared%-stack%-dev%s+to create", err)
    assert.matches("dry run done, nothing deployed", err, 1, true)
    -- through the API: no stack (nor its bucket) is left
    assert.same({}, live_stacks())
    local r = assert(query.call(c, "cloudformation", V, "DescribeStacks", {}))
    assert.same({}, query.list(r.Stacks))
    local objs, lerr = require("lake.aws.s3").list_objects(c, "small-raw-123456789012-dev")
    assert.is_nil(objs)
    assert.matches("NoSuchBucket", tostring(lerr), 1, true)
  end)

  it("bootstraps", function()
    local _, err, code = run({ "bootstrap" })
    assert.equal(0, code, err)
  end)

  it("prints the outputs of a stack it finds unchanged, and refuses new IAM statements without a terminal", function()
    -- the storage stack, deployed earlier with CreateStack (moto keeps the
    -- outputs of such stacks, not of those made through change sets)
    local _, err, code = run({ "synth", "--out", dir .. "/lake.out" })
    assert.equal(0, code, err)
    assert(query.call(c, "cloudformation", V, "CreateStack", { StackName = "small-storage-stack-dev",
      TemplateBody = assert(fs.read(dir .. "/lake.out/small-storage-stack-dev.template.json")) }))
    local stdout
    stdout, err, code = deploy()
    assert.equal(1, code, err)
    assert.matches("small%-storage%-stack%-dev%s+unchanged", err)
    assert.matches("Outputs:\nsmall-storage-stack-dev.RawBucketName = small-raw-123456789012-dev  "
      .. "(export: small-raw-bucket-dev)\n", stdout, 1, true)
    -- the new role's statements, named, and the option to pass
    assert.matches("small%-shared%-stack%-dev%s+refused: needs approval %(%-%-require%-approval broadening%) and there "
      .. "is no terminal to ask", err)
    assert.matches('+ Worker (AWS::IAM::Role) policy "work": Allow s3:GetObject on arn:aws:s3:::small-data-dev/*',
      err, 1, true)
    assert.matches("+ Worker (AWS::IAM::Role) trust policy: Allow sts:AssumeRole to Service:lambda.amazonaws.com",
      err, 1, true)
    assert.matches("lakehost: not deployed without approval: small-shared-stack-dev (--require-approval broadening); "
      .. "review the changes listed above, then deploy from a terminal to answer, or pass --require-approval never",
      err, 1, true)
    -- the empty stack its change set made is gone
    assert.is_false(cfn.describe_stack(c, "small-shared-stack-dev"))
  end)

  it("deploys them with --require-approval never", function()
    local stdout, err, code = deploy("--require-approval", "never")
    assert.equal(0, code, err)
    assert.matches("small%-shared%-stack%-dev%s+created", err)
    assert.matches("  + Worker (AWS::IAM::Role)", stdout, 1, true)
    assert.same({ "s3:GetObject" }, worker_policy().Action)
    local role = assert(query.call(c, "iam", "2010-05-08", "GetRole", { RoleName = "small-worker-dev" }))
    assert.equal("small-worker-dev", role.Role.RoleName)
  end)

  it("refuses a widened policy, naming the statement, and leaves the stack and no change set", function()
    write_app { policy = WIDE }
    local stdout, err, code = deploy()
    assert.equal(1, code, err)
    assert.matches("small-shared-stack-dev: 0 to add, 1 to modify, 0 to remove", stdout, 1, true)
    assert.matches("  ~ Worker (AWS::IAM::Role)  properties: Policies", stdout, 1, true)
    assert.matches('+ Worker (AWS::IAM::Role) policy "work": Allow s3:* on *', err, 1, true)
    assert.matches("not deployed without approval: small-shared-stack-dev", err, 1, true)
    assert.matches("--require-approval never", err, 1, true)
    assert.same({ "s3:GetObject" }, worker_policy().Action)
    assert.equal("CREATE_COMPLETE", assert(cfn.describe_stack(c, "small-shared-stack-dev")).StackStatus)
    assert.same({}, change_sets("small-shared-stack-dev"))
  end)

  it("deploys the widened policy with --require-approval never", function()
    local _, err, code = deploy("--require-approval", "never")
    assert.equal(0, code, err)
    assert.matches("small%-shared%-stack%-dev%s+updated", err)
    local st = worker_policy()
    assert.equal("s3:*", st.Action)
    assert.equal("*", st.Resource)
  end)

  it("asks for a narrowed policy only under any-change", function()
    write_app { policy = READ }
    local _, err, code = deploy("--require-approval", "any-change")
    assert.equal(1, code, err)
    assert.matches('- Worker (AWS::IAM::Role) policy "work": Allow s3:* on *', err, 1, true)
    _, err, code = deploy() -- broadening: narrowing goes through
    assert.equal(0, code, err)
    assert.matches("small%-shared%-stack%-dev%s+updated", err)
    assert.same({ "s3:GetObject" }, worker_policy().Action)
  end)

  it("lists a replacement when a bucket name changes, and --dry-run changes nothing", function()
    write_app { policy = READ, bucket = "small-landing" }
    local stdout, err, code = deploy("--dry-run")
    assert.equal(0, code, err)
    assert.matches("small-storage-stack-dev: 0 to add, 1 to modify, 0 to remove (source: change set, replacement "
      .. "from the templates (the change set gave none))", stdout, 1, true)
    assert.matches("  ~ Raw (AWS::S3::Bucket)  replacement: True (BucketName); properties: BucketName", stdout, 1, true)
    assert.matches("small%-storage%-stack%-dev%s+to update", err)
    local tpl = json.decode(assert(cfn.get_template(c, "small-storage-stack-dev")))
    assert.same({ ["Fn::Sub"] = "small-raw-${AWS::AccountId}-dev" }, tpl.Resources.Raw.Properties.BucketName)
    assert.same({}, change_sets("small-storage-stack-dev"))
    -- deployed for real, the replacement waits for approval
    stdout, err, code = deploy()
    assert.equal(1, code, err)
    assert.matches("  ~ Raw (AWS::S3::Bucket)  replacement: True (BucketName)", stdout, 1, true)
    assert.matches("resources replaced (a new one is created, the old one deleted):", err, 1, true)
    assert.matches("~ Raw (AWS::S3::Bucket): BucketName", err, 1, true)
    assert.matches("small%-shared%-stack%-dev%s+skipped", err)
    assert.same({ "lakehost-toolkit CREATE_COMPLETE", "small-shared-stack-dev UPDATE_COMPLETE",
      "small-storage-stack-dev CREATE_COMPLETE" }, live_stacks())
  end)

  it("asks on a terminal, and deploys only on yes", function()
    write_app { policy = WIDE, bucket = "small-landing" }
    local function at_terminal(answer)
      local argv = { "python3", "spec/support/pty_answer.py", answer, util.bin, dir .. "/app.lua", "deploy",
        "--out", dir .. "/lake.out", "small-shared-stack-dev", "--exclusively" }
      local r = assert(require("host.proc").run { argv = argv, env_add = server.env, stdout = "capture",
        stderr = "capture", timeout = 120 })
      return r.stdout, r.code
    end
    local out, code = at_terminal("n")
    assert.equal(1, code, out)
    assert.matches("small-shared-stack-dev needs approval (--require-approval broadening):", out, 1, true)
    assert.matches('+ Worker (AWS::IAM::Role) policy "work": Allow s3:* on *', out, 1, true)
    assert.matches("deploy these changes? [y/N]", out, 1, true)
    assert.matches("small%-shared%-stack%-dev%s+refused: not approved", out)
    assert.same({ "s3:GetObject" }, worker_policy().Action)
    assert.same({}, change_sets("small-shared-stack-dev"))
    out, code = at_terminal("y")
    assert.equal(0, code, out)
    assert.matches("small%-shared%-stack%-dev%s+updated", out)
    assert.equal("s3:*", worker_policy().Action)
  end)

  it("refuses an unknown approval level before doing anything", function()
    local _, err, code = deploy("--require-approval", "sometimes")
    assert.equal(2, code)
    assert.matches("--require-approval expects one of never, any-change, broadening, got 'sometimes'", err, 1, true)
  end)
end)

-- What moto never answers (pages of changes, Replacement and Details, an
-- InsufficientCapabilities refusal, a stack left in ROLLBACK_COMPLETE),
-- played by a scripted transport with the XML AWS documents; everything
-- above the transport is the product's.
describe("the deploy engine's change review against AWS-shaped answers #unit", function()
  local client = require("lake.aws.client")
  local deploy_mod = require("lake.deploy")
  local NS = 'xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"'

  local function ok_xml(action, inner)
    return ("<%sResponse %s><%sResult>%s</%sResult></%sResponse>"):format(action, NS, action, inner or "", action, action)
  end
  local function stack_xml(status)
    return ok_xml("DescribeStacks", ("<Stacks><member><StackName>s-dev</StackName><StackId>arn:s-dev/1</StackId>"
      .. "<StackStatus>%s</StackStatus><Description>old [lakehost:0000000000000000]</Description><Tags/>"
      .. "<Outputs><member><OutputKey>Name</OutputKey><OutputValue>v</OutputValue></member></Outputs>"
      .. "<Parameters/></member></Stacks>"):format(status))
  end
  local function change_xml(id, typ, replacement, detail)
    return ("<member><Type>Resource</Type><ResourceChange><Action>Modify</Action><LogicalResourceId>%s"
      .. "</LogicalResourceId><ResourceType>%s</ResourceType><Replacement>%s</Replacement><Scope><member>Properties"
      .. "</member></Scope><Details><member><Target><Attribute>Properties</Attribute><Name>%s</Name>"
      .. "<RequiresRecreation>Always</RequiresRecreation></Target><Evaluation>Static</Evaluation>"
      .. "<ChangeSource>DirectModification</ChangeSource></member></Details></ResourceChange></member>")
      :format(id, typ, replacement, detail)
  end

  -- handlers[action] = function(body, n) -> status, xml
  local function context(handlers)
    local calls, bodies = {}, {}
    local http = { request = function(req)
      local action = req.body:match("Action=(%w+)")
      calls[#calls + 1] = action
      bodies[action] = req.body
      local h = handlers[action]
      if not h then
        return { status = 400, headers = {}, body = "<ErrorResponse><Error><Code>Unexpected</Code><Message>"
          .. action .. "</Message></Error></ErrorResponse>" }
      end
      local n = 0
      for _, a in ipairs(calls) do if a == action then n = n + 1 end end
      local status, body = h(req.body, n)
      return { status = status, headers = {}, body = body }
    end }
    local t, lines = 0, {}
    local c = client.new { region = "us-east-1", credentials = { access_key = "AKID", secret_key = "s" }, http = http,
      getenv = function(k) if k == "AWS_ENDPOINT_URL" then return "http://127.0.0.1:1" end end,
      sleep = function(s) t = t + s end, now = function() return t end }
    local ctx = { client = c, region = "us-east-1", sleep = function(s) t = t + s end, now = function() return 1000 + t end,
      out = function(l) lines[#lines + 1] = l end, err = function(l) lines[#lines + 1] = l end, progress = function() end }
    return ctx, calls, bodies, lines
  end

  local TEMPLATE = json.encode { Resources = {
    Raw = { Type = "AWS::S3::Bucket", Properties = { BucketName = "b" } },
    Worker = { Type = "AWS::IAM::Role", Properties = { RoleName = "w", AssumeRolePolicyDocument = {} } } } }
  local ENTRY = { name = "s-dev", body = TEMPLATE, hash = "abcdef0123456789", tags = {} }

  it("reads every page of a change set, with Replacement and Details, and asks for the capabilities the template needs",
    function()
      local ctx, calls, bodies, lines = context {
        DescribeStacks = function() return 200, stack_xml("UPDATE_COMPLETE") end,
        DescribeStackEvents = function() return 200, ok_xml("DescribeStackEvents", "<StackEvents/>") end,
        CreateChangeSet = function() return 200, ok_xml("CreateChangeSet", "<Id>arn:cs/1</Id><StackId>arn:s-dev/1</StackId>") end,
        DescribeChangeSet = function(body)
          if body:find("NextToken=page2", 1, true) then
            return 200, ok_xml("DescribeChangeSet", "<Status>CREATE_COMPLETE</Status><Changes>"
              .. change_xml("Worker", "AWS::IAM::Role", "False", "Description") .. "</Changes>")
          end
          return 200, ok_xml("DescribeChangeSet", "<Status>CREATE_COMPLETE</Status><NextToken>page2</NextToken><Changes>"
            .. change_xml("Raw", "AWS::S3::Bucket", "True", "BucketName") .. "</Changes>")
        end,
        ExecuteChangeSet = function() return 200, ok_xml("ExecuteChangeSet") end,
      }
      local r = deploy_mod.deploy_stack(ctx, ENTRY)
      assert.is_true(r.ok, r.message)
      assert.equal("updated", r.status)
      assert.same({ { key = "Name", value = "v" } }, r.outputs)
      assert.equal("change set", r.changes.source)
      assert.same({ "Raw", "Worker" }, { r.changes.modified[1].id, r.changes.modified[2].id })
      assert.same({ "BucketName" }, r.changes.modified[1].because)
      assert.is_truthy(index_of(lines, "  ~ Raw (AWS::S3::Bucket)  replacement: True (BucketName); properties: BucketName"))
      assert.is_truthy(index_of(lines, "  ~ Worker (AWS::IAM::Role)  properties: Description"))
      -- Replacement came with the change set: no GetTemplate (no approval level asked for it)
      assert.is_nil(index_of(calls, "GetTemplate"))
      assert.matches("Capabilities.member.1=CAPABILITY_IAM&Capabilities.member.2=CAPABILITY_NAMED_IAM&",
        bodies.CreateChangeSet, 1, true)
      assert.is_nil(bodies.CreateChangeSet:find("AUTO_EXPAND", 1, true))
    end)

  it("asks again with the capabilities CloudFormation names when the template did not show them", function()
    local bucket_only = { name = "s-dev", body = json.encode { Resources = { Raw = { Type = "AWS::S3::Bucket" } } },
      hash = "abcdef0123456789", tags = {} }
    local ctx, calls, bodies = context {
      DescribeStacks = function(_, n)
        if n == 1 then
          return 400, "<ErrorResponse><Error><Code>ValidationError</Code><Message>Stack with id s-dev does not exist"
            .. "</Message></Error></ErrorResponse>"
        end
        return 200, stack_xml("CREATE_COMPLETE")
      end,
      DescribeStackEvents = function() return 200, ok_xml("DescribeStackEvents", "<StackEvents/>") end,
      CreateChangeSet = function(_, n)
        if n == 1 then
          return 400, "<ErrorResponse><Error><Code>InsufficientCapabilitiesException</Code><Message>Requires "
            .. "capabilities : [CAPABILITY_AUTO_EXPAND]</Message></Error></ErrorResponse>"
        end
        return 200, ok_xml("CreateChangeSet", "<Id>arn:cs/1</Id>")
      end,
      DescribeChangeSet = function() return 200, ok_xml("DescribeChangeSet", "<Status>CREATE_COMPLETE</Status>") end,
      ExecuteChangeSet = function() return 200, ok_xml("ExecuteChangeSet") end,
    }
    local r = deploy_mod.deploy_stack(ctx, bucket_only)
    assert.is_true(r.ok, r.message)
    assert.equal(2, select(2, table.concat(calls, " "):gsub("CreateChangeSet", "")))
    assert.matches("Capabilities.member.1=CAPABILITY_AUTO_EXPAND&", bodies.CreateChangeSet, 1, true)
  end)

  it("changes nothing in a dry run, even for a stack a failed first create left behind", function()
    local ctx, calls, _, lines = context {
      DescribeStacks = function() return 200, stack_xml("ROLLBACK_COMPLETE") end,
    }
    ctx.dry_run = true
    local r = deploy_mod.deploy_stack(ctx, ENTRY)
    assert.same({ ok = true, status = "to create" }, r)
    assert.same({ "DescribeStacks" }, calls)
    assert.same({ "s-dev: ROLLBACK_COMPLETE after a failed first create: a deploy deletes it and creates it again" }, lines)
  end)

  it("deletes the change set of a stack it refuses and reads the deployed template to compare", function()
    local old = json.encode { Resources = { Worker = { Type = "AWS::IAM::Role", Properties = { RoleName = "w",
      AssumeRolePolicyDocument = {} } } } }
    local ctx, calls, bodies = context {
      DescribeStacks = function() return 200, stack_xml("UPDATE_COMPLETE") end,
      CreateChangeSet = function() return 200, ok_xml("CreateChangeSet", "<Id>arn:cs/1</Id>") end,
      DescribeChangeSet = function() return 200, ok_xml("DescribeChangeSet", "<Status>CREATE_COMPLETE</Status><Changes>"
        .. change_xml("Raw", "AWS::S3::Bucket", "True", "BucketName") .. "</Changes>") end,
      GetTemplate = function() return 200, ok_xml("GetTemplate", "<TemplateBody>" .. old:gsub("&", "&amp;")
        :gsub("<", "&lt;") .. "</TemplateBody>") end,
      DeleteChangeSet = function() return 200, ok_xml("DeleteChangeSet") end,
    }
    ctx.require_approval = "broadening"
    ctx.approve = function() return nil end -- no terminal
    local r = deploy_mod.deploy_stack(ctx, ENTRY)
    assert.is_false(r.ok)
    assert.equal("refused", r.status)
    assert.same({ "resources replaced (a new one is created, the old one deleted):", "  ~ Raw (AWS::S3::Bucket): BucketName" },
      r.failures)
    assert.is_truthy(index_of(calls, "GetTemplate"))
    assert.equal("DeleteChangeSet", calls[#calls])
    assert.matches("ChangeSetName=arn%3Acs%2F1", bodies.DeleteChangeSet, 1, true) -- by its ARN
  end)
end)
