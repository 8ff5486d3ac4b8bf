-- lake.changes: change set summaries, broadening IAM statements and
-- security group rules between two templates, approval, capabilities,
-- outputs. Pure functions over plain tables.
local changes = require("lake.changes")
local json = require("host.json")

local function role(policy_statements, extra)
  local p = {
    AssumeRolePolicyDocument = { Version = "2012-10-17", Statement = {
      { Effect = "Allow", Action = "sts:AssumeRole", Principal = { Service = "lambda.amazonaws.com" } } } },
    Policies = { { PolicyName = "work", PolicyDocument = { Version = "2012-10-17", Statement = policy_statements } } },
  }
  for k, v in pairs(extra or {}) do p[k] = v end
  return { Type = "AWS::IAM::Role", Properties = p }
end

local function tpl(resources) return { Resources = resources } end

local RAW_OBJECTS = { ["Fn::Sub"] = "${Raw.Arn}/*" }

local function lines_of(items)
  local out = {}
  for i, it in ipairs(items) do out[i] = changes.format_item(it) end
  return out
end

describe("lake.changes capabilities #unit", function()
  it("asks for nothing when the template has no IAM resource, transform or nested stack", function()
    assert.same({}, changes.capabilities(tpl { B = { Type = "AWS::S3::Bucket" } }))
  end)

  it("asks for CAPABILITY_IAM for an IAM resource without a name of its own", function()
    assert.same({ "CAPABILITY_IAM" }, changes.capabilities(tpl { R = role({}) }))
    -- an inline policy's PolicyName is not a name of an IAM resource
    assert.same({ "CAPABILITY_IAM" }, changes.capabilities(tpl {
      P = { Type = "AWS::IAM::Policy", Properties = { PolicyName = "p", PolicyDocument = {}, Roles = { "r" } } } }))
  end)

  it("asks for CAPABILITY_NAMED_IAM when an IAM resource has its own name", function()
    for typ, prop in pairs({ ["AWS::IAM::Role"] = "RoleName", ["AWS::IAM::ManagedPolicy"] = "ManagedPolicyName",
      ["AWS::IAM::User"] = "UserName", ["AWS::IAM::Group"] = "GroupName",
      ["AWS::IAM::InstanceProfile"] = "InstanceProfileName" }) do
      assert.same({ "CAPABILITY_IAM", "CAPABILITY_NAMED_IAM" },
        changes.capabilities(tpl { X = { Type = typ, Properties = { [prop] = { ["Fn::Sub"] = "x-${AWS::Region}" } } } }),
        typ)
    end
  end)

  it("asks for CAPABILITY_AUTO_EXPAND for a transform, a macro or a nested stack", function()
    assert.same({ "CAPABILITY_AUTO_EXPAND" },
      changes.capabilities { Transform = "AWS::LanguageExtensions", Resources = { B = { Type = "AWS::S3::Bucket" } } })
    assert.same({ "CAPABILITY_AUTO_EXPAND" }, changes.capabilities(tpl { B = { Type = "AWS::S3::Bucket",
      Properties = { ["Fn::Transform"] = { Name = "MyMacro" } } } }))
    -- what a nested stack holds is not in this template
    assert.same({ "CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND" },
      changes.capabilities(tpl { N = { Type = "AWS::CloudFormation::Stack", Properties = { TemplateURL = "u" } } }))
  end)

  it("gives the example lake's stacks only what each needs", function()
    local bucket = tpl { B = { Type = "AWS::S3::Bucket" }, P = { Type = "AWS::S3::BucketPolicy" } }
    assert.same({}, changes.capabilities(bucket))
    local pipeline = tpl { R = role({}, { RoleName = { ["Fn::Sub"] = "r-${AWS::Region}-dev" } }),
      F = { Type = "AWS::Lambda::Function" } }
    assert.same({ "CAPABILITY_IAM", "CAPABILITY_NAMED_IAM" }, changes.capabilities(pipeline))
  end)
end)

describe("lake.changes summary #unit", function()
  local OLD = tpl {
    Raw = { Type = "AWS::S3::Bucket", Properties = { BucketName = "raw-a", VersioningConfiguration = { Status = "Enabled" } } },
    Topic = { Type = "AWS::SNS::Topic", Properties = { TopicName = "t", DisplayName = "one" } },
    Gone = { Type = "AWS::SQS::Queue" },
  }
  local NEW = tpl {
    Raw = { Type = "AWS::S3::Bucket", Properties = { BucketName = "raw-b", VersioningConfiguration = { Status = "Enabled" } } },
    Topic = { Type = "AWS::SNS::Topic", Properties = { TopicName = "t", DisplayName = "two" } },
    Queue = { Type = "AWS::SQS::Queue" },
  }
  -- what moto 5.2.1 answers: actions without Replacement or Details
  local MOTO = {
    { action = "Add", logical_id = "Queue", type = "AWS::SQS::Queue" },
    { action = "Modify", logical_id = "Topic", type = "AWS::SNS::Topic" },
    { action = "Modify", logical_id = "Raw", type = "AWS::S3::Bucket" },
    { action = "Remove", logical_id = "Gone", type = "AWS::SQS::Queue" },
  }

  it("works out replacements from the templates and the schemas' createOnlyProperties when the change set gives none",
    function()
      local s = changes.summary(MOTO, OLD, NEW)
      assert.equal("change set, replacement from the templates (the change set gave none)", s.source)
      assert.same({ { id = "Queue", type = "AWS::SQS::Queue", action = "Add" } }, s.added)
      assert.same({ { id = "Gone", type = "AWS::SQS::Queue", action = "Remove" } }, s.removed)
      assert.same({ id = "Raw", type = "AWS::S3::Bucket", action = "Modify", replacement = "True",
        replacement_from = "templates", because = { "BucketName" }, properties = { "BucketName" } }, s.modified[1])
      assert.same({ id = "Topic", type = "AWS::SNS::Topic", action = "Modify", replacement = "False",
        replacement_from = "templates", because = {}, properties = { "DisplayName" } }, s.modified[2])
      assert.same({
        "s-dev: 1 to add, 2 to modify, 1 to remove (source: change set, replacement from the templates (the change set gave none))",
        "  + Queue (AWS::SQS::Queue)",
        "  ~ Raw (AWS::S3::Bucket)  replacement: True (BucketName); properties: BucketName",
        "  ~ Topic (AWS::SNS::Topic)  properties: DisplayName",
        "  - Gone (AWS::SQS::Queue)",
      }, changes.format_summary("s-dev", s))
      assert.same({ "Raw" }, { changes.replaced(s)[1].id })
    end)

  it("takes Replacement and the properties from the change set when it gives them", function()
    local aws = { { action = "Modify", logical_id = "Raw", type = "AWS::S3::Bucket", replacement = "Conditional",
      scope = { "Properties" }, details = {
        { name = "BucketName", attribute = "Properties", requires = "Conditionally" },
        { name = "Tags", attribute = "Properties", requires = "Never" } } } }
    local s = changes.summary(aws, nil, NEW)
    assert.equal("change set", s.source)
    assert.same({ id = "Raw", type = "AWS::S3::Bucket", action = "Modify", replacement = "Conditional",
      replacement_from = "change set", because = { "BucketName" }, properties = { "BucketName", "Tags" } }, s.modified[1])
    assert.same({ "  ~ Raw (AWS::S3::Bucket)  replacement: Conditional (BucketName); properties: BucketName, Tags" },
      { changes.format_summary("s", s)[2] })
    assert.same({}, changes.replaced(s))
    assert.equal(1, #changes.replaced(s, true))
  end)

  it("reads a changed type as a replacement, and create-only paths inside lists", function()
    local old = tpl { X = { Type = "Custom::A", Properties = { List = { { Id = "a", Size = 1 } } } } }
    local new = tpl { X = { Type = "Custom::A", Properties = { List = { { Id = "b", Size = 1 } } } } }
    local only = function() return { "List.*.Id" } end
    assert.equal("True", (changes.replacement(old.Resources.X, new.Resources.X, only)))
    local resized = tpl { X = { Type = "Custom::A", Properties = { List = { { Id = "a", Size = 2 } } } } }
    assert.equal("False", (changes.replacement(old.Resources.X, resized.Resources.X, only)))
    -- an intrinsic above a create-only path stands for all under it
    local chosen = { Type = "Custom::A", Properties = { List = { ["Fn::If"] = { "C", { { Id = "a" } }, { { Id = "b" } } } } } }
    local chosen2 = { Type = "Custom::A", Properties = { List = { ["Fn::If"] = { "C", { { Id = "a" } }, { { Id = "c" } } } } } }
    assert.equal("True", (changes.replacement(chosen, chosen2, only)))
    assert.equal("False", (changes.replacement(chosen, chosen, only)))
    local retyped = { Type = "Custom::B", Properties = old.Resources.X.Properties }
    local rep, _, why = changes.replacement(old.Resources.X, retyped, only)
    assert.equal("True", rep)
    assert.same({ "Type" }, why)
  end)

  it("falls back on the templates when the change set lists nothing", function()
    local s = changes.summary({}, OLD, NEW)
    assert.equal("the templates (the change set listed no resource)", s.source)
    assert.equal(1, #s.added)
    assert.equal(2, #s.modified)
    assert.equal(1, #s.removed)
    assert.same({ "s: no resource changes (source: change set)" }, changes.format_summary("s", changes.summary({}, OLD, OLD)))
    -- Metadata alone changes no resource
    local noted = tpl { Gone = { Type = "AWS::SQS::Queue", Metadata = { note = "x" } },
      Raw = OLD.Resources.Raw, Topic = OLD.Resources.Topic }
    assert.equal(0, #changes.summary({}, OLD, noted).modified)
  end)
end)

describe("lake.changes broadening #unit", function()
  local function broadening(old, new) return lines_of(changes.security(old, new).broadening) end
  local function narrowing(old, new) return lines_of(changes.security(old, new).narrowing) end

  local READ = { Effect = "Allow", Action = { "s3:GetObject" }, Resource = { RAW_OBJECTS } }

  it("finds an action widened", function()
    local old = tpl { Worker = role({ READ }) }
    local new = tpl { Worker = role({ { Effect = "Allow", Action = { "s3:*" }, Resource = { RAW_OBJECTS } } }) }
    assert.same({ '+ Worker (AWS::IAM::Role) policy "work": Allow s3:* on ${Raw.Arn}/*' }, broadening(old, new))
    assert.same({}, narrowing(old, new)) -- s3:* grants s3:GetObject still
    -- and narrowed back: nothing widens
    assert.same({}, broadening(new, old))
    assert.same({ '- Worker (AWS::IAM::Role) policy "work": Allow s3:* on ${Raw.Arn}/*' }, narrowing(new, old))
  end)

  it("sees an action the old wildcard already granted as no widening", function()
    local old = tpl { Worker = role({ { Effect = "Allow", Action = "s3:Get*", Resource = RAW_OBJECTS } }) }
    local new = tpl { Worker = role({ { Sid = "Read", Effect = "Allow", Action = { "s3:GetObject", "S3:GetObjectVersion" },
      Resource = RAW_OBJECTS } }) }
    assert.same({}, broadening(old, new))
  end)

  it("finds a resource widened to '*'", function()
    local old = tpl { Worker = role({ READ }) }
    local new = tpl { Worker = role({ { Effect = "Allow", Action = { "s3:GetObject" }, Resource = "*" } }) }
    assert.same({ '+ Worker (AWS::IAM::Role) policy "work": Allow s3:GetObject on *' }, broadening(old, new))
  end)

  it("finds a new principal in a trust policy", function()
    local old = tpl { Worker = role({ READ }) }
    local new = tpl { Worker = role({ READ }) }
    new.Resources.Worker.Properties.AssumeRolePolicyDocument.Statement[1].Principal = {
      Service = "lambda.amazonaws.com", AWS = { ["Fn::Sub"] = "arn:${AWS::Partition}:iam::111111111111:root" } }
    assert.same({ "+ Worker (AWS::IAM::Role) trust policy: Allow sts:AssumeRole to "
      .. "AWS:arn:${AWS::Partition}:iam::111111111111:root, Service:lambda.amazonaws.com" }, broadening(old, new))
  end)

  it("finds a condition dropped, not a condition added", function()
    local cond = { Effect = "Allow", Action = "s3:GetObject", Resource = RAW_OBJECTS,
      Condition = { StringEquals = { ["aws:PrincipalAccount"] = "111111111111" } } }
    local with = tpl { Worker = role({ cond }) }
    local without = tpl { Worker = role({ READ }) }
    assert.same({ '+ Worker (AWS::IAM::Role) policy "work": Allow s3:GetObject on ${Raw.Arn}/*' },
      broadening(with, without))
    assert.same({}, broadening(without, with))
  end)

  it("counts a removed Deny as widening and an added Deny as narrowing", function()
    local deny = { Effect = "Deny", Action = "s3:*", Principal = { AWS = "*" }, Resource = RAW_OBJECTS,
      Condition = { Bool = { ["aws:SecureTransport"] = "false" } } }
    local function policy(statements)
      return tpl { RawPolicy = { Type = "AWS::S3::BucketPolicy", Properties = { Bucket = { Ref = "Raw" },
        PolicyDocument = { Statement = statements } } } }
    end
    assert.same({ '- RawPolicy (AWS::S3::BucketPolicy): Deny s3:* on ${Raw.Arn}/* to * when '
      .. '{"Bool":{"aws:SecureTransport":"false"}}' }, broadening(policy({ deny }), policy({})))
    assert.same({}, broadening(policy({}), policy({ deny })))
    assert.equal(1, #narrowing(policy({}), policy({ deny })))
    -- a new bucket policy that only denies widens nothing, its attachment neither
    assert.same({}, broadening(nil, policy({ deny })))
    assert.same({ '+ RawPolicy (AWS::S3::BucketPolicy): Allow s3:GetObject on ${Raw.Arn}/* to *',
      '+ RawPolicy (AWS::S3::BucketPolicy) attached to: bucket ${Raw}' },
      broadening(nil, policy({ deny, { Effect = "Allow", Action = "s3:GetObject", Principal = "*", Resource = RAW_OBJECTS } })))
  end)

  it("takes every Allow of a first deploy as new, as CDK does", function()
    local new = tpl { Worker = role({ READ }), Raw = { Type = "AWS::S3::Bucket" } }
    assert.same({
      '+ Worker (AWS::IAM::Role) policy "work": Allow s3:GetObject on ${Raw.Arn}/*',
      "+ Worker (AWS::IAM::Role) trust policy: Allow sts:AssumeRole to Service:lambda.amazonaws.com",
    }, (function() local l = broadening(nil, new) table.sort(l) return l end)())
  end)

  it("reads policy documents given as JSON text, S3/SNS/SQS policies and their attachments", function()
    local doc = json.encode { Statement = { { Effect = "Allow", Action = "sns:Publish", Principal = { Service = "events.amazonaws.com" },
      Resource = "*" } } }
    local old = tpl { TP = { Type = "AWS::SNS::TopicPolicy", Properties = { Topics = { { Ref = "A" } }, PolicyDocument = doc } } }
    local new = tpl { TP = { Type = "AWS::SNS::TopicPolicy", Properties = { Topics = { { Ref = "A" }, { Ref = "B" } },
      PolicyDocument = doc } } }
    assert.same({ "+ TP (AWS::SNS::TopicPolicy) attached to: topic ${B}" }, broadening(old, new))
    local q = tpl { QP = { Type = "AWS::SQS::QueuePolicy", Properties = { Queues = { "u" }, PolicyDocument = {
      Statement = { { Effect = "Allow", Action = "sqs:SendMessage", Principal = "*", Resource = "*" } } } } } }
    assert.same({ "+ QP (AWS::SQS::QueuePolicy): Allow sqs:SendMessage on * to *",
      "+ QP (AWS::SQS::QueuePolicy) attached to: queue u" }, broadening(nil, q))
  end)

  it("finds a managed policy attached to a role", function()
    local old = tpl { Worker = role({ READ }) }
    local new = tpl { Worker = role({ READ }, { ManagedPolicyArns = { "arn:aws:iam::aws:policy/AdministratorAccess" } }) }
    assert.same({ "+ Worker (AWS::IAM::Role) managed policy: arn:aws:iam::aws:policy/AdministratorAccess" },
      broadening(old, new))
  end)

  it("finds a Lambda permission for a new principal", function()
    local function perm(principal)
      return tpl { P = { Type = "AWS::Lambda::Permission", Properties = { Action = "lambda:InvokeFunction",
        FunctionName = { Ref = "Fn" }, Principal = principal, SourceArn = { ["Fn::GetAtt"] = { "Rule", "Arn" } } } } }
    end
    assert.same({}, broadening(perm("events.amazonaws.com"), perm("events.amazonaws.com")))
    assert.same({ '+ P (AWS::Lambda::Permission): Allow lambda:InvokeFunction on ${Fn} to AWS:111111111111 '
      .. 'when {"SourceArn":{"Fn::GetAtt":["Rule","Arn"]}}' }, broadening(perm("events.amazonaws.com"), perm("111111111111")))
  end)

  it("ignores a statement's Sid and the order of its actions", function()
    local old = tpl { Worker = role({ { Sid = "A", Effect = "Allow", Action = { "s3:GetObject", "s3:PutObject" },
      Resource = RAW_OBJECTS } }) }
    local new = tpl { Worker = role({ { Sid = "B", Effect = "Allow", Action = { "s3:PutObject", "s3:GetObject" },
      Resource = RAW_OBJECTS } }) }
    assert.same({}, broadening(old, new))
    assert.same({}, narrowing(old, new))
  end)

  describe("security group rules", function()
    local function sg(ingress, egress)
      return { Type = "AWS::EC2::SecurityGroup", Properties = { GroupDescription = "g", VpcId = { Ref = "Vpc" },
        SecurityGroupIngress = ingress, SecurityGroupEgress = egress } }
    end
    local SSH_INSIDE = { IpProtocol = "tcp", FromPort = 22, ToPort = 22, CidrIp = "10.0.0.0/8" }

    it("finds new ingress from 0.0.0.0/0", function()
      local old = tpl { Sg = sg({ SSH_INSIDE }) }
      local new = tpl { Sg = sg({ SSH_INSIDE, { IpProtocol = "tcp", FromPort = 22, ToPort = 22, CidrIp = "0.0.0.0/0" } }) }
      assert.same({ "+ Sg (AWS::EC2::SecurityGroup): ingress tcp 22 from 0.0.0.0/0" }, broadening(old, new))
    end)

    it("sees a narrower CIDR or port range inside an old rule as no widening", function()
      local old = tpl { Sg = sg({ { IpProtocol = "tcp", FromPort = 0, ToPort = 65535, CidrIp = "10.0.0.0/8" } }) }
      local new = tpl { Sg = sg({ { IpProtocol = "6", FromPort = 443, ToPort = 443, CidrIp = "10.1.0.0/16" } }) }
      assert.same({}, broadening(old, new))
      assert.same({ "+ Sg (AWS::EC2::SecurityGroup): ingress tcp 0-65535 from 10.0.0.0/8" }, broadening(new, old))
    end)

    it("compares rule resources with the inline rules of their group, and egress too", function()
      local old = tpl { Sg = sg({ SSH_INSIDE }) }
      local new = tpl { Sg = sg({}, { { IpProtocol = "-1", CidrIp = "0.0.0.0/0" } }),
        In = { Type = "AWS::EC2::SecurityGroupIngress", Properties = { GroupId = { ["Fn::GetAtt"] = { "Sg", "GroupId" } },
          IpProtocol = "tcp", FromPort = 22, ToPort = 22, CidrIp = "10.0.0.0/8" } } }
      assert.same({ "+ Sg (AWS::EC2::SecurityGroup): egress all traffic to 0.0.0.0/0" }, broadening(old, new))
    end)
  end)
end)

describe("lake.changes approval #unit", function()
  local widened = { broadening = { { kind = "statement", effect = "Allow", actions = { "s3:*" }, resources = { "*" },
    where = { id = "Worker", type = "AWS::IAM::Role", slot = 'policy "work"' }, change = "+" } }, narrowing = {} }
  local narrowed = { broadening = {}, narrowing = widened.broadening }
  local none = { added = {}, modified = {}, removed = {} }
  local replaced = { added = {}, removed = {}, modified = { { id = "Raw", type = "AWS::S3::Bucket", replacement = "True",
    because = { "BucketName" } } } }

  it("never asks with never", function()
    assert.is_false((changes.approval("never", replaced, widened)))
    assert.is_false((changes.approval(nil, replaced, widened)))
  end)

  it("asks under broadening for widened statements and replacements, naming them", function()
    local needed, lines = changes.approval("broadening", none, widened)
    assert.is_true(needed)
    assert.same({ "IAM statements, resource policies and security group rules that widen:",
      '  + Worker (AWS::IAM::Role) policy "work": Allow s3:* on *' }, lines)
    needed, lines = changes.approval("broadening", replaced, { broadening = {}, narrowing = {} })
    assert.is_true(needed)
    assert.same({ "resources replaced (a new one is created, the old one deleted):",
      "  ~ Raw (AWS::S3::Bucket): BucketName" }, lines)
    assert.is_false((changes.approval("broadening", none, narrowed)))
  end)

  it("asks under any-change for narrowing too", function()
    local needed, lines = changes.approval("any-change", none, narrowed)
    assert.is_true(needed)
    assert.equal("IAM statements, resource policies and security group rules that change:", lines[1])
    assert.is_false((changes.approval("any-change", none, { broadening = {}, narrowing = {} })))
  end)

  it("checks the level's spelling", function()
    assert.is_nil(changes.check_level("any-change"))
    assert.equal("--require-approval expects one of never, any-change, broadening, got 'broadning' (did you mean 'broadening'?)",
      changes.check_level("broadning"))
  end)
end)

describe("lake.changes outputs #unit", function()
  it("keeps key, value, export and description, sorted by key, and prints them", function()
    local outs = changes.outputs({
      { OutputKey = "TopicArn", OutputValue = "arn:aws:sns:us-east-1:1:t", ExportName = "t-arn" },
      { OutputKey = "BucketName", OutputValue = "raw", Description = "the raw bucket" },
    })
    assert.same({ { key = "BucketName", value = "raw", description = "the raw bucket" },
      { key = "TopicArn", value = "arn:aws:sns:us-east-1:1:t", export = "t-arn" } }, outs)
    assert.same({ "s.BucketName = raw", "s.TopicArn = arn:aws:sns:us-east-1:1:t  (export: t-arn)" },
      changes.format_outputs("s", outs))
  end)
end)
