local fs = require("host.fs")
local util = require("spec.support.util")

local ENOENT = "No such file or directory"
local ENOTDIR = "Not a directory"

local function octal(s) return math.tointeger(tonumber(s, 8)) end

local function sh(cmd)
  local ok = os.execute(cmd)
  assert(ok, "command failed: " .. cmd)
end

--- Names in dir that look like fs.write / fs.copy temp files.
local function temps(dir)
  local found = {}
  for _, n in ipairs(assert(fs.list(dir))) do
    if n:find("%.tmp%-") then found[#found + 1] = n end
  end
  return found
end

--- Asserts that fn(...) raises "bad argument #n to '<fn>' (<msg>)"; the
-- function's name depends on how it was reached, so it is not compared.
local function argerror(n, msg, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "no error raised")
  err = tostring(err)
  local prefix = ("bad argument #%d to '"):format(n)
  assert.equal(prefix, err:sub(1, #prefix), err)
  assert.equal(" (" .. msg .. ")", err:sub(-#msg - 3), err)
end

describe("host.fs #unit", function()
  local tmp

  before_each(function()
    tmp = assert(fs.tmpdir("fs-spec-"))
  end)

  after_each(function()
    assert(fs.remove_tree(tmp))
  end)

  describe("read and write", function()
    it("round-trips binary data, NUL bytes included", function()
      local data = "a\0b\255\r\n" .. string.rep("x", 300000)
      assert.is_true(fs.write(tmp .. "/f", data))
      assert.equal(data, fs.read(tmp .. "/f"))
      assert.is_true(fs.write(tmp .. "/empty", ""))
      assert.equal("", fs.read(tmp .. "/empty"))
    end)

    it("reads files of every size around its buffer's edges, and files whose size stat does not know", function()
      for _, n in ipairs({ 1, 15, 16, 17, 4095, 4096, 4097, 65536, 131071, 131072, 131073, 400001 }) do
        local data = ("0123456789abcdef"):rep(n // 16 + 1):sub(1, n)
        assert.is_true(fs.write(tmp .. "/f", data))
        local got = fs.read(tmp .. "/f")
        assert.equal(n, #got)
        assert.equal(data, got)
      end
      -- /proc files report a size of 0 and are read to their end all the same
      local status = assert(fs.read("/proc/self/status"))
      assert.matches("\nVmRSS:", status)
      assert.matches("\n$", status)
    end)

    it("creates files 0644 by default and applies the given mode exactly", function()
      assert(fs.write(tmp .. "/a", "x"))
      assert.equal(octal("644"), fs.stat(tmp .. "/a").mode)
      assert(fs.write(tmp .. "/b", "x", { mode = "0755" }))
      assert.equal(octal("755"), fs.stat(tmp .. "/b").mode)
      assert(fs.write(tmp .. "/c", "x", { mode = octal("600") }))
      assert.equal(octal("600"), fs.stat(tmp .. "/c").mode)
      -- replacing a file gives it the new mode (it is a new file)
      assert(fs.write(tmp .. "/b", "y"))
      assert.equal(octal("644"), fs.stat(tmp .. "/b").mode)
    end)

    it("replaces the target by rename: an old hard link keeps the old bytes", function()
      assert(fs.write(tmp .. "/t", "old content"))
      sh("ln " .. util.shquote(tmp .. "/t") .. " " .. util.shquote(tmp .. "/old"))
      assert(fs.write(tmp .. "/t", "new content"))
      assert.equal("new content", fs.read(tmp .. "/t"))
      assert.equal("old content", fs.read(tmp .. "/old"))
      assert.same({}, temps(tmp))
    end)

    it("writes in place with atomic = false", function()
      assert(fs.write(tmp .. "/t", "old"))
      sh("ln " .. util.shquote(tmp .. "/t") .. " " .. util.shquote(tmp .. "/old"))
      assert(fs.write(tmp .. "/t", "new", { atomic = false }))
      assert.equal("new", fs.read(tmp .. "/old"))
    end)

    -- refusals
    it("fails on a missing file with the path, strerror and errno name", function()
      local p = tmp .. "/missing"
      local v, err, code = fs.read(p)
      assert.is_nil(v)
      assert.equal("fs: " .. p .. ": " .. ENOENT, err)
      assert.equal("ENOENT", code)
      v, err, code = fs.read(tmp)
      assert.is_nil(v)
      assert.equal("fs: " .. tmp .. ": Is a directory", err)
      assert.equal("EISDIR", code)
    end)

    it("fails into a missing directory and leaves nothing behind", function()
      local p = tmp .. "/no/such/f"
      local ok, err, code = fs.write(p, "x")
      assert.is_nil(ok)
      assert.equal("fs: " .. p .. ": " .. ENOENT, err)
      assert.equal("ENOENT", code)
      assert.same({}, fs.list(tmp))
    end)

    it("fails when the parent is a file, and leaves no temp file", function()
      assert(fs.write(tmp .. "/file", "keep"))
      local p = tmp .. "/file/child"
      local ok, err, code = fs.write(p, "x")
      assert.is_nil(ok)
      assert.equal("fs: " .. p .. ": " .. ENOTDIR, err)
      assert.equal("ENOTDIR", code)
      assert.same({ "file" }, fs.list(tmp))
      assert.equal("keep", fs.read(tmp .. "/file"))
    end)

    it("removes its temp file when the final rename fails (target is a directory)", function()
      assert(fs.mkdir_p(tmp .. "/dir/inner"))
      local ok, err, code = fs.write(tmp .. "/dir", "x")
      assert.is_nil(ok)
      assert.equal("fs: " .. tmp .. "/dir: Is a directory", err)
      assert.equal("EISDIR", code)
      assert.same({ "dir" }, fs.list(tmp))
      assert.same({ "inner" }, fs.list(tmp .. "/dir"))
    end)

    it("raises on misuse: bad types, unknown options, decimal-looking modes", function()
      assert.has_error(function() fs.read() end)
      assert.has_error(function() fs.write(tmp .. "/x") end)
      argerror(3, "unknown option 'bogus'", fs.write, tmp .. "/x", "d", { bogus = 1 })
      argerror(3, "option 'atomic' must be a boolean", fs.write, tmp .. "/x", "d", { atomic = "yes" })
      -- Lua has no octal literals: 0644 is the decimal 644
      argerror(3, "invalid mode 644 (Lua has no octal literals: "
          .. "write \"644\" or tonumber(\"644\", 8))", fs.write, tmp .. "/x", "d", { mode = 0644 })
      argerror(3, "invalid mode '9' (octal digits, at most 7777)", fs.write, tmp .. "/x", "d", { mode = "9" })
      assert.has_error(function() fs.write(tmp .. "/x", "d", { mode = true }) end)
      argerror(1, "path contains a NUL byte", fs.write, tmp .. "/x\0y", "d")
      argerror(1, "path contains a NUL byte", fs.exists, tmp .. "\0")
      assert.same({}, fs.list(tmp))
    end)
  end)

  describe("stat and predicates", function()
    it("describes files, directories, links and others", function()
      assert(fs.write(tmp .. "/f", "12345", { mode = "640" }))
      assert(fs.mtime_set(tmp .. "/f", 1234567890))
      local st = assert(fs.stat(tmp .. "/f"))
      assert.same({ type = "file", size = 5, mode = octal("640"), mtime = 1234567890,
        mtime_ns = 1234567890 * 1000000000 }, st)
      assert.equal("directory", fs.stat(tmp).type)
      sh("ln -s f " .. util.shquote(tmp .. "/l") .. " && mkfifo " .. util.shquote(tmp .. "/p"))
      assert.equal("file", fs.stat(tmp .. "/l").type)
      assert.equal("link", fs.stat(tmp .. "/l", { follow = false }).type)
      assert.equal("other", fs.stat(tmp .. "/p").type)
    end)

    it("keeps sub-second times in mtime_ns", function()
      assert(fs.write(tmp .. "/f", ""))
      assert(fs.mtime_set(tmp .. "/f", 1000.5))
      local st = fs.stat(tmp .. "/f")
      assert.equal(1000, st.mtime)
      assert.equal(1000 * 1000000000 + 500000000, st.mtime_ns)
    end)

    it("fails on a missing path", function()
      local v, err, code = fs.stat(tmp .. "/nope")
      assert.is_nil(v)
      assert.equal("fs: " .. tmp .. "/nope: " .. ENOENT, err)
      assert.equal("ENOENT", code)
      argerror(2, "unknown option 'folow'", fs.stat, tmp, { folow = true })
    end)

    it("exists, isdir and isfile follow links", function()
      assert(fs.write(tmp .. "/f", ""))
      sh("ln -s f " .. util.shquote(tmp .. "/l") .. " && ln -s nowhere " .. util.shquote(tmp .. "/dangling"))
      assert.is_true(fs.exists(tmp .. "/f"))
      assert.is_true(fs.exists(tmp))
      assert.is_false(fs.exists(tmp .. "/nope"))
      assert.is_false(fs.exists(tmp .. "/dangling"))
      assert.is_true(fs.isfile(tmp .. "/l"))
      assert.is_false(fs.isfile(tmp))
      assert.is_true(fs.isdir(tmp))
      assert.is_false(fs.isdir(tmp .. "/f"))
      assert.is_false(fs.isdir(tmp .. "/nope"))
    end)
  end)

  describe("mkdir_p, remove, remove_tree, rename, copy", function()
    it("creates nested directories and accepts existing ones", function()
      assert.is_true(fs.mkdir_p(tmp .. "/a/b/c"))
      assert.is_true(fs.mkdir_p(tmp .. "/a/b/c"))
      assert.is_true(fs.mkdir_p(tmp .. "/a//b/c/"))
      assert.is_true(fs.isdir(tmp .. "/a/b/c"))
      assert.is_true(fs.mkdir_p(tmp .. "/m", "700"))
      assert.equal(octal("700"), fs.stat(tmp .. "/m").mode)
    end)

    it("fails when a file is in the way", function()
      assert(fs.write(tmp .. "/f", ""))
      local ok, err, code = fs.mkdir_p(tmp .. "/f")
      assert.is_nil(ok)
      assert.equal("fs: " .. tmp .. "/f: File exists", err)
      assert.equal("EEXIST", code)
      ok, err, code = fs.mkdir_p(tmp .. "/f/sub/dir")
      assert.is_nil(ok)
      assert.equal("fs: " .. tmp .. "/f/sub/dir: " .. ENOTDIR, err)
      assert.equal("ENOTDIR", code)
    end)

    it("removes files and empty directories only", function()
      assert(fs.write(tmp .. "/f", ""))
      assert(fs.mkdir_p(tmp .. "/d/e"))
      assert.is_true(fs.remove(tmp .. "/f"))
      local ok, err, code = fs.remove(tmp .. "/d")
      assert.is_nil(ok)
      assert.equal("fs: " .. tmp .. "/d: Directory not empty", err)
      assert.equal("ENOTEMPTY", code)
      assert.is_true(fs.remove(tmp .. "/d/e"))
      ok, err, code = fs.remove(tmp .. "/f")
      assert.is_nil(ok)
      assert.equal("fs: " .. tmp .. "/f: " .. ENOENT, err)
      assert.equal("ENOENT", code)
    end)

    it("removes a tree without following links out of it", function()
      local outside = tmp .. "/outside"
      assert(fs.mkdir_p(outside))
      assert(fs.write(outside .. "/precious", "keep"))
      assert(fs.mkdir_p(tmp .. "/t/a/b"))
      assert(fs.write(tmp .. "/t/a/b/f", "x"))
      assert(fs.write(tmp .. "/t/.hidden", "x"))
      sh("ln -s ../outside " .. util.shquote(tmp .. "/t/link")
        .. " && ln -s ../../outside/precious " .. util.shquote(tmp .. "/t/a/flink"))
      assert.is_true(fs.remove_tree(tmp .. "/t"))
      assert.is_false(fs.exists(tmp .. "/t"))
      assert.equal("keep", fs.read(outside .. "/precious"))
      -- a missing tree is already removed; a single file is removed
      assert.is_true(fs.remove_tree(tmp .. "/t"))
      assert.is_true(fs.remove_tree(outside .. "/precious"))
      assert.same({}, fs.list(outside))
    end)

    it("refuses to remove \"\" or \"/\" by raising", function()
      for _, p in ipairs({ "", "/", "//" }) do
        argerror(1, "fs: refusing to remove_tree \"\" or \"/\"", fs.remove_tree, p)
      end
    end)

    it("renames, and names both paths when it fails", function()
      assert(fs.write(tmp .. "/a", "A"))
      assert.is_true(fs.rename(tmp .. "/a", tmp .. "/b"))
      assert.equal("A", fs.read(tmp .. "/b"))
      local ok, err, code = fs.rename(tmp .. "/a", tmp .. "/c")
      assert.is_nil(ok)
      assert.equal("fs: " .. tmp .. "/a -> " .. tmp .. "/c: " .. ENOENT, err)
      assert.equal("ENOENT", code)
    end)

    it("links a second name to a file, and names both paths when it fails", function()
      assert(fs.write(tmp .. "/a", "A"))
      assert.is_true(fs.link(tmp .. "/a", tmp .. "/b"))
      assert.is_true(fs.remove(tmp .. "/a"))
      assert.equal("A", fs.read(tmp .. "/b")) -- the file lives on under its other name
      local ok, err, code = fs.link(tmp .. "/a", tmp .. "/c")
      assert.is_nil(ok)
      assert.equal("fs: " .. tmp .. "/a -> " .. tmp .. "/c: " .. ENOENT, err)
      assert.equal("ENOENT", code)
      ok, err, code = fs.link(tmp .. "/b", tmp .. "/b")
      assert.is_nil(ok)
      assert.equal("fs: " .. tmp .. "/b -> " .. tmp .. "/b: File exists", err)
      assert.equal("EEXIST", code)
    end)

    it("tells whether a file holds exactly a text", function()
      local big = string.rep("0123456789abcdef", 10000) -- several reads
      assert(fs.write(tmp .. "/f", big))
      assert.is_true(fs.same(tmp .. "/f", big))
      assert.is_false(fs.same(tmp .. "/f", big:sub(1, -2) .. "X")) -- the last byte differs
      assert.is_false(fs.same(tmp .. "/f", "X" .. big:sub(2)))      -- the first
      assert.is_false(fs.same(tmp .. "/f", big .. "x"))             -- a size apart
      assert.is_false(fs.same(tmp .. "/f", big:sub(1, -2)))
      assert(fs.write(tmp .. "/e", ""))
      assert.is_true(fs.same(tmp .. "/e", ""))
      assert.is_false(fs.same(tmp .. "/e", "x"))
      assert.same({ false }, { fs.same(tmp .. "/missing", "") }) -- missing: just false
      assert.same({ false }, { fs.same(tmp, "") })                 -- a folder is not a file
      sh("mkfifo " .. util.shquote(tmp .. "/fifo"))
      assert.same({ false }, { fs.same(tmp .. "/fifo", "") })      -- nor a fifo, and no wait for a writer
      local ok, err, code = fs.same(tmp .. "/f/under", "x")
      assert.is_false(ok)
      assert.equal("fs: " .. tmp .. "/f/under: " .. ENOTDIR, err)
      assert.equal("ENOTDIR", code)
    end)

    it("copies content and mode, streamed and atomic", function()
      local big = string.rep("0123456789abcdef", 100000) .. "\0end"
      assert(fs.write(tmp .. "/src", big, { mode = "750" }))
      assert.is_true(fs.copy(tmp .. "/src", tmp .. "/dst"))
      assert.equal(big, fs.read(tmp .. "/dst"))
      assert.equal(octal("750"), fs.stat(tmp .. "/dst").mode)
      assert.is_true(fs.copy(tmp .. "/src", tmp .. "/dst", { mode = "644" }))
      assert.equal(octal("644"), fs.stat(tmp .. "/dst").mode)
      assert.same({ "dst", "src" }, fs.list(tmp))
    end)

    it("copy names the side that failed", function()
      local ok, err, code = fs.copy(tmp .. "/nope", tmp .. "/dst")
      assert.is_nil(ok)
      assert.equal("fs: " .. tmp .. "/nope: " .. ENOENT, err)
      assert.equal("ENOENT", code)
      assert(fs.write(tmp .. "/src", "x"))
      ok, err, code = fs.copy(tmp .. "/src", tmp .. "/src/dst")
      assert.is_nil(ok)
      assert.equal("fs: " .. tmp .. "/src/dst: " .. ENOTDIR, err)
      assert.equal("ENOTDIR", code)
      ok, err, code = fs.copy(tmp, tmp .. "/dst")
      assert.is_nil(ok)
      assert.equal("fs: " .. tmp .. ": Is a directory", err)
      assert.equal("EISDIR", code)
      assert.same({ "src" }, fs.list(tmp))
    end)
  end)

  describe("list, walk, glob", function()
    local function tree()
      for _, p in ipairs({ "b", "B", "a10", "a2", "_x", ".hidden", "sub/z", "sub/A/deep",
        "sub-x/y", "sub.y" }) do
        assert(fs.mkdir_p(fs.dirname(tmp .. "/t/" .. p)))
        assert(fs.write(tmp .. "/t/" .. p, p))
      end
      assert(fs.mkdir_p(tmp .. "/t/emptydir"))
    end

    it("lists entry names in byte order without . and ..", function()
      tree()
      assert.same({ ".hidden", "B", "_x", "a10", "a2", "b", "emptydir", "sub", "sub-x", "sub.y" },
        fs.list(tmp .. "/t"))
      local v, err, code = fs.list(tmp .. "/t/b")
      assert.is_nil(v)
      assert.equal("fs: " .. tmp .. "/t/b: " .. ENOTDIR, err)
      assert.equal("ENOTDIR", code)
    end)

    it("walks files recursively, sorted by the full relative path", function()
      tree()
      assert.same({ ".hidden", "B", "_x", "a10", "a2", "b", "sub-x/y", "sub.y", "sub/A/deep",
        "sub/z" }, fs.walk(tmp .. "/t"))
      assert.same({ ".hidden", "B", "_x", "a10", "a2", "b", "emptydir", "sub", "sub-x",
        "sub-x/y", "sub.y", "sub/A", "sub/A/deep", "sub/z" }, fs.walk(tmp .. "/t", { dirs = true }))
    end)

    it("hashes each file as it walks when asked (sha256): digests and sizes beside the paths", function()
      tree()
      local crypto = require("host.crypto")
      local big = ("0123456789abcdef"):rep(4096) .. "tail" -- over one read's worth
      assert(fs.write(tmp .. "/t/sub/big", big))
      assert(fs.write(tmp .. "/t/empty", ""))
      local paths, sums, sizes = fs.walk(tmp .. "/t", { sha256 = true })
      assert.same(fs.walk(tmp .. "/t"), paths)
      assert.equal(#paths, #sums)
      assert.equal(#paths, #sizes)
      for i, p in ipairs(paths) do
        local want, size = crypto.sha256_file(tmp .. "/t/" .. p)
        assert.equal(want, sums[i], p)
        assert.equal(size, sizes[i], p)
      end
      -- with folders: they have no digest
      local all, dsums, dsizes = fs.walk(tmp .. "/t", { sha256 = true, dirs = true })
      assert.same(fs.walk(tmp .. "/t", { dirs = true }), all)
      for i, p in ipairs(all) do
        if fs.isdir(tmp .. "/t/" .. p) then
          assert.is_false(dsums[i])
          assert.equal(-1, dsizes[i])
        else
          assert.equal((crypto.sha256_file(tmp .. "/t/" .. p)), dsums[i])
        end
      end
      -- a link to a file is hashed as the file
      sh("cd " .. util.shquote(tmp .. "/t") .. " && ln -s sub/big biglink")
      local lp, ls = fs.walk(tmp .. "/t", { sha256 = true })
      for i, p in ipairs(lp) do
        if p == "biglink" then assert.equal((crypto.sha256_hex(big)), ls[i]) end
      end
    end)

    it("fails naming the file it cannot read while hashing", function()
      -- /proc/self/mem opens, and reading its first byte fails (EIO), even for root
      assert(fs.mkdir_p(tmp .. "/t/d"))
      sh("ln -s /proc/self/mem " .. util.shquote(tmp .. "/t/d/mem"))
      local v, err, code = fs.walk(tmp .. "/t", { sha256 = true })
      assert.is_nil(v)
      assert.equal("fs: " .. tmp .. "/t/d/mem: Input/output error", err)
      assert.equal("EIO", code)
      assert.same({ "d/mem" }, fs.walk(tmp .. "/t")) -- listing reads nothing
    end)

    it("gives the same order for the same tree created in another order", function()
      for _, p in ipairs({ "z/1", "a/2", "m" }) do
        assert(fs.mkdir_p(fs.dirname(tmp .. "/u/" .. p)))
        assert(fs.write(tmp .. "/u/" .. p, ""))
      end
      for _, p in ipairs({ "m", "a/2", "z/1" }) do
        assert(fs.mkdir_p(fs.dirname(tmp .. "/v/" .. p)))
        assert(fs.write(tmp .. "/v/" .. p, ""))
      end
      assert.same({ "a/2", "m", "z/1" }, fs.walk(tmp .. "/u"))
      assert.same(fs.walk(tmp .. "/u"), fs.walk(tmp .. "/v"))
    end)

    it("includes links to files, follows directory links only when asked", function()
      assert(fs.mkdir_p(tmp .. "/t/real"))
      assert(fs.write(tmp .. "/t/real/f", ""))
      assert(fs.write(tmp .. "/t/file", ""))
      sh("cd " .. util.shquote(tmp .. "/t") .. " && ln -s real dirlink && ln -s file flink"
        .. " && ln -s nowhere dangling && ln -s self self && mkfifo fifo")
      assert.same({ "file", "flink", "real/f" }, fs.walk(tmp .. "/t"))
      assert.same({ "dirlink", "file", "flink", "real", "real/f" },
        fs.walk(tmp .. "/t", { dirs = true }))
      assert.same({ "dirlink/f", "file", "flink", "real/f" }, fs.walk(tmp .. "/t", { follow = true }))
    end)

    it("does not hang on a symlink loop, followed or not", function()
      assert(fs.mkdir_p(tmp .. "/t/a/b"))
      assert(fs.write(tmp .. "/t/a/b/f", ""))
      sh("ln -s ../.. " .. util.shquote(tmp .. "/t/a/b/up") .. " && ln -s . " .. util.shquote(tmp .. "/t/here"))
      assert.same({ "a/b/f" }, fs.walk(tmp .. "/t"))
      assert.same({ "a/b/f" }, fs.walk(tmp .. "/t", { follow = true }))
    end)

    it("fails on a missing directory and raises on bad options", function()
      local v, err, code = fs.walk(tmp .. "/nope")
      assert.is_nil(v)
      assert.equal("fs: " .. tmp .. "/nope: " .. ENOENT, err)
      assert.equal("ENOENT", code)
      assert(fs.write(tmp .. "/plain", "x"))
      v, err, code = fs.walk(tmp .. "/plain")
      assert.is_nil(v)
      assert.equal("fs: " .. tmp .. "/plain: Not a directory", err)
      assert.equal("ENOTDIR", code)
      argerror(2, "unknown option 'dir'", fs.walk, tmp, { dir = true })
    end)

    it("globs in byte order; no match is an empty array", function()
      tree()
      local t = tmp .. "/t/"
      assert.same({ t .. "a10", t .. "a2" }, fs.glob(t .. "a*"))
      assert.same({ t .. "B", t .. "b" }, fs.glob(t .. "[bB]"))
      assert.same({ t .. "sub-x/y", t .. "sub/z" }, fs.glob(t .. "sub*/[yz]"))
      assert.same({}, fs.glob(t .. "*.nothing"))
      assert.same({}, fs.glob(tmp .. "/missing/*"))
    end)
  end)

  describe("paths", function()
    it("realpath resolves links and dots; cwd is absolute", function()
      assert(fs.mkdir_p(tmp .. "/a/b"))
      sh("ln -s a/b " .. util.shquote(tmp .. "/l"))
      local real = fs.realpath(tmp)
      assert.equal(real .. "/a/b", fs.realpath(tmp .. "/l/../b/."))
      local v, err, code = fs.realpath(tmp .. "/nope")
      assert.is_nil(v)
      assert.equal("fs: " .. tmp .. "/nope: " .. ENOENT, err)
      assert.equal("ENOENT", code)
      assert.equal(util.cwd(), fs.cwd())
    end)

    it("dirname and basename follow POSIX", function()
      local cases = {
        { "a/b/c", "a/b", "c" }, { "a/b/", "a", "b" }, { "a", ".", "a" }, { "/", "/", "/" },
        { "/a", "/", "a" }, { "//a//b//", "//a", "b" }, { "", ".", "." }, { ".", ".", "." },
        { "../x", "..", "x" },
      }
      for _, c in ipairs(cases) do
        assert.equal(c[2], fs.dirname(c[1]), "dirname " .. c[1])
        assert.equal(c[3], fs.basename(c[1]), "basename " .. c[1])
      end
    end)

    it("join adds one separator, skips empty parts, restarts at absolute parts", function()
      assert.equal("a/b/c", fs.join("a", "b", "c"))
      assert.equal("a/b/c", fs.join("a/", "b", "", "c"))
      assert.equal("/x/y", fs.join("a", "/x", "y"))
      assert.equal("a", fs.join("a"))
      assert.equal("", fs.join(""))
      assert.has_error(function() fs.join("a", 1 < 2) end)
    end)

    it("tmpdir makes a fresh private directory under $TMPDIR", function()
      local a, b = assert(fs.tmpdir()), assert(fs.tmpdir())
      assert.not_equal(a, b)
      assert.matches("/lakehost%-%w+$", a)
      assert.equal(octal("700"), fs.stat(a).mode)
      assert(fs.remove(a))
      assert(fs.remove(b))
      local out, _, code = util.lakehost({ "-e", "io.write(require('host.fs').tmpdir('pre.'))" },
        { env = { TMPDIR = tmp } })
      assert.equal(0, code)
      assert.matches("^" .. tmp:gsub("%p", "%%%0") .. "/pre%.%w+$", out)
      assert.is_true(fs.isdir(out))
      argerror(1, "prefix must not contain '/'", fs.tmpdir, "a/b")
    end)
  end)

  describe("chmod and mtime_set", function()
    it("changes permission bits and modification times", function()
      assert(fs.write(tmp .. "/f", ""))
      assert.is_true(fs.chmod(tmp .. "/f", "751"))
      assert.equal(octal("751"), fs.stat(tmp .. "/f").mode)
      assert.is_true(fs.chmod(tmp .. "/f", octal("600")))
      assert.equal(octal("600"), fs.stat(tmp .. "/f").mode)
      assert.is_true(fs.mtime_set(tmp .. "/f", 315532800))
      assert.equal(315532800, fs.stat(tmp .. "/f").mtime)
      local ok, err, code = fs.chmod(tmp .. "/nope", "644")
      assert.is_nil(ok)
      assert.equal("fs: " .. tmp .. "/nope: " .. ENOENT, err)
      assert.equal("ENOENT", code)
      ok, err, code = fs.mtime_set(tmp .. "/nope", 1)
      assert.is_nil(ok)
      assert.equal("fs: " .. tmp .. "/nope: " .. ENOENT, err)
      assert.equal("ENOENT", code)
      assert.has_error(function() fs.chmod(tmp .. "/f", 755) end)
    end)
  end)

  describe("lock", function()
    local function try_in_child(path)
      local code = ("local l, e, c = require('host.fs').lock(%q, {wait = false})"
        .. " io.write(l and 'locked' or (e .. ' ' .. c))"):format(path)
      local out, err, status = util.lakehost({ "-e", code })
      assert.equal(0, status, err)
      return out
    end

    it("excludes another process until released", function()
      local p = tmp .. "/cache.lock"
      local l = assert(fs.lock(p))
      assert.equal("lakehost.fs.lock (held)", tostring(l))
      assert.is_true(fs.isfile(p))
      assert.equal("fs: " .. p .. ": locked EWOULDBLOCK", try_in_child(p))
      assert.is_true(l:unlock())
      assert.equal("lakehost.fs.lock (released)", tostring(l))
      assert.equal("locked", try_in_child(p))
      assert.has_error(function() l:unlock() end, "fs: lock already released")
    end)

    it("conflicts within one process too, and is released by <close> and gc", function()
      local p = tmp .. "/l"
      do
        local l <close> = assert(fs.lock(p))
        local v, err, code = fs.lock(p, { wait = false })
        assert.is_nil(v)
        assert.equal("fs: " .. p .. ": locked", err)
        assert.equal("EWOULDBLOCK", code)
        assert.truthy(l)
      end
      local l2 = assert(fs.lock(p, { wait = false }))
      assert.truthy(l2)
      l2 = nil -- luacheck: ignore 311
      collectgarbage()
      collectgarbage()
      assert.truthy(fs.lock(p, { wait = false }))
    end)

    it("fails when the lock file cannot be created", function()
      local v, err, code = fs.lock(tmp .. "/no/dir/l")
      assert.is_nil(v)
      assert.equal("fs: " .. tmp .. "/no/dir/l: " .. ENOENT, err)
      assert.equal("ENOENT", code)
      argerror(2, "option 'wait' must be a boolean", fs.lock, tmp .. "/l", { wait = 1 })
    end)
  end)
end)
