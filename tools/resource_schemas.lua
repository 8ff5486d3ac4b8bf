--- Regenerates data/resources/ from the CloudFormation resource schemas
-- that cfn-lint ships (cfnlint/data/schemas: providers/<region>.py names
-- each type's schema file under resources/).
--
--   ./lakehost tools/resource_schemas.lua [--out DIR] [SCHEMAS_DIR]          write data/resources/
--   ./lakehost tools/resource_schemas.lua --check [--out DIR] [SCHEMAS_DIR]  compare, write nothing
--
-- SCHEMAS_DIR defaults to the installed cfn-lint's (found through python3).
-- --check exits 1 when the committed files differ from what this cfn-lint
-- gives, and 0 with a message when there is nothing to compare against (no
-- cfn-lint, or another version than the one the data was made from). It
-- never downloads anything.
--
-- Output: one file per service, data/resources/<Provider>-<Service>.json,
-- holding its types one per line, and index.json (the source, its version,
-- and each type's snake name: "sqs_queue" for AWS::SQS::Queue). A type's
-- schema keeps what lake.schema checks and drops the rest (descriptions,
-- formats, examples, defaults, identifiers, ...):
--   properties, definitions, required and the JSON Schema keywords of values
--   (type, $ref, enum, const, pattern, lengths, bounds, items, ...; oneOf /
--   anyOf / allOf whose alternatives still say something), cfn-lint's
--   requiredXor / requiredOr / dependentExcluded / dependentRequired,
--   attributes (readOnlyProperties as GetAtt names, "Endpoint.Address"),
--   read_only (the top-level properties a template may not set), create_only
--   (createOnlyProperties as dotted paths, "*" for any item: a change there
--   replaces the resource) and tags ("list" for Key/Value items, "map" for a
--   map, absent when untaggable).
local fs = require("host.fs")
local json = require("host.json")
local proc = require("host.proc")
local schema = require("lake.schema")

local OUT = "data/resources" -- or --out
local SOURCE = "cfn-lint"
local LICENSE = "MIT-0"

local function die(fmt, ...)
  io.stderr:write("resource_schemas: ", fmt:format(...), "\n")
  os.exit(1)
end

-- The installed cfn-lint: its schemas folder and version, or nil, why.
local function installed()
  local r = proc.run { argv = { "python3", "-c",
    "import cfnlint, os, importlib.metadata as m; print(os.path.dirname(cfnlint.__file__)); print(m.version('cfn-lint'))" },
    timeout = 60 }
  if not r or not r.ok then return nil, "cfn-lint is not installed for python3" end
  local dir, version = r.stdout:match("^([^\n]+)\n([^\n]+)")
  if not dir then return nil, "cannot read cfn-lint's location" end
  return dir .. "/data/schemas", version
end

-- The snake name of a type (AWS::EC2::VPCEndpoint -> ec2_vpc_endpoint), as
-- lakehost reads it.
local snake = schema.snake

-- Keywords of a value's schema that lake.schema reads.
local KEEP = {
  type = true, ["$ref"] = true, enum = true, const = true, pattern = true,
  minLength = true, maxLength = true, minimum = true, maximum = true,
  exclusiveMinimum = true, exclusiveMaximum = true, multipleOf = true,
  minItems = true, maxItems = true, minProperties = true, maxProperties = true,
  required = true, requiredXor = true, requiredOr = true,
  dependentExcluded = true, dependentRequired = true, dependencies = true,
  properties = true, patternProperties = true, additionalProperties = true, items = true,
  oneOf = true, anyOf = true, allOf = true,
}

local compact

-- An array of alternatives: nil when one of them says nothing (the value
-- then always matches it, so the keyword checks nothing).
local function alternatives(list)
  local out = {}
  for i, alt in ipairs(list) do
    local c = compact(alt)
    if next(c) == nil then return nil end
    out[i] = c
  end
  return json.array(out)
end

local function map_of_schemas(t)
  local out = {}
  for k, v in pairs(t) do out[k] = compact(v) end
  return json.object(out)
end

function compact(s)
  if type(s) ~= "table" then return s end
  local out = {}
  for k, v in pairs(s) do
    if KEEP[k] then
      if k == "properties" or k == "patternProperties" then
        out[k] = map_of_schemas(v)
      elseif k == "items" or (k == "additionalProperties" and type(v) == "table") then
        out[k] = compact(v)
      elseif k == "oneOf" or k == "anyOf" or k == "allOf" then
        out[k] = alternatives(v)
      elseif k == "dependencies" then
        local d = {}
        for name, x in pairs(v) do d[name] = (type(x) == "table" and #x == 0 and next(x)) and compact(x) or x end
        out[k] = json.object(d)
      else
        out[k] = v
      end
    end
  end
  return json.object(out)
end

-- "/properties/Endpoint/Address" -> "Endpoint.Address"
local function attribute(path)
  local rest = path:match("^/properties/(.+)$")
  if not rest or rest:find("*", 1, true) then return nil end
  return (rest:gsub("/", "."))
end

local function tags_mode(s)
  local tagging = s.tagging
  if type(tagging) ~= "table" or tagging.taggable == false then return nil end
  local prop = (tagging.tagProperty or "/properties/Tags"):match("^/properties/([^/]+)$")
  local p = prop and s.properties and s.properties[prop]
  if not p then return nil end
  if p["$ref"] then p = s.definitions and s.definitions[p["$ref"]:match("[^/]+$")] or p end
  if p.type == "array" then return prop == "Tags" and "list" or nil end
  if p.type == "object" then return prop == "Tags" and "map" or nil end
  return nil
end

-- One type's schema as data/resources keeps it.
local function resource(s)
  local out = {}
  out.properties = map_of_schemas(s.properties or {})
  if s.definitions then out.definitions = map_of_schemas(s.definitions) end
  for _, k in ipairs({ "required", "requiredXor", "requiredOr", "dependentExcluded", "dependentRequired" }) do
    out[k] = s[k]
  end
  for _, k in ipairs({ "oneOf", "anyOf", "allOf" }) do
    if s[k] then out[k] = alternatives(s[k]) end
  end
  local attrs, read_only = {}, {}
  for _, path in ipairs(s.readOnlyProperties or {}) do
    local a = attribute(path)
    if a then
      attrs[#attrs + 1] = a
      if not a:find(".", 1, true) then read_only[#read_only + 1] = a end
    end
  end
  table.sort(attrs)
  table.sort(read_only)
  out.attributes = json.array(attrs)
  if #read_only > 0 then out.read_only = json.array(read_only) end
  local create_only = {}
  for _, path in ipairs(s.createOnlyProperties or {}) do
    local rest = path:match("^/properties/(.+)$")
    if rest then create_only[#create_only + 1] = (rest:gsub("/", ".")) end
  end
  table.sort(create_only)
  if #create_only > 0 then out.create_only = json.array(create_only) end
  out.tags = tags_mode(s)
  return json.object(out)
end

-- Every type the providers name, with the file of its schema (us-east-1's
-- where it has the type, else the first region's that has it).
local function types_of(dir)
  local files = fs.glob(dir .. "/providers/*.py") or {}
  table.sort(files, function(a, b)
    local ua, ub = a:find("us_east_1.py", 1, true), b:find("us_east_1.py", 1, true)
    if ua ~= ub then return ua ~= nil end
    return a < b
  end)
  local found, n = {}, 0
  for _, f in ipairs(files) do
    for typ, hash in (assert(fs.read(f))):gmatch('"([%w]+::[%w]+::[%w]+)": "(%x+)"') do
      if not found[typ] then
        found[typ] = hash
        n = n + 1
      end
    end
  end
  if n == 0 then die("no resource types under %s/providers", dir) end
  return found
end

-- The files of data/resources as text: { [name] = text }.
local function generate(dir, version)
  local files, index, by_service = {}, {}, {}
  local seen = {}
  for typ, hash in pairs(types_of(dir)) do
    local text = fs.read(("%s/resources/%s.json"):format(dir, hash))
    if not text then die("no schema file %s.json for %s", hash, typ) end
    local s = assert(json.decode(text, hash .. ".json"))
    local service = typ:match("^([^:]+::[^:]+)::")
    by_service[service] = by_service[service] or {}
    by_service[service][typ] = resource(s)
    local sn = snake(typ)
    if seen[sn] then die("%s and %s have the same snake name %s", seen[sn], typ, sn) end
    seen[sn] = typ
    index[sn] = typ
  end
  local services = {}
  for service in pairs(by_service) do services[#services + 1] = service end
  table.sort(services)
  for _, service in ipairs(services) do
    local lines, names = {}, {}
    for typ in pairs(by_service[service]) do names[#names + 1] = typ end
    table.sort(names)
    for i, typ in ipairs(names) do
      lines[i] = json.encode(typ) .. ":" .. json.encode(by_service[service][typ])
    end
    files[(service:gsub("::", "-")) .. ".json"] = "{\n" .. table.concat(lines, ",\n") .. "\n}\n"
  end
  local snakes, lines = {}, {}
  for sn in pairs(index) do snakes[#snakes + 1] = sn end
  table.sort(snakes)
  for i, sn in ipairs(snakes) do lines[i] = json.encode(sn) .. ":" .. json.encode(index[sn]) end
  files["index.json"] = ('{\n"source":%s,\n"version":%s,\n"license":%s,\n"types":%d,\n"snake":{\n%s\n}\n}\n')
    :format(json.encode(SOURCE), json.encode(version), json.encode(LICENSE), #snakes, table.concat(lines, ",\n"))
  files["NOTICE"] = table.concat({
    "The files of this folder are generated by tools/resource_schemas.lua from the",
    "AWS CloudFormation resource provider schemas as cfn-lint " .. version .. " ships them",
    "(cfnlint/data/schemas: providers/*.py and resources/*.json), keeping the",
    "keywords lakehost checks. cfn-lint: https://github.com/aws-cloudformation/cfn-lint,",
    "Copyright Amazon.com, Inc. or its affiliates, MIT No Attribution (MIT-0).",
    "", }, "\n")
  return files, #snakes, #services
end

local args, check = {}, false
local i = 1
while arg[i] do
  local a = arg[i]
  if a == "--check" then
    check = true
  elseif a == "--out" then
    OUT = arg[i + 1] or die("--out needs a folder")
    i = i + 1
  else
    args[#args + 1] = a
  end
  i = i + 1
end

local dir, version = args[1]
if dir then
  version = (fs.read(dir .. "/../../version.py") or ""):match('__version__%s*=%s*"([^"]+)"') or "unknown"
else
  dir, version = installed()
  if not dir then
    if check then
      print(("resource_schemas: %s; %s not compared"):format(version, OUT))
      os.exit(0)
    end
    die("%s (or give the schemas folder)", version)
  end
end

if check then
  local committed = fs.read(OUT .. "/index.json")
  local have = committed and committed:match('"version":"([^"]+)"')
  if have ~= version then
    print(("resource_schemas: %s was made from cfn-lint %s, this machine has %s; not compared")
      :format(OUT, tostring(have), version))
    os.exit(0)
  end
end

local files, ntypes, nservices = generate(dir, version)
if check then
  local bad = {}
  for name, text in pairs(files) do
    if fs.read(OUT .. "/" .. name) ~= text then bad[#bad + 1] = name end
  end
  for _, path in ipairs(fs.glob(OUT .. "/*") or {}) do
    if not files[path:match("[^/]+$")] then bad[#bad + 1] = path:match("[^/]+$") .. " (not generated)" end
  end
  table.sort(bad)
  if #bad > 0 then die("%s differs from cfn-lint %s's schemas: %s (run tools/resource_schemas.lua)", OUT, version,
    table.concat(bad, ", ")) end
  print(("resource_schemas: %s matches cfn-lint %s (%d types, %d services)"):format(OUT, version, ntypes, nservices))
  os.exit(0)
end

assert(fs.mkdir_p(OUT))
for _, path in ipairs(fs.glob(OUT .. "/*") or {}) do
  if not files[path:match("[^/]+$")] then assert(fs.remove(path)) end
end
local bytes = 0
for name, text in pairs(files) do
  assert(fs.write(OUT .. "/" .. name, text))
  bytes = bytes + #text
end
print(("resource_schemas: %d types of %d services from cfn-lint %s, %d bytes in %s/"):format(ntypes, nservices, version,
  bytes, OUT))
