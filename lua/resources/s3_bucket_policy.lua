--- AWS::S3::BucketPolicy
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-s3-bucketpolicy.html
local t = require("lake.types")

local s3_bucket_policy = { type = "AWS::S3::BucketPolicy" }

s3_bucket_policy.fields = {
  { Bucket = t.string { required = true } },
  { PolicyDocument = t.any { required = true } },
}

s3_bucket_policy.attributes = {}

return s3_bucket_policy
