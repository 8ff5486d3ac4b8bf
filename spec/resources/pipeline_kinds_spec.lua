-- The resource kinds the pipelines use: lambda_function, lambda_permission,
-- glue_job, logs_log_group, stepfunctions_state_machine, events_rule.
local app_mod = require("lake.app")
local assembly = require("lake.assembly")
local token = require("lake.token")

local function new_stack()
  local app = app_mod.new { tags = { lake = "x" } }
  return app:stack("p-dev"), app
end

local function refused(kind, props)
  local ok, err = pcall(function() new_stack():add(kind, "R", props) end)
  assert.is_false(ok)
  return err:gsub("^.-: ", "", 1) -- drop the spec's "file:line: "
end

describe("lambda_function #unit", function()
  -- refusals
  it("requires Code and Role", function()
    assert.equal("p-dev R (AWS::Lambda::Function): Code: is required; Role: is required",
      refused("lambda_function", {}))
  end)

  it("checks timeout, memory and name length", function()
    assert.equal("p-dev R (AWS::Lambda::Function): FunctionName: is 65 characters long, at most 64 allowed; "
      .. "Timeout: must be at most 900, got 901; MemorySize: must be at least 128, got 64",
      refused("lambda_function", { Code = { ZipFile = "x" }, Role = "r", FunctionName = ("f"):rep(65),
        Timeout = 901, MemorySize = 64 }))
  end)

  it("wants string environment values", function()
    assert.equal("p-dev R (AWS::Lambda::Function): Environment.Variables.N: expected string, got integer",
      refused("lambda_function", { Code = { ZipFile = "x" }, Role = "r", Environment = { Variables = { N = 1 } } }))
  end)

  it("suggests the property meant", function()
    assert.equal("p-dev R (AWS::Lambda::Function): Handlr: unknown property (did you mean 'Handler'?)",
      refused("lambda_function", { Code = { ZipFile = "x" }, Role = "r", Handlr = "index.handler" }))
  end)

  -- acceptance
  it("synthesizes with tags merged into the Key/Value list", function()
    local s = new_stack()
    local fn = s:add("lambda_function", "Fn", {
      FunctionName = "f-dev", Code = { S3Bucket = "b", S3Key = "k.zip" }, Handler = "index.handler",
      Runtime = "python3.12", Role = token.concat("arn:aws:iam::", token.account_id, ":role/r"),
      Environment = { Variables = { A = "1" } }, LoggingConfig = { LogGroup = "/aws/lambda/f-dev" },
      Tags = { { Key = "own", Value = "1" } },
    })
    local tpl = assembly.template(s, {})
    local r = tpl.Resources.Fn
    assert.equal("AWS::Lambda::Function", r.Type)
    assert.same({ { Key = "lake", Value = "x" }, { Key = "own", Value = "1" } }, r.Properties.Tags)
    assert.same({ ["Fn::Sub"] = "arn:aws:iam::${AWS::AccountId}:role/r" }, r.Properties.Role)
    assert.same({ ["Fn::GetAtt"] = { "Fn", "Arn" } }, token.resolve(fn:arn(), { stack = s }))
  end)
end)

describe("lambda_permission #unit", function()
  it("requires action, function and principal", function()
    assert.equal("p-dev R (AWS::Lambda::Permission): Action: is required; FunctionName: is required; "
      .. "Principal: is required", refused("lambda_permission", {}))
  end)

  it("takes no tags", function()
    local s = new_stack()
    s:add("lambda_permission", "P", { Action = "lambda:InvokeFunction", FunctionName = "f",
      Principal = "events.amazonaws.com", SourceArn = "arn:aws:events:::rule/x" })
    assert.is_nil(assembly.template(s, {}).Resources.P.Properties.Tags)
  end)
end)

describe("glue_job #unit", function()
  it("refuses a bad command and worker type", function()
    assert.equal("p-dev R (AWS::Glue::Job): Command.Name: expected one of glueetl, pythonshell, "
      .. "gluestreaming, glueray, got 'pythonshel' (did you mean 'pythonshell'?); "
      .. "WorkerType: expected one of Standard, G.1X, G.2X, G.025X, G.4X, G.8X, Z.2X, got 'G.3X' "
      .. "(did you mean 'G.1X'?)",
      refused("glue_job", { Role = "r", Command = { Name = "pythonshel" }, WorkerType = "G.3X" }))
  end)

  it("puts tags as a map", function()
    local s = new_stack()
    s:add("glue_job", "J", { Name = "j-dev", Role = "r", Command = { Name = "pythonshell",
      ScriptLocation = "s3://b/k.py", PythonVersion = "3.9" }, Tags = { own = "1" } })
    assert.same({ lake = "x", own = "1" }, assembly.template(s, {}).Resources.J.Properties.Tags)
  end)
end)

describe("logs_log_group #unit", function()
  it("accepts only CloudWatch's retention periods", function()
    assert.equal("p-dev R (AWS::Logs::LogGroup): RetentionInDays: expected one of 1, 3, 5, 7, 14, 30, 60, "
      .. "90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653, got 31",
      refused("logs_log_group", { RetentionInDays = 31 }))
    local s = new_stack()
    local g = s:add("logs_log_group", "G", { LogGroupName = "/aws/lambda/f", RetentionInDays = 30 })
    assert.equal(30, assembly.template(s, {}).Resources.G.Properties.RetentionInDays)
    assert.is_true(token.is(g:arn()))
  end)
end)

describe("stepfunctions_state_machine #unit", function()
  it("requires a role and limits the name to 80", function()
    assert.equal("p-dev R (AWS::StepFunctions::StateMachine): StateMachineName: is 81 characters long, "
      .. "at most 80 allowed; RoleArn: is required",
      refused("stepfunctions_state_machine", { StateMachineName = ("m"):rep(81) }))
  end)

  it("accepts a token definition and exposes Arn and Name", function()
    local s = new_stack()
    local m = s:add("stepfunctions_state_machine", "M", { StateMachineName = "m-dev", RoleArn = "r",
      DefinitionString = token.concat('{"x":"', token.region, '"}') })
    assert.same({ ["Fn::Sub"] = '{"x":"${AWS::Region}"}' },
      assembly.template(s, {}).Resources.M.Properties.DefinitionString)
    assert.is_true(token.is(m:attr("Name")))
  end)
end)

describe("events_rule #unit", function()
  it("checks targets and refuses Tags", function()
    assert.equal("p-dev R (AWS::Events::Rule): Tags: unknown property; "
      .. "Targets[1].Arn: is required",
      refused("events_rule", { Targets = { { Id = "t" } }, Tags = {} }))
  end)

  it("passes the event pattern through", function()
    local s, app = new_stack()
    app.tags = {}
    s:add("events_rule", "E", { Name = "r-dev", State = "ENABLED",
      EventPattern = { source = { "aws.s3" } }, Targets = { { Id = "t", Arn = "a" } } })
    assert.same({ Name = "r-dev", State = "ENABLED", EventPattern = { source = { "aws.s3" } },
      Targets = { { Id = "t", Arn = "a" } } }, assembly.template(s, {}).Resources.E.Properties)
  end)

  it("reports names too long with the longest region and account", function()
    local s = new_stack()
    s:add("events_rule", "E", { Name = token.concat(("r"):rep(40), "-", token.region, "-", token.account_id) })
    local errs = assembly.check_limits(s, assembly.template(s, {}), 10)
    assert.equal(1, #errs)
    assert.matches("Name '" .. ("r"):rep(40) .. "%-ap%-southeast%-5%-123456789012' is 68 characters", errs[1])
  end)
end)
