--- The toolkit stack: the assets bucket every deploy uploads to, one per
-- account and region (lakehost-assets-<account>-<region>), made by
-- `bootstrap` like any stack (model, then assembly).
local app_mod = require("lake.app")
local assembly = require("lake.assembly")
local deploy = require("lake.deploy")
local stamp = require("lake.stamp")
local token = require("lake.token")

local M = {}

M.STACK = deploy.TOOLKIT_STACK

--- The toolkit stack's template text and its hash.
-- @param bucket string the assets bucket's name
-- @return text, hash
function M.template(bucket)
  local a = app_mod.new { name = "lakehost-toolkit" }
  local s = a:stack(M.STACK, { description = "lakehost toolkit: the assets bucket" })
  local b = s:add("s3_bucket", "AssetsBucket", {
    BucketName = bucket,
    BucketEncryption = { ServerSideEncryptionConfiguration = {
      { ServerSideEncryptionByDefault = { SSEAlgorithm = "AES256" }, BucketKeyEnabled = true } } },
    PublicAccessBlockConfiguration = { BlockPublicAcls = true, BlockPublicPolicy = true,
      IgnorePublicAcls = true, RestrictPublicBuckets = true },
    OwnershipControls = { Rules = { { ObjectOwnership = "BucketOwnerEnforced" } } },
    VersioningConfiguration = { Status = "Enabled" },
    LifecycleConfiguration = { Rules = { {
      Id = "expire-old-versions", Status = "Enabled",
      NoncurrentVersionExpiration = { NoncurrentDays = 30 },
      AbortIncompleteMultipartUpload = { DaysAfterInitiation = 7 },
    } } },
  }, { deletion_policy = "Retain", update_replace_policy = "Retain" })
  s:add("s3_bucket_policy", "AssetsBucketPolicy", {
    Bucket = b:ref(),
    PolicyDocument = { Version = "2012-10-17", Statement = { {
      Sid = "DenyInsecureTransport", Effect = "Deny", Principal = "*", Action = "s3:*",
      Resource = { b:arn(), token.concat(b:arn(), "/*") },
      Condition = { Bool = { ["aws:SecureTransport"] = "false" } },
    } } },
  })
  local tpl = assembly.template(s)
  local text = stamp.put(tpl, {})
  return text, stamp.of(tpl.Description)
end

return M
