-- The deploy engine's answers to stack states that moto never produces
-- (ROLLBACK_COMPLETE, *_IN_PROGRESS, UPDATE_ROLLBACK_FAILED, failed
-- resources). CloudFormation is played by a scripted transport answering
-- each query-protocol action with the XML AWS documents; everything above
-- the transport (client, query protocol, engine) is the product's.
local client = require("lake.aws.client")
local deploy = require("lake.deploy")

local NS = 'xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"'

local function stack_xml(name, status, description)
  return ([[<DescribeStacksResponse %s><DescribeStacksResult><Stacks><member>
    <StackName>%s</StackName><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/%s/1</StackId>
    <StackStatus>%s</StackStatus>%s<Tags/><Outputs/><Parameters/>
  </member></Stacks></DescribeStacksResult></DescribeStacksResponse>]]):format(NS, name, name, status,
    description and ("<Description>" .. description .. "</Description>") or "")
end

local function events_xml(events)
  local parts = {}
  for i, e in ipairs(events) do
    parts[#parts + 1] = ([[<member><EventId>e%d</EventId><Timestamp>2026-11-24T10:00:%02dZ</Timestamp>
      <LogicalResourceId>%s</LogicalResourceId><ResourceType>%s</ResourceType>
      <ResourceStatus>%s</ResourceStatus>%s</member>]]):format(i, i, e[1], e[2], e[3],
      e[4] and ("<ResourceStatusReason>" .. e[4] .. "</ResourceStatusReason>") or "")
  end
  return ("<DescribeStackEventsResponse %s><DescribeStackEventsResult><StackEvents>%s</StackEvents>"
    .. "</DescribeStackEventsResult></DescribeStackEventsResponse>"):format(NS, table.concat(parts))
end

local function ok_xml(action, inner)
  return ("<%sResponse %s><%sResult>%s</%sResult></%sResponse>"):format(action, NS, action, inner or "", action, action)
end

-- handlers[action] = function(body, n) -> status, xml ; n counts calls of that action
local function cfn_endpoint(handlers)
  local calls, counts = {}, {}
  local http = {
    request = function(req)
      local action = req.body:match("Action=(%w+)")
      calls[#calls + 1] = action
      counts[action] = (counts[action] or 0) + 1
      local h = handlers[action]
      if not h then return { status = 400, headers = {}, body = "<ErrorResponse><Error><Code>Unexpected</Code><Message>"
        .. action .. "</Message></Error></ErrorResponse>" } end
      local status, body = h(req.body, counts[action])
      return { status = status, headers = {}, body = body }
    end,
  }
  return http, calls
end

local function context(http)
  local t = 0
  local lines = {}
  local c = client.new { region = "us-east-1", credentials = { access_key = "AKID", secret_key = "s" }, http = http,
    getenv = function(k) if k == "AWS_ENDPOINT_URL" then return "http://127.0.0.1:1" end end,
    sleep = function(s) t = t + s end, now = function() return t end }
  return { client = c, region = "us-east-1", sleep = function(s) t = t + s end, now = function() return 1000 + t end,
    out = function(l) lines[#lines + 1] = l end, err = function(l) lines[#lines + 1] = l end,
    progress = function() end }, lines
end

local ENTRY = { name = "s-dev", body = "{}", hash = "abcdef0123456789", tags = {} }

describe("lake.deploy stack states #unit", function()
  it("deletes a stack left in ROLLBACK_COMPLETE by a failed first create, then creates it", function()
    local state = "ROLLBACK_COMPLETE"
    local http, calls = cfn_endpoint {
      DescribeStacks = function()
        if state == "gone" or state == "review" then
          return 400, "<ErrorResponse><Error><Code>ValidationError</Code><Message>Stack with id s-dev does not exist</Message></Error></ErrorResponse>"
        end
        return 200, stack_xml("s-dev", state)
      end,
      DeleteStack = function() state = "gone" return 200, ok_xml("DeleteStack") end,
      DescribeStackEvents = function() return 200, events_xml({}) end,
      CreateChangeSet = function(body)
        assert.matches("ChangeSetType=CREATE", body, 1, true)
        state = "review"
        return 200, ok_xml("CreateChangeSet", "<Id>cs</Id><StackId>st</StackId>")
      end,
      DescribeChangeSet = function() return 200, ok_xml("DescribeChangeSet", "<Status>CREATE_COMPLETE</Status>") end,
      ExecuteChangeSet = function() state = "CREATE_COMPLETE" return 200, ok_xml("ExecuteChangeSet") end,
    }
    local ctx, lines = context(http)
    local r = deploy.deploy_stack(ctx, ENTRY)
    assert.same({ ok = true, status = "created" }, r)
    assert.equal("s-dev: ROLLBACK_COMPLETE after a failed first create: deleting it before creating it again", lines[1])
    assert.equal("DeleteStack", calls[2])
  end)

  it("waits for a stack with an operation in progress to settle, with progress lines, then updates it", function()
    local state = "UPDATE_IN_PROGRESS"
    local http, calls = cfn_endpoint {
      DescribeStacks = function(_, n)
        if n == 40 then state = "UPDATE_COMPLETE" end
        return 200, stack_xml("s-dev", state, "old [lakehost:0000000000000000]")
      end,
      DescribeStackEvents = function(_, n)
        return 200, events_xml({ { "Bucket", "AWS::S3::Bucket", n < 20 and "UPDATE_IN_PROGRESS" or "UPDATE_COMPLETE" } })
      end,
      CreateChangeSet = function(body)
        assert.matches("ChangeSetType=UPDATE", body, 1, true)
        return 200, ok_xml("CreateChangeSet", "<Id>cs</Id>")
      end,
      DescribeChangeSet = function() return 200, ok_xml("DescribeChangeSet", "<Status>CREATE_COMPLETE</Status>") end,
      ExecuteChangeSet = function() state = "UPDATE_COMPLETE" return 200, ok_xml("ExecuteChangeSet") end,
    }
    local ctx, lines = context(http)
    local r = deploy.deploy_stack(ctx, ENTRY)
    assert.same({ ok = true, status = "updated" }, r)
    assert.equal("s-dev: UPDATE_IN_PROGRESS from an earlier operation: waiting for it to settle", lines[1])
    -- 40 polls backing off to 5 s: over 2 minutes of (simulated) waiting, said at most 30 s apart
    local progress, last = 0, 0
    for _, l in ipairs(lines) do
      local m, sec = l:match("^%[(%d+)m(%d%d)s%] 1 stack in progress:$")
      if not m then sec = l:match("^%[(%d+)s%] 1 stack in progress:$") end
      if sec then
        local t = (tonumber(m) or 0) * 60 + tonumber(sec)
        assert.is_true(t - last <= 30, l)
        progress, last = progress + 1, t
      end
    end
    assert.is_true(progress >= 4, table.concat(lines, "\n"))
    assert.truthy(table.concat(lines, "\n"):find("  s%-dev%s+UPDATE_IN_PROGRESS for %dm%d%ds, last event 10:00:01 Bucket UPDATE_IN_PROGRESS"), table.concat(lines, "\n"))
    local settled = false
    for _, l in ipairs(lines) do settled = settled or l == "s-dev: settled in UPDATE_COMPLETE" end
    assert.is_true(settled, table.concat(lines, "\n"))
    local executed = false
    for _, a in ipairs(calls) do executed = executed or a == "ExecuteChangeSet" end
    assert.is_true(executed)
  end)

  it("deletes a stack left in REVIEW_IN_PROGRESS by a killed deploy, then creates it", function()
    local state = "REVIEW_IN_PROGRESS"
    local http, calls = cfn_endpoint {
      DescribeStacks = function()
        if state == "gone" then
          return 400, "<ErrorResponse><Error><Code>ValidationError</Code><Message>Stack with id s-dev does not exist</Message></Error></ErrorResponse>"
        end
        return 200, stack_xml("s-dev", state)
      end,
      DeleteStack = function() state = "gone" return 200, ok_xml("DeleteStack") end,
      DescribeStackEvents = function() return 200, events_xml({}) end,
      CreateChangeSet = function(body)
        assert.matches("ChangeSetType=CREATE", body, 1, true)
        return 200, ok_xml("CreateChangeSet", "<Id>cs</Id><StackId>st</StackId>")
      end,
      DescribeChangeSet = function() return 200, ok_xml("DescribeChangeSet", "<Status>CREATE_COMPLETE</Status>") end,
      ExecuteChangeSet = function() state = "CREATE_COMPLETE" return 200, ok_xml("ExecuteChangeSet") end,
    }
    local ctx, lines = context(http)
    local r = deploy.deploy_stack(ctx, ENTRY)
    assert.same({ ok = true, status = "created" }, r)
    assert.equal("s-dev: REVIEW_IN_PROGRESS (a change set never executed, it holds no resources): "
      .. "deleting the empty stack before creating it", lines[1])
    assert.same({ "DescribeStacks", "DeleteStack" }, { calls[1], calls[2] })
  end)

  it("on a first interrupt starts no change set execution; deletes the change set and the empty stack", function()
    local http, calls = cfn_endpoint {
      DescribeStacks = function()
        return 400, "<ErrorResponse><Error><Code>ValidationError</Code><Message>Stack with id s-dev does not exist</Message></Error></ErrorResponse>"
      end,
      CreateChangeSet = function() return 200, ok_xml("CreateChangeSet", "<Id>cs</Id><StackId>st</StackId>") end,
      DescribeChangeSet = function() return 200, ok_xml("DescribeChangeSet", "<Status>CREATE_COMPLETE</Status>") end,
      DeleteChangeSet = function() return 200, ok_xml("DeleteChangeSet") end,
      DeleteStack = function() return 200, ok_xml("DeleteStack") end,
    }
    local ctx = context(http)
    local n = 0
    ctx.interrupts = function() return n end
    -- the interrupt lands while the change set is being made
    local real = ctx.client.http.request
    ctx.client.http = { request = function(req)
      if req.body:match("Action=DescribeChangeSet") then n = 1 end
      return real(req)
    end }
    local r = deploy.deploy_stack(ctx, ENTRY)
    assert.same({ ok = false, status = "not started", message = "the run was stopped before it changed anything" }, r)
    -- the empty stack the change set made goes, and its change set with it
    assert.same({ "DescribeStacks", "CreateChangeSet", "DescribeChangeSet", "DeleteStack" },
      { calls[1], calls[2], calls[3], calls[4] })
    for i = 5, #calls do assert.matches("^Describe", calls[i]) end -- waiting for the deletion only
  end)

  it("says how to continue a rollback that failed, and does it when asked", function()
    local state = "UPDATE_ROLLBACK_FAILED"
    local http, calls = cfn_endpoint {
      DescribeStacks = function() return 200, stack_xml("s-dev", state) end,
      ContinueUpdateRollback = function() state = "UPDATE_ROLLBACK_COMPLETE" return 200, ok_xml("ContinueUpdateRollback") end,
      DescribeStackEvents = function() return 200, events_xml({}) end,
      CreateChangeSet = function() return 200, ok_xml("CreateChangeSet", "<Id>cs</Id>") end,
      DescribeChangeSet = function() return 200, ok_xml("DescribeChangeSet", "<Status>CREATE_COMPLETE</Status>") end,
      ExecuteChangeSet = function() state = "UPDATE_COMPLETE" return 200, ok_xml("ExecuteChangeSet") end,
    }
    local r = deploy.deploy_stack(context(http), ENTRY)
    assert.equal("stack is UPDATE_ROLLBACK_FAILED: fix the cause, then deploy with --continue-rollback", r.message)
    assert.same({ "DescribeStacks" }, calls) -- nothing else was tried
    local ctx = context(http)
    ctx.continue_rollback = true
    r = deploy.deploy_stack(ctx, ENTRY)
    assert.same({ ok = true, status = "updated" }, r)
    local seen = {}
    for _, a in ipairs(calls) do seen[a] = true end
    assert.is_true(seen.ContinueUpdateRollback)
  end)

  it("names the resources that failed and why", function()
    local http = cfn_endpoint {
      DescribeStacks = function(_, n)
        if n == 1 then return 200, stack_xml("s-dev", "UPDATE_COMPLETE", "old [lakehost:0000000000000000]") end
        return 200, stack_xml("s-dev", "UPDATE_ROLLBACK_COMPLETE")
      end,
      DescribeStackEvents = function(_, n)
        if n == 1 then return 200, events_xml({ { "s-dev", "AWS::CloudFormation::Stack", "UPDATE_COMPLETE" } }) end
        return 200, events_xml({
          { "s-dev", "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_COMPLETE" },
          { "Fn", "AWS::Lambda::Function", "UPDATE_FAILED", "Resource handler returned message: Memory too big" },
          { "Other", "AWS::SNS::Topic", "UPDATE_FAILED", "Resource update cancelled" },
          { "s-dev", "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", "User Initiated" },
          { "Old", "AWS::S3::Bucket", "CREATE_FAILED", "an older operation" },
        })
      end,
      CreateChangeSet = function(body)
        assert.matches("ChangeSetType=UPDATE", body, 1, true)
        return 200, ok_xml("CreateChangeSet", "<Id>cs</Id>")
      end,
      DescribeChangeSet = function() return 200, ok_xml("DescribeChangeSet", "<Status>CREATE_COMPLETE</Status>") end,
      ExecuteChangeSet = function() return 200, ok_xml("ExecuteChangeSet") end,
    }
    local r = deploy.deploy_stack(context(http), ENTRY)
    assert.is_false(r.ok)
    assert.equal("ended in UPDATE_ROLLBACK_COMPLETE", r.message)
    assert.same({ "Fn (AWS::Lambda::Function): Resource handler returned message: Memory too big",
      "Other (AWS::SNS::Topic): Resource update cancelled" }, r.failures)
  end)

  it("treats a change set without changes as success and deletes it", function()
    local http, calls = cfn_endpoint {
      DescribeStacks = function() return 200, stack_xml("s-dev", "UPDATE_COMPLETE", "old [lakehost:0000000000000000]") end,
      CreateChangeSet = function() return 200, ok_xml("CreateChangeSet", "<Id>cs</Id>") end,
      DescribeChangeSet = function() return 200, ok_xml("DescribeChangeSet",
        "<Status>FAILED</Status><StatusReason>The submitted information didn't contain changes. Submit different information to create a change set.</StatusReason>") end,
      DeleteChangeSet = function() return 200, ok_xml("DeleteChangeSet") end,
    }
    local r = deploy.deploy_stack(context(http), ENTRY)
    assert.same({ ok = true, status = "unchanged" }, r)
    assert.equal("DeleteChangeSet", calls[#calls])
  end)

  it("keeps polling through throttling on a status read", function()
    local http = cfn_endpoint {
      DescribeStacks = function(_, n)
        if n == 1 then return 400, "<ErrorResponse><Error><Code>ValidationError</Code><Message>Stack with id s-dev does not exist</Message></Error></ErrorResponse>" end
        if n <= 12 then return 400, "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>" end
        return 200, stack_xml("s-dev", "CREATE_COMPLETE")
      end,
      DescribeStackEvents = function() return 400, "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>" end,
      CreateChangeSet = function() return 200, ok_xml("CreateChangeSet", "<Id>cs</Id>") end,
      DescribeChangeSet = function() return 200, ok_xml("DescribeChangeSet", "<Status>CREATE_COMPLETE</Status>") end,
      ExecuteChangeSet = function() return 200, ok_xml("ExecuteChangeSet") end,
    }
    local r = deploy.deploy_stack(context(http), ENTRY)
    assert.same({ ok = true, status = "created" }, r)
  end)
end)
