--- What a deploy is about to change, seen before it changes it. Pure: no
-- I/O; the deploy engine hands in the change set it read and the templates.
--
--   * summary: a change set's resource changes (added, modified with
--     replacement True/Conditional, removed); where the change set gives no
--     Replacement (moto 5.2.1 never does) it is worked out from the deployed
--     and the new template with the resource schemas' createOnlyProperties,
--     and the summary says which source it came from;
--   * security: the IAM statements, resource policies (S3, SNS, SQS, KMS,
--     EventBridge, Lambda permissions), policy attachments and security
--     group rules of two templates, compared: what widens (broadening) and
--     what only narrows;
--   * approval: whether `--require-approval never|any-change|broadening`
--     asks before a stack's change set runs;
--   * capabilities: the CAPABILITY_* a template needs;
--   * outputs: a stack's outputs as plain values, and their lines.
local json = require("host.json")
local schema = require("lake.schema")
local util = require("lake.util")

local M = {}

M.LEVELS = { "never", "any-change", "broadening" }
M.DEFAULT_LEVEL = "broadening"

---------------------------------------------------------------------------
-- Values of a template

-- A CloudFormation intrinsic: a table whose one key is Ref or Fn::*.
local function is_token(v)
  if type(v) ~= "table" then return false end
  local k, _ = next(v)
  if k == nil or next(v, k) ~= nil or type(k) ~= "string" then return false end
  return k == "Ref" or k == "Condition" or k:sub(1, 4) == "Fn::"
end

-- v as a list: arrays as they are, nil as {}, anything else as { v }.
local function list(v)
  if v == nil or v == json.null then return {} end
  if type(v) == "table" and not is_token(v) and (#v > 0 or getmetatable(v) == json.array_mt) then return v end
  if type(v) == "table" and not is_token(v) and next(v) == nil then return {} end
  return { v }
end

local function canon(v)
  if v == nil then return "null" end
  return json.encode(v)
end

--- A value as text: literals as they are, intrinsics as ${Name}, ${Name.Attr}
-- and the text of Fn::Sub / Fn::Join, anything else as JSON. Used both to
-- show and to compare values (a ${...} then stands for itself).
local function text(v)
  if type(v) ~= "table" then return tostring(v) end
  if is_token(v) then
    local k, x = next(v)
    if k == "Ref" and type(x) == "string" then return "${" .. x .. "}" end
    if k == "Fn::GetAtt" then
      local parts = type(x) == "string" and { x } or list(x)
      local out = {}
      for i, p in ipairs(parts) do out[i] = text(p) end
      return "${" .. table.concat(out, ".") .. "}"
    end
    if k == "Fn::Sub" then
      if type(x) == "string" then return x end
      local l = list(x)
      if type(l[1]) == "string" then return l[1] end
    end
    if k == "Fn::Join" then
      local l = list(x)
      if type(l[1]) == "string" and type(l[2]) == "table" then
        local out = {}
        for i, p in ipairs(list(l[2])) do out[i] = text(p) end
        return table.concat(out, l[1])
      end
    end
    if k == "Fn::ImportValue" then return "${Import:" .. text(x) .. "}" end
  end
  return canon(v)
end
M.text = text

-- IAM's wildcards: '*' any run of characters, '?' one.
local function glob(pattern, s)
  local lp = "^" .. pattern:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".") .. "$"
  return s:match(lp) ~= nil
end

---------------------------------------------------------------------------
-- Capabilities

-- IAM types that CreateChangeSet wants CAPABILITY_IAM for, and the
-- property holding each one's own name (a name needs CAPABILITY_NAMED_IAM).
-- https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html
local IAM_TYPES = {
  ["AWS::IAM::AccessKey"] = false, ["AWS::IAM::Group"] = "GroupName", ["AWS::IAM::GroupPolicy"] = false,
  ["AWS::IAM::InstanceProfile"] = "InstanceProfileName", ["AWS::IAM::ManagedPolicy"] = "ManagedPolicyName",
  ["AWS::IAM::Policy"] = false, ["AWS::IAM::Role"] = "RoleName", ["AWS::IAM::RolePolicy"] = false,
  ["AWS::IAM::User"] = "UserName", ["AWS::IAM::UserPolicy"] = false, ["AWS::IAM::UserToGroupAddition"] = false,
}

local function has_key(v, key)
  if type(v) ~= "table" then return false end
  for k, x in pairs(v) do
    if k == key or has_key(x, key) then return true end
  end
  return false
end

--- The capabilities a template needs: CAPABILITY_IAM with IAM resources,
-- CAPABILITY_NAMED_IAM (with CAPABILITY_IAM) when one of them has its own
-- name, CAPABILITY_AUTO_EXPAND with a Transform, Fn::Transform (macros) or
-- nested stacks (whose IAM resources this template does not show: they
-- get the IAM capabilities too).
-- @param tpl table the template
-- @return array of capability names, in a fixed order
function M.capabilities(tpl)
  local iam, named, expand = false, false, false
  if type(tpl) ~= "table" then return {} end
  if tpl.Transform ~= nil or has_key(tpl, "Fn::Transform") then expand = true end
  for _, r in pairs(type(tpl.Resources) == "table" and tpl.Resources or {}) do
    local typ = type(r) == "table" and r.Type
    local name_prop = IAM_TYPES[typ]
    if name_prop ~= nil then
      iam = true
      if name_prop and type(r.Properties) == "table" and r.Properties[name_prop] ~= nil then named = true end
    elseif typ == "AWS::CloudFormation::Stack" then
      expand, iam, named = true, true, true
    elseif type(typ) == "string" and typ:match("^AWS::Serverless::") then
      expand, iam = true, true -- SAM makes roles of its own
    end
  end
  local out = {}
  if iam or named then out[#out + 1] = "CAPABILITY_IAM" end
  if named then out[#out + 1] = "CAPABILITY_NAMED_IAM" end
  if expand then out[#out + 1] = "CAPABILITY_AUTO_EXPAND" end
  return out
end

---------------------------------------------------------------------------
-- Summary of a change set

-- The values at a dotted schema path ("A.B", "A.*.B") in props, as one text
-- (an intrinsic on the way stands for everything under it).
local function at_path(props, segs, i)
  if i > #segs or is_token(props) then return canon(props) end
  if type(props) ~= "table" then return "null" end
  local s = segs[i]
  if s == "*" then
    local out = {}
    for j, x in ipairs(list(props)) do out[j] = at_path(x, segs, i + 1) end
    return "[" .. table.concat(out, ",") .. "]"
  end
  return at_path(props[s], segs, i + 1)
end

local function split(path)
  local segs = {}
  for s in path:gmatch("[^.]+") do segs[#segs + 1] = s end
  return segs
end

local function create_only_of(typ)
  local s = schema.data(typ)
  return s and s.create_only or {}
end

--- Whether changing a resource from old to new replaces it, from the
-- templates alone: a new Type, or a change under one of the type's
-- createOnlyProperties.
-- @param old table|nil the deployed resource
-- @param new table|nil the new one
-- @param create_only function(type) -> array of dotted paths (default: the schemas')
-- @return "True"|"False"|nil (unknown), properties changed (sorted), the create-only ones
function M.replacement(old, new, create_only)
  if type(old) ~= "table" or type(new) ~= "table" then return nil, {}, {} end
  create_only = create_only or create_only_of
  local po = type(old.Properties) == "table" and old.Properties or {}
  local pn = type(new.Properties) == "table" and new.Properties or {}
  local changed, keys = {}, {}
  for k in pairs(po) do keys[k] = true end
  for k in pairs(pn) do keys[k] = true end
  for k in util.spairs(keys) do
    if canon(po[k]) ~= canon(pn[k]) then changed[#changed + 1] = k end
  end
  if old.Type ~= new.Type then return "True", changed, { "Type" } end
  local why, seen = {}, {}
  for _, path in ipairs(create_only(new.Type) or {}) do
    local segs = split(path)
    if at_path(po, segs, 1) ~= at_path(pn, segs, 1) and not seen[path] then
      seen[path] = true
      why[#why + 1] = path
    end
  end
  table.sort(why)
  return #why > 0 and "True" or "False", changed, why
end

local function resources_of(tpl)
  return type(tpl) == "table" and type(tpl.Resources) == "table" and tpl.Resources or {}
end

local ACTION_GROUP = { Add = "added", Import = "added", Modify = "modified", Dynamic = "modified", Remove = "removed" }

--- The summary of a change set.
-- @param cs_changes array of { action=, logical_id=, type=, replacement=, scope = {...}, details = { {name=, requires=} } }
--   (lake.aws.cloudformation.describe_change_set's changes)
-- @param old table|nil the deployed template (nil: not read, or nothing deployed)
-- @param new table|nil the new template
-- @param opts table|nil { create_only = function(type) -> paths }
-- @return { source=, added = {{id=, type=, action=}}, modified = {{id=, type=, action=, replacement=,
--   replacement_from = "change set"|"templates"|nil, properties = {...}, because = {...}}}, removed = {...} }
function M.summary(cs_changes, old, new, opts)
  opts = opts or {}
  local ro, rn = resources_of(old), resources_of(new)
  local s = { added = {}, modified = {}, removed = {} }
  local from_templates = false
  local list_ = cs_changes or {}
  if #list_ == 0 and old and new then
    -- the change set listed nothing: what the templates say (types and
    -- properties: CloudFormation updates nothing for Metadata alone)
    local d = {}
    for id, r in util.spairs(rn) do
      if not ro[id] then
        d[#d + 1] = { action = "Add", logical_id = id, type = r.Type }
      elseif ro[id].Type ~= r.Type or canon(ro[id].Properties) ~= canon(r.Properties) then
        d[#d + 1] = { action = "Modify", logical_id = id, type = r.Type }
      end
    end
    for id, r in util.spairs(ro) do
      if not rn[id] then d[#d + 1] = { action = "Remove", logical_id = id, type = r.Type } end
    end
    if #d > 0 then
      list_ = d
      s.source = "the templates (the change set listed no resource)"
    end
  end
  for _, c in ipairs(list_) do
    local group = ACTION_GROUP[c.action] or "modified"
    local item = { id = c.logical_id, type = c.type, action = c.action }
    if group == "modified" then
      local props = {}
      for _, d in ipairs(c.details or {}) do
        if d.name and not util.contains(props, d.name) then props[#props + 1] = d.name end
      end
      table.sort(props)
      item.properties = props
      if c.replacement and c.replacement ~= "" then
        item.replacement, item.replacement_from = c.replacement, "change set"
        local because = {}
        for _, d in ipairs(c.details or {}) do
          if d.name and (d.requires == "Always" or d.requires == "Conditionally") and not util.contains(because, d.name) then
            because[#because + 1] = d.name
          end
        end
        table.sort(because)
        item.because = because
      else
        local rep, changed, why = M.replacement(ro[c.logical_id], rn[c.logical_id], opts.create_only)
        if rep then
          item.replacement, item.replacement_from, item.because = rep, "templates", why
          from_templates = true
          if #props == 0 then item.properties = changed end
        end
      end
    end
    table.insert(s[group], item)
  end
  for _, g in ipairs({ "added", "modified", "removed" }) do
    table.sort(s[g], function(a, b) return tostring(a.id) < tostring(b.id) end)
  end
  s.source = s.source or (from_templates and "change set, replacement from the templates (the change set gave none)"
    or "change set")
  return s
end

--- The resources a summary says will be replaced.
-- @param conditional boolean|nil count Replacement "Conditional" too
function M.replaced(s, conditional)
  local out = {}
  for _, m in ipairs(s and s.modified or {}) do
    if m.replacement == "True" or (conditional and m.replacement == "Conditional") then out[#out + 1] = m end
  end
  return out
end

--- Lines of a summary.
-- @return array of lines (the first names the stack)
function M.format_summary(name, s)
  local n = #s.added + #s.modified + #s.removed
  local lines = {}
  if n == 0 then
    lines[1] = ("%s: no resource changes (source: %s)"):format(name, s.source)
    return lines
  end
  lines[1] = ("%s: %d to add, %d to modify, %d to remove (source: %s)"):format(name, #s.added, #s.modified,
    #s.removed, s.source)
  for _, r in ipairs(s.added) do
    lines[#lines + 1] = ("  + %s (%s)%s"):format(r.id, r.type, r.action == "Import" and " import" or "")
  end
  for _, r in ipairs(s.modified) do
    local extra = {}
    if r.replacement == "True" or r.replacement == "Conditional" then
      extra[#extra + 1] = "replacement: " .. r.replacement
        .. ((r.because and #r.because > 0) and (" (" .. table.concat(r.because, ", ") .. ")") or "")
    end
    if r.properties and #r.properties > 0 then extra[#extra + 1] = "properties: " .. table.concat(r.properties, ", ") end
    if r.action == "Dynamic" then extra[#extra + 1] = "decided while it runs" end
    lines[#lines + 1] = ("  ~ %s (%s)%s"):format(r.id, r.type, #extra > 0 and ("  " .. table.concat(extra, "; ")) or "")
  end
  for _, r in ipairs(s.removed) do lines[#lines + 1] = ("  - %s (%s)"):format(r.id, r.type) end
  return lines
end

---------------------------------------------------------------------------
-- Security: statements, attachments, security group rules

local PRINCIPAL_KINDS = { "AWS", "Service", "Federated", "CanonicalUser" }

local function principals(p)
  if p == nil then return nil end
  if type(p) == "string" or is_token(p) then return { text(p) == "*" and "*" or ("AWS:" .. text(p)) } end
  local out = {}
  if type(p) == "table" then
    for _, kind in ipairs(PRINCIPAL_KINDS) do
      for _, v in ipairs(list(p[kind])) do
        local t = text(v)
        out[#out + 1] = (kind == "AWS" and t == "*") and "*" or (kind .. ":" .. t)
      end
    end
  end
  table.sort(out)
  return out
end

local function texts(v)
  local out = {}
  for i, x in ipairs(list(v)) do out[i] = text(x) end
  return out
end

-- One statement as compared and shown.
local function statement(st, where)
  if type(st) ~= "table" then return nil end
  local s = {
    kind = "statement", where = where, effect = tostring(st.Effect or "Allow"),
    actions = st.Action ~= nil and texts(st.Action) or nil, not_actions = st.NotAction ~= nil and texts(st.NotAction) or nil,
    resources = st.Resource ~= nil and texts(st.Resource) or nil,
    not_resources = st.NotResource ~= nil and texts(st.NotResource) or nil,
    principals = principals(st.Principal), not_principals = principals(st.NotPrincipal),
    condition = st.Condition ~= nil and canon(st.Condition) or nil,
  }
  s.exotic = s.not_actions or s.not_resources or s.not_principals
  local copy = {}
  for k, v in pairs(st) do if k ~= "Sid" then copy[k] = v end end
  s.key = canon(copy)
  return s
end

local function document_statements(doc, where, out)
  if type(doc) == "string" then
    local d = json.decode(doc)
    if type(d) ~= "table" then
      out[#out + 1] = { kind = "statement", where = where, effect = "Allow", opaque = doc, key = doc }
      return
    end
    doc = d
  end
  if type(doc) ~= "table" then return end
  for _, st in ipairs(list(doc.Statement)) do
    local s = statement(st, where)
    if s then out[#out + 1] = s end
  end
end

local function where_of(id, typ, slot)
  return { id = id, type = typ, slot = slot, key = id .. "\0" .. (slot or "") }
end

-- Which property of each type holds a policy document, which principals a
-- managed or inline policy is attached to, which managed policies a
-- principal gets.
local DOCUMENTS = {
  ["AWS::IAM::Role"] = { doc = "AssumeRolePolicyDocument", doc_slot = "trust policy", inline = "Policies",
    managed = "ManagedPolicyArns" },
  ["AWS::IAM::User"] = { inline = "Policies", managed = "ManagedPolicyArns" },
  ["AWS::IAM::Group"] = { inline = "Policies", managed = "ManagedPolicyArns" },
  ["AWS::IAM::Policy"] = { doc = "PolicyDocument", attach = { Roles = "role", Users = "user", Groups = "group" } },
  ["AWS::IAM::ManagedPolicy"] = { doc = "PolicyDocument", attach = { Roles = "role", Users = "user", Groups = "group" } },
  ["AWS::IAM::RolePolicy"] = { doc = "PolicyDocument", attach = { RoleName = "role" } },
  ["AWS::IAM::UserPolicy"] = { doc = "PolicyDocument", attach = { UserName = "user" } },
  ["AWS::IAM::GroupPolicy"] = { doc = "PolicyDocument", attach = { GroupName = "group" } },
  ["AWS::S3::BucketPolicy"] = { doc = "PolicyDocument", attach = { Bucket = "bucket" } },
  ["AWS::SNS::TopicPolicy"] = { doc = "PolicyDocument", attach = { Topics = "topic" } },
  ["AWS::SQS::QueuePolicy"] = { doc = "PolicyDocument", attach = { Queues = "queue" } },
  ["AWS::KMS::Key"] = { doc = "KeyPolicy", doc_slot = "key policy" },
  ["AWS::SecretsManager::ResourcePolicy"] = { doc = "ResourcePolicy", attach = { SecretId = "secret" } },
}

local function rule_port(v)
  if v == nil then return nil end
  return tonumber(v) or text(v)
end

local PROTOCOLS = { ["6"] = "tcp", ["17"] = "udp", ["1"] = "icmp", ["58"] = "icmpv6", all = "-1" }

-- "${Sg}" for both Ref Sg and Sg.GroupId: inline rules and rule resources
-- of one group compare.
local function group_key(v)
  return (text(v):gsub("^%${([%w]+)%.GroupId}$", "${%1}"))
end

local function sg_rule(r, group, direction, where)
  if type(r) ~= "table" then return nil end
  local proto = tostring(r.IpProtocol ~= nil and text(r.IpProtocol) or "-1"):lower()
  proto = PROTOCOLS[proto] or proto
  local peer
  if r.CidrIp ~= nil then peer = "cidr:" .. text(r.CidrIp)
  elseif r.CidrIpv6 ~= nil then peer = "cidr6:" .. text(r.CidrIpv6)
  elseif r.SourceSecurityGroupId ~= nil then peer = "sg:" .. group_key(r.SourceSecurityGroupId)
  elseif r.SourceSecurityGroupName ~= nil then peer = "sg:" .. text(r.SourceSecurityGroupName)
  elseif r.DestinationSecurityGroupId ~= nil then peer = "sg:" .. group_key(r.DestinationSecurityGroupId)
  elseif r.SourcePrefixListId ~= nil then peer = "pl:" .. text(r.SourcePrefixListId)
  elseif r.DestinationPrefixListId ~= nil then peer = "pl:" .. text(r.DestinationPrefixListId)
  else peer = "?" end
  local rule = { kind = "rule", where = where, group = group, direction = direction, protocol = proto,
    from = rule_port(r.FromPort), to = rule_port(r.ToPort), peer = peer }
  rule.key = table.concat({ group, direction, proto, tostring(rule.from), tostring(rule.to), peer }, "\0")
  return rule
end

--- Every IAM statement, resource policy statement, policy attachment and
-- security group rule of a template.
-- @return array of items { kind = "statement"|"attachment"|"rule", where = {id=, type=, slot=}, ... }
function M.security_items(tpl)
  local out = {}
  for id, r in util.spairs(resources_of(tpl)) do
    local typ = type(r) == "table" and r.Type
    local p = type(r) == "table" and type(r.Properties) == "table" and r.Properties or {}
    local d = DOCUMENTS[typ]
    if d then
      local first = #out + 1
      if d.doc then document_statements(p[d.doc], where_of(id, typ, d.doc_slot), out) end
      -- attaching a policy that only denies narrows: its attachments count as Deny
      local allows = false
      for i = first, #out do allows = allows or out[i].effect ~= "Deny" end
      if d.inline then
        for _, pol in ipairs(list(p[d.inline])) do
          if type(pol) == "table" then
            document_statements(pol.PolicyDocument, where_of(id, typ, ('policy "%s"'):format(text(pol.PolicyName))), out)
          end
        end
      end
      if d.managed then
        for _, arn in ipairs(list(p[d.managed])) do
          local a = { kind = "attachment", where = where_of(id, typ, "managed policy"), target = text(arn) }
          a.key = a.target
          out[#out + 1] = a
        end
      end
      for prop, what in util.spairs(d.attach or {}) do
        for _, t in ipairs(list(p[prop])) do
          local a = { kind = "attachment", where = where_of(id, typ, "attached to"), target = what .. " " .. text(t),
            effect = allows and "Allow" or "Deny" }
          a.key = a.target
          out[#out + 1] = a
        end
      end
    elseif typ == "AWS::Lambda::Permission" then
      local cond = {}
      for _, k in ipairs({ "SourceArn", "SourceAccount", "PrincipalOrgID", "FunctionUrlAuthType", "EventSourceToken" }) do
        if p[k] ~= nil then cond[k] = p[k] end
      end
      local st = { Effect = "Allow", Action = p.Action, Resource = p.FunctionName,
        Principal = type(p.Principal) == "string" and p.Principal:find("%.amazonaws%.com$")
          and { Service = p.Principal } or p.Principal,
        Condition = next(cond) and cond or nil }
      local s = statement(st, where_of(id, typ, nil))
      if s then out[#out + 1] = s end
    elseif typ == "AWS::Events::EventBusPolicy" then
      local st = p.Statement
      if st == nil then
        st = { Effect = "Allow", Action = p.Action, Principal = p.Principal ~= nil and { AWS = p.Principal } or nil,
          Condition = p.Condition, Resource = p.EventBusName }
      end
      local s = statement(st, where_of(id, typ, nil))
      if s then out[#out + 1] = s end
    elseif typ == "AWS::EC2::SecurityGroup" then
      local group = "${" .. id .. "}"
      for _, x in ipairs(list(p.SecurityGroupIngress)) do
        out[#out + 1] = sg_rule(x, group, "ingress", where_of(id, typ, nil))
      end
      for _, x in ipairs(list(p.SecurityGroupEgress)) do
        out[#out + 1] = sg_rule(x, group, "egress", where_of(id, typ, nil))
      end
    elseif typ == "AWS::EC2::SecurityGroupIngress" or typ == "AWS::EC2::SecurityGroupEgress" then
      local group = p.GroupId ~= nil and group_key(p.GroupId) or text(p.GroupName)
      out[#out + 1] = sg_rule(p, group, typ:match("Ingress$") and "ingress" or "egress", where_of(id, typ, nil))
    end
  end
  return out
end

-- Does every value of narrow match one pattern of wide?
local function all_matched(wide, narrow, fold)
  for _, n in ipairs(narrow) do
    local hit = false
    for _, w in ipairs(wide) do
      if w == "*" or w == n or glob(fold and w:lower() or w, fold and n:lower() or n) then hit = true break end
    end
    if not hit then return false end
  end
  return true
end

--- Whether statement `wide` allows (or denies) at least all that `narrow` does.
local function statement_covers(wide, narrow)
  if wide.effect ~= narrow.effect then return false end
  if wide.exotic or narrow.exotic or wide.opaque or narrow.opaque then return wide.key == narrow.key end
  if (wide.principals == nil) ~= (narrow.principals == nil) then return false end
  if wide.principals and not all_matched(wide.principals, narrow.principals) then return false end
  if not all_matched(wide.actions or {}, narrow.actions or {}, true) then return false end
  if (wide.resources == nil) ~= (narrow.resources == nil) then return false end
  if wide.resources and not all_matched(wide.resources, narrow.resources) then return false end
  return wide.condition == nil or wide.condition == narrow.condition
end

local function ipv4(cidr)
  local a, b, c, d, bits = cidr:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)/(%d+)$")
  if not a then return nil end
  local n = ((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d)
  return n, tonumber(bits)
end

local function cidr_covers(wide, narrow)
  if wide == narrow then return true end
  local wk, wv = wide:match("^(cidr6?):(.*)$")
  local nk, nv = narrow:match("^(cidr6?):(.*)$")
  if not wk or wk ~= nk then return false end
  if wk == "cidr6" then return wv == "::/0" end
  local wn, wb = ipv4(wv)
  local nn, nb = ipv4(nv)
  if not wn or not nn or wb > nb then return false end
  local size = 2 ^ (32 - wb)
  return math.floor(wn / size) == math.floor(nn / size)
end

local function rule_covers(wide, narrow)
  if wide.group ~= narrow.group or wide.direction ~= narrow.direction then return false end
  if not cidr_covers(wide.peer, narrow.peer) then return false end
  if wide.protocol == "-1" then return true end
  if wide.protocol ~= narrow.protocol then return false end
  local wf, wt = wide.from, wide.to
  if wf == nil or wf == -1 then return true end -- every port (icmp: every type)
  local nf, nt = narrow.from, narrow.to
  if type(wf) ~= "number" or type(wt) ~= "number" or type(nf) ~= "number" or type(nt) ~= "number" then
    return wf == nf and wt == nt
  end
  if nf == -1 then return false end
  return wf <= nf and nt <= wt
end

local function covers(wide, narrow)
  if wide.kind ~= narrow.kind then return false end
  if wide.kind == "rule" then return rule_covers(wide, narrow) end
  if wide.where.key ~= narrow.where.key then return false end
  if wide.kind == "attachment" then return wide.key == narrow.key end
  return statement_covers(wide, narrow)
end

local function covered(item, among)
  for _, o in ipairs(among) do
    if covers(o, item) then return true end
  end
  return false
end

--- Compares the security items of the deployed and the new template.
-- Broadening: an Allow statement, an attachment or a security group rule
-- of the new template that no item of the deployed one already grants
-- (widened actions, resources, principals or conditions, or new), and a
-- Deny statement of the deployed template the new one drops or narrows.
-- Narrowing: the converse (Allows dropped or narrowed, Denies added).
-- Attaching a policy counts as its statements do: an Allow unless the
-- policy only denies.
-- @param old table|nil the deployed template (nil: nothing deployed, all is new)
-- @param new table the new template
-- @return { broadening = {items, each with .change = "+"|"-"}, narrowing = {items} }
function M.security(old, new)
  local oi, ni = M.security_items(old), M.security_items(new)
  local res = { broadening = {}, narrowing = {} }
  local function add(into, item, change)
    local c = util.copy(item)
    c.change = change
    into[#into + 1] = c
  end
  for _, it in ipairs(ni) do
    if not covered(it, oi) then add(it.effect == "Deny" and res.narrowing or res.broadening, it, "+") end
  end
  for _, it in ipairs(oi) do
    if not covered(it, ni) then add(it.effect == "Deny" and res.broadening or res.narrowing, it, "-") end
  end
  return res
end

local function peer_text(peer)
  return (peer:gsub("^cidr6?:", ""):gsub("^sg:", "group "):gsub("^pl:", "prefix list "))
end

local function port_text(r)
  if r.protocol == "-1" then return "all traffic" end
  if r.from == nil or r.from == -1 then return r.protocol .. " all ports" end
  if r.from == r.to or r.to == nil then return ("%s %s"):format(r.protocol, tostring(r.from)) end
  return ("%s %s-%s"):format(r.protocol, tostring(r.from), tostring(r.to))
end

--- One line for an item: what, where and how it changes.
function M.format_item(it)
  local w = it.where or {}
  local place = w.id and ("%s (%s)%s"):format(w.id, w.type, w.slot and (" " .. w.slot) or "") or "?"
  local what
  if it.kind == "rule" then
    what = ("%s %s %s %s"):format(it.direction, port_text(it), it.direction == "ingress" and "from" or "to",
      peer_text(it.peer))
  elseif it.kind == "attachment" then
    what = it.target
  elseif it.opaque then
    what = it.opaque
  else
    local parts = { it.effect }
    if it.actions then parts[#parts + 1] = table.concat(it.actions, ", ") end
    if it.not_actions then parts[#parts + 1] = "everything but " .. table.concat(it.not_actions, ", ") end
    if it.resources then parts[#parts + 1] = "on " .. table.concat(it.resources, ", ") end
    if it.not_resources then parts[#parts + 1] = "on everything but " .. table.concat(it.not_resources, ", ") end
    if it.principals then parts[#parts + 1] = "to " .. table.concat(it.principals, ", ") end
    if it.not_principals then parts[#parts + 1] = "to anyone but " .. table.concat(it.not_principals, ", ") end
    if it.condition then parts[#parts + 1] = "when " .. it.condition end
    what = table.concat(parts, " ")
  end
  return ("%s %s: %s"):format(it.change or " ", place, what)
end

---------------------------------------------------------------------------
-- Approval

--- Checks a --require-approval value.
-- @return nil | message
function M.check_level(v)
  if util.contains(M.LEVELS, v) then return nil end
  return ("--require-approval expects one of %s, got '%s'%s"):format(table.concat(M.LEVELS, ", "), tostring(v),
    util.suggest(tostring(v), M.LEVELS))
end

--- Whether a stack's changes need approval at a level, and why.
-- never: no; broadening (CDK's default): IAM statements, resource policies,
-- attachments or security group rules that widen, or a resource replaced;
-- any-change (CDK's meaning): any such item added or removed, widening or
-- not, or a resource replaced.
-- @param level string|nil nil = never
-- @param summary table|nil M.summary's result
-- @param sec table|nil M.security's result
-- @return boolean, lines (what needs approving)
function M.approval(level, summary, sec)
  if level == nil or level == "never" then return false, {} end
  local lines = {}
  local items = {}
  for _, it in ipairs(sec and sec.broadening or {}) do items[#items + 1] = it end
  if level == "any-change" then
    for _, it in ipairs(sec and sec.narrowing or {}) do items[#items + 1] = it end
  end
  if #items > 0 then
    lines[#lines + 1] = level == "any-change" and "IAM statements, resource policies and security group rules that change:"
      or "IAM statements, resource policies and security group rules that widen:"
    for _, it in ipairs(items) do lines[#lines + 1] = "  " .. M.format_item(it) end
  end
  local rep = M.replaced(summary)
  if #rep > 0 then
    lines[#lines + 1] = "resources replaced (a new one is created, the old one deleted):"
    for _, m in ipairs(rep) do
      lines[#lines + 1] = ("  ~ %s (%s)%s"):format(m.id, m.type,
        (m.because and #m.because > 0) and (": " .. table.concat(m.because, ", ")) or "")
    end
  end
  return #lines > 0, lines
end

---------------------------------------------------------------------------
-- Outputs

--- A stack's outputs (DescribeStacks' Outputs) as plain values, by key.
-- @param raw array of { OutputKey=, OutputValue=, ExportName=, Description= }
-- @return array of { key=, value=, export=, description= }
function M.outputs(raw)
  local out = {}
  for _, o in ipairs(raw or {}) do
    if type(o) == "table" and o.OutputKey then
      out[#out + 1] = { key = o.OutputKey, value = o.OutputValue ~= "" and o.OutputValue or nil,
        export = (o.ExportName ~= "" and o.ExportName) or nil, description = (o.Description ~= "" and o.Description) or nil }
    end
  end
  table.sort(out, function(a, b) return a.key < b.key end)
  return out
end

--- Lines for the outputs of a stack: "stack.Key = value (export: name)".
function M.format_outputs(name, outputs)
  local lines = {}
  for _, o in ipairs(outputs or {}) do
    lines[#lines + 1] = ("%s.%s = %s%s"):format(name, o.key, o.value or "", o.export and ("  (export: " .. o.export .. ")") or "")
  end
  return lines
end

return M
