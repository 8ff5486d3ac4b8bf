--- The model: an App holds Stacks, a Stack holds Resources.
--
-- Pure Lua, no I/O. Resources are declared with a kind from lua/resources
-- and CloudFormation property names; references between them are tokens
-- (lake.token) resolved at synthesis. DSL misuse raises error(msg, 2) so the
-- message names the line of the script that made the mistake.
local token = require("lake.token")
local types = require("lake.types")
local util = require("lake.util")

local M = {}

local App, Stack, Resource = {}, {}, {}
App.__index, Stack.__index, Resource.__index = App, Stack, Resource
App.__name, Stack.__name, Resource.__name = "lake.App", "lake.Stack", "lake.Resource"

local kinds = {}
--- The resource kind module for a name such as "s3_bucket" (cached).
-- @return kind table | nil, message
function M.kind(name)
  if kinds[name] then return kinds[name] end
  if type(name) ~= "string" or not name:match("^[%w_]+$") then
    return nil, ("invalid resource kind name '%s'"):format(tostring(name))
  end
  local ok, mod = pcall(require, "resources." .. name)
  if not ok then
    if tostring(mod):find("module 'resources." .. name .. "' not found", 1, true) then
      return nil, ("unknown resource kind '%s'"):format(name)
    end
    error(mod, 0)
  end
  mod.name = name
  if not mod.schema then mod.schema = types.object(mod.fields) end
  kinds[name] = mod
  return mod
end

---------------------------------------------------------------------------
-- App

--- Creates an App.
-- @param opts table { name=, root= (folder of app.lua), stage=, region=, account=,
--   tags = {K=V}, assets_bucket = (name or token) }
function M.new(opts)
  opts = opts or {}
  local app = setmetatable({
    name = opts.name or "lake",
    root = opts.root or ".",
    stage = opts.stage,
    region = opts.region,
    account = opts.account,
    tags = util.copy(opts.tags or {}),
    stacks = {},
    by_name = {},
    assets = {},
    asset_by_id = {},
    settings = util.copy(opts.settings or {}),
    problems = {},
  }, App)
  app.assets_bucket = opts.assets_bucket
    or token.concat("lakehost-assets-", app.account or token.account_id, "-", app.region or token.region)
  return app
end

--- Records a problem in the user's input (a config file, app.lua). Commands
-- report every problem at once and write nothing (exit 2).
-- @param file string path as the user would type it
-- @param line integer|nil
-- @param key string|nil dotted key path such as "steps.RouteFile.properties.next_step"
-- @param msg string
function App:problem(file, line, key, msg)
  local where = file or "app"
  if line then where = where .. ":" .. line end
  self.problems[#self.problems + 1] = where .. ": " .. (key and (key .. ": ") or "") .. msg
end

--- True when v is an App.
function M.is_app(v) return getmetatable(v) == App end

--- Adds a stack.
-- @param name string CloudFormation stack name (letters, digits, dashes; 128 max)
-- @param opts table|nil { description=, tags = {K=V} }
function App:stack(name, opts)
  if type(name) ~= "string" or not name:match("^[A-Za-z][A-Za-z0-9-]*$") or #name > 128 then
    error(("invalid stack name '%s': letters, digits and '-', starting with a letter, at most 128"):format(tostring(name)), 2)
  end
  if self.by_name[name] then error(("stack '%s' is defined twice"):format(name), 2) end
  opts = opts or {}
  local s = setmetatable({
    app = self, name = name, description = opts.description,
    tags = util.copy(opts.tags or {}), resources = {}, by_id = {}, outputs = {},
    deps = {}, dep_set = {}, files = {},
  }, Stack)
  self.stacks[#self.stacks + 1] = s
  self.by_name[name] = s
  return s
end

--- The stack of that name, or nil.
function App:get_stack(name) return self.by_name[name] end

--- Declares an asset: a file that deploy uploads to the assets bucket,
-- built at synthesis (lake.assembly) by build(ctx) -> { path=, sha256=, size=, ext= }
-- | nil, message [, "input"|"failed"]. Declaring the same id again returns the
-- asset declared first.
-- @param spec table { id = "unique id", build = function(ctx), kind = "lambda"|..., describe = "text" }
-- @return asset with :bucket() and :key() tokens
function App:asset(spec)
  if type(spec) ~= "table" or type(spec.id) ~= "string" or type(spec.build) ~= "function" then
    error("app:asset expects { id = string, build = function }", 2)
  end
  local asset = self.asset_by_id[spec.id]
  if asset then return asset end
  local app = self
  asset = { id = spec.id, build = spec.build, describe = spec.describe, kind = spec.kind }
  function asset.bucket() return app.assets_bucket end
  function asset.key()
    return token.lazy(function(ctx)
      local built = ctx.assets and ctx.assets[asset.id]
      if not built then error(("asset '%s' was not built"):format(asset.id), 0) end
      return built.key
    end)
  end
  self.assets[#self.assets + 1] = asset
  self.asset_by_id[asset.id] = asset
  return asset
end

--- Stacks in deploy order (dependencies first, ties by name).
-- @return array of stacks | nil, cycle message
function App:ordered_stacks()
  local names, deps = {}, {}
  for _, s in ipairs(self.stacks) do
    names[#names + 1] = s.name
    deps[s.name] = s.deps
  end
  local order, err = util.toposort(names, deps)
  if not order then return nil, "stacks depend on each other in a cycle: " .. err end
  local out = {}
  for i, n in ipairs(order) do out[i] = self.by_name[n] end
  return out
end

---------------------------------------------------------------------------
-- Stack

-- Logical ids: letters and digits, at most 255.
local function valid_id(id) return type(id) == "string" and id:match("^[A-Za-z0-9]+$") ~= nil and #id <= 255 end

--- Adds a resource.
-- @param kind_name string module under lua/resources (e.g. "s3_bucket")
-- @param id string logical id (letters and digits)
-- @param props table CloudFormation properties (may hold tokens)
-- @param opts table|nil { depends_on = {res...}, deletion_policy=, update_replace_policy=, tags = {K=V} }
function Stack:add(kind_name, id, props, opts)
  local kind, err = M.kind(kind_name)
  if not kind then error(err, 2) end
  if not valid_id(id) then
    error(("invalid logical id '%s' in stack '%s': letters and digits only"):format(tostring(id), self.name), 2)
  end
  if self.by_id[id] then
    error(("stack '%s' already has a resource '%s'"):format(self.name, id), 2)
  end
  props = props or {}
  local errs = {}
  types.check_fields(kind.schema, props, "", errs)
  if #errs > 0 then
    error(("%s %s (%s): %s"):format(self.name, id, kind.type, table.concat(errs, "; ")), 2)
  end
  opts = opts or {}
  local r = setmetatable({
    stack = self, logical_id = id, kind = kind, props = props, depends = {},
    deletion_policy = opts.deletion_policy, update_replace_policy = opts.update_replace_policy,
    tags = opts.tags and util.copy(opts.tags) or {}, metadata = opts.metadata,
  }, Resource)
  for _, d in ipairs(opts.depends_on or {}) do r:depends_on(d) end
  self.resources[#self.resources + 1] = r
  self.by_id[id] = r
  return r
end

--- Makes this stack deploy after other (other is a Stack or a stack name).
function Stack:depends_on(other)
  local name = type(other) == "table" and other.name or other
  if type(name) ~= "string" then error("depends_on expects a stack or a stack name", 2) end
  if name == self.name then error(("stack '%s' cannot depend on itself"):format(name), 2) end
  if not self.dep_set[name] then
    self.dep_set[name] = true
    self.deps[#self.deps + 1] = name
  end
  return self
end

--- Adds an output.
-- @param id string logical id of the output
-- @param value string|token
-- @param opts table|nil { description=, export_name= }
function Stack:output(id, value, opts)
  if type(id) ~= "string" or not id:match("^[A-Za-z0-9]+$") then
    error(("invalid output id '%s'"):format(tostring(id)), 2)
  end
  opts = opts or {}
  self.outputs[id] = { value = value, description = opts.description, export_name = opts.export_name }
end

--- Declares a template parameter with a default, such as an SSM-typed one
-- CloudFormation reads at deploy ("AWS::SSM::Parameter::Value<String>").
-- token.ref(param) refers to it.
-- @param id string logical id (letters and digits)
-- @param opts table { type = "String"|..., default = string|token, description = }
-- @return the parameter
function Stack:parameter(id, opts)
  if type(id) ~= "string" or not id:match("^[A-Za-z0-9]+$") then
    error(("invalid parameter id '%s'"):format(tostring(id)), 2)
  end
  self.parameters = self.parameters or {}
  if self.by_id[id] or self.parameters[id] then
    error(("stack '%s' already has a resource or parameter '%s'"):format(self.name, id), 2)
  end
  opts = opts or {}
  local p = { stack = self, logical_id = id, type = opts.type or "String", default = opts.default,
    description = opts.description }
  self.parameters[id] = p
  return p
end

--- Adds a tag to every taggable resource of the stack (and the stack itself).
function Stack:tag(k, v) self.tags[k] = v; return self end

--- Attaches a side file written next to the template (e.g. a diagram).
-- @param suffix string such as ".RouteFile.mmd"; the file is <stack><suffix>
function Stack:attach(suffix, text)
  self.files[suffix] = text
end

--- The resource with that logical id, or nil.
function Stack:get(id)
  return self.by_id[id]
end

---------------------------------------------------------------------------
-- Resource

--- { Ref = id }.
function Resource:ref() return token.ref(self) end

--- { Fn::GetAtt = [id, name] }; the attribute must be one the kind declares.
function Resource:attr(name)
  local ok = false
  for _, a in ipairs(self.kind.attributes or {}) do
    if a == name then ok = true break end
  end
  if not ok then
    error(("%s (%s) has no attribute '%s'%s"):format(self.logical_id, self.kind.type, tostring(name),
      util.suggest(tostring(name), self.kind.attributes or {})), 2)
  end
  return token.get_att(self, name)
end

--- Shorthand for attr("Arn").
function Resource:arn() return self:attr("Arn") end

--- Makes this resource wait for another of the same stack.
function Resource:depends_on(other)
  if getmetatable(other) ~= Resource then error("depends_on expects a resource", 2) end
  if other.stack ~= self.stack then
    error(("%s cannot depend on %s: it is in another stack (make the stacks depend instead)")
      :format(self.logical_id, other.logical_id), 2)
  end
  self.depends[#self.depends + 1] = other
  return self
end

return M
