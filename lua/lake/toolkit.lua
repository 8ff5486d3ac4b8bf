--- The toolkit stack: the assets bucket every deploy uploads to, one per
-- account and region (lakehost-assets-<account>-<region>), and the bucket
-- that keeps its server access logs; made by `bootstrap` like any stack
-- (model, then assembly). It passes cdk-nag's AwsSolutions pack; what the
-- HIPAA and NIST 800-53 R5 packs would add carries its reason (WHY).
local app_mod = require("lake.app")
local assembly = require("lake.assembly")
local deploy = require("lake.deploy")
local stamp = require("lake.stamp")
local token = require("lake.token")

local M = {}

M.STACK = deploy.TOOLKIT_STACK

--- Days the assets bucket's access logs are kept.
M.LOG_DAYS = 365

-- Why the rule packs' findings that remain on the toolkit's buckets do not
-- apply (recorded in the template, where cdk-nag reads them).
local WHY = {
  replication = "The assets bucket holds build outputs (code packages and templates) that deploy "
    .. "uploads again from the project whenever they are missing, and its access logs are kept "
    .. "with versioning on; a copy in another region would add cost and no recovery.",
  assets_kms = "Lambda, Glue and CloudFormation read the packages with their own roles, so an "
    .. "S3-managed key keeps the toolkit usable by every lake in the account without a key policy "
    .. "naming each role; the bucket holds code, not lake data, and is TLS-only and private.",
  logs_kms = "S3 server access log delivery writes only to buckets encrypted with S3-managed keys "
    .. "(SSE-S3); a KMS default key would stop the logs.",
}

local function private_bucket(props)
  props.BucketEncryption = { ServerSideEncryptionConfiguration = {
    { ServerSideEncryptionByDefault = { SSEAlgorithm = "AES256" }, BucketKeyEnabled = true } } }
  props.PublicAccessBlockConfiguration = { BlockPublicAcls = true, BlockPublicPolicy = true,
    IgnorePublicAcls = true, RestrictPublicBuckets = true }
  props.OwnershipControls = { Rules = { { ObjectOwnership = "BucketOwnerEnforced" } } }
  props.VersioningConfiguration = { Status = "Enabled" }
  return props
end

local function deny_insecure(b)
  return {
    Sid = "DenyInsecureTransport", Effect = "Deny", Principal = "*", Action = "s3:*",
    Resource = { b:arn(), token.concat(b:arn(), "/*") },
    Condition = { Bool = { ["aws:SecureTransport"] = "false" } },
  }
end

--- The toolkit stack's template text and its hash: the assets bucket, and
-- the bucket its server access logs go to (named by CloudFormation, so any
-- assets bucket name fits; kept when the stack is deleted).
-- @param bucket string the assets bucket's name
-- @return text, hash
function M.template(bucket)
  local a = app_mod.new { name = "lakehost-toolkit" }
  local s = a:stack(M.STACK, { description = "lakehost toolkit: the assets bucket and its access logs" })
  local logs = s:add("s3_bucket", "AccessLogsBucket", private_bucket {
    LifecycleConfiguration = { Rules = { {
      Id = "expire-logs", Status = "Enabled",
      ExpirationInDays = M.LOG_DAYS,
      NoncurrentVersionExpiration = { NoncurrentDays = 30 },
      AbortIncompleteMultipartUpload = { DaysAfterInitiation = 7 },
    } } },
  }, { deletion_policy = "Retain", update_replace_policy = "Retain" })
  -- (no suppression for its own access logs: the packs see it is the
  -- assets bucket's log target)
  logs:suppress("HIPAA.Security-S3BucketReplicationEnabled", WHY.replication)
  logs:suppress("NIST.800.53.R5-S3BucketReplicationEnabled", WHY.replication)
  logs:suppress("HIPAA.Security-S3DefaultEncryptionKMS", WHY.logs_kms)
  logs:suppress("NIST.800.53.R5-S3DefaultEncryptionKMS", WHY.logs_kms)
  local b = s:add("s3_bucket", "AssetsBucket", private_bucket {
    BucketName = bucket,
    LifecycleConfiguration = { Rules = { {
      Id = "expire-old-versions", Status = "Enabled",
      NoncurrentVersionExpiration = { NoncurrentDays = 30 },
      AbortIncompleteMultipartUpload = { DaysAfterInitiation = 7 },
    } } },
    LoggingConfiguration = { DestinationBucketName = logs:ref(), LogFilePrefix = "assets/" },
  }, { deletion_policy = "Retain", update_replace_policy = "Retain" })
  b:suppress("HIPAA.Security-S3BucketReplicationEnabled", WHY.replication)
  b:suppress("NIST.800.53.R5-S3BucketReplicationEnabled", WHY.replication)
  b:suppress("HIPAA.Security-S3DefaultEncryptionKMS", WHY.assets_kms)
  b:suppress("NIST.800.53.R5-S3DefaultEncryptionKMS", WHY.assets_kms)
  s:add("s3_bucket_policy", "AccessLogsBucketPolicy", {
    Bucket = logs:ref(),
    PolicyDocument = { Version = "2012-10-17", Statement = {
      deny_insecure(logs),
      -- the S3 logging service, for the assets bucket of this account only
      { Sid = "AllowAssetsAccessLogs", Effect = "Allow", Principal = { Service = "logging.s3.amazonaws.com" },
        Action = "s3:PutObject", Resource = token.concat(logs:arn(), "/assets/*"),
        Condition = { ArnLike = { ["aws:SourceArn"] = b:arn() },
          StringEquals = { ["aws:SourceAccount"] = token.account_id } } },
    } },
  })
  s:add("s3_bucket_policy", "AssetsBucketPolicy", {
    Bucket = b:ref(),
    PolicyDocument = { Version = "2012-10-17", Statement = { deny_insecure(b) } },
  })
  local tpl = assembly.template(s)
  local text = stamp.put(tpl, {})
  return text, stamp.of(tpl.Description)
end

return M
