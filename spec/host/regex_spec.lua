local regex = require("host.regex")
local proc = require("host.proc")

-- The verdict of pattern p on subject s (raises if p does not compile).
local function test(p, s)
  local re, err = regex.compile(p)
  assert(re, err)
  return re:test(s)
end

-- Asserts that p matches every string of yes and none of no.
local function check(p, yes, no)
  local re = assert(regex.compile(p))
  for _, s in ipairs(yes or {}) do assert.is_true(re:test(s), string.format("%s should match %q", p, s)) end
  for _, s in ipairs(no or {}) do assert.is_false(re:test(s), string.format("%s should not match %q", p, s)) end
end

local EMOJI = "\u{1F600}" -- 4 bytes in UTF-8, a surrogate pair in UTF-16

describe("host.regex #unit", function()
  describe("compile", function()
    it("returns a regex that keeps its pattern", function()
      local re = regex.compile("^a+$")
      assert.equal("userdata", type(re))
      assert.equal("^a+$", re:pattern())
      assert.equal("lakehost.regex /^a+$/", tostring(re))
    end)

    it("returns PCRE2's message and the byte offset in the pattern as given", function()
      local cases = {
        { "a(b", "regex: missing closing parenthesis at offset 3" },
        { "[abc", "regex: missing terminating ] for character class at offset 4" },
        { "a{3,2}", "regex: numbers out of order in {} quantifier at offset 5" },
        { "*a", "regex: quantifier does not follow a repeatable item at offset 0" },
        { "[z-a]", "regex: range out of order in character class at offset 3" },
        { "(?<=a+)b", "regex: lookbehind assertion is not fixed length at offset 0" },
        -- after a rewritten \u escape and . the offset is still the source's
        { "\\u0041.(", "regex: missing closing parenthesis at offset 8" },
        { "\\u{110000}", "regex: character code point value in \\u{} is too large at offset 0" },
        { "(?x)a b", "regex: (?x) (extended mode) is not supported at offset 0" },
        { "a\\j", "regex: unrecognized character follows \\ at offset 2" },
        { "ab\255", "regex: UTF-8 error: illegal byte (0xfe or 0xff) at offset 2" },
      }
      for _, c in ipairs(cases) do
        local re, err = regex.compile(c[1])
        assert.is_nil(re, c[1])
        assert.equal(c[2], err)
      end
    end)

    it("raises on a pattern that is not a string", function()
      assert.error_matches(function() regex.compile() end, "bad argument #1 to '[%w.]*compile' %(string expected, got no value%)")
      assert.has_error(function() regex.compile({}) end)
      assert.has_error(function() regex.compile(true) end)
    end)
  end)

  describe("test", function()
    it("searches anywhere unless anchored, as JSON Schema's pattern does", function()
      check("b+", { "abbc", "b" }, { "", "ac" })
      check("^ab", { "abc" }, { "cab" })
      check("bc$", { "abc" }, { "bca" })
      check("^abc$", { "abc" }, { "abcd", "xabc", "ab" })
    end)

    it("anchors $ at the very end: not before a final newline (ECMAScript)", function()
      check("^[a-z]+$", { "abc" }, { "abc\n", "ab\nc" })
    end)

    it("reads classes, ranges and negation", function()
      check("^[a-zA-Z0-9_.-]+$", { "my_bucket.name-1", "A" }, { "", "a b", "a/b", "é" })
      check("^[^0-9]+$", { "abc", "é" }, { "a1" })
      check("^[-a]$", { "-", "a" }, { "b" })
      check("^[a-]$", { "-", "a" }, { "b" })
    end)

    it("knows \\d \\w \\s and their negations, ASCII for \\d and \\w as in ECMAScript", function()
      check("^\\d+$", { "0123456789" }, { "12a", "\u{663}" }) -- Arabic-Indic three
      check("^\\w+$", { "a_Z9" }, { "a-b", "é" })
      check("^\\D\\W\\S$", { "a-b" }, { "1-b", "aab", "a- " })
      -- \s is ECMAScript's: Unicode spaces and line terminators, U+FEFF included, U+0085 not
      check("^\\s+$", { " \t\n\r\v\f", "\u{A0}", "\u{2003}", "\u{2028}", "\u{3000}", "\u{FEFF}" },
        { "a", "\u{85}", "\u{200B}" })
      check("^\\S$", { "a", "\u{85}" }, { "\u{A0}", " " })
    end)

    it("reads \\S inside a class, alone and with other elements", function()
      check("^[\\S]+$", { "ab", EMOJI }, { "a b", "\u{A0}" })
      check("^[ \\S]+$", { "a b" }, { "a\tb", "a\u{A0}b" })
      check("^[^ \\S]$", { "\t", "\u{2028}" }, { " ", "a" })
      check("^[\\s\\S]$", { "a", "\n", EMOJI }, { "", "ab" })
      check("^[\\S\\p{Zs}]+$", { "a b", "a\u{A0}b" }, { "a\tb" })
      check("^[^\\S\\p{Zs}]$", { "\t" }, { " ", "a" })
      -- one class, not an alternation copied 2048 times: it compiles
      check("^[\\S]{1,2048}$", { string.rep("x", 2048) }, { string.rep("x", 2049) })
    end)

    it("repeats with {n}, {n,} and {n,m}", function()
      check("^a{3}$", { "aaa" }, { "aa", "aaaa" })
      check("^a{2,}$", { "aa", "aaaaa" }, { "a" })
      check("^\\d{1,3}$", { "1", "123" }, { "", "1234" })
      check("^x{,2}$", { "x{,2}" }, { "xx" }) -- not a quantifier in ECMAScript: literal
    end)

    it("reads alternation and groups", function()
      check("^(dev|stg|prd)$", { "dev", "prd" }, { "test", "devprd" })
      check("^(?:ab)+$", { "abab" }, { "aba" })
      check("^(\\w)\\1$", { "aa" }, { "ab" })
      check("^(?<x>a)\\k<x>$", { "aa" }, { "ab" })
    end)

    it("reads lookahead and lookbehind", function()
      local p = "^(?!aws:)[a-zA-Z+-=._:/]+$"
      check(p, { "owner", "awsx:y", "a:b" }, { "aws:tag", "" })
      check("^(?=.*\\d)[a-z0-9]+$", { "a1" }, { "ab" })
      check("^[a-z.]*(?<!\\.)$", { "a.b" }, { "a.b." })
    end)

    it("reads the patterns of AWS's resource schemas", function()
      check("^arn:aws[a-zA-Z-]*:iam::\\d{12}:role/.*$",
        { "arn:aws:iam::123456789012:role/my-role", "arn:aws-us-gov:iam::123456789012:role/" },
        { "arn:aws:iam::12345678901:role/x", "arn:aws:s3:::bucket" })
      check("^[\\w-.~]+$", { "a-b.c~d" }, { "a b" }) -- Annex B: \w next to - makes it literal
      check("^[%-\\d]+$", { "%-5" }, { "&" })
      check("^[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*$", { "Änderung 1", "a+b=c@d" }, { "a;b" })
      check("^[\\p{Graph}\\x20]*$", { "a b!" }, { "a\tb", "é" }) -- Java's POSIX name
      check("\\A[0-9a-fA-F]+\\Z", { "0ab1" }, { "0xg" }) -- Java's anchors, as PCRE2 reads them
      check("^(?s).+$", { "a\nb" }, { "" })
    end)

    it("takes \\uHHHH, \\u{H...}, \\xHH and \\U as ECMAScript does", function()
      check("^\\u0041\\u00e9$", { "Aé" }, { "A" })
      check("^\\u{1F600}$", { EMOJI }, { "x" })
      check("^\\x41\\x$", { "Ax" }, { "A" })
      check("^\\u$", { "u" }, {}) -- \u with no hex digits is "u"
      check("^\\U$", { "U" }, {})
    end)

    it("reads a surrogate pair as one code point, in a class range too", function()
      local xml_chars = "[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t\\n\\r]*"
      local anchored = "^" .. xml_chars .. "$"
      check(anchored, { "abc\t", EMOJI, "a\u{10FFFF}", "x\r\n", "" },
        { "\1", "a\0", "\u{FFFE}", "\u{FFFF}" })
      -- unanchored, the same class with * matches the empty string anywhere
      assert.is_true(test(xml_chars, "\1"))
      check("^\\uD83D\\uDE00+$", { EMOJI .. EMOJI }, { "\u{1F601}" })
    end)

    it("never matches a lone surrogate: a UTF-8 subject has none", function()
      check("^x\\uD800$", {}, { "x", "x\u{E000}" })
      check("^x\\uD800?$", { "x" }, {})
      check("^[\\uD800]*$", { "" }, { "a" })
      check("^[^\\uD800]$", { "a", EMOJI }, {})
      check("^[a-\\uDBFF]$", { "b", "\u{D7FF}" }, { "\u{E000}", "A" })
      check("^[\\uDC00-\\uE001]$", { "\u{E000}", "\u{E001}" }, { "\u{D7FF}", "\u{E002}" })
      -- AWS's pattern with misordered halves: the ranges stop at the surrogate block
      check("^[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDBFF-\\uDC00\\uDFFF]*$", { "abc", "\u{E000}" }, { EMOJI })
      -- JavaScript without the u flag would take two code units for an emoji here
      check("^[\\uD800-\\uDBFF][\\uDC00-\\uDFFF]$", {}, { EMOJI })
    end)

    it("matches . on anything but \\n, \\r, U+2028 and U+2029, everything inside (?s)", function()
      check("^.$", { "a", "\t", "\v", "\u{85}", EMOJI }, { "\n", "\r", "\u{2028}", "\u{2029}" })
      check("^(?s).$", { "\n", "\r", "\u{2028}" }, {})
      check("^(?s:.)(.)$", { "\na" }, { "\n\n" })
      check("^a\\.b$", { "a.b" }, { "axb" })
    end)

    it("reads [] as no character and [^] as any", function()
      check("^a[]?$", { "a" }, { "ab" })
      check("^[^]$", { "\n", EMOJI }, { "" })
    end)

    it("takes \\v as U+000B only and \\0 as NUL", function()
      check("^\\v$", { "\v" }, { "\n" })
      check("^a\\0b$", { "a\0b" }, { "ab" })
    end)

    it("is binary safe: NUL bytes are characters of the subject", function()
      check("^a.b$", { "a\0b" }, { "ab" })
      check("^[^\\x00]+$", { "abc" }, { "a\0c" })
      check("c", { "ab\0c" }, { "ab\0" })
    end)

    it("never matches a subject that is not UTF-8, and does not fail on it", function()
      local re = regex.compile(".*")
      for _, s in ipairs({ "\255", "ab\128", "\192\128", "\237\160\128", "\244\144\128\128", "\226\130" }) do
        assert.is_false(re:test(s), string.format("%q", s))
        assert.is_false(regex.compile("[^a]"):test(s))
      end
      assert.is_true(re:test("\226\130\172")) -- the euro sign, whole
    end)

    it("stops catastrophic backtracking with the error value, quickly", function()
      local re = regex.compile("(a+)+$")
      local t0 = proc.monotime()
      local ok, err = re:test(string.rep("a", 5000) .. "b")
      assert.is_nil(ok)
      assert.equal("regex: match limit exceeded", err)
      -- some 15 ms (PCRE2 is not instrumented under AddressSanitizer either)
      assert.is_true(proc.monotime() - t0 < 0.5, "took " .. (proc.monotime() - t0) .. " s")
      -- the same regex still works afterwards
      assert.is_true(re:test("aaa"))
      ok, err = regex.compile("^(a|a)*$"):test(string.rep("a", 40) .. "b")
      assert.is_nil(ok)
      assert.equal("regex: match limit exceeded", err)
    end)

    it("checks long subjects within the limits", function()
      local lines = {}
      for i = 1, 20000 do lines[i] = "line " .. i .. " of a script" end
      local text = table.concat(lines, "\n")
      assert.is_true(test("^[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t\\n\\r]*$", text))
      assert.is_true(test("^(.*[\\n\\r\\t\\f\\ ]?)*$", text))
      assert.is_true(test("^(?s).+$", text))
      assert.is_false(test("^[^\\n]*$", text))
    end)

    it("raises on a subject that is not a string", function()
      local re = regex.compile("a")
      assert.error_matches(function() re:test() end, "bad argument #1 to '[%w.]*test' %(string expected, got no value%)")
      assert.has_error(function() re:test({}) end)
      assert.has_error(function() re:test(nil) end)
      assert.has_error(function() re.test("a", "a") end)
      assert.is_true(regex.compile("^12$"):test(12)) -- a number is its string, as everywhere in Lua
    end)
  end)

  describe("lifetime", function()
    it("frees the compiled pattern on __close, and raises when used after", function()
      local re
      do
        local r <close> = regex.compile("a")
        re = r
        assert.is_true(r:test("a"))
      end
      assert.equal("lakehost.regex (closed)", tostring(re))
      assert.error_matches(function() re:test("a") end, "regex is closed")
      assert.error_matches(function() re:pattern() end, "regex is closed")
      getmetatable(re).__close(re) -- twice is harmless
    end)

    it("survives many compilations collected by the GC", function()
      for i = 1, 2000 do
        local re = regex.compile("^x" .. i .. "[a-z]*\\s?$")
        assert.is_true(re:test("x" .. i .. "abc"))
        if i % 3 == 0 then assert.is_nil((regex.compile("(" .. i))) end
      end
      collectgarbage()
      collectgarbage()
    end)
  end)
end)
