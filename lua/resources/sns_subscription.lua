--- AWS::SNS::Subscription (no tags in CloudFormation)
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sns-subscription.html
local t = require("lake.types")

local sns_subscription = { type = "AWS::SNS::Subscription" }

sns_subscription.fields = {
  { TopicArn = t.string { required = true } },
  { Protocol = t.enum { "http", "https", "email", "email-json", "sms", "sqs", "application",
    "lambda", "firehose", required = true } },
  { Endpoint = t.string {} },
  { FilterPolicy = t.any {} },
  { FilterPolicyScope = t.enum { "MessageAttributes", "MessageBody" } },
  { RawMessageDelivery = t.boolean {} },
  { RedrivePolicy = t.any {} },
  { DeliveryPolicy = t.any {} },
  { Region = t.string {} },
  { SubscriptionRoleArn = t.string {} },
}

sns_subscription.attributes = { "Arn" }

return sns_subscription
