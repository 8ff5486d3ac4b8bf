-- What each pipeline's roles can reach (issue 18): a lake of two domains and
-- three pipelines (spec/fixtures/apps/reach: a1 raw -> trusted and a2
-- trusted -> service in domain a, b1 raw -> trusted in domain b), with and
-- without a VPC, synthesized in memory. Every policy statement of every role
-- is resolved to concrete ARNs (pseudo parameters, the SSM-typed VPC
-- parameters and the lake's deterministic names given fixed values), and
-- every (action, resource) pair of every Allow statement of a pipeline's
-- roles is matched, with IAM's wildcards, against the concrete resources of
-- everything that is not the pipeline's: the other domain's buckets,
-- objects, databases, tables and crawlers, the layers of its own domain it
-- neither reads nor writes, and the other pipelines' functions, jobs, state
-- machines and executions, log groups and streams, rules, queues and roles.
-- The crawlers' roles are held to their own bucket and database the same
-- way. No role may carry a managed policy, and no Allow statement may grant
-- "*" or a whole service ("s3:*").
--
-- Not counted as another pipeline's resource: the Glue job log groups
-- (/aws-glue/jobs/..., shared by every job of the account and streamed by
-- run id, see lake.pipeline.steps.glue.logs_statements), the account's Glue
-- catalog ARN (a resource type every catalog action requires, holding no
-- data), and the assets bucket (code, content-addressed; a Glue role reads
-- only its own jobs' objects there).
local assembly = require("lake.assembly")
local lake_tree = require("spec.lake.support.lake_tree")

local ROOT = "spec/fixtures/apps/reach"
local FIXED = {
  ["AWS::Partition"] = "aws", ["AWS::Region"] = "eu-west-1", ["AWS::AccountId"] = "123456789012",
  ["AWS::URLSuffix"] = "amazonaws.com",
  -- the SSM-typed parameters of a pipeline stack in a lake with a VPC
  VpcId = "vpc-0reach0000000000", VpcSecurityGroupId = "sg-0reach0000000000",
  VpcPrivateSubnetIds = "subnet-0reach000000000a,subnet-0reach000000000b",
}
local REGION, ACCOUNT = FIXED["AWS::Region"], FIXED["AWS::AccountId"]

---------------------------------------------------------------------------
-- Resolving a template value to a string

local resolve

local function sub(text, vars, where)
  return (text:gsub("%${([^}]*)}", function(name)
    if name:sub(1, 1) == "!" then return "${" .. name:sub(2) .. "}" end
    if vars and vars[name] ~= nil then return resolve(vars[name], where) end
    if FIXED[name] then return FIXED[name] end
    error(("%s: cannot resolve ${%s} in %q"):format(where, name, text), 0)
  end))
end

--- A template value (string or intrinsic) as a concrete string; raises,
-- naming where it is, on anything it cannot resolve.
function resolve(v, where)
  if type(v) == "string" then return v end
  if type(v) ~= "table" then error(("%s: unexpected %s value"):format(where, type(v)), 0) end
  if v["Fn::Sub"] ~= nil then
    local s = v["Fn::Sub"]
    if type(s) == "string" then return sub(s, nil, where) end
    return sub(s[1], s[2], where)
  elseif v["Fn::Join"] ~= nil then
    local parts = {}
    for i, p in ipairs(v["Fn::Join"][2]) do parts[i] = resolve(p, where) end
    return table.concat(parts, v["Fn::Join"][1])
  elseif v.Ref ~= nil then
    if FIXED[v.Ref] then return FIXED[v.Ref] end
    error(("%s: cannot resolve Ref %s"):format(where, v.Ref), 0)
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  error(("%s: cannot resolve {%s}"):format(where, table.concat(keys, ", ")), 0)
end

-- A resource's cdk-nag suppressions of a lone "*" (AwsSolutions-IAM5).
local function star_suppressions(resource)
  local out = {}
  for _, x in ipairs(((resource.Metadata or {}).cdk_nag or {}).rules_to_suppress or {}) do
    if x.id == "AwsSolutions-IAM5" and x.applies_to and #x.applies_to == 1 and x.applies_to[1] == "Resource::*" then
      out[#out + 1] = x
    end
  end
  return out
end

local function list(v)
  if v == nil then return {} end
  if type(v) == "table" and v[1] ~= nil then return v end
  if type(v) == "table" and next(v) == nil then return {} end
  return { v }
end

---------------------------------------------------------------------------
-- IAM wildcard matching

--- Does an IAM pattern (* and ?, case-sensitive unless ci) match s?
local function wildcard(pattern, s, ci)
  if ci then pattern, s = pattern:lower(), s:lower() end
  local lp = "^" .. pattern:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".") .. "$"
  return s:find(lp) ~= nil
end

-- The service of an ARN (arn:partition:service:...).
local function arn_service(arn) return arn:match("^arn:[^:]*:([^:]*):") end

-- Actions the Service Authorization Reference lists with no resource type:
-- they act on no log group, stream or trace of anyone's, whatever the
-- statement's Resource says (Step Functions' log delivery and X-Ray, which
-- IAM grants only on "*").
local NO_RESOURCE_TYPE = {}
for _, a in ipairs({ "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
  "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
  "logs:DescribeLogGroups", "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
  "xray:GetSamplingTargets" }) do
  NO_RESOURCE_TYPE[a] = true
end

--- Could an Allow pair (action, resource pattern) act on the concrete ARN?
-- The action must be of the ARN's service (with wildcards: "s3:*", "*"),
-- take a resource at all, and the resource pattern must match the ARN.
local function reaches(action, resource, arn)
  if NO_RESOURCE_TYPE[action] then return false end
  local svc = action:match("^([^:]*):") or action
  if action ~= "*" and not wildcard(svc, arn_service(arn) or "", true) then return false end
  return wildcard(resource, arn)
end

---------------------------------------------------------------------------
-- The checker

local M = {}

--- The Allow statements of a role's properties, resolved:
-- array of { sid =, actions = { strings }, resources = { strings }, not_action =, not_resource = }.
function M.statements(role_props, where)
  local out = {}
  for _, pol in ipairs(role_props.Policies or {}) do
    for i, st in ipairs(list(pol.PolicyDocument.Statement)) do
      if st.Effect == "Allow" then
        local w = ("%s policy %s statement %s"):format(where, pol.PolicyName, st.Sid or i)
        local r = { sid = st.Sid or ("#" .. i), actions = {}, resources = {},
          not_action = st.NotAction ~= nil, not_resource = st.NotResource ~= nil }
        for _, a in ipairs(list(st.Action)) do r.actions[#r.actions + 1] = resolve(a, w) end
        for _, x in ipairs(list(st.Resource)) do r.resources[#r.resources + 1] = resolve(x, w) end
        out[#out + 1] = r
      end
    end
  end
  return out
end

--- Checks one role's statements against the resources it must not reach.
-- @param role string the role's name, for the findings
-- @param statements array (M.statements)
-- @param foreign array of { arn =, owner = } the resources that are not the role's
-- @param count table|nil { statements =, pairs =, checks = } added to
-- @return array of finding strings
function M.check(role, statements, foreign, count)
  local findings = {}
  count = count or {}
  for _, st in ipairs(statements) do
    count.statements = (count.statements or 0) + 1
    if st.not_action or st.not_resource then
      findings[#findings + 1] = ("%s: statement %s uses NotAction/NotResource"):format(role, st.sid)
    end
    for _, a in ipairs(st.actions) do
      if a == "*" or a:match("^[^:]+:%*$") then
        findings[#findings + 1] = ("%s: statement %s allows %s (a whole service)"):format(role, st.sid, a)
      end
      for _, r in ipairs(st.resources) do
        count.pairs = (count.pairs or 0) + 1
        for _, f in ipairs(foreign) do
          count.checks = (count.checks or 0) + 1
          if reaches(a, r, f.arn) then
            findings[#findings + 1] = ("%s: statement %s, action %s on %s reaches %s (%s)"):format(role, st.sid, a, r,
              f.arn, f.owner)
          end
        end
      end
    end
  end
  return findings
end

---------------------------------------------------------------------------
-- The lake: its templates and the concrete resources of each part

local function load_app(vpc)
  local env = setmetatable({ os = setmetatable({ getenv = function(k)
    if k == "REACH_VPC" then return vpc and "1" or "0" end
    return os.getenv(k)
  end }, { __index = os }) }, { __index = _G })
  local chunk = assert(loadfile(ROOT .. "/app.lua", "t", env))
  local app = chunk()
  assert(#app.problems == 0, table.concat(app.problems, "\n"))
  local templates = {}
  for _, s in ipairs(assert(app:ordered_stacks())) do
    templates[s.name] = assembly.template(s, { assets = lake_tree.ASSETS })
  end
  return app, app.datalake, templates
end

local function arn(service, resource) return ("arn:aws:%s:%s:%s:%s"):format(service, REGION, ACCOUNT, resource) end

-- Concrete ARNs of a stack's resources (what a role could name), each with its owner.
local function stack_resources(tpl, owner)
  local out = {}
  local function add(a) out[#out + 1] = { arn = a, owner = owner } end
  for id, r in pairs(tpl.Resources) do
    local p, w = r.Properties or {}, owner .. " " .. id
    if r.Type == "AWS::Lambda::Function" then
      add(arn("lambda", "function:" .. resolve(p.FunctionName, w)))
    elseif r.Type == "AWS::Logs::LogGroup" then
      local g = resolve(p.LogGroupName, w)
      add(arn("logs", "log-group:" .. g))
      add(arn("logs", "log-group:" .. g .. ":log-stream:2026/01/01/[$LATEST]0123456789abcdef"))
    elseif r.Type == "AWS::Glue::Job" then
      add(arn("glue", "job/" .. resolve(p.Name, w)))
    elseif r.Type == "AWS::StepFunctions::StateMachine" then
      local n = resolve(p.StateMachineName, w)
      add(arn("states", "stateMachine:" .. n))
      add(arn("states", "execution:" .. n .. ":run-1"))
      -- where Step Functions would log its executions
      add(arn("logs", "log-group:/aws/vendedlogs/states/" .. n .. ":log-stream:run-1"))
    elseif r.Type == "AWS::SQS::Queue" then
      add(arn("sqs", resolve(p.QueueName, w)))
    elseif r.Type == "AWS::Events::Rule" then
      add(arn("events", "rule/" .. resolve(p.Name, w)))
    elseif r.Type == "AWS::IAM::Role" then
      add(("arn:aws:iam::%s:role/%s"):format(ACCOUNT, resolve(p.RoleName, w)))
    end
  end
  return out
end

-- Whether a pipeline has athena steps.
local function has_athena(cfg)
  for _, st in ipairs(cfg.steps) do
    if st.type == "athena" then return true end
  end
  return false
end

-- Concrete ARNs of the data of one bucket of the lake (bucket, objects,
-- database, tables, crawler).
local function data_resources(b)
  local owner = ("domain %s, layer %s"):format(b.domain, b.layer)
  local name = resolve(b.name, owner)
  local out = {
    { arn = "arn:aws:s3:::" .. name, owner = owner },
    { arn = "arn:aws:s3:::" .. name .. "/incoming/2026/01/01/file.json", owner = owner },
    { arn = "arn:aws:s3:::" .. name .. "/glue-temp/part-0000", owner = owner },
    { arn = arn("glue", "database/" .. b.database), owner = owner },
    { arn = arn("glue", "table/" .. b.database .. "/events"), owner = owner },
  }
  if b.crawler then
    out[#out + 1] = { arn = arn("glue", "crawler/" .. b.crawler), owner = owner }
    out[#out + 1] = { arn = arn("logs", "log-group:/aws-glue/crawlers:log-stream:" .. b.crawler), owner = owner }
  end
  return out
end

local function roles_of(tpl)
  local out = {}
  for id, r in pairs(tpl.Resources) do
    if r.Type == "AWS::IAM::Role" then out[#out + 1] = { id = id, props = r.Properties or {}, resource = r } end
  end
  table.sort(out, function(x, y) return x.id < y.id end)
  return out
end

local function concat(...)
  local out = {}
  for _, l in ipairs({ ... }) do
    for _, x in ipairs(l) do out[#out + 1] = x end
  end
  return out
end

--- Every role of every template: no managed policy, no "*" or "svc:*" action.
-- @return findings, the number of roles
function M.lake_wide(templates)
  local findings, n = {}, 0
  for name, tpl in pairs(templates) do
    for _, role in ipairs(roles_of(tpl)) do
      n = n + 1
      local who = ("stack %s role %s"):format(name, role.id)
      if role.props.ManagedPolicyArns ~= nil then
        findings[#findings + 1] = who .. ": has ManagedPolicyArns"
      end
      for _, st in ipairs(M.statements(role.props, who)) do
        for _, a in ipairs(st.actions) do
          if a == "*" or a:match("^[^:]+:%*$") then
            findings[#findings + 1] = ("%s: statement %s allows %s (a whole service)"):format(who, st.sid, a)
          end
        end
      end
    end
  end
  table.sort(findings)
  return findings, n
end

--- Checks the whole lake; returns the findings and the figures.
local function check_lake(vpc)
  local _, dl, templates = load_app(vpc)
  local findings, count = {}, { roles = 0 }
  local names = {}
  for n in pairs(dl.pipelines) do names[#names + 1] = n end
  table.sort(names)
  -- what each part owns
  local data = {}
  for _, b in ipairs(dl.bucket_set.list) do data[#data + 1] = { bucket = b, res = data_resources(b) } end
  local owned = {}
  for _, n in ipairs(names) do
    local p = dl.pipelines[n]
    owned[n] = stack_resources(assert(templates[p.stack.name], p.stack.name), "pipeline " .. n)
  end
  -- every pipeline's roles
  for _, n in ipairs(names) do
    local p, cfg = dl.pipelines[n], dl.pipelines[n].config
    local foreign = {}
    for _, other in ipairs(names) do
      if other ~= n then foreign = concat(foreign, owned[other]) end
    end
    for _, d in ipairs(data) do
      local b = d.bucket
      if b.domain == cfg.domain and b.layer == "service" and has_athena(cfg) then
        -- its Athena results go to its prefix of the domain's service
        -- bucket (lake.pipeline.steps.athena): the bucket itself (ListBucket,
        -- GetBucketLocation) is its too; the bucket's other objects, its
        -- database and tables are not
        local rest = {}
        for _, x in ipairs(d.res) do
          if x.arn ~= d.res[1].arn then rest[#rest + 1] = x end
        end
        foreign = concat(foreign, rest)
      elseif not (b.domain == cfg.domain and (b.layer == cfg.origin or b.layer == cfg.target)) then
        foreign = concat(foreign, d.res)
      end
    end
    for _, role in ipairs(roles_of(templates[p.stack.name])) do
      count.roles = count.roles + 1
      local who = ("pipeline %s role %s"):format(n, role.id)
      findings = concat(findings, M.check(who, M.statements(role.props, who), foreign, count))
    end
  end
  -- the crawlers' roles: their own bucket and database only
  local shared = templates[dl.shared_stack.name]
  local crawled = {}
  for _, r in pairs(shared.Resources) do
    if r.Type == "AWS::Glue::Crawler" then crawled[r.Properties.Role["Fn::GetAtt"][1]] = r.Properties.Name end
  end
  local crawler_roles = 0
  for _, role in ipairs(roles_of(shared)) do
    local crawler = crawled[role.id]
    if crawler then
      crawler_roles = crawler_roles + 1
      count.roles = count.roles + 1
      local foreign = {}
      for _, n in ipairs(names) do foreign = concat(foreign, owned[n]) end
      for _, d in ipairs(data) do
        if d.bucket.crawler ~= crawler then foreign = concat(foreign, d.res) end
      end
      -- and the other layers' databases of its own domain
      local who = ("crawler %s role %s"):format(crawler, role.id)
      findings = concat(findings, M.check(who, M.statements(role.props, who), foreign, count))
    end
  end
  count.crawler_roles = crawler_roles
  local wide
  wide, count.all_roles = M.lake_wide(templates)
  findings = concat(findings, wide)
  table.sort(findings)
  return findings, count, templates
end

local function report(label, count)
  io.stderr:write(("\n  reach (%s): %d roles (%d pipeline roles, %d crawler roles; %d in all templates), "
    .. "%d statements, %d action/resource pairs, %d pair x resource checks\n"):format(label, count.roles,
    count.roles - count.crawler_roles, count.crawler_roles, count.all_roles, count.statements, count.pairs,
    count.checks))
end

describe("IAM reach of a two-domain, three-pipeline lake #unit", function()
  for _, vpc in ipairs({ false, true }) do
    local label = vpc and "with a VPC" or "without a VPC"
    it("no role of a pipeline reaches another domain's or pipeline's resources, " .. label, function()
      local findings, count, templates = check_lake(vpc)
      assert(#findings == 0, "roles reaching what is not theirs:\n  " .. table.concat(findings, "\n  "))
      report(label, count)
      -- the figures say the check looked at something: 3 pipelines with
      -- trigger, catch and state machine roles, 2 lambda and 3 glue roles,
      -- a2's own crawler role (its crawler step on the service bucket), 2 lake crawlers
      assert.equal(2, count.crawler_roles)
      assert.equal(3 + 3 + 3 + 2 + 3 + 1, count.roles - count.crawler_roles)
      assert.is_true(count.pairs > 100, "pairs: " .. tostring(count.pairs))
      assert.is_true(count.checks > 5000, "checks: " .. tostring(count.checks))
      -- in a VPC, the functions' roles manage ENIs in the lake's VPC only
      local a1 = templates["lake-a1-stack-test"].Resources
      local trigger = M.statements(a1.TriggerRole.Properties, "a1 trigger")
      local sids = {}
      for _, st in ipairs(trigger) do sids[#sids + 1] = st.sid end
      if vpc then
        assert.same({ "StartPipeline", "WriteLogs", "DeadLetters", "ManageNetworkInterfacesInLakeVpc",
          "DescribeNetworkInterfaces" }, sids)
        local eni = a1.TriggerRole.Properties.Policies[1].PolicyDocument.Statement[4]
        assert.equal("arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-0reach0000000000",
          resolve(eni.Condition.ArnEquals["ec2:Vpc"], "condition"))
        assert.same({ { id = "AwsSolutions-IAM5", reason = require("lake.functions").VPC_DESCRIBE_REASON,
          applies_to = { "Resource::*" } } }, star_suppressions(a1.TriggerRole))
      else
        assert.same({ "StartPipeline", "WriteLogs", "DeadLetters" }, sids)
        assert.same({}, star_suppressions(a1.TriggerRole))
      end
    end)
  end

  it("crawler roles name only their bucket, their database and tables, and their own log stream", function()
    local _, _, templates = check_lake(false)
    local role = templates["lake-shared-stack-test"].Resources.BRawCrawlerRole.Properties
    local got = {}
    for _, st in ipairs(M.statements(role, "b raw crawler")) do
      got[st.sid] = st.resources
    end
    assert.same({
      ListBucket = { "arn:aws:s3:::b-raw-eu-west-1-123456789012-test" },
      ReadObjects = { "arn:aws:s3:::b-raw-eu-west-1-123456789012-test/*" },
      CatalogCrawledTables = { "arn:aws:glue:eu-west-1:123456789012:catalog",
        "arn:aws:glue:eu-west-1:123456789012:database/b_raw_test",
        "arn:aws:glue:eu-west-1:123456789012:table/b_raw_test/*" },
      CreateCrawlerLogGroup = { "arn:aws:logs:eu-west-1:123456789012:log-group:/aws-glue/crawlers" },
      WriteCrawlerLogs = { "arn:aws:logs:eu-west-1:123456789012:log-group:/aws-glue/crawlers:log-stream:"
        .. "b-raw-crawler-test" },
    }, got)
  end)
end)

describe("a standalone function in the lake's VPC (datalake:lambda_function) #unit", function()
  it("gets the ENI statements of its VPC and the reason for their '*', no managed policy", function()
    local lake = require("lake")
    local files = lake_tree.module({}, "functions/worker")
    files["standalone/worker.lua"] = [[
local app, datalake = ...
local stack = app:stack("worker-stack-" .. datalake.stage)
datalake:lambda_function(stack, "Worker", { folder = "functions/worker" })
datalake:lambda_function(stack, "Outside", { folder = "functions/worker", vpc = false })
]]
    local dir = lake_tree.tree(files)
    local app = lake.App { root = dir }
    lake.DatalakeBuilder { scope = app, lake_name = "Own Lake", env = "dev", lake_domains = { "example" },
      enable_vpc = true, region = REGION, account_id = ACCOUNT, standalone = { dir .. "/standalone/worker.lua" } }
      :build()
    lake_tree.remove(dir)
    assert.same({}, app.problems)
    local tpl = assembly.template(app:get_stack("worker-stack-dev"), { assets = lake_tree.ASSETS })
    local inside, outside = tpl.Resources.WorkerRole, tpl.Resources.OutsideRole
    assert.is_nil(inside.Properties.ManagedPolicyArns)
    local sids = {}
    for _, st in ipairs(M.statements(inside.Properties, "worker")) do sids[#sids + 1] = st.sid end
    assert.same({ "WriteLogs", "ManageNetworkInterfacesInLakeVpc", "DescribeNetworkInterfaces" }, sids)
    assert.equal(1, #star_suppressions(inside))
    sids = {}
    for _, st in ipairs(M.statements(outside.Properties, "outside")) do sids[#sids + 1] = st.sid end
    assert.same({ "WriteLogs" }, sids)
    assert.same({}, star_suppressions(outside))
    assert.same({}, (M.lake_wide({ worker = tpl })))
  end)
end)

describe("the reach checker itself #unit", function()
  local foreign = {
    { arn = "arn:aws:s3:::b-raw-eu-west-1-123456789012-test", owner = "domain b, layer raw" },
    { arn = "arn:aws:s3:::b-raw-eu-west-1-123456789012-test/incoming/x.json", owner = "domain b, layer raw" },
    { arn = "arn:aws:glue:eu-west-1:123456789012:table/b_raw_test/events", owner = "domain b, layer raw" },
    { arn = "arn:aws:lambda:eu-west-1:123456789012:function:b1-trigger-test", owner = "pipeline b1" },
  }
  local function st(sid, actions, resources) return { sid = sid, actions = actions, resources = resources } end

  it("reports a statement whose resource is too wide, naming role, Sid, action and resource", function()
    local f = M.check("pipeline a1 role LambdaStepsRole", { st("ReadWrite", { "s3:GetObject" }, { "arn:aws:s3:::*" }) },
      foreign)
    assert.same({ "pipeline a1 role LambdaStepsRole: statement ReadWrite, action s3:GetObject on arn:aws:s3:::* "
      .. "reaches arn:aws:s3:::b-raw-eu-west-1-123456789012-test (domain b, layer raw)",
      "pipeline a1 role LambdaStepsRole: statement ReadWrite, action s3:GetObject on arn:aws:s3:::* "
      .. "reaches arn:aws:s3:::b-raw-eu-west-1-123456789012-test/incoming/x.json (domain b, layer raw)" }, f)
  end)

  it("matches ? and * inside names, and service wildcards in actions", function()
    assert.equal(1, #M.check("r", { st("S", { "glue:GetTable" }, { "arn:aws:glue:*:*:table/?_raw_test/*" }) }, foreign))
    assert.equal(1, #M.check("r", { st("S", { "lambda:Invoke*" }, { "arn:aws:lambda:*:*:function:*-test" }) }, foreign))
    local f = M.check("r", { st("S", { "s3:*" }, { "arn:aws:s3:::a-raw-eu-west-1-123456789012-test" }) }, foreign)
    assert.same({ "r: statement S allows s3:* (a whole service)" }, f)
    assert.equal(5, #M.check("r", { st("S", { "*" }, { "*" }) }, foreign)) -- 4 resources and the action
  end)

  it("does not report what stays inside: another service's '*' or the role's own names", function()
    assert.same({}, M.check("r", { st("S", { "ec2:DescribeNetworkInterfaces" }, { "*" }) }, foreign))
    assert.same({}, M.check("r", { st("S", { "s3:GetObject" }, { "arn:aws:s3:::a-raw-eu-west-1-123456789012-test/*" }) },
      foreign))
    assert.same({}, M.check("r", { st("S", { "lambda:InvokeFunction" },
      { "arn:aws:lambda:eu-west-1:123456789012:function:b1-trigger-test2" }) }, foreign))
  end)

  it("does not count actions that take no resource, but does count a log write on '*'", function()
    local logs = { { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/b1-trigger-test:log-stream:s",
      owner = "pipeline b1" } }
    assert.same({}, M.check("r", { st("DeliverLogs", { "logs:CreateLogDelivery", "logs:DescribeLogGroups" }, { "*" }) },
      logs))
    assert.same({ "r: statement W, action logs:PutLogEvents on * reaches " .. logs[1].arn .. " (pipeline b1)" },
      M.check("r", { st("W", { "logs:PutLogEvents" }, { "*" }) }, logs))
  end)

  it("refuses what it cannot resolve, and reads Fn::Sub, Fn::Join and Ref", function()
    assert.equal("arn:aws:s3:::x-eu-west-1", resolve({ ["Fn::Sub"] = "arn:${AWS::Partition}:s3:::x-${AWS::Region}" }, "t"))
    assert.equal("a/vpc-0reach0000000000", resolve({ ["Fn::Join"] = { "/", { "a", { Ref = "VpcId" } } } }, "t"))
    local ok, err = pcall(resolve, { ["Fn::Sub"] = "${Other.Arn}" }, "stack x role y")
    assert.is_false(ok)
    assert.equal('stack x role y: cannot resolve ${Other.Arn} in "${Other.Arn}"', err)
    ok, err = pcall(resolve, { ["Fn::GetAtt"] = { "Q", "Arn" } }, "w")
    assert.is_false(ok)
    assert.equal("w: cannot resolve {Fn::GetAtt}", err)
  end)

  it("reports a managed policy or a whole-service action on any role of the lake", function()
    local app, _, templates = load_app(false)
    assert.same({}, (M.lake_wide(templates)))
    local shared = app:get_stack("lake-shared-stack-test")
    shared:add("iam_role", "Intruder", { AssumeRolePolicyDocument = { Version = "2012-10-17", Statement = { {
      Effect = "Allow", Principal = { Service = "glue.amazonaws.com" }, Action = "sts:AssumeRole" } } },
      ManagedPolicyArns = { "arn:aws:iam::aws:policy/service-role/AWSGlueServiceRole" },
      Policies = { { PolicyName = "all", PolicyDocument = { Version = "2012-10-17", Statement = { {
        Sid = "Everything", Effect = "Allow", Action = "glue:*", Resource = "*" } } } } } })
    local tpl = assembly.template(shared, { assets = lake_tree.ASSETS })
    assert.same({ "stack shared role Intruder: has ManagedPolicyArns",
      "stack shared role Intruder: statement Everything allows glue:* (a whole service)" },
      (M.lake_wide({ shared = tpl })))
  end)
end)

describe("the reach lake with a VPC, deployed to moto #integration", function()
  local moto = require("spec.support.moto")
  local query = require("lake.aws.query")
  local project, server, run

  setup(function()
    project = moto.project { from = ROOT, prefix = "lakehost-reach-",
      env = { REACH_VPC = "1", AWS_REGION = "eu-west-1", AWS_DEFAULT_REGION = "eu-west-1" } }
    server, run = project.server, project.run
  end)

  teardown(function()
    if project then project.stop() end
  end)

  it("deploys every stack, and the roles hold their inline statements and no managed policy", function()
    local out, err, code = run({ "deploy", "--require-approval", "never" })
    assert(code == 0, (out or "") .. (err or ""))
    local c = server.client()
    c.region = "eu-west-1"
    local roles = { ["a1-trigger-eu-west-1-test"] = "start-pipeline", ["a1-glue-eu-west-1-test"] = "glue-steps",
      ["b1-lambda-eu-west-1-test"] = "lambda-steps" }
    local vpc, verr = require("lake.aws.jsonrpc").call(c, "ssm", "GetParameter", { Name = "/reach-lake/test/vpc/id" })
    assert.is_table(vpc, tostring(verr))
    for _, name in ipairs({ "a1-glue-eu-west-1-test", "a1-trigger-eu-west-1-test", "b1-lambda-eu-west-1-test" }) do
      local r, rerr = query.call(c, "iam", "2010-05-08", "ListAttachedRolePolicies", { RoleName = name })
      assert.is_table(r, tostring(rerr))
      -- an empty list reads as "" (query protocol, no members)
      assert.equal("", r.AttachedPolicies, name)
      local p, perr = query.call(c, "iam", "2010-05-08", "GetRolePolicy", { RoleName = name, PolicyName = roles[name] })
      assert.is_table(p, tostring(perr))
      -- moto 5.2.1 gives the document of a role made by CloudFormation as a
      -- Python repr ({'Sid': ...}), not JSON: read it as text
      local doc = p.PolicyDocument:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
      local function has(text) return doc:find(text, 1, true) ~= nil end
      assert.is_true(has("WriteLogs") or has("WriteGlueJobLogs"), doc)
      if name == "a1-glue-eu-west-1-test" then
        assert.is_true(has("ReadJobCode") and has("/aws-glue/jobs/output:*"), doc)
        assert.is_false(has("ManageNetworkInterfacesInLakeVpc"), doc)
      else
        -- the pipeline stack read the VPC's id from SSM at deploy
        assert.matches("^vpc%-%x+$", vpc.Parameter.Value)
        assert.is_true(has("ManageNetworkInterfacesInLakeVpc"), doc)
        assert.is_true(has("arn:aws:ec2:eu-west-1:123456789012:vpc/" .. vpc.Parameter.Value), doc)
      end
    end
  end)
end)
