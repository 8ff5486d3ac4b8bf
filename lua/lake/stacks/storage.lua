--- The lake's storage stack: one bucket per domain and layer, each with a
-- bucket policy that refuses requests without TLS and its server access
-- logs in the lake's logs bucket; the lake key (lake.stacks.encryption).
--
-- Model objects only (no I/O).
local nag = require("lake.nag")
local names = require("lake.names")
local token = require("lake.token")
local util = require("lake.util")

local M = {}

local POLICY_VERSION = "2012-10-17"

--- The statement of a resource policy that refuses requests without TLS.
function M.deny_insecure_transport(action, resources)
  return {
    Sid = "DenyInsecureTransport", Effect = "Deny", Principal = { AWS = "*" }, Action = action,
    Resource = resources, Condition = { Bool = { ["aws:SecureTransport"] = "false" } },
  }
end

--- Declares the storage stack of the built lake.
function M.build(lake)
  local stack = lake.app:stack(names.storage_stack(lake.stage), {
    description = ("Buckets of the %s datalake (%s): one per domain and layer"):format(lake.name, lake.stage),
  })
  local enc = lake.encryption
  enc:build_key(stack)
  local arns = {}
  for _, b in ipairs(lake.bucket_set.list) do arns[#arns + 1] = b.arn end
  enc:build_logs_bucket(stack, arns, M.deny_insecure_transport)
  for _, b in ipairs(lake.bucket_set.list) do
    local id = util.pascal(b.domain) .. util.pascal(b.layer) .. "Bucket"
    local props = {
      BucketName = b.name,
      PublicAccessBlockConfiguration = { BlockPublicAcls = true, BlockPublicPolicy = true,
        IgnorePublicAcls = true, RestrictPublicBuckets = true },
      BucketEncryption = enc:bucket_encryption(stack),
      LoggingConfiguration = enc:logging(b),
      OwnershipControls = { Rules = { { ObjectOwnership = "BucketOwnerEnforced" } } },
      -- Pipelines watch buckets through EventBridge rules, so several can
      -- share a bucket without overwriting each other's notifications.
      NotificationConfiguration = { EventBridgeConfiguration = { EventBridgeEnabled = true } },
      VersioningConfiguration = { Status = "Enabled" },
      LifecycleConfiguration = { Rules = {
        { Id = "AbortIncompleteUploads", Status = "Enabled",
          AbortIncompleteMultipartUpload = { DaysAfterInitiation = 7 } },
        { Id = "ExpireNoncurrentVersions", Status = "Enabled",
          NoncurrentVersionExpiration = { NoncurrentDays = lake.noncurrent_version_days } },
      } },
    }
    local bucket = stack:add("s3_bucket", id, props,
      { deletion_policy = "Retain", update_replace_policy = "Retain" })
    enc:note_bucket(bucket)
    nag.suppress_packs(bucket, "S3BucketReplicationEnabled", nag.REPLICATION_REASON)
    stack:add("s3_bucket_policy", id .. "Policy", {
      Bucket = bucket:ref(),
      PolicyDocument = { Version = POLICY_VERSION, Statement = {
        M.deny_insecure_transport("s3:*", { bucket:arn(), token.concat(bucket:arn(), "/*") }) } },
    })
  end
  return stack
end

return M
