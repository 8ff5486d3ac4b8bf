--- AWS::Events::EventBus (Ref returns the bus name)
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-events-eventbus.html
local t = require("lake.types")

local events_event_bus = { type = "AWS::Events::EventBus", tags = "list",
  name_property = "Name", name_max = 256 }

local tag = t.object { { Key = t.string { required = true } }, { Value = t.string { required = true } } }

events_event_bus.fields = {
  { Name = t.string { required = true, max_len = 256, pattern = "^[/%.%-_%w]+$",
    pattern_msg = "letters, digits and /.-_ only" } },
  { Description = t.string { max_len = 512 } },
  { EventSourceName = t.string {} },
  { KmsKeyIdentifier = t.string {} },
  { DeadLetterConfig = t.object { { Arn = t.string {} } } },
  { Policy = t.any {} },
  { Tags = t.list(tag) },
}

events_event_bus.attributes = { "Arn", "Name", "Policy" }

return events_event_bus
