local lake = require("lake")
local builder = require("lake.builder")
local assembly = require("lake.assembly")
local token = require("lake.token")

local SUBS = { { protocol = "email", endpoint = "example@example.com" } }

-- A lake with the example's options, overridden by opts (false removes a key);
-- no standalone scripts (the App's folder is the checkout's, whose
-- standalone/ the builder would otherwise run).
local function build(opts, app_opts)
  local app = lake.App(app_opts or {})
  local o = { scope = app, lake_name = "Example Lake", env = "dev", lake_domains = { "example" },
    enable_vpc = false, sns_subscriptions = SUBS, tags = { example1 = "value1", example2 = "value2" },
    standalone = {} }
  for k, v in pairs(opts or {}) do
    if v == false and k ~= "enable_vpc" and k ~= "vpc" then o[k] = nil else o[k] = v end
  end
  if o.vpc ~= nil then o.enable_vpc = nil end -- one spelling of the VPC option at a time
  local datalake = lake.DatalakeBuilder(o):build()
  return datalake, app
end

-- Problems recorded by a builder with these options, for "app.lua".
local function problems(opts)
  local app = lake.App {}
  app.file = "app.lua"
  opts.scope = app
  lake.DatalakeBuilder(opts):build()
  return app.problems
end

local function template(stack) return assembly.template(stack, {}) end

local function of_type(tpl, typ)
  local ids = {}
  for id, r in pairs(tpl.Resources) do
    if r.Type == typ then ids[#ids + 1] = id end
  end
  table.sort(ids)
  return ids
end

describe("lake.builder stacks #unit", function()
  it("builds the storage and shared stacks with the stage in their names", function()
    local dl, app = build({ env = "stg" })
    assert.equal("lake-storage-stack-stg", dl.storage_stack.name)
    assert.equal("lake-shared-stack-stg", dl.shared_stack.name)
    assert.same({ "lake-storage-stack-stg" }, dl.shared_stack.deps)
    assert.same({}, dl.storage_stack.deps)
    local order = {}
    for _, s in ipairs(assert(app:ordered_stacks())) do order[#order + 1] = s.name end
    assert.same({ "lake-storage-stack-stg", "lake-shared-stack-stg" }, order)
    assert.equal("stg", app.stage)
  end)

  it("makes one bucket and one TLS-only policy per domain and layer", function()
    local dl = build({ lake_domains = { "example", "sales" } })
    local tpl = template(dl.storage_stack)
    -- and the access logs bucket (spec/lake/encryption_spec.lua)
    assert.same({ "AccessLogsBucket", "ExampleRawBucket", "ExampleServiceBucket", "ExampleTrustedBucket",
      "SalesRawBucket", "SalesServiceBucket", "SalesTrustedBucket" }, of_type(tpl, "AWS::S3::Bucket"))
    assert.equal(7, #of_type(tpl, "AWS::S3::BucketPolicy"))
    assert.same({ ["Fn::Sub"] = "sales-trusted-${AWS::Region}-${AWS::AccountId}-dev" },
      tpl.Resources.SalesTrustedBucket.Properties.BucketName)
  end)

  it("uses plain bucket names when region and account are given", function()
    local dl = build({ region = "eu-west-1", account_id = "123456789012" })
    local tpl = template(dl.storage_stack)
    assert.equal("example-raw-eu-west-1-123456789012-dev", tpl.Resources.ExampleRawBucket.Properties.BucketName)
    assert.equal("eu-west-1", dl.region)
    assert.equal("123456789012", dl.account)
  end)

  it("gives every bucket the secure defaults", function()
    local tpl = template((build()).storage_stack)
    for _, id in ipairs(of_type(tpl, "AWS::S3::Bucket")) do
      local r = tpl.Resources[id]
      local p = r.Properties
      if id == "AccessLogsBucket" then goto continue end -- spec/lake/encryption_spec.lua
      assert.same({ BlockPublicAcls = true, BlockPublicPolicy = true, IgnorePublicAcls = true,
        RestrictPublicBuckets = true }, p.PublicAccessBlockConfiguration)
      assert.same({ ServerSideEncryptionConfiguration = { { BucketKeyEnabled = true,
        ServerSideEncryptionByDefault = { SSEAlgorithm = "AES256" } } } }, p.BucketEncryption)
      assert.same({ Rules = { { ObjectOwnership = "BucketOwnerEnforced" } } }, p.OwnershipControls)
      assert.same({ EventBridgeConfiguration = { EventBridgeEnabled = true } }, p.NotificationConfiguration)
      assert.equal("Retain", r.DeletionPolicy)
      assert.equal("Retain", r.UpdateReplacePolicy)
      -- every layer is versioned, replaced versions expire (30 days by default)
      assert.same({ Status = "Enabled" }, p.VersioningConfiguration)
      assert.same({ Rules = {
        { Id = "AbortIncompleteUploads", Status = "Enabled", AbortIncompleteMultipartUpload = { DaysAfterInitiation = 7 } },
        { Id = "ExpireNoncurrentVersions", Status = "Enabled", NoncurrentVersionExpiration = { NoncurrentDays = 30 } },
      } }, p.LifecycleConfiguration)
      local policy = tpl.Resources[id .. "Policy"].Properties
      assert.same({ Ref = id }, policy.Bucket)
      assert.same({
        Sid = "DenyInsecureTransport", Effect = "Deny", Principal = { AWS = "*" }, Action = "s3:*",
        Resource = { { ["Fn::GetAtt"] = { id, "Arn" } }, { ["Fn::Sub"] = "${" .. id .. ".Arn}/*" } },
        Condition = { Bool = { ["aws:SecureTransport"] = "false" } },
      }, policy.PolicyDocument.Statement[1])
      ::continue::
    end
  end)

  it("catalogs every bucket and crawls every raw bucket", function()
    local dl = build({ lake_domains = { "example", "sales" } })
    local tpl = template(dl.shared_stack)
    assert.same({ "ExampleRawDatabase", "ExampleServiceDatabase", "ExampleTrustedDatabase",
      "SalesRawDatabase", "SalesServiceDatabase", "SalesTrustedDatabase" }, of_type(tpl, "AWS::Glue::Database"))
    assert.same({ "ExampleRawCrawler", "SalesRawCrawler" }, of_type(tpl, "AWS::Glue::Crawler"))
    assert.same({ "ExampleRawCrawlerRole", "SalesRawCrawlerRole" }, of_type(tpl, "AWS::IAM::Role"))
    local db = tpl.Resources.SalesTrustedDatabase.Properties
    assert.same({ Ref = "AWS::AccountId" }, db.CatalogId)
    assert.equal("sales_trusted_dev", db.DatabaseInput.Name)
  end)

  it("configures the crawler as the original did, without double dashes", function()
    local tpl = template((build({ region = "eu-west-1", account_id = "123456789012" })).shared_stack)
    local c = tpl.Resources.ExampleRawCrawler
    assert.same({ "ExampleRawDatabase", "GlueSecurityConfiguration" }, c.DependsOn)
    assert.same({
      Name = "example-raw-crawler-dev", CrawlerSecurityConfiguration = "example-lake-dev",
      Description = "Catalogs new folders of s3://example-raw-eu-west-1-123456789012-dev into example_raw_dev daily",
      Role = { ["Fn::GetAtt"] = { "ExampleRawCrawlerRole", "Arn" } },
      DatabaseName = "example_raw_dev",
      Targets = { S3Targets = { { Path = "s3://example-raw-eu-west-1-123456789012-dev/" } } },
      Schedule = { ScheduleExpression = "cron(0 0 * * ? *)" },
      SchemaChangePolicy = { UpdateBehavior = "LOG", DeleteBehavior = "LOG" },
      RecrawlPolicy = { RecrawlBehavior = "CRAWL_NEW_FOLDERS_ONLY" },
      Tags = { example1 = "value1", example2 = "value2" },
    }, c.Properties)
  end)

  it("scopes the crawler role to its own bucket, database and log stream, with no managed policy", function()
    local tpl = template((build({ lake_domains = { "example", "sales" } })).shared_stack)
    local role = tpl.Resources.SalesRawCrawlerRole.Properties
    assert.is_nil(role.ManagedPolicyArns)
    assert.same({ Service = "glue.amazonaws.com" }, role.AssumeRolePolicyDocument.Statement[1].Principal)
    assert.equal(1, #role.Policies)
    local function arn(s) return { ["Fn::Sub"] = "arn:${AWS::Partition}:" .. s } end
    assert.same({
      { Sid = "ListBucket", Effect = "Allow", Action = "s3:ListBucket",
        Resource = arn("s3:::sales-raw-${AWS::Region}-${AWS::AccountId}-dev") },
      { Sid = "ReadObjects", Effect = "Allow", Action = "s3:GetObject",
        Resource = arn("s3:::sales-raw-${AWS::Region}-${AWS::AccountId}-dev/*") },
      { Sid = "CatalogCrawledTables", Effect = "Allow", Action = require("lake.stacks.catalog").CRAWLER_CATALOG_ACTIONS,
        Resource = { arn("glue:${AWS::Region}:${AWS::AccountId}:catalog"),
          arn("glue:${AWS::Region}:${AWS::AccountId}:database/sales_raw_dev"),
          arn("glue:${AWS::Region}:${AWS::AccountId}:table/sales_raw_dev/*") } },
      { Sid = "CreateCrawlerLogGroup", Effect = "Allow", Action = "logs:CreateLogGroup",
        Resource = arn("logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws-glue/crawlers") },
      { Sid = "WriteCrawlerLogs", Effect = "Allow", Action = { "logs:CreateLogStream", "logs:PutLogEvents" },
        Resource = arn("logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws-glue/crawlers:log-stream:"
          .. "sales-raw-crawler-dev") },
    }, role.Policies[1].PolicyDocument.Statement)
  end)

  it("creates the error topic with a TLS-only policy and one subscription per entry", function()
    local dl = build({ sns_subscriptions = {
      { protocol = "email", endpoint = "ops@example.com" },
      { protocol = "sms", endpoint = "+15555550100" },
      { protocol = "sqs", endpoint = "arn:aws:sqs:us-east-1:123456789012:lake-errors" },
      { protocol = "lambda", endpoint = "arn:aws:lambda:us-east-1:123456789012:function:notify" },
      { protocol = "https", endpoint = "https://hooks.example.com/lake" },
      { protocol = "http", endpoint = "http://hooks.example.com/lake" },
    } })
    assert.equal("example-lake-errors-dev", dl.sns_topic.name)
    assert.same({ ["Fn::Sub"] = "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:example-lake-errors-dev" },
      token.resolve(dl.sns_topic.arn, {}))
    local tpl = template(dl.shared_stack)
    assert.same({ TopicName = "example-lake-errors-dev", DisplayName = "Example Lake",
      Tags = { { Key = "example1", Value = "value1" }, { Key = "example2", Value = "value2" } } },
      tpl.Resources.ErrorTopic.Properties)
    local stmt = tpl.Resources.ErrorTopicPolicy.Properties.PolicyDocument.Statement[1]
    assert.equal("Deny", stmt.Effect)
    assert.equal("sns:Publish", stmt.Action)
    local subs = of_type(tpl, "AWS::SNS::Subscription")
    assert.equal(6, #subs)
    local seen = {}
    for _, id in ipairs(subs) do
      local p = tpl.Resources[id].Properties
      assert.same({ Ref = "ErrorTopic" }, p.TopicArn)
      assert.matches("^ErrorTopic" .. p.Protocol:sub(1, 1):upper() .. p.Protocol:sub(2) .. "Subscription%x+$", id)
      seen[p.Protocol] = p.Endpoint
    end
    assert.same({ email = "ops@example.com", sms = "+15555550100",
      sqs = "arn:aws:sqs:us-east-1:123456789012:lake-errors",
      lambda = "arn:aws:lambda:us-east-1:123456789012:function:notify",
      https = "https://hooks.example.com/lake", http = "http://hooks.example.com/lake" }, seen)
  end)

  it("lets SNS invoke a Lambda subscriber of the lake's account, not of others", function()
    local fn = "arn:aws:lambda:us-east-1:123456789012:function:notify"
    local other = "arn:aws:lambda:us-east-1:210987654321:function:notify"
    local tpl = template((build({ account_id = "123456789012", sns_subscriptions = {
      { protocol = "lambda", endpoint = fn }, { protocol = "lambda", endpoint = other } } })).shared_stack)
    local perms = of_type(tpl, "AWS::Lambda::Permission")
    assert.equal(1, #perms)
    local p = tpl.Resources[perms[1]].Properties
    assert.same({ Action = "lambda:InvokeFunction", FunctionName = fn, Principal = "sns.amazonaws.com",
      SourceArn = { Ref = "ErrorTopic" } }, p)
    assert.equal(fn, tpl.Resources[perms[1]:gsub("Permission$", "")].Properties.Endpoint)
    -- account unknown until deploy: assume the lake's own function
    tpl = template((build({ sns_subscriptions = { { protocol = "lambda", endpoint = other } } })).shared_stack)
    assert.equal(1, #of_type(tpl, "AWS::Lambda::Permission"))
  end)

  it("keeps subscription ids stable when the list is reordered", function()
    local a = { protocol = "email", endpoint = "a@example.com" }
    local b = { protocol = "email", endpoint = "b@example.com" }
    local one = of_type(template((build({ sns_subscriptions = { a, b } })).shared_stack), "AWS::SNS::Subscription")
    local two = of_type(template((build({ sns_subscriptions = { b, a } })).shared_stack), "AWS::SNS::Subscription")
    assert.same(one, two)
  end)

  it("has no VPC unless enable_vpc", function()
    local dl = build()
    assert.is_nil(dl.vpc)
    assert.same({}, of_type(template(dl.shared_stack), "AWS::EC2::VPC"))
  end)

  it("puts app tags on every taggable resource of the lake", function()
    local dl, app = build({ enable_vpc = true, tags = { team = "data", cost = 42 } })
    assert.same({ team = "data", cost = "42" }, app.tags)
    for _, stack in ipairs({ dl.storage_stack, dl.shared_stack }) do
      local tpl = template(stack)
      for _, r in ipairs(stack.resources) do
        local tags = tpl.Resources[r.logical_id].Properties.Tags
        if r.kind.tags == "list" then
          local got = {}
          for _, t in ipairs(tags) do got[t.Key] = t.Value end
          assert.equal("data", got.team, r.logical_id)
          assert.equal("42", got.cost, r.logical_id)
        elseif r.kind.tags == "map" then
          assert.equal("data", tags.team, r.logical_id)
        else
          assert.is_nil(tags, r.logical_id)
        end
      end
    end
  end)
end)

describe("lake.builder VPC #unit", function()
  local dl = build({ vpc = {} })
  local tpl = template(dl.shared_stack)
  local pub = build({ vpc = { public_subnets = true } })
  local ptpl = template(pub.shared_stack)
  local ACCOUNT = { Ref = "AWS::AccountId" }

  it("publishes the VPC through SSM parameter names", function()
    assert.same({ ssm = { vpc_id = "/example-lake/dev/vpc/id",
      private_subnet_ids = "/example-lake/dev/vpc/private-subnet-ids",
      public_subnet_ids = "/example-lake/dev/vpc/public-subnet-ids",
      security_group_id = "/example-lake/dev/vpc/security-group-id" }, cidr = "192.168.228.0/22",
      public_subnets = false, glue_connections = { "example-lake-vpc-az1-dev", "example-lake-vpc-az2-dev" } }, dl.vpc)
    local p = tpl.Resources.VpcPrivateSubnetIdsParameter.Properties
    assert.equal("/example-lake/dev/vpc/private-subnet-ids", p.Name)
    assert.equal("StringList", p.Type)
    assert.same({ ["Fn::Join"] = { ",", { { Ref = "VpcPrivateSubnet1" }, { Ref = "VpcPrivateSubnet2" } } } }, p.Value)
    assert.same({ Ref = "Vpc" }, tpl.Resources.VpcIdParameter.Properties.Value)
    assert.same({ ["Fn::GetAtt"] = { "VpcEndpointSecurityGroup", "GroupId" } },
      tpl.Resources.VpcSecurityGroupIdParameter.Properties.Value)
    assert.same({ "VpcIdParameter", "VpcPrivateSubnetIdsParameter", "VpcSecurityGroupIdParameter" },
      of_type(tpl, "AWS::SSM::Parameter"))
    p = ptpl.Resources.VpcPublicSubnetIdsParameter.Properties
    assert.equal("/example-lake/dev/vpc/public-subnet-ids", p.Name)
    assert.same({ ["Fn::Join"] = { ",", { { Ref = "VpcPublicSubnet1" }, { Ref = "VpcPublicSubnet2" } } } }, p.Value)
  end)

  it("has only private-isolated subnets, no internet gateway and no route out, unless asked", function()
    assert.same({ "Vpc" }, of_type(tpl, "AWS::EC2::VPC"))
    assert.equal("192.168.228.0/22", tpl.Resources.Vpc.Properties.CidrBlock)
    assert.same({ "VpcPrivateSubnet1", "VpcPrivateSubnet2" }, of_type(tpl, "AWS::EC2::Subnet"))
    assert.same({ "VpcPrivateRouteTable1", "VpcPrivateRouteTable2" }, of_type(tpl, "AWS::EC2::RouteTable"))
    assert.equal(2, #of_type(tpl, "AWS::EC2::SubnetRouteTableAssociation"))
    for _, typ in ipairs({ "AWS::EC2::Route", "AWS::EC2::InternetGateway", "AWS::EC2::VPCGatewayAttachment" }) do
      assert.same({}, of_type(tpl, typ), typ)
    end
    assert.is_nil(tpl.Resources.VpcPublicSubnetIdsParameter)
  end)

  it("keeps the private subnets' quarters whether public subnets are there or not", function()
    for _, t in ipairs({ tpl, ptpl }) do
      assert.equal("192.168.230.0/24", t.Resources.VpcPrivateSubnet1.Properties.CidrBlock)
      assert.equal("192.168.231.0/24", t.Resources.VpcPrivateSubnet2.Properties.CidrBlock)
      assert.same({ ["Fn::Select"] = { 1, { ["Fn::GetAZs"] = "" } } },
        t.Resources.VpcPrivateSubnet2.Properties.AvailabilityZone)
    end
    assert.equal("192.168.228.0/24", ptpl.Resources.VpcPublicSubnet1.Properties.CidrBlock)
    assert.equal("192.168.229.0/24", ptpl.Resources.VpcPublicSubnet2.Properties.CidrBlock)
  end)

  it("routes only the public subnets to the internet, with public_subnets = true", function()
    assert.same({ "VpcPrivateSubnet1", "VpcPrivateSubnet2", "VpcPublicSubnet1", "VpcPublicSubnet2" },
      of_type(ptpl, "AWS::EC2::Subnet"))
    assert.same({ "VpcPublicDefaultRoute" }, of_type(ptpl, "AWS::EC2::Route"))
    local route = ptpl.Resources.VpcPublicDefaultRoute
    assert.same({ RouteTableId = { Ref = "VpcPublicRouteTable" }, DestinationCidrBlock = "0.0.0.0/0",
      GatewayId = { Ref = "VpcInternetGateway" } }, route.Properties)
    assert.same({ "VpcGatewayAttachment" }, route.DependsOn)
    assert.equal(4, #of_type(ptpl, "AWS::EC2::SubnetRouteTableAssociation"))
    assert.same({ "VpcInternetGateway" }, of_type(ptpl, "AWS::EC2::InternetGateway"))
    assert.is_true(pub.vpc.public_subnets)
  end)

  it("reaches s3 through a gateway and sns, states, glue, logs through interface endpoints", function()
    assert.same({ "VpcGlueEndpoint", "VpcLogsEndpoint", "VpcS3Endpoint", "VpcSnsEndpoint", "VpcStatesEndpoint" },
      of_type(tpl, "AWS::EC2::VPCEndpoint"))
    local s3 = tpl.Resources.VpcS3Endpoint.Properties
    assert.equal("Gateway", s3.VpcEndpointType)
    assert.same({ ["Fn::Sub"] = "com.amazonaws.${AWS::Region}.s3" }, s3.ServiceName)
    assert.same({ { Ref = "VpcPrivateRouteTable1" }, { Ref = "VpcPrivateRouteTable2" } }, s3.RouteTableIds)
    for _, svc in ipairs({ "Sns", "States", "Glue", "Logs" }) do
      local p = tpl.Resources["Vpc" .. svc .. "Endpoint"].Properties
      assert.equal("Interface", p.VpcEndpointType)
      assert.is_true(p.PrivateDnsEnabled)
      assert.same({ ["Fn::Sub"] = "com.amazonaws.${AWS::Region}." .. svc:lower() }, p.ServiceName)
      assert.same({ { Ref = "VpcPrivateSubnet1" }, { Ref = "VpcPrivateSubnet2" } }, p.SubnetIds)
      assert.same({ { ["Fn::GetAtt"] = { "VpcEndpointSecurityGroup", "GroupId" } } }, p.SecurityGroupIds)
    end
    local sg = tpl.Resources.VpcEndpointSecurityGroup.Properties
    assert.same({ { IpProtocol = "tcp", FromPort = 443, ToPort = 443, CidrIp = "192.168.228.0/22",
      Description = "HTTPS from inside the VPC" } }, sg.SecurityGroupIngress)
  end)

  it("gives every endpoint a policy admitting only the lake's account (and its buckets for s3)", function()
    for _, id in ipairs(of_type(tpl, "AWS::EC2::VPCEndpoint")) do
      local doc = tpl.Resources[id].Properties.PolicyDocument
      assert.equal(1, #doc.Statement, id)
      local st = doc.Statement[1]
      assert.equal("Allow", st.Effect)
      assert.equal("*", st.Principal)
      local want = { ["aws:PrincipalAccount"] = ACCOUNT }
      if id == "VpcS3Endpoint" then want["aws:ResourceAccount"] = ACCOUNT end
      assert.same({ StringEquals = want }, st.Condition, id)
    end
    -- with the account given, the account itself
    local t2 = template(build({ vpc = true, account_id = "123456789012", region = "eu-west-1" }).shared_stack)
    assert.same({ StringEquals = { ["aws:PrincipalAccount"] = "123456789012", ["aws:ResourceAccount"] = "123456789012" } },
      t2.Resources.VpcS3Endpoint.Properties.PolicyDocument.Statement[1].Condition)
    assert.equal("com.amazonaws.eu-west-1.glue", t2.Resources.VpcGlueEndpoint.Properties.ServiceName)
  end)

  it("logs all the VPC's traffic to a log group kept a year, through a role that writes only there", function()
    local fl = tpl.Resources.VpcFlowLog.Properties
    assert.same({ ResourceId = { Ref = "Vpc" }, ResourceType = "VPC", TrafficType = "ALL",
      LogDestinationType = "cloud-watch-logs", LogGroupName = { Ref = "VpcFlowLogGroup" },
      DeliverLogsPermissionArn = { ["Fn::GetAtt"] = { "VpcFlowLogRole", "Arn" } },
      Tags = fl.Tags }, fl)
    local g = tpl.Resources.VpcFlowLogGroup.Properties
    assert.equal("/example-lake/dev/vpc/flow-logs", g.LogGroupName)
    assert.equal(365, g.RetentionInDays)
    local role = tpl.Resources.VpcFlowLogRole.Properties
    local trust = role.AssumeRolePolicyDocument.Statement[1]
    assert.same({ Service = "vpc-flow-logs.amazonaws.com" }, trust.Principal)
    assert.same({ ["aws:SourceAccount"] = ACCOUNT }, trust.Condition.StringEquals)
    assert.is_nil(role.ManagedPolicyArns)
    assert.equal(1, #role.Policies)
    local st = role.Policies[1].PolicyDocument.Statement
    assert.equal(1, #st)
    assert.same({ "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams" }, st[1].Action)
    assert.same({ { ["Fn::Sub"] = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
      .. tpl.Resources.VpcFlowLogGroup.Properties.LogGroupName .. ":*" } }, st[1].Resource)
  end)

  it("has a Glue network connection per private subnet, with a self-referencing security group", function()
    assert.same({ "VpcGlueConnection1", "VpcGlueConnection2" }, of_type(tpl, "AWS::Glue::Connection"))
    for az = 1, 2 do
      local c = tpl.Resources["VpcGlueConnection" .. az].Properties
      assert.same(ACCOUNT, c.CatalogId)
      local input = c.ConnectionInput
      assert.equal(("example-lake-vpc-az%d-dev"):format(az), input.Name)
      assert.equal("NETWORK", input.ConnectionType)
      assert.same({ SubnetId = { Ref = "VpcPrivateSubnet" .. az },
        AvailabilityZone = tpl.Resources["VpcPrivateSubnet" .. az].Properties.AvailabilityZone,
        SecurityGroupIdList = { { ["Fn::GetAtt"] = { "VpcGlueSecurityGroup", "GroupId" } } } },
        input.PhysicalConnectionRequirements)
    end
    local id = { ["Fn::GetAtt"] = { "VpcGlueSecurityGroup", "GroupId" } }
    local ing = tpl.Resources.VpcGlueSecurityGroupSelfIngress.Properties
    assert.same({ id, id, "tcp", 0, 65535 }, { ing.GroupId, ing.SourceSecurityGroupId, ing.IpProtocol, ing.FromPort,
      ing.ToPort })
    local eg = tpl.Resources.VpcGlueSecurityGroupSelfEgress.Properties
    assert.same({ id, id, "tcp", 0, 65535 }, { eg.GroupId, eg.DestinationSecurityGroupId, eg.IpProtocol, eg.FromPort,
      eg.ToPort })
    -- the group's own egress list replaces the default allow-all: HTTPS only
    local sg = tpl.Resources.VpcGlueSecurityGroup.Properties
    assert.equal(1, #sg.SecurityGroupEgress)
    assert.same({ "tcp", 443, 443 }, { sg.SecurityGroupEgress[1].IpProtocol, sg.SecurityGroupEgress[1].FromPort,
      sg.SecurityGroupEgress[1].ToPort })
    assert.is_nil(sg.SecurityGroupIngress)
  end)

  it("marks the VPC for lakehost to close its default security group, with the reason for cdk-nag", function()
    local md = tpl.Resources.Vpc.Metadata
    assert.same({ close_default_security_group = true }, md.lakehost)
    local ids = {}
    for _, s in ipairs(md.cdk_nag.rules_to_suppress) do
      ids[#ids + 1] = s.id
      assert.truthy(#s.reason > 60)
    end
    assert.same({ "NIST.800.53.R5-VPCDefaultSecurityGroupClosed", "HIPAA.Security-VPCDefaultSecurityGroupClosed" }, ids)
  end)

  it("reads enable_vpc / vpc_cidr as vpc = { cidr = vpc_cidr }, and vpc = true as the defaults", function()
    local old = build({ enable_vpc = true, vpc_cidr = "10.1.0.0/24" })
    local new = build({ vpc = { cidr = "10.1.0.0/24" } })
    assert.same(new.vpc, old.vpc)
    assert.equal(assembly.encode(template(new.shared_stack)), assembly.encode(template(old.shared_stack)))
    assert.equal("10.1.0.192/26", template(old.shared_stack).Resources.VpcPrivateSubnet2.Properties.CidrBlock)
    assert.equal(assembly.encode(tpl), assembly.encode(template(build({ vpc = true }).shared_stack)))
    assert.equal(assembly.encode(tpl), assembly.encode(template(build({ enable_vpc = true }).shared_stack)))
    assert.is_nil(build({ vpc = false }).vpc)
  end)

  it("splits another CIDR into quarters", function()
    assert.same({ "10.0.0.0/18", "10.0.64.0/18", "10.0.128.0/18", "10.0.192.0/18" }, builder.split_cidr("10.0.0.0/16"))
  end)

  it("refuses datalake.vpc:public_subnet_ids without public subnets, at the caller's line", function()
    local app = lake.App {}
    local stack = app:stack("mine")
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() local ids = dl.vpc:public_subnet_ids(stack) return ids end)
    assert.is_false(ok)
    assert.equal(("spec/lake/builder_spec.lua:%d: datalake.vpc:public_subnet_ids: the lake's VPC has no public "
      .. "subnets (DatalakeBuilder{ vpc = { public_subnets = true } } adds them)"):format(line), err)
    assert.is_nil(stack.parameters and stack.parameters.VpcPublicSubnetIds)
    assert.truthy(token.is(pub.vpc:public_subnet_ids(stack)))
    assert.truthy(stack.parameters.VpcPublicSubnetIds)
  end)
end)
describe("lake.builder bucket set #unit", function()
  local dl = build({ lake_domains = { "sales", "example" }, region = "eu-west-1", account_id = "123456789012" })

  it("lists every bucket in lake_domains order, then raw, trusted, service", function()
    local got = {}
    for _, b in ipairs(dl.bucket_set:get()) do got[#got + 1] = b.domain .. "/" .. b.layer end
    assert.same({ "sales/raw", "sales/trusted", "sales/service", "example/raw", "example/trusted",
      "example/service" }, got)
    assert.equal(6, #dl.bucket_set:get {})
  end)

  it("describes each bucket", function()
    local b = dl.bucket_set:bucket("example", "raw")
    assert.same({ domain = "example", layer = "raw", name = "example-raw-eu-west-1-123456789012-dev",
      uri = "s3://example-raw-eu-west-1-123456789012-dev", database = "example_raw_dev",
      crawler = "example-raw-crawler-dev" }, { domain = b.domain, layer = b.layer, name = b.name, uri = b.uri,
      database = b.database, crawler = b.crawler })
    assert.same({ ["Fn::Sub"] = "arn:${AWS::Partition}:s3:::example-raw-eu-west-1-123456789012-dev" },
      token.resolve(b.arn, {}))
    assert.is_nil(dl.bucket_set:bucket("example", "trusted").crawler)
    assert.is_nil(dl.bucket_set:bucket("example", "gold"))
    assert.is_nil(dl.bucket_set:bucket("nope", "raw"))
  end)

  it("filters by domains and layers", function()
    local got = {}
    for _, b in ipairs(dl.bucket_set:get { domains = { "example" }, layers = { "service", "raw" } }) do
      got[#got + 1] = b.domain .. "/" .. b.layer
    end
    assert.same({ "example/raw", "example/service" }, got)
    assert.equal(2, #dl.bucket_set:get { layers = { "trusted" } })
  end)

  it("uses tokens for names when region and account are not given", function()
    local b = (build()).bucket_set:bucket("example", "trusted")
    assert.same({ ["Fn::Sub"] = "example-trusted-${AWS::Region}-${AWS::AccountId}-dev" }, token.resolve(b.name, {}))
    assert.same({ ["Fn::Sub"] = "s3://example-trusted-${AWS::Region}-${AWS::AccountId}-dev" }, token.resolve(b.uri, {}))
  end)

  -- refusals
  it("refuses unknown domains, layers and keys", function()
    assert.has_error(function() dl.bucket_set:get { domains = { "exmaple" } } end,
      "bucket_set:get: unknown domain 'exmaple' (did you mean 'example'?)")
    assert.has_error(function() dl.bucket_set:get { layers = { "gold" } } end,
      "bucket_set:get: unknown layer 'gold'")
    assert.has_error(function() dl.bucket_set:get { domain = { "example" } } end,
      "bucket_set:get: unknown key 'domain' (did you mean 'domains'?)")
  end)

  it("exposes the lake's fields", function()
    assert.equal("Example Lake", dl.name)
    assert.equal("dev", dl.stage)
    assert.same({ region = "eu-west-1", account = "123456789012", stage = "dev" }, dl.env)
    assert.same({ "sales", "example" }, dl.domains)
    assert.same({ example1 = "value1", example2 = "value2" }, dl.tags)
    assert.same({}, dl.pipelines)
    assert.is_true(lake.App ~= nil and dl.app ~= nil)
  end)
end)

describe("lake.builder options #unit", function()
  -- refusals: every problem at once, as file: key: message
  it("reports unknown options with a suggestion", function()
    assert.same({ "app.lua: lake_domain: unknown option (did you mean 'lake_domains'?)",
      "app.lua: lake_domains: is required" },
      problems({ lake_name = "L", lake_domain = { "example" } }))
  end)

  it("keeps replaced versions noncurrent_version_days days, checked", function()
    local tpl = template((build({ noncurrent_version_days = 90 })).storage_stack)
    local ids = of_type(tpl, "AWS::S3::Bucket")
    assert.equal(4, #ids)
    for _, id in ipairs(ids) do
      if id == "AccessLogsBucket" then id = "ExampleRawBucket" end
      assert.equal(90, tpl.Resources[id].Properties.LifecycleConfiguration.Rules[2].NoncurrentVersionExpiration
        .NoncurrentDays)
    end
    for _, bad in ipairs({ 0, 3651, 1.5, "30" }) do
      assert.same({ ("app.lua: noncurrent_version_days: expected a whole number of days from 1 to 3650, got %s")
        :format(type(bad) == "string" and "'30'" or tostring(bad)) },
        problems({ lake_name = "L", lake_domains = { "a" }, noncurrent_version_days = bad }))
    end
  end)

  it("checks lake_name", function()
    assert.same({ "app.lua: lake_name: is required" }, problems({ lake_domains = { "a" } }))
    assert.same({ "app.lua: lake_name: expected a string, got a number" },
      problems({ lake_name = 1, lake_domains = { "a" } }))
    assert.same({ "app.lua: lake_name: needs at least one letter or digit, got '--'" },
      problems({ lake_name = "--", lake_domains = { "a" } }))
    assert.same({ "app.lua: lake_name: the error topic's name would be 257 characters, SNS allows " ..
      "256: shorten the name by 1" },
      problems({ lake_name = ("n"):rep(246), lake_domains = { "a" } }))
    assert.same({}, problems({ lake_name = ("n"):rep(245), lake_domains = { "a" } }))
  end)

  it("checks lake_domains", function()
    assert.same({ "app.lua: lake_domains: expected a non-empty list of domain names, got a table" },
      problems({ lake_name = "L", lake_domains = {} }))
    assert.same({ "app.lua: lake_domains: expected a non-empty list of domain names, got 'example'" },
      problems({ lake_name = "L", lake_domains = "example" }))
    assert.same({
      "app.lua: lake_domains[2]: expected a domain name (lowercase letters, digits and single '-', " ..
        "starting with a letter), got 'Sales'",
      "app.lua: lake_domains[3]: expected a domain name (lowercase letters, digits and single '-', " ..
        "starting with a letter), got '9x'",
      "app.lua: lake_domains[4]: expected a domain name (lowercase letters, digits and single '-', " ..
        "starting with a letter), got 'a--b'",
      "app.lua: lake_domains[5]: 'example' is listed twice (also lake_domains[1])",
      "app.lua: lake_domains[6]: expected a domain name (lowercase letters, digits and single '-', " ..
        "starting with a letter), got a number",
    }, problems({ lake_name = "L", lake_domains = { "example", "Sales", "9x", "a--b", "example", 7 } }))
  end)

  it("refuses domains whose bucket names would pass 63 characters", function()
    local long = ("d"):rep(24)
    assert.same({
      "app.lua: lake_domains[1]: bucket names of '" .. long .. "' would be 64 characters with the longest region "
        .. "and account, S3 allows 63: shorten the domain by 1",
    }, problems({ lake_name = "L", lake_domains = { long } }))
    assert.same({}, problems({ lake_name = "L", lake_domains = { long:sub(2) } }))
  end)

  it("checks the stage", function()
    assert.same({ "app.lua: env: expected one of dev, stg, prd, test, got 'prod' (did you mean 'prd'?)" },
      problems({ lake_name = "L", lake_domains = { "a" }, env = "prod" }))
  end)

  it("checks region and account formats", function()
    assert.same({
      "app.lua: region: expected an AWS region such as us-east-1, got 'Europe'",
      "app.lua: account_id: expected a 12-digit AWS account id, got '1234'",
    }, problems({ lake_name = "L", lake_domains = { "a" }, region = "Europe", account_id = "1234" }))
    assert.same({}, problems({ lake_name = "L", lake_domains = { "a" }, region = "", account_id = "" }))
    assert.same({}, problems({ lake_name = "L", lake_domains = { "a" }, region = "us-gov-west-1",
      account_id = "000000000000" }))
  end)

  it("checks subscriptions", function()
    assert.same({
      "app.lua: sns_subscriptions[1].endpoint: expected an email address such as someone@example.com, got 'ops'",
      "app.lua: sns_subscriptions[2].protocol: expected one of email, sms, sqs, lambda, http, " ..
        "https, got 'smtp' (did you mean 'sms'?)",
      "app.lua: sns_subscriptions[3].endpoint: expected an https:// URL, got 'http://x.example.com'",
      "app.lua: sns_subscriptions[4].endpoint: expected an SQS queue ARN such as " ..
        "arn:aws:sqs:us-east-1:123456789012:queue, got 'queue'",
      "app.lua: sns_subscriptions[5].endpoint: expected a Lambda function ARN such as " ..
        "arn:aws:lambda:us-east-1:123456789012:function:name, got 'arn:aws:sqs:us-east-1:123456789012:q'",
      "app.lua: sns_subscriptions[6].endpoint: expected a phone number in E.164 form such as " ..
        "+15555550100, got '555-0100'",
      "app.lua: sns_subscriptions[7].endpoint: is required",
      "app.lua: sns_subscriptions[8].adress: unknown key",
      "app.lua: sns_subscriptions[8].protocol: is required",
      "app.lua: sns_subscriptions[8].endpoint: is required",
      "app.lua: sns_subscriptions[10].endpoint: expected an http:// URL, got 'ftp://x'",
      "app.lua: sns_subscriptions[11]: email subscription to 'a@example.com' is listed twice (also " ..
        "sns_subscriptions[9])",
    }, problems({ lake_name = "L", lake_domains = { "a" }, sns_subscriptions = {
      { protocol = "email", endpoint = "ops" },
      { protocol = "smtp", endpoint = "a@example.com" },
      { protocol = "https", endpoint = "http://x.example.com" },
      { protocol = "sqs", endpoint = "queue" },
      { protocol = "lambda", endpoint = "arn:aws:sqs:us-east-1:123456789012:q" },
      { protocol = "sms", endpoint = "555-0100" },
      { protocol = "email" },
      { adress = "x" },
      { protocol = "email", endpoint = "a@example.com" },
      { protocol = "http", endpoint = "ftp://x" },
      { protocol = "email", endpoint = "a@example.com" },
    } }))
  end)

  it("reports a misspelt subscription key with a suggestion", function()
    assert.same({ "app.lua: sns_subscriptions[1].endpiont: unknown key (did you mean 'endpoint'?)",
      "app.lua: sns_subscriptions[1].endpoint: is required" },
      problems({ lake_name = "L", lake_domains = { "a" },
        sns_subscriptions = { { protocol = "email", endpiont = "a@b.c" } } }))
  end)

  it("checks pipeline_logging and pipeline_tracing (the pipelines' defaults)", function()
    assert.same({
      "app.lua: pipeline_logging: expected one of error, all, got 'al' (did you mean 'all'?)",
      "app.lua: pipeline_tracing: expected true or false, got 'yes'",
    }, problems({ lake_name = "L", lake_domains = { "a" }, pipeline_logging = "al", pipeline_tracing = "yes" }))
    assert.same({ "app.lua: pipeline_logging: expected one of error, all, got a boolean" },
      problems({ lake_name = "L", lake_domains = { "a" }, pipeline_logging = false }))
    assert.same({}, problems({ lake_name = "L", lake_domains = { "a" }, pipeline_logging = "all",
      pipeline_tracing = false }))
  end)

  it("checks enable_vpc, vpc_cidr, tags, pipelines_path and standalone", function()
    assert.same({
      "app.lua: enable_vpc: expected true or false, got 'yes'",
      "app.lua: vpc_cidr: 10.0.0.1/16 is not a network address (did you mean 10.0.0.0/16?)",
    }, problems({ lake_name = "L", lake_domains = { "a" }, enable_vpc = "yes", vpc_cidr = "10.0.0.1/16" }))
    assert.same({ "app.lua: vpc_cidr: the VPC needs a prefix from /16 to /26 (4 subnets of a quarter each), got /28" },
      problems({ lake_name = "L", lake_domains = { "a" }, vpc_cidr = "10.0.0.0/28" }))
    assert.same({ "app.lua: vpc_cidr: expected an IPv4 CIDR such as 192.168.228.0/22, got '10.0.300.0/24'" },
      problems({ lake_name = "L", lake_domains = { "a" }, vpc_cidr = "10.0.300.0/24" }))
    assert.same({
      "app.lua: tags.aws:owner: tag names starting with 'aws:' are reserved by AWS",
      "app.lua: tags.team: expected a string, got a table",
    }, problems({ lake_name = "L", lake_domains = { "a" }, tags = { team = {}, ["aws:owner"] = "me" } }))
    assert.same({
      "app.lua: pipelines_path: expected a folder path, got a boolean",
      "app.lua: standalone[1]: expected a path to a Lua file, got a number",
    }, problems({ lake_name = "L", lake_domains = { "a" }, pipelines_path = true, standalone = { 1 } }))
  end)

  it("checks the vpc option: its keys, their values, one spelling at a time", function()
    local function p(vpc, extra)
      local o = { lake_name = "L", lake_domains = { "a" }, vpc = vpc }
      for k, v in pairs(extra or {}) do o[k] = v end
      return problems(o)
    end
    assert.same({ "app.lua: vpc.public_subnet: unknown key (did you mean 'public_subnets'?)" },
      p({ public_subnet = true }))
    assert.same({ "app.lua: vpc.cird: unknown key (did you mean 'cidr'?)",
      "app.lua: vpc.public_subnets: expected true or false, got 'yes'" }, p({ cird = "10.0.0.0/16", public_subnets = "yes" }))
    assert.same({ "app.lua: vpc.cidr: 10.0.0.1/16 is not a network address (did you mean 10.0.0.0/16?)" },
      p({ cidr = "10.0.0.1/16" }))
    assert.same({ "app.lua: vpc.cidr: expected an IPv4 CIDR such as 192.168.228.0/22, got a number" }, p({ cidr = 10 }))
    assert.same({ "app.lua: vpc: expected { cidr =, public_subnets = } (or true for the defaults), got 'on'" }, p("on"))
    assert.same({ "app.lua: vpc: expected { cidr =, public_subnets = } (or true for the defaults), got a list" },
      p({ "10.0.0.0/16" }))
    local both = "app.lua: vpc: give either vpc = { cidr =, public_subnets = } or the older enable_vpc / vpc_cidr, "
      .. "not both (enable_vpc = true, vpc_cidr = C is vpc = { cidr = C })"
    assert.same({ both }, p({}, { enable_vpc = true }))
    assert.same({ both }, p(true, { vpc_cidr = "10.0.0.0/16" }))
    assert.same({ both }, p(false, { enable_vpc = false }))
    assert.same({ both, "app.lua: vpc.public_subnet: unknown key (did you mean 'public_subnets'?)",
      "app.lua: vpc.cidr: 10.0.0.1/16 is not a network address (did you mean 10.0.0.0/16?)" },
      p({ cidr = "10.0.0.1/16", public_subnet = true }, { enable_vpc = true }))
    assert.same({}, p({ cidr = "10.0.0.0/16", public_subnets = true }))
    assert.same({}, p(true))
  end)

  it("names the file and line of the DatalakeBuilder call in a vpc problem", function()
    local app = lake.App {}
    local line = debug.getinfo(1, "l").currentline + 1
    lake.DatalakeBuilder { scope = app, lake_name = "L", lake_domains = { "a" }, vpc = { public = true } }:build()
    assert.same({ ("spec/lake/builder_spec.lua:%d: vpc.public: unknown key (did you mean 'public_subnets'?)"):format(line) },
      app.problems)
  end)

  it("names the caller's file and line when the app has no file", function()
    local app = lake.App {}
    local line = debug.getinfo(1, "l").currentline + 1
    lake.DatalakeBuilder { scope = app, lake_name = "L", lake_domains = { "a" }, env = "qa" }:build()
    assert.same({ ("spec/lake/builder_spec.lua:%d: env: expected one of dev, stg, prd, test, got 'qa'"):format(line) },
      app.problems)
  end)

  it("still builds the valid part so later problems are found in the same run", function()
    local app = lake.App {}
    app.file = "app.lua"
    local dl = lake.DatalakeBuilder { scope = app, lake_name = "L", lake_domains = { "a", "B" }, env = "x" }:build()
    assert.equal(2, #app.problems)
    assert.same({ "a" }, dl.domains)
    assert.equal("lake-storage-stack-dev", dl.storage_stack.name)
  end)

  -- DSL misuse raises at the caller's line
  it("refuses a scope that is not an App", function()
    assert.has_error(function() lake.DatalakeBuilder { scope = {}, lake_name = "L" } end,
      "DatalakeBuilder: scope must be the App (lake.App{...}), got a table")
    assert.has_error(function() lake.DatalakeBuilder("x") end, "DatalakeBuilder expects a table of options, got string")
  end)

  it("builds once", function()
    local b = lake.DatalakeBuilder { scope = lake.App {}, lake_name = "L", lake_domains = { "a" } }
    b:build()
    assert.has_error(function() b:build() end, "DatalakeBuilder:build() was already called")
  end)

  -- acceptance
  it("accepts the example's options", function()
    assert.same({}, problems({ lake_name = "Example Lake", env = "dev", lake_domains = { "example" },
      enable_vpc = false, sns_subscriptions = SUBS,
      tags = { example1 = "value1" }, region = "us-east-1", account_id = "123456789012" }))
  end)
end)

describe("lake.builder pipelines and determinism #unit", function()
  it("asks its loader for the pipelines folder and builds the lake's pipelines from what it read", function()
    local calls = {}
    local loader = {
      pipelines = function(root, path)
        calls[#calls + 1] = { root, path }
        return { rel = "pipelines", pipelines = {}, shared = { rel = "shared", folders = {} } }
      end,
      standalone_files = function(root)
        calls[#calls + 1] = { root }
        return {}
      end,
      scripts = function() error("no script was named") end,
    }
    local function with(opts)
      local app = lake.App { root = "/x" }
      opts.scope, opts.lake_name, opts.lake_domains = app, "Example Lake", { "example" }
      return builder.new(opts, { loader = loader }):build(), app
    end
    local dl, app = with({ pipelines_path = "/x/pipelines" })
    assert.same({ { "/x", "/x/pipelines" }, { "/x" } }, calls)
    assert.equal("/x/pipelines", dl.pipelines_path)
    assert.same({}, dl.pipelines)
    assert.same({}, app.problems)
    calls = {}
    with({ standalone = {} })
    assert.equal(0, #calls)
  end)

  it("synthesizes byte-identical templates twice", function()
    local function texts()
      local dl = build({ enable_vpc = true, lake_domains = { "example", "sales", "hr" }, sns_subscriptions = {
        { protocol = "email", endpoint = "a@example.com" }, { protocol = "sms", endpoint = "+15555550100" } } })
      return assembly.encode(template(dl.storage_stack)) .. assembly.encode(template(dl.shared_stack))
    end
    local a, b = texts(), texts()
    assert.equal(a, b)
    assert.is_true(#a > 10000)
  end)
end)
