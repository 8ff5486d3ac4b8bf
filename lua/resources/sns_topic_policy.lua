--- AWS::SNS::TopicPolicy
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sns-topicpolicy.html
local t = require("lake.types")

local sns_topic_policy = { type = "AWS::SNS::TopicPolicy" }

sns_topic_policy.fields = {
  { PolicyDocument = t.any { required = true } },
  { Topics = t.list(t.string {}, { required = true, min_items = 1 }) },
}

sns_topic_policy.attributes = { "Id" }

return sns_topic_policy
