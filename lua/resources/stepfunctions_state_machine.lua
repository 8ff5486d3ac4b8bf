--- AWS::StepFunctions::StateMachine
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-stepfunctions-statemachine.html
-- Pipelines give DefinitionString (JSON text, a token when ARNs are inlined):
-- moto's CloudFormation reads only that property.
local limits = require("lake.limits")
local t = require("lake.types")

local stepfunctions_state_machine = { type = "AWS::StepFunctions::StateMachine", tags = "list",
  name_property = "StateMachineName", name_max = 80 }

local tag = t.object { { Key = t.string { required = true } }, { Value = t.string { required = true } } }

stepfunctions_state_machine.fields = {
  { StateMachineName = t.string { max_len = 80 } },
  { StateMachineType = t.enum { "STANDARD", "EXPRESS" } },
  { DefinitionString = t.string {} },
  { Definition = t.any() },
  { DefinitionS3Location = t.object {
    { Bucket = t.string { required = true } },
    { Key = t.string { required = true } },
    { Version = t.string {} },
  } },
  { DefinitionSubstitutions = t.map(t.any()) },
  { RoleArn = t.string { required = true } },
  { LoggingConfiguration = t.object {
    { Destinations = t.list(t.object {
      { CloudWatchLogsLogGroup = t.object { { LogGroupArn = t.string {} } } },
    }) },
    { IncludeExecutionData = t.boolean {} },
    { Level = t.enum { "ALL", "ERROR", "FATAL", "OFF" } },
  } },
  { TracingConfiguration = t.object { { Enabled = t.boolean {} } } },
  { Tags = t.list(tag) },
}

stepfunctions_state_machine.attributes = { "Arn", "Name", "StateMachineRevisionId" }

-- The definition: at most 1 MB (lake.limits).
stepfunctions_state_machine.check = limits.check(limits.definition_problem)

return stepfunctions_state_machine
