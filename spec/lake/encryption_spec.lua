-- The encryption choice (encryption, kms_key_arn), the access logs bucket
-- and the Glue security configuration: options refused with file:line, and
-- the resources each mode makes, read from the synthesized templates.
local lake = require("lake")
local assembly = require("lake.assembly")
local json = require("host.json")
local util = require("spec.support.util")

local KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
local LOADER = { pipelines = function() return {} end }

-- The example lake's options (with its pipeline folder when pipelines is
-- true), overridden by opts.
local function build(opts, pipelines)
  local app = lake.App { root = "." }
  local o = { scope = app, lake_name = "Example Lake", env = "dev", lake_domains = { "example", "sales" },
    region = "us-east-1", account_id = "123456789012", standalone = {} }
  if pipelines then o.pipelines_path = "./pipelines" end
  for k, v in pairs(opts or {}) do o[k] = v end
  local dl = lake.DatalakeBuilder(o):build()
  assert.same({}, app.problems)
  return dl, app
end

local ASSETS = require("spec.lake.support.lake_tree").ASSETS
local function template(stack) return json.decode(json.encode(assembly.template(stack, { assets = ASSETS }))) end

local function problems(opts)
  local app = lake.App {}
  app.file = "app.lua"
  opts.scope = app
  opts.lake_name = opts.lake_name or "L"
  opts.lake_domains = { "a" }
  opts.standalone = {}
  lake.DatalakeBuilder(opts, { loader = LOADER }):build()
  return app.problems
end

local function of_type(tpl, typ)
  local out = {}
  for _, id in ipairs(require("lake.util").sorted_keys(tpl.Resources)) do
    if tpl.Resources[id].Type == typ then out[#out + 1] = id end
  end
  return out
end

local function rules(res)
  local out = {}
  for _, r in ipairs(((res.Metadata or {}).cdk_nag or {}).rules_to_suppress or {}) do
    assert.is_true(#r.reason >= 40, r.id .. ": " .. r.reason)
    out[#out + 1] = r.id
  end
  table.sort(out)
  return out
end

local function pipeline_stack(app)
  for _, s in ipairs(app.stacks) do
    if s.name == "lake-pipeline-example-stack-dev" then return s end
  end
end

describe("encryption options #unit", function()
  -- refusals
  it("refuses an unknown encryption with a suggestion", function()
    assert.same({ "app.lua: encryption: expected one of s3, kms, got 'kms2' (did you mean 'kms'?)" },
      problems({ encryption = "kms2" }))
    assert.same({ "app.lua: encryption: expected one of s3, kms, got a boolean" }, problems({ encryption = true }))
  end)

  it("refuses a kms_key_arn that is not a key ARN, or given with encryption = 's3'", function()
    for _, bad in ipairs({ "alias/mine", "arn:aws:kms:us-east-1:123:key/x",
      "arn:aws:kms:us-east-1:123456789012:alias/mine", 7 }) do
      assert.same({ "app.lua: kms_key_arn: expected a KMS key ARN such as "
        .. "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab, got "
        .. (type(bad) == "string" and ("'" .. bad .. "'") or "a number") },
        problems({ kms_key_arn = bad }))
    end
    assert.same({ "app.lua: kms_key_arn: a KMS key takes encryption = 'kms' (or no encryption option), "
      .. "but encryption is 's3'" }, problems({ encryption = "s3", kms_key_arn = KEY }))
  end)

  it("refuses access_log_days out of range", function()
    for _, bad in ipairs({ 0, 3651, 1.5, "30" }) do
      assert.same({ ("app.lua: access_log_days: expected a whole number of days from 1 to 3650, got %s")
        :format(type(bad) == "string" and "'30'" or tostring(bad)) }, problems({ access_log_days = bad }))
    end
  end)

  it("shortens a lake name too long for the access logs bucket, with a hash", function()
    local names = require("lake.names")
    local env = { region = "ap-southeast-5", account = "123456789012", stage = "prd" }
    assert.equal("a-lake-with-a-lon-logs-ap-southeast-5-123456789012-prd", names.logs_bucket("a-lake-with-a-lon", env))
    local a = names.logs_bucket("a-lake-with-a-long-name-xxxxxx", env)
    local b = names.logs_bucket("a-lake-with-a-long-name-xxxxxy", env)
    assert.matches("^a%-lake%-with%-a%-lo%-%x%x%x%x%x%x%x%x%-logs%-ap%-southeast%-5%-123456789012%-prd$", a)
    assert.not_equal(a, b)
    assert.is_true(#a <= 63)
    assert.same({}, problems({ lake_name = ("n"):rep(245) }))
  end)

  it("names the file and line of every refusal", function()
    local dir = assert(require("host.fs").tmpdir("lakehost-enc-"))
    assert(require("host.fs").write(dir .. "/app.lua", table.concat({
      'local lake = require("lake")',
      'local app = lake.App { root = "." }',
      "lake.DatalakeBuilder {",
      '  scope = app, lake_name = "L", lake_domains = { "a" }, standalone = {},',
      '  encryption = "s3", kms_key_arn = "' .. KEY .. '", access_log_days = 0,',
      "}:build()",
      "return app", "" }, "\n")))
    local _, err, code = util.lakehost({ dir .. "/app.lua", "validate" }, { cwd = dir })
    require("host.fs").remove_tree(dir)
    assert.equal(2, code)
    assert.matches("app.lua:3: access_log_days: expected a whole number", err, 1, true)
    assert.matches("app.lua:3: kms_key_arn: a KMS key takes encryption = 'kms'", err, 1, true)
  end)

  -- acceptance
  it("defaults to s3 and 365 days of access logs", function()
    local dl = build()
    assert.equal("s3", dl.encryption.mode)
    assert.equal(365, dl.encryption.access_log_days)
    assert.is_nil(dl.encryption:key_arn(dl.shared_stack))
  end)

  it("takes kms_key_arn as encryption = 'kms' with that key", function()
    local dl = build({ kms_key_arn = KEY })
    assert.equal("kms", dl.encryption.mode)
    assert.equal(KEY, dl.encryption:key_arn(dl.shared_stack))
  end)
end)

describe("encryption resources #unit", function()
  it("s3: SSE-S3 buckets, no key, reasons where a rule wants one", function()
    local dl, app = build(nil, true)
    local st = template(dl.storage_stack)
    assert.same({}, of_type(st, "AWS::KMS::Key"))
    assert.same({}, of_type(st, "AWS::SSM::Parameter"))
    for _, id in ipairs({ "ExampleRawBucket", "SalesServiceBucket" }) do
      local b = st.Resources[id]
      assert.same({ { BucketKeyEnabled = true, ServerSideEncryptionByDefault = { SSEAlgorithm = "AES256" } } },
        b.Properties.BucketEncryption.ServerSideEncryptionConfiguration)
      assert.same({ "HIPAA.Security-S3BucketReplicationEnabled", "HIPAA.Security-S3DefaultEncryptionKMS",
        "NIST.800.53.R5-S3BucketReplicationEnabled", "NIST.800.53.R5-S3DefaultEncryptionKMS" }, rules(b))
    end
    local sh = template(dl.shared_stack)
    local topic = sh.Resources.ErrorTopic
    assert.is_nil(topic.Properties.KmsMasterKeyId)
    assert.same({ "AwsSolutions-SNS2", "HIPAA.Security-SNSEncryptedKMS", "NIST.800.53.R5-SNSEncryptedKMS" },
      rules(topic))
    local sc = sh.Resources.GlueSecurityConfiguration
    assert.same({ Name = "example-lake-dev", EncryptionConfiguration = {
      S3Encryptions = { { S3EncryptionMode = "SSE-S3" } },
      CloudWatchEncryption = { CloudWatchEncryptionMode = "DISABLED" },
      JobBookmarksEncryption = { JobBookmarksEncryptionMode = "DISABLED" } } }, sc.Properties)
    for _, id in ipairs(of_type(sh, "AWS::Glue::Crawler")) do
      assert.equal("example-lake-dev", sh.Resources[id].Properties.CrawlerSecurityConfiguration)
      assert.is_true(require("lake.util").contains(sh.Resources[id].DependsOn, "GlueSecurityConfiguration"))
      assert.same({ "AwsSolutions-GL1" }, rules(sh.Resources[id]))
    end
    local pt = template(pipeline_stack(app))
    assert.is_nil(pt.Parameters and pt.Parameters.LakeKeyArn)
    local jobs = of_type(pt, "AWS::Glue::Job")
    assert.equal(2, #jobs)
    for _, id in ipairs(jobs) do
      assert.equal("example-lake-dev", pt.Resources[id].Properties.SecurityConfiguration)
      assert.same({ "AwsSolutions-GL1", "AwsSolutions-GL3" }, rules(pt.Resources[id]))
    end
    for _, id in ipairs(of_type(pt, "AWS::Logs::LogGroup")) do
      assert.is_nil(pt.Resources[id].Properties.KmsKeyId)
      assert.same({ "HIPAA.Security-CloudWatchLogGroupEncrypted", "NIST.800.53.R5-CloudWatchLogGroupEncrypted" },
        rules(pt.Resources[id]))
    end
    for _, id in ipairs(of_type(pt, "AWS::IAM::Role")) do
      for _, p in ipairs(pt.Resources[id].Properties.Policies or {}) do assert.not_equal("use-lake-key", p.PolicyName) end
    end
  end)

  it("every lake bucket logs to the access logs bucket, which is locked down", function()
    for _, mode in ipairs({ "s3", "kms" }) do
      local dl = build({ encryption = mode, access_log_days = 90 })
      local st = template(dl.storage_stack)
      local buckets = of_type(st, "AWS::S3::Bucket")
      assert.equal(7, #buckets)
      for _, id in ipairs(buckets) do
        local props = st.Resources[id].Properties
        if id ~= "AccessLogsBucket" then
          local b = dl.bucket_set.list[1]
          for _, x in ipairs(dl.bucket_set.list) do
            if require("lake.util").pascal(x.domain) .. require("lake.util").pascal(x.layer) .. "Bucket" == id then b = x end
          end
          assert.same({ DestinationBucketName = { Ref = "AccessLogsBucket" },
            LogFilePrefix = b.domain .. "/" .. b.layer .. "/" }, props.LoggingConfiguration)
        end
      end
      local logs = st.Resources.AccessLogsBucket
      assert.equal("example-lake-logs-us-east-1-123456789012-dev", logs.Properties.BucketName)
      assert.is_nil(logs.Properties.LoggingConfiguration)
      assert.same({ { ServerSideEncryptionByDefault = { SSEAlgorithm = "AES256" } } },
        logs.Properties.BucketEncryption.ServerSideEncryptionConfiguration)
      assert.same({ BlockPublicAcls = true, BlockPublicPolicy = true, IgnorePublicAcls = true,
        RestrictPublicBuckets = true }, logs.Properties.PublicAccessBlockConfiguration)
      assert.equal("BucketOwnerEnforced", logs.Properties.OwnershipControls.Rules[1].ObjectOwnership)
      assert.equal(90, logs.Properties.LifecycleConfiguration.Rules[1].ExpirationInDays)
      assert.equal("Retain", logs.DeletionPolicy)
      assert.same({ "AwsSolutions-S1", "HIPAA.Security-S3BucketLoggingEnabled",
        "HIPAA.Security-S3BucketReplicationEnabled", "HIPAA.Security-S3DefaultEncryptionKMS",
        "NIST.800.53.R5-S3BucketLoggingEnabled", "NIST.800.53.R5-S3BucketReplicationEnabled",
        "NIST.800.53.R5-S3DefaultEncryptionKMS" }, rules(logs))
      local function arn(b) return { ["Fn::Sub"] = "arn:${AWS::Partition}:s3:::" .. b .. "-us-east-1-123456789012-dev" } end
      local pol = st.Resources.AccessLogsBucketPolicy.Properties.PolicyDocument.Statement
      assert.equal("DenyInsecureTransport", pol[1].Sid)
      assert.same({ Sid = "S3ServerAccessLogs", Effect = "Allow", Principal = { Service = "logging.s3.amazonaws.com" },
        Action = "s3:PutObject", Resource = { ["Fn::Sub"] = "${AccessLogsBucket.Arn}/*" },
        Condition = { StringEquals = { ["aws:SourceAccount"] = "123456789012" }, ArnLike = { ["aws:SourceArn"] = {
          arn("example-raw"), arn("example-trusted"), arn("example-service"),
          arn("sales-raw"), arn("sales-trusted"), arn("sales-service") } } } }, pol[2])
    end
  end)

  it("kms: one rotating key with its alias, policy and SSM parameter, used everywhere", function()
    local dl, app = build({ encryption = "kms" }, true)
    local st = template(dl.storage_stack)
    assert.same({ "LakeKey" }, of_type(st, "AWS::KMS::Key"))
    local key = st.Resources.LakeKey
    assert.is_true(key.Properties.EnableKeyRotation)
    assert.equal("Retain", key.DeletionPolicy)
    local by = {}
    for _, s in ipairs(key.Properties.KeyPolicy.Statement) do by[s.Sid] = s end
    assert.same({ AWS = { ["Fn::Sub"] = "arn:${AWS::Partition}:iam::123456789012:root" } },
      by.AdministerByAccount.Principal)
    assert.same({ AWS = "*" }, by.UseByLakeRoles.Principal)
    assert.same({ ["kms:CallerAccount"] = "123456789012" }, by.UseByLakeRoles.Condition.StringEquals)
    assert.same({ { ["Fn::Sub"] = "arn:${AWS::Partition}:iam::123456789012:role/lake-shared-stack-dev-*" },
      { ["Fn::Sub"] = "arn:${AWS::Partition}:iam::123456789012:role/pipeline-example-*-us-east-1-dev" } },
      by.UseByLakeRoles.Condition.ArnLike["aws:PrincipalArn"])
    assert.same({ Service = "logs.us-east-1.amazonaws.com" }, by.EncryptLogGroups.Principal)
    assert.same({ ["kms:EncryptionContext:aws:logs:arn"] =
      { ["Fn::Sub"] = "arn:${AWS::Partition}:logs:us-east-1:123456789012:log-group:*" } },
      by.EncryptLogGroups.Condition.ArnLike)
    assert.same({ Service = "cloudwatch.amazonaws.com" }, by.AlarmsPublishToErrorTopic.Principal)
    assert.same({ AliasName = "alias/example-lake-dev", TargetKeyId = { Ref = "LakeKey" } },
      st.Resources.LakeKeyAlias.Properties)
    assert.same({ Name = "/example-lake/dev/kms/key-arn", Type = "String", Value = { ["Fn::GetAtt"] = { "LakeKey", "Arn" } },
      Description = "KMS key of the Example Lake datalake (dev)" }, st.Resources.LakeKeyArnParameter.Properties)
    local arn = { ["Fn::GetAtt"] = { "LakeKey", "Arn" } }
    for _, id in ipairs(of_type(st, "AWS::S3::Bucket")) do
      local enc = st.Resources[id].Properties.BucketEncryption.ServerSideEncryptionConfiguration[1]
      if id == "AccessLogsBucket" then
        assert.equal("AES256", enc.ServerSideEncryptionByDefault.SSEAlgorithm)
      else
        assert.same({ BucketKeyEnabled = true, ServerSideEncryptionByDefault = { SSEAlgorithm = "aws:kms",
          KMSMasterKeyID = arn } }, enc)
        -- with the lake key, only the replication choice is left with a reason
        assert.same({ "HIPAA.Security-S3BucketReplicationEnabled", "NIST.800.53.R5-S3BucketReplicationEnabled" },
          rules(st.Resources[id]))
      end
    end
    -- the other stacks read the ARN through SSM
    local sh = template(dl.shared_stack)
    local param = { Type = "AWS::SSM::Parameter::Value<String>", Default = "/example-lake/dev/kms/key-arn",
      Description = "SSM parameter with the ARN of the lake's KMS key" }
    assert.same(param, sh.Parameters.LakeKeyArn)
    assert.same({ Ref = "LakeKeyArn" }, sh.Resources.ErrorTopic.Properties.KmsMasterKeyId)
    assert.same({}, rules(sh.Resources.ErrorTopic))
    local k = { Ref = "LakeKeyArn" }
    assert.same({ S3Encryptions = { { S3EncryptionMode = "SSE-KMS", KmsKeyArn = k } },
      CloudWatchEncryption = { CloudWatchEncryptionMode = "SSE-KMS", KmsKeyArn = k },
      JobBookmarksEncryption = { JobBookmarksEncryptionMode = "CSE-KMS", KmsKeyArn = k } },
      sh.Resources.GlueSecurityConfiguration.Properties.EncryptionConfiguration)
    for _, id in ipairs(of_type(sh, "AWS::Glue::Crawler")) do
      assert.equal("example-lake-dev", sh.Resources[id].Properties.CrawlerSecurityConfiguration)
      assert.same({}, rules(sh.Resources[id]))
    end
    for _, id in ipairs(of_type(sh, "AWS::IAM::Role")) do
      local p = sh.Resources[id].Properties.Policies
      assert.equal("use-lake-key", p[#p].PolicyName)
      local s = p[#p].PolicyDocument.Statement
      assert.same({ k }, s[1].Resource)
      assert.same({ ["kms:ViaService"] = { "s3.us-east-1.amazonaws.com" } }, s[1].Condition.StringEquals)
      assert.equal("logs:AssociateKmsKey", s[2].Action[1])
    end
    local pt = template(pipeline_stack(app))
    assert.same(param, pt.Parameters.LakeKeyArn)
    for _, id in ipairs(of_type(pt, "AWS::Logs::LogGroup")) do
      assert.same(k, pt.Resources[id].Properties.KmsKeyId)
      assert.same({}, rules(pt.Resources[id]))
    end
    for _, id in ipairs(of_type(pt, "AWS::Glue::Job")) do
      assert.equal("example-lake-dev", pt.Resources[id].Properties.SecurityConfiguration)
      -- the configuration is in the shared stack, where cdk-nag does not look: the reason says so
      assert.same({ "AwsSolutions-GL1", "AwsSolutions-GL3" }, rules(pt.Resources[id]))
      local nag = pt.Resources[id].Metadata.cdk_nag.rules_to_suppress
      assert.matches("security configuration example-lake-dev (in the shared stack)", nag[1].reason, 1, true)
    end
    local keyed = {}
    for _, id in ipairs(of_type(pt, "AWS::IAM::Role")) do
      for _, p in ipairs(pt.Resources[id].Properties.Policies or {}) do
        if p.PolicyName == "use-lake-key" then
          keyed[#keyed + 1] = id
          for _, s in ipairs(p.PolicyDocument.Statement) do
            if s.Sid == "UseLakeKey" then assert.same({ k }, s.Resource) end
          end
        end
      end
    end
    assert.same({ "CatchRole", "GlueStepsRole", "LambdaStepsRole" }, keyed)
  end)

  it("kms_key_arn: no key of its own, the ARN as given everywhere", function()
    local dl, app = build({ kms_key_arn = KEY }, true)
    local st = template(dl.storage_stack)
    assert.same({}, of_type(st, "AWS::KMS::Key"))
    assert.same({}, of_type(st, "AWS::KMS::Alias"))
    assert.same({}, of_type(st, "AWS::SSM::Parameter"))
    assert.equal(KEY, st.Resources.ExampleRawBucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[1]
      .ServerSideEncryptionByDefault.KMSMasterKeyID)
    local sh = template(dl.shared_stack)
    assert.is_nil(sh.Parameters and sh.Parameters.LakeKeyArn)
    assert.equal(KEY, sh.Resources.ErrorTopic.Properties.KmsMasterKeyId)
    local pt = template(pipeline_stack(app))
    for _, id in ipairs(of_type(pt, "AWS::Logs::LogGroup")) do
      assert.equal(KEY, pt.Resources[id].Properties.KmsKeyId)
    end
  end)
end)
