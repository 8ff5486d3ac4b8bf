-- luacheck: max line length 200
local json = require("host.json")
local jsonpath = require("lake.states.jsonpath")
local value = require("lake.states.value")

local function doc()
  return json.decode([[{
    "foo": 123,
    "bar": ["a", "b", "c"],
    "car": {"cdr": true, "nil": null},
    "odd key": {"it's": 1},
    "error-info": "x",
    "store": {"book": [{"title": "A", "price": 8}, {"title": "B", "price": 12}]}
  }]])
end

describe("lake.states.jsonpath #unit", function()
  describe("get", function()
    -- the reference-path examples of "Paths" in the Step Functions developer guide
    it("reads the documented reference paths ($.foo, $.bar, $.car.cdr)", function()
      local d = doc()
      assert.equal(123, jsonpath.get(d, "$.foo"))
      assert.same({ "a", "b", "c" }, jsonpath.get(d, "$.bar"))
      assert.equal(true, jsonpath.get(d, "$.car.cdr"))
    end)

    it("returns the whole document for $", function()
      local d = doc()
      assert.equal(d, jsonpath.get(d, "$"))
    end)

    it("indexes arrays from 0 and walks nested arrays of objects", function()
      local d = doc()
      assert.equal("a", jsonpath.get(d, "$.bar[0]"))
      assert.equal("c", jsonpath.get(d, "$.bar[2]"))
      assert.equal("B", jsonpath.get(d, "$.store.book[1].title"))
    end)

    it("reads fields in bracket notation, with quotes of either kind and escapes", function()
      local d = doc()
      assert.equal(1, jsonpath.get(d, "$['odd key']['it\\'s']"))
      assert.equal(1, jsonpath.get(d, '$["odd key"]["it\'s"]'))
      assert.equal(123, jsonpath.get(d, "$['foo']"))
      assert.equal("b", jsonpath.get(d, "$['bar'][1]"))
    end)

    it("accepts dashes in dot notation, as in the documented ResultPath $.error-info", function()
      assert.equal("x", jsonpath.get(doc(), "$.error-info"))
    end)

    it("returns JSON null for a field that holds null", function()
      assert.equal(json.null, jsonpath.get(doc(), "$.car.nil"))
    end)

    it("reads the length of an array with length()", function()
      assert.equal(3, jsonpath.get(doc(), "$.bar.length()"))
      assert.equal(2, jsonpath.get(doc(), "$.store.book.length()"))
    end)

    -- "Manipulate parameters in Step Functions workflows": $.a[0:2] on {"a": [1, 2, 3, 4]} is [1, 2]
    it("returns the selection of an indefinite path as an array (the documented $.a[0:2])", function()
      local d = json.decode('{"a": [1, 2, 3, 4]}')
      local v = jsonpath.get(d, "$.a[0:2]")
      assert.same({ 1, 2 }, v)
      assert.equal(json.array_mt, getmetatable(v))
    end)

    it("selects with wildcards, unions, slices and deep scans", function()
      local d = doc()
      assert.same({ "A", "B" }, jsonpath.get(d, "$.store.book[*].title"))
      assert.same({ 8, 12 }, jsonpath.get(d, "$..price"))
      assert.same({ "a", "c" }, jsonpath.get(d, "$.bar[0,2]"))
      assert.same({ "b", "c" }, jsonpath.get(d, "$.bar[1:]"))
      assert.same({ "a", "c" }, jsonpath.get(d, "$.bar[::2]"))
      assert.same({ true, json.null }, jsonpath.get(d, "$.car.*"))
      assert.same({ 123, { "a", "b", "c" } }, jsonpath.get(d, "$['foo','bar']"))
    end)

    it("returns an empty array when an indefinite path matches nothing", function()
      local v = jsonpath.get(doc(), "$.nothing[*]")
      assert.same({}, v)
      assert.equal(json.array_mt, getmetatable(v))
    end)

    -- refusals
    local missing = {
      { "$.nope", "$ has no field 'nope'" },
      { "$.car.none", "$.car has no field 'none'" },
      { "$.bar[3]", "$.bar has no index 3 (length 3)" },
      { "$.foo.x", "$.foo is a number, not an object" },
      { "$.car[0]", "$.car is an object, not an array" },
      { "$['odd key'].x.y", "$['odd key'] has no field 'x'" },
      { "$.car.nil.x", "$.car.nil is null, not an object" },
      { "$.car.length()", "$.car is an object; length() needs an array" },
    }
    for _, case in ipairs(missing) do
      it("says where a definite path stops: " .. case[1], function()
        local v, err = jsonpath.get(doc(), case[1])
        assert.is_nil(v)
        assert.equal(case[2], err)
      end)
    end
  end)

  describe("parse", function()
    local bad = {
      { "foo", "invalid JSONPath 'foo' at character 1: a path must start with '$'" },
      { "$.", "invalid JSONPath '$.' at character 3: expected a field name" },
      { "$.a[", "invalid JSONPath '$.a[' at character 5: missing ']'" },
      { "$.a[0", "invalid JSONPath '$.a[0' at character 6: expected ']'" },
      { "$.a['b]", "invalid JSONPath '$.a['b]' at character 5: unterminated string" },
      { "$.a[-1]", "invalid JSONPath '$.a[-1]' at character 5: negative array indexes are not supported" },
      { "$.a[?(@.x > 1)]", "invalid JSONPath '$.a[?(@.x > 1)]' at character 5: filter expressions ([?(...)]) are not supported" },
      { "$.a.max()", "invalid JSONPath '$.a.max()' at character 5: function max() is not supported (only length())" },
      { "$.a.length().b", "invalid JSONPath '$.a.length().b' at character 13: length() must be the last step" },
      { "$ .a", "invalid JSONPath '$ .a' at character 2: unexpected ' '" },
      { "$.a[x]", "invalid JSONPath '$.a[x]' at character 5: unexpected 'x' in brackets" },
      { "$.a[0::0]", "invalid JSONPath '$.a[0::0]' at character 8: slice step must not be 0" },
    }
    for _, case in ipairs(bad) do
      it("refuses " .. case[1], function()
        local p, err = jsonpath.parse(case[1])
        assert.is_nil(p)
        assert.equal(case[2], err)
        local v, gerr = jsonpath.get(doc(), case[1])
        assert.is_nil(v)
        assert.equal(case[2], gerr)
      end)
    end

    it("refuses a non-string path", function()
      assert.same({ nil, "a JSONPath must be a string" }, { jsonpath.parse(12) })
    end)

    it("tells reference paths, definite paths and context paths apart", function()
      local function flags(text)
        local p = assert(jsonpath.parse(text))
        return { p.reference, p.definite, p.context }
      end
      assert.same({ true, true, false }, flags("$"))
      assert.same({ true, true, false }, flags("$.a['b c'][2]"))
      assert.same({ false, true, false }, flags("$.a.length()"))
      assert.same({ false, false, false }, flags("$.a[*]"))
      assert.same({ false, false, false }, flags("$..a"))
      assert.same({ false, false, false }, flags("$.a[0:1]"))
      assert.same({ true, true, true }, flags("$$.Execution.Input"))
      assert.same({ true, true, true }, flags("$$"))
    end)

    it("parses a path once", function()
      assert.equal(jsonpath.parse("$.x.y"), jsonpath.parse("$.x.y"))
    end)
  end)

  describe("set", function()
    it("replaces the whole document for $", function()
      assert.equal("r", jsonpath.set(doc(), "$", "r"))
    end)

    it("adds a field, replaces a field and creates missing objects on the way", function()
      local d = json.decode('{"a": {"b": 1}, "list": [1, 2]}')
      assert.same({ a = { b = 1 }, list = { 1, 2 }, c = 3 }, jsonpath.set(d, "$.c", 3))
      assert.same({ a = { b = 9 }, list = { 1, 2 } }, jsonpath.set(d, "$.a.b", 9))
      assert.same({ a = { b = 1, x = { y = { z = true } } }, list = { 1, 2 } }, jsonpath.set(d, "$.a.x.y.z", true))
      assert.same({ a = { b = 1 }, list = { 1, "two" } }, jsonpath.set(d, "$.list[1]", "two"))
      assert.same({ a = { b = 1 }, list = { 1, 2 }, ["a b"] = 0 }, jsonpath.set(d, "$['a b']", 0))
    end)

    it("leaves the original document untouched and shares the untouched parts", function()
      local d = json.decode('{"a": {"b": 1}, "keep": {"k": 1}}')
      local out = jsonpath.set(d, "$.a.b", 2)
      assert.equal(1, d.a.b)
      assert.equal(2, out.a.b)
      assert.equal(d.keep, out.keep)
      assert.not_equal(d.a, out.a)
      assert.equal(json.object_mt, getmetatable(out.a))
    end)

    it("creates objects that encode as objects", function()
      local out = jsonpath.set(value.object(), "$.x.y", json.array())
      assert.equal('{"x":{"y":[]}}', json.encode(out))
    end)

    local refusals = {
      { '"text"', "$.a", "cannot set field 'a': $ is a string, not an object" },
      { '{"a": 1}', "$.a.b", "cannot set field 'b': $.a is a number, not an object" },
      { '{"a": [1]}', "$.a.b", "cannot set field 'b': $.a is an array, not an object" },
      { '{"a": [1]}', "$.a[1]", "cannot set index 1: $.a has length 1" },
      { '{"a": {}}', "$.a[0]", "cannot set index 0: $.a is an object, not an array" },
      { '{}', "$.a[0]", "cannot index into $.a: it does not exist" },
      { '{}', "$.a[*]", "'$.a[*]' is not a reference path (only .field, ['field'] and [index] steps)" },
      { '{}', "$$.Execution", "cannot set a value in the context object ('$$.Execution')" },
      { '{}', "a", "invalid JSONPath 'a' at character 1: a path must start with '$'" },
    }
    for _, case in ipairs(refusals) do
      it("refuses " .. case[2] .. " on " .. case[1], function()
        local out, err = jsonpath.set(json.decode(case[1]), case[2], 1)
        assert.is_nil(out)
        assert.equal(case[3], err)
      end)
    end
  end)
end)
