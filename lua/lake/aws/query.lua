--- The AWS query protocol (CloudFormation, STS): form-encoded POST,
-- XML response. Parameters are Lua tables flattened the AWS way:
-- arrays as "Name.member.N", maps as "Name.Key", nested to any depth.
local client = require("lake.aws.client")
local xmlmap = require("lake.aws.xmlmap")
local http = require("host.http")
local xml = require("host.xml")

local M = {}

-- member: what goes between a list's name and an item's number: ".member."
-- in the query protocol, "." in EC2's ({ a = { "x" } } -> a.1=x; an empty
-- list is sent as nothing there).
local function flatten(prefix, v, out, member)
  if type(v) == "table" then
    if #v > 0 or next(v) == nil then
      if next(v) == nil and member ~= "." then out[#out + 1] = { prefix, "" } end
      for i, x in ipairs(v) do flatten(prefix .. member .. i, x, out, member) end
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do flatten(prefix .. "." .. k, v[k], out, member) end
    end
  elseif type(v) == "boolean" then
    out[#out + 1] = { prefix, v and "true" or "false" }
  else
    out[#out + 1] = { prefix, tostring(v) }
  end
end

--- Flattens parameters into sorted { name, value } pairs.
-- @param style string|nil "ec2" for EC2's lists (Name.N), else the query protocol's (Name.member.N)
function M.flatten(params, style)
  local out = {}
  local keys = {}
  for k in pairs(params) do keys[#keys + 1] = k end
  table.sort(keys)
  local member = style == "ec2" and "." or ".member."
  for _, k in ipairs(keys) do flatten(k, params[k], out, member) end
  return out
end

-- application/x-www-form-urlencoded, as the AWS CLI sends it: RFC 3986
-- unreserved characters kept, spaces as '+', everything else %XX.
local function form(s)
  return (http.url_encode(s):gsub("%%20", "+"))
end

--- Encodes the form body.
-- @param style string|nil as M.flatten's
function M.body(action, version, params, style)
  local pairs_ = M.flatten(params or {}, style)
  local parts = { "Action=" .. form(action), "Version=" .. form(version) }
  for _, p in ipairs(pairs_) do parts[#parts + 1] = form(p[1]) .. "=" .. form(p[2]) end
  return table.concat(parts, "&")
end

--- Calls an action.
-- @param c Client
-- @param service string "cloudformation" | "sts"
-- @param version string API version ("2010-05-15", "2011-06-15")
-- @param action string
-- @param params table|nil
-- @param opts table|nil { lists = set of element names always arrays, max_attempts=, unsigned=,
--   timeout = seconds per attempt }
-- @return result (the <ActionResult> as plain values), request id | nil, err
function M.call(c, service, version, action, params, opts)
  opts = opts or {}
  local resp, err = c:call {
    service = service, action = action, method = "POST", path = "/",
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8" },
    body = M.body(action, version, params), max_attempts = opts.max_attempts, unsigned = opts.unsigned, timeout = opts.timeout,
  }
  if not resp then return nil, err end
  local root, xerr = xml.decode(resp.body or "")
  if not root then
    return nil, client.error { code = "MalformedResponse", message = xerr, service = service, action = action,
      status = resp.status }
  end
  local result
  for _, child in ipairs(root) do
    if child.name == action .. "Result" then result = xmlmap.value(child, opts.lists) end
  end
  if result == "" or result == nil then result = {} end
  return result
end

--- An array from a value that may be a single item, "" (empty list) or nil.
function M.list(v)
  if v == nil or v == "" then return {} end
  if type(v) == "table" and (#v > 0) then return v end
  return { v }
end

return M
