local yaml = require("host.yaml")
local json = require("host.json")

local function fixture(name)
  local f = assert(io.open("spec/fixtures/yaml/" .. name, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Loads text that must parse; fails the test with the error otherwise.
local function load(text, name)
  local v, marks = yaml.load(text, name)
  assert(v ~= nil, marks)
  return v, marks
end

-- The error message of text that must not parse.
local function load_err(text, name)
  local v, err = yaml.load(text, name)
  assert.is_nil(v)
  assert.equal("string", type(err))
  return err
end

describe("host.yaml #unit", function()
  describe("structure", function()
    it("loads block mappings and sequences", function()
      local v = load(fixture("pipeline.yml"))
      assert.equal("pipeline_example", v.name)
      assert.same({ origin = "raw", target = "trusted" }, v.layers)
      assert.equal("example/", v.triggers[1].s3.prefix)
      assert.same({ "example_source" }, v.triggers[2].event_rule.source)
      assert.equal("1.0.0", v.tags.version)
      assert.equal(60, v.steps.RouteFile.properties.timeout_seconds)
      assert.equal("type2", v.steps.RouteChoice.properties.choices[2].equals)
      assert.equal(2, #v.steps.RouteChoice.properties.choices)
    end)

    it("loads flow mappings and sequences", function()
      local v = load("{a: [1, 2, {b: c}], 'q k': \"d\", e: [], f: {}}")
      assert.same({ a = { 1, 2, { b = "c" } }, ["q k"] = "d", e = {}, f = {} }, v)
    end)

    it("marks sequences as JSON arrays and mappings as JSON objects", function()
      local v = load("a: []\nb: {}\nc: [x]\n")
      assert.equal(json.object_mt, getmetatable(v))
      assert.equal(json.array_mt, getmetatable(v.a))
      assert.equal(json.object_mt, getmetatable(v.b))
      assert.equal(json.array_mt, getmetatable(v.c))
      assert.equal('{"a":[],"b":{},"c":["x"]}', json.encode(v))
    end)

    it("takes keys as their text", function()
      local v = load("1: a\ntrue: b\n~: c\n'x': d\n1.50: e\n? f\n: g\n")
      assert.same({ ["1"] = "a", ["true"] = "b", ["~"] = "c", x = "d", ["1.50"] = "e", f = "g" }, v)
    end)

    it("keeps null values as the null sentinel, present in the table", function()
      local v = load("a:\nb: ~\n")
      assert.equal(yaml.null, v.a)
      assert.equal(yaml.null, v.b)
      assert.equal(json.null, yaml.null)
      assert.equal(require("cjson").null, yaml.null)
    end)

    it("returns null and empty marks for empty documents", function()
      for _, text in ipairs({ "", "# only a comment\n", "---\n", "---\n...\n", "\n\n" }) do
        local v, marks = yaml.load(text)
        assert.equal(yaml.null, v)
        assert.same({}, marks)
      end
    end)

    it("loads a top-level scalar", function()
      assert.equal(42, (load("42")))
      assert.equal("hello", (load("--- hello\n...\n")))
    end)

    it("names the default source 'yaml'", function()
      assert.equal("yaml:1:4: unknown alias 'x'", load_err("a: *x"))
    end)
  end)

  describe("multi-line strings", function()
    it("handles literal and folded blocks with chomping", function()
      local v = load(fixture("blocks.yml"))
      assert.equal("line one\nline two\n", v.literal)
      assert.equal("stripped", v.literal_strip)
      assert.equal("kept\n\n", v.literal_keep)
      assert.equal("folded text\nnew paragraph\n", v.folded)
      assert.equal("a b", v.folded_strip)
      assert.equal("  two extra spaces\n", v.indented)
      assert.same({ a = { 1, 2, { b = "c" } }, ["quoted key"] = "single 'quoted'" }, v.flow)
    end)

    it("folds multi-line plain and quoted scalars", function()
      local v = load('a: one\n  two\nb: "x\n  y\\n"\nc: \'p\n\n  q\'\n')
      assert.equal("one two", v.a)
      assert.equal("x y\n", v.b)
      assert.equal("p\nq", v.c)
    end)

    it("keeps block scalars as strings whatever they look like", function()
      local v = load("a: |-\n  42\nb: >-\n  true\n")
      assert.equal("42", v.a)
      assert.equal("true", v.b)
    end)

    it("decodes double-quoted escapes, NUL included", function()
      assert.equal("a\0b\t\u{e9}\u{1F600}", (load('"a\\0b\\t\\u00e9\\U0001F600"')))
    end)
  end)

  describe("plain scalar resolution (YAML 1.2 core schema)", function()
    local cases = {
      { "~", yaml.null }, { "null", yaml.null }, { "Null", yaml.null }, { "NULL", yaml.null },
      { "true", true }, { "True", true }, { "TRUE", true },
      { "false", false }, { "False", false }, { "FALSE", false },
      { "0", 0, "integer" }, { "42", 42, "integer" }, { "-17", -17, "integer" },
      { "+5", 5, "integer" }, { "007", 7, "integer" }, { "0x1F", 31, "integer" },
      { "0xff", 255, "integer" }, { "-0x10", -16, "integer" }, { "0o17", 15, "integer" },
      { "+0o7", 7, "integer" },
      { "9223372036854775807", math.maxinteger, "integer" },
      { "-9223372036854775808", math.mininteger, "integer" },
      { "9223372036854775808", 9223372036854775808.0, "float" },
      { "123456789012345678901234567890", 1.2345678901234568e29, "float" },
      { "0x10000000000000000", 2.0 ^ 64, "float" },
      { "1.5", 1.5, "float" }, { "-0.25", -0.25, "float" }, { ".5", 0.5, "float" },
      { "1.", 1.0, "float" }, { "1e3", 1000.0, "float" }, { "6.02E+23", 6.02e23, "float" },
      { "+1.5e-3", 1.5e-3, "float" },
      { ".inf", math.huge, "float" }, { "-.Inf", -math.huge, "float" }, { "+.INF", math.huge, "float" },
      { "yes", "yes" }, { "no", "no" }, { "on", "on" }, { "y", "y" }, { "tRue", "tRue" },
      { "nULL", "nULL" }, { "0b101", "0b101" }, { "1_000", "1_000" }, { "0x", "0x" },
      { "0o8", "0o8" }, { "1e", "1e" }, { ".", "." }, { "-a", "-a" }, { "+", "+" },
      { "1.2.3", "1.2.3" }, { "12:30", "12:30" }, { "2001-12-14", "2001-12-14" },
      { ".nan.", ".nan." }, { "-.nan", "-.nan" }, { "0x1p3", "0x1p3" }, { "inf", "inf" },
      { "nan", "nan" }, { "1 2", "1 2" },
    }
    for _, c in ipairs(cases) do
      it(("resolves %q"):format(c[1]), function()
        local v = load("v: " .. c[1] .. "\n").v
        assert.equal(c[2], v)
        if c[3] then assert.equal(c[3], math.type(v)) end
        if type(c[2]) == "string" then assert.equal("string", type(v)) end
      end)
    end

    it("resolves .nan, .NaN and .NAN to NaN", function()
      for _, s in ipairs({ ".nan", ".NaN", ".NAN" }) do
        local v = load("v: " .. s).v
        assert.is_true(v ~= v)
      end
    end)

    it("keeps quoted scalars as strings", function()
      local v = load("a: '42'\nb: \"true\"\nc: '~'\nd: \"\"\ne: ''\n")
      assert.same({ a = "42", b = "true", c = "~", d = "", e = "" }, v)
    end)
  end)

  describe("tags", function()
    it("honours the core tags", function()
      local v = load(table.concat({
        "a: !!str 42", "b: !!int '12'", "c: !!int 0x10", "d: !!float 3", "e: !!float '.inf'",
        "f: !!bool 'false'", "g: !!null ''", "h: !!str", "i: ! 12", "j: !!map {x: 1}",
        "k: !!seq [1]", "l: !!float 2.5", "m: !<tag:yaml.org,2002:int> '7'",
      }, "\n"))
      assert.equal("42", v.a)
      assert.equal(12, v.b)
      assert.equal("integer", math.type(v.b))
      assert.equal(16, v.c)
      assert.equal(3.0, v.d)
      assert.equal("float", math.type(v.d))
      assert.equal(math.huge, v.e)
      assert.equal(false, v.f)
      assert.equal(yaml.null, v.g)
      assert.equal("", v.h)
      assert.equal("12", v.i)
      assert.same({ x = 1 }, v.j)
      assert.same({ 1 }, v.k)
      assert.equal(2.5, v.l)
      assert.equal(7, v.m)
    end)

    it("refuses unknown tags", function()
      assert.equal("t.yml:2:4: unsupported tag '!foo'", load_err("a: 1\nb: !foo 1\n", "t.yml"))
      assert.equal("yaml:1:4: unsupported tag '!!binary'", load_err("a: !!binary aGk="))
      assert.equal("yaml:1:4: unsupported tag '!!set'", load_err("a: !!set {x}"))
      assert.equal("yaml:1:4: unsupported tag '!!seq'", load_err("a: !!seq {x: 1}"))
      assert.equal("yaml:1:4: unsupported tag '!!map'", load_err("a: !!map [1]"))
      assert.equal("yaml:1:1: unsupported tag '!k'", load_err("!k a: 1"))
      assert.equal("yaml:1:4: unsupported tag 'tag:example.com,2000:x'",
        load_err("a: !<tag:example.com,2000:x> 1"))
    end)

    it("refuses values that do not fit their tag", function()
      assert.equal("yaml:1:4: invalid !!int value 'abc'", load_err("a: !!int abc"))
      assert.equal("yaml:1:4: invalid !!int value '1.5'", load_err("a: !!int 1.5"))
      assert.equal("yaml:1:4: invalid !!float value 'x'", load_err("a: !!float x"))
      assert.equal("yaml:1:4: invalid !!bool value 'yes'", load_err("a: !!bool yes"))
      assert.equal("yaml:1:4: invalid !!null value '0'", load_err("a: !!null 0"))
    end)
  end)

  describe("anchors and aliases", function()
    it("gives an alias the same table, not a copy", function()
      local v = load("a: &x {k: [1, 2]}\nb: *x\nc: [*x, *x]\n")
      assert.equal(v.a, v.b)
      assert.equal(v.a, v.c[1])
      assert.equal(v.a, v.c[2])
      assert.same({ k = { 1, 2 } }, v.b)
    end)

    it("resolves scalar anchors to their value and key aliases to their text", function()
      local v = load("a: &n 5\nb: *n\n&k key: 1\nm:\n  *k : 2\n  *n : 3\n")
      assert.equal(5, v.b)
      assert.same({ key = 2, ["5"] = 3 }, v.m)
    end)

    it("lets a later anchor of the same name win", function()
      assert.same({ a = 1, b = 2, c = 2 }, load("a: &x 1\nb: &x 2\nc: *x\n"))
    end)

    it("does not expand exponentially (billion laughs)", function()
      local lines = { "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]" }
      for i = 1, 40 do
        local p = "*a" .. (i - 1)
        lines[#lines + 1] = ("a%d: &a%d [%s, %s, %s, %s, %s, %s, %s, %s, %s]"):format(i, i, p, p, p, p, p, p, p, p, p)
      end
      local v = load(table.concat(lines, "\n"))
      assert.equal(v.a39, v.a40[9])
      local node = v.a40
      for _ = 1, 41 do node = node[1] end
      assert.equal("lol", node)
    end)

    it("refuses unknown and recursive aliases", function()
      assert.equal("c.yml:2:4: unknown alias 'x'", load_err("a: 1\nb: *x\n", "c.yml"))
      assert.equal("yaml:1:8: recursive alias 'a'", load_err("a: &a [*a]"))
      assert.equal("yaml:2:6: recursive alias 'm'", load_err("a: &m\n  b: *m\n"))
    end)
  end)

  describe("merge keys", function()
    it("merges one mapping or a list of mappings; explicit keys win", function()
      local v = load(fixture("anchors.yml"))
      assert.same({ timeout_seconds = 60, memory_size = 256, tags = { "etl", "raw" } }, v.steps.First)
      assert.same({
        glue_version = "pythonshell", timeout_minutes = 10, timeout_seconds = 60,
        memory_size = 128, tags = { "etl", "raw" },
      }, v.steps.Second)
      assert.equal(v.defaults.tags, v.steps.Third.tags)
      assert.equal(v.defaults.tags, v.steps.First.tags)
      assert.is_nil(v.steps.First["<<"])
    end)

    it("lets explicit keys win even when written before <<, and earlier merges over later", function()
      local v = load("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc: {x: 0, <<: [*a, *b]}\n")
      assert.same({ x = 0, y = 1, z = 2 }, v.c)
    end)

    it("accepts an inline mapping and nested merges", function()
      local v = load("a: &a {<<: {p: 1}, q: 2}\nb:\n  <<: *a\n  r: 3\n")
      assert.same({ p = 1, q = 2, r = 3 }, v.b)
    end)

    it("treats a quoted << as an ordinary key", function()
      assert.same({ ["<<"] = 1 }, load("'<<': 1"))
    end)

    it("refuses merge values that are not mappings", function()
      local msg = "merge value must be a mapping or a sequence of mappings"
      assert.equal("yaml:1:5: " .. msg, load_err("<<: 1"))
      assert.equal("yaml:1:5: " .. msg, load_err("<<: [{a: 1}, 2]"))
      assert.equal("yaml:2:5: " .. msg, load_err("a: &s [1]\n<<: *s"))
      assert.equal("yaml:2:1: duplicate key '<<' (first at line 1)", load_err("<<: {a: 1}\n<<: {b: 1}\n"))
    end)
  end)

  describe("marks", function()
    it("records the line and column of mappings and the line of their keys", function()
      local v, marks = load(fixture("pipeline.yml"))
      assert.same({ line = 1, col = 1 }, { line = marks[v].line, col = marks[v].col })
      assert.equal(1, marks[v].keys.name)
      assert.equal(27, marks[v].keys.steps)
      local steps = v.steps
      assert.equal(28, marks[steps].keys.RouteFile)
      assert.equal(35, marks[steps].keys.RouteChoice)
      local props = steps.RouteFile.properties
      -- a block mapping starts at its first key (or at its anchor or tag)
      assert.same({ line = 31, col = 7 }, { line = marks[props].line, col = marks[props].col })
      assert.equal(32, marks[props].keys.next_step)
    end)

    it("records the position of sequence items", function()
      local v, marks = load("list:\n  - a\n  -   b\n  - [x, 'y']\n")
      local m = marks[v.list]
      assert.equal(2, m.line)
      assert.equal(3, m.col)
      assert.same({ 2, 3, 4 }, m.items)
      assert.same({ line = 4, col = 5 }, { line = marks[v.list[3]].line, col = marks[v.list[3]].col })
      assert.same({ 4, 4 }, marks[v.list[3]].items)
      assert.is_nil(marks[v.list[3]].keys)
      assert.is_nil(marks[v].items)
    end)

    it("counts columns in characters, not bytes", function()
      local v, marks = load("é: {ü: 1, ö: 2}\né2: {ü: 1}\n")
      assert.same({ line = 1, col = 4 }, { line = marks[v["é"]].line, col = marks[v["é"]].col })
      assert.same({ line = 2, col = 5 }, { line = marks[v["é2"]].line, col = marks[v["é2"]].col })
      assert.equal(1, marks[v["é"]].keys["ö"])
    end)

    it("gives aliased containers the anchor's position, and merged keys their source's", function()
      local v, marks = load("a: &x\n  k: 1\nb: *x\nc:\n  <<: *x\n  j: 2\n")
      assert.equal(marks[v.a], marks[v.b])
      assert.same({ 1, 4 }, { marks[v.b].line, marks[v.b].col })
      assert.equal(2, marks[v.c].keys.k)
      assert.equal(6, marks[v.c].keys.j)
    end)

    it("is weak-keyed", function()
      local _, marks = load("a: [1]\nb: {c: 2}\n")
      assert.equal("k", getmetatable(marks).__mode)
    end)
  end)

  describe("refusals", function()
    it("refuses duplicate keys at the second key", function()
      assert.equal("p.yml:4:1: duplicate key 'steps' (first at line 2)",
        load_err("name: x\nsteps: 1\nother: 2\nsteps: 3\n", "p.yml"))
      assert.equal("yaml:3:3: duplicate key 'b' (first at line 2)", load_err("a:\n  b: 1\n  b: 2\n"))
      assert.equal("yaml:1:8: duplicate key '1' (first at line 1)", load_err("{1: a, '1': b}"))
      assert.equal("yaml:3:1: duplicate key 'k' (first at line 1)", load_err("&k k: 1\nx: 2\n*k : 3\n"))
    end)

    it("refuses non-scalar keys", function()
      assert.equal("yaml:1:3: mapping key must be a scalar", load_err("? [1]\n: 2\n"))
      assert.equal("yaml:1:2: mapping key must be a scalar", load_err("{{a: 1}: 2}"))
      assert.equal("yaml:2:1: mapping key must be a scalar", load_err("a: &m {x: 1}\n*m : 2\n"))
    end)

    it("refuses more than one document", function()
      assert.equal("yaml:2:1: more than one document", load_err("a: 1\n---\nb: 2\n"))
      assert.equal("yaml:3:1: more than one document", load_err("--- 1\n...\n--- 2\n"))
    end)

    it("refuses nesting deeper than 512", function()
      assert.equal("yaml:1:513: nesting too deep", load_err(("["):rep(10000)))
      assert.equal("yaml:1:2049: nesting too deep", load_err(("{a: "):rep(600) .. "1" .. ("}"):rep(600)))
      local ok = ("["):rep(512) .. ("]"):rep(512)
      assert.equal("table", type(load(ok)))
      assert.equal("yaml:1:513: nesting too deep", load_err(("["):rep(513) .. ("]"):rep(513)))
    end)

    it("reports libyaml's syntax errors with their position", function()
      assert.equal("yaml:1:8: found unexpected end of stream (while scanning a quoted scalar started at 1:4)",
        load_err('a: "abc'))
      assert.equal("yaml:3:1: found unexpected end of stream (while scanning a quoted scalar started at 1:4)",
        load_err("a: 'abc\n  def\n"))
      assert.equal("yaml:3:2: did not find expected key (while parsing a block mapping started at 1:1)",
        load_err("a:\n  b: 1\n c: 2\n"))
      assert.equal("yaml:2:1: found character that cannot start any token (while scanning for the next token)",
        load_err("a:\n\tb: 1\n"))
      assert.equal("yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence started at 1:4)",
        load_err("a: [1, 2\n"))
      assert.equal("yaml:2:1: did not find expected '-' indicator (while parsing a block collection started at 1:1)",
        load_err("- a\nb: 1\n"))
      assert.equal("yaml:1:5: mapping values are not allowed in this context", load_err("a: b: c"))
      assert.equal("yaml:1:1: found undefined tag handle (while parsing a node)", load_err("!e!x 1"))
    end)

    it("refuses invalid UTF-8, NUL bytes and control characters with a position", function()
      assert.equal("yaml:2:6: invalid leading UTF-8 octet (0xFF)", load_err("a: 1\nb: xx\xff\n"))
      assert.equal("yaml:1:5: invalid trailing UTF-8 octet (0x41)", load_err("a: \xc3A"))
      assert.equal("yaml:1:4: incomplete UTF-8 octet sequence", load_err("a: \xe2\x82"))
      assert.equal("yaml:1:6: control characters are not allowed (0x0)", load_err("a: 'x\0'"))
      assert.equal("yaml:1:3: control characters are not allowed (0x1)", load_err("a:\1"))
    end)

    it("refuses truncated input at every cut without crashing", function()
      local text = fixture("anchors.yml") .. fixture("blocks.yml"):gsub("\nliteral:", "\nliteral2:")
      local refused = 0
      for cut = 1, #text do
        local v, err = yaml.load(text:sub(1, cut))
        if v == nil then
          refused = refused + 1
          assert.matches("^yaml:%d+:%d+: ", err)
        end
      end
      assert.is_true(refused > 0)
    end)
  end)

  describe("size", function()
    it("loads a 20 MB document", function()
      local item = "  - name: %d\n    text: " .. ("x"):rep(180) .. "\n"
      local parts = { "items:\n" }
      for i = 1, 100000 do parts[#parts + 1] = item:format(i) end
      local text = table.concat(parts)
      assert.is_true(#text > 20 * 1000 * 1000)
      local v, marks = load(text)
      assert.equal(100000, #v.items)
      assert.equal(100000, v.items[100000].name)
      assert.equal(200000, marks[v.items].items[100000])
    end)
  end)

  describe("misuse", function()
    it("raises on wrong argument types", function()
      assert.has_error(function() yaml.load() end)
      assert.has_error(function() yaml.load({}) end)
      assert.has_error(function() yaml.load(12) end)
      assert.has_error(function() yaml.load("a: 1", 5) end)
      assert.has_error(function() yaml.load("a: 1", {}) end)
    end)
  end)
end)
