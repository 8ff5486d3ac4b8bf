local fs = require("host.fs")
local zip = require("host.zip")
local util = require("spec.support.util")
local tree = require("spec.fixtures.zip.tree")

local function octal(s) return math.tointeger(tonumber(s, 8)) end

--- Runs python3 -c script with args; returns its output (stdout+stderr) and exit code.
local function python(script, ...)
  local parts = { "python3", "-c", util.shquote(script) }
  for _, a in ipairs({ ... }) do parts[#parts + 1] = util.shquote(a) end
  local p = assert(io.popen(table.concat(parts, " ") .. " 2>&1"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

--- Runs a shell command; returns its output and exit code.
local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local function sha256sum(path)
  return (run("sha256sum " .. util.shquote(path)):match("^(%x+)"))
end

--- Asserts that fn(...) raises an error whose message is exactly msg.
local function raises(msg, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "no error raised")
  assert.equal(msg, err)
end

--- Zips dir into path with add_tree; returns the close() result.
local function zip_tree(dir, path, prefix)
  return assert(zip.writer(path):add_tree(dir, prefix):close())
end

-- Python side of the interop check: prints one line per entry
-- "name|mode|date_time|flag_bits|method|sha256(content)" after testzip().
local PY_DESCRIBE = [[
import sys, zipfile, hashlib
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
for i in z.infolist():
    data = z.read(i)
    print("%s|%o|%s|%d|%d|%s" % (i.filename, i.external_attr >> 16,
          ",".join(map(str, i.date_time)), i.flag_bits, i.compress_type,
          hashlib.sha256(data).hexdigest()))
]]

--- Rewrites the DOS time/date of every local header and central record of a
-- zip (walking the structure, as our writer lays it out) to stamp (4 bytes).
local function restamp(z, stamp)
  local parts, pos = {}, 1
  while z:sub(pos, pos + 3) == "PK\3\4" do
    local csize, n, m = string.unpack("<I4", z, pos + 18), string.unpack("<I2I2", z, pos + 26)
    local stop = pos + 30 + n + m + csize
    parts[#parts + 1] = z:sub(pos, pos + 9) .. stamp .. z:sub(pos + 14, stop - 1)
    pos = stop
  end
  while z:sub(pos, pos + 3) == "PK\1\2" do
    local n, m, k = string.unpack("<I2I2I2", z, pos + 28)
    local stop = pos + 46 + n + m + k
    parts[#parts + 1] = z:sub(pos, pos + 11) .. stamp .. z:sub(pos + 16, stop - 1)
    pos = stop
  end
  assert(z:sub(pos, pos + 3) == "PK\5\6", "unexpected layout")
  return table.concat(parts) .. z:sub(pos)
end

--- CRC-32 (IEEE) of s, bit by bit: fine for the few bytes the crafted
-- archives hold.
local function crc32(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do
    c = c ~ s:byte(i)
    for _ = 1, 8 do c = (c >> 1) ~ ((c & 1) * 0xEDB88320) end
  end
  return c ~ 0xFFFFFFFF
end

--- A zip built byte by byte: locals = { {name=, data=} } (stored), written in
-- order; centrals = { {name=, at=i} } points at local i, { {name=, data=,
-- offset=n} } declares data and points at byte offset n.
local function craft(locals, centrals)
  local parts, offsets, pos = {}, {}, 0
  for i, l in ipairs(locals) do
    offsets[i] = pos
    local h = string.pack("<I4I2I2I2I2I2I4I4I4I2I2", 0x04034b50, 10, 0, 0, 0, 33, crc32(l.data), #l.data,
      #l.data, #l.name, 0) .. l.name .. l.data
    parts[#parts + 1] = h
    pos = pos + #h
  end
  local cd = {}
  for _, c in ipairs(centrals) do
    local l = c.data and { data = c.data } or locals[c.at]
    cd[#cd + 1] = string.pack("<I4I2I2I2I2I2I2I4I4I4I2I2I2I2I2I4I4", 0x02014b50, (3 << 8) | 20, 10, 0, 0,
      0, 33, crc32(l.data), #l.data, #l.data, #c.name, 0, 0, 0, 0, octal("100644") << 16,
      c.offset or offsets[c.at]) .. c.name
  end
  local cdb = table.concat(cd)
  return table.concat(parts) .. cdb .. string.pack("<I4I2I2I2I2I4I4I2", 0x06054b50, 0, 0, #cd, #cd, #cdb,
    pos, 0)
end

--- Rewrites, in zip bytes z, the central record of entry name: the bytes at
-- offset off (from the record's start) become rep.
local function patch_central(z, name, off, rep)
  local pos = 1
  while true do
    pos = assert(z:find("PK\1\2", pos, true), "no central record for " .. name)
    local n = string.unpack("<I2", z, pos + 28)
    if z:sub(pos + 46, pos + 45 + n) == name then
      return z:sub(1, pos + off - 1) .. rep .. z:sub(pos + off + #rep)
    end
    pos = pos + 4
  end
end

describe("host.zip #unit", function()
  local tmp, src

  --- A small source tree: text, an executable, nested dirs, bytecode to skip.
  local function make_src()
    src = tmp .. "/src"
    assert(fs.mkdir_p(src .. "/pkg/sub"))
    assert(fs.mkdir_p(src .. "/__pycache__"))
    assert(fs.mkdir_p(src .. "/pkg/__pycache__"))
    assert(fs.write(src .. "/index.py", "def handler(event, context):\n    return event\n"))
    assert(fs.write(src .. "/run.sh", "#!/bin/sh\necho hi\n", { mode = "755" }))
    assert(fs.write(src .. "/pkg/__init__.py", ""))
    assert(fs.write(src .. "/pkg/sub/data.txt", string.rep("compressible line\n", 200)))
    assert(fs.write(src .. "/pkg/Upper.py", "X = 1\n"))
    assert(fs.write(src .. "/pkg/mod.pyc", "bytecode"))
    assert(fs.write(src .. "/__pycache__/index.cpython-311.pyc", "bytecode"))
    assert(fs.write(src .. "/pkg/__pycache__/x.cpython-311.pyc", "bytecode"))
    assert(fs.write(src .. "/pkg/__pycache__/notes.txt", "skipped with its folder"))
  end

  before_each(function()
    tmp = assert(fs.tmpdir("zip-spec-"))
    make_src()
  end)

  after_each(function()
    assert(fs.remove_tree(tmp))
  end)

  describe("determinism", function()
    it("gives identical bytes and sha256 for the same inputs", function()
      local a = zip_tree(src, tmp .. "/a.zip")
      local b = zip_tree(src, tmp .. "/b.zip")
      assert.equal(a.sha256, b.sha256)
      assert.equal(a.size, b.size)
      assert.equal(5, a.entries)
      assert.equal(fs.read(tmp .. "/a.zip"), fs.read(tmp .. "/b.zip"))
      assert.equal(sha256sum(tmp .. "/a.zip"), a.sha256)
      assert.equal(fs.stat(tmp .. "/a.zip").size, a.size)
    end)

    it("ignores mtimes, non-exec mode bits and the order of the add calls", function()
      local a = zip_tree(src, tmp .. "/a.zip")
      for i, rel in ipairs(fs.walk(src)) do
        assert(fs.mtime_set(src .. "/" .. rel, 1500000000 + i * 7))
      end
      assert(fs.chmod(src .. "/index.py", "600"))
      assert(fs.chmod(src .. "/pkg/Upper.py", "664"))
      assert(fs.chmod(src .. "/run.sh", "700"))
      local b = zip_tree(src, tmp .. "/b.zip")
      assert.equal(a.sha256, b.sha256)

      local w1 = zip.writer(tmp .. "/c.zip")
      w1:add_data("b", "second"):add_data("a", "first"):add_file("c", src .. "/index.py")
      local w2 = zip.writer(tmp .. "/d.zip")
      w2:add_file("c", src .. "/index.py"):add_data("a", "first"):add_data("b", "second")
      assert.equal(assert(w1:close()).sha256, assert(w2:close()).sha256)
    end)

    it("stamps entries with SOURCE_DATE_EPOCH, predictably", function()
      local base = zip_tree(src, tmp .. "/base.zip")
      local function child_zip(out, epoch)
        local code = ("local r = assert(require('host.zip').writer(%q):add_tree(%q):close())"
          .. " io.write(r.sha256)"):format(out, src)
        local stdout, err, status = util.lakehost({ "-e", code }, { env = { SOURCE_DATE_EPOCH = epoch } })
        assert.equal(0, status, err)
        return stdout
      end
      -- 1700000000 = 2023-11-14 22:13:20 UTC
      local sde = child_zip(tmp .. "/sde.zip", "1700000000")
      assert.not_equal(base.sha256, sde)
      assert.equal(sde, child_zip(tmp .. "/sde2.zip", "1700000000"))
      local out, code = python(PY_DESCRIBE, tmp .. "/sde.zip")
      assert.equal(0, code, out)
      for line in out:gmatch("[^\n]+") do
        assert.equal("2023,11,14,22,13,20", line:match("^[^|]*|[^|]*|([^|]*)|"), line)
      end
      -- only the stamps differ: patching them into the base gives the same bytes
      local a, b = fs.read(tmp .. "/base.zip"), fs.read(tmp .. "/sde.zip")
      assert.equal(#a, #b)
      local stamp = string.pack("<I2I2", (22 << 11) | (13 << 5) | (20 // 2),
        (43 << 9) | (11 << 5) | 14)
      assert.equal(b, restamp(a, stamp))
      -- before 1980 clamps to the DOS epoch: the same bytes as without the variable
      assert.equal(base.sha256, child_zip(tmp .. "/old.zip", "315532799"))
      assert.equal(base.sha256, child_zip(tmp .. "/zero.zip", "0"))
    end)

    it("refuses an invalid SOURCE_DATE_EPOCH at close", function()
      local code = ("local w = require('host.zip').writer(%q) w:add_data('a', 'x')"
        .. " local ok, err = w:close() io.write(tostring(ok), ' ', err)"):format(tmp .. "/x.zip")
      local out = util.lakehost({ "-e", code }, { env = { SOURCE_DATE_EPOCH = "soon" } })
      assert.equal("nil zip: invalid SOURCE_DATE_EPOCH 'soon' (want seconds since 1970)", out)
      assert.is_false(fs.exists(tmp .. "/x.zip"))
    end)
  end)

  describe("interoperability", function()
    it("passes unzip -t", function()
      zip_tree(src, tmp .. "/a.zip")
      local out, code = run("unzip -t " .. util.shquote(tmp .. "/a.zip"))
      assert.equal(0, code, out)
      assert.matches("No errors detected", out, 1, true)
    end)

    it("reads back in Python with names, modes, dates and contents", function()
      zip_tree(src, tmp .. "/a.zip", "python/")
      local out, code = python(PY_DESCRIBE, tmp .. "/a.zip")
      assert.equal(0, code, out)
      local function h(rel) return sha256sum(src .. "/" .. rel) end
      local date = "1980,1,1,0,0,0"
      assert.equal(table.concat({
        "python/index.py|100644|" .. date .. "|0|8|" .. h("index.py"),
        "python/pkg/Upper.py|100644|" .. date .. "|0|0|" .. h("pkg/Upper.py"),
        "python/pkg/__init__.py|100644|" .. date .. "|0|0|" .. h("pkg/__init__.py"),
        "python/pkg/sub/data.txt|100644|" .. date .. "|0|8|" .. h("pkg/sub/data.txt"),
        "python/run.sh|100755|" .. date .. "|0|0|" .. h("run.sh"),
      }, "\n") .. "\n", out)
    end)

    it("lists what it wrote and extracts archives from Info-ZIP", function()
      local r = zip_tree(src, tmp .. "/a.zip")
      local list = assert(zip.list(tmp .. "/a.zip"))
      assert.equal(r.entries, #list)
      assert.same({ name = "run.sh", size = 18, csize = 18, crc = 0xE9DA3A2F, method = 0,
        mode = octal("755") }, list[5])
      assert.same({ name = "pkg/sub/data.txt", size = 3600, method = 8, mode = octal("644") },
        { name = list[4].name, size = list[4].size, method = list[4].method, mode = list[4].mode })
      assert.is_true(list[4].csize < 100)
      assert.same({ name = "pkg/__init__.py", size = 0, csize = 0, crc = 0, method = 0,
        mode = octal("644") }, list[3])
      -- an Info-ZIP archive (extra fields, directory entries)
      local out, code = run("cd " .. util.shquote(src) .. " && zip -qr ../info.zip .")
      assert.equal(0, code, out)
      assert.is_true(zip.extract(tmp .. "/info.zip", tmp .. "/x"))
      assert.equal(fs.read(src .. "/pkg/sub/data.txt"), fs.read(tmp .. "/x/pkg/sub/data.txt"))
      assert.equal(octal("755"), fs.stat(tmp .. "/x/run.sh").mode)
    end)
  end)

  describe("entries", function()
    it("writes an empty archive and empty files", function()
      local r = assert(zip.writer(tmp .. "/empty.zip"):close())
      assert.same({ sha256 = r.sha256, size = 22, entries = 0 }, r)
      assert.equal("PK\5\6" .. ("\0"):rep(18), fs.read(tmp .. "/empty.zip"))
      assert.same({}, zip.list(tmp .. "/empty.zip"))
      local out, code = python("import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).namelist())",
        tmp .. "/empty.zip")
      assert.equal(0, code, out)
      assert.equal("[]\n", out)

      assert(zip.writer(tmp .. "/e.zip"):add_data("empty", ""):close())
      assert.same({ { name = "empty", size = 0, csize = 0, crc = 0, method = 0, mode = octal("644") } },
        zip.list(tmp .. "/e.zip"))
    end)

    it("stores data that deflate does not shrink and deflates the rest", function()
      local random = tree.random(4096, 7)
      local w = zip.writer(tmp .. "/a.zip")
      w:add_data("random.bin", random):add_data("text.txt", tree.text(4096, 7)):add_data("one", "x")
      assert(w:close())
      local l = zip.list(tmp .. "/a.zip")
      assert.same({ "one", "random.bin", "text.txt" }, { l[1].name, l[2].name, l[3].name })
      assert.same({ 0, 1, 1 }, { l[1].method, l[1].size, l[1].csize })
      assert.same({ 0, 4096, 4096 }, { l[2].method, l[2].size, l[2].csize })
      assert.equal(8, l[3].method)
      assert.is_true(l[3].csize < 1000)
      local out, code = run("unzip -tq " .. util.shquote(tmp .. "/a.zip"))
      assert.equal(0, code, out)
    end)

    it("gives the same bytes for a file and for its data", function()
      local data = tree.random(1024, 3) .. tree.text(300000, 3)
      assert(fs.write(tmp .. "/f", data))
      local a = assert(zip.writer(tmp .. "/a.zip"):add_file("f", tmp .. "/f"):close())
      local b = assert(zip.writer(tmp .. "/b.zip"):add_data("f", data):close())
      assert.equal(a.sha256, b.sha256)
    end)

    it("marks non-ASCII names as UTF-8 (bit 11) and keeps them", function()
      local name = "données/été ☃.txt"
      assert(zip.writer(tmp .. "/u.zip"):add_data(name, "snow"):add_data("ascii.txt", "a"):close())
      local out, code = python([[
import sys, zipfile
for i in zipfile.ZipFile(sys.argv[1]).infolist():
    print(i.filename, i.flag_bits & 0x800)
]], tmp .. "/u.zip")
      assert.equal(0, code, out)
      assert.equal("ascii.txt 0\n" .. name .. " 2048\n", out)
      assert.equal(name, zip.list(tmp .. "/u.zip")[2].name)
      assert.is_true(zip.extract(tmp .. "/u.zip", tmp .. "/x"))
      assert.equal("snow", fs.read(tmp .. "/x/" .. name))
    end)

    it("keeps 0755 from the source or the explicit mode, 0644 otherwise", function()
      local w = zip.writer(tmp .. "/m.zip")
      w:add_file("exec", src .. "/run.sh")
      w:add_file("forced-plain", src .. "/run.sh", { mode = "644" })
      w:add_file("forced-exec", src .. "/index.py", { mode = octal("755") })
      w:add_data("data-exec", "x", { mode = "0755" })
      w:add_data("data-odd", "x", { mode = "0700" })
      w:add_data("data", "x")
      assert(w:close())
      local modes = {}
      for _, e in ipairs(zip.list(tmp .. "/m.zip")) do modes[e.name] = ("%o"):format(e.mode) end
      assert.same({ exec = "755", ["forced-plain"] = "644", ["forced-exec"] = "755",
        ["data-exec"] = "755", ["data-odd"] = "755", data = "644" }, modes)
      assert.is_true(zip.extract(tmp .. "/m.zip", tmp .. "/x"))
      assert.equal(octal("755"), fs.stat(tmp .. "/x/exec").mode)
      assert.equal(octal("644"), fs.stat(tmp .. "/x/forced-plain").mode)
    end)

    it("add_tree skips __pycache__ and *.pyc and applies the prefix", function()
      zip_tree(src, tmp .. "/a.zip", "lib")
      local names = {}
      for _, e in ipairs(zip.list(tmp .. "/a.zip")) do names[#names + 1] = e.name end
      assert.same({ "lib/index.py", "lib/pkg/Upper.py", "lib/pkg/__init__.py",
        "lib/pkg/sub/data.txt", "lib/run.sh" }, names)
      local r = assert(zip.writer(tmp .. "/b.zip"):add_tree(src .. "/pkg", "python/pkg/"):close())
      assert.equal(3, r.entries)
      assert.equal("python/pkg/Upper.py", zip.list(tmp .. "/b.zip")[1].name)
    end)

    it("add_tree reports a missing directory", function()
      local w = zip.writer(tmp .. "/a.zip")
      local v, err, code = w:add_tree(tmp .. "/nope")
      assert.is_nil(v)
      assert.equal("zip: " .. tmp .. "/nope: No such file or directory", err)
      assert.equal("ENOENT", code)
      assert(w:close())
    end)
  end)

  describe("refusals", function()
    it("raises on bad entry names", function()
      local w = zip.writer(tmp .. "/a.zip")
      local cases = {
        { "", "empty name" }, { "/abs", "absolute path" }, { "../evil", "'..' segment" },
        { "a/../b", "'..' segment" }, { "a/..", "'..' segment" }, { "a//b", "empty segment" },
        { "./a", "'.' segment" }, { "dir/", "ends with '/'" }, { "a\\b", "backslash (use '/')" },
        { "bad\255utf8", "not UTF-8" }, { "nul\0byte", "NUL byte" },
      }
      for _, c in ipairs(cases) do
        raises(("zip: invalid entry name '%s' (%s)"):format(c[1]:match("^[^%z]*"), c[2]),
          w.add_data, w, c[1], "x")
        raises(("zip: invalid entry name '%s' (%s)"):format(c[1]:match("^[^%z]*"), c[2]),
          w.add_file, w, c[1], src .. "/index.py")
      end
      local r = assert(w:close())
      assert.equal(0, r.entries)
    end)

    it("raises on duplicate names, also across add_tree", function()
      local w = zip.writer(tmp .. "/a.zip")
      w:add_data("index.py", "x")
      raises("zip: duplicate entry 'index.py'", w.add_data, w, "index.py", "y")
      raises("zip: duplicate entry 'index.py'", w.add_file, w, "index.py", src .. "/index.py")
      raises("zip: duplicate entry 'index.py'", w.add_tree, w, src)
      -- the refused add_tree added nothing
      assert.equal(1, assert(w:close()).entries)
    end)

    it("raises on misuse of options and on a closed writer", function()
      local w = zip.writer(tmp .. "/a.zip")
      assert.has_error(function() w:add_data("a", "x", { mode = 755 }) end)
      assert.has_error(function() w:add_data("a", "x", { mod = "755" }) end)
      assert.has_error(function() w:add_data("a", 42) end)
      assert.has_error(function() w.add_data(nil, "a", "x") end)
      assert(w:close())
      raises("zip: writer already closed", w.close, w)
      raises("zip: writer already closed", w.add_data, w, "b", "x")
    end)

    it("fails at close on a missing source and leaves no file behind", function()
      local w = zip.writer(tmp .. "/out/a.zip")
      assert(fs.mkdir_p(tmp .. "/out"))
      w:add_data("a", "x"):add_file("b", tmp .. "/gone.txt")
      local ok, err = w:close()
      assert.is_nil(ok)
      assert.equal("zip: " .. tmp .. "/gone.txt: No such file or directory", err)
      assert.same({}, fs.list(tmp .. "/out"))
      raises("zip: writer already closed", w.close, w)
      -- a directory is not a file either
      ok, err = zip.writer(tmp .. "/out/b.zip"):add_file("d", src):close()
      assert.is_nil(ok)
      assert.equal("zip: " .. src .. ": not a regular file", err)
      assert.same({}, fs.list(tmp .. "/out"))
    end)

    it("fails when the output directory does not exist", function()
      local ok, err = zip.writer(tmp .. "/no/a.zip"):add_data("a", "x"):close()
      assert.is_nil(ok)
      assert.equal("zip: " .. tmp .. "/no/a.zip: No such file or directory", err)
    end)

    it("discards an unclosed writer on gc and <close>", function()
      do
        local w <close> = zip.writer(tmp .. "/closed.zip")
        w:add_data("a", "x")
      end
      local w = zip.writer(tmp .. "/gc.zip")
      w:add_data("a", "x")
      w = nil -- luacheck: ignore
      collectgarbage()
      collectgarbage()
      assert.same({ "src" }, fs.list(tmp))
    end)

    it("refuses more than 65535 entries (no ZIP64)", function()
      local w = zip.writer(tmp .. "/big.zip")
      for i = 1, 65536 do w:add_data("e" .. i, "") end
      local ok, err = w:close()
      assert.is_nil(ok)
      assert.equal("zip: archive too large (needs ZIP64)", err)
      assert.same({ "src" }, fs.list(tmp))
    end)
  end)

  describe("list and extract", function()
    it("refuses names that escape the directory, before writing anything", function()
      for _, name in ipairs({ "../evil", "/abs/evil", "ok/../../evil" }) do
        local out, code = python([[
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("fine.txt", "fine")
    z.writestr(zipfile.ZipInfo(sys.argv[2]), "evil")
]], tmp .. "/evil.zip", name)
        assert.equal(0, code, out)
        local ok, err = zip.extract(tmp .. "/evil.zip", tmp .. "/x/y")
        assert.is_nil(ok)
        assert.matches("^zip: " .. (tmp .. "/evil.zip"):gsub("%p", "%%%0")
          .. ": unsafe entry name '.*evil' %(", err)
        assert.is_false(fs.exists(tmp .. "/x"))
        assert.is_false(fs.exists(tmp .. "/evil"))
      end
    end)

    it("does not follow a symlink met under the directory", function()
      assert(fs.mkdir_p(tmp .. "/x"))
      assert(fs.mkdir_p(tmp .. "/outside"))
      assert(os.execute("ln -s ../outside " .. util.shquote(tmp .. "/x/sub")))
      assert(zip.writer(tmp .. "/a.zip"):add_data("sub/f", "x"):close())
      local ok, err = zip.extract(tmp .. "/a.zip", tmp .. "/x")
      assert.is_nil(ok)
      assert.equal("zip: " .. tmp .. "/x/sub: Not a directory", err)
      assert.same({}, fs.list(tmp .. "/outside"))
    end)

    it("reports missing, foreign and corrupt archives", function()
      local v, err = zip.list(tmp .. "/nope.zip")
      assert.is_nil(v)
      assert.equal("zip: " .. tmp .. "/nope.zip: No such file or directory", err)
      v, err = zip.list(src .. "/index.py")
      assert.is_nil(v)
      assert.equal("zip: " .. src .. "/index.py: not a zip archive (no end of central directory)", err)
      -- flip a byte of deflated data: extract notices
      assert(zip.writer(tmp .. "/a.zip"):add_data("t", tree.text(10000, 1)):close())
      local bytes = fs.read(tmp .. "/a.zip")
      local i = 30 + 1 + 40
      assert(fs.write(tmp .. "/bad.zip", bytes:sub(1, i - 1) .. string.char(bytes:byte(i) ~ 0xFF)
        .. bytes:sub(i + 1)))
      v, err = zip.extract(tmp .. "/bad.zip", tmp .. "/x")
      assert.is_nil(v)
      assert.matches("^zip: .*/bad%.zip: t: ", err)
      -- a truncated central directory
      assert(fs.write(tmp .. "/cut.zip", bytes:sub(1, #bytes - 30) .. bytes:sub(-22)))
      v, err = zip.list(tmp .. "/cut.zip")
      assert.is_nil(v)
      assert.equal("zip: " .. tmp .. "/cut.zip: corrupt central directory", err)
    end)
  end)

  describe("safe extraction", function()
    --- Asserts that extract(zpath, dir, opts) fails with exactly msg.
    local function refused(msg, zpath, dir, opts)
      local ok, err = zip.extract(zpath, dir, opts)
      assert.is_nil(ok)
      assert.equal(msg, err)
    end

    --- The names in tmp but src and the archives (*.zip): what extraction left.
    local function left_in_tmp()
      local names = {}
      for _, n in ipairs(fs.list(tmp)) do
        if n ~= "src" and not n:match("%.zip$") then names[#names + 1] = n end
      end
      return names
    end

    --- A target folder holding a file of its own: refusals must leave it as is.
    local function own_target()
      local d = tmp .. "/target"
      assert(fs.mkdir_p(d .. "/pkg"))
      assert(fs.write(d .. "/keep.txt", "mine"))
      assert(fs.write(d .. "/pkg/old.py", "old"))
      return d
    end

    local function assert_untouched(d)
      assert.same({ "keep.txt", "pkg/old.py" }, fs.walk(d))
      assert.same({ "keep.txt", "pkg" }, fs.list(d)) -- no temporary folder either
      assert.equal("mine", fs.read(d .. "/keep.txt"))
    end

    --- Writes five 5000-byte deflated entries a.txt .. e.txt; returns the bytes.
    local function five()
      local w = zip.writer(tmp .. "/five.zip")
      for _, n in ipairs({ "a", "b", "c", "d", "e" }) do w:add_data(n .. ".txt", tree.text(5000, n:byte())) end
      assert(w:close())
      return fs.read(tmp .. "/five.zip")
    end

    it("extracts a crafted archive whose entries do not overlap (the crafting is sound)", function()
      assert(fs.write(tmp .. "/ok.zip", craft({ { name = "a", data = "hello" }, { name = "b", data = "world" } },
        { { name = "a", at = 1 }, { name = "b", at = 2 } })))
      local out, code = run("unzip -tq " .. util.shquote(tmp .. "/ok.zip"))
      assert.equal(0, code, out)
      assert.is_true(zip.extract(tmp .. "/ok.zip", tmp .. "/x"))
      assert.same({ "a", "b" }, fs.walk(tmp .. "/x"))
      assert.equal("world", fs.read(tmp .. "/x/b"))
      assert.same({ "x" }, left_in_tmp())
    end)

    it("refuses two central records pointing at one local entry, before writing", function()
      local z = tmp .. "/overlap.zip"
      assert(fs.write(z, craft({ { name = "a", data = "hello" }, { name = "c", data = "other" } },
        { { name = "a", at = 1 }, { name = "c", at = 2 }, { name = "b", at = 1 } })))
      refused("zip: " .. z .. ": entries 'a' and 'b' overlap in the archive", z, tmp .. "/x/y")
      assert.same({}, left_in_tmp())
      local d = own_target()
      refused("zip: " .. z .. ": entries 'a' and 'b' overlap in the archive", z, d)
      assert_untouched(d)
    end)

    it("refuses a record pointing inside another entry's data", function()
      -- "outer" stores 3 bytes then a whole local entry "inner"; a second
      -- central record points at that embedded header (offset 30 + 5 + 3)
      local inner = string.pack("<I4I2I2I2I2I2I4I4I4I2I2", 0x04034b50, 10, 0, 0, 0, 33, crc32("evil"), 4, 4, 5, 0)
        .. "inner" .. "evil"
      local z = tmp .. "/inside.zip"
      assert(fs.write(z, craft({ { name = "outer", data = "pad" .. inner } },
        { { name = "outer", at = 1 }, { name = "inner", data = "evil", offset = 38 } })))
      refused("zip: " .. z .. ": entries 'outer' and 'inner' overlap in the archive", z, tmp .. "/x")
      assert.same({}, left_in_tmp())
    end)

    it("refuses archives that declare more than the budget, before writing", function()
      local w = zip.writer(tmp .. "/three.zip")
      for i = 1, 3 do w:add_data("f" .. i, ("x"):rep(1000)) end
      assert(w:close())
      local z = tmp .. "/three.zip"
      refused("zip: " .. z .. ": entries declare 3000 bytes in all, over the extraction budget of 2500 bytes",
        z, tmp .. "/x", { max_total = 2500 })
      assert.same({}, left_in_tmp())
      assert.is_true(zip.extract(z, tmp .. "/x", { max_total = 3000 }))
      assert.same({ "f1", "f2", "f3" }, fs.walk(tmp .. "/x"))
      -- the default budget is 512 MiB: one entry declaring 600 MiB is refused
      local big = patch_central(fs.read(z), "f2", 24, string.pack("<I4", 600 * 1024 * 1024))
      assert(fs.write(tmp .. "/big.zip", big))
      refused("zip: " .. tmp .. "/big.zip: entries declare 629147600 bytes in all, over the extraction budget of "
        .. "536870912 bytes", tmp .. "/big.zip", tmp .. "/y")
      assert.same({ "x" }, left_in_tmp())
    end)

    it("stops an entry that inflates past its declared size (a lying header)", function()
      assert(zip.writer(tmp .. "/bomb.zip"):add_data("a.txt", "small"):add_data("big", ("a"):rep(1 << 20))
        :close())
      local z = tmp .. "/lie.zip"
      local bytes = fs.read(tmp .. "/bomb.zip")
      assert.is_true(#bytes < 4000)
      assert(fs.write(z, patch_central(bytes, "big", 24, string.pack("<I4", 1000))))
      refused("zip: " .. z .. ": big: inflates to more than its declared 1000 bytes", z, tmp .. "/x",
        { max_total = 2000 })
      assert.same({}, left_in_tmp())
      local d = own_target()
      refused("zip: " .. z .. ": big: inflates to more than its declared 1000 bytes", z, d)
      assert_untouched(d)
    end)

    it("leaves nothing behind when the 3rd entry has a bad CRC", function()
      local z = tmp .. "/crc.zip"
      assert(fs.write(z, patch_central(five(), "c.txt", 16, "\0\0\0\0")))
      refused("zip: " .. z .. ": c.txt: CRC or size mismatch", z, tmp .. "/new/deep")
      assert.same({}, left_in_tmp())
      local d = own_target()
      refused("zip: " .. z .. ": c.txt: CRC or size mismatch", z, d)
      assert_untouched(d)
    end)

    it("leaves nothing behind when the 3rd entry's deflate stream is corrupt", function()
      local bytes = five()
      local at = assert(bytes:find("PK\3\4", 1, true))
      for _ = 1, 2 do at = assert(bytes:find("PK\3\4", at + 4, true)) end
      local data = at + 30 + #"c.txt"
      assert.equal("c.txt", bytes:sub(at + 30, data - 1))
      for i = data, data + 20 do bytes = bytes:sub(1, i - 1) .. "\255" .. bytes:sub(i + 1) end
      local z = tmp .. "/deflate.zip"
      assert(fs.write(z, bytes))
      refused("zip: " .. z .. ": c.txt: corrupt data", z, tmp .. "/x")
      assert.same({}, left_in_tmp())
      local d = own_target()
      refused("zip: " .. z .. ": c.txt: corrupt data", z, d)
      assert_untouched(d)
    end)

    it("merges into a folder that has files, replacing files, keeping the rest", function()
      local d = own_target()
      five()
      assert(zip.writer(tmp .. "/pkg.zip"):add_data("pkg/new.py", "new"):add_data("keep.txt", "theirs"):close())
      assert.is_true(zip.extract(tmp .. "/five.zip", d))
      assert.is_true(zip.extract(tmp .. "/pkg.zip", d))
      assert.same({ "a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "keep.txt", "pkg/new.py", "pkg/old.py" },
        fs.walk(d))
      assert.equal("theirs", fs.read(d .. "/keep.txt"))
      assert.equal(tree.text(5000, ("c"):byte()), fs.read(d .. "/c.txt"))
      -- a file where the archive has a folder: refused, nothing moved
      assert(fs.mkdir_p(tmp .. "/t2"))
      assert(fs.write(tmp .. "/t2/pkg", "a file"))
      refused("zip: " .. tmp .. "/t2/pkg: Not a directory", tmp .. "/pkg.zip", tmp .. "/t2")
      assert.same({ "pkg" }, fs.list(tmp .. "/t2"))
      -- a folder where the archive has a file
      assert(fs.remove_tree(tmp .. "/t2/pkg"))
      assert(fs.mkdir_p(tmp .. "/t2/keep.txt"))
      refused("zip: " .. tmp .. "/t2/keep.txt: Is a directory", tmp .. "/pkg.zip", tmp .. "/t2")
      assert.same({ "keep.txt" }, fs.list(tmp .. "/t2"))
      assert.same({}, fs.list(tmp .. "/t2/keep.txt"))
    end)

    it("raises on a bad budget option", function()
      assert.has_error(function() zip.extract(tmp .. "/a.zip", tmp .. "/x", { max_total = -1 }) end)
      assert.has_error(function() zip.extract(tmp .. "/a.zip", tmp .. "/x", { max_total = 1.5 }) end)
      assert.has_error(function() zip.extract(tmp .. "/a.zip", tmp .. "/x", { max = 1 }) end)
      assert.has_error(function() zip.extract(tmp .. "/a.zip", tmp .. "/x", 10) end)
    end)
  end)

  describe("a 50 MiB tree", function()
    it("zips in well under 20 s, verifies, and round-trips through extract", function()
      local dir = tmp .. "/big"
      local paths = tree.make(dir, 25, 2 * 1024 * 1024)
      local t0 = os.time()
      local c0 = os.clock()
      local r = zip_tree(dir, tmp .. "/big.zip")
      local cpu = os.clock() - c0
      assert.is_true(os.time() - t0 < 20, "zipping took too long")
      assert.is_true(cpu < 20, ("zipping took %.1f s of CPU"):format(cpu))
      assert.equal(25, r.entries)
      assert.equal(sha256sum(tmp .. "/big.zip"), r.sha256)
      local out, code = run("unzip -tq " .. util.shquote(tmp .. "/big.zip"))
      assert.equal(0, code, out)
      assert.is_true(zip.extract(tmp .. "/big.zip", tmp .. "/out"))
      assert.same(paths, fs.walk(tmp .. "/out"))
      for _, rel in ipairs(paths) do
        assert.is_true(fs.read(dir .. "/" .. rel) == fs.read(tmp .. "/out/" .. rel), rel)
      end
    end)
  end)
end)
