local xml = require("host.xml")

local function fixture(name)
  local f = assert(io.open("spec/fixtures/xml/" .. name, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Decodes text and fails the test with expat's message if it is refused.
local function decode(text)
  local root, err = xml.decode(text)
  assert(root, err)
  return root
end

local function refused(text)
  local root, err = xml.decode(text)
  assert.is_nil(root)
  return err
end

describe("host.xml #unit", function()
  describe("AWS responses", function()
    it("decodes a CloudFormation DescribeStacks response", function()
      local root = decode(fixture("describe_stacks.xml"))
      assert.equal("DescribeStacksResponse", root.name)
      assert.same({ xmlns = "http://cloudformation.amazonaws.com/doc/2010-05-15/" }, root.attrs)
      assert.equal(2, #root)
      local stacks = xml.children(xml.find(root, "DescribeStacksResult/Stacks"), "member")
      assert.equal(1, #stacks)
      local stack = stacks[1]
      assert.equal("lake-storage-stack-dev", xml.text(stack, "StackName"))
      assert.equal("UPDATE_COMPLETE", xml.text(stack, "StackStatus"))
      assert.equal("Buckets of the lake & their policies", xml.text(stack, "Description"))
      assert.equal("", xml.text(stack, "StackStatusReason"))
      assert.equal(0, #xml.child(stack, "NotificationARNs"))
      assert.equal("NOT_CHECKED", xml.text(stack, "DriftInformation/StackDriftStatus"))
      local caps = {}
      for _, m in ipairs(xml.children(xml.child(stack, "Capabilities"), "member")) do
        caps[#caps + 1] = m.text
      end
      assert.same({ "CAPABILITY_IAM", "CAPABILITY_NAMED_IAM" }, caps)
      local outputs = {}
      for _, m in ipairs(xml.children(xml.child(stack, "Outputs"), "member")) do
        outputs[xml.text(m, "OutputKey")] = xml.text(m, "OutputValue")
      end
      assert.same({
        RawBucket = "sales-raw-eu-west-1-123456789012-dev",
        StartPage = "http://example.com:80/index.html?a=1&b=2",
      }, outputs)
      assert.equal("b9b4b068-3a41-11e5-94eb-example", xml.text(root, "ResponseMetadata/RequestId"))
    end)

    it("decodes an STS GetCallerIdentity response", function()
      local root = decode(fixture("get_caller_identity.xml"))
      assert.equal("GetCallerIdentityResponse", root.name)
      assert.equal("https://sts.amazonaws.com/doc/2011-06-15/", root.attrs.xmlns)
      local r = xml.child(root, "GetCallerIdentityResult")
      assert.equal("123456789012", xml.text(r, "Account"))
      assert.equal("arn:aws:iam::123456789012:user/Alice", xml.text(r, "Arn"))
      assert.equal("AKIAI44QH8DHBEXAMPLE", xml.text(r, "UserId"))
      assert.equal("01234567-89ab-cdef-0123-456789abcdef",
        xml.text(root, "ResponseMetadata/RequestId"))
    end)

    it("decodes an S3 ListObjectsV2 response", function()
      local root = decode(fixture("list_objects_v2.xml"))
      assert.equal("ListBucketResult", root.name)
      assert.equal("http://s3.amazonaws.com/doc/2006-03-01/", root.attrs.xmlns)
      assert.equal("true", xml.text(root, "IsTruncated"))
      assert.equal("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=",
        xml.text(root, "NextContinuationToken"))
      local contents = xml.children(root, "Contents")
      assert.equal(3, #contents)
      local keys, etags = {}, {}
      for i, c in ipairs(contents) do
        keys[i] = xml.text(c, "Key")
        etags[i] = xml.text(c, "ETag")
      end
      assert.same({ "assets/lambda-trigger.zip", "assets/caf\195\169 menu.txt", "assets/glue/job.py" },
        keys)
      assert.equal('"fba9dede5f27731c9771645a39863328"', etags[1])
      assert.equal("0", xml.text(contents[2], "Size"))
      assert.equal("SHA256", xml.text(contents[1], "ChecksumAlgorithm"))
      assert.is_nil(xml.text(contents[2], "ChecksumAlgorithm"))
    end)

    it("decodes an S3 <Error>", function()
      local root = decode(fixture("s3_error.xml"))
      assert.equal("Error", root.name)
      assert.same({}, root.attrs)
      assert.equal("NoSuchKey", xml.text(root, "Code"))
      assert.equal("The resource you requested does not exist", xml.text(root, "Message"))
      assert.equal("/mybucket/myfoto.jpg", xml.text(root, "Resource"))
      assert.equal("4442587FB7D0A2F9", xml.text(root, "RequestId"))
    end)

    it("decodes a query-protocol <ErrorResponse>", function()
      local root = decode(fixture("error_response.xml"))
      assert.equal("ErrorResponse", root.name)
      assert.equal("Sender", xml.text(root, "Error/Type"))
      assert.equal("ValidationError", xml.text(root, "Error/Code"))
      assert.equal("Stack with id lake-missing-stack-dev does not exist", xml.text(root, "Error/Message"))
      assert.equal("7d8f1c2e-0b0f-4c6a-9d2b-3f4a5b6c7d8e", xml.text(root, "RequestId"))
    end)
  end)

  describe("element tables", function()
    it("have name, attrs, text and children in document order", function()
      local root = decode("<r><a/><b>2</b><a>3</a></r>")
      assert.same({
        name = "r", attrs = {}, text = "",
        { name = "a", attrs = {}, text = "" },
        { name = "b", attrs = {}, text = "2" },
        { name = "a", attrs = {}, text = "3" },
      }, root)
    end)

    it("decode predefined and numeric entities in text and attributes", function()
      local root = decode([[<a v="&amp;&lt;&gt;&quot;&apos;&#x41;&#65;">&amp; &lt; &gt; &quot; &apos; &#x41;&#65; &#xE9;</a>]])
      assert.equal("& < > \" ' AA \195\169", root.text)
      assert.equal("&<>\"'AA", root.attrs.v)
    end)

    it("include CDATA in text, unparsed", function()
      local root = decode("<a>x<![CDATA[<not> &amp; a tag]]>y</a>")
      assert.equal("x<not> &amp; a tagy", root.text)
      assert.equal(0, #root)
    end)

    it("keep attributes, xmlns and prefixed names as written", function()
      local root = decode([[<s3:Key xmlns:s3="urn:s3" xmlns="urn:d" id='7' empty="" sp="a  b"/>]])
      assert.equal("s3:Key", root.name)
      assert.same({ ["xmlns:s3"] = "urn:s3", xmlns = "urn:d", id = "7", empty = "", sp = "a  b" },
        root.attrs)
    end)

    it("concatenate mixed content and leave children's text out", function()
      local root = decode("<a>one<b>two</b>three<c/>four<!-- no -->five<?pi x?>six</a>")
      assert.equal("onethreefourfivesix", root.text)
      assert.equal(2, #root)
      assert.equal("two", root[1].text)
      assert.equal("c", root[2].name)
    end)

    it("preserve whitespace in text (line ends normalised to LF by XML)", function()
      local root = decode("<a>  x \n\t y  <b>\n</b>\r\n</a>")
      assert.equal("  x \n\t y  \n", root.text)
      assert.equal("\n", root[1].text)
    end)

    it("read UTF-8 whatever the declaration says, and skip a BOM", function()
      assert.equal("caf\195\169", decode("\239\187\191<a>caf\195\169</a>").text)
      assert.equal("caf\195\169",
        decode('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><a>caf\195\169</a>').text)
    end)

    it("accept 512 levels of nesting", function()
      local root = decode(string.rep("<a>", 512) .. "deep" .. string.rep("</a>", 512))
      local el, depth = root, 1
      while el[1] do el, depth = el[1], depth + 1 end
      assert.equal(512, depth)
      assert.equal("deep", el.text)
    end)
  end)

  describe("helpers", function()
    local root = decode([[<r><a>1<x>x1</x></a><b>2</b><a>3<x>x3</x><x>x3b</x></a></r>]])

    it("child returns the first child with that name or nil", function()
      assert.equal("1", xml.child(root, "a").text)
      assert.equal("2", xml.child(root, "b").text)
      assert.is_nil(xml.child(root, "x"))
      assert.is_nil(xml.child(root, ""))
    end)

    it("children returns every child with that name, or every child", function()
      local as = xml.children(root, "a")
      assert.equal(2, #as)
      assert.equal("1", as[1].text)
      assert.equal("3", as[2].text)
      assert.same({}, xml.children(root, "nope"))
      assert.equal(3, #xml.children(root))
    end)

    it("find follows a path of first children", function()
      assert.equal("x1", xml.find(root, "a/x").text)
      assert.equal(root, xml.find(root))
      assert.is_nil(xml.find(root, "a/y"))
      assert.is_nil(xml.find(root, "b/x"))
      assert.is_nil(xml.find(root, "a/x/z"))
    end)

    it("text returns the text at a path or nil", function()
      assert.equal("x1", xml.text(root, "a/x"))
      assert.equal("", xml.text(root))
      assert.equal("2", xml.text(xml.child(root, "b")))
      assert.is_nil(xml.text(root, "c"))
    end)

    it("skip non-element entries of hand-made tables", function()
      local t = { name = "t", 1, "s", { text = "no name" }, { name = "k", text = "v" } }
      assert.equal("v", xml.text(t, "k"))
      assert.equal(1, #xml.children(t))
    end)

    it("raise on misuse", function()
      assert.has_error(function() xml.child(nil, "a") end)
      assert.has_error(function() xml.child(root) end)
      assert.has_error(function() xml.children("r") end)
      assert.has_error(function() xml.find(root, {}) end)
      for _, path in ipairs({ "", "/a", "a/", "a//x" }) do
        assert.error_matches(function() xml.find(root, path) end,
          "^bad argument #2 to '[%w.]*find' %(empty name in path%)$")
        assert.error_matches(function() xml.text(root, path) end,
          "^bad argument #2 to '[%w.]*text' %(empty name in path%)$")
      end
    end)
  end)

  describe("refusals", function()
    it("report malformed and truncated input with line and column", function()
      assert.equal("xml: line 1 col 1: unclosed token", refused("<a"))
      assert.equal("xml: line 1 col 11: no element found", refused("<a><b>text"))
      assert.equal("xml: line 1 col 1: no element found", refused(""))
      assert.equal("xml: line 1 col 1: syntax error", refused("text"))
      assert.equal("xml: line 1 col 5: junk after document element", refused("<a/><b/>"))
      assert.equal("xml: line 1 col 6: not well-formed (invalid token)", refused("<a x=1/>"))
      assert.equal("xml: line 1 col 10: duplicate attribute", refused("<a b='1' b='2'/>"))
    end)

    it("report a mismatched tag where it is", function()
      assert.equal("xml: line 1 col 6: mismatched tag", refused("<a></b>"))
      assert.equal("xml: line 5 col 3: mismatched tag", refused("\n\n  <a>\n  <b>\n</a>"))
    end)

    it("refuse invalid UTF-8, NUL bytes and invalid characters", function()
      assert.equal("xml: line 1 col 4: not well-formed (invalid token)", refused("<a>\195\40</a>"))
      assert.equal("xml: line 1 col 4: not well-formed (invalid token)", refused("<a>\255</a>"))
      assert.equal("xml: line 1 col 4: not well-formed (invalid token)",
        refused("<a>\237\160\128</a>")) -- a UTF-16 surrogate
      assert.equal("xml: line 1 col 5: not well-formed (invalid token)", refused("<a>x\0y</a>"))
      assert.equal("xml: line 1 col 2: not well-formed (invalid token)", refused("<\0a/>"))
      assert.equal("xml: line 1 col 4: reference to invalid character number", refused("<a>&#0;</a>"))
      assert.equal("xml: line 1 col 47: not well-formed (invalid token)",
        refused("<?xml version='1.0' encoding='ISO-8859-1'?><a>\233</a>"))
    end)

    it("refuse undefined entities", function()
      assert.equal("xml: line 1 col 4: undefined entity", refused("<a>&foo;</a>"))
      assert.equal("xml: line 1 col 1: undefined entity", refused("<a b='&foo;'/>"))
    end)

    it("refuse every DOCTYPE, so no entity can be declared", function()
      local msg = "xml: DTDs are not accepted"
      assert.equal(msg, refused("<!DOCTYPE a><a/>"))
      assert.equal(msg, refused('<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY e "x">]>\n<a>&e;</a>'))
      assert.equal(msg, refused('<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>'))
      assert.equal(msg, refused('<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'))
      local laughs = { '<!DOCTYPE lolz [<!ENTITY lol "lol">' }
      for i = 1, 9 do
        laughs[#laughs + 1] = string.format('<!ENTITY lol%d "%s">', i,
          string.rep(i == 1 and "&lol;" or "&lol" .. (i - 1) .. ";", 10))
      end
      laughs[#laughs + 1] = "]><lolz>&lol9;</lolz>"
      assert.equal(msg, refused(table.concat(laughs)))
    end)

    it("refuse nesting deeper than 512 levels", function()
      assert.equal("xml: line 1 col 1537: nesting too deep", refused(string.rep("<a>", 513)))
      assert.equal("xml: line 2 col 1537: nesting too deep",
        refused("<?xml version='1.0'?>\n" .. string.rep("<a>", 10000) .. string.rep("</a>", 10000)))
    end)

    it("raise when not given a string", function()
      assert.has_error(function() xml.decode(nil) end)
      assert.has_error(function() xml.decode({}) end)
    end)
  end)

  describe("large documents", function()
    it("decodes a 20 MB document", function()
      local item = "<Contents><Key>k/%08d</Key><Size>%d</Size><ETag>&quot;e&quot;</ETag></Contents>\n"
      local parts = { "<ListBucketResult>" }
      local n = 0
      local size = 0
      while size < 20 * 1024 * 1024 do
        n = n + 1
        local s = item:format(n, n)
        parts[#parts + 1] = s
        size = size + #s
      end
      parts[#parts + 1] = "</ListBucketResult>"
      local root = decode(table.concat(parts))
      assert.equal(n, #root)
      assert.equal(string.format("k/%08d", n), xml.text(root[n], "Key"))
      assert.equal(tostring(n), xml.text(root[n], "Size"))
      assert.equal('"e"', xml.text(root[1], "ETag"))
      assert.equal(string.rep("\n", n), root.text)
    end)

    it("refuses a truncated 50 MB document with its position", function()
      local big = "<a>" .. string.rep("x", 50 * 1024 * 1024)
      assert.equal("xml: line 1 col " .. (#big + 1) .. ": no element found", refused(big))
    end)

    it("keeps a 40 MB text node whole across parser chunks", function()
      local text = string.rep("0123456789abcdef", 40 * 1024 * 1024 // 16)
      local root = decode("<a>" .. text .. "</a>")
      assert.equal(#text, #root.text)
      assert.equal(text, root.text)
    end)
  end)
end)
