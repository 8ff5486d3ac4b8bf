-- lake.nag: the findings of a role's wildcards, written the way cdk-nag
-- writes them, so that a suppression names exactly what it covers.
local app_mod = require("lake.app")
local assembly = require("lake.assembly")
local nag = require("lake.nag")
local token = require("lake.token")

describe("lake.nag #unit", function()
  it("flattens template values as cdk-nag's findings do", function()
    assert.equal("arn:<AWS::Partition>:s3:::b/*", nag.flatten({ ["Fn::Sub"] = "arn:${AWS::Partition}:s3:::b/*" }))
    assert.equal("a/<Vpc>/<Topic.Arn>", nag.flatten({ ["Fn::Join"] = { "/",
      { "a", { Ref = "Vpc" }, { ["Fn::GetAtt"] = { "Topic", "Arn" } } } } }))
    assert.equal("x-<AWS::Region>", nag.flatten({ ["Fn::Sub"] = { "x-${AWS::Region}", { Unused = "v" } } }))
    assert.equal("plain", nag.flatten("plain"))
  end)

  it("reports each Allow resource with a '*' once, sorted, but the lone '*' and denials", function()
    local got = nag.wildcard_findings({
      { Effect = "Allow", Resource = { "arn:aws:s3:::b/*", "arn:aws:s3:::b", "*" } },
      { Effect = "Allow", Resource = { ["Fn::Sub"] = "arn:${AWS::Partition}:logs:r:1:log-group:/g:*" } },
      { Effect = "Allow", Resource = "arn:aws:s3:::b/*" },
      { Effect = "Deny", Resource = "arn:aws:s3:::other/*" },
    }, {})
    assert.same({ "Resource::arn:<AWS::Partition>:logs:r:1:log-group:/g:*", "Resource::arn:aws:s3:::b/*" }, got)
  end)

  it("suppresses IAM5 for the wildcards a role has when its template is made, and only lakehost's own", function()
    local s = app_mod.new():stack("n-dev")
    local bucket = s:add("s3_bucket", "Bucket", { BucketName = "b" })
    local users = { Sid = "Users", Effect = "Allow", Action = "s3:GetObject", Resource = "arn:aws:s3:::their/*" }
    local role = s:add("iam_role", "Role", {
      AssumeRolePolicyDocument = { Statement = { { Effect = "Allow", Action = "sts:AssumeRole",
        Principal = { Service = "lambda.amazonaws.com" } } } },
      Policies = { { PolicyName = "p", PolicyDocument = { Statement = {
        { Sid = "Own", Effect = "Allow", Action = "s3:GetObject", Resource = token.concat(bucket:arn(), "/*") },
        users } } } },
    })
    nag.lake_role(role, function(st) return st ~= users end)
    -- a statement added after the suppression is counted too
    role.props.Policies[#role.props.Policies + 1] = { PolicyName = "q", PolicyDocument = { Statement = {
      { Sid = "Later", Effect = "Allow", Action = "logs:PutLogEvents", Resource = "arn:aws:logs:r:1:log-group:/x:*" },
    } } }
    local rules = assembly.template(s).Resources.Role.Metadata.cdk_nag.rules_to_suppress
    assert.same({ "AwsSolutions-IAM5", nag.WILDCARD_REASON,
      { "Resource::<Bucket.Arn>/*", "Resource::arn:aws:logs:r:1:log-group:/x:*" } },
      { rules[1].id, rules[1].reason, rules[1].applies_to })
    assert.same({ "HIPAA.Security-IAMNoInlinePolicy", "NIST.800.53.R5-IAMNoInlinePolicy" },
      { rules[2].id, rules[3].id })
    -- the same text whether the template is made as a table or as text
    local decoded = require("host.json").decode((assembly.text(s)))
    assert.same(rules[1].applies_to, decoded.Resources.Role.Metadata.cdk_nag.rules_to_suppress[1].applies_to)
  end)
end)
