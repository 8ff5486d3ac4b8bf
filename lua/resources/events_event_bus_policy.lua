--- AWS::Events::EventBusPolicy: lets other accounts or an organization put
-- events on a bus. Give either Statement (a policy statement) or the legacy
-- trio Action/Principal/Condition.
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-events-eventbuspolicy.html
local t = require("lake.types")

local events_event_bus_policy = { type = "AWS::Events::EventBusPolicy",
  name_property = "StatementId", name_max = 64 }

events_event_bus_policy.fields = {
  { StatementId = t.string { required = true, max_len = 64, pattern = "^[%w_%-]+$",
    pattern_msg = "letters, digits, '_' and '-' only" } },
  { EventBusName = t.string { max_len = 256 } },
  { Statement = t.any {} },
  { Action = t.enum { "events:PutEvents" } },
  { Principal = t.string { max_len = 12 } }, -- a 12-digit account id or "*"
  { Condition = t.object {
    { Type = t.enum { "StringEquals" } },
    { Key = t.string {} },
    { Value = t.string {} },
  } },
}

events_event_bus_policy.attributes = {}

return events_event_bus_policy
