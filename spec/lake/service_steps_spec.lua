-- The athena, crawler and notify step types (issue 20): their config keys
-- and refusals (file:line, every problem in one run), their resources and
-- the state machine role's statements, statement by statement, cfn-lint and
-- asl-validator over a pipeline using the three, and `run` against moto:
-- the query reaches Athena, the crawler is started on moto (and waited for
-- against a stand-in for GetCrawler), the message arrives on an SQS queue
-- subscribed to the topic.
local fs = require("host.fs")
local json = require("host.json")
local lake_tree = require("spec.lake.support.lake_tree")
local util = require("spec.support.util")

local FIXTURE = util.cwd() .. "/spec/fixtures/apps/services"

-- A copy of the fixture in a temporary folder, with the example pipeline's
-- trigger, catch and shared modules (the fixture keeps only what is its own).
local function fixture_copy(prefix)
  local dir = assert(fs.tmpdir(prefix))
  local q = util.shquote
  assert(os.execute(("cp -R %s/. %s/ && cp -R pipelines/pipeline_example/trigger pipelines/pipeline_example/catch "
    .. "%s/pipelines/services/ && cp -R shared %s/"):format(q(FIXTURE), q(dir), q(dir), q(dir))))
  return dir
end

-- An app folder with one pipeline p of the given steps (config text) and
-- module folders (name -> { [file] = text }); returns its root.
local function project(steps_text, modules, extra)
  local cfg = "name: p\ndomain: example\nlayers: {origin: raw, target: trusted}\n" .. (extra or "")
    .. "steps:\n" .. steps_text
  local files = lake_tree.pipeline({}, "p", cfg, {})
  for m, fs_ in pairs(modules or {}) do
    for f, text in pairs(fs_) do files["pipelines/p/steps/" .. m .. "/" .. f] = text end
  end
  files["app.lua"] = lake_tree.app_lua {
    options = 'account_id = "123456789012", encryption = os.getenv("TOY_KMS") == "1" and "kms" or nil, ' }
  return lake_tree.tree(files)
end

local function validate(root, env)
  local _, err, code = util.lakehost({ root .. "/app.lua", "validate" }, { env = env })
  return err, code
end

local function synth(root, env)
  local out = root .. "/out"
  local _, err, code = util.lakehost({ root .. "/app.lua", "synth", "--out", out }, { env = env })
  assert.equal(0, code, err)
  local tpl = json.decode(assert(fs.read(out .. "/lake-p-stack-dev.template.json")))
  local text = tpl.Resources.StateMachine.Properties.DefinitionString["Fn::Sub"]
  local def = json.decode((text:gsub("%${AWS::Partition}", "aws"):gsub("%${AWS::[%w]+}", "x")))
  return tpl, def, out
end

-- The state machine role's statements by Sid, resolved to text.
local function sm_statements(tpl)
  local out = {}
  for _, pol in ipairs(tpl.Resources.StateMachineRole.Properties.Policies) do
    for _, st in ipairs(pol.PolicyDocument.Statement) do
      local res = {}
      for _, r in ipairs(type(st.Resource) == "table" and st.Resource[1] and st.Resource or { st.Resource }) do
        res[#res + 1] = type(r) == "string" and r or r.Ref and ("Ref:" .. r.Ref)
          or (r["Fn::Sub"]:gsub("%${AWS::Partition}", "aws"):gsub("%${AWS::Region}", "us-east-1"))
      end
      out[st.Sid] = { actions = st.Action, resources = res, condition = st.Condition }
    end
  end
  return out
end

local SQL = "SELECT count(*) FROM \"${database}\".\"t\" WHERE k = '${origin_key}' AND j = '{}' -- it's\n"

describe("athena, crawler and notify steps: config.yml #unit", function()
  it("accepts each type's keys and builds its state", function()
    local root = project([[
  Q:
    type: athena
    properties: {module: q, next_step: C, timeout_minutes: 5}
  C:
    type: crawler
    properties: {bucket: origin, poll_seconds: 10, next_step: N}
  N:
    type: notify
    properties: {topic: errors, subject: "loaded ${origin_key}", message: "${origin_key} in ${file.type}"}
]], { q = { ["query.sql"] = SQL } }, "contract: {origin_key: str}\n")
    local tpl, def = synth(root)
    -- athena: the SQL as a States.Format template, its quotes and braces escaped
    local q = def.States.Q
    assert.equal("arn:aws:states:::athena:startQueryExecution.sync", q.Resource)
    assert.equal("States.Format('SELECT count(*) FROM \"{}\".\"t\" WHERE k = \\'{}\\' AND j = \\'\\{\\}\\' "
      .. "-- it\\'s\n', $.database, $.origin_key)", q.Parameters["QueryString.$"])
    assert.equal("p-athena-dev", q.Parameters.WorkGroup)
    assert.same({ Catalog = "AwsDataCatalog", Database = "example_trusted_dev" }, q.Parameters.QueryExecutionContext)
    assert.equal(json.null, q.ResultPath)
    assert.equal(300, q.TimeoutSeconds)
    -- crawler: the lake's raw crawler, and the loop after it
    assert.equal("arn:aws:states:::aws-sdk:glue:startCrawler", def.States.C.Resource)
    assert.same({ Name = "example-raw-crawler-dev" }, def.States.C.Parameters)
    assert.equal("C.Wait", def.States.C.Next)
    assert.equal(10, def.States["C.Wait"].Seconds)
    assert.equal("arn:aws:states:::aws-sdk:glue:getCrawler", def.States["C.Poll"].Resource)
    assert.equal("N", def.States["C.Ready"].Default)
    assert.equal("ErrorCatch", def.States["C.Failed"].Next)
    assert.is_nil(def.States["C.Done"])
    assert.is_nil(tpl.Resources.OriginCrawler) -- the lake has one on raw
    -- notify
    assert.same({ TopicArn = "arn:aws:sns:x:123456789012:toy-lake-errors-dev",
      ["Subject.$"] = "States.Format('loaded {}', $.origin_key)",
      ["Message.$"] = "States.Format('{} in {}', $.origin_key, $.file.type)" }, def.States.N.Parameters)
    assert.equal(json.null, def.States.N.ResultPath)
    assert.is_true(def.States.N.End)
    -- the diagram: each type's own shape
    local mmd = assert(fs.read(root .. "/out/lake-p-stack-dev.p-state-machine-dev.mmd"))
    assert.matches('s1[("Q<br/><small>athena step, module q</small>")]', mmd, 1, true)
    assert.matches('[\\"C<br/><small>crawler step, origin bucket, polls every 10 s</small>"\\]', mmd, 1, true)
    assert.matches('>"N<br/><small>notify step, topic errors</small>"]', mmd, 1, true)
    lake_tree.remove(root)
  end)

  it("keeps a query without ${...} as it is, and defaults (target crawler of its own, errors topic)", function()
    local root = project([[
  Q:
    type: athena
    properties: {module: q, next_step: C}
  C:
    type: crawler
    properties: {next_step: N}
  N:
    type: notify
    properties: {message: plain text}
]], { q = { ["query.sql"] = "SELECT 1\n" } })
    local tpl, def = synth(root)
    assert.equal("SELECT 1\n", def.States.Q.Parameters.QueryString)
    assert.equal(1800, def.States.Q.TimeoutSeconds)
    assert.equal("p-target-crawler-dev", def.States.C.Parameters.Name)
    assert.equal(30, def.States["C.Wait"].Seconds)
    assert.equal("plain text", def.States.N.Parameters.Message)
    assert.is_nil(def.States.N.Parameters.Subject)
    local crawler = tpl.Resources.TargetCrawler
    assert.equal("AWS::Glue::Crawler", crawler.Type)
    assert.equal("example_trusted_dev", crawler.Properties.DatabaseName)
    assert.equal("toy-lake-dev", crawler.Properties.CrawlerSecurityConfiguration)
    assert.same({ ["Fn::GetAtt"] = { "CrawlerRole", "Arn" } }, crawler.Properties.Role)
    lake_tree.remove(root)
  end)

  it("ends the execution after a last crawler step (C.Done)", function()
    local root = project("  C:\n    type: crawler\n    properties: {bucket: origin}\n")
    local _, def = synth(root)
    assert.equal("C.Done", def.States["C.Ready"].Default)
    assert.equal("Succeed", def.States["C.Done"].Type)
    lake_tree.remove(root)
  end)

  it("refuses bad properties and query.sql problems with file:line, all in one run", function()
    local root = project([[
  Q:
    type: athena
    properties: {module: q, next_step: Q2, timeout_minutes: 0, sql: x}
  Q2:
    type: athena
    properties: {module: nosuch, next_step: C}
  C:
    type: crawler
    properties: {bucket: service, poll_seconds: 0, next_step: N}
  N:
    type: notify
    properties: {topic: "my-topic", subject: "a ${b c}", message: 5, next_step: N2}
  N2:
    type: notify
    properties: {subject: x}
]], { q = { ["query.sql"] = "SELECT 1\nFROM ${databse}\nWHERE x = '${origin_key}'\nAND y = ${oops\n" } },
      "contract: {day: str}\n")
    local err, code = validate(root)
    assert.equal(2, code)
    assert.equal(table.concat({
      "pipelines/p/config.yml:8: steps.Q.properties.sql: unknown key (allowed: module, next_step, timeout_minutes)",
      "pipelines/p/config.yml:8: steps.Q.properties.timeout_minutes: must be between 1 and 2880, got 0",
      "pipelines/p/config.yml:11: steps.Q2.properties.module: no folder pipelines/p/steps/nosuch (an athena step's "
        .. "folder holds query.sql)",
      "pipelines/p/config.yml:14: steps.C.properties.bucket: expected one of origin, target, got 'service'",
      "pipelines/p/config.yml:14: steps.C.properties.poll_seconds: must be between 1 and 3600, got 0",
      "pipelines/p/config.yml:17: steps.N.properties.message: expected a string, got an integer (quote it: '5')",
      "pipelines/p/config.yml:17: steps.N.properties.subject: '${b c}' is not a field of the state (use names "
        .. "such as ${origin_key} or ${file.type})",
      "pipelines/p/config.yml:17: steps.N.properties.topic: expected errors (the lake's error topic) or an SNS "
        .. "topic ARN (arn:aws:sns:<region>:<account>:<name>), got 'my-topic'",
      "pipelines/p/config.yml:20: steps.N2.properties.message: is required",
      "pipelines/p/steps/q/query.sql:2: unknown variable ${databse} (did you mean 'database'?) (known: database, "
        .. "origin_bucket, target_bucket, and the contract's keys)",
      "pipelines/p/steps/q/query.sql:3: unknown variable ${origin_key} (known: database, origin_bucket, "
        .. "target_bucket, and the contract's keys)",
      "pipelines/p/steps/q/query.sql:4: '${' without its closing '}'",
      "lakehost: 12 problems found; nothing was written", "" }, "\n"), err)
    lake_tree.remove(root)
  end)

  it("refuses an athena folder without query.sql, an empty query, and a crawler step name too long", function()
    local long = "C" .. string.rep("x", 75)
    local root = project(([[
  Q:
    type: athena
    properties: {module: q, next_step: E}
  E:
    type: athena
    properties: {module: e, next_step: %s}
  %s:
    type: crawler
    properties: {}
]]):format(long, long), { q = { ["README"] = "no query here\n" }, e = { ["query.sql"] = "  \n" } })
    local err, code = validate(root)
    assert.equal(2, code)
    assert.matches("pipelines/p/config.yml:7: steps.Q.properties.module: pipelines/p/steps/q/query.sql is missing: "
      .. "an athena step runs the SQL there\n", err, 1, true)
    assert.matches("pipelines/p/steps/e/query.sql:1: is empty: an athena step runs the SQL there\n", err, 1, true)
    assert.matches("pipelines/p/config.yml:11: steps." .. long .. ": a crawler step's states are named "
      .. long .. ".Wait and so on, at most 80 characters: shorten the step's name to 73\n", err, 1, true)
    lake_tree.remove(root)
  end)
end)

describe("athena, crawler and notify steps: resources and roles #unit", function()
  local FULL = [[
  Q:
    type: athena
    properties: {module: q, next_step: C}
  C:
    type: crawler
    properties: {bucket: target, next_step: N}
  N:
    type: notify
    properties: {message: "done ${origin_key}", next_step: M}
  M:
    type: notify
    properties: {topic: "arn:aws:sns:us-east-1:123456789012:team-news", message: hi}
]]

  it("gives the state machine role what the steps need, statement by statement", function()
    local root = project(FULL, { q = { ["query.sql"] = SQL } }, "contract: {origin_key: str}\n")
    local tpl = synth(root)
    local st = sm_statements(tpl)
    local R = "arn:aws:s3:::example-raw-us-east-1-123456789012-dev"
    local T = "arn:aws:s3:::example-trusted-us-east-1-123456789012-dev"
    local S = "arn:aws:s3:::example-service-us-east-1-123456789012-dev"
    local G = "arn:aws:glue:us-east-1:123456789012:"
    assert.same({ actions = { "athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
      "athena:StopQueryExecution" }, resources = { "arn:aws:athena:us-east-1:123456789012:workgroup/p-athena-dev" } },
      st.RunQueries)
    assert.same({ actions = { "athena:GetDataCatalog" },
      resources = { "arn:aws:athena:us-east-1:123456789012:datacatalog/AwsDataCatalog" } }, st.ReadQueryCatalog)
    assert.same({ actions = { "glue:GetDatabase", "glue:GetTable", "glue:GetPartitions" }, resources = {
      G .. "catalog", G .. "database/example_raw_dev", G .. "table/example_raw_dev/*",
      G .. "database/example_trusted_dev", G .. "table/example_trusted_dev/*" } }, st.ReadQueryTables)
    assert.same({ actions = { "s3:ListBucket", "s3:GetBucketLocation" }, resources = { R, T, S } }, st.ListQueryBuckets)
    assert.same({ actions = { "s3:GetObject" }, resources = { R .. "/*", T .. "/*" } }, st.ReadQueryData)
    assert.same({ actions = { "s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts" },
      resources = { S .. "/athena-results/p/*" } }, st.WriteQueryResults)
    assert.same({ actions = { "glue:StartCrawler", "glue:GetCrawler" },
      resources = { G .. "crawler/p-target-crawler-dev" } }, st.RunCrawlers)
    assert.same({ actions = { "sns:Publish" }, resources = { "arn:aws:sns:us-east-1:123456789012:toy-lake-errors-dev",
      "arn:aws:sns:us-east-1:123456789012:team-news" } }, st.PublishNotices)
    -- no wildcard action anywhere, and "*" only for the log delivery actions
    for sid, s in pairs(st) do
      for _, a in ipairs(s.actions) do assert.is_nil(a:find("*", 1, true), sid .. ": " .. a) end
      for _, r in ipairs(s.resources) do
        if r == "*" then assert.equal("DeliverLogs", sid) end
      end
    end
    -- the workgroup: enforced, results in the pipeline's prefix, SSE-S3
    local wg = tpl.Resources.AthenaWorkGroup.Properties
    assert.equal("p-athena-dev", wg.Name)
    assert.is_true(wg.WorkGroupConfiguration.EnforceWorkGroupConfiguration)
    assert.same({ EncryptionOption = "SSE_S3" }, wg.WorkGroupConfiguration.ResultConfiguration.EncryptionConfiguration)
    assert.same({ ["Fn::Sub"] = "s3://example-service-${AWS::Region}-123456789012-dev/athena-results/p/" },
      wg.WorkGroupConfiguration.ResultConfiguration.OutputLocation)
    -- the crawler role: its bucket and database only
    local cst = {}
    for _, s in ipairs(tpl.Resources.CrawlerRole.Properties.Policies[1].PolicyDocument.Statement) do cst[s.Sid] = s end
    assert.same({ "ListBucketTarget", "ReadObjectsTarget", "CatalogCrawledTablesTarget", "CreateCrawlerLogGroupTarget",
      "WriteCrawlerLogsTarget" }, (function()
      local out = {}
      for _, s in ipairs(tpl.Resources.CrawlerRole.Properties.Policies[1].PolicyDocument.Statement) do
        out[#out + 1] = s.Sid
      end
      return out
    end)())
    assert.same({ ["Fn::Sub"] = "arn:${AWS::Partition}:s3:::example-trusted-${AWS::Region}-123456789012-dev/*" },
      cst.ReadObjectsTarget.Resource)
    lake_tree.remove(root)
  end)

  it("with encryption = 'kms': SSE_KMS results under the lake key, the key for the queries and the topic", function()
    local root = project(FULL, { q = { ["query.sql"] = SQL } }, "contract: {origin_key: str}\n")
    local env = { TOY_KMS = "1" }
    local tpl = synth(root, env)
    local enc = tpl.Resources.AthenaWorkGroup.Properties.WorkGroupConfiguration.ResultConfiguration
      .EncryptionConfiguration
    assert.equal("SSE_KMS", enc.EncryptionOption)
    assert.same({ Ref = "LakeKeyArn" }, enc.KmsKey)
    local st = sm_statements(tpl)
    assert.same({ "kms:Decrypt", "kms:GenerateDataKey" }, st.UseLakeKeyForQueries.actions)
    assert.same({ "Ref:LakeKeyArn" }, st.UseLakeKeyForQueries.resources)
    assert.same({ { ["Fn::Sub"] = "s3.${AWS::Region}.amazonaws.com" } },
      st.UseLakeKeyForQueries.condition.StringEquals["kms:ViaService"])
    assert.same({ { ["Fn::Sub"] = "sns.${AWS::Region}.amazonaws.com" } },
      st.UseLakeKeyForNotices.condition.StringEquals["kms:ViaService"])
    lake_tree.remove(root)
  end)

  it("synthesizes a pipeline of the three cfn-lint clean, its state machine valid for asl-validator", function()
    local root = fixture_copy("lakehost-services-")
    local out = root .. "/out"
    local _, err, code = util.lakehost({ root .. "/app.lua", "synth", "--out", out })
    assert.equal(0, code, err)
    local ok, text = util.cfn_lint(util.shquote(out) .. "/*.template.json")
    assert.is_true(ok, text)
    local state_machine = require("lake.pipeline.state_machine")
    local tpl = json.decode(assert(fs.read(out .. "/lake-services-stack-dev.template.json")))
    local text2 = tpl.Resources.StateMachine.Properties.DefinitionString["Fn::Sub"]
      :gsub("%${AWS::Partition}", "aws"):gsub("%${AWS::[%w]+}", "us-east-1")
    local valid, said = require("spec.support.cdknag").asl_validate({
      services = state_machine.render(json.decode(text2)) })
    if valid == nil then
      print("service_steps_spec: asl-validator skipped: " .. tostring(said))
    else
      assert.is_true(valid, said)
      assert.matches("is valid", said, 1, true)
    end
    fs.remove_tree(root)
  end)
end)

-- ---- run, against moto -------------------------------------------------------------

local moto = require("spec.support.moto")

describe("athena, crawler and notify steps run against moto #integration", function()
  local server, dir, c, queue_url, proxy, proxy_url
  local proc = require("host.proc")
  local rpc = require("lake.aws.jsonrpc")
  local query = require("lake.aws.query")
  local RAW = "example-raw-us-east-1-123456789012-dev"

  local function run_pipeline(key, extra_env)
    local event = { version = "0", id = "id-" .. key, ["detail-type"] = "Object Created", source = "aws.s3",
      account = "123456789012", region = "us-east-1", time = "2024-05-01T10:00:00Z",
      resources = { "arn:aws:s3:::" .. RAW },
      detail = { bucket = { name = RAW }, object = { key = key, size = 2, etag = "x" }, reason = "PutObject" } }
    local file = dir .. "/event.json"
    assert(fs.write(file, json.encode(event)))
    local env = { LAKEHOST_CACHE_DIR = dir .. "/.cache", AWS_ENDPOINT_URL_GLUE = proxy_url }
    for k, v in pairs(server.env) do env[k] = v end
    for k, v in pairs(extra_env or {}) do env[k] = v end
    return util.lakehost({ dir .. "/app.lua", "run", "services", "--event", file, "--endpoint", server.url,
      "--out", dir .. "/out" }, { env = env, cwd = dir })
  end

  local function receive()
    local r = assert(query.call(c, "sqs", "2012-11-05", "ReceiveMessage", { QueueUrl = queue_url,
      MaxNumberOfMessages = 10, WaitTimeSeconds = 1 }))
    local out = {}
    for _, m in ipairs(query.list(r.ReceiveMessageResult and r.ReceiveMessageResult.Message or r.Message)) do
      local note = json.decode(m.Body)
      out[#out + 1] = { subject = note.Subject, message = note.Message }
    end
    return out
  end

  -- The GetCrawler stand-in in front of moto; returns it and its URL.
  local function start_proxy(last)
    local argv = { "python3", util.cwd() .. "/spec/support/crawlerproxy.py", server.url, last }
    local h = assert(proc.spawn { argv = argv, stdout = "capture", stderr = "null" })
    return h, "http://127.0.0.1:" .. assert(h:read_line("stdout", 10)):match("^PORT (%d+)")
  end

  setup(function()
    server = moto.start()
    c = server.client()
    dir = fixture_copy("lakehost-services-run-")
    -- what a deploy would have made (moto's CloudFormation skips Glue)
    local topic = assert(query.call(c, "sns", "2010-03-31", "CreateTopic", { Name = "example-lake-errors-dev" }))
    local topic_arn = (topic.CreateTopicResult or topic).TopicArn
    for _, n in ipairs({ "example-raw-crawler-dev", "services-target-crawler-dev" }) do
      assert(rpc.call(c, "glue", "CreateCrawler", { Name = n, Role = "arn:aws:iam::123456789012:role/crawler",
        DatabaseName = "example_raw_dev", Targets = { S3Targets = { { Path = "s3://" .. RAW .. "/" } } } }))
    end
    assert(rpc.call(c, "athena", "CreateWorkGroup", { Name = "services-athena-dev", Configuration = {
      ResultConfiguration = { OutputLocation = "s3://example-service-us-east-1-123456789012-dev/athena-results/services/" },
      EnforceWorkGroupConfiguration = true } }))
    local q = assert(query.call(c, "sqs", "2012-11-05", "CreateQueue", { QueueName = "notices" }))
    queue_url = (q.CreateQueueResult or q).QueueUrl
    assert(query.call(c, "sns", "2010-03-31", "Subscribe", { TopicArn = topic_arn, Protocol = "sqs",
      Endpoint = "arn:aws:sqs:us-east-1:123456789012:notices", ["Attributes.entry.1.key"] = "RawMessageDelivery",
      ["Attributes.entry.1.value"] = "false" }))
  end)

  teardown(function()
    if proxy then proxy:close() end
    if server then server.stop() end
    if dir then fs.remove_tree(dir) end
  end)

  it("runs the query on Athena, starts and waits for both crawlers, and publishes the notice (exit 0)", function()
    proxy, proxy_url = start_proxy("SUCCEEDED")
    local out, err, code = run_pipeline("example/orders.json")
    assert.equal(0, code, err)
    for _, step in ipairs({ "Summarize", "CatalogRaw", "CatalogRaw.Wait", "CatalogRaw.Poll", "CatalogRaw.Ready",
      "CatalogTrusted", "CatalogTrusted.Poll", "Announce" }) do
      assert.matches("\n  " .. step:gsub("%.", "%%.") .. " +%d+%.%d%d s  succeeded", err)
    end
    assert.matches("\nSUCCEEDED in ", err)
    -- polled twice each: RUNNING, then READY
    local _, polls = err:gsub("\n  CatalogRaw%.Poll ", "")
    assert.equal(2, polls)
    -- the output: the input, plus the crawler as last described
    local output = json.decode(out)
    assert.equal("example/orders.json", output.origin_key)
    assert.equal("READY", output.crawler.Crawler.State)
    -- the query reached Athena, its variables filled from the state
    local list = assert(rpc.call(c, "athena", "ListQueryExecutions", { WorkGroup = "services-athena-dev" }))
    assert.equal(1, #list.QueryExecutionIds)
    local qe = assert(rpc.call(c, "athena", "GetQueryExecution", { QueryExecutionId = list.QueryExecutionIds[1] }))
    assert.equal("-- rows of the object that started the run, by type\n"
      .. "INSERT INTO \"example_trusted_dev\".\"summary\"\n"
      .. "SELECT type, count(*) AS n, 'example/orders.json' AS origin_key\n"
      .. "FROM \"example_trusted_dev\".\"events\"\n"
      .. "WHERE \"$path\" = 's3://" .. RAW .. "/example/orders.json' AND note <> '{literal}'\n"
      .. "GROUP BY type\n", qe.QueryExecution.Query)
    assert.equal("example_trusted_dev", qe.QueryExecution.QueryExecutionContext.Database)
    -- the crawlers were started on moto itself (StartCrawler went through)
    for _, n in ipairs({ "example-raw-crawler-dev", "services-target-crawler-dev" }) do
      local got = assert(rpc.call(c, "glue", "GetCrawler", { Name = n }))
      assert.equal("RUNNING", got.Crawler.State, n)
    end
    -- the notice, on the queue subscribed to the topic
    local msgs = receive()
    assert.equal(1, #msgs)
    assert.equal("[Example Lake] example/orders.json summarized", msgs[1].subject)
    assert.equal("example/orders.json from " .. RAW .. " is summarized in example_trusted_dev", msgs[1].message)
  end)

  it("waits for a crawl already running, and sends a failed crawl to the catch (exit 1)", function()
    proxy:close()
    proxy, proxy_url = start_proxy("FAILED")
    receive()
    local _, err, code = run_pipeline("example/late.json")
    assert.equal(1, code, err)
    -- moto's crawler is still RUNNING from the first run: CrawlerRunningException, caught, then waited for
    assert.matches("\n  CatalogRaw +%d+%.%d%d s  failed: Glue%.CrawlerRunningException: [^\n]*; caught, next "
      .. "CatalogRaw%.Wait\n", err)
    assert.matches("\n  CatalogRaw%.Failed +%d+%.%d%d s  succeeded", err)
    assert.matches("\n  ErrorCatch +%d+%.%d%d s  succeeded", err)
    assert.matches("\nFAILED in [^\n]* at PipelineFailed", err)
    local msgs = receive()
    assert.equal(1, #msgs)
    assert.matches("Glue.CrawlFailed", msgs[1].subject, 1, true)
  end)
end)
