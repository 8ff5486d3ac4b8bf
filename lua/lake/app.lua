--- The model: an App holds Stacks, a Stack holds Resources.
--
-- Pure Lua, no I/O. A resource has a kind: any CloudFormation type, by its
-- name ("AWS::SQS::Queue") or snake name ("sqs_queue"), checked against
-- AWS's resource schema (lake.schema), plus the checks of a kind module
-- resources.<snake name> when there is one (lua/resources, or a user's on
-- LAKEHOST_PATH or in the project's resources/ folder). References between
-- resources are tokens (lake.token) resolved at synthesis.
--
-- Mistakes in what a resource says (its kind, id, properties, attributes)
-- are recorded on the app as "file:line: Stack Resource.Path: message",
-- the line being the user's (the first frame outside lakehost's library),
-- so a command reports them all at once; misuse of the DSL itself raises
-- error(msg, 2).
local json = require("host.json")
local schema = require("lake.schema")
local token = require("lake.token")
local types = require("lake.types")
local util = require("lake.util")

local M = {}

local App, Stack, Resource = {}, {}, {}
App.__index, Stack.__index, Resource.__index = App, Stack, Resource
App.__name, Stack.__name, Resource.__name = "lake.App", "lake.Stack", "lake.Resource"

local kinds = {}

-- Whether a frame's chunk is lakehost's own Lua (lua/lake, lua/resources).
local function library(source)
  return source:find("lua/lake/", 1, true) ~= nil or source:find("lua/resources/", 1, true) ~= nil
end


-- The kind module resources.<snake> (lua/resources, LAKEHOST_PATH, the
-- project's resources/ folder), or nil when there is none.
local function kind_module(snake)
  if not snake:match("^[%w_]+$") then return nil end
  local ok, mod = pcall(require, "resources." .. snake)
  if ok then return mod end
  if tostring(mod):find("module 'resources." .. snake .. "' not found", 1, true) then return nil end
  error(mod, 0)
end

--- The resource kind of a name: a CloudFormation type ("AWS::SQS::Queue")
-- or its snake name ("sqs_queue"), cached.
-- @return kind { name = snake name, type =, attributes =, tags = "list"|"map"|nil,
--   name_property =, name_max =, schema = the module's own checks (lake.types) | nil,
--   check = the module's whole-resource check, check(props) -> { { path =, msg = } } | nil,
--   generated = true when AWS's schema checks it } | nil, message
function M.kind(name)
  local kind = kinds[name]
  if kind then return kind end
  if type(name) ~= "string" then return nil, ("a resource kind is a string, got %s"):format(type(name)) end
  local snake = not name:find("::", 1, true) and name or nil
  local mod = snake and kind_module(snake)
  local typ
  if mod then
    typ = mod.type
  else
    local t, sn = schema.resolve(name)
    if not t then return nil, sn end
    typ, snake = t, sn
    if name:find("::", 1, true) and sn then mod = kind_module(sn) end
  end
  local data = schema.data(typ)
  -- a kind module decides tagging (nil: none), as it decides attributes
  local tags
  if mod then tags = mod.tags else tags = data and data.tags end
  kind = {
    name = snake or typ, type = typ, module = mod, generated = data ~= nil, tags = tags,
    name_property = mod and mod.name_property, name_max = mod and mod.name_max,
    attributes = (mod and mod.attributes) or (data and data.attributes) or {},
    fields = mod and mod.fields,
    check = mod and mod.check,
    schema = mod and (mod.schema or (mod.fields and types.object(mod.fields))),
  }
  kinds[name] = kind
  return kind
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
    warnings = {},
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

--- Records a warning about the user's input: printed as
-- "file:line: warning: key: message" by synth and validate, never failing them.
function App:warning(file, line, key, msg)
  local where = file or "app"
  if line then where = where .. ":" .. line end
  self.warnings[#self.warnings + 1] = where .. ": warning: " .. (key and (key .. ": ") or "") .. msg
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
    -- made by lakehost itself (storage, shared, a pipeline): see prop_problems
    lake_stack = library(debug.getinfo(2, "S").source),
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

-- Where a model call came from: the first frame outside lakehost's own Lua
-- (lua/lake, lua/resources), else its direct caller. { file =, line = }
local function user_frame(level)
  local first
  for l = level + 1, level + 24 do
    local info = debug.getinfo(l, "Sl")
    if not info then break end
    local src = info.source
    if src:sub(1, 1) == "@" then
      local here = { file = src:sub(2), line = info.currentline > 0 and info.currentline or nil }
      first = first or here
      if not library(src) then return here end
    end
  end
  return first or {}
end

-- Records a problem of a resource, where the user's code made it, or at
-- source { file =, line =, key = } when the resource was made from a
-- config file (a pipeline's config.yml): the resource then follows the message.
local function resource_problem(stack, id, path, msg, level, source)
  local key = stack.name .. " " .. tostring(id) .. (path ~= "" and ("." .. path) or "")
  if source then
    stack.app:problem(source.file, source.line, source.key, ("%s [%s]"):format(msg, key))
    return
  end
  local at = user_frame(level + 1)
  stack.app:problem(at.file, at.line, key, msg)
end

-- A resource that is not in its stack (its declaration was refused and
-- recorded): references to it are accepted, so one mistake is reported once.
local function detached(stack, id, kind, props)
  return setmetatable({ stack = stack, logical_id = tostring(id), kind = kind or { type = "?", attributes = {} },
    props = props or {}, depends = {}, tags = {}, detached = true }, Resource)
end

-- Whether AWS's schema decides what a kind module's message is about: the
-- schema says which properties exist, and a type, enum or requirement it
-- states itself is its to check (a module's list can be older than AWS's).
-- The module's other checks (lengths, bounds, patterns, and what the
-- schema does not state) stand on top of the schema's.
local function schema_decides(typ, path, msg)
  if msg:find("^unknown property") then return true end
  if msg:find("^is required") then
    local parent, key = path:match("^(.*)%.([^.]+)$")
    if not parent then parent, key = "", path end
    local node = parent == "" and schema.data(typ) or schema.node(typ, parent)
    return node ~= nil and node.required ~= nil and util.contains(node.required, key)
  end
  local node = schema.node(typ, path)
  if not node then return false end
  if msg:find("^expected one of ") then return node.enum ~= nil end
  if msg:find("^expected [%w ]+, got ") then return node.type ~= nil end
  return false
end

-- Problems of props: the kind module's own checks where the schema does
-- not decide (their messages are the more specific), and AWS's schema's
-- for every path the module did not fault. The resources of the stacks
-- lakehost makes itself (storage, shared, pipelines) get the module's
-- checks only: the specs check every one of them against the schemas
-- (spec/lake/own_resources_spec.lua), and a 100-pipeline lake spares 12 ms.
local function prop_problems(kind, props, lake_stack)
  local errs, seen = {}, {}
  -- what no single field says: sizes over several (lake.limits); the
  -- schema's length of the same property says less
  if kind.check then
    for _, e in ipairs(kind.check(props)) do
      errs[#errs + 1] = { path = e.path, msg = e.msg, whole = true }
      seen[e.path] = true
    end
  end
  if kind.schema then
    local own = {}
    types.check_fields(kind.schema, props, "", own)
    for _, text in ipairs(own) do
      local path, msg = text:match("^(.-): (.*)$")
      if not path then path, msg = "", text end
      if not (kind.generated and schema_decides(kind.type, path, msg)) then
        errs[#errs + 1] = { path = path, msg = msg }
        seen[path] = true
      end
    end
  end
  if kind.generated and not (lake_stack and kind.schema) then
    for _, e in ipairs(schema.check(kind.type, props)) do
      if not seen[e.path] then errs[#errs + 1] = e end
    end
  end
  -- by path: the schema walks tables in pairs order, which varies from run to run
  table.sort(errs, function(a, b)
    if a.path ~= b.path then return a.path < b.path end
    return a.msg < b.msg
  end)
  return errs
end

-- Logical ids: letters and digits, at most 255.
local function valid_id(id) return type(id) == "string" and id:match("^[A-Za-z0-9]+$") ~= nil and #id <= 255 end

--- Adds a resource. A kind, id or property that is wrong is recorded as a
-- problem (the resource is then kept out of the stack, or kept with its
-- properties as given) and the script goes on, so every mistake is found.
-- @param kind_name string a CloudFormation type ("AWS::SQS::Queue") or its snake name ("sqs_queue")
-- @param id string logical id (letters and digits)
-- @param props table CloudFormation properties (may hold tokens)
-- @param opts table|nil { depends_on = {res...}, deletion_policy=, update_replace_policy=, tags = {K=V},
--   source = { file =, line =, key = } where the kind's whole-resource problems (kind.check: sizes) are
--   reported (a config file's key) instead of the calling Lua line }
-- @return the resource
function Stack:add(kind_name, id, props, opts)
  if props ~= nil and type(props) ~= "table" then
    error(("stack:add: properties must be a table, got %s"):format(type(props)), 2)
  end
  local kind, err = M.kind(kind_name)
  if not kind then
    resource_problem(self, id, "", err, 2)
    return detached(self, id, nil, props)
  end
  if not valid_id(id) then
    resource_problem(self, id, "", "invalid logical id: letters and digits only, at most 255", 2)
    return detached(self, id, kind, props)
  end
  if self.by_id[id] then
    resource_problem(self, id, "", ("the stack already has a resource '%s'"):format(id), 2)
    return detached(self, id, kind, props)
  end
  props = props or {}
  opts = opts or {}
  for _, e in ipairs(prop_problems(kind, props, self.lake_stack)) do
    -- a size over several properties is the source's doing; a property's own problem is the code's
    resource_problem(self, id, e.path, ("%s (%s)"):format(e.msg, kind.type), 2, e.whole and opts.source or nil)
  end
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

--- { Fn::GetAtt = [id, name] }; an attribute the type lacks is recorded as
-- a problem (the token is returned all the same).
function Resource:attr(name)
  local ok = false
  for _, a in ipairs(self.kind.attributes or {}) do
    if a == name then ok = true break end
  end
  if not ok and not self.detached then
    local attrs = self.kind.attributes or {}
    resource_problem(self.stack, self.logical_id, "", ("%s has no attribute '%s'%s (it has: %s)"):format(
      self.kind.type, tostring(name), util.suggest(tostring(name), attrs),
      #attrs > 0 and table.concat(attrs, ", ") or "none"), 2)
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


--- Records why a rule of AWS's rule packs does not apply to this resource,
-- in the Metadata form cdk-nag reads (cdk_nag.rules_to_suppress), so an
-- auditor running the packs over the template sees the reason.
-- @param rule string a rule id ("AwsSolutions-IAM5", "HIPAA.Security-...")
-- @param reason string at least a sentence saying why
-- @param applies_to array|token|nil the findings it covers ("Resource::*"), all when nil; a
--   token is resolved to the array when the template is made
function Resource:suppress(rule, reason, applies_to)
  if type(rule) ~= "string" or rule == "" then error("suppress expects a rule id", 2) end
  if type(reason) ~= "string" or #reason < 10 then
    error(("suppress %s: give a reason of at least a sentence"):format(rule), 2)
  end
  self.metadata = self.metadata or {}
  local nag = self.metadata.cdk_nag or {}
  self.metadata.cdk_nag = nag
  local list = nag.rules_to_suppress or setmetatable({}, json.array_mt)
  nag.rules_to_suppress = list
  local entry = { id = rule, reason = reason }
  if token.is(applies_to) then
    entry.applies_to = applies_to -- worked out when the template is made (lake.nag)
  elseif applies_to then
    entry.applies_to = setmetatable(applies_to, json.array_mt)
  end
  list[#list + 1] = entry
  return self
end

return M
