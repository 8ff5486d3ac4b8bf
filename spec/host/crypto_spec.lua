local crypto = require("host.crypto")
local util = require("spec.support.util")

local function unhex(s)
  return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

local function tohex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

describe("host.crypto #unit", function()
  describe("sha256", function()
    -- FIPS 180-2 appendix B vectors.
    local vectors = {
      { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
      { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
      { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    }

    it("matches the FIPS 180-2 vectors as hex and raw", function()
      for _, v in ipairs(vectors) do
        assert.equal(v[2], crypto.sha256_hex(v[1]))
        local raw = crypto.sha256(v[1])
        assert.equal(32, #raw)
        assert.equal(unhex(v[2]), raw)
      end
    end)

    it("hashes one million 'a' through the streaming hasher", function()
      local h = crypto.sha256_new()
      local chunk = string.rep("a", 1000)
      for _ = 1, 1000 do assert.equal(h, h:update(chunk)) end
      assert.equal("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", h:hex())
      assert.equal(crypto.sha256_hex(string.rep("a", 1000000)), h:hex())
    end)

    it("is binary safe with NUL bytes", function()
      assert.not_equal(crypto.sha256_hex("a\0b"), crypto.sha256_hex("a\0c"))
      assert.not_equal(crypto.sha256_hex("a\0b"), crypto.sha256_hex("a"))
      assert.equal("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        crypto.sha256_hex("\0"))
    end)

    it("gives the same digest however the input is split", function()
      local s = "The quick brown fox jumps over the lazy dog\0\255"
      for cut = 0, #s do
        local h = crypto.sha256_new()
        h:update(s:sub(1, cut)):update(s:sub(cut + 1))
        assert.equal(crypto.sha256(s), h:digest())
      end
    end)
  end)

  describe("sha256 hasher", function()
    it("keeps its digest after finalising: hex and digest may repeat", function()
      local h = crypto.sha256_new():update("abc")
      local hex = h:hex()
      assert.equal(hex, h:hex())
      assert.equal(unhex(hex), h:digest())
    end)

    it("raises on update after finalising", function()
      local h = crypto.sha256_new()
      h:digest()
      assert.has_error(function() h:update("x") end, "sha256 hasher already finalised")
    end)

    it("raises when used after being closed", function()
      local h = crypto.sha256_new()
      do
        local c <close> = h
        c:update("x")
      end
      assert.has_error(function() h:update("x") end, "sha256 hasher is closed")
      assert.has_error(function() h:hex() end, "sha256 hasher is closed")
      assert.equal("lakehost.crypto.sha256 (closed)", tostring(h))
    end)

    it("names its state", function()
      local h = crypto.sha256_new()
      assert.equal("lakehost.crypto.sha256 (open)", tostring(h))
      h:hex()
      assert.equal("lakehost.crypto.sha256 (finalised)", tostring(h))
    end)

    it("raises on misuse", function()
      local h = crypto.sha256_new()
      assert.has_error(function() h:update({}) end)
      assert.has_error(function() h.update(nil, "x") end)
      assert.has_error(function() h.update(io.stdout, "x") end)
    end)
  end)

  describe("hmac_sha256", function()
    -- RFC 4231 test cases 1-4, 6, 7 (5 is a truncated output).
    local aa131 = string.rep("\170", 131)
    local cases = {
      { string.rep("\11", 20), "Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
      { "Jefe", "what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
      { string.rep("\170", 20), string.rep("\221", 50),
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
      { unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), string.rep("\205", 50),
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
      { aa131, "Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
      { aa131, "This is a test using a larger than block-size key and a larger than block-size"
          .. " data. The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
    }

    it("matches RFC 4231 test cases 1-4, 6 and 7", function()
      for i, c in ipairs(cases) do
        assert.equal(c[3], crypto.hmac_sha256_hex(c[1], c[2]), "case " .. i)
        assert.equal(unhex(c[3]), crypto.hmac_sha256(c[1], c[2]), "case " .. i)
      end
    end)

    it("chains raw keys as SigV4 does", function()
      local k = crypto.hmac_sha256("AWS4secret", "20150830")
      assert.equal(32, #k)
      assert.equal(crypto.hmac_sha256_hex(k, "us-east-1"), tohex(crypto.hmac_sha256(k, "us-east-1")))
    end)

    it("accepts an empty key and an empty message", function()
      assert.equal("b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
        crypto.hmac_sha256_hex("", ""))
    end)

    it("raises on non-string arguments", function()
      assert.has_error(function() crypto.hmac_sha256(nil, "x") end)
      assert.has_error(function() crypto.hmac_sha256("k") end)
    end)
  end)

  describe("md5", function()
    -- RFC 1321 appendix A.5, as Content-MD5 (base64 of the raw digest).
    local vectors = {
      { "", "d41d8cd98f00b204e9800998ecf8427e", "1B2M2Y8AsgTpgAmY7PhCfg==" },
      { "a", "0cc175b9c0f1b6a831c399e269772661", "DMF1ucDxtqgxw5niaXcmYQ==" },
      { "abc", "900150983cd24fb0d6963f7d28e17f72", "kAFQmDzST7DWlj99KOF/cg==" },
      { "message digest", "f96b697d7cb7938d525a2f31aaf161d0", "+WtpfXy3k41SWi8xqvFh0A==" },
      { "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b",
        "w/zT12GS5AB9+0lsymfhOw==" },
      { "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "d174ab98d277d9f5a5611c2c9f419d9f", "0XSrmNJ32fWlYRwsn0Gdnw==" },
      { string.rep("1234567890", 8), "57edf4a22be3c955ac49da2e2107b67a",
        "V+30oivjyVWsSdouIQe2eg==" },
    }

    it("matches the RFC 1321 vectors, raw and base64", function()
      for _, v in ipairs(vectors) do
        assert.equal(unhex(v[2]), crypto.md5(v[1]))
        assert.equal(v[3], crypto.md5_base64(v[1]))
      end
    end)
  end)

  describe("base64", function()
    -- RFC 4648 section 10.
    local vectors = {
      { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
      { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
    }

    it("encodes and decodes the RFC 4648 vectors", function()
      for _, v in ipairs(vectors) do
        assert.equal(v[2], crypto.base64_encode(v[1]))
        assert.equal(v[1], crypto.base64_decode(v[2]))
      end
    end)

    it("uses the standard alphabet with no line breaks", function()
      assert.equal("+/+/", crypto.base64_encode("\251\255\191"))
      local long = crypto.base64_encode(string.rep("x", 300))
      assert.equal(400, #long)
      assert.is_nil(long:find("\n", 1, true))
    end)

    it("round-trips every byte value and NUL bytes", function()
      local all = {}
      for i = 0, 255 do all[#all + 1] = string.char(i) end
      local s = table.concat(all)
      for cut = 0, 3 do
        local part = s:sub(1, #s - cut)
        assert.equal(part, crypto.base64_decode(crypto.base64_encode(part)))
      end
      assert.equal("AA==", crypto.base64_encode("\0"))
      assert.equal("\0\0\0", crypto.base64_decode("AAAA"))
    end)

    it("accepts the unpadded form", function()
      assert.equal("f", crypto.base64_decode("Zg"))
      assert.equal("fo", crypto.base64_decode("Zm8"))
    end)

    it("refuses garbage", function()
      for _, bad in ipairs({ "Z", "Zg=", "Zg===", "=", "==", "Zm9v\n", " Zm9v", "Zm9v!", "Zm=v",
                             "Zg==Zg==", "Zm9-", "Zm9_", "Zh==", "Zm9=", "Zg\0=" }) do
        local v, err = crypto.base64_decode(bad)
        assert.is_nil(v, bad)
        assert.equal("crypto: invalid base64", err)
      end
    end)
  end)

  describe("hex", function()
    it("encodes lowercase and decodes either case (RFC 4648 base16)", function()
      assert.equal("666f6f626172", crypto.hex_encode("foobar"))
      assert.equal("foobar", crypto.hex_decode("666F6F626172"))
      assert.equal("foobar", crypto.hex_decode("666f6f626172"))
      assert.equal("", crypto.hex_encode(""))
      assert.equal("", crypto.hex_decode(""))
      assert.equal("00ff10", crypto.hex_encode("\0\255\16"))
      assert.equal("\0\255\16", crypto.hex_decode("00ff10"))
    end)

    it("refuses odd lengths and non-hex characters", function()
      for _, bad in ipairs({ "0", "abc", "zz", "0g", " 00", "00\0", "0x00" }) do
        local v, err = crypto.hex_decode(bad)
        assert.is_nil(v, bad)
        assert.equal("crypto: invalid hex", err)
      end
    end)
  end)

  describe("sha256_file", function()
    it("matches sha256sum on a 5 MB file and returns its size", function()
      local parts = {}
      for i = 1, 5 * 1024 do
        parts[i] = string.rep(string.char(i % 256), 1000) .. string.format("%024d", i)
      end
      local data = table.concat(parts)
      assert.equal(5 * 1024 * 1024, #data)
      local path = util.tmpfile(data)
      local p = assert(io.popen("sha256sum " .. util.shquote(path)))
      local expected = p:read("a"):match("^(%x+)")
      p:close()
      local hex, size = crypto.sha256_file(path)
      os.remove(path)
      assert.equal(expected, hex)
      assert.equal(#data, size)
      assert.equal(crypto.sha256_hex(data), hex)
    end)

    it("hashes an empty file", function()
      local path = util.tmpfile("")
      local hex, size = crypto.sha256_file(path)
      os.remove(path)
      assert.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hex)
      assert.equal(0, size)
    end)

    it("returns nil and the reason for a missing file or a directory", function()
      local v, err = crypto.sha256_file("/nonexistent/lakehost-file")
      assert.is_nil(v)
      assert.equal("crypto: /nonexistent/lakehost-file: No such file or directory", err)
      v, err = crypto.sha256_file("/")
      assert.is_nil(v)
      assert.equal("crypto: /: Is a directory", err)
    end)
  end)

  describe("random", function()
    it("returns n bytes, different each time", function()
      assert.equal(1, #crypto.random(1))
      assert.equal(1024, #crypto.random(1024))
      assert.not_equal(crypto.random(16), crypto.random(16))
    end)

    it("raises outside 1..1024", function()
      local msg = "^bad argument #1 to '[%w.]*random' %(must be between 1 and 1024%)$"
      assert.error_matches(function() crypto.random(0) end, msg)
      assert.error_matches(function() crypto.random(1025) end, msg)
      assert.has_error(function() crypto.random("x") end)
    end)
  end)

  describe("equal", function()
    it("compares binary strings", function()
      assert.is_true(crypto.equal("", ""))
      assert.is_true(crypto.equal("a\0b", "a\0b"))
      assert.is_false(crypto.equal("a\0b", "a\0c"))
      assert.is_false(crypto.equal("abc", "ab"))
      assert.is_false(crypto.equal("ab", "abc"))
    end)

    it("raises on non-strings", function()
      assert.has_error(function() crypto.equal("a") end)
    end)
  end)
end)
