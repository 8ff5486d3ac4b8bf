--- The athena step: an SQL query (steps/<module>/query.sql) run by Amazon
-- Athena in the pipeline's workgroup, waited for (.sync); its output is its
-- own input.
--
--   Summarize:
--     type: athena
--     properties: { module: summarize, next_step: Notify, timeout_minutes: 30 }
--
-- In query.sql, ${database}, ${origin_bucket}, ${target_bucket} and the
-- contract's keys are filled from the state when the step runs (through
-- States.Format): the SQL becomes the template of a States.Format call.
-- Any other ${name} is a problem of the SQL file, with its line.
--
-- The workgroup: one per pipeline that has athena steps,
-- <pipeline>-athena-<stage>, enforcing its configuration: results under
-- s3://<domain's service bucket>/athena-results/<pipeline>/, encrypted with
-- SSE-S3, or SSE-KMS under the lake key with encryption = "kms". A workgroup
-- of the pipeline's own (not one of the lake or of the domain) is what keeps
-- each pipeline's results under a prefix of its own while the workgroup
-- enforces its output location, and what the state machine's role can be
-- held to.
local checker = require("lake.pipeline.checker")
local json = require("host.json")
local names = require("lake.names")
local sm = require("lake.pipeline.state_machine")
local steps = require("lake.pipeline.steps")
local proc = require("host.proc")
local rpc = require("lake.aws.jsonrpc")
local token = require("lake.token")
local util = require("lake.util")

local M = { name = "athena", summary = "an SQL query of the module's query.sql, run by Athena until it ends" }

M.keys = { "module", "next_step", "timeout_minutes" }
M.defaults = { timeout_minutes = 30 }
M.QUERY_FILE = "query.sql"
--- The names query.sql may use besides the contract's keys.
M.VARIABLES = { "database", "origin_bucket", "target_bucket" }
--- Athena's longest query string (bytes).
M.MAX_QUERY = 262144
M.RESULTS_PREFIX = "athena-results/"
M.CATALOG = "AwsDataCatalog"

function M.label(step) return ("athena step, module %s"):format(step.module) end

---------------------------------------------------------------------------
-- config.yml and query.sql

function M.check(ck, props, step)
  steps.module_property(ck, props, step)
  steps.next_step_property(ck, props, step)
  step.timeout_minutes = M.defaults.timeout_minutes
  if props.timeout_minutes ~= nil and ck:int_range(props.timeout_minutes, 1, 2880,
    ck:line_of(props, "timeout_minutes", step.properties_line), step.key .. ".properties.timeout_minutes") then
    step.timeout_minutes = props.timeout_minutes
  end
end

--- The query of a step: query.sql as lake.load read it, made a template.
-- @return { not_code = true, rel =, sql =, template = steps.format_template's } | nil (problems recorded)
local function check_query(ck, m, _, opts, cfg)
  if not (m and m.exists) then
    local hint = opts.siblings and checker.suggest(opts.name, opts.siblings) or ""
    ck:add(opts.line, opts.key, ("no folder %s%s (an athena step's folder holds %s)"):format(opts.rel, hint,
      M.QUERY_FILE))
    return nil
  end
  local rel = m.rel .. "/" .. M.QUERY_FILE
  local f = m.files and m.files[M.QUERY_FILE]
  if not f then
    ck:add(opts.line, opts.key, ("%s is missing: an athena step runs the SQL there"):format(rel))
    return nil
  elseif f.error then
    ck:add(opts.line, opts.key, ("cannot read %s: %s"):format(rel, f.error))
    return nil
  end
  local sql = f.text
  if not sql:find("%S") then
    ck:add(1, nil, "is empty: an athena step runs the SQL there", rel)
    return nil
  end
  if #sql > M.MAX_QUERY then
    ck:add(nil, nil, ("is %d bytes, more than the %d Athena takes"):format(#sql, M.MAX_QUERY), rel)
    return nil
  end
  local known, set = util.copy(M.VARIABLES), {}
  for _, c in ipairs(cfg.contract or {}) do known[#known + 1] = c.key end
  for _, k in ipairs(known) do set[k] = true end
  local t = steps.format_template(sql, function(name)
    if set[name] then return "$." .. name end
    return nil, ("unknown variable ${%s}%s (known: %s, and the contract's keys)"):format(name,
      checker.suggest(name, known), table.concat(M.VARIABLES, ", "))
  end)
  for _, p in ipairs(t.problems) do ck:add(p.line, nil, p.msg, rel) end
  if #t.problems > 0 then return nil end
  return { not_code = true, dir = m.dir, rel = m.rel, sql = sql, template = t }
end

--- A folder with query.sql (no code: no src/ and no requirements.json).
M.module = { runs_as = "an Athena query", jars = false, check = check_query }

---------------------------------------------------------------------------
-- The stack

--- The pipeline's workgroup (every athena step claims it: one name).
function M.names(_, naming)
  return { { space = "workgroup", what = "Athena workgroup name", name = naming.named("-athena"), max = 128,
    key = "name" } }
end

--- The results location of a pipeline's queries.
function M.output_location(service, pipeline)
  return token.concat("s3://", service.name, "/", M.RESULTS_PREFIX, pipeline, "/")
end

--- The state machine's statements for its queries: the workgroup's query
-- actions, the catalog's reads on the pipeline's two databases and their
-- tables, reading the pipeline's two buckets, and writing the results
-- under the pipeline's prefix of the service bucket.
-- https://docs.aws.amazon.com/step-functions/latest/dg/athena-iam.html
function M.statements(p, workgroup_arn)
  local service = p.lake.bucket_set:bucket(p.cfg.domain, "service")
  local catalog, buckets, objects = { p.lake.catalog_arn }, {}, {}
  for _, b in ipairs(p.buckets) do
    catalog[#catalog + 1] = b.database_arn
    catalog[#catalog + 1] = b.tables_arn
    buckets[#buckets + 1] = b.arn
    objects[#objects + 1] = b.objects_arn
  end
  if service ~= p.origin and service ~= p.target then buckets[#buckets + 1] = service.arn end
  local results = token.concat(service.arn, "/", M.RESULTS_PREFIX, p.cfg.name, "/*")
  return {
    { "RunQueries", { "athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
      "athena:StopQueryExecution" }, { workgroup_arn } },
    { "ReadQueryCatalog", { "athena:GetDataCatalog" }, { names.arn("athena", "datacatalog/" .. M.CATALOG, p.env) } },
    { "ReadQueryTables", { "glue:GetDatabase", "glue:GetTable", "glue:GetPartitions" }, catalog },
    { "ListQueryBuckets", { "s3:ListBucket", "s3:GetBucketLocation" }, buckets },
    { "ReadQueryData", { "s3:GetObject" }, objects },
    { "WriteQueryResults", { "s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts" }, { results } },
  }
end

function M.resources(p, list)
  local cfg = p.cfg
  local wg = p.names.steps[list[1].name].workgroup
  local service = p.lake.bucket_set:bucket(cfg.domain, "service")
  local enc = p.lake.encryption
  local key = enc:key_arn(p.stack)
  p.stack:add("AWS::Athena::WorkGroup", "AthenaWorkGroup", {
    Name = wg, State = "ENABLED",
    Description = ("Queries of pipeline %s; results in its prefix of the %s domain's service bucket")
      :format(cfg.name, cfg.domain),
    -- its query history goes with the pipeline's stack
    RecursiveDeleteOption = true,
    WorkGroupConfiguration = {
      EnforceWorkGroupConfiguration = true, PublishCloudWatchMetricsEnabled = true,
      ResultConfiguration = { OutputLocation = M.output_location(service, cfg.name),
        EncryptionConfiguration = key and { EncryptionOption = "SSE_KMS", KmsKey = key }
          or { EncryptionOption = "SSE_S3" } },
    },
  }, { source = { file = cfg.file, line = list[1].line, key = list[1].key } })
  local wg_arn = names.arn("athena", "workgroup/" .. wg, p.env)
  for _, st in ipairs(M.statements(p, wg_arn)) do p:allow(st[1], st[2], st[3]) end
  -- the buckets' objects and the results, under the lake key
  for _, st in ipairs(enc:statements(p.stack, { "s3" })) do
    st.Sid = "UseLakeKeyForQueries"
    p.sm_statements[#p.sm_statements + 1] = st
  end
  for _, s in ipairs(list) do
    p.refs[s.name] = { workgroup = wg, database = p.target.database, query = p:module(s).template }
  end
end

--- Starts the query in the workgroup (its database the target's) and waits
-- for it; ResultPath null keeps the step's input as its output.
function M.state(p, step)
  local ref = p.refs[step.name]
  local params = steps.set_template({ WorkGroup = ref.workgroup,
    QueryExecutionContext = { Catalog = M.CATALOG, Database = ref.database } }, "QueryString", ref.query)
  return sm.set_next({
    Type = "Task", Comment = M.label(step),
    Resource = sm.service_arn("athena:startQueryExecution.sync", p.partition),
    Parameters = params, ResultPath = json.null,
    TimeoutSeconds = step.timeout_minutes * 60,
    Catch = sm.catch_all(),
  }, step)
end

function M.diagram(d, step, state)
  d:node("cylinder", M.label(step))
  d:flow(state)
end

---------------------------------------------------------------------------
-- `run`: the query goes to Athena (--endpoint), and the step waits for it
-- as .sync does, polling GetQueryExecution.

M.run = {
  resources = { "^arn:[%w-]+:states:::athena:startQueryExecution$",
    "^arn:[%w-]+:states:::athena:startQueryExecution%.sync$" },
  describe = "athena:startQueryExecution[.sync]",
}

local DONE = { SUCCEEDED = true, FAILED = true, CANCELLED = true }

local function aws_error(service, err)
  local code = type(err) == "table" and err.code or nil
  return { Error = code and (service .. "." .. code) or "States.TaskFailed",
    Cause = type(err) == "table" and (err.message or tostring(err)) or tostring(err) }
end
M.aws_error = aws_error

function M.run.invoke(rt, resource, input, state_name, info)
  local value = rt.value
  if value.kind(input) ~= "object" or type(input.QueryString) ~= "string" then
    return false, { Error = "States.Runtime", Cause = "athena:startQueryExecution needs Parameters.QueryString" }
  end
  local c = rt:client()
  local params = { QueryString = input.QueryString, WorkGroup = input.WorkGroup,
    QueryExecutionContext = input.QueryExecutionContext, ResultConfiguration = input.ResultConfiguration }
  local started, err = rpc.call(c, "athena", "StartQueryExecution", params)
  if not started then return false, aws_error("Athena", err) end
  local id = started.QueryExecutionId
  rt:log(state_name, { stdout = "query execution " .. tostring(id) .. "\n", stderr = "" })
  if not resource:match("%.sync$") then return true, value.object({ QueryExecutionId = id }) end
  local t0, wait = rt:now(), 0.1
  while true do
    local got, gerr = rpc.call(c, "athena", "GetQueryExecution", { QueryExecutionId = id })
    if not got then return false, aws_error("Athena", gerr) end
    local st = got.QueryExecution and got.QueryExecution.Status and got.QueryExecution.Status.State
    if DONE[st] then
      if st == "SUCCEEDED" then return true, got end
      return false, { Error = "States.TaskFailed", Cause = json.encode(got) }
    end
    if info.timeout and rt:now() - t0 > info.timeout then
      rpc.call(c, "athena", "StopQueryExecution", { QueryExecutionId = id })
      return false, { Error = "States.Timeout",
        Cause = ("The task did not end within its TimeoutSeconds (%d s)"):format(info.timeout) }
    end
    proc.sleep(wait)
    wait = math.min(wait * 2, 5)
  end
end

return M
