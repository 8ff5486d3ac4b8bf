--- EC2 through its own query protocol: the few calls lakehost's deploy makes
-- (closing a VPC's default security group). Requests are form-encoded POSTs
-- as in lake.aws.query, but lists flatten as "Name.N" (no ".member"), and
-- responses are bare <ActionResponse> documents whose lists are <item>s.
-- Each call returns plain Lua values or nil, err.
local client = require("lake.aws.client")
local query = require("lake.aws.query")
local xml = require("host.xml")

local M = {}

M.VERSION = "2016-11-15"

--- The form body of an action: Action, Version, then the parameters
-- flattened EC2's way ({ Filter = { { Name = "vpc-id", Value = { "v" } } } }
-- -> Filter.1.Name=vpc-id&Filter.1.Value.1=v), sorted.
function M.body(action, params)
  return query.body(action, M.VERSION, params, "ec2")
end

-- An element as plain values: text, an array (children all <item>) or a map.
local function value(el)
  local n = #el
  if n == 0 then return el.text or "" end
  local items = true
  for i = 1, n do
    if el[i].name ~= "item" then items = false break end
  end
  local out = {}
  for i = 1, n do
    if items then out[i] = value(el[i]) else out[el[i].name] = value(el[i]) end
  end
  return out
end

--- An array from a list element's value ("" when the list is empty).
function M.list(v)
  if type(v) ~= "table" then return {} end
  return v
end

--- Calls an action -> the response document as plain values | nil, err
function M.call(c, action, params)
  local resp, err = c:call {
    service = "ec2", action = action, method = "POST", path = "/",
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8" },
    body = M.body(action, params),
  }
  if not resp then return nil, err end
  local root, xerr = xml.decode(resp.body or "")
  if not root then
    return nil, client.error { code = "MalformedResponse", message = xerr, service = "ec2", action = action,
      status = resp.status }
  end
  local v = value(root)
  return type(v) == "table" and v or {}
end

-- Filters as EC2 takes them, from { name = value } (sorted by name).
local function filters(f)
  local names, out = {}, {}
  for k in pairs(f) do names[#names + 1] = k end
  table.sort(names)
  for i, k in ipairs(names) do out[i] = { Name = k, Value = { f[k] } } end
  return out
end

--- DescribeSecurityGroups -> array of { groupId=, groupName=, vpcId=, ... } | nil, err
-- @param f table filters { ["vpc-id"] = "vpc-1", ["group-name"] = "default" }
function M.describe_security_groups(c, f)
  local out, token = {}, nil
  repeat
    local r, err = M.call(c, "DescribeSecurityGroups", { Filter = filters(f), NextToken = token })
    if not r then return nil, err end
    for _, g in ipairs(M.list(r.securityGroupInfo)) do out[#out + 1] = g end
    token = (r.nextToken ~= "" and r.nextToken) or nil
  until not token
  return out
end

--- The rules of a security group -> array of { securityGroupRuleId=, isEgress = "true"|"false", ... } | nil, err
function M.security_group_rules(c, group_id)
  local out, token = {}, nil
  repeat
    local r, err = M.call(c, "DescribeSecurityGroupRules", { Filter = filters({ ["group-id"] = group_id }),
      NextToken = token })
    if not r then return nil, err end
    for _, rule in ipairs(M.list(r.securityGroupRuleSet)) do out[#out + 1] = rule end
    token = (r.nextToken ~= "" and r.nextToken) or nil
  until not token
  return out
end

--- Revokes rules of a group by their ids -> true | nil, err
-- @param egress boolean RevokeSecurityGroupEgress (else Ingress)
function M.revoke_rules(c, group_id, egress, rule_ids)
  local r, err = M.call(c, egress and "RevokeSecurityGroupEgress" or "RevokeSecurityGroupIngress",
    { GroupId = group_id, SecurityGroupRuleId = rule_ids })
  if not r then return nil, err end
  return true
end

return M
