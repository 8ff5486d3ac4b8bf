--- The lake builder: the datalake's storage and shared stacks, then its
-- pipelines and standalone stacks, as model objects. It reads no file
-- itself: its loader (lake.load, given by the DSL) reads the pipelines and
-- scripts the options name, and the builder works on what it returns.
--
--   local datalake = lake.DatalakeBuilder{ scope = app, lake_name = "Example Lake",
--     lake_domains = { "example" }, ... }:build()
--
-- Options are checked when the builder is created; every problem is recorded
-- on the app (app:problem) so the command reports them all at once, and the
-- build goes on with safe stand-ins so later problems (pipeline configs)
-- are found in the same run. Misuse of the DSL itself (no App as scope,
-- options that are not a table, build() twice) raises error(msg, 2).
--
-- Stacks (names.lua): lake-storage-stack-<stage> (one bucket per domain x
-- layer, with a TLS-only bucket policy each, logging to the lake's access
-- logs bucket; the lake key with encryption = "kms") and
-- lake-shared-stack-<stage> (the Glue security configuration, a Glue
-- database per bucket, a crawler and its role per raw bucket, the error
-- topic and its subscriptions, the optional VPC). Stacks refer to each
-- other by the lake's deterministic names, never by export/import.
--
-- Standalone scripts: the `standalone` option's list, else every
-- standalone/*.lua of the app's folder in name order (the loader lists
-- them); lake.standalone_listed says which.
--
-- build() sets app.datalake to the built lake, so that a command given only
-- the App reaches its domains, stage and folders (lake.commands.new).
local app_mod = require("lake.app")
local catalog = require("lake.stacks.catalog")
local datalake = require("lake.datalake")
local encryption = require("lake.stacks.encryption")
local names = require("lake.names")
local pipeline = require("lake.pipeline")
local pipeline_config = require("lake.pipeline.config")
local standalone = require("lake.standalone")
local storage = require("lake.stacks.storage")
local token = require("lake.token")
local topic = require("lake.stacks.topic")
local util = require("lake.util")
local vpc = require("lake.stacks.vpc")

local M = {}

local Builder, BucketSet = {}, {}
Builder.__index, BucketSet.__index = Builder, BucketSet
Builder.__name, BucketSet.__name = "lake.DatalakeBuilder", "lake.BucketSet"

--- Options of DatalakeBuilder{...}, in documentation order.
M.OPTIONS = { "scope", "lake_name", "region", "account_id", "env", "lake_domains", "vpc", "enable_vpc",
  "vpc_cidr", "sns_subscriptions", "pipelines_path", "standalone", "tags", "noncurrent_version_days",
  "encryption", "kms_key_arn", "access_log_days", "pipeline_logging", "pipeline_tracing" }
local OPTION_SET = {}
for _, o in ipairs(M.OPTIONS) do OPTION_SET[o] = true end

M.DEFAULT_VPC_CIDR = vpc.DEFAULT_VPC_CIDR
-- Every layer's bucket is versioned (a pipeline role that may overwrite or
-- delete trusted or service data must not be able to lose it); versions a
-- newer one replaced are kept this many days, then expire.
M.DEFAULT_NONCURRENT_VERSION_DAYS = 30
M.ENCRYPTIONS = encryption.MODES
M.DEFAULT_ENCRYPTION = encryption.DEFAULT
M.DEFAULT_ACCESS_LOG_DAYS = encryption.DEFAULT_ACCESS_LOG_DAYS
M.PROTOCOLS = { "email", "sms", "sqs", "lambda", "http", "https" }

---------------------------------------------------------------------------
-- Checks of single values: each returns nil when v is fine, else a message.

local function describe(v)
  if type(v) == "string" then return ("'%s'"):format(v) end
  local t = type(v)
  if t == "table" then return #v > 0 and "a list" or "a table" end
  return t == "nil" and "nothing" or ("a " .. t)
end

local ARN_ACCOUNT = "%d%d%d%d%d%d%d%d%d%d%d%d"

local ENDPOINT_CHECKS = {
  email = function(e)
    if not e:match("^[^@%s]+@[^@%s]+%.[^@%s]+$") then
      return "expected an email address such as someone@example.com, got " .. describe(e)
    end
  end,
  sms = function(e)
    if not e:match("^%+%d+$") or #e < 8 or #e > 16 then
      return "expected a phone number in E.164 form such as +15555550100, got " .. describe(e)
    end
  end,
  http = function(e)
    if not e:match("^http://[^%s/]+[^%s]*$") then
      return "expected an http:// URL, got " .. describe(e)
    end
  end,
  https = function(e)
    if not e:match("^https://[^%s/]+[^%s]*$") then
      return "expected an https:// URL, got " .. describe(e)
    end
  end,
  sqs = function(e)
    if not e:match("^arn:aws[%w%-]*:sqs:[%w%-]+:" .. ARN_ACCOUNT .. ":[%w_%-]+$")
      and not e:match("^arn:aws[%w%-]*:sqs:[%w%-]+:" .. ARN_ACCOUNT .. ":[%w_%-]+%.fifo$") then
      return "expected an SQS queue ARN such as arn:aws:sqs:us-east-1:123456789012:queue, got " .. describe(e)
    end
  end,
  lambda = function(e)
    if not e:match("^arn:aws[%w%-]*:lambda:[%w%-]+:" .. ARN_ACCOUNT .. ":function:[%w_%-]+$")
      and not e:match("^arn:aws[%w%-]*:lambda:[%w%-]+:" .. ARN_ACCOUNT .. ":function:[%w_%-]+:[%w_%-$]+$") then
      return "expected a Lambda function ARN such as arn:aws:lambda:us-east-1:123456789012:function:name, got "
        .. describe(e)
    end
  end,
}

--- The 4 equal quarters of a CIDR: public AZ1, public AZ2, private AZ1, private AZ2.
M.split_cidr = vpc.split_cidr

--- The SSM parameters the shared stack writes the VPC's ids to (lake.datalake).
M.vpc_parameter_names = datalake.vpc_parameter_names

---------------------------------------------------------------------------
-- Where the builder was called from (for problem lines).

local HERE = debug.getinfo(1, "S").source

--- The first frame outside lua/lake's builder and DSL entry: { file=, line= } | nil.
local function caller()
  for level = 3, 12 do
    local info = debug.getinfo(level, "Sl")
    if not info then return nil end
    local src = info.source
    if src ~= HERE and not src:match("lake/init%.lua$") and src:sub(1, 1) == "@" then
      return { file = src:sub(2), line = info.currentline > 0 and info.currentline or nil }
    end
  end
  return nil
end

---------------------------------------------------------------------------
-- Option validation

--- Records problems with the options and returns the values to build with.
local function validate(app, opts, where)
  local file = app.file or (where and where.file) or "app.lua"
  local line = where and (app.file == nil or app.file == where.file) and where.line or nil
  local function problem(key, fmt, ...) app:problem(file, line, key, fmt:format(...)) end
  local v = {}

  for _, k in ipairs(util.sorted_keys(opts)) do
    if type(k) ~= "string" or not OPTION_SET[k] then
      problem(tostring(k), "unknown option%s", type(k) == "string" and util.suggest(k, M.OPTIONS) or "")
    end
  end

  -- lake_name
  local lake_name = opts.lake_name
  if lake_name == nil then
    problem("lake_name", "is required")
  elseif type(lake_name) ~= "string" then
    problem("lake_name", "expected a string, got %s", describe(lake_name))
  elseif util.kebab(lake_name) == "" then
    problem("lake_name", "needs at least one letter or digit, got %s", describe(lake_name))
  end
  v.lake_name = (type(lake_name) == "string" and util.kebab(lake_name) ~= "") and lake_name or "lake"

  -- stage
  local stage = opts.env
  if stage == nil then stage = app.stage or "dev" end
  local stage_ok = false
  for _, s in ipairs(names.STAGES) do stage_ok = stage_ok or s == stage end
  if not stage_ok then
    problem("env", "expected one of %s, got %s%s", table.concat(names.STAGES, ", "), describe(stage),
      type(stage) == "string" and util.suggest(stage, names.STAGES) or "")
    stage = "dev"
  end
  v.stage = stage
  local topic_len = #names.topic(v.lake_name, v.stage)
  if topic_len > 256 then
    problem("lake_name", "the error topic's name would be %d characters, SNS allows 256: shorten the name by %d",
      topic_len, topic_len - 256)
    v.lake_name = "lake"
  end

  -- region and account (an empty string counts as not given, as unset
  -- environment variables often come through that way)
  local region = opts.region
  if region == "" then region = nil end
  if region ~= nil and (type(region) ~= "string" or not region:match("^%l%l%-[%l%-]+%-%d+$")) then
    problem("region", "expected an AWS region such as us-east-1, got %s", describe(region))
    region = nil
  end
  v.region = region
  local account = opts.account_id
  if account == "" then account = nil end
  if math.type(account) == "integer" then account = ("%012d"):format(account) end
  if account ~= nil and (type(account) ~= "string" or not account:match("^" .. ARN_ACCOUNT .. "$")) then
    problem("account_id", "expected a 12-digit AWS account id, got %s", describe(account))
    account = nil
  end
  v.account = account

  -- domains
  local env = { region = v.region, account = v.account, stage = v.stage }
  v.domains = {}
  local domains = opts.lake_domains
  if domains == nil then
    problem("lake_domains", "is required")
  elseif type(domains) ~= "table" or #domains == 0 then
    problem("lake_domains", "expected a non-empty list of domain names, got %s", describe(domains))
  else
    local seen = {}
    for i, d in ipairs(domains) do
      local key = ("lake_domains[%d]"):format(i)
      if type(d) ~= "string" or not d:match("^[a-z][a-z0-9-]*$") or d:match("%-%-") or d:match("%-$") then
        problem(key, "expected a domain name (lowercase letters, digits and single '-', "
          .. "starting with a letter), got %s", describe(d))
      elseif seen[d] then
        problem(key, "'%s' is listed twice (also lake_domains[%d])", d, seen[d])
      else
        seen[d] = i
        local longest = 0
        for _, layer in ipairs(names.LAYERS) do
          local worst = token.worst_case(names.bucket(d, layer, env))
          longest = math.max(longest, #worst)
        end
        if longest > 63 then
          problem(key, "bucket names of '%s' would be %d characters with the longest region and account, "
            .. "S3 allows 63: shorten the domain by %d", d, longest, longest - 63)
        else
          v.domains[#v.domains + 1] = d
        end
      end
    end
    for k in pairs(domains) do
      if math.type(k) ~= "integer" or k < 1 or k > #domains then
        problem("lake_domains", "expected a list, got a table with key %s", describe(k))
        break
      end
    end
  end

  -- A number of days from 1 to 3650 (ten years), or the default.
  local function days(key, default)
    local d = opts[key]
    if d == nil then return default end
    if math.type(d) ~= "integer" or d < 1 or d > 3650 then
      problem(key, "expected a whole number of days from 1 to 3650, got %s",
        type(d) == "number" and tostring(d) or describe(d))
      return default
    end
    return d
  end

  -- versions kept
  v.noncurrent_version_days = days("noncurrent_version_days", M.DEFAULT_NONCURRENT_VERSION_DAYS)

  -- encryption and access logs
  v.encryption = M.DEFAULT_ENCRYPTION
  local enc, key_arn = opts.encryption, opts.kms_key_arn
  if enc ~= nil then
    if not util.contains(M.ENCRYPTIONS, enc) then
      problem("encryption", "expected one of %s, got %s%s", table.concat(M.ENCRYPTIONS, ", "), describe(enc),
        type(enc) == "string" and util.suggest(enc, M.ENCRYPTIONS) or "")
    else
      v.encryption = enc
    end
  end
  if key_arn ~= nil then
    if type(key_arn) ~= "string" or not key_arn:match(encryption.KEY_ARN_PATTERN) then
      problem("kms_key_arn", "expected a KMS key ARN such as "
        .. "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab, got %s", describe(key_arn))
    elseif enc == "s3" then
      problem("kms_key_arn", "a KMS key takes encryption = 'kms' (or no encryption option), "
        .. "but encryption is 's3'")
    else
      v.encryption, v.kms_key_arn = "kms", key_arn
    end
  end
  v.access_log_days = days("access_log_days", M.DEFAULT_ACCESS_LOG_DAYS)

  -- VPC: vpc = { cidr =, public_subnets = } | true, or the older enable_vpc / vpc_cidr (lake.stacks.vpc)
  v.vpc = vpc.options(opts, problem)
  v.enable_vpc = v.vpc ~= nil

  -- Defaults of the pipelines' state machines (their config.yml's logging
  -- and tracing come first; lake.pipeline.stack.logging_of)
  local plog = opts.pipeline_logging
  if plog ~= nil and not (type(plog) == "string" and util.contains(pipeline_config.LOGGING, plog)) then
    problem("pipeline_logging", "expected one of %s, got %s%s", table.concat(pipeline_config.LOGGING, ", "),
      describe(plog), type(plog) == "string" and util.suggest(plog, pipeline_config.LOGGING) or "")
  else
    v.pipeline_logging = plog
  end
  if opts.pipeline_tracing ~= nil and type(opts.pipeline_tracing) ~= "boolean" then
    problem("pipeline_tracing", "expected true or false, got %s", describe(opts.pipeline_tracing))
  else
    v.pipeline_tracing = opts.pipeline_tracing
  end

  -- subscriptions
  v.subscriptions = {}
  local subs = opts.sns_subscriptions
  if subs ~= nil and (type(subs) ~= "table" or (next(subs) ~= nil and #subs == 0)) then
    problem("sns_subscriptions", "expected a list of { protocol =, endpoint = }, got %s", describe(subs))
  elseif subs ~= nil then
    local seen = {}
    for i, s in ipairs(subs) do
      local key = ("sns_subscriptions[%d]"):format(i)
      if type(s) ~= "table" then
        problem(key, "expected { protocol =, endpoint = }, got %s", describe(s))
      else
        local ok = true
        for _, k in ipairs(util.sorted_keys(s)) do
          if k ~= "protocol" and k ~= "endpoint" then
            problem(key .. "." .. tostring(k), "unknown key%s", util.suggest(tostring(k), { "protocol", "endpoint" }))
            ok = false
          end
        end
        local check = type(s.protocol) == "string" and ENDPOINT_CHECKS[s.protocol]
        if s.protocol == nil then
          problem(key .. ".protocol", "is required")
          ok = false
        elseif not check then
          problem(key .. ".protocol", "expected one of %s, got %s%s", table.concat(M.PROTOCOLS, ", "),
            describe(s.protocol), type(s.protocol) == "string" and util.suggest(s.protocol, M.PROTOCOLS) or "")
          ok = false
        end
        if s.endpoint == nil then
          problem(key .. ".endpoint", "is required")
          ok = false
        elseif not token.is(s.endpoint) and type(s.endpoint) ~= "string" then
          problem(key .. ".endpoint", "expected a string, got %s", describe(s.endpoint))
          ok = false
        elseif check and type(s.endpoint) == "string" then
          local err = check(s.endpoint)
          if err then
            problem(key .. ".endpoint", "%s", err)
            ok = false
          end
        end
        if ok and type(s.endpoint) == "string" then
          local id = s.protocol .. " " .. s.endpoint
          if seen[id] then
            problem(key, "%s subscription to '%s' is listed twice (also sns_subscriptions[%d])",
              s.protocol, s.endpoint, seen[id])
            ok = false
          end
          seen[id] = i
        end
        if ok then v.subscriptions[#v.subscriptions + 1] = { protocol = s.protocol, endpoint = s.endpoint } end
      end
    end
  end

  -- pipelines and standalone scripts
  if opts.pipelines_path ~= nil and type(opts.pipelines_path) ~= "string" then
    problem("pipelines_path", "expected a folder path, got %s", describe(opts.pipelines_path))
  else
    v.pipelines_path = opts.pipelines_path
  end
  -- absent: the loader finds standalone/*.lua at build (nil here)
  local sa = opts.standalone
  v.standalone = sa ~= nil and {} or nil
  if sa ~= nil and (type(sa) ~= "table" or (next(sa) ~= nil and #sa == 0)) then
    problem("standalone", "expected a list of Lua files, got %s", describe(sa))
  elseif sa ~= nil then
    for i, p in ipairs(sa) do
      if type(p) ~= "string" or p == "" then
        problem(("standalone[%d]"):format(i), "expected a path to a Lua file, got %s", describe(p))
      else
        v.standalone[#v.standalone + 1] = p
      end
    end
  end

  -- tags
  v.tags = {}
  local tags = opts.tags
  if tags ~= nil and (type(tags) ~= "table" or #tags > 0) then
    problem("tags", "expected a map of tag names to values, got %s", describe(tags))
  elseif tags ~= nil then
    for k, val in util.spairs(tags) do
      local key = "tags." .. tostring(k)
      if type(k) ~= "string" or #k == 0 or #k > 128 then
        problem(key, "tag names are strings of 1 to 128 characters")
      elseif k:lower():sub(1, 4) == "aws:" then
        problem(key, "tag names starting with 'aws:' are reserved by AWS")
      elseif type(val) ~= "string" and type(val) ~= "number" and type(val) ~= "boolean" then
        problem(key, "expected a string, got %s", describe(val))
      elseif #tostring(val) > 256 then
        problem(key, "is %d characters long, at most 256 allowed", #tostring(val))
      else
        v.tags[k] = tostring(val)
      end
    end
  end
  return v
end

---------------------------------------------------------------------------
-- Bucket set

--- Buckets of the lake, filtered.
-- @param filter table|nil { domains = {..}|nil (all), layers = {..}|nil (all) }
-- @return array of { domain=, layer=, name=, arn=, uri=, database=, crawler= } in
--   lake_domains order, then raw, trusted, service
function BucketSet:get(filter)
  filter = filter or {}
  if type(filter) ~= "table" then error("bucket_set:get expects { domains = {...}, layers = {...} }", 2) end
  for k in pairs(filter) do
    if k ~= "domains" and k ~= "layers" then
      error(("bucket_set:get: unknown key '%s'%s"):format(tostring(k),
        util.suggest(tostring(k), { "domains", "layers" })), 2)
    end
  end
  local function set_of(list, known, what)
    if list == nil then return nil end
    if type(list) ~= "table" then error(("bucket_set:get: %s must be a list"):format(what), 3) end
    local set = {}
    for _, x in ipairs(list) do
      if not known[x] then
        error(("bucket_set:get: unknown %s '%s'%s"):format(what:sub(1, -2), tostring(x),
          util.suggest(tostring(x), util.sorted_keys(known))), 3)
      end
      set[x] = true
    end
    return set
  end
  local known_layers = {}
  for _, l in ipairs(names.LAYERS) do known_layers[l] = true end
  local dset = set_of(filter.domains, self.domain_set, "domains")
  local lset = set_of(filter.layers, known_layers, "layers")
  local out = {}
  for _, b in ipairs(self.list) do
    if (not dset or dset[b.domain]) and (not lset or lset[b.layer]) then out[#out + 1] = b end
  end
  return out
end

--- The bucket of a domain and layer, or nil.
function BucketSet:bucket(domain, layer)
  return self.by_key[tostring(domain) .. "/" .. tostring(layer)]
end

---------------------------------------------------------------------------
-- Stacks

local function build_shared(lake, v)
  local stack = lake.app:stack(names.shared_stack(lake.stage), {
    description = ("Shared resources of the %s datalake (%s): catalog, crawlers, error topic%s")
      :format(lake.name, lake.stage, v.enable_vpc and ", VPC" or ""),
  })
  stack:depends_on(lake.storage_stack)
  lake.encryption:build_security_configuration(stack)
  catalog.build(lake, stack)
  topic.build(lake, stack, v.subscriptions)
  if v.vpc then vpc.build(lake, stack, v.vpc) end
  return stack
end

--- Runs standalone scripts (as the loader read them), recording their
-- failures as problems.
local function run_standalone(lake, scripts, dsl)
  for _, script in ipairs(scripts) do
    local ok, err = standalone.run(script, lake, dsl)
    if not ok then
      err = tostring(err)
      local file, line, msg = err:match("^(.-):(%d+): (.*)$")
      local name = script.name
      if file then
        lake.app:problem(file, tonumber(line), nil, msg)
      elseif err:sub(1, #name + 2) == name .. ": " then
        lake.app:problem(name, nil, nil, err:sub(#name + 3))
      else
        lake.app:problem(name, nil, nil, err)
      end
    end
  end
end

---------------------------------------------------------------------------
-- Builder

--- A builder for the lake; options are checked now (see the module comment).
-- @param opts table { scope = App, lake_name =, region =, account_id =, env = stage,
--   lake_domains = {..}, vpc = { cidr = "192.168.228.0/22", public_subnets = false } (or true for
--   those defaults; the older enable_vpc = true, vpc_cidr = C mean vpc = { cidr = C }: give one
--   spelling), sns_subscriptions = { {protocol=, endpoint=} },
--   pipelines_path =, standalone = { paths } (default every standalone/*.lua of app.root, in name
--   order; {} for none), tags = {K=V}, noncurrent_version_days = 30 (every bucket is versioned;
--   replaced versions expire after this many days), encryption = "s3" | "kms" (SSE-S3 and AWS-owned
--   keys, or one lake key for buckets, error topic, log groups and Glue), kms_key_arn = an existing
--   key's ARN (implies "kms"; no key is created), access_log_days = 365 (the buckets' server access
--   logs, in the lake's logs bucket, expire after this many days) }
-- @param with table { loader = { pipelines = function(root, path) -> lake.load.pipelines's,
--   standalone_files = function(root) -> lake.load.standalone_files's,
--   scripts = function(paths, root) -> lake.load.scripts's }, dsl = the table scripts see as `lake` }
-- @return builder with :build()
function M.new(opts, with)
  if type(opts) ~= "table" then
    error(("DatalakeBuilder expects a table of options, got %s"):format(type(opts)), 2)
  end
  local app = opts.scope
  if not app_mod.is_app(app) then
    error("DatalakeBuilder: scope must be the App (lake.App{...}), got " .. describe(app), 2)
  end
  local v = validate(app, opts, caller())
  with = with or {}
  return setmetatable({ app = app, v = v, loader = with.loader, dsl = with.dsl }, Builder)
end

--- Builds the lake's stacks, then its pipelines and standalone stacks.
-- @return the built lake (see the module comment for its fields)
function Builder:build()
  if getmetatable(self) ~= Builder then error("use DatalakeBuilder{...}:build(), with a colon", 2) end
  if self.lake then error("DatalakeBuilder:build() was already called", 2) end
  local app, v = self.app, self.v
  app.stage = app.stage or v.stage
  app.region = app.region or v.region
  app.account = app.account or v.account
  app.tags = util.merge(app.tags, v.tags)

  local env = { region = v.region, account = v.account, stage = v.stage }
  local lake = {
    app = app, name = v.lake_name, stage = v.stage, region = v.region, account = v.account, env = env,
    domains = util.copy(v.domains), tags = util.copy(v.tags), noncurrent_version_days = v.noncurrent_version_days,
    pipeline_logging = v.pipeline_logging, pipeline_tracing = v.pipeline_tracing,
    sns_topic = { name = names.topic(v.lake_name, v.stage) },
    pipelines = {}, pipelines_path = v.pipelines_path,
  }
  lake.sns_topic.arn = names.arn("sns", lake.sns_topic.name, env)
  lake.access_logs = { name = names.logs_bucket(v.lake_name, env) }
  lake.access_logs.arn = token.concat("arn:", token.partition, ":s3:::", lake.access_logs.name)
  lake.encryption = encryption.new(lake, v)
  lake.catalog_arn = names.arn("glue", "catalog", env)
  lake.assets_objects_arn = token.concat("arn:", token.partition, ":s3:::", app.assets_bucket, "/*")

  local set = setmetatable({ list = {}, by_key = {}, domain_set = {} }, BucketSet)
  for _, d in ipairs(v.domains) do
    set.domain_set[d] = true
    for _, layer in ipairs(names.LAYERS) do
      local name = names.bucket(d, layer, env)
      local b = {
        domain = d, layer = layer, name = name,
        arn = token.concat("arn:", token.partition, ":s3:::", name),
        uri = token.concat("s3://", name),
        database = names.database(d, layer, v.stage),
        crawler = layer == "raw" and names.crawler(d, layer, v.stage) or nil,
      }
      b.objects_arn = token.concat(b.arn, "/*")
      b.database_arn = names.arn("glue", "database/" .. b.database, env)
      b.tables_arn = names.arn("glue", "table/" .. b.database .. "/*", env)
      set.list[#set.list + 1] = b
      set.by_key[d .. "/" .. layer] = b
    end
  end
  lake.bucket_set = set
  if v.vpc then
    lake.vpc = { ssm = M.vpc_parameter_names(v.lake_name, v.stage), cidr = v.vpc.cidr,
      public_subnets = v.vpc.public_subnets, glue_connections = vpc.glue_connection_names(v.lake_name, v.stage) }
  end

  datalake.new(lake, self.loader)
  lake.storage_stack = storage.build(lake)
  lake.shared_stack = build_shared(lake, v)
  self.lake = lake
  app.datalake = lake

  if v.pipelines_path then pipeline.add_all(lake, self.loader.pipelines(app.root, v.pipelines_path)) end
  lake.encryption:add_pipelines(lake.pipelines)
  lake.standalone_listed = v.standalone ~= nil
  local scripts = v.standalone or self.loader.standalone_files(app.root)
  if #scripts > 0 then run_standalone(lake, self.loader.scripts(scripts, app.root), self.dsl) end
  return lake
end

return M
