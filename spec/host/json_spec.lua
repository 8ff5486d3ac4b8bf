local json = require("host.json")
local yaml = require("host.yaml")
local util = require("spec.support.util")

local function fixture(name)
  local f = assert(io.open("spec/fixtures/" .. name, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function decode(text, name)
  local v, err = json.decode(text, name)
  assert(v ~= nil, err)
  return v
end

local function decode_err(text, name)
  local v, err = json.decode(text, name)
  assert.is_nil(v)
  return err
end

-- The message json.encode raises for v.
local function encode_err(v, opts)
  local ok, err = pcall(json.encode, v, opts)
  assert.is_false(ok)
  return err
end

describe("host.json #unit", function()
  describe("encode", function()
    it("sorts object keys by bytes", function()
      assert.equal('{"A":1,"B":2,"_":3,"a":4,"b":5,"é":6}', json.encode({ b = 5, a = 4, B = 2, A = 1, _ = 3, ["é"] = 6 }))
      assert.equal('{"":0,"a":1,"a\\u0000":2,"a\\u0000b":3,"a\\u0001":4,"ab":5}',
        json.encode({ ab = 5, ["a\0b"] = 3, a = 1, ["a\1"] = 4, ["a\0"] = 2, [""] = 0 }))
      assert.equal('{"a":{"x":1,"y":[{"m":1,"n":2}]},"b":null}',
        json.encode({ b = json.null, a = { y = { { n = 2, m = 1 } }, x = 1 } }))
    end)

    it("sorts the keys of objects of every size, few and many", function()
      -- few keys are sorted in place, many by qsort: both in byte order
      local alphabet = { "a", "b", "ab", "ba", "a\0", "A", "_", "é", "z", "aa", "b\1", "" }
      local seed = 7
      local function rand(n)
        seed = (seed * 1103515245 + 12345) % 2147483648
        return seed % n + 1
      end
      for size = 1, 40 do
        local t, keys = {}, {}
        while #keys < size do
          local k = alphabet[rand(#alphabet)] .. alphabet[rand(#alphabet)] .. rand(50)
          if t[k] == nil then
            t[k] = #keys
            keys[#keys + 1] = k
          end
        end
        table.sort(keys) -- byte order: lakehost runs in the C locale
        local got, pos = {}, 1
        local text = json.encode(t)
        for _, k in ipairs(keys) do
          local at = text:find(json.encode(k) .. ":", pos, true)
          assert.is_truthy(at, ("size %d: %q out of order in %s"):format(size, k, text))
          got[#got + 1] = k
          pos = at + 1
        end
        assert.same(keys, got)
        assert.same(t, json.decode(text))
      end
    end)

    it("is deterministic for tables built in different orders", function()
      local a, b = {}, {}
      for i = 1, 500 do a["k" .. i] = i end
      for i = 500, 1, -1 do b["k" .. i] = i end
      assert.equal(json.encode(a), json.encode(b))
    end)

    local numbers = {
      { 0, "0" }, { -0.0, "0" }, { 1, "1" }, { -42, "-42" }, { 3.0, "3" }, { -7.0, "-7" },
      { math.maxinteger, "9223372036854775807" }, { math.mininteger, "-9223372036854775808" },
      { 2.0 ^ 53 - 1, "9007199254740991" }, { 2.0 ^ 53, "9007199254740992" },
      { 2.0 ^ 63, "9.223372036854776e+18" }, { 1e20, "1e+20" }, { 1e300, "1e+300" },
      { 1.5, "1.5" }, { 0.1, "0.1" }, { -0.25, "-0.25" }, { 1 / 3, "0.3333333333333333" },
      { 0.1 + 0.2, "0.30000000000000004" }, { 1e-7, "1e-07" }, { 123.456, "123.456" },
      { 5e-324, "4.9406564584125e-324" }, { 1.7976931348623157e308, "1.7976931348623157e+308" },
      { 2.5e-3, "0.0025" },
    }
    for _, c in ipairs(numbers) do
      it(("encodes the %s %s as %s"):format(math.type(c[1]), tostring(c[1]), c[2]), function()
        assert.equal(c[2], json.encode(c[1]))
        assert.equal(c[1], decode(c[2]))
      end)
    end

    it("escapes quotes, backslashes and control characters but not / or UTF-8", function()
      assert.equal([["a\"b\\c/d"]], json.encode('a"b\\c/d'))
      assert.equal([["\b\f\n\r\t\u0000\u0001\u001f"]], json.encode("\b\f\n\r\t\0\1\31"))
      assert.equal('"\127 é € 😀"', json.encode("\127 é € 😀"))
      assert.equal('"\u{10FFFF}"', json.encode("\u{10FFFF}"))
    end)

    it("escapes every special byte wherever it falls in a run of plain ones", function()
      -- the encoder skips plain bytes eight at a time: each special byte at
      -- every offset of strings of every length around that width
      local escaped = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\0"] = "\\u0000",
        ["\31"] = "\\u001f", ["\127"] = "\127", [" "] = " ", ["!"] = "!", ["#"] = "#", ["["] = "[",
        ["]"] = "]", ["~"] = "~", ["é"] = "é" }
      for len = 1, 20 do
        for at = 1, len do
          for c, want in pairs(escaped) do
            local s = ("a"):rep(at - 1) .. c .. ("b"):rep(len - at)
            local expect = '"' .. ("a"):rep(at - 1) .. want .. ("b"):rep(len - at) .. '"'
            assert.equal(expect, json.encode(s))
            assert.equal(s, json.decode(expect))
          end
          local bad = ("a"):rep(at - 1) .. "\xff" .. ("b"):rep(len - at)
          assert.is_false((pcall(json.encode, bad)))
        end
      end
    end)

    it("encodes booleans and null", function()
      assert.equal("[true,false,null]", json.encode({ true, false, json.null }))
      assert.equal("null", json.encode(json.null))
    end)

    it("tells empty arrays from empty objects", function()
      assert.equal("{}", json.encode({}))
      assert.equal("[]", json.encode(json.array()))
      assert.equal("{}", json.encode(json.object()))
      assert.equal('{"a":[],"b":{}}', json.encode({ a = json.array({}), b = {} }))
      assert.equal("[1,2]", json.encode({ 1, 2 }))
      assert.equal("[1,2]", json.encode(json.array({ 1, 2 })))
      -- nested empty tables of no json kind are objects too
      local v = { a = json.array(), b = json.object(), c = { 1 }, d = { x = {} } }
      assert.equal('{"a":[],"b":{},"c":[1],"d":{"x":{}}}', json.encode(v))
    end)

    it("prints pretty output like json.dumps(indent=2, sort_keys=True)", function()
      local v = {
        name = "x", list = { 1, 2.5, { a = json.null } }, empty_a = json.array(), empty_o = {},
        nested = { deep = { deeper = { "é" } } }, flag = true,
      }
      local expected = table.concat({
        "{",
        '  "empty_a": [],',
        '  "empty_o": {},',
        '  "flag": true,',
        '  "list": [',
        "    1,",
        "    2.5,",
        "    {",
        '      "a": null',
        "    }",
        "  ],",
        '  "name": "x",',
        '  "nested": {',
        '    "deep": {',
        '      "deeper": [',
        '        "é"',
        "      ]",
        "    }",
        "  }",
        "}",
      }, "\n")
      assert.equal(expected, json.encode(v, { pretty = true }))
      assert.equal(expected, json.encode(v, { pretty = true, indent = 2, sort = true }))
      assert.equal('{\n    "a": [\n        1\n    ]\n}', json.encode({ a = { 1 } }, { pretty = true, indent = 4 }))
      assert.equal('{\n"a": [\n1\n]\n}', json.encode({ a = { 1 } }, { pretty = true, indent = 0 }))
      assert.equal('{"a":[1]}', json.encode({ a = { 1 } }, { pretty = false, indent = 4 }))
      assert.equal("[]", json.encode(json.array(), { pretty = true }))
    end)

    it("matches python3's json.dumps(indent=2, sort_keys=True) byte for byte", function()
      local text = fixture("json/template.json")
      local path = util.tmpfile(text, ".json")
      local p = assert(io.popen("python3 -c 'import json,sys; sys.stdout.write(json.dumps(json.load(open(sys.argv[1])),"
        .. " indent=2, sort_keys=True, ensure_ascii=False))' " .. util.shquote(path)))
      local py = p:read("a")
      p:close()
      os.remove(path)
      assert.equal(text, py)
      assert.equal(text, json.encode(decode(text), { pretty = true }))
    end)

    it("raises with the path for unencodable values", function()
      assert.equal("json: cannot encode table with mixed or sparse keys (at $.Resources.MyBucket.Properties[2])",
        encode_err({ Resources = { MyBucket = { Properties = { {}, { 1, x = 2 } } } } }))
      assert.equal("json: cannot encode table with mixed or sparse keys (at $.a)", encode_err({ a = { 1, nil, 3 } }))
      assert.equal("json: cannot encode table with mixed or sparse keys (at $)", encode_err({ [0] = 1 }))
      assert.equal("json: cannot encode table with mixed or sparse keys (at $)", encode_err({ [1.5] = 1 }))
      assert.equal("json: cannot encode table with mixed or sparse keys (at $)", encode_err({ [true] = 1 }))
      assert.equal("json: cannot encode table with mixed or sparse keys (at $.x)", encode_err({ x = json.array({ a = 1 }) }))
      assert.equal("json: object keys must be strings (at $.o)", encode_err({ o = json.object({ 1, 2 }) }))
      assert.equal("json: cannot encode function (at $.a.b[2].c)", encode_err({ a = { b = { 1, { c = print } } } }))
      assert.equal("json: cannot encode thread (at $[1])", encode_err({ coroutine.create(print) }))
      assert.equal("json: cannot encode userdata (at $.f)", encode_err({ f = io.stdout }))
      assert.equal('json: cannot encode NaN (at $["my key"]["a.b"][1])', encode_err({ ["my key"] = { ["a.b"] = { 0 / 0 } } }))
      assert.equal("json: cannot encode infinity (at $.x)", encode_err({ x = math.huge }))
      assert.equal("json: cannot encode infinity (at $.x)", encode_err({ x = -math.huge }))
      assert.equal("json: invalid UTF-8 in string (at $.s)", encode_err({ s = "ok\xff" }))
      assert.equal('json: invalid UTF-8 in string (at $["\\u0001\\"k"])', encode_err({ ["\1\"k"] = "\xc0\x80" }))
      assert.equal("json: invalid UTF-8 in key (at $.a)", encode_err({ a = { ["bad\xed\xa0\x80"] = 1 } }))
      assert.equal("json: invalid UTF-8 in string (at $[1])", encode_err({ "\xf4\x90\x80\x80" }))
      assert.equal("json: cannot encode nil (at $)", encode_err(nil))
    end)

    it("raises on reference cycles and on nesting deeper than 1000", function()
      local t = { a = {} }
      t.a.b = { t }
      assert.equal("json: reference cycle (at $.a.b[1])", encode_err(t))
      local s = {}
      s[1] = s
      assert.equal("json: reference cycle (at $[1])", encode_err(s))
      -- the path outgrows its first allocation (16 levels) and is still whole
      local top = {}
      local at = top
      for i = 1, 40 do
        at["k" .. i] = {}
        at = at["k" .. i]
      end
      at.back = top
      local want = {}
      for i = 1, 40 do want[#want + 1] = ".k" .. i end
      assert.equal("json: reference cycle (at $" .. table.concat(want) .. ".back)", encode_err(top))
      local deep = {}
      local node = deep
      for _ = 1, 1000 do
        node[1] = {}
        node = node[1]
      end
      local msg = encode_err(deep)
      assert.equal("json: nesting too deep (at $" .. ("[1]"):rep(1000) .. ")", msg)
      local ok = {}
      node = ok
      for _ = 1, 999 do
        node[1] = {}
        node = node[1]
      end
      assert.equal(("["):rep(999) .. "{}" .. ("]"):rep(999), json.encode(ok))
    end)

    it("encodes shared (acyclic) tables each time they appear", function()
      local shared = { 1 }
      assert.equal('{"a":[1],"b":[1]}', json.encode({ a = shared, b = shared }))
    end)

    it("encodes tables with a metatable of their own as opts.replace makes them", function()
      local Tok = {}
      local a, b = setmetatable({ name = "a" }, Tok), setmetatable({ name = "b" }, Tok)
      local seen = {}
      local function replace(t)
        seen[#seen + 1] = t.name
        return t.name == "a" and ("<" .. t.name .. ">") or { ref = t.name, list = json.array() }
      end
      local v = { x = a, y = json.array { b, 1, a }, z = json.object(), w = { 1 } }
      assert.equal('{"w":[1],"x":"<a>","y":[{"list":[],"ref":"b"},1,"<a>"],"z":{}}',
        json.encode(v, { replace = replace }))
      assert.same({ "a", "b", "a" }, seen) -- in key order; array/object tables are not asked
      -- what replace returns is not asked again at its own level
      assert.equal('{"x":{"name":"a"}}', json.encode({ x = a }, { replace = function(t) return t end }))
      local ok, err = pcall(json.encode, { x = { a } }, { replace = function() return nil end })
      assert.is_false(ok)
      assert.equal("json: opts.replace gave nil (at $.x[1])", err)
      ok, err = pcall(json.encode, { x = a }, { replace = function() error("no way", 0) end })
      assert.is_false(ok)
      assert.equal("no way", err)
      assert.has_error(function() json.encode({}, { replace = "x" }) end)
      -- without replace, such a table is encoded as it is
      assert.equal('{"b":{"name":"b"}}', json.encode({ b = b }))
    end)

    it("ends the text with a newline when asked (newline = true)", function()
      assert.equal('{"a":1}\n', json.encode({ a = 1 }, { newline = true }))
      assert.equal('{\n  "a": [\n    1\n  ]\n}\n', json.encode({ a = { 1 } }, { pretty = true, newline = true }))
      assert.equal('"x"', json.encode("x", { newline = false }))
      assert.has_error(function() json.encode({}, { newline = "yes" }) end)
      assert.equal(1, select("#", json.encode({ a = 1 }))) -- the text alone
    end)

    it("raises on bad arguments and options", function()
      assert.has_error(function() json.encode() end)
      assert.has_error(function() json.encode({}, 1) end)
      assert.has_error(function() json.encode({}, { pretty = 1 }) end)
      assert.has_error(function() json.encode({}, { indent = 17 }) end)
      assert.has_error(function() json.encode({}, { indent = 1.5 }) end)
      assert.has_error(function() json.encode({}, { sort = "yes" }) end)
      local ok, err = pcall(json.encode, {}, { colour = true })
      assert.is_false(ok)
      assert.matches("unknown option 'colour'", err, 1, true)
      -- options of the removed worker-era encoder are unknown like any other
      for _, name in ipairs({ "field", "plain_empty", "hash_mark", "hash_tail" }) do
        ok, err = pcall(json.encode, {}, { [name] = "0" })
        assert.is_false(ok)
        assert.matches("unknown option '" .. name .. "'", err, 1, true)
      end
    end)
  end)

  describe("decode", function()
    it("decodes objects, arrays and scalars with their metatables", function()
      local v = decode('{"a": [1, 2.5, "x", true, false, null], "b": {}, "c": []}')
      assert.same({ a = { 1, 2.5, "x", true, false, json.null }, b = {}, c = {} }, v)
      assert.equal(json.object_mt, getmetatable(v))
      assert.equal(json.array_mt, getmetatable(v.a))
      assert.equal(json.object_mt, getmetatable(v.b))
      assert.equal(json.array_mt, getmetatable(v.c))
      assert.equal(6, #v.a)
    end)

    it("keeps integers as integers and big numbers as floats", function()
      local v = decode(fixture("json/numbers.json"))
      local types = {}
      for i, x in ipairs(v) do types[i] = math.type(x) end
      assert.same({ "integer", "integer", "integer", "integer", "integer", "integer", "integer",
        "float", "float", "float", "float", "float", "float", "float", "float" }, types)
      assert.equal(9007199254740993, v[5])
      assert.equal(math.maxinteger, v[6])
      assert.equal(math.mininteger, v[7])
      assert.equal(2.0 ^ 63, v[8])
      assert.equal(100.0, v[11])
      assert.equal(5e-324, v[15])
    end)

    it("decodes escapes and UTF-8", function()
      local v = decode(fixture("json/unicode.json"))
      assert.equal("café € 😀", v.text)
      assert.equal("a\0b", v.nul)
      assert.equal('"\\/\b\f\n\r\t', v.escapes)
      assert.equal("😀 é", v.raw)
    end)

    it("keeps the last of duplicate keys and skips a UTF-8 BOM", function()
      assert.same({ a = 2 }, decode('{"a":1,"a":2}'))
      assert.same({ 1 }, decode("\xEF\xBB\xBF [1] "))
    end)

    it("decodes containers of every size around the items it gathers before making a table", function()
      for _, n in ipairs({ 1, 15, 16, 17, 31, 32, 33, 100 }) do
        local items, pairs_, want_arr, want_obj = {}, {}, {}, {}
        for i = 1, n do
          items[i] = tostring(i)
          pairs_[i] = ('"k%d":[%d,{"i":%d}]'):format(i, i, i)
          want_arr[i] = i
          want_obj["k" .. i] = { i, { i = i } }
        end
        local arr = decode("[" .. table.concat(items, ",") .. "]")
        assert.same(want_arr, arr)
        assert.equal(n, #arr)
        assert.equal(json.array_mt, getmetatable(arr))
        local obj = decode("{" .. table.concat(pairs_, ",") .. "}")
        assert.same(want_obj, obj)
        assert.equal(json.object_mt, getmetatable(obj))
        -- a duplicate in a later group than the first still wins
        assert.same(0, decode("{" .. table.concat(pairs_, ",") .. ',"k1":0}').k1)
        -- an error after some groups is still reported where it is
        local v, err = json.decode("[" .. table.concat(items, ",") .. ",]")
        assert.is_nil(v)
        assert.matches("^json:1:%d+: expected value", err)
      end
    end)

    it("equals cjson's reading of the same documents", function()
      local cjson = require("cjson")
      for _, name in ipairs({ "json/template.json", "json/unicode.json" }) do
        local text = fixture(name)
        assert.same(cjson.decode(text), decode(text))
      end
      assert.equal(cjson.null, json.null)
    end)

    it("reports errors with name, line and column", function()
      local cases = {
        { "", "json:1:1: expected value, found end of input" },
        { "   \n  ", "json:2:3: expected value, found end of input" },
        { "[1,\n2,]", "json:2:3: expected value, found ']'" },
        { '{"a" 1}', "json:1:6: expected ':', found '1'" },
        { '{"a":1,}', "json:1:8: expected string key, found '}'" },
        { "{1:2}", "json:1:2: expected string key, found '1'" },
        { "[1 2]", "json:1:4: expected ',' or ']', found '2'" },
        { '{"a":1 "b":2}', "json:1:8: expected ',' or '}', found '\"'" },
        { "[1", "json:1:3: expected ',' or ']', found end of input" },
        { '"abc', "json:1:1: unterminated string" },
        { '["ab\\', "json:1:2: unterminated string" },
        { '"a\nb"', "json:1:3: control character in string" },
        { '"\\x"', "json:1:2: invalid escape" },
        { '"\\u12G4"', "json:1:2: invalid \\u escape" },
        { '"\\ud800"', "json:1:2: lone surrogate in \\u escape" },
        { '"\\udc00\\ud800"', "json:1:2: lone surrogate in \\u escape" },
        { '"\\ud800\\u0041"', "json:1:2: lone surrogate in \\u escape" },
        { '"é\xff"', "json:1:3: invalid UTF-8" },
        { '"\xc0\x80"', "json:1:2: invalid UTF-8" },
        { '"\xed\xa0\x80"', "json:1:2: invalid UTF-8" },
        { "[1] x", "json:1:5: unexpected 'x' after the value" },
        { "{} {}", "json:1:4: unexpected '{' after the value" },
        { "01", "json:1:2: unexpected '1' after the value" },
        { "-", "json:1:1: invalid number" },
        { "1.", "json:1:1: invalid number" },
        { ".5", "json:1:1: expected value, found '.'" },
        { "1e", "json:1:1: invalid number" },
        { "+1", "json:1:1: expected value, found '+'" },
        { "0x10", "json:1:2: unexpected 'x' after the value" },
        { "NaN", "json:1:1: expected value, found 'N'" },
        { "Infinity", "json:1:1: expected value, found 'I'" },
        { "1e400", "json:1:1: number out of range" },
        { "tru", "json:1:1: expected value, found 't'" },
        { "nul", "json:1:1: expected value, found 'n'" },
        { "[\0]", "json:1:2: expected value, found byte 0x00" },
        { "\xff", "json:1:1: expected value, found byte 0xFF" },
        { '{"é": "ü", "x":: 1}', "json:1:16: expected value, found ':'" },
      }
      for _, c in ipairs(cases) do
        assert.equal(c[2], decode_err(c[1]), c[1])
      end
      assert.equal("t.json:3:5: expected value, found '}'", decode_err('{\n "a":\n    }', "t.json"))
    end)

    it("refuses nesting deeper than 1000", function()
      assert.equal("json:1:1001: nesting too deep", decode_err(("["):rep(100000)))
      assert.equal("json:1:5001: nesting too deep", decode_err(('{"a":'):rep(1001) .. "1" .. ("}"):rep(1001)))
      local v = decode(("["):rep(1000) .. ("]"):rep(1000))
      assert.equal("table", type(v))
    end)

    it("raises on wrong argument types", function()
      assert.has_error(function() json.decode() end)
      assert.has_error(function() json.decode({}) end)
      assert.has_error(function() json.decode(1) end)
      assert.has_error(function() json.decode("1", 2) end)
    end)
  end)

  describe("json.array and json.object", function()
    it("mark a given table or a new one", function()
      local t = { 1 }
      assert.equal(t, json.array(t))
      assert.equal(json.array_mt, getmetatable(t))
      assert.equal(json.object_mt, getmetatable(json.object()))
      assert.equal(json.array_mt, getmetatable(json.array(nil)))
      assert.has_error(function() json.array(1) end)
      assert.has_error(function() json.object("x") end)
    end)

    it("share their metatables with host.yaml", function()
      assert.equal(json.array_mt, getmetatable((yaml.load("[]"))))
      assert.equal(json.object_mt, getmetatable((yaml.load("{}"))))
      assert.equal(json.array_mt, debug.getregistry()["lakehost.json.array"])
      assert.equal(json.object_mt, debug.getregistry()["lakehost.json.object"])
    end)
  end)

  describe("round trips", function()
    local function same_kind(a, b)
      assert.equal(type(a), type(b))
      if type(a) == "table" then
        assert.equal(getmetatable(a), getmetatable(b))
        for k, v in pairs(a) do same_kind(v, b[k]) end
        for k in pairs(b) do assert.is_not_nil(a[k]) end
      else
        assert.equal(a, b)
        if type(a) == "number" then assert.equal(math.type(a), math.type(b)) end
      end
    end

    it("decode(encode(v)) equals v", function()
      local v = json.object({
        s = "text \0 é\n", i = 7, f = 2.5, big = math.mininteger, t = true, n = json.null,
        a = json.array({ 1, json.array(), json.object(), json.array({ "x" }) }), o = json.object({ k = json.array() }),
      })
      same_kind(v, decode(json.encode(v)))
      same_kind(v, decode(json.encode(v, { pretty = true })))
    end)

    it("encode(decode(text)) gives back canonical text", function()
      for _, name in ipairs({ "json/template.json", "json/unicode.json", "json/numbers.json" }) do
        local text = fixture(name)
        local once = json.encode(decode(text))
        assert.equal(once, json.encode(decode(once)))
      end
      assert.equal(fixture("json/template.json"), json.encode(decode(fixture("json/template.json")), { pretty = true }))
    end)

    it("carries YAML through to JSON", function()
      local v = yaml.load(fixture("yaml/anchors.yml"))
      assert.equal('{"defaults":{"memory_size":128,"tags":["etl","raw"],"timeout_seconds":60},'
        .. '"glue":{"glue_version":"pythonshell","timeout_minutes":30},'
        .. '"steps":{"First":{"memory_size":256,"tags":["etl","raw"],"timeout_seconds":60},'
        .. '"Second":{"glue_version":"pythonshell","memory_size":128,"tags":["etl","raw"],"timeout_minutes":10,"timeout_seconds":60},'
        .. '"Third":{"tags":["etl","raw"]}}}', json.encode(v))
      local p = yaml.load(fixture("yaml/pipeline.yml"))
      same_kind(p, decode(json.encode(p)))
      local e = yaml.load("a: []\nb: {}\nc: ~\nd: [{}, []]\n")
      assert.equal('{"a":[],"b":{},"c":null,"d":[{},[]]}', json.encode(e))
    end)

    it("handles a large document", function()
      local resources = {}
      for i = 1, 20000 do
        resources["Bucket" .. i] = {
          Type = "AWS::S3::Bucket",
          Properties = { BucketName = "bucket-" .. i, Tags = { { Key = "n", Value = tostring(i) } }, Size = i * 1.5 },
        }
      end
      local text = json.encode({ Resources = resources }, { pretty = true })
      assert.is_true(#text > 5 * 1000 * 1000)
      local back = decode(text)
      assert.equal("bucket-20000", back.Resources.Bucket20000.Properties.BucketName)
      assert.equal(text, json.encode(back, { pretty = true }))
    end)
  end)
end)
