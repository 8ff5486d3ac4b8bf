-- The resource kinds the pipelines use: lambda_function, lambda_permission,
-- glue_job, logs_log_group, stepfunctions_state_machine, events_rule.
local app_mod = require("lake.app")
local assembly = require("lake.assembly")
local token = require("lake.token")

local ROLE = "arn:aws:iam::123456789012:role/r"

local function new_stack()
  local app = app_mod.new { tags = { lake = "x" } }
  return app:stack("p-dev"), app
end

-- The problems Stack:add recorded, "; "-joined, each without the spec's
-- "file:line: " (every one of them has it).
local function refused(kind, props)
  local s, app = new_stack()
  s:add(kind, "R", props)
  assert.is_true(#app.problems > 0, "no problem recorded")
  local out = {}
  for i, p in ipairs(app.problems) do
    assert.matches("^[^:]*pipeline_kinds_spec%.lua:%d+: ", p)
    out[i] = p:gsub("^.-:%d+: ", "", 1)
  end
  return table.concat(out, "; ")
end

describe("lambda_function #unit", function()
  -- refusals
  it("requires Code and Role", function()
    assert.equal("p-dev R.Code: is required (AWS::Lambda::Function); "
      .. "p-dev R.Role: is required (AWS::Lambda::Function)",
      refused("lambda_function", {}))
  end)

  it("checks timeout, memory and name length", function()
    assert.equal("p-dev R.FunctionName: is 65 characters long, at most 64 allowed (AWS::Lambda::Function); "
      .. "p-dev R.MemorySize: must be at least 128, got 64 (AWS::Lambda::Function); "
      .. "p-dev R.Timeout: must be at most 900, got 901 (AWS::Lambda::Function)",
      refused("lambda_function", { Code = { ZipFile = "x" }, Role = ROLE, FunctionName = ("f"):rep(65),
        Timeout = 901, MemorySize = 64 }))
  end)

  it("wants string environment values", function()
    assert.equal("p-dev R.Environment.Variables.NUM: expected string, got integer (AWS::Lambda::Function)",
      refused("lambda_function", { Code = { ZipFile = "x" }, Role = ROLE, Environment = { Variables = { NUM = 1 } } }))
    assert.equal("p-dev R.Environment.Variables.N: is not a key this map takes (keys match [a-zA-Z][a-zA-Z0-9_]+) "
      .. "(AWS::Lambda::Function)",
      refused("lambda_function", { Code = { ZipFile = "x" }, Role = ROLE, Environment = { Variables = { N = "1" } } }))
  end)

  it("suggests the property meant", function()
    assert.equal("p-dev R.Handlr: unknown property (did you mean 'Handler'?) (AWS::Lambda::Function)",
      refused("lambda_function", { Code = { ZipFile = "x" }, Role = ROLE, Handlr = "index.handler" }))
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
    assert.equal("p-dev R.Action: is required (AWS::Lambda::Permission); "
      .. "p-dev R.FunctionName: is required (AWS::Lambda::Permission); "
      .. "p-dev R.Principal: is required (AWS::Lambda::Permission)", refused("lambda_permission", {}))
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
    assert.equal("p-dev R.Command.Name: expected one of glueetl, pythonshell, "
      .. "gluestreaming, glueray, got 'pythonshel' (did you mean 'pythonshell'?) (AWS::Glue::Job); "
      .. "p-dev R.WorkerType: expected one of Standard, G.1X, G.2X, G.025X, G.4X, G.8X, Z.2X, G.12X, G.16X, "
      .. "R.1X, R.2X, R.4X, R.8X, got 'G.3X' (did you mean 'G.1X'?) (AWS::Glue::Job)",
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
    assert.equal("p-dev R.RetentionInDays: expected one of 1, 3, 5, 7, 14, 30, 60, "
      .. "90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653, got 31 "
      .. "(AWS::Logs::LogGroup)",
      refused("logs_log_group", { RetentionInDays = 31 }))
    local s = new_stack()
    local g = s:add("logs_log_group", "G", { LogGroupName = "/aws/lambda/f", RetentionInDays = 30 })
    assert.equal(30, assembly.template(s, {}).Resources.G.Properties.RetentionInDays)
    assert.is_true(token.is(g:arn()))
  end)
end)

describe("stepfunctions_state_machine #unit", function()
  it("requires a role and limits the name to 80", function()
    assert.equal("p-dev R.RoleArn: is required (AWS::StepFunctions::StateMachine); "
      .. "p-dev R.StateMachineName: is 81 characters long, at most 80 allowed (AWS::StepFunctions::StateMachine)",
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
  it("checks targets, and takes Tags of its own but not the lake's", function()
    assert.equal("p-dev R: needs one of 'EventPattern' or 'ScheduleExpression' (AWS::Events::Rule); "
      .. "p-dev R.Targets[1].Arn: is required (AWS::Events::Rule)",
      refused("events_rule", { Targets = { { Id = "t" } }, Tags = {} }))
    local s = new_stack()
    s:add("events_rule", "E", { ScheduleExpression = "rate(1 day)", Tags = { { Key = "own", Value = "1" } } })
    assert.same({ { Key = "own", Value = "1" } }, assembly.template(s, {}).Resources.E.Properties.Tags)
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
