--- The crawler step: starts the Glue crawler of the pipeline's origin or
-- target bucket and waits until it is idle again; its output is its input
-- plus `crawler`, the crawler as GetCrawler last described it.
--
--   Catalog:
--     type: crawler
--     properties: { bucket: target, poll_seconds: 30, next_step: Announce }
--
-- The lake has crawlers on its raw buckets only (lake.stacks.catalog): a
-- step on a raw bucket starts that one. For any other layer the step
-- declares a crawler of its own on that bucket, in the pipeline's stack
-- (<pipeline>-<origin|target>-crawler-<stage>, no schedule), with a role
-- made of the lake crawlers' statements and the lake's security
-- configuration.
--
-- Step Functions has no .sync for crawlers, so one step is a small loop of
-- states (its type's `state` answers them after the step's own):
--   <Step>         glue:startCrawler (aws-sdk); a crawl already running
--                  (Glue.CrawlerRunningException) is waited for too
--   <Step>.Wait    poll_seconds
--   <Step>.Poll    glue:getCrawler into $.crawler
--   <Step>.Ready   not READY -> Wait; READY with LastCrawl FAILED or
--                  CANCELLED -> Failed; READY -> next_step (or Done)
--   <Step>.Failed  the error into $.error, then the pipeline's catch
--   <Step>.Done    (a last step only) ends the execution
local catalog = require("lake.stacks.catalog")
local json = require("host.json")
local names = require("lake.names")
local rpc = require("lake.aws.jsonrpc")
local sm = require("lake.pipeline.state_machine")
local steps = require("lake.pipeline.steps")
local token = require("lake.token")
local util = require("lake.util")

local M = { name = "crawler", summary = "starts the crawler of the origin or target bucket and waits for it" }

M.keys = { "bucket", "poll_seconds", "next_step" }
M.defaults = { bucket = "target", poll_seconds = 30 }
M.BUCKETS = { "origin", "target" }
--- The pipeline role of its own crawlers (<pipeline>-crawler-<region>-<stage>).
M.roles = { "crawler" }
--- The states a step adds after its own, by suffix (the longest bounds the step's name).
M.SUFFIXES = { ".Wait", ".Poll", ".Ready", ".Failed", ".Done" }
M.MAX_STATE_NAME = 80

function M.label(step)
  return ("crawler step, %s bucket, polls every %d s"):format(step.bucket or "?", step.poll_seconds or 0)
end

---------------------------------------------------------------------------
-- config.yml

function M.check(ck, props, step)
  steps.next_step_property(ck, props, step)
  local pkey, pl = step.key .. ".properties", step.properties_line
  step.bucket, step.poll_seconds = M.defaults.bucket, M.defaults.poll_seconds
  if props.bucket ~= nil then
    step.bucket = ck:enum(props.bucket, M.BUCKETS, ck:line_of(props, "bucket", pl), pkey .. ".bucket")
      and props.bucket or nil
  end
  if props.poll_seconds ~= nil and ck:int_range(props.poll_seconds, 1, 3600, ck:line_of(props, "poll_seconds", pl),
    pkey .. ".poll_seconds") then
    step.poll_seconds = props.poll_seconds
  end
  local longest = 0
  for _, s in ipairs(M.SUFFIXES) do longest = math.max(longest, #s) end
  if #step.name + longest > M.MAX_STATE_NAME then
    ck:add(step.line, step.key, ("a crawler step's states are named %s.Wait and so on, at most %d characters: "
      .. "shorten the step's name to %d"):format(step.name, M.MAX_STATE_NAME, M.MAX_STATE_NAME - longest))
  end
end

---------------------------------------------------------------------------
-- The stack

--- The name of the crawler a pipeline declares for a bucket of its own (claimed by every crawler step,
-- used only for a bucket the lake does not crawl).
function M.names(step, naming)
  if not step.bucket then return {} end
  return { { space = "crawler", what = "Glue crawler name", name = naming.named("-" .. step.bucket .. "-crawler"),
    max = 255, key = step.key .. ".properties.bucket", line = step.line } }
end

--- The statements of a pipeline's own crawler role: catalog.lua's for each bucket it crawls.
local function role_statements(p, crawled)
  local out = {}
  for _, c in ipairs(crawled) do
    local b = { arn = c.bucket.arn, database_arn = c.bucket.database_arn, tables_arn = c.bucket.tables_arn,
      crawler = c.name }
    for _, st in ipairs(catalog.crawler_statements(p.lake, b)) do
      st.Sid = st.Sid .. util.pascal(c.which)
      out[#out + 1] = st
    end
  end
  return out
end

function M.resources(p, list)
  local cfg, env = p.cfg, p.env
  local by_which, crawled, arns = {}, {}, {}
  for _, s in ipairs(list) do
    local b = s.bucket == "origin" and p.origin or p.target
    local name = b.crawler
    if not name then
      name = p.names.steps[s.name].crawler
      if not by_which[s.bucket] then
        by_which[s.bucket] = true
        crawled[#crawled + 1] = { which = s.bucket, bucket = b, name = name }
      end
    end
    p.refs[s.name] = { crawler = name }
    if not arns[name] then
      arns[name] = true
      arns[#arns + 1] = names.arn("glue", "crawler/" .. name, env)
    end
  end
  local list_arns = {}
  for i, a in ipairs(arns) do list_arns[i] = a end
  p:allow("RunCrawlers", { "glue:StartCrawler", "glue:GetCrawler" }, list_arns)
  if #crawled == 0 then return end
  local role = p:role("CrawlerRole", p.names.role.crawler, "glue.amazonaws.com", role_statements(p, crawled), {
    policy = "crawl", description = ("Crawlers of pipeline %s: their buckets and databases"):format(cfg.name) })
  p.lake.encryption:grant(role, { "s3", "crawler_logs" })
  for _, c in ipairs(crawled) do
    local b = c.bucket
    local crawler = p.stack:add("glue_crawler", util.pascal(c.which) .. "Crawler", {
      Name = c.name, Role = role:arn(), DatabaseName = b.database,
      Description = token.concat("Catalogs new folders of ", b.uri, " into ", b.database, " when pipeline ",
        cfg.name, " asks"),
      Targets = { S3Targets = { { Path = token.concat(b.uri, "/") } } },
      SchemaChangePolicy = { UpdateBehavior = "LOG", DeleteBehavior = "LOG" },
      RecrawlPolicy = { RecrawlBehavior = "CRAWL_NEW_FOLDERS_ONLY" },
    })
    p.lake.encryption:secure_glue(crawler)
  end
end

local function arr(t) return setmetatable(t, json.array_mt) end

--- The step's own state (StartCrawler), and the loop that waits for it.
function M.state(p, step)
  local name = p.refs[step.name].crawler
  local n = step.name
  local after = step.next_step or (n .. ".Done")
  local function sdk(api) return sm.service_arn("aws-sdk:glue:" .. api, p.partition) end
  local var = "$.crawler.Crawler"
  local start = {
    Type = "Task", Comment = M.label(step), Resource = sdk("startCrawler"),
    Parameters = { Name = name }, ResultPath = json.null, Next = n .. ".Wait",
    Catch = arr { { ErrorEquals = arr { "Glue.CrawlerRunningException" }, ResultPath = json.null, Next = n .. ".Wait" },
      sm.catch_all()[1] },
  }
  local more = {
    { name = n .. ".Wait", state = { Type = "Wait", Comment = "crawler step " .. n .. ": between polls",
      Seconds = step.poll_seconds, Next = n .. ".Poll" } },
    { name = n .. ".Poll", state = { Type = "Task", Comment = "crawler step " .. n .. ": its state",
      Resource = sdk("getCrawler"), Parameters = { Name = name }, ResultPath = "$.crawler", Next = n .. ".Ready",
      Catch = sm.catch_all() } },
    -- rules in order: the first that matches wins, so LastCrawl.Status is
    -- compared only once it is known to be there
    { name = n .. ".Ready", state = { Type = "Choice", Comment = "crawler step " .. n .. ": idle again?",
      Choices = arr {
        { Not = { Variable = var .. ".State", StringEquals = "READY" }, Next = n .. ".Wait" },
        { Not = { Variable = var .. ".LastCrawl.Status", IsPresent = true }, Next = after },
        { Or = arr { { Variable = var .. ".LastCrawl.Status", StringEquals = "FAILED" },
          { Variable = var .. ".LastCrawl.Status", StringEquals = "CANCELLED" } }, Next = n .. ".Failed" },
      }, Default = after } },
    { name = n .. ".Failed", state = { Type = "Pass", Comment = "crawler step " .. n .. ": the crawl failed",
      Parameters = { Error = "Glue.CrawlFailed", ["Cause.$"] = ("States.JsonToString(%s.LastCrawl)"):format(var) },
      ResultPath = "$.error", Next = sm.CATCH_STATE } },
  }
  if not step.next_step then
    more[#more + 1] = { name = n .. ".Done", state = { Type = "Succeed", Comment = "crawler step " .. n .. ": done" } }
  end
  return start, more
end

function M.diagram(d, step)
  d:node("parallelogram_alt", M.label(step))
  if step.next_step then d:edge(step.next_step) else d:line("%s --> done((end))", d.id) end
  d:edge(sm.CATCH_STATE, "error or failed crawl", true)
end

---------------------------------------------------------------------------
-- `run`: StartCrawler and GetCrawler go to Glue (--endpoint); the Wait and
-- Choice between them are the interpreter's.

M.run = {
  resources = { "^arn:[%w-]+:states:::aws%-sdk:glue:startCrawler$", "^arn:[%w-]+:states:::aws%-sdk:glue:getCrawler$" },
  describe = "aws-sdk:glue:startCrawler, aws-sdk:glue:getCrawler",
}

function M.run.invoke(rt, resource, input, state_name)
  local value = rt.value
  if value.kind(input) ~= "object" or type(input.Name) ~= "string" then
    return false, { Error = "States.Runtime", Cause = "glue crawler calls need Parameters.Name" }
  end
  local action = resource:match("startCrawler$") and "StartCrawler" or "GetCrawler"
  local r, err = rpc.call(rt:client(), "glue", action, { Name = input.Name })
  if not r then
    local code = type(err) == "table" and err.code or nil
    return false, { Error = code and ("Glue." .. code) or "States.TaskFailed", Cause = tostring(err) }
  end
  if action == "GetCrawler" then
    local c = r.Crawler or {}
    rt:log(state_name, { stdout = ("crawler %s: %s\n"):format(input.Name, tostring(c.State)), stderr = "" })
  end
  return true, value.object(r)
end

return M
