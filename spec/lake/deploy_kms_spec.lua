-- The example lake with encryption = "kms", deployed to moto on loopback
-- with signature checking on, checked through the AWS APIs: the lake key,
-- its alias and policy, the SSM parameter other stacks read its ARN from,
-- the buckets and the error topic encrypted with it, the access logs bucket.
--
-- What moto 5.2.1 leaves out (checked in the templates instead, by
-- spec/lake/encryption_spec.lua): its CloudFormation creates no Glue
-- resources (AWS::Glue::SecurityConfiguration included: "No Moto
-- CloudFormation support"), creates no AWS::S3::BucketPolicy at all, reads a
-- log group's KmsKeyId under the API's spelling (kmsKeyId) only, and applies
-- no LoggingConfiguration to buckets. Its AWS::KMS::Key reads Tags in the
-- KMS API's spelling (TagKey, TagValue) instead of CloudFormation's (Key,
-- Value) and fails with KeyError 'TagKey' (and keeps KeyPolicy as an object,
-- so DescribeKey fails with HTTP 500 on json.loads), so this lake has no tags option
-- (on AWS the key gets the stack's tags, and its own).
local json = require("host.json")
local moto = require("spec.support.moto")

local KMS = { "TrentService", "1.1" }

describe("deploying the example lake with encryption = 'kms' #integration", function()
  local project, c, key_arn, run
  local rpc = require("lake.aws.jsonrpc")
  local query = require("lake.aws.query")

  local function kms(action, params)
    rpc.SERVICES.kms = rpc.SERVICES.kms or KMS
    return rpc.call(c, "kms", action, params)
  end

  local function s3_get(bucket, sub)
    return c:call { service = "s3", action = "Get" .. sub, method = "GET", path = "/" .. bucket,
      query = sub:lower():gsub("bucket", ""), s3 = true }
  end

  setup(function()
    project = moto.project { files = { "app.lua", "pipelines", "shared", "standalone" }, prefix = "lakehost-kms-",
      prepare = function(d)
        local fs = require("host.fs")
        local src = assert(fs.read(d .. "/app.lua"))
        local patched, n = src:gsub("enable_vpc = false,", "enable_vpc = false,\n  encryption = \"kms\",")
        assert(n == 1, "app.lua has no enable_vpc line to patch")
        patched, n = patched:gsub("\n  tags = {[^\n]*},\n", "\n")
        assert(n == 1, "app.lua has no tags line to take out")
        assert(fs.write(d .. "/app.lua", patched))
      end }
    c, run = project.client, project.run
  end)

  teardown(function()
    if project then project.stop() end
  end)

  it("deploys the four stacks", function()
    local _, err, code = run({ "deploy", "--require-approval", "never" })
    assert.equal(0, code, err)
    for _, s in ipairs({ "lake-storage-stack-dev", "lake-shared-stack-dev", "lake-extra-policies-stack-dev",
      "lake-pipeline-example-stack-dev" }) do
      assert.matches(s:gsub("%-", "%%-") .. "%s+created", err)
    end
  end)

  it("created the lake key with rotation on, its alias and its policy", function()
    local aliases = assert(kms("ListAliases", {}))
    local target
    for _, a in ipairs(aliases.Aliases) do
      if a.AliasName == "alias/example-lake-dev" then target = a.TargetKeyId end
    end
    assert.is_string(target, "no alias/example-lake-dev")
    -- (moto keeps a KeyPolicy from CloudFormation as an object, and its
    -- DescribeKey then fails with HTTP 500 on json.loads: the key is found
    -- through ListKeys instead)
    local keys = assert(kms("ListKeys", {})).Keys
    assert.equal(1, #keys)
    assert.equal(target, keys[1].KeyId)
    key_arn = keys[1].KeyArn
    assert.equal("arn:aws:kms:us-east-1:123456789012:key/" .. target, key_arn)
    assert.is_true(assert(kms("GetKeyRotationStatus", { KeyId = key_arn })).KeyRotationEnabled)
    local pol = assert(kms("GetKeyPolicy", { KeyId = key_arn, PolicyName = "default" })).Policy
    local doc = type(pol) == "string" and assert(json.decode(pol)) or pol
    local sids = {}
    for _, st in ipairs(doc.Statement) do sids[st.Sid] = st end
    assert.equal("arn:aws:iam::123456789012:root", sids.AdministerByAccount.Principal.AWS)
    assert.same({ "arn:aws:iam::123456789012:role/lake-shared-stack-dev-*",
      "arn:aws:iam::123456789012:role/pipeline-example-*-us-east-1-dev" },
      sids.UseByLakeRoles.Condition.ArnLike["aws:PrincipalArn"])
    assert.equal("logs.us-east-1.amazonaws.com", sids.EncryptLogGroups.Principal.Service)
    assert.equal("cloudwatch.amazonaws.com", sids.AlarmsPublishToErrorTopic.Principal.Service)
  end)

  it("published the key's ARN in SSM for the other stacks", function()
    local p = assert(rpc.call(c, "ssm", "GetParameter", { Name = "/example-lake/dev/kms/key-arn" }))
    assert.equal(key_arn, p.Parameter.Value)
  end)

  it("encrypts every layer's bucket with the key", function()
    for _, layer in ipairs({ "raw", "trusted", "service" }) do
      local resp = assert(s3_get(("example-%s-us-east-1-123456789012-dev"):format(layer), "BucketEncryption"))
      assert.matches("<SSEAlgorithm>aws:kms</SSEAlgorithm>", resp.body, 1, true)
      assert.matches("<KMSMasterKeyID>" .. key_arn .. "</KMSMasterKeyID>", resp.body, 1, true)
    end
  end)

  it("created the access logs bucket with SSE-S3 (not the lake key)", function()
    local resp = assert(s3_get("example-lake-logs-us-east-1-123456789012-dev", "BucketEncryption"))
    assert.matches("<SSEAlgorithm>AES256</SSEAlgorithm>", resp.body, 1, true)
    assert.no.matches("KMSMasterKeyID", resp.body, 1, true)
  end)

  it("encrypts the error topic with the key, read from SSM by the shared stack", function()
    local r = assert(query.call(c, "sns", "2010-03-31", "GetTopicAttributes",
      { TopicArn = "arn:aws:sns:us-east-1:123456789012:example-lake-errors-dev" }))
    local attrs = {}
    for _, e in ipairs(query.list(r.Attributes.entry)) do attrs[e.key] = e.value end
    assert.equal(key_arn, attrs.KmsMasterKeyId)
  end)

  it("resolved the pipeline stack's key parameter through SSM", function()
    local cfn = require("lake.aws.cloudformation")
    local res = assert(cfn.stack_resources(c, "lake-pipeline-example-stack-dev"))
    local groups = 0
    for _, r in ipairs(res) do
      if r.type == "AWS::Logs::LogGroup" then
        assert.equal("CREATE_COMPLETE", r.status)
        groups = groups + 1
      end
    end
    assert.equal(5, groups) -- trigger, catch, the lambda steps and the state machine
  end)
end)
