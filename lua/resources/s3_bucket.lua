--- AWS::S3::Bucket
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-s3-bucket.html
-- The properties the lake uses and their common neighbours; nested types as
-- CloudFormation spells them.
local t = require("lake.types")

local s3_bucket = { type = "AWS::S3::Bucket", tags = "list",
  name_property = "BucketName", name_max = 63 }

local tag = t.object { { Key = t.string { required = true } }, { Value = t.string { required = true } } }

local storage_class = t.enum { "DEEP_ARCHIVE", "GLACIER", "GLACIER_IR", "INTELLIGENT_TIERING",
  "ONEZONE_IA", "STANDARD_IA", required = true }

local transition = t.object {
  { StorageClass = storage_class },
  { TransitionDate = t.string {} },
  { TransitionInDays = t.integer { min = 0 } },
}

local lifecycle_rule = t.object {
  { Id = t.string { max_len = 255 } },
  { Status = t.enum { "Enabled", "Disabled", required = true } },
  { Prefix = t.string {} },
  { TagFilters = t.list(tag) },
  { ExpirationInDays = t.integer { min = 1 } },
  { ExpirationDate = t.string {} },
  { ExpiredObjectDeleteMarker = t.boolean {} },
  { AbortIncompleteMultipartUpload = t.object {
    { DaysAfterInitiation = t.integer { min = 0, required = true } } } },
  { NoncurrentVersionExpiration = t.object {
    { NoncurrentDays = t.integer { min = 1, required = true } },
    { NewerNoncurrentVersions = t.integer { min = 1 } } } },
  { NoncurrentVersionTransitions = t.list(t.object {
    { StorageClass = storage_class },
    { TransitionInDays = t.integer { min = 0, required = true } },
    { NewerNoncurrentVersions = t.integer { min = 1 } } }) },
  { Transitions = t.list(transition) },
  { ObjectSizeGreaterThan = t.string {} },
  { ObjectSizeLessThan = t.string {} },
}

local filter = t.object { { S3Key = t.object({ { Rules = t.list(t.object {
  { Name = t.enum { "prefix", "suffix", required = true } },
  { Value = t.string { required = true } },
}, { required = true }) } }, { required = true }) } }

local function target_config(target_key)
  return t.object {
    { Event = t.string { required = true } },
    { Filter = filter },
    { [target_key] = t.string { required = true } },
  }
end

s3_bucket.fields = {
  { BucketName = t.string { max_len = 63, pattern = "^[a-z0-9][a-z0-9.%-]*[a-z0-9]$",
    pattern_msg = "lowercase letters, digits, '.' and '-', starting and ending with a letter or digit" } },
  { AccelerateConfiguration = t.object {
    { AccelerationStatus = t.enum { "Enabled", "Suspended", required = true } } } },
  { BucketEncryption = t.object({
    { ServerSideEncryptionConfiguration = t.list(t.object {
      { BucketKeyEnabled = t.boolean {} },
      { ServerSideEncryptionByDefault = t.object {
        { SSEAlgorithm = t.enum { "aws:kms", "AES256", "aws:kms:dsse", required = true } },
        { KMSMasterKeyID = t.string {} },
      } },
    }, { required = true, min_items = 1 }) },
  }) },
  { CorsConfiguration = t.object {
    { CorsRules = t.list(t.object {
      { Id = t.string { max_len = 255 } },
      { AllowedHeaders = t.list(t.string {}) },
      { AllowedMethods = t.list(t.enum { "GET", "PUT", "HEAD", "POST", "DELETE" }, { required = true }) },
      { AllowedOrigins = t.list(t.string {}, { required = true }) },
      { ExposedHeaders = t.list(t.string {}) },
      { MaxAge = t.integer { min = 0 } },
    }, { required = true }) },
  } },
  { LifecycleConfiguration = t.object {
    { Rules = t.list(lifecycle_rule, { required = true }) },
  } },
  { LoggingConfiguration = t.object {
    { DestinationBucketName = t.string {} },
    { LogFilePrefix = t.string {} },
  } },
  { NotificationConfiguration = t.object {
    { EventBridgeConfiguration = t.object {
      { EventBridgeEnabled = t.boolean { required = true } } } },
    { LambdaConfigurations = t.list(target_config("Function")) },
    { QueueConfigurations = t.list(target_config("Queue")) },
    { TopicConfigurations = t.list(target_config("Topic")) },
  } },
  { ObjectLockEnabled = t.boolean {} },
  { ObjectLockConfiguration = t.object {
    { ObjectLockEnabled = t.enum { "Enabled" } },
    { Rule = t.object { { DefaultRetention = t.object {
      { Mode = t.enum { "COMPLIANCE", "GOVERNANCE" } },
      { Days = t.integer { min = 1 } },
      { Years = t.integer { min = 1 } },
    } } } },
  } },
  { OwnershipControls = t.object {
    { Rules = t.list(t.object {
      { ObjectOwnership = t.enum { "ObjectWriter", "BucketOwnerPreferred", "BucketOwnerEnforced" } },
    }, { required = true }) },
  } },
  { PublicAccessBlockConfiguration = t.object {
    { BlockPublicAcls = t.boolean {} },
    { BlockPublicPolicy = t.boolean {} },
    { IgnorePublicAcls = t.boolean {} },
    { RestrictPublicBuckets = t.boolean {} },
  } },
  { VersioningConfiguration = t.object {
    { Status = t.enum { "Enabled", "Suspended", required = true } },
  } },
  { Tags = t.list(tag) },
}

s3_bucket.attributes = { "Arn", "DomainName", "DualStackDomainName", "RegionalDomainName", "WebsiteURL" }

return s3_bucket
