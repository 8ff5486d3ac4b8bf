--- AWS::Glue::Job
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-glue-job.html
-- Tags is a JSON map here (not the usual Key/Value list).
local limits = require("lake.limits")
local t = require("lake.types")

local glue_job = { type = "AWS::Glue::Job", tags = "map", name_property = "Name", name_max = 255 }

glue_job.fields = {
  { Name = t.string { max_len = 255 } },
  { Description = t.string {} },
  { Role = t.string { required = true } },
  { Command = t.object({
    { Name = t.enum { "glueetl", "pythonshell", "gluestreaming", "glueray" } },
    { ScriptLocation = t.string {} },
    { PythonVersion = t.enum { "2", "3", "3.9" } },
    { Runtime = t.string {} },
  }, { required = true }) },
  { DefaultArguments = t.map(t.string {}) },
  { NonOverridableArguments = t.map(t.string {}) },
  { GlueVersion = t.string {} },
  { MaxCapacity = t.number { min = 0.0625 } },
  { WorkerType = t.enum { "Standard", "G.1X", "G.2X", "G.025X", "G.4X", "G.8X", "Z.2X" } },
  { NumberOfWorkers = t.integer { min = 1 } },
  { Timeout = t.integer { min = 1 } },
  { MaxRetries = t.integer { min = 0 } },
  { ExecutionProperty = t.object { { MaxConcurrentRuns = t.integer { min = 1 } } } },
  { ExecutionClass = t.enum { "FLEX", "STANDARD" } },
  { Connections = t.object { { Connections = t.list(t.string {}) } } },
  { SecurityConfiguration = t.string {} },
  { NotificationProperty = t.object { { NotifyDelayAfter = t.integer { min = 1 } } } },
  { LogUri = t.string {} },
  { Tags = t.map(t.string {}) },
}

-- Ref returns the job name; CloudFormation has no GetAtt for jobs.
glue_job.attributes = {}

-- DefaultArguments and NonOverridableArguments: at most 260 KB in all (lake.limits).
glue_job.check = limits.check(limits.glue_arguments_problem)

return glue_job
