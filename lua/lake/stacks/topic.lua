--- The lake's error topic, its TLS-only policy and its subscriptions, in
-- the shared stack.
--
-- Model objects only (no I/O).
local names = require("lake.names")
local storage = require("lake.stacks.storage")
local token = require("lake.token")
local util = require("lake.util")

local M = {}

local POLICY_VERSION = "2012-10-17"

--- FNV-1a (32 bits) as 8 hex digits: short stable suffixes for logical ids.
local function fnv8(s)
  local h = 2166136261
  for i = 1, #s do
    h = ((h ~ s:byte(i)) * 16777619) & 0xffffffff
  end
  return ("%08X"):format(h)
end

--- Adds the error topic of the built lake to the shared stack.
-- @param subscriptions array of { protocol =, endpoint = } (checked options)
function M.build(lake, stack, subscriptions)
  local topic = stack:add("sns_topic", "ErrorTopic", {
    TopicName = lake.sns_topic.name,
    DisplayName = lake.name:sub(1, 100),
    KmsMasterKeyId = lake.encryption:topic_key(stack),
  })
  lake.encryption:note_topic(topic)
  stack:add("sns_topic_policy", "ErrorTopicPolicy", {
    Topics = { topic:ref() },
    PolicyDocument = { Version = POLICY_VERSION, Statement = {
      storage.deny_insecure_transport("sns:Publish", topic:ref()),
      -- The pipelines' dead-letter alarms publish here; a topic policy of
      -- its own replaces SNS's default one, so CloudWatch needs this
      -- statement, limited to the lake account's alarms.
      { Sid = "LakeAlarms", Effect = "Allow", Principal = { Service = "cloudwatch.amazonaws.com" },
        Action = "sns:Publish", Resource = topic:ref(),
        Condition = { ArnLike = { ["aws:SourceArn"] = names.arn("cloudwatch", "alarm:*", lake.env) },
          StringEquals = { ["aws:SourceAccount"] = lake.env.account or token.account_id } } },
    } },
  })
  for _, s in ipairs(subscriptions) do
    local id = "ErrorTopic" .. util.pascal(s.protocol) .. "Subscription"
      .. fnv8(s.protocol .. " " .. tostring(token.worst_case(s.endpoint) or s.endpoint))
    stack:add("sns_subscription", id, { TopicArn = topic:ref(), Protocol = s.protocol, Endpoint = s.endpoint })
    -- SNS may invoke a Lambda subscriber only with the function's consent.
    -- As CDK does, grant it when the function is in the lake's account (or
    -- the account is not known before deploy); a function of another
    -- account is its owner's to open.
    local fn_account = type(s.endpoint) == "string" and s.endpoint:match("^arn:[^:]+:lambda:[^:]+:(%d+):")
    if s.protocol == "lambda" and (lake.account == nil or fn_account == lake.account) then
      stack:add("lambda_permission", id .. "Permission", {
        Action = "lambda:InvokeFunction", FunctionName = s.endpoint, Principal = "sns.amazonaws.com",
        SourceArn = topic:ref(),
      })
    end
  end
end

return M
