--- AWS::Lambda::Function
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-function.html
local limits = require("lake.limits")
local t = require("lake.types")

local lambda_function = { type = "AWS::Lambda::Function", tags = "list",
  name_property = "FunctionName", name_max = 64 }

local tag = t.object { { Key = t.string { required = true } }, { Value = t.string { required = true } } }

lambda_function.fields = {
  { FunctionName = t.string { max_len = 64 } },
  { Description = t.string { max_len = 256 } },
  { Code = t.object({
    { S3Bucket = t.string {} },
    { S3Key = t.string {} },
    { S3ObjectVersion = t.string {} },
    { ZipFile = t.string {} },
    { ImageUri = t.string {} },
  }, { required = true }) },
  { Handler = t.string { max_len = 128 } },
  { Runtime = t.string {} },
  { Role = t.string { required = true } },
  { Timeout = t.integer { min = 1, max = 900 } },
  { MemorySize = t.integer { min = 128, max = 10240 } },
  { Environment = t.object { { Variables = t.map(t.string {}) } } },
  { LoggingConfig = t.object {
    { LogGroup = t.string {} },
    { LogFormat = t.enum { "Text", "JSON" } },
    { ApplicationLogLevel = t.enum { "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL" } },
    { SystemLogLevel = t.enum { "DEBUG", "INFO", "WARN" } },
  } },
  { Architectures = t.list(t.enum { "x86_64", "arm64" }) },
  { VpcConfig = t.object {
    { SubnetIds = t.list(t.string {}) },
    { SecurityGroupIds = t.list(t.string {}) },
  } },
  { Layers = t.list(t.string {}) },
  { TracingConfig = t.object { { Mode = t.enum { "Active", "PassThrough" } } } },
  { EphemeralStorage = t.object { { Size = t.integer { min = 512, max = 10240, required = true } } } },
  { ReservedConcurrentExecutions = t.integer { min = 0 } },
  { Tags = t.list(tag) },
}

lambda_function.attributes = { "Arn" }

-- Environment: at most 4 KB in all (lake.limits).
lambda_function.check = limits.check(limits.lambda_environment_problem)

return lambda_function
