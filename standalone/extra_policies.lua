--- Example standalone stack: lets other AWS accounts (or every account of an
-- AWS Organization) put events on this account's event bus, so their systems
-- can start the lake's pipelines through EventBridge rules.
--
-- A standalone script is run by the lake builder (the `standalone` option in
-- app.lua) with the app and the built lake as its arguments. It sees `lake`
-- (the DSL), `datalake` (the built lake) and the safe builtins; globals are
-- refused, so declare everything local.
local app, datalake = ...

-- Who may put events, and on which bus. Accounts are 12-digit ids; an
-- organization id ("o-" and 10 to 32 characters) admits all its accounts.
local CONFIG = {
  event_bus = "default",
  accounts = { "111111111111" },
  organization = nil, -- e.g. "o-a1b2c3d4e5"
}

local lake = require("lake")
local token = lake.token

local stack = app:stack(lake.Name("lake-extra-policies-stack", datalake.stage), {
  description = ("Extra policies of the %s datalake (%s): who may put events on the '%s' bus")
    :format(datalake.name, datalake.stage, CONFIG.event_bus),
})
stack:depends_on(datalake.shared_stack)

local bus_arn = lake.names.arn("events", "event-bus/" .. CONFIG.event_bus, datalake.env)

for _, account in ipairs(CONFIG.accounts) do
  stack:add("events_event_bus_policy", "PutEventsFromAccount" .. account, {
    StatementId = ("lake-put-events-%s-%s"):format(account, datalake.stage),
    EventBusName = CONFIG.event_bus,
    Statement = {
      Sid = ("lake-put-events-%s-%s"):format(account, datalake.stage),
      Effect = "Allow",
      Principal = { AWS = token.concat("arn:", token.partition, ":iam::", account, ":root") },
      Action = "events:PutEvents",
      Resource = bus_arn,
    },
  })
end

if CONFIG.organization then
  stack:add("events_event_bus_policy", "PutEventsFromOrganization", {
    StatementId = ("lake-put-events-org-%s"):format(datalake.stage),
    EventBusName = CONFIG.event_bus,
    Statement = {
      Sid = ("lake-put-events-org-%s"):format(datalake.stage),
      Effect = "Allow",
      Principal = "*",
      Action = "events:PutEvents",
      Resource = bus_arn,
      Condition = { StringEquals = { ["aws:PrincipalOrgID"] = CONFIG.organization } },
    },
  })
end
