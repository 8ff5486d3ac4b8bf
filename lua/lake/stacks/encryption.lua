--- The lake's encryption choice (the builder's `encryption` and
-- `kms_key_arn` options), its key, its S3 server access logs bucket and its
-- Glue security configuration.
--
-- encryption = "s3" (the default): buckets use SSE-S3, the error topic,
-- log groups, Glue logs and job bookmarks are left to AWS-owned keys, and
-- the resources cdk-nag and the HIPAA / NIST packs would flag for it say
-- why in their Metadata.
--
-- encryption = "kms": one lake key (AWS::KMS::Key, rotation on) with the
-- alias alias/<lake>-<stage>, in the storage stack (the first deployed),
-- encrypts every bucket, the error topic, the log groups and the Glue
-- security configuration. Its ARN is not known before deploy, so the
-- storage stack publishes it in SSM (/<lake>/<stage>/kms/key-arn) and other
-- stacks read it through an SSM-typed stack parameter, as the VPC's ids are.
-- kms_key_arn = "arn:...:key/..." uses that key instead and creates none;
-- its ARN is then written into every stack as it is.
--
-- The access logs bucket takes SSE-S3 in both modes: S3 writes server access
-- logs as the logging service, and SSE-S3 needs no key policy for it.
--
-- Model objects only (no I/O).
local json = require("host.json")
local nag = require("lake.nag")
local names = require("lake.names")
local token = require("lake.token")
local util = require("lake.util")

local M = {}

M.MODES = { "s3", "kms" }
M.DEFAULT = "s3"
-- Server access logs are kept a year: long enough to look back over an
-- audit period or an incident found late, short enough that a busy lake's
-- log volume does not grow without bound.
M.DEFAULT_ACCESS_LOG_DAYS = 365
M.KEY_ARN_PATTERN = "^arn:aws[a-z%-]*:kms:[a-z][a-z0-9%-]*:%d%d%d%d%d%d%d%d%d%d%d%d:key/[%w%-]+$"
M.KEY_PARAMETER_ID = "LakeKeyArn"

local POLICY_VERSION = "2012-10-17"
local S3_REASON = "encryption = 's3' chooses AWS-owned keys; set encryption = 'kms' in DatalakeBuilder "
  .. "to encrypt this with the lake key."

local function arr(t) return setmetatable(t or {}, json.array_mt) end

local Encryption = {}
Encryption.__index = Encryption
Encryption.__name = "lake.Encryption"

--- The SSM parameter the storage stack writes the lake key's ARN to.
function M.key_parameter_name(lake_name, stage)
  return "/" .. util.kebab(lake_name) .. "/" .. stage .. "/kms/key-arn"
end

--- The lake key's alias: "alias/<lake>-<stage>".
function M.alias_name(lake_name, stage)
  return "alias/" .. names.name(util.kebab(lake_name), stage)
end

--- The encryption of a lake.
-- @param lake table the lake being built (name, stage, env, account, region)
-- @param v table the checked options: encryption ("s3"|"kms"), kms_key_arn (string|nil), access_log_days
function M.new(lake, v)
  return setmetatable({
    lake = lake, mode = v.encryption or M.DEFAULT, given_arn = v.kms_key_arn,
    access_log_days = v.access_log_days or M.DEFAULT_ACCESS_LOG_DAYS,
    ssm = M.key_parameter_name(lake.name, lake.stage), alias = M.alias_name(lake.name, lake.stage),
    security_configuration = names.glue_security_configuration(lake.name, lake.stage),
    role_patterns = arr(),
  }, Encryption)
end

--- Whether the lake encrypts with a KMS key of its own choosing.
function Encryption:uses_kms() return self.mode == "kms" end

--- The key's ARN in stack: the key's own in the storage stack, the given
-- ARN, or (other stacks) a Ref to an SSM-typed parameter that CloudFormation
-- resolves at deploy. nil with encryption = "s3".
function Encryption:key_arn(stack)
  if self.mode ~= "kms" then return nil end
  if self.given_arn then return self.given_arn end
  if self.key and stack == self.key.stack then return self.key:arn() end
  local p = stack.parameters and stack.parameters[M.KEY_PARAMETER_ID]
  if not p then
    p = stack:parameter(M.KEY_PARAMETER_ID, { type = "AWS::SSM::Parameter::Value<String>", default = self.ssm,
      description = "SSM parameter with the ARN of the lake's KMS key" })
  end
  return token.ref(p)
end

local function account(lake) return lake.account or token.account_id end
local function region(lake) return lake.region or token.region end

--- IAM statements that let a role use the lake key for what it does (none
-- with encryption = "s3"), each scoped to the key.
-- @param stack Stack the role's
-- @param uses array of "s3" (objects of the lake's buckets, through S3), "sns" (publishing to
--   the error topic, through SNS), "glue_job" (a Glue job's bookmarks, encrypted client side, and
--   its CloudWatch logs), "crawler_logs" (a crawler's CloudWatch logs)
function Encryption:statements(stack, uses)
  local key = self:key_arn(stack)
  if not key then return {} end
  local out, via = {}, {}
  local function via_service(svc) via[#via + 1] = token.concat(svc, ".", region(self.lake), ".amazonaws.com") end
  local glue, glue_logs = false, false
  for _, u in ipairs(uses) do
    if u == "s3" then via_service("s3")
    elseif u == "sns" then via_service("sns")
    elseif u == "glue_job" then glue, glue_logs = true, true
    elseif u == "crawler_logs" then glue_logs = true
    else error("Encryption:statements: unknown use '" .. tostring(u) .. "'", 2) end
  end
  if #via > 0 and not glue then
    out[#out + 1] = { Sid = "UseLakeKey", Effect = "Allow", Action = arr { "kms:Decrypt", "kms:GenerateDataKey" },
      Resource = arr { key }, Condition = { StringEquals = { ["kms:ViaService"] = arr(via) } } }
  end
  if glue then
    -- Job bookmarks are encrypted client side (CSE-KMS) by the job itself,
    -- with its role's credentials: no service to name in kms:ViaService.
    out[#out + 1] = { Sid = "UseLakeKey", Effect = "Allow",
      Action = arr { "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey" }, Resource = arr { key } }
  end
  if glue_logs then
    -- With CloudWatch encryption on, Glue associates the key with the log
    -- groups it creates for the lake's security configuration only:
    -- /aws-glue/jobs/<configuration>-role/<role>/... for jobs,
    -- /aws-glue/crawlers-role/<role>-<configuration> for crawlers.
    local conf = self.security_configuration
    out[#out + 1] = { Sid = "EncryptGlueLogs", Effect = "Allow", Action = arr { "logs:AssociateKmsKey" },
      Resource = arr { names.arn("logs", "log-group:/aws-glue/" .. (glue and ("jobs/" .. conf .. "-role/*")
        or ("crawlers-role/*-" .. conf)), self.lake.env) } }
  end
  return out
end

--- Gives an IAM role (a resource of stack) an inline policy "use-lake-key"
-- with the statements of uses (Encryption:statements); nothing with
-- encryption = "s3". A policy of its own leaves the role's other
-- statements as they are.
function Encryption:grant(role, uses)
  local st = self:statements(role.stack, uses)
  if #st == 0 then return role end
  local policies = role.props.Policies or arr()
  role.props.Policies = policies
  policies[#policies + 1] = { PolicyName = "use-lake-key",
    PolicyDocument = { Version = POLICY_VERSION, Statement = arr(st) } }
  return role
end

--- The BucketEncryption of a lake bucket in stack.
function Encryption:bucket_encryption(stack)
  local key = self:key_arn(stack)
  local default = key and { SSEAlgorithm = "aws:kms", KMSMasterKeyID = key } or { SSEAlgorithm = "AES256" }
  return { ServerSideEncryptionConfiguration = arr { { BucketKeyEnabled = true,
    ServerSideEncryptionByDefault = default } } }
end

--- Records, with encryption = "s3", why a lake bucket has no KMS key.
function Encryption:note_bucket(bucket)
  if self.mode == "kms" then return end
  bucket:suppress("HIPAA.Security-S3DefaultEncryptionKMS", S3_REASON)
  bucket:suppress("NIST.800.53.R5-S3DefaultEncryptionKMS", S3_REASON)
end

--- The KmsKeyId of a log group in stack (nil with encryption = "s3").
function Encryption:log_group_key(stack) return self:key_arn(stack) end

--- Records, with encryption = "s3", why a log group has no KMS key.
function Encryption:note_log_group(group)
  if self.mode == "kms" then return end
  local reason = "encryption = 's3' leaves log groups to CloudWatch Logs' own encryption with AWS-owned keys; "
    .. "set encryption = 'kms' in DatalakeBuilder to encrypt them with the lake key."
  group:suppress("HIPAA.Security-CloudWatchLogGroupEncrypted", reason)
  group:suppress("NIST.800.53.R5-CloudWatchLogGroupEncrypted", reason)
end

--- The error topic's KmsMasterKeyId in stack, and the topic's suppressions
-- with encryption = "s3". The AWS managed key alias/aws/sns is not used
-- there: its key policy cannot be changed, so the CloudWatch alarm on the
-- dead-letter queues could not publish to the topic.
function Encryption:topic_key(stack) return self:key_arn(stack) end

function Encryption:note_topic(topic)
  if self.mode == "kms" then return end
  local reason = "encryption = 's3' leaves the topic unencrypted at rest: the AWS managed key alias/aws/sns "
    .. "would stop the dead-letter alarms from publishing to it (CloudWatch cannot use that key); set "
    .. "encryption = 'kms' in DatalakeBuilder to encrypt it with the lake key, whose policy lets CloudWatch publish."
  topic:suppress("AwsSolutions-SNS2", reason)
  topic:suppress("HIPAA.Security-SNSEncryptedKMS", reason)
  topic:suppress("NIST.800.53.R5-SNSEncryptedKMS", reason)
end

---------------------------------------------------------------------------
-- The key (storage stack)

--- Adds the lake key, its alias and the SSM parameter with its ARN to the
-- storage stack (encryption = "kms" without kms_key_arn; nothing otherwise).
function Encryption:build_key(stack)
  if self.mode ~= "kms" or self.given_arn then return nil end
  local lake = self.lake
  local acct, partition = account(lake), token.partition
  local policy = { Version = POLICY_VERSION, Statement = arr {
    -- The account administers the key (so it can never become unmanageable),
    -- and IAM policies of the account may grant its use.
    { Sid = "AdministerByAccount", Effect = "Allow",
      Principal = { AWS = token.concat("arn:", partition, ":iam::", acct, ":root") },
      Action = "kms:*", Resource = "*" },
    -- The lake's own roles, by name: its pipelines' and its shared stack's.
    { Sid = "UseByLakeRoles", Effect = "Allow", Principal = { AWS = "*" },
      Action = arr { "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*" },
      Resource = "*",
      Condition = { StringEquals = { ["kms:CallerAccount"] = acct },
        ArnLike = { ["aws:PrincipalArn"] = self.role_patterns } } },
    -- CloudWatch Logs encrypts the lake's log groups (Lambda, Glue).
    { Sid = "EncryptLogGroups", Effect = "Allow",
      Principal = { Service = token.concat("logs.", region(lake), ".amazonaws.com") },
      Action = arr { "kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*" },
      Resource = "*",
      Condition = { ArnLike = { ["kms:EncryptionContext:aws:logs:arn"] =
        names.arn("logs", "log-group:*", lake.env) } } },
    -- CloudWatch alarms (the dead-letter queues') publish to the encrypted
    -- error topic.
    { Sid = "AlarmsPublishToErrorTopic", Effect = "Allow", Principal = { Service = "cloudwatch.amazonaws.com" },
      Action = arr { "kms:Decrypt", "kms:GenerateDataKey*" }, Resource = "*" },
  } }
  self.key = stack:add("AWS::KMS::Key", "LakeKey", {
    Description = ("Encrypts the %s datalake (%s): buckets, error topic, logs, Glue"):format(lake.name, lake.stage),
    EnableKeyRotation = true, KeySpec = "SYMMETRIC_DEFAULT", KeyUsage = "ENCRYPT_DECRYPT",
    PendingWindowInDays = 30, KeyPolicy = policy,
  }, { deletion_policy = "Retain", update_replace_policy = "Retain" })
  stack:add("AWS::KMS::Alias", "LakeKeyAlias", { AliasName = self.alias, TargetKeyId = self.key:ref() })
  stack:add("ssm_parameter", "LakeKeyArnParameter", {
    Name = self.ssm, Type = "String", Value = self.key:arn(),
    Description = ("KMS key of the %s datalake (%s)"):format(lake.name, lake.stage),
  })
  self:add_role_pattern(names.shared_stack(lake.stage) .. "-*")
  return self.key
end

--- Lets the roles whose names match pattern use the key (its policy).
function Encryption:add_role_pattern(pattern)
  self.role_patterns[#self.role_patterns + 1] = token.concat("arn:", token.partition, ":iam::",
    account(self.lake), ":role/", pattern)
end

--- Names the roles of the lake's pipelines in the key policy: called once
-- the pipelines are built ("<pipeline>-*-<region>-<stage>", as
-- lake.pipeline.stack names them).
function Encryption:add_pipelines(pipelines)
  if not self.key then return end
  for _, name in ipairs(util.sorted_keys(pipelines)) do
    self:add_role_pattern(token.concat(util.kebab(name), "-*-", region(self.lake), "-", self.lake.stage))
  end
end

---------------------------------------------------------------------------
-- Access logs (storage stack)

--- The lake's access logs bucket and its policy; returns the bucket.
-- @param stack Stack the storage stack
-- @param bucket_arns array of the ARNs of the lake's buckets that log to it
function Encryption:build_logs_bucket(stack, bucket_arns, deny_insecure_transport)
  local lake = self.lake
  local bucket = stack:add("s3_bucket", "AccessLogsBucket", {
    BucketName = lake.access_logs.name,
    PublicAccessBlockConfiguration = { BlockPublicAcls = true, BlockPublicPolicy = true,
      IgnorePublicAcls = true, RestrictPublicBuckets = true },
    -- S3 delivers server access logs itself; SSE-S3 needs no key policy for it
    BucketEncryption = { ServerSideEncryptionConfiguration = arr { {
      ServerSideEncryptionByDefault = { SSEAlgorithm = "AES256" } } } },
    OwnershipControls = { Rules = arr { { ObjectOwnership = "BucketOwnerEnforced" } } },
    VersioningConfiguration = { Status = "Enabled" },
    LifecycleConfiguration = { Rules = arr {
      { Id = "ExpireAccessLogs", Status = "Enabled", ExpirationInDays = self.access_log_days,
        NoncurrentVersionExpiration = { NoncurrentDays = lake.noncurrent_version_days } },
      { Id = "AbortIncompleteUploads", Status = "Enabled",
        AbortIncompleteMultipartUpload = { DaysAfterInitiation = 7 } },
    } },
  }, { deletion_policy = "Retain", update_replace_policy = "Retain" })
  local why = "This bucket receives the lake buckets' server access logs; logging its own access to itself "
    .. "would log every delivery of those logs, without end."
  bucket:suppress("AwsSolutions-S1", why)
  bucket:suppress("HIPAA.Security-S3BucketLoggingEnabled", why)
  bucket:suppress("NIST.800.53.R5-S3BucketLoggingEnabled", why)
  local sse = "S3 server access logs are delivered by the logging service, for which SSE-S3 needs no key "
    .. "policy; the logs hold request records, not lake data."
  nag.suppress_packs(bucket, "S3DefaultEncryptionKMS", sse)
  nag.suppress_packs(bucket, "S3BucketReplicationEnabled", nag.REPLICATION_REASON)
  local policy = stack:add("s3_bucket_policy", "AccessLogsBucketPolicy", {
    Bucket = bucket:ref(),
    PolicyDocument = { Version = POLICY_VERSION, Statement = arr {
      deny_insecure_transport("s3:*", arr { bucket:arn(), token.concat(bucket:arn(), "/*") }),
      { Sid = "S3ServerAccessLogs", Effect = "Allow", Principal = { Service = "logging.s3.amazonaws.com" },
        Action = "s3:PutObject", Resource = token.concat(bucket:arn(), "/*"),
        Condition = { ArnLike = { ["aws:SourceArn"] = arr(bucket_arns) },
          StringEquals = { ["aws:SourceAccount"] = account(lake) } } },
    } },
  })
  self.logs_bucket, self.logs_bucket_policy = bucket, policy
  return bucket, policy
end

--- The LoggingConfiguration of a lake bucket: its logs go to the logs
-- bucket under "<domain>/<layer>/".
function Encryption:logging(b)
  return { DestinationBucketName = self.logs_bucket:ref(), LogFilePrefix = b.domain .. "/" .. b.layer .. "/" }
end

---------------------------------------------------------------------------
-- Glue (shared stack)

--- The lake's Glue security configuration, in the shared stack.
function Encryption:build_security_configuration(stack)
  local enc
  local key = self:key_arn(stack)
  if key then
    enc = {
      S3Encryptions = arr { { S3EncryptionMode = "SSE-KMS", KmsKeyArn = key } },
      CloudWatchEncryption = { CloudWatchEncryptionMode = "SSE-KMS", KmsKeyArn = key },
      JobBookmarksEncryption = { JobBookmarksEncryptionMode = "CSE-KMS", KmsKeyArn = key },
    }
  else
    enc = {
      S3Encryptions = arr { { S3EncryptionMode = "SSE-S3" } },
      CloudWatchEncryption = { CloudWatchEncryptionMode = "DISABLED" },
      JobBookmarksEncryption = { JobBookmarksEncryptionMode = "DISABLED" },
    }
  end
  self.glue_config = stack:add("AWS::Glue::SecurityConfiguration", "GlueSecurityConfiguration", {
    Name = self.security_configuration, EncryptionConfiguration = enc,
  })
  return self.glue_config
end

--- Puts a Glue job or crawler under the lake's security configuration
-- (and says, with encryption = "s3", why its logs and bookmarks are not
-- encrypted with a KMS key).
function Encryption:secure_glue(resource)
  local prop = resource.kind.type == "AWS::Glue::Crawler" and "CrawlerSecurityConfiguration" or "SecurityConfiguration"
  resource.props[prop] = self.security_configuration
  if self.glue_config and self.glue_config.stack == resource.stack then resource:depends_on(self.glue_config) end
  if self.mode ~= "kms" then
    resource:suppress("AwsSolutions-GL1", "encryption = 's3' chooses AWS-owned keys, and Glue encrypts CloudWatch "
      .. "logs only with a KMS key; set encryption = 'kms' in DatalakeBuilder to encrypt Glue logs and bookmarks "
      .. "with the lake key.")
    if prop == "SecurityConfiguration" then
      resource:suppress("AwsSolutions-GL3", "encryption = 's3' chooses AWS-owned keys, and Glue encrypts job "
        .. "bookmarks only with a KMS key; set encryption = 'kms' in DatalakeBuilder to encrypt Glue logs and "
        .. "bookmarks with the lake key.")
    end
  elseif resource.stack ~= (self.glue_config and self.glue_config.stack) then
    -- cdk-nag reads a security configuration only in the job's own stack
    local reason = ("The job runs with the lake's security configuration %s (in the shared stack), which "
      .. "encrypts its CloudWatch logs with SSE-KMS and its bookmarks with CSE-KMS under the lake key; the rule "
      .. "reads only a configuration declared in the job's own stack."):format(self.security_configuration)
    resource:suppress("AwsSolutions-GL1", reason)
    if prop == "SecurityConfiguration" then resource:suppress("AwsSolutions-GL3", reason) end
  end
  return resource
end

return M
