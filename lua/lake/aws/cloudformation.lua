--- CloudFormation through the query protocol: the calls the deploy engine
-- makes, each returning plain Lua values or nil, err.
local query = require("lake.aws.query")

local M = {}
local VERSION = "2010-05-15"
local LISTS = { Tags = true }

local function call(c, action, params, opts)
  return query.call(c, "cloudformation", VERSION, action, params, opts)
end

local function tags_list(tags)
  local out = {}
  local keys = {}
  for k in pairs(tags or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do out[#out + 1] = { Key = k, Value = tostring(tags[k]) } end
  return out
end
M.tags_list = tags_list

--- DescribeStacks for one stack -> stack table | false (does not exist) | nil, err
function M.describe_stack(c, name, opts)
  local r, err = call(c, "DescribeStacks", { StackName = name }, opts)
  if not r then
    if err.code == "ValidationError" and tostring(err.message):find("does not exist", 1, true) then
      return false
    end
    return nil, err
  end
  local stacks = query.list(r.Stacks)
  local s = stacks[1]
  if not s then return false end
  s.Tags = query.list(s.Tags)
  s.Outputs = query.list(s.Outputs)
  s.Parameters = query.list(s.Parameters)
  return s
end

-- Every stack status but DELETE_COMPLETE: the stacks that exist.
local LIVE = {
  "CREATE_IN_PROGRESS", "CREATE_FAILED", "CREATE_COMPLETE", "ROLLBACK_IN_PROGRESS", "ROLLBACK_FAILED",
  "ROLLBACK_COMPLETE", "DELETE_IN_PROGRESS", "DELETE_FAILED", "UPDATE_IN_PROGRESS",
  "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE", "UPDATE_FAILED", "UPDATE_ROLLBACK_IN_PROGRESS",
  "UPDATE_ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE",
  "REVIEW_IN_PROGRESS", "IMPORT_IN_PROGRESS", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_IN_PROGRESS",
  "IMPORT_ROLLBACK_FAILED", "IMPORT_ROLLBACK_COMPLETE",
}

--- ListStacks of the stacks that exist (deleted ones left out), following
-- NextToken.
-- @param opts table|nil { max_pages = n (stop after n pages) }
-- @return array of { name=, id=, status= }, more (true when it stopped before the end) | nil, err
function M.list_stacks(c, opts)
  opts = opts or {}
  local out, token, pages = {}, nil, 0
  repeat
    local r, err = call(c, "ListStacks", { StackStatusFilter = LIVE, NextToken = token })
    if not r then return nil, err end
    pages = pages + 1
    for _, st in ipairs(query.list(r.StackSummaries)) do
      out[#out + 1] = { name = st.StackName, id = st.StackId, status = st.StackStatus }
    end
    token = r.NextToken ~= "" and r.NextToken or nil
  until not token or (opts.max_pages and pages >= opts.max_pages)
  return out, token ~= nil
end

--- GetTemplate (the deployed, original template body) -> string | nil, err
function M.get_template(c, name)
  local r, err = call(c, "GetTemplate", { StackName = name, TemplateStage = "Original" })
  if not r then return nil, err end
  return r.TemplateBody
end

--- CreateChangeSet -> { id=, stack_id= } | nil, err
-- @param p table { stack=, name=, type = "CREATE"|"UPDATE", body= | url=, tags = {K=V},
--   capabilities = {...} (default: all three; {} = none), description=, parameters = {K=V},
--   deployment_mode = "EXPRESS"|nil }
function M.create_change_set(c, p)
  local params = {
    StackName = p.stack, ChangeSetName = p.name, ChangeSetType = p.type,
    Capabilities = p.capabilities or { "CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND" },
    Tags = tags_list(p.tags), Description = p.description,
  }
  if p.url then params.TemplateURL = p.url else params.TemplateBody = p.body end
  -- express mode: the operation completes once configuration is applied
  -- (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-express-mode.html)
  if p.deployment_mode then params.DeploymentConfig = { Mode = p.deployment_mode } end
  if p.parameters and next(p.parameters) then
    local ps, keys = {}, {}
    for k in pairs(p.parameters) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do ps[#ps + 1] = { ParameterKey = k, ParameterValue = p.parameters[k] } end
    params.Parameters = ps
  end
  if #params.Tags == 0 then params.Tags = nil end
  if #params.Capabilities == 0 then params.Capabilities = nil end
  local r, err = call(c, "CreateChangeSet", params)
  if not r then return nil, err end
  return { id = r.Id, stack_id = r.StackId }
end

--- DescribeChangeSet (one page of its changes; next_token for the next).
-- @return { status=, reason=, execution_status=, next_token=, changes = { { action=, logical_id=, type=,
--   replacement = "True"|"False"|"Conditional"|nil, scope = {...}, details = { {name=, attribute=,
--   requires = "Never"|"Conditionally"|"Always"|nil} } } } } | nil, err
function M.describe_change_set(c, stack, name, opts, next_token)
  local r, err = call(c, "DescribeChangeSet", { StackName = stack, ChangeSetName = name, NextToken = next_token }, opts)
  if not r then return nil, err end
  local changes = {}
  for _, ch in ipairs(query.list(r.Changes)) do
    local rc = type(ch) == "table" and ch.ResourceChange
    if type(rc) == "table" then
      local details = {}
      for _, d in ipairs(query.list(rc.Details)) do
        local t = type(d) == "table" and type(d.Target) == "table" and d.Target or {}
        details[#details + 1] = { name = t.Name ~= "" and t.Name or nil, attribute = t.Attribute,
          requires = t.RequiresRecreation }
      end
      changes[#changes + 1] = { action = rc.Action, logical_id = rc.LogicalResourceId, type = rc.ResourceType,
        replacement = rc.Replacement ~= "" and rc.Replacement or nil, scope = query.list(rc.Scope), details = details }
    end
  end
  return { status = r.Status, reason = r.StatusReason, execution_status = r.ExecutionStatus, changes = changes,
    next_token = r.NextToken ~= "" and r.NextToken or nil }
end

function M.execute_change_set(c, stack, name)
  local r, err = call(c, "ExecuteChangeSet", { StackName = stack, ChangeSetName = name })
  if not r then return nil, err end
  return true
end

function M.delete_change_set(c, stack, name)
  local r, err = call(c, "DeleteChangeSet", { StackName = stack, ChangeSetName = name })
  if not r then return nil, err end
  return true
end

function M.delete_stack(c, stack)
  local r, err = call(c, "DeleteStack", { StackName = stack })
  if not r then return nil, err end
  return true
end

function M.continue_update_rollback(c, stack)
  local r, err = call(c, "ContinueUpdateRollback", { StackName = stack })
  if not r then return nil, err end
  return true
end

--- DescribeStackEvents, newest first; stops at the first page (the engine
-- asks again while it waits and keeps only events it has not seen).
-- @return array of { id=, time=, logical_id=, type=, status=, reason= } | nil, err
function M.stack_events(c, stack, opts)
  local r, err = call(c, "DescribeStackEvents", { StackName = stack }, opts)
  if not r then return nil, err end
  local out = {}
  for _, e in ipairs(query.list(r.StackEvents)) do
    out[#out + 1] = { id = e.EventId, time = e.Timestamp, logical_id = e.LogicalResourceId,
      type = e.ResourceType, status = e.ResourceStatus, reason = e.ResourceStatusReason,
      physical_id = e.PhysicalResourceId }
  end
  return out
end

--- ListStackResources (first page is enough for status) -> array | nil, err
function M.stack_resources(c, stack)
  local r, err = call(c, "ListStackResources", { StackName = stack })
  if not r then return nil, err end
  local out = {}
  for _, s in ipairs(query.list(r.StackResourceSummaries)) do
    out[#out + 1] = { logical_id = s.LogicalResourceId, physical_id = s.PhysicalResourceId,
      type = s.ResourceType, status = s.ResourceStatus, reason = s.ResourceStatusReason }
  end
  return out
end

M.LISTS = LISTS
return M
