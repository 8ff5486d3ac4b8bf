--- The map step: runs a list of steps of its own once per item, the items
-- taken from a list in the state (`items_path`) or from the objects under
-- a prefix of the pipeline's origin bucket (`items_from: origin_prefix`),
-- and goes on with the iterations' outputs in an array in item order.
--
--   ProcessFiles:
--     type: map
--     properties:
--       items_path: $.files            # each item is the input of one iteration
--       max_concurrency: 10            # 0 (the default): as many as Step Functions allows
--       steps:
--         ProcessOne:
--           type: lambda
--           properties: { module: process_one }
--       result_path: results           # the default: the array goes to $.results
--       next_step: AddToDatabase
--
--   ProcessBacklog:
--     type: map
--     properties:
--       items_from: origin_prefix      # every object under prefix in the origin bucket
--       prefix: incoming/
--       tolerated_failure_percentage: 5
--       steps: { ... }
--
-- Step Functions runs a Map state inline (in the execution, up to 40
-- iterations at a time) or distributed (each iteration a child execution,
-- up to 10,000 at a time). ToleratedFailurePercentage and ItemReader exist
-- only in distributed mode, so a map step is DISTRIBUTED when it reads the
-- origin bucket or tolerates failures, INLINE otherwise. An iteration over
-- the origin bucket gets { origin_bucket, origin_key, size, target_bucket,
-- database }: what a pipeline run over one object has.
local client = require("lake.aws.client")
local config = require("lake.pipeline.config")
local credentials = require("lake.aws.credentials")
local jsonpath = require("lake.states.jsonpath")
local names = require("lake.names")
local parallel = require("lake.pipeline.steps.parallel")
local s3 = require("lake.aws.s3")
local sm = require("lake.pipeline.state_machine")
local steps = require("lake.pipeline.steps")

local M = { name = "map", summary = "runs a list of steps once per item of a list or per object under a prefix" }

M.keys = { "steps", "items_path", "items_from", "prefix", "max_concurrency", "tolerated_failure_percentage",
  "result_path", "next_step" }
M.defaults = { result_path = "results" }
M.ITEMS_FROM = { "origin_prefix" }
M.MAX_CONCURRENCY = 1000

function M.label(step)
  if step.items_from then return ("map step, each object under %s"):format(step.prefix or "?") end
  return ("map step, each item of %s"):format(step.items_path or "?")
end

---------------------------------------------------------------------------
-- config.yml

function M.check(ck, props, step)
  local key, line = step.key .. ".properties", step.properties_line
  steps.next_step_property(ck, props, step)
  parallel.result_path_property(ck, props, step, M.defaults.result_path)
  local function l(k) return ck:line_of(props, k, line) end

  -- where the items come from: one of items_path, items_from
  if props.items_path ~= nil and props.items_from ~= nil then
    ck:add(l("items_from"), key .. ".items_from", "give items_path or items_from, not both")
  elseif props.items_path == nil and props.items_from == nil then
    ck:add(line, key, "needs items_path (a list in the state, such as $.files) or items_from: origin_prefix")
  end
  local ip = props.items_path
  if ip ~= nil and ck:expect(ip, "string", l("items_path"), key .. ".items_path") then
    local p, err = jsonpath.parse(ip)
    if not p then
      ck:add(l("items_path"), key .. ".items_path", ("'%s' is not a JSONPath: %s"):format(ip, err))
    elseif p.context or not p.reference then
      ck:add(l("items_path"), key .. ".items_path", ("'%s' must name a list in the state with .key and [index] "
        .. "steps only, such as $.files or $.batch.items"):format(ip))
    else
      step.items_path = ip
    end
  end
  if props.items_from ~= nil and ck:enum(props.items_from, M.ITEMS_FROM, l("items_from"), key .. ".items_from") then
    step.items_from = props.items_from
  end
  if props.prefix ~= nil then
    if props.items_from == nil then
      ck:add(l("prefix"), key .. ".prefix", "prefix is for items_from: origin_prefix")
    elseif ck:expect(props.prefix, "string", l("prefix"), key .. ".prefix") then
      step.prefix = props.prefix
    end
  elseif step.items_from then
    ck:add(l("items_from"), key .. ".prefix", "is required with items_from: origin_prefix (the objects' key "
      .. "prefix in the origin bucket, such as incoming/)")
  end

  if props.max_concurrency ~= nil and ck:int_range(props.max_concurrency, 0, M.MAX_CONCURRENCY,
    l("max_concurrency"), key .. ".max_concurrency") then
    step.max_concurrency = props.max_concurrency
  end
  local tf = props.tolerated_failure_percentage
  if tf ~= nil then
    local kind = ck:kind(tf)
    if kind ~= "integer" and kind ~= "number" then
      ck:add(l("tolerated_failure_percentage"), key .. ".tolerated_failure_percentage",
        ("expected a number from 0 to 100, got %s"):format(ck:kind(tf) == "string" and ("'" .. tf .. "'") or kind))
    elseif tf < 0 or tf > 100 then
      ck:add(l("tolerated_failure_percentage"), key .. ".tolerated_failure_percentage",
        ("expected a number from 0 to 100, got %s"):format(tostring(tf)))
    else
      step.tolerated_failure_percentage = tf
    end
  end
  step.distributed = step.items_from ~= nil or tf ~= nil

  step.steps = {}
  local list = ck:required(props, "steps", key, line)
  if list ~= nil then step.steps = config.step_list(ck, list, l("steps"), key .. ".steps") or {} end
end

--- Its steps are a list of steps (see lake.pipeline.steps.step_lists).
function M.step_lists(step)
  if not step.steps or #step.steps == 0 then return {} end
  return { { steps = step.steps, what = "the steps" } }
end

---------------------------------------------------------------------------
-- The stack: a distributed map starts a child execution of the pipeline's
-- own state machine per item, and one over the origin bucket lists it.
-- https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html

function M.resources(p, list)
  local distributed, reads = false, false
  for _, s in ipairs(list) do
    distributed = distributed or s.distributed
    reads = reads or s.items_from == "origin_prefix"
    p.refs[s.name] = { origin_bucket = p.origin.name, target_bucket = p.target.name, database = p.target.database }
  end
  if distributed then
    p:allow("StartMapRuns", { "states:StartExecution" }, { p.state_machine_arn })
    -- the child executions are named <state machine>/<map run>:<id>
    p:allow("WatchMapRuns", { "states:DescribeExecution", "states:StopExecution" },
      { names.arn("states", "execution:" .. p.names.state_machine .. "/*", p.env) })
  end
  if reads then p:allow("ListOriginPrefix", { "s3:ListBucket" }, { p.origin.arn }) end
end

function M.state(p, step, cfg)
  local machine = sm.machine(p, step.steps, cfg)
  machine.ProcessorConfig = step.distributed and { Mode = "DISTRIBUTED", ExecutionType = "STANDARD" }
    or { Mode = "INLINE" }
  local state = { Type = "Map", Comment = M.label(step), ItemProcessor = machine, ResultPath = step.result_path,
    MaxConcurrency = step.max_concurrency, ToleratedFailurePercentage = step.tolerated_failure_percentage,
    Catch = sm.catch_all() }
  if step.items_from == "origin_prefix" then
    local ref = p.refs[step.name] or {}
    state.ItemReader = { Resource = sm.service_arn("s3:listObjectsV2", p.partition),
      Parameters = { Bucket = ref.origin_bucket, Prefix = step.prefix } }
    state.ItemSelector = { origin_bucket = ref.origin_bucket, ["origin_key.$"] = "$$.Map.Item.Value.Key",
      ["size.$"] = "$$.Map.Item.Value.Size", target_bucket = ref.target_bucket, database = ref.database }
  else
    state.ItemsPath = step.items_path
  end
  return sm.set_next(state, step)
end

function M.diagram(d, step, state)
  d:holder("trapezoid", M.label(step), { { steps = step.steps, machine = state.ItemProcessor,
    title = ("%s: each item"):format(step.name) } }, state,
    state.ItemProcessor.ProcessorConfig.Mode == "DISTRIBUTED" and "every item (distributed)" or "every item")
end

---------------------------------------------------------------------------
-- `run`: the interpreter runs Map states; the items of their ItemReader
-- come from here (lake.run asks each type's `run_items`): ListObjectsV2 of
-- the bucket and prefix against --endpoint (AWS_ENDPOINT_URL), else AWS.

M.run_items = {
  resources = { "^arn:[%w-]+:states:::s3:listObjectsV2$" },
  describe = "s3:listObjectsV2 item readers",
}

-- A signed S3 client for the runtime's region and endpoint, made once.
local function s3_client(rt)
  if rt.s3_client then return rt.s3_client end
  local function getenv(k)
    if k == "AWS_ENDPOINT_URL" and rt.endpoint then return rt.endpoint end
    return os.getenv(k)
  end
  local creds, err = credentials.resolve { getenv = getenv, region = rt.env.region, profile = rt.profile }
  if not creds then return nil, err end
  rt.s3_client = client.new { region = rt.env.region, credentials = function() return creds end, getenv = getenv }
  return rt.s3_client
end

--- The objects under Parameters.Prefix of Parameters.Bucket, as the
-- distributed map's S3 reader gives them: { Key, Size, Etag, LastModified,
-- StorageClass } in key order (LastModified and StorageClass as listed).
function M.run_items.read(rt, _, params, state_name)
  local value = rt.value
  local bucket, prefix = params.Bucket, params.Prefix
  if type(bucket) ~= "string" then
    return false, { Error = "States.Runtime", Cause = "the ItemReader of " .. state_name .. " names no Bucket" }
  end
  local c, cerr = s3_client(rt)
  if not c then return false, { Error = "States.ItemReaderFailed", Cause = "no AWS credentials: " .. tostring(cerr) } end
  -- The whole bucket is listed and the prefix applied here: moto refuses
  -- the signature of a ListObjectsV2 whose prefix holds a '/' (in%2F), and
  -- a local run lists small buckets.
  prefix = type(prefix) == "string" and prefix or ""
  local list, err = s3.list_objects(c, bucket, nil)
  if not list then
    return false, { Error = "States.ItemReaderFailed",
      Cause = ("ListObjectsV2 of s3://%s/%s: %s"):format(bucket, prefix, tostring(err)) }
  end
  local items = value.array()
  for _, o in ipairs(list) do
    if o.key:sub(1, #prefix) == prefix then
      items[#items + 1] = value.object({ Key = o.key, Size = o.size, Etag = o.etag })
    end
  end
  return true, items
end

return M
