-- Every resource kind under lua/resources: well-formed declarations, and
-- (when cfn-lint is installed) property names, enums, required keys and
-- attributes checked against CloudFormation's resource schemas.
local app_mod = require("lake.app")
local util = require("spec.support.util")

local KINDS = {}
do
  local p = assert(io.popen("ls lua/resources"))
  for f in p:lines() do
    local name = f:match("^([%w_]+)%.lua$")
    if name then KINDS[#KINDS + 1] = name end
  end
  p:close()
end

-- "TYPE\tPATH\tKIND\tREQUIRED\tENUM" lines for a kind, depth first.
local function field_lines(kind, out)
  local function walk(obj, prefix)
    for _, name in ipairs(obj.order) do
      local typ = obj.fields[name]
      local path = prefix .. name
      local inner = typ
      while inner.kind == "list" do path, inner = path .. "[]", inner.of end
      out[#out + 1] = table.concat({ kind.type, path, inner.kind, typ.required and "1" or "0",
        inner.kind == "enum" and table.concat(inner.values, ",") or "" }, "\t")
      if inner.kind == "object" then walk(inner, path .. ".") end
    end
  end
  walk(kind.schema, "")
  for _, a in ipairs(kind.attributes) do out[#out + 1] = kind.type .. "\t@attr\t" .. a end
end

describe("resource kinds #unit", function()
  it("finds the lake's kinds", function()
    assert.is_true(#KINDS >= 22)
  end)

  for _, name in ipairs(KINDS) do
    it(name .. " is declared in the house style", function()
      local kind = assert(app_mod.kind(name))
      assert.matches("^AWS::%w+::%w+$", kind.type)
      assert.is_table(kind.fields)
      assert.is_table(kind.attributes)
      assert.is_true(kind.tags == nil or kind.tags == "list" or kind.tags == "map")
      for i, f in ipairs(kind.fields) do
        local k, v = next(f)
        assert.equal(nil, next(f, k), name .. ": fields[" .. i .. "] has more than one key")
        assert.matches("^%u%w+$", k)
        assert.is_function(v.check)
      end
      if kind.tags then assert.is_table(kind.schema.fields.Tags, name .. " tags without a Tags field") end
      if kind.name_property then
        assert.is_table(kind.schema.fields[kind.name_property])
        assert.is_number(kind.name_max)
      end
    end)
  end

  it("matches CloudFormation's resource schemas (cfn-lint's copy)", function()
    if os.execute("python3 -c 'import cfnlint' 2>/dev/null") ~= true then
      error("cfn-lint is not installed (pip install cfn-lint): cannot check the kinds against the schemas")
    end
    local lines = {}
    for _, name in ipairs(KINDS) do field_lines(assert(app_mod.kind(name)), lines) end
    local input = util.tmpfile(table.concat(lines, "\n") .. "\n")
    local p = assert(io.popen("python3 spec/resources/cfn_schema_check.py < " .. util.shquote(input)))
    local out = p:read("a")
    local ok = p:close()
    os.remove(input)
    assert.is_true(ok)
    assert.equal("", (out:gsub("%s+$", "")))
  end)
end)
