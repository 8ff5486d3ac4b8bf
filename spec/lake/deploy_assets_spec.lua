-- Fewer requests on deploy (issue 17): the assets bucket is listed, not
-- asked once per file; missing files go up several at a time; ListStacks
-- says which stacks exist; a wait ends on the stack's own event. Against
-- moto on loopback with signature checking on, counting requests from
-- `deploy --stats`; the engine's choices on states moto cannot produce are
-- played by a scripted CloudFormation, as in deploy_states_spec.
local util = require("spec.support.util")
local moto = require("spec.support.moto")
local fs = require("host.fs")

local BUCKET = "lakehost-assets-123456789012-us-east-1"

--- The "service:Action count" lines `deploy --stats` prints, and its total.
local function stats_of(stderr)
  local by = {}
  for line in stderr:gmatch("[^\n]+") do
    local k, v = line:match("^%s+(%w+:%w+)%s+(%d+)$")
    if k then by[k] = tonumber(v) end
  end
  return by, tonumber(stderr:match("done in [%d.]+ s, (%d+) API calls"))
end

describe("S3 listing and batch uploads against moto #integration", function()
  local server, c, dir
  local s3 = require("lake.aws.s3")

  setup(function()
    server = moto.start()
    c = server.client()
    assert(c:call { service = "s3", action = "CreateBucket", method = "PUT", path = "/lakehost-spec-paging", s3 = true })
    dir = util.tmpdir()
  end)

  teardown(function()
    if server then server.stop() end
    fs.remove_tree(dir)
  end)

  it("puts several objects at once, then lists them page by page", function()
    local objects = {}
    for i = 1, 7 do
      local path = ("%s/f%d"):format(dir, i)
      assert(fs.write(path, ("x"):rep(i * 10)))
      objects[i] = { key = ("k%02d.zip"):format(i), file = path, content_type = "application/zip" }
    end
    objects[8] = { key = "templates/t.json", body = "{}", content_type = "application/json" }
    local puts, errs = s3.put_objects(c, "lakehost-spec-paging", objects, { parallel = 3 })
    for i = 1, 8 do assert.is_table(puts[i], tostring(errs[i])) end
    local before = c.stats.by_action["s3:ListObjectsV2"] or 0
    local all, more = assert(s3.list_objects(c, "lakehost-spec-paging", nil, { max_keys = 3 }))
    assert.is_false(more)
    assert.equal(3, c.stats.by_action["s3:ListObjectsV2"] - before) -- 8 keys, 3 a page
    local keys = {}
    for _, o in ipairs(all) do keys[#keys + 1] = o.key .. "=" .. o.size end
    assert.same({ "k01.zip=10", "k02.zip=20", "k03.zip=30", "k04.zip=40", "k05.zip=50", "k06.zip=60",
      "k07.zip=70", "templates/t.json=2" }, keys)
    local some, more2 = assert(s3.list_objects(c, "lakehost-spec-paging", nil, { max_keys = 3, max_pages = 2 }))
    assert.equal(6, #some)
    assert.is_true(more2)
    local k0 = assert(s3.list_objects(c, "lakehost-spec-paging", "k0", { max_keys = 2 }))
    assert.equal(7, #k0)
  end)

  it("fails only the upload whose file cannot be read, and says why", function()
    local path = dir .. "/present"
    assert(fs.write(path, "here"))
    local puts, errs = s3.put_objects(c, "lakehost-spec-paging", {
      { key = "a.zip", file = path }, { key = "b.zip", file = dir .. "/missing" }, { key = "c.zip", body = "c" },
    })
    assert.is_table(puts[1])
    assert.is_nil(puts[2])
    assert.equal("LocalFile", errs[2].code)
    assert.is_table(puts[3])
    assert.equal(4, assert(s3.head_object(c, "lakehost-spec-paging", "a.zip")).size)
    assert.is_false((s3.head_object(c, "lakehost-spec-paging", "b.zip")))
  end)

  it("heads several keys at once", function()
    local heads, errs = s3.head_objects(c, "lakehost-spec-paging", { "a.zip", "nothing.zip", "c.zip" })
    assert.is_nil(errs[1])
    assert.same({ 4, false, 1 }, { heads[1].size, heads[2], heads[3].size })
  end)
end)

describe("deploying the example lake, counting requests #integration", function()
  local server, dir, c

  local function run(args)
    local env = {}
    for k, v in pairs(server.env) do env[k] = v end
    env.LAKEHOST_CACHE_DIR = dir .. "/.cache"
    local argv = { dir .. "/app.lua" }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return util.lakehost(argv, { env = env, cwd = dir })
  end

  setup(function()
    server = moto.start()
    c = server.client()
    dir = util.tmpdir("lakehost-assets-spec-")
    assert(os.execute(("cp -R app.lua pipelines shared standalone %s/"):format(util.shquote(dir))))
    local _, err, code = run({ "bootstrap" })
    assert(code == 0, err)
  end)

  teardown(function()
    if server then server.stop() end
    if dir then fs.remove_tree(dir) end
  end)

  it("makes a first deploy in no more requests than the AWS CLI (28), one listing and no HEAD", function()
    local _, err, code = run({ "deploy", "--stats", "--require-approval", "never" })
    assert.equal(0, code, err)
    local by, total = stats_of(err)
    assert.equal(1, by["s3:ListObjectsV2"])
    assert.equal(7, by["s3:PutObject"])
    assert.is_nil(by["s3:HeadObject"])
    assert.is_nil(by["sts:GetCallerIdentity"]) -- the toolkit stack's ARN names the account
    assert.equal(1, by["cloudformation:ListStacks"])
    assert.is_nil(by["cloudformation:DescribeStacks"]) -- ListStacks showed the four absent
    assert.equal(4, by["cloudformation:ExecuteChangeSet"])
    assert.is_true(total <= 28, tostring(total))
    assert.matches("assets: 7 uploaded", err, 1, true)
    -- one progress line per uploaded file, as before
    assert.equal(7, select(2, ("\n" .. err):gsub("\nuploading %x+%.%a+ %(", "")))
  end)

  it("redeploys unchanged with the listing and one DescribeStacks per stack", function()
    local _, err, code = run({ "deploy", "--stats" })
    assert.equal(0, code, err)
    local by = stats_of(err)
    assert.equal(1, by["s3:ListObjectsV2"])
    assert.is_nil(by["s3:PutObject"])
    assert.is_nil(by["s3:HeadObject"])
    assert.equal(4, by["cloudformation:DescribeStacks"])
    assert.is_nil(by["cloudformation:CreateChangeSet"])
    -- moto keeps no Description for stacks made through change sets, so
    -- the hash comes from GetTemplate there (AWS returns the Description)
    assert.is_true((by["cloudformation:GetTemplate"] or 0) <= 4)
    assert.matches("assets: 0 uploaded (0 bytes), 7 already there", err, 1, true)
  end)

  it("uploads exactly the asset deleted from the bucket: one PutObject, no HeadObject", function()
    local s3 = require("lake.aws.s3")
    local objs = assert(s3.list_objects(c, BUCKET))
    local victim
    for _, o in ipairs(objs) do
      if o.key:match("%.zip$") then victim = o break end
    end
    assert(c:call { service = "s3", action = "DeleteObject", method = "DELETE", s3 = true,
      path = "/" .. BUCKET .. "/" .. victim.key })
    assert.is_false((s3.head_object(c, BUCKET, victim.key)))
    local _, err, code = run({ "deploy", "--stats" })
    assert.equal(0, code, err)
    local by = stats_of(err)
    assert.equal(1, by["s3:PutObject"])
    assert.is_nil(by["s3:HeadObject"])
    assert.equal(1, by["s3:ListObjectsV2"])
    assert.matches("assets: 1 uploaded (" .. victim.size .. " bytes), 6 already there", err, 1, true)
    assert.matches("uploading " .. victim.key, err, 1, true)
    assert.equal(victim.size, assert(s3.head_object(c, BUCKET, victim.key)).size)
  end)

  it("uploads again an asset whose size in the bucket differs", function()
    local s3 = require("lake.aws.s3")
    local objs = assert(s3.list_objects(c, BUCKET))
    local victim = objs[#objs]
    assert(s3.put_object(c, BUCKET, victim.key, { body = "truncated" }))
    local _, err, code = run({ "deploy", "--stats" })
    assert.equal(0, code, err)
    assert.equal(1, stats_of(err)["s3:PutObject"])
    assert.equal(victim.size, assert(s3.head_object(c, BUCKET, victim.key)).size)
  end)
end)

---------------------------------------------------------------------------
-- The engine's choices, against a scripted CloudFormation

local client = require("lake.aws.client")
local deploy = require("lake.deploy")
local NS = 'xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"'

local function ok_xml(action, inner)
  return ("<%sResponse %s><%sResult>%s</%sResult></%sResponse>"):format(action, NS, action, inner or "", action, action)
end

local function stack_xml(name, status)
  return ok_xml("DescribeStacks", ([[<Stacks><member><StackName>%s</StackName>
    <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/%s/1</StackId><StackStatus>%s</StackStatus>
    <Description>old [lakehost:0000000000000000]</Description></member></Stacks>]]):format(name, name, status))
end

local function list_xml(names, token)
  local parts = {}
  for _, n in ipairs(names) do
    parts[#parts + 1] = ("<member><StackName>%s</StackName>"
      .. "<StackId>arn:aws:cloudformation:us-east-1:210987654321:stack/%s/1</StackId>"
      .. "<StackStatus>CREATE_COMPLETE</StackStatus></member>"):format(n, n)
  end
  return ok_xml("ListStacks", "<StackSummaries>" .. table.concat(parts) .. "</StackSummaries>"
    .. (token and ("<NextToken>" .. token .. "</NextToken>") or ""))
end

-- events: newest first, { logical id, type, status [, reason] }
local function events_xml(events, first_id)
  local parts = {}
  for i, e in ipairs(events) do
    parts[#parts + 1] = ([[<member><EventId>e%d</EventId><Timestamp>2026-11-24T10:00:%02dZ</Timestamp>
      <LogicalResourceId>%s</LogicalResourceId><ResourceType>%s</ResourceType>
      <ResourceStatus>%s</ResourceStatus>%s</member>]]):format((first_id or 0) + #events - i, i, e[1], e[2], e[3],
      e[4] and ("<ResourceStatusReason>" .. e[4] .. "</ResourceStatusReason>") or "")
  end
  return ok_xml("DescribeStackEvents", "<StackEvents>" .. table.concat(parts) .. "</StackEvents>")
end

local NOT_FOUND = "<ErrorResponse><Error><Code>ValidationError</Code><Message>Stack with id s-dev does not exist</Message></Error></ErrorResponse>"

-- handlers[action] = function(body, n) -> status, xml
local function endpoint(handlers)
  local calls, counts = {}, {}
  return {
    request = function(req)
      local action = req.body:match("Action=(%w+)")
      calls[#calls + 1] = action
      counts[action] = (counts[action] or 0) + 1
      local h = handlers[action]
      if not h then
        return { status = 400, headers = {}, body = "<ErrorResponse><Error><Code>Unexpected</Code><Message>"
          .. action .. "</Message></Error></ErrorResponse>" }
      end
      local status, body = h(req.body, counts[action])
      return { status = status, headers = {}, body = body }
    end,
  }, calls
end

local function context(http)
  local t = 0
  local lines = {}
  local c = client.new { region = "us-east-1", credentials = { access_key = "AKID", secret_key = "s" }, http = http,
    getenv = function(k) if k == "AWS_ENDPOINT_URL" then return "http://127.0.0.1:1" end end,
    sleep = function(s) t = t + s end, now = function() return t end, max_attempts = 2 }
  return { client = c, region = "us-east-1", sleep = function(s) t = t + s end, now = function() return 1000 + t end,
    out = function(l) lines[#lines + 1] = l end, err = function(l) lines[#lines + 1] = l end,
    progress = function() end }, lines
end

local ENTRY = { name = "s-dev", body = "{}", hash = "abcdef0123456789", tags = {} }

local CREATED = {
  { "s-dev", "AWS::CloudFormation::Stack", "CREATE_COMPLETE" },
  { "Topic", "AWS::SNS::Topic", "CREATE_COMPLETE" },
  { "s-dev", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated" },
  { "s-dev", "AWS::CloudFormation::Stack", "REVIEW_IN_PROGRESS", "User Initiated" },
}

local function change_set_handlers(h)
  h.CreateChangeSet = h.CreateChangeSet or function() return 200, ok_xml("CreateChangeSet", "<Id>cs</Id>") end
  h.DescribeChangeSet = function() return 200, ok_xml("DescribeChangeSet", "<Status>CREATE_COMPLETE</Status>") end
  h.ExecuteChangeSet = function() return 200, ok_xml("ExecuteChangeSet") end
  return h
end

describe("lake.deploy: what exists, and waiting on events #unit", function()
  it("creates a stack ListStacks shows absent without asking for it, and stops on its CREATE_COMPLETE event", function()
    local http, calls = endpoint(change_set_handlers {
      ListStacks = function() return 200, list_xml({ "lakehost-toolkit", "other-dev" }) end,
      DescribeStackEvents = function() return 200, events_xml(CREATED) end,
    })
    local ctx, lines = context(http)
    local survey = deploy.survey(ctx, { "s-dev", "other-dev" })
    assert.equal("lakehost-toolkit", survey.toolkit.name)
    assert.equal("210987654321", deploy.account_of(survey.toolkit.id))
    assert.same({ ["s-dev"] = true }, ctx.absent)
    assert.same({ ok = true, status = "created" }, deploy.deploy_stack(ctx, ENTRY))
    assert.same({ "ListStacks", "CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet", "DescribeStackEvents" }, calls)
    local events = {}
    for _, l in ipairs(lines) do
      if not l:match("^s%-dev: ") and not l:match("^  [%+~%-] ") then events[#events + 1] = l end
    end
    assert.equal(4, #events, table.concat(lines, "\n")) -- every event printed, oldest first
    assert.matches("REVIEW_IN_PROGRESS", events[1])
    assert.matches("CREATE_COMPLETE", events[4])
  end)

  it("knows nothing when ListStacks fails or has more pages than asking would take", function()
    local http = endpoint { ListStacks = function() return 403,
      "<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>" end }
    local ctx = context(http)
    assert.same({}, deploy.survey(ctx, { "s-dev" }))
    assert.is_nil(ctx.absent)
    local pages
    http, pages = endpoint { ListStacks = function(_, n) return 200, list_xml({ "x" .. n }, "more" .. n) end }
    ctx = context(http)
    assert.same({}, deploy.survey(ctx, { "a", "b" }))
    assert.is_nil(ctx.absent)
    assert.equal(2, #pages) -- as many pages as stacks named, then it stops
  end)

  it("asks and updates when a stack ListStacks missed already exists", function()
    local http, calls = endpoint(change_set_handlers {
      CreateChangeSet = function(body)
        if body:find("ChangeSetType=CREATE", 1, true) then
          return 400, "<ErrorResponse><Error><Code>ValidationError</Code><Message>Stack [s-dev] already exists"
            .. " and cannot be created again with the changeSet [cs].</Message></Error></ErrorResponse>"
        end
        return 200, ok_xml("CreateChangeSet", "<Id>cs</Id>")
      end,
      DescribeStacks = function() return 200, stack_xml("s-dev", "UPDATE_COMPLETE") end,
      DescribeStackEvents = function(_, n)
        if n == 1 then return 200, events_xml({ { "s-dev", "AWS::CloudFormation::Stack", "UPDATE_COMPLETE" } }, 0) end
        return 200, events_xml({ { "s-dev", "AWS::CloudFormation::Stack", "UPDATE_COMPLETE" },
          { "s-dev", "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", "User Initiated" } }, 1)
      end,
    })
    local ctx = context(http)
    ctx.absent = { ["s-dev"] = true }
    assert.same({ ok = true, status = "updated" }, deploy.deploy_stack(ctx, ENTRY))
    assert.same({ "CreateChangeSet", "DescribeStacks", "CreateChangeSet", "DescribeChangeSet", "DescribeStackEvents",
      "ExecuteChangeSet", "DescribeStackEvents" }, calls)
  end)

  it("ends on a *_COMPLETE event of the stack, a rollback too, and names the failures", function()
    local http, calls = endpoint(change_set_handlers {
      DescribeStacks = function() return 400, NOT_FOUND end,
      DescribeStackEvents = function() return 200, events_xml({
        { "s-dev", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE" },
        { "Topic", "AWS::SNS::Topic", "CREATE_FAILED", "Topic name taken" },
        { "s-dev", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated" },
      }) end,
    })
    local r = deploy.deploy_stack(context(http), ENTRY)
    assert.is_false(r.ok)
    assert.equal("ended in ROLLBACK_COMPLETE", r.message)
    assert.same({ "Topic (AWS::SNS::Topic): Topic name taken" }, r.failures)
    assert.same({ "DescribeStacks", "CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet",
      "DescribeStackEvents", "DescribeStackEvents" }, calls) -- the wait, then the failures
  end)

  it("asks DescribeStacks when the stack's newest event is a *_FAILED one", function()
    local http, calls = endpoint(change_set_handlers {
      DescribeStacks = function(_, n)
        if n == 1 then return 400, NOT_FOUND end
        return 200, stack_xml("s-dev", "ROLLBACK_FAILED")
      end,
      DescribeStackEvents = function() return 200, events_xml({
        { "s-dev", "AWS::CloudFormation::Stack", "ROLLBACK_FAILED", "Bucket not empty" },
        { "s-dev", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated" },
      }) end,
    })
    local r = deploy.deploy_stack(context(http), ENTRY)
    assert.equal("ended in ROLLBACK_FAILED", r.message)
    assert.equal("DescribeStacks", calls[6])
  end)

  it("waits through events without the stack's own, asking DescribeStacks only when nothing new came", function()
    local http, calls = endpoint(change_set_handlers {
      DescribeStacks = function(_, n)
        if n == 1 then return 400, NOT_FOUND end
        return 200, stack_xml("s-dev", n < 3 and "CREATE_IN_PROGRESS" or "CREATE_COMPLETE")
      end,
      DescribeStackEvents = function(_, n)
        local evs = { { "Topic", "AWS::SNS::Topic", "CREATE_IN_PROGRESS" },
          { "s-dev", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated" } }
        if n >= 2 then table.insert(evs, 1, { "Topic", "AWS::SNS::Topic", "CREATE_COMPLETE" }) end
        return 200, events_xml(evs)
      end,
    })
    assert.same({ ok = true, status = "created" }, deploy.deploy_stack(context(http), ENTRY))
    assert.same({ "DescribeStacks", "CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet",
      "DescribeStackEvents",                   -- new events, the stack in progress: no DescribeStacks
      "DescribeStackEvents",                   -- one more event
      "DescribeStackEvents", "DescribeStacks", -- nothing new: asked, still in progress
      "DescribeStackEvents", "DescribeStacks", "DescribeStackEvents" }, calls) -- complete
  end)

  it("deletes a stack left in REVIEW_IN_PROGRESS before creating it", function()
    local state = "REVIEW_IN_PROGRESS"
    local http, calls = endpoint(change_set_handlers {
      DescribeStacks = function()
        if state == "gone" then return 400, NOT_FOUND end
        return 200, stack_xml("s-dev", state)
      end,
      DeleteStack = function() state = "gone" return 200, ok_xml("DeleteStack") end,
      CreateChangeSet = function(body)
        assert.matches("ChangeSetType=CREATE", body, 1, true)
        return 200, ok_xml("CreateChangeSet", "<Id>cs</Id>")
      end,
      DescribeStackEvents = function(_, n)
        if n == 1 then return 200, events_xml({}) end
        return 200, events_xml(CREATED)
      end,
    })
    local ctx, lines = context(http)
    assert.same({ ok = true, status = "created" }, deploy.deploy_stack(ctx, ENTRY))
    assert.equal("s-dev: REVIEW_IN_PROGRESS (a change set never executed, it holds no resources): deleting the empty stack before creating it",
      lines[1])
    assert.equal("DeleteStack", calls[2])
  end)
end)
