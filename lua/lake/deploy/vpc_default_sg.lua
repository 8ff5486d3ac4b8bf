--- After a stack deploys: the default security group of every VPC its
-- template marks (Metadata `lakehost.close_default_security_group`, set by
-- lake.stacks.vpc) loses all its ingress and egress rules.
--
-- Every VPC comes with a default security group that admits its own
-- members and lets everything out; CloudFormation can neither delete it
-- nor remove its rules. Nothing of the lake uses it, so an ENI someone
-- puts in it by mistake should reach nothing: lakehost closes it itself,
-- through EC2's API, after each deploy of the stack (a stack found
-- unchanged too: someone may have opened the group again). Converges: a
-- closed group costs two Describe calls and nothing else.
local ec2 = require("lake.aws.ec2")
local query = require("lake.aws.query")
local vpc_stack = require("lake.stacks.vpc")
local json = require("host.json")

local M = {}

--- The logical ids of the VPCs a template marks, sorted.
-- @param text string the template's JSON
function M.marked(text)
  if type(text) ~= "string" or not text:find(vpc_stack.CLOSE_DEFAULT_SG, 1, true) then return {} end
  local ok, tpl = pcall(json.decode, text)
  if not ok or type(tpl) ~= "table" or type(tpl.Resources) ~= "table" then return {} end
  local ids = {}
  for id, r in pairs(tpl.Resources) do
    local mark = type(r) == "table" and type(r.Metadata) == "table" and r.Metadata.lakehost
    if r.Type == "AWS::EC2::VPC" and type(mark) == "table" and mark[vpc_stack.CLOSE_DEFAULT_SG] == true then
      ids[#ids + 1] = id
    end
  end
  table.sort(ids)
  return ids
end

-- The physical id of a stack's resource -> id | nil, err. (ListStackResources,
-- page after page: DescribeStackResource would be one call, but moto 5.2.1
-- fails it with HTTP 500 on any stack holding a type it does not model.)
local function physical_id(c, stack, logical_id)
  local token
  repeat
    local r, err = query.call(c, "cloudformation", "2010-05-15", "ListStackResources",
      { StackName = stack, NextToken = token })
    if not r then return nil, err end
    for _, x in ipairs(query.list(r.StackResourceSummaries)) do
      if type(x) == "table" and x.LogicalResourceId == logical_id then
        if type(x.PhysicalResourceId) ~= "string" or x.PhysicalResourceId == "" then
          return nil, ("%s has no physical id yet"):format(logical_id)
        end
        return x.PhysicalResourceId
      end
    end
    token = (r.NextToken ~= "" and r.NextToken) or nil
  until not token
  return nil, ("%s is not a resource of %s"):format(logical_id, stack)
end

--- Closes the default security group of one VPC.
-- @return { group = id, ingress = n revoked, egress = n revoked } | nil, err
function M.close(c, vpc_id)
  local groups, err = ec2.describe_security_groups(c, { ["vpc-id"] = vpc_id, ["group-name"] = "default" })
  if not groups then return nil, err end
  local group = groups[1] and groups[1].groupId
  if type(group) ~= "string" then return nil, ("VPC %s has no default security group"):format(vpc_id) end
  local rules, rerr = ec2.security_group_rules(c, group)
  if not rules then return nil, rerr end
  local ingress, egress = {}, {}
  for _, r in ipairs(rules) do
    local list = r.isEgress == "true" and egress or ingress
    list[#list + 1] = r.securityGroupRuleId
  end
  table.sort(ingress)
  table.sort(egress)
  for _, set in ipairs({ { ingress, false }, { egress, true } }) do
    if #set[1] > 0 then
      local ok, verr = ec2.revoke_rules(c, group, set[2], set[1])
      if not ok then return nil, verr end
    end
  end
  return { group = group, ingress = #ingress, egress = #egress }
end

--- Runs after a stack deployed (lake.deploy.deploy_stack).
-- @param ctx table the deploy context (client, out)
-- @param entry table { name=, text = the template }
-- @return true | nil, err
function M.after_deploy(ctx, entry)
  for _, id in ipairs(M.marked(entry.text)) do
    local vpc_id, err = physical_id(ctx.client, entry.name, id)
    if not vpc_id then return nil, ("closing the default security group of %s: %s"):format(id, tostring(err)) end
    local done, cerr = M.close(ctx.client, vpc_id)
    if not done then
      return nil, ("closing the default security group of %s (%s): %s"):format(id, vpc_id, tostring(cerr))
    end
    if done.ingress + done.egress > 0 then
      ctx.out(("%s: closed the default security group %s of %s (%d ingress, %d egress rule%s revoked)")
        :format(entry.name, done.group, vpc_id, done.ingress, done.egress,
          done.ingress + done.egress == 1 and "" or "s"))
    end
  end
  return true
end

return M
