--- What AWS's rule packs (cdk-nag) need to read a lakehost template the way
-- an auditor would: the findings of a role's wildcards, worked out from its
-- statements as cdk-nag works them out, so that a suppression names exactly
-- the resources it covers and nothing that is added later.
--
-- cdk-nag's AwsSolutions-IAM5 reports each Allow statement's resource that
-- holds a "*" as "Resource::<text>", the text being the resource with
-- Fn::Sub's ${X} written <X>, Ref X as <X>, Fn::GetAtt [A, B] as <A.B> and
-- Fn::Join's parts joined (its utils/flatten-cfn-reference).
--
-- Model objects only (no I/O).
local json = require("host.json")
local token = require("lake.token")

local M = {}

M.WILDCARD_REASON = "Every wildcard of this role ends inside what is its own: object keys under its "
  .. "pipeline's or crawler's buckets, tables of its own Glue databases, log streams of its own log groups "
  .. "(or of the account's Glue job groups, whose streams Glue names by run id), network interfaces held "
  .. "to the lake's VPC by an ec2:Vpc condition; spec/lake/iam_reach_spec.lua resolves each one and checks "
  .. "that none reaches another pipeline's or domain's resource."

M.INLINE_REASON = "Each lakehost role has one inline policy naming only its own resources, created and "
  .. "deleted with the role; a managed policy would outlive it and could be attached to other principals."
M.CONCURRENCY_REASON = "Reserved concurrency would take a share of the account's Lambda pool for every "
  .. "pipeline whether it runs or not; the pipeline's pace is set by its events and its state machine."
M.NO_VPC_REASON = "The function runs outside a VPC because the lake has none (or the script asked for "
  .. "vpc = false): it calls AWS service APIs only, over TLS with IAM credentials; vpc = { ... } in "
  .. "DatalakeBuilder puts every lake function in the lake's private subnets."
M.REPLICATION_REASON = "Replication to a second region is a disaster-recovery choice with a bucket and a cost "
  .. "of its own, left to the lake's owner; the bucket is versioned, so an overwritten or deleted object "
  .. "can be restored."

-- The packs whose rules share their names after the pack's prefix.
M.RULE_PACKS = { "HIPAA.Security", "NIST.800.53.R5" }

--- Suppresses a rule of the HIPAA and NIST 800-53 R5 packs on a resource.
-- @param rule string the rule's name after the pack ("LambdaDLQ")
function M.suppress_packs(resource, rule, reason)
  for _, pack in ipairs(M.RULE_PACKS) do resource:suppress(pack .. "-" .. rule, reason) end
  return resource
end

--- A template value as cdk-nag's findings write it.
function M.flatten(v)
  if type(v) == "string" then return (v:gsub("%${", "<"):gsub("}", ">")) end
  if type(v) ~= "table" then return tostring(v) end
  if v["Fn::Join"] then
    local parts = {}
    for i, p in ipairs(v["Fn::Join"][2]) do parts[i] = M.flatten(p) end
    return table.concat(parts, v["Fn::Join"][1])
  elseif v["Fn::Sub"] then
    local s = v["Fn::Sub"]
    return M.flatten(type(s) == "table" and s[1] or s)
  elseif v["Fn::GetAtt"] then
    return "<" .. M.flatten(v["Fn::GetAtt"][1]) .. "." .. M.flatten(v["Fn::GetAtt"][2]) .. ">"
  elseif v["Fn::ImportValue"] then
    return M.flatten(v["Fn::ImportValue"])
  elseif v.Ref then
    return "<" .. M.flatten(v.Ref) .. ">"
  end
  return json.encode(v)
end

-- A statement's Action, Resource or Statement as a list: one value (a
-- string, a token, an intrinsic object) is a list of one.
local function list(v)
  if type(v) == "table" and not token.is(v) and (v[1] ~= nil or next(v) == nil) then return v end
  return { v }
end

--- The IAM5 findings of statements: "Resource::<text>" for each Allow
-- resource with a "*" in it, but the lone "*" (which needs its own reason).
-- @param statements array of statements (their values resolved or not)
-- @param ctx table the resolution context (token.resolve)
-- @return sorted array of strings, each once
function M.wildcard_findings(statements, ctx)
  local seen, out = {}, {}
  for _, st in ipairs(statements) do
    if st.Effect == "Allow" then
      for _, r in ipairs(list(token.resolve(st.Resource, ctx))) do
        local text = M.flatten(r)
        if text:find("*", 1, true) and text ~= "*" and not seen[text] then
          seen[text] = true
          out[#out + 1] = "Resource::" .. text
        end
      end
    end
  end
  table.sort(out)
  return out
end

--- A role of lakehost's own: its wildcards (M.suppress_wildcards) and its
-- inline policy (HIPAA/NIST IAMNoInlinePolicy) with their reasons.
function M.lake_role(role, own, reason)
  M.suppress_wildcards(role, own, reason)
  return M.suppress_packs(role, "IAMNoInlinePolicy", M.INLINE_REASON)
end

--- Suppresses AwsSolutions-IAM5 on a role for the wildcards of its own
-- statements (its inline policies as they are when the template is made),
-- with the reason given (M.WILDCARD_REASON by default).
-- @param role resource an AWS::IAM::Role
-- @param own function|nil (statement) -> boolean: which statements are lakehost's (all when nil);
--   a user's statements are left for cdk-nag to report
-- @param reason string|nil
function M.suppress_wildcards(role, own, reason)
  role:suppress("AwsSolutions-IAM5", reason or M.WILDCARD_REASON, token.lazy(function(ctx)
    local statements = {}
    for _, pol in ipairs(role.props.Policies or {}) do
      for _, st in ipairs(list(pol.PolicyDocument.Statement)) do
        if not own or own(st) then statements[#statements + 1] = st end
      end
    end
    return setmetatable(M.wildcard_findings(statements, ctx), json.array_mt)
  end))
  return role
end

return M
