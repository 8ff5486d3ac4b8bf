--- AWS::SNS::Topic (Ref returns the topic ARN)
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sns-topic.html
local t = require("lake.types")

local sns_topic = { type = "AWS::SNS::Topic", tags = "list",
  name_property = "TopicName", name_max = 256 }

local tag = t.object { { Key = t.string { required = true } }, { Value = t.string { required = true } } }

sns_topic.fields = {
  { TopicName = t.string { max_len = 256, pattern = "^[%w_%-]+$",
    pattern_msg = "letters, digits, '_' and '-' only" } },
  { DisplayName = t.string { max_len = 100 } },
  { KmsMasterKeyId = t.string {} },
  { FifoTopic = t.boolean {} },
  { ContentBasedDeduplication = t.boolean {} },
  { SignatureVersion = t.enum { "1", "2" } },
  { TracingConfig = t.enum { "PassThrough", "Active" } },
  { ArchivePolicy = t.any {} },
  { DataProtectionPolicy = t.any {} },
  { Subscription = t.list(t.object {
    { Endpoint = t.string { required = true } },
    { Protocol = t.string { required = true } },
  }) },
  { Tags = t.list(tag) },
}

sns_topic.attributes = { "TopicArn", "TopicName" }

return sns_topic
