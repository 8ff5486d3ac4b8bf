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
    if v == false and k ~= "enable_vpc" then o[k] = nil else o[k] = v end
  end
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
    assert.same({ "ExampleRawBucket", "ExampleServiceBucket", "ExampleTrustedBucket",
      "SalesRawBucket", "SalesServiceBucket", "SalesTrustedBucket" }, of_type(tpl, "AWS::S3::Bucket"))
    assert.equal(6, #of_type(tpl, "AWS::S3::BucketPolicy"))
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
    assert.same({ "ExampleRawDatabase" }, c.DependsOn)
    assert.same({
      Name = "example-raw-crawler-dev",
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
  local dl = build({ enable_vpc = true })
  local tpl = template(dl.shared_stack)

  it("publishes the VPC through SSM parameter names", function()
    assert.same({ ssm = { vpc_id = "/example-lake/dev/vpc/id",
      private_subnet_ids = "/example-lake/dev/vpc/private-subnet-ids",
      public_subnet_ids = "/example-lake/dev/vpc/public-subnet-ids",
      security_group_id = "/example-lake/dev/vpc/security-group-id" }, cidr = "192.168.228.0/22" }, dl.vpc)
    local p = tpl.Resources.VpcPrivateSubnetIdsParameter.Properties
    assert.equal("/example-lake/dev/vpc/private-subnet-ids", p.Name)
    assert.equal("StringList", p.Type)
    assert.same({ ["Fn::Join"] = { ",", { { Ref = "VpcPrivateSubnet1" }, { Ref = "VpcPrivateSubnet2" } } } }, p.Value)
    p = tpl.Resources.VpcPublicSubnetIdsParameter.Properties
    assert.equal("/example-lake/dev/vpc/public-subnet-ids", p.Name)
    assert.same({ ["Fn::Join"] = { ",", { { Ref = "VpcPublicSubnet1" }, { Ref = "VpcPublicSubnet2" } } } }, p.Value)
    assert.same({ Ref = "Vpc" }, tpl.Resources.VpcIdParameter.Properties.Value)
    assert.same({ ["Fn::GetAtt"] = { "VpcEndpointSecurityGroup", "GroupId" } },
      tpl.Resources.VpcSecurityGroupIdParameter.Properties.Value)
  end)

  it("has a public and a private-isolated subnet in each of 2 AZs", function()
    assert.same({ "Vpc" }, of_type(tpl, "AWS::EC2::VPC"))
    assert.equal("192.168.228.0/22", tpl.Resources.Vpc.Properties.CidrBlock)
    assert.same({ "VpcPrivateSubnet1", "VpcPrivateSubnet2", "VpcPublicSubnet1", "VpcPublicSubnet2" },
      of_type(tpl, "AWS::EC2::Subnet"))
    local cidrs, zones = {}, {}
    for _, id in ipairs(of_type(tpl, "AWS::EC2::Subnet")) do
      cidrs[id] = tpl.Resources[id].Properties.CidrBlock
      zones[id] = tpl.Resources[id].Properties.AvailabilityZone
    end
    assert.same({ VpcPublicSubnet1 = "192.168.228.0/24", VpcPublicSubnet2 = "192.168.229.0/24",
      VpcPrivateSubnet1 = "192.168.230.0/24", VpcPrivateSubnet2 = "192.168.231.0/24" }, cidrs)
    assert.same({ ["Fn::Select"] = { 1, { ["Fn::GetAZs"] = "" } } }, zones.VpcPrivateSubnet2)
    assert.same({ ["Fn::Select"] = { 0, { ["Fn::GetAZs"] = "" } } }, zones.VpcPublicSubnet1)
  end)

  it("routes only the public subnets to the internet", function()
    assert.same({ "VpcPublicDefaultRoute" }, of_type(tpl, "AWS::EC2::Route"))
    local route = tpl.Resources.VpcPublicDefaultRoute
    assert.same({ RouteTableId = { Ref = "VpcPublicRouteTable" }, DestinationCidrBlock = "0.0.0.0/0",
      GatewayId = { Ref = "VpcInternetGateway" } }, route.Properties)
    assert.same({ "VpcGatewayAttachment" }, route.DependsOn)
    assert.same({ "VpcPrivateRouteTable1", "VpcPrivateRouteTable2", "VpcPublicRouteTable" },
      of_type(tpl, "AWS::EC2::RouteTable"))
    assert.equal(4, #of_type(tpl, "AWS::EC2::SubnetRouteTableAssociation"))
    assert.same({ Ref = "VpcPrivateRouteTable2" },
      tpl.Resources.VpcPrivateSubnet2RouteTableAssociation.Properties.RouteTableId)
    assert.same({ "VpcInternetGateway" }, of_type(tpl, "AWS::EC2::InternetGateway"))
    assert.same({ "VpcGatewayAttachment" }, of_type(tpl, "AWS::EC2::VPCGatewayAttachment"))
  end)

  it("reaches s3 through a gateway and sns, states, glue through interface endpoints", function()
    assert.same({ "VpcGlueEndpoint", "VpcS3Endpoint", "VpcSnsEndpoint", "VpcStatesEndpoint" },
      of_type(tpl, "AWS::EC2::VPCEndpoint"))
    local s3 = tpl.Resources.VpcS3Endpoint.Properties
    assert.equal("Gateway", s3.VpcEndpointType)
    assert.same({ ["Fn::Sub"] = "com.amazonaws.${AWS::Region}.s3" }, s3.ServiceName)
    assert.same({ { Ref = "VpcPrivateRouteTable1" }, { Ref = "VpcPrivateRouteTable2" } }, s3.RouteTableIds)
    for _, svc in ipairs({ "Sns", "States", "Glue" }) do
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

  it("splits another CIDR into quarters", function()
    assert.same({ "10.0.0.0/18", "10.0.64.0/18", "10.0.128.0/18", "10.0.192.0/18" }, builder.split_cidr("10.0.0.0/16"))
    local other = build({ enable_vpc = true, vpc_cidr = "10.1.0.0/24" })
    local t2 = template(other.shared_stack)
    assert.equal("10.1.0.192/26", t2.Resources.VpcPrivateSubnet2.Properties.CidrBlock)
    assert.equal("10.1.0.0/24", other.vpc.cidr)
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
    assert.equal(3, #ids)
    for _, id in ipairs(ids) do
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
