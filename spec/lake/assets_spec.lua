-- lake.assets (issue 4): merged requirements, builders, the build cache,
-- Lambda and Glue packages, jars. The local builder runs pip for real
-- against a wheel built in the test (--no-index --find-links); the Docker
-- builder runs against spec/fixtures/proc/fake-docker.
local assets = require("lake.assets")
local build = require("lake.assets.build")
local builders = require("lake.assets.installers")
local cache = require("lake.assets.cache")
local crypto = require("host.crypto")
local lutil = require("lake.util")
local docker = require("lake.docker")
local fs = require("host.fs")
local lapp = require("lake.app")
local load = require("lake.load")
local proc = require("host.proc")
local reqs = require("lake.assets.requirements")
local util = require("spec.support.util")
local zip = require("host.zip")

local FAKE = util.cwd() .. "/spec/fixtures/proc/fake-docker"

---------------------------------------------------------------------------
-- Helpers

local function tmpdir() return assert(fs.tmpdir("lakehost-assets-spec-")) end

local function write(path, text)
  assert(fs.mkdir_p(fs.dirname(path)))
  assert(fs.write(path, text))
end

local function run(argv, opts)
  opts = opts or {}
  local res = assert(proc.run({ argv = argv, cwd = opts.cwd, stderr = "stdout", env_add = opts.env_add }))
  return res.stdout, res.code
end

--- Builds <dir>/<name>-<ver>-py3-none-any.whl: <pkg>/__init__.py with
-- greet(who) and a dist-info with METADATA, WHEEL and RECORD.
local function make_wheel(dir, name, ver)
  local script = [[
import base64, hashlib, sys, zipfile
d, name, ver = sys.argv[1:4]
pkg = name.replace("-", "_")
di = "%s-%s.dist-info" % (pkg, ver)
files = {
    pkg + "/__init__.py": "def greet(who):\n    return 'hello ' + who\n",
    di + "/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, ver),
    di + "/WHEEL": "Wheel-Version: 1.0\nGenerator: spec\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
rec = []
for p, t in files.items():
    h = base64.urlsafe_b64encode(hashlib.sha256(t.encode()).digest()).rstrip(b"=").decode()
    rec.append("%s,sha256=%s,%d" % (p, h, len(t.encode())))
rec.append(di + "/RECORD,,")
files[di + "/RECORD"] = "\n".join(rec) + "\n"
with zipfile.ZipFile("%s/%s-%s-py3-none-any.whl" % (d, pkg, ver), "w") as z:
    for p, t in files.items():
        z.writestr(zipfile.ZipInfo(p, (1980, 1, 1, 0, 0, 0)), t)
]]
  local out, code = run({ "python3", "-c", script, dir, name, ver })
  assert(code == 0, out)
end

--- A module folder under root/rel with files (path -> text); returns the
-- module table lake.pipeline.modules.check would, src/ as the load phase
-- read it (call it again, with no files, to read a changed folder again).
local function make_module(root, rel, files, extra)
  for path, text in pairs(files) do write(root .. "/" .. rel .. "/" .. path, text) end
  local src = load.tree(root .. "/" .. rel .. "/src") or {}
  local mod = { dir = root .. "/" .. rel, rel = rel, index = root .. "/" .. rel .. "/src/index.py",
    src_files = src.files, src_sums = src.sums, src_sizes = src.sizes, packages = {}, extra_jars = {}, shared = {} }
  for k, v in pairs(extra or {}) do mod[k] = v end
  return mod
end

-- What a Glue step passes for a pythonshell job (lake.pipeline.steps.glue).
local GLUE = { runtime = "glue-pythonshell", python_version = "3.9" }

local function shared_module(root, name, files, extra)
  for path, text in pairs(files) do write(("%s/shared/%s/%s"):format(root, name, path), text) end
  local dir = root .. "/shared/" .. name
  local t = load.tree(dir) or {}
  local init_sha, init_size = crypto.sha256_file(root .. "/shared/__init__.py")
  local s = { name = name, dir = dir, rel = "shared/" .. name, packages = {}, extra_jars = {},
    files = t.files, sums = t.sums, sizes = t.sizes, init = init_sha and { sha256 = init_sha, size = init_size } }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

-- The context of the builds of one synthesis, as lake.assembly makes it.
local function context(app, dir, log) return build.context(app, assert(assets.settings(app)), dir, log) end

-- Builds a module's Lambda package (old: build_lambda(app, id, mod, { dir =, log = })).
local function build_lambda(app, id, mod, ctx) return assets.build_lambda(context(app, ctx.dir, ctx.log), id, mod) end

local function names_of(path)
  local out = {}
  for i, e in ipairs(assert(zip.list(path))) do out[i] = e.name end
  return out
end

local function entries_under(dir)
  if not fs.isdir(dir) then return {} end
  return assert(fs.walk(dir))
end

local INDEX = [[
import tinypkg
from shared.example import naming


def handler(event, context):
    return tinypkg.greet(naming.shout(event["who"]))
]]

---------------------------------------------------------------------------

describe("lake.assets requirements #unit", function()
  -- refusals
  it("refuses what is not a pip requirement, with the source", function()
    local cases = {
      { "-r other.txt", "'-r other.txt' is not a pip requirement (name[extras] and a version specifier, "
        .. "e.g. requests==2.32.3) (m/requirements.json)" },
      { "--index-url http://x", "'--index-url http://x' is not a pip requirement (name[extras] and a version "
        .. "specifier, e.g. requests==2.32.3) (m/requirements.json)" },
      { "requests/2", "'requests/2' is not a pip requirement (name[extras] and a version specifier, "
        .. "e.g. requests==2.32.3) (m/requirements.json)" },
      { "bad_==1", "'bad_==1' is not a pip requirement: a name ends with a letter or a digit (m/requirements.json)" },
      { "a\nb", "'a\nb' is not a pip requirement: one requirement per entry (m/requirements.json)" },
    }
    for _, c in ipairs(cases) do
      local list, err = reqs.merge_packages({ { label = "m/requirements.json", packages = { c[1] } } })
      assert.is_nil(list)
      assert.equal(c[2], err)
    end
  end)

  it("refuses two versions of one package, naming both sources (#4)", function()
    local mod = { rel = "pipelines/x/steps/a", packages = { "requests==2.31.0" },
      shared = { { name = "example", rel = "shared/example", packages = { "requests==2.32.0" } } } }
    local list, err = assets.packages(mod)
    assert.is_nil(list)
    assert.equal("requests==2.31.0 (pipelines/x/steps/a/requirements.json) conflicts with requests==2.32.0 "
      .. "(shared/manifest.json: example)", err)
    -- names compare as PEP 503 normalises them
    mod.packages = { "Requests_OAuthlib>=1" }
    mod.shared[1].packages = { "requests-oauthlib>=2" }
    list, err = assets.packages(mod)
    assert.is_nil(list)
    assert.equal("Requests_OAuthlib>=1 (pipelines/x/steps/a/requirements.json) conflicts with "
      .. "requests-oauthlib>=2 (shared/manifest.json: example)", err)
    -- a bare name and a pinned one differ too
    mod.packages, mod.shared[1].packages = { "boto3" }, { "boto3==1.34.0" }
    assert.equal("boto3 (pipelines/x/steps/a/requirements.json) conflicts with boto3==1.34.0 "
      .. "(shared/manifest.json: example)", select(2, assets.packages(mod)))
  end)

  -- acceptance
  it("merges module and shared packages, one entry per package, sorted by normalised name", function()
    local mod = { rel = "m", packages = { "pyyaml==6.0.1", "Requests == 2.31.0", "attrs" },
      shared = { { name = "a", rel = "shared/a", packages = { "requests==2.31.0", "Zipp>=3" } },
                 { name = "b", rel = "shared/b", packages = { "attrs", "boto3[crt]==1.34.0" } } } }
    assert.same({ "attrs", "boto3[crt]==1.34.0", "pyyaml==6.0.1", "Requests == 2.31.0", "Zipp>=3" },
      assets.packages(mod))
    assert.same({}, assets.packages({ rel = "m", packages = {}, shared = {} }))
  end)

  it("normalises names as PEP 503 does", function()
    assert.equal("friendly-bard", reqs.normalize("Friendly-Bard"))
    assert.equal("friendly-bard", reqs.normalize("FRIENDLY-BARD"))
    assert.equal("friendly-bard", reqs.normalize("friendly.bard"))
    assert.equal("friendly-bard", reqs.normalize("friendly_bard"))
    assert.equal("friendly-bard", reqs.normalize("friendly--bard"))
    assert.equal("friendly-bard", reqs.normalize("FrIeNdLy-._.-bArD"))
  end)

  it("parses jar entries with and without a pin, and dedupes URLs", function()
    local pin = ("ab"):rep(32)
    assert.same({ url = "https://r/x.jar", sha256 = pin, text = "https://r/x.jar#sha256=" .. pin:upper() },
      reqs.parse_jar("https://r/x.jar#sha256=" .. pin:upper()))
    assert.same({ url = "https://r/x.jar", text = "https://r/x.jar" }, reqs.parse_jar("https://r/x.jar"))
    assert.same({ nil, "'https://r/x.jar#sha256=abc': a pin is written #sha256=<64 hex digits>" },
      { reqs.parse_jar("https://r/x.jar#sha256=abc") })
    assert.same({ nil, "'ftp://r/x.jar' is not a jar URL (http:// or https://)" }, { reqs.parse_jar("ftp://r/x.jar") })
    local mod = { rel = "m", extra_jars = { "https://r/b.jar", "https://r/a.jar" },
      shared = { { name = "s", rel = "shared/s", extra_jars = { "https://r/a.jar#sha256=" .. pin } } } }
    local jars = assets.jars(mod)
    assert.same({ "https://r/a.jar", "https://r/b.jar" }, { jars[1].url, jars[2].url })
    assert.equal(pin, jars[1].sha256)
    mod.extra_jars[3] = "https://r/a.jar#sha256=" .. ("cd"):rep(32)
    local none, err = assets.jars(mod)
    assert.is_nil(none)
    assert.equal("https://r/a.jar#sha256=" .. ("cd"):rep(32) .. " (m/requirements.json) conflicts with "
      .. "https://r/a.jar#sha256=" .. pin .. " (shared/manifest.json: s)", err)
  end)
end)

describe("lake.assets settings #unit", function()
  -- refusals
  it("refuses bad settings with the key", function()
    local cases = {
      { { builder = "podman" }, "settings.builder", "'podman' is not a builder (docker, local or none)" },
      { { builder = "dokker" }, "settings.builder", "'dokker' is not a builder (docker, local or none)"
        .. " (did you mean 'docker'?)" },
      { { lambda_runtime = "nodejs20.x" }, "settings.lambda_runtime",
        "'nodejs20.x' is not a Python Lambda runtime (e.g. python3.12)" },
      { { lambda_architecture = "aarch64" }, "settings.lambda_architecture",
        "'aarch64' is not a Lambda architecture (x86_64 or arm64)" },
      { { pip = { findlinks = {} } }, "settings.pip.findlinks", "unknown key (did you mean 'find_links'?)" },
      { { pip = { index_url = 3 } }, "settings.pip.index_url", "expected a URL (string)" },
      { { build_timeout = "long" }, "settings.build_timeout", "expected a number of seconds" },
    }
    for _, c in ipairs(cases) do
      local cfg, key, msg = assets.settings(lapp.new({ settings = c[1] }))
      assert.is_nil(cfg)
      assert.equal(c[2], key)
      assert.equal(c[3], msg)
    end
  end)

  it("records a bad setting once as a problem of app.lua", function()
    local app = lapp.new({ settings = { builder = "podman" } })
    local mod = { dir = "/nonexistent", rel = "m", packages = {}, extra_jars = {}, shared = {} }
    assets.lambda(app, "a", mod)
    assets.lambda(app, "b", mod)
    assert.same({ "app.lua: settings.builder: 'podman' is not a builder (docker, local or none)" }, app.problems)
  end)

  it("records conflicting requirements as problems of the module's requirements.json", function()
    local app = lapp.new({})
    assets.lambda(app, "a", { dir = "/x", rel = "p/a", packages = { "six==1" }, extra_jars = {},
      shared = { { name = "s", rel = "shared/s", packages = { "six==2" } } } })
    assert.same({ "p/a/requirements.json: packages: six==1 (p/a/requirements.json) conflicts with six==2 "
      .. "(shared/manifest.json: s)" }, app.problems)
  end)

  -- acceptance
  it("has defaults: auto builder, python3.12 on x86_64, the cache at the app root", function()
    local cfg = assets.settings(lapp.new({ root = "/lake" }))
    assert.same({ builder = "auto", runtime = "python3.12", python_version = "3.12", architecture = "x86_64",
      pip = { extra_index_url = {}, find_links = {} }, timeout = 1800, python = "python3",
      cache_dir = os.getenv("LAKEHOST_CACHE_DIR") or "/lake/.lake-cache" }, cfg)
  end)

  it("takes the runtime, architecture and pip options from app.settings", function()
    local cfg = assets.settings(lapp.new({ root = "/lake", settings = { builder = "local",
      lambda_runtime = "python3.11", lambda_architecture = "arm64",
      pip = { index_url = "https://pypi.example/simple", extra_index_url = "https://extra/simple",
        find_links = { "https://wheels.example/", "/abs/wheels" }, no_index = true } } }))
    assert.equal("local", cfg.builder)
    assert.equal("3.11", cfg.python_version)
    assert.equal("arm64", cfg.architecture)
    assert.same({ index_url = "https://pypi.example/simple", extra_index_url = { "https://extra/simple" },
      find_links = { "https://wheels.example/", "/abs/wheels" }, no_index = true }, cfg.pip)
  end)

  it("finds the cache folder: LAKEHOST_CACHE_DIR, else settings.cache_dir, else <root>/.lake-cache", function()
    local function env(t) return function(k) return t[k] end end
    local app = lapp.new({ root = "/lake" })
    assert.equal("/lake/.lake-cache", cache.dir_of(app, env({})))
    assert.equal("/ci/cache", cache.dir_of(app, env({ LAKEHOST_CACHE_DIR = "/ci/cache" })))
    app.settings.cache_dir = "build/cache"
    assert.equal("/lake/build/cache", cache.dir_of(app, env({})))
    app.settings.cache_dir = "/var/cache/lake"
    assert.equal("/var/cache/lake", cache.dir_of(app, env({})))
    assert.equal(".lake-cache", cache.dir_of(lapp.new({}), env({})))
  end)
end)

describe("lake.assets builders #unit", function()
  it("runs pip for the Lambda platform with the user's index options", function()
    assert.same({ "python3", "-m", "pip", "install", "--target", "/w/packages",
      "--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.12",
      "--only-binary=:all:", "--upgrade", "--no-compile", "--disable-pip-version-check",
      "-r", "/w/requirements.txt" },
      builders.local_argv({ python_version = "3.12", architecture = "x86_64", requirements = "/w/requirements.txt",
        target = "/w/packages" }))
    assert.same({ "/usr/bin/python3.12", "-m", "pip", "install", "--target", "/t",
      "--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.11",
      "--only-binary=:all:", "--upgrade", "--no-compile", "--disable-pip-version-check",
      "--no-index", "--index-url", "https://i/simple", "--extra-index-url", "https://e1/simple",
      "--extra-index-url", "https://e2/simple", "--find-links", "/wheels", "-r", "/r.txt" },
      builders.local_argv({ python = "/usr/bin/python3.12", python_version = "3.11", architecture = "arm64",
        requirements = "/r.txt", target = "/t", pip = { no_index = true, index_url = "https://i/simple",
          extra_index_url = { "https://e1/simple", "https://e2/simple" }, find_links = { "/wheels" } } }))
  end)

  it("builds the Docker image per runtime and architecture and runs pip in it with mounts", function()
    local image = builders.docker_image({ kind = "lambda", python_version = "3.12", architecture = "arm64",
      dockerfile = "/repo/docker/Dockerfile.lambda" })
    assert.same({ tag = "lakehost-deps-lambda:py3.12-arm64", dockerfile = "/repo/docker/Dockerfile.lambda",
      context = "/repo/docker", build_args = { PYTHON_VERSION = "3.12" }, platform = "linux/arm64" }, image)
    local glue = builders.docker_image({ kind = "glue", python_version = "3.10", architecture = "x86_64",
      dockerfile = "/repo/docker/Dockerfile.glue" })
    assert.same({ BASE_IMAGE = "public.ecr.aws/glue/aws-glue-libs:glue_libs_4.0.0_image_01" }, glue.build_args)
    assert.equal("lakehost-deps-glue:py3.10-x86_64", glue.tag)
    local opts = builders.docker_run_options({ work = "/c/tmp/1", target = "/c/tmp/1/packages",
      pip = { find_links = { "/wheels", "https://w/" }, index_url = "https://i/simple" } }, image)
    local argv = docker.argv_for_run(opts)
    table.remove(argv, 1) -- the docker binary
    assert.same({ "run", "--rm", "--platform", "linux/arm64", "--user", ("%d:%d"):format(proc.uid(), proc.gid()),
      "-v", "/c/tmp/1:/lakehost/in:ro", "-v", "/c/tmp/1/packages:/lakehost/out",
      "-v", "/wheels:/lakehost/find-links/1:ro",
      "-e", "HOME=/tmp", "-e", "PIP_ROOT_USER_ACTION=ignore", "-e", "PYTHONDONTWRITEBYTECODE=1",
      "lakehost-deps-lambda:py3.12-arm64", "python3", "-m", "pip", "install", "--target", "/lakehost/out",
      "--upgrade", "--no-compile", "--no-cache-dir", "--disable-pip-version-check",
      "--index-url", "https://i/simple", "--find-links", "/lakehost/find-links/1", "--find-links", "https://w/",
      "-r", "/lakehost/in/requirements.txt" }, argv)
  end)

  it("keeps the last lines of pip's output", function()
    local lines = {}
    for i = 1, 30 do lines[i] = "line " .. i end
    assert.equal(table.concat(lines, "\n", 11, 30), lutil.last_lines(table.concat(lines, "\n") .. "\n\n", 20))
    assert.equal("only", lutil.last_lines("only\n", 20))
  end)
end)

describe("lake.assets Dockerfiles #unit", function()
  local root
  before_each(function() root = tmpdir() end)
  after_each(function() fs.remove_tree(root) end)

  it("writes the one built into lakehost into the folder it is given, keyed on the same bytes", function()
    local app = lapp.new({ root = root })
    for _, kind in ipairs({ "lambda", "glue" }) do
      local path = assert(build.dockerfile(app, kind, root .. "/cache/docker"))
      assert.equal(fs.realpath(root .. "/cache/docker") .. "/Dockerfile." .. kind, path)
      local shipped = assert(fs.read("docker/Dockerfile." .. kind))
      assert.equal(shipped, fs.read(path))
      assert.equal(crypto.sha256_hex(shipped), crypto.sha256_file(path))
      -- again: the same file, left as it was
      local before = assert(fs.stat(path)).mtime_ns
      assert.equal(path, build.dockerfile(app, kind, root .. "/cache/docker"))
      assert.equal(before, assert(fs.stat(path)).mtime_ns)
    end
  end)

  it("prefers the app's own docker/Dockerfile.<kind>", function()
    write(root .. "/docker/Dockerfile.lambda", "FROM scratch\n")
    local path = assert(build.dockerfile(lapp.new({ root = root }), "lambda", root .. "/cache/docker"))
    assert.equal(fs.realpath(root .. "/docker/Dockerfile.lambda"), path)
    assert.is_false(fs.exists(root .. "/cache/docker"))
  end)

  it("uses a fresh temporary folder when given none, and says when it has no such Dockerfile", function()
    local path = assert(build.dockerfile(lapp.new({ root = root }), "glue"))
    assert.equal(fs.read("docker/Dockerfile.glue"), fs.read(path))
    assert.same({ "Dockerfile.glue" }, fs.list(fs.dirname(path)))
    fs.remove_tree(fs.dirname(path))
    local none, err = build.dockerfile(lapp.new({ root = root }), "spark", root .. "/cache/docker")
    assert.is_nil(none)
    assert.equal(("no Dockerfile.spark (looked for %s/docker/Dockerfile.spark; lakehost has none built in)")
      :format(root), err)
  end)
end)

describe("lake.assets sources and keys #unit", function()
  local root
  before_each(function() root = tmpdir() end)
  after_each(function() fs.remove_tree(root) end)

  it("packages src/ without tests, bytecode and dot files, and shared modules under shared/", function()
    local mod = make_module(root, "pipelines/p/steps/a", {
      ["src/index.py"] = "x = 1\n", ["src/helpers/util.py"] = "", ["src/tests/test_index.py"] = "",
      ["src/helpers/tests/t.py"] = "", ["src/__pycache__/index.cpython-312.pyc"] = "", ["src/old.pyc"] = "",
      ["src/.pytest_cache/v"] = "", ["src/.DS_Store"] = "", ["requirements.json"] = "{}",
    }, { shared = { shared_module(root, "example", { ["__init__.py"] = "", ["naming.py"] = "",
      ["tests/test_naming.py"] = "" }) } })
    local function names(list)
      local out = {}
      for i, e in ipairs(list) do out[i] = e.name end
      return out
    end
    assert.same({ "helpers/util.py", "index.py", "shared/__init__.py", "shared/example/__init__.py",
      "shared/example/naming.py" }, names(assets.sources(mod, "lambda")))
    assert.same({ "helpers/util.py", "shared/__init__.py", "shared/example/__init__.py",
      "shared/example/naming.py" }, names(assets.sources(mod, "script")))
    -- the generated shared/__init__.py is empty; the lake's own one wins
    local gen = assets.sources(mod, "lambda")[3]
    assert.same({ name = "shared/__init__.py", data = "", from = "(generated)" }, gen)
    write(root .. "/shared/__init__.py", "# lake\n")
    mod.shared = { shared_module(root, "example", {}) }
    assert.equal(root .. "/shared/__init__.py", assets.sources(mod, "lambda")[3].path)
    -- no shared module, no shared/
    mod.shared = {}
    assert.same({ "helpers/util.py", "index.py" }, names(assets.sources(mod, "lambda")))
  end)

  it("takes the files of src/ from the load phase, which walked the folder once", function()
    local modules, config = require("lake.pipeline.modules"), require("lake.pipeline.config")
    write(root .. "/p/steps/a/src/index.py", "x = 1\n")
    write(root .. "/p/steps/a/src/lib/util.py", "")
    write(root .. "/p/steps/a/requirements.json", "{}")
    local function check()
      local ck = config.checker("p/config.yml")
      local mod = modules.check(ck, load.module(root .. "/p/steps/a", "p/steps/a"),
        { key = "steps.A.properties.module", jars = false, runs_as = "a Lambda function" }, {})
      return mod, ck
    end
    local mod, ck = check()
    assert.same({}, ck.problems)
    assert.same({ "index.py", "lib/util.py" }, mod.src_files)
    -- hashed by that walk: synthesis keys the archive without opening them again
    assert.same({ crypto.sha256_hex("x = 1\n"), crypto.sha256_hex("") }, mod.src_sums)
    assert.same({ 6, 0 }, mod.src_sizes)
    local spec = { kind = "lambda", builder = "none", runtime = "python3.12", python_version = "3.12",
      architecture = "x86_64", packages = {}, entries = assert(assets.sources(mod, "lambda")) }
    assert.equal(mod.src_sums[1], spec.entries[1].sha256)
    local key = assert(build.cache_key(spec))
    for _, e in ipairs(spec.entries) do e.sha256, e.size = nil, nil end
    assert.equal(key, build.cache_key(spec)) -- the same key as reading the files
    -- one listing for the whole run: a file that appears afterwards is not packaged
    write(root .. "/p/steps/a/src/late.py", "")
    local names = {}
    for i, e in ipairs(assert(assets.sources(mod, "lambda"))) do names[i] = e.name end
    assert.same({ "index.py", "lib/util.py" }, names)
    -- and a module whose src/ has no index.py file is refused by the check
    fs.remove_tree(root .. "/p/steps/a/src/index.py")
    write(root .. "/p/steps/a/src/index.py/inner.py", "")
    mod, ck = check()
    assert.is_nil(mod)
    assert.same({ { file = "p/config.yml", key = "steps.A.properties.module",
      msg = "p/steps/a/src/index.py is missing" } }, ck.problems)
  end)

  it("refuses a module without src/index.py and a shared module without a folder", function()
    local mod = make_module(root, "steps/a", { ["src/main.py"] = "" })
    assert.same({ nil, "steps/a/src/index.py is missing" }, { assets.sources(mod, "lambda") })
    -- a folder named index.py is not the file
    write(root .. "/steps/a/src/index.py/x.py", "")
    mod = make_module(root, "steps/a", {})
    assert.same({ nil, "steps/a/src/index.py is missing" }, { assets.sources(mod, "lambda") })
    fs.remove_tree(root .. "/steps/a/src/index.py")
    -- nor is a src/ that is missing altogether
    local bare = make_module(root, "steps/b", { ["requirements.json"] = "{}" })
    assert.same({ nil, "steps/b/src/index.py is missing" }, { assets.sources(bare, "lambda") })
    write(root .. "/steps/a/src/index.py", "")
    mod = make_module(root, "steps/a", {})
    mod.shared = { { name = "gone", dir = root .. "/shared/gone", rel = "shared/gone" } }
    assert.same({ nil, "shared module gone has no folder shared/gone" }, { assets.sources(mod, "lambda") })
  end)

  it("keys the cache on every input", function()
    local mod = make_module(root, "m", { ["src/index.py"] = "a\n", ["src/b.py"] = "b\n" })
    local base = { kind = "lambda", builder = "local", runtime = "python3.12", python_version = "3.12",
      architecture = "x86_64", packages = { "six==1.16.0" }, pip = { find_links = { "/w" } } }
    local function key(over)
      local spec = {}
      for k, v in pairs(base) do spec[k] = v end
      for k, v in pairs(over or {}) do spec[k] = v end
      spec.entries = assets.sources(make_module(root, "m", {}), "lambda") -- the folder as it is now
      return (assert(build.cache_key(spec)))
    end
    local k0 = key()
    local spec = {}
    for k, v in pairs(base) do spec[k] = v end
    spec.entries = assets.sources(mod, "lambda")
    local k1, lines = build.cache_key(spec)
    assert.equal(k0, k1)
    assert.same({ "lakehost-asset " .. cache.FORMAT, "kind lambda", "builder local", "runtime python3.12",
      "python 3.12", "architecture x86_64", "package six==1.16.0", "pip --find-links /w",
      "file b.py " .. crypto.sha256_hex("b\n"), "file index.py " .. crypto.sha256_hex("a\n") }, lines)
    assert.equal(k0, key())
    for _, over in ipairs({ { builder = "docker" }, { runtime = "python3.11" }, { architecture = "arm64" },
      { packages = { "six==1.15.0" } }, { pip = { find_links = { "/v" } } }, { kind = "glue" } }) do
      assert.not_equal(k0, key(over))
    end
    write(root .. "/m/src/b.py", "changed\n")
    assert.not_equal(k0, key())
    write(root .. "/m/src/b.py", "b\n")
    assert.equal(k0, key())
    fs.mtime_set(root .. "/m/src/b.py", 12345)
    assert.equal(k0, key())
  end)
end)

describe("lake.assets with the local builder (real pip)", function()
  local root, wheels
  local function settings(cache_dir, extra)
    local s = { builder = "local", cache_dir = cache_dir, pip = { no_index = true, find_links = { wheels } } }
    for k, v in pairs(extra or {}) do s[k] = v end
    return s
  end
  -- a lake with one Lambda module using tinypkg and the shared module "example"
  local function lake(dir)
    local ex = shared_module(dir, "example", { ["__init__.py"] = "", ["naming.py"] = "def shout(x):\n"
      .. "    return x.upper()\n" })
    return make_module(dir, "pipelines/p/steps/greet", { ["src/index.py"] = INDEX, ["requirements.json"] = "{}",
      ["src/tests/test_index.py"] = "raise SystemExit('tests are not packaged')\n" },
      { packages = { "tinypkg==1.0.0" }, shared = { ex } })
  end

  lazy_setup(function()
    root = tmpdir()
    wheels = root .. "/wheels"
    assert(fs.mkdir_p(wheels))
    make_wheel(wheels, "tinypkg", "1.0.0")
  end)
  lazy_teardown(function() fs.remove_tree(root) end)

  it("installs the packages, zips them with the sources and Python runs the handler", function()
    local dir = root .. "/run1"
    local mod = lake(dir)
    local app = lapp.new({ root = dir, settings = settings(dir .. "/.lake-cache") })
    local out = dir .. "/out"
    assert(fs.mkdir_p(out))
    local runs = builders.runs
    local logs = {}
    local function log(m) logs[#logs + 1] = m end
    local built, err = build_lambda(app, "p/greet", mod, { dir = out, log = log })
    assert(built, err)
    assert.equal(runs + 1, builders.runs)
    assert.is_false(built.cached)
    assert.equal(out .. "/" .. built.sha256 .. ".zip", built.path)
    assert.equal(built.sha256, (crypto.sha256_file(built.path)))
    assert.same({ built.sha256 .. ".zip" }, fs.list(out))
    assert.same({ "index.py", "shared/__init__.py", "shared/example/__init__.py", "shared/example/naming.py",
      "tinypkg-1.0.0.dist-info/INSTALLER", "tinypkg-1.0.0.dist-info/METADATA", "tinypkg-1.0.0.dist-info/RECORD",
      "tinypkg-1.0.0.dist-info/REQUESTED", "tinypkg-1.0.0.dist-info/WHEEL", "tinypkg/__init__.py" },
      names_of(built.path))
    assert.matches("^assets: p/greet: building %(local, %x+%)$", logs[1])
    assert.matches("^pip: python3 %-m pip install %-%-target .* %-%-platform manylinux2014_x86_64 ", logs[2])
    -- Python imports the packaged modules from the extracted zip
    local x = dir .. "/x"
    assert(zip.extract(built.path, x))
    local said, code = run({ "python3", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import index; "
      .. "print(index.handler({'who': 'lake'}, None))", x })
    assert.equal(0, code, said)
    assert.equal("hello LAKE\n", said)
    -- the second build is a cache hit: no pip, same bytes
    local again = assert(build_lambda(app, "p/greet", mod, { dir = out, log = log }))
    assert.equal(runs + 1, builders.runs)
    assert.is_true(again.cached)
    assert.equal(built.sha256, again.sha256)
    assert.matches("^assets: p/greet: cached %(%x+%)$", logs[#logs])
    -- nothing left in the cache's work folder
    assert.same({}, fs.list(dir .. "/.lake-cache/tmp"))
    assert.equal(1, #fs.list(dir .. "/.lake-cache/assets"))
    -- the output shares the cache's file (a link, not a copy of its bytes)
    local function inode(path)
      local said2, code2 = run({ "stat", "-c", "%i", path })
      assert.equal(0, code2, said2)
      return tonumber(said2)
    end
    local entry = dir .. "/.lake-cache/assets/" .. fs.list(dir .. "/.lake-cache/assets")[1]
    local cached_zip = entry .. "/" .. built.sha256 .. ".zip"
    assert.is_true(fs.isfile(cached_zip))
    assert.equal(inode(cached_zip), inode(built.path))
  end)

  it("copies a source file into the output, never links it (an editor may change it in place)", function()
    local dir = root .. "/file"
    assert(fs.mkdir_p(dir .. "/out"))
    write(dir .. "/job.py", "print('glue')\n")
    local app = lapp.new({ root = dir, settings = settings(dir .. "/.lake-cache") })
    local asset = assets.file(app, "p/job", dir .. "/job.py", "py")
    local built = assert(asset.build({ dir = dir .. "/out" }))
    assert.equal("print('glue')\n", fs.read(built.path))
    local f = assert(io.open(dir .. "/job.py", "r+b")) -- in place, as some editors save
    f:write("print('other')\n")
    f:close()
    assert.equal("print('glue')\n", fs.read(built.path))
  end)

  it("gives the same bytes from another folder, another cache and other file times", function()
    local a, b = root .. "/det-a", root .. "/det-b/nested"
    local ma, mb = lake(a), lake(b)
    for _, rel in ipairs(entries_under(b)) do assert(fs.mtime_set(b .. "/" .. rel, 1000000000)) end
    local out_a, out_b = a .. "/out", b .. "/out"
    assert(fs.mkdir_p(out_a))
    assert(fs.mkdir_p(out_b))
    local ra = assert(build_lambda(lapp.new({ root = a, settings = settings(a .. "/cache") }), "p/greet", ma,
      { dir = out_a }))
    local rb = assert(build_lambda(lapp.new({ root = b, settings = settings(b .. "/cache") }), "p/greet", mb,
      { dir = out_b }))
    assert.is_false(ra.cached)
    assert.is_false(rb.cached)
    assert.equal(ra.sha256, rb.sha256)
  end)

  it("misses the cache when a source changes, and hits again when it changes back", function()
    local dir = root .. "/miss"
    local mod = make_module(dir, "m", { ["src/index.py"] = "def handler(e, c):\n    return 1\n" })
    local app = lapp.new({ root = dir, settings = settings(dir .. "/cache") })
    local out = dir .. "/out"
    assert(fs.mkdir_p(out))
    local first = assert(build_lambda(app, "m", mod, { dir = out }))
    assert.is_false(first.cached)
    assert.is_true(assert(build_lambda(app, "m", mod, { dir = out })).cached)
    write(dir .. "/m/src/index.py", "def handler(e, c):\n    return 2\n")
    mod = make_module(dir, "m", {})
    local second = assert(build_lambda(app, "m", mod, { dir = out }))
    assert.is_false(second.cached)
    assert.not_equal(first.sha256, second.sha256)
    write(dir .. "/m/src/index.py", "def handler(e, c):\n    return 1\n")
    mod = make_module(dir, "m", {})
    local third = assert(build_lambda(app, "m", mod, { dir = out }))
    assert.is_true(third.cached)
    assert.equal(first.sha256, third.sha256)
    -- a new file is a change too
    write(dir .. "/m/src/extra.py", "")
    mod = make_module(dir, "m", {})
    assert.is_false(assert(build_lambda(app, "m", mod, { dir = out })).cached)
  end)

  it("reports a pip failure with pip's last lines and leaves nothing behind", function()
    local dir = root .. "/fail"
    local mod = make_module(dir, "pipelines/p/steps/bad", { ["src/index.py"] = "" },
      { packages = { "nosuchpkg==9.9" } })
    local app = lapp.new({ root = dir, settings = settings(dir .. "/cache") })
    local out = dir .. "/out"
    assert(fs.mkdir_p(out))
    local built, err, code = build_lambda(app, "p/bad", mod, { dir = out })
    assert.is_nil(built)
    assert.equal("failed", code)
    assert.matches("^pip failed for pipelines/p/steps/bad %(exit 1%):\n", err)
    assert.matches("No matching distribution found for nosuchpkg==9.9", err, 1, true)
    local _, lines = err:gsub("\n", "")
    assert.is_true(lines <= builders.ERROR_LINES)
    assert.same({}, fs.list(out))
    assert.same({}, entries_under(dir .. "/cache/assets"))
    assert.same({}, fs.list(dir .. "/cache/tmp"))
  end)

  it("refuses packages with the none builder", function()
    local dir = root .. "/none"
    local mod = make_module(dir, "m", { ["src/index.py"] = "" }, { packages = { "tinypkg==1.0.0" } })
    local app = lapp.new({ root = dir, settings = settings(dir .. "/cache", { builder = "none" }) })
    assert(fs.mkdir_p(dir .. "/out"))
    assert.same({ nil, "m lists packages (tinypkg==1.0.0) but the builder is 'none' (use local or docker)", "input" },
      { build_lambda(app, "m", mod, { dir = dir .. "/out" }) })
  end)

  it("packages a Glue job: the script, one zip for --extra-py-files, and the arguments", function()
    local dir = root .. "/glue"
    local ex = shared_module(dir, "example", { ["__init__.py"] = "", ["naming.py"] = "def shout(x):\n"
      .. "    return x.upper()\n" })
    local mod = make_module(dir, "pipelines/p/steps/job", { ["src/index.py"] = "import helper\n",
      ["src/helper.py"] = "import tinypkg\nfrom shared.example import naming\n"
        .. "def run():\n    return tinypkg.greet(naming.shout('glue'))\n" },
      { packages = { "tinypkg==1.0.0" }, shared = { ex } })
    local app = lapp.new({ root = dir, settings = settings(dir .. "/cache") })
    local g = assets.glue(app, "p/job", mod, GLUE)
    assert.same({}, app.problems)
    assert.equal("p/job/index.py", g.script.id)
    assert.equal("p/job/deps", g.deps.id)
    assert.same({}, g.jars)
    local assembly = require("lake.assembly")
    local out = dir .. "/out"
    assert(fs.mkdir_p(out))
    local logs = {}
    local built = assert(assembly.build_assets(app, out, function(m) logs[#logs + 1] = m end))
    local deps = built["p/job/deps"]
    assert.equal(built["p/job/index.py"].sha256, (crypto.sha256_file(mod.index)))
    assert.same({ "helper.py", "shared/__init__.py", "shared/example/__init__.py", "shared/example/naming.py",
      "tinypkg-1.0.0.dist-info/INSTALLER", "tinypkg-1.0.0.dist-info/METADATA", "tinypkg-1.0.0.dist-info/RECORD",
      "tinypkg-1.0.0.dist-info/REQUESTED", "tinypkg-1.0.0.dist-info/WHEEL", "tinypkg/__init__.py" },
      names_of(deps.path))
    local pip_line
    for _, l in ipairs(logs) do pip_line = pip_line or l:match("^pip: .*") end
    assert.matches("--python-version 3.9 ", pip_line, 1, true)
    -- Glue puts the zip on sys.path
    local said = run({ "python3", "-c",
      "import sys; sys.path.insert(0, sys.argv[1]); import helper; print(helper.run())",
      deps.path })
    assert.equal("hello GLUE\n", said)
    -- the job's arguments point at the assets bucket
    local token = require("lake.token")
    local args = assets.glue_arguments(g)
    assert.same({ "--extra-py-files" }, require("lake.util").sorted_keys(args))
    assert.same({ ["Fn::Sub"] = "s3://lakehost-assets-${AWS::AccountId}-${AWS::Region}/" .. deps.key },
      token.resolve(args["--extra-py-files"], { assets = built }))
  end)

  it("adds no deps zip to a Glue job with nothing but its script", function()
    local dir = root .. "/glue-bare"
    local mod = make_module(dir, "j", { ["src/index.py"] = "print(1)\n", ["src/tests/test_x.py"] = "" })
    local g = assets.glue(lapp.new({ root = dir, settings = settings(dir .. "/cache") }), "j", mod, GLUE)
    assert.is_nil(g.deps)
    assert.same({}, assets.glue_arguments(g))
  end)
end)

describe("lake.assets jars (loopback server)", function()
  local server, root
  local function bytes(n)
    local t = {}
    for i = 0, n - 1 do t[#t + 1] = string.char(i % 256) end
    return table.concat(t)
  end

  lazy_setup(function()
    local p = assert(io.popen("exec python3 spec/support/httpd.py --ppid $PPID", "r"))
    local line = p:read("l")
    local port, pid = (line or ""):match("^PORT (%d+) PID (%d+)$")
    assert(port, "httpd.py did not start: " .. tostring(line))
    server = { pid = pid, pipe = p, base = "http://127.0.0.1:" .. port }
    root = tmpdir()
  end)
  lazy_teardown(function()
    os.execute("kill " .. server.pid .. " 2>/dev/null")
    server.pipe:close()
    fs.remove_tree(root)
  end)

  it("downloads a jar once into the cache", function()
    local jars = require("lake.assets.jars")
    local dir = root .. "/c1"
    local logs = {}
    local log = function(m) logs[#logs + 1] = m end
    local jar = assert(reqs.parse_jar(server.base .. "/bytes/5000?f=lib.jar"))
    local got = assert(jars.fetch(dir, jar, { log = log }))
    assert.equal(crypto.sha256_hex(bytes(5000)), got.sha256)
    assert.equal(5000, got.size)
    assert.equal(("%s/jars/%s.jar"):format(dir, crypto.sha256_hex(jar.url)), got.path)
    assert.same({ "jar: downloading " .. jar.url }, logs)
    assert.same(got, assert(jars.fetch(dir, jar, { log = log })))
    assert.equal(1, #logs)
    -- a pin that matches
    local pinned = assert(reqs.parse_jar(server.base .. "/bytes/700?f=p.jar#sha256=" .. crypto.sha256_hex(bytes(700))))
    assert.equal(700, assert(jars.fetch(dir, pinned)).size)
    assert.same({}, fs.list(dir .. "/tmp"))
  end)

  it("refuses a jar that does not match its pin, and failing URLs with the status or the kind", function()
    local jars = require("lake.assets.jars")
    local dir = root .. "/c2"
    local bad = ("0"):rep(64)
    local url = server.base .. "/bytes/2000?f=x.jar"
    assert.same({ nil, ("jar %s: sha256 is %s (downloaded), the pin says %s"):format(url,
      crypto.sha256_hex(bytes(2000)), bad) }, { jars.fetch(dir, assert(reqs.parse_jar(url .. "#sha256=" .. bad))) })
    assert.same({}, entries_under(dir .. "/jars"))
    local missing = server.base .. "/status/404?f=x.jar"
    assert.same({ nil, ("cannot download jar %s: HTTP 404"):format(missing) },
      { jars.fetch(dir, assert(reqs.parse_jar(missing))) })
    local sock = "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1]);s.close()"
    local port = tonumber((run({ "python3", "-c", sock })))
    local closed = ("http://127.0.0.1:%d/x.jar"):format(port)
    local none, err = jars.fetch(dir, assert(reqs.parse_jar(closed)))
    assert.is_nil(none)
    assert.matches("^cannot download jar " .. closed:gsub("%p", "%%%0") .. " %(connect%): ", err)
    assert.same({}, entries_under(dir .. "/jars"))
    assert.same({}, fs.list(dir .. "/tmp"))
  end)

  it("gives a Glue job one asset per jar and --extra-jars with their s3 URIs", function()
    local dir = root .. "/glue"
    local a = server.base .. "/bytes/300?f=a.jar"
    local b = server.base .. "/bytes/400?f=b.jar#sha256=" .. crypto.sha256_hex(bytes(400))
    local ex = shared_module(dir, "example", { ["__init__.py"] = "" }, { extra_jars = { a } })
    local mod = make_module(dir, "j", { ["src/index.py"] = "" }, { extra_jars = { b, a }, shared = { ex } })
    local app = lapp.new({ root = dir, settings = { builder = "local", cache_dir = dir .. "/cache" } })
    local g = assets.glue(app, "j", mod, GLUE)
    assert.same({}, app.problems)
    assert.equal(2, #g.jars)
    assert.same({ "jar:" .. a, "jar:" .. server.base .. "/bytes/400?f=b.jar" }, { g.jars[1].id, g.jars[2].id })
    -- another job listing the same jar shares its asset
    local other = assets.glue(app, "k", make_module(dir, "k", { ["src/index.py"] = "" }, { extra_jars = { a } }), GLUE)
    assert.equal(g.jars[1], other.jars[1])
    local out = dir .. "/out"
    assert(fs.mkdir_p(out))
    local built = assert(require("lake.assembly").build_assets(app, out))
    local ka, kb = crypto.sha256_hex(bytes(300)) .. ".jar", crypto.sha256_hex(bytes(400)) .. ".jar"
    assert.equal(ka, built["jar:" .. a].key)
    assert.equal(kb, built[g.jars[2].id].key)
    local bucket = "lakehost-assets-${AWS::AccountId}-${AWS::Region}"
    assert.same({ ["Fn::Sub"] = ("s3://%s/%s,s3://%s/%s"):format(bucket, ka, bucket, kb) },
      require("lake.token").resolve(assets.glue_arguments(g)["--extra-jars"], { assets = built }))
  end)

  it("fails the synthesis with exit 1 when a jar cannot be downloaded", function()
    local dir = root .. "/glue404"
    local mod = make_module(dir, "j", { ["src/index.py"] = "" },
      { extra_jars = { server.base .. "/status/404?f=x.jar" } })
    local app = lapp.new({ root = dir, settings = { cache_dir = dir .. "/cache" } })
    assets.glue(app, "j", mod, GLUE)
    assert(fs.mkdir_p(dir .. "/out"))
    local built, err = require("lake.assembly").build_assets(app, dir .. "/out")
    assert.is_nil(built)
    assert.equal("failed", err.kind) -- an operation that failed: exit 1
    assert.equal(("asset 'jar:%s/status/404?f=x.jar': cannot download jar %s/status/404?f=x.jar: HTTP 404")
      :format(server.base, server.base), err.msg)
  end)
end)

describe("lake.assets with the Docker builder (fake docker)", function()
  local root

  -- Runs Lua code in a fresh lakehost whose PATH holds only a `docker`
  -- shim around the fake that appends every call's argv (one per line,
  -- calls separated by "--") to <dir>/calls. Returns stdout, stderr, the
  -- calls (array of argv arrays), the exit status.
  local function with_fake(code, env)
    local dir = tmpdir()
    write(dir .. "/docker", ([[#!/bin/sh
FAKE_DOCKER_LOG="%s/last" "%s" "$@"
rc=$?
echo -- >>"%s/calls"
/bin/cat "%s/last" >>"%s/calls"
exit $rc
]]):format(dir, FAKE, dir, dir, dir))
    assert(fs.chmod(dir .. "/docker", tonumber("755", 8)))
    local e = { PATH = dir, LAKEHOST_DOCKER = "" }
    for k, v in pairs(env or {}) do e[k] = v end
    local out, err, status = util.lakehost({ "-e", code }, { env = e })
    local calls = {}
    for line in ((fs.read(dir .. "/calls") or "") .. ""):gmatch("([^\n]*)\n") do
      if line == "--" then calls[#calls + 1] = {} else table.insert(calls[#calls], line) end
    end
    fs.remove_tree(dir)
    return out, err, calls, status
  end

  local function child(dir, settings)
    return ([[
local assets = require("lake.assets")
local build = require("lake.assets.build")
local app = require("lake.app").new{ root = %q, settings = %s }
local dir = %q
local src = require("lake.load").tree(dir .. "/src")
local mod = { dir = dir, rel = "pipelines/p/steps/m", packages = { "tinypkg==1.0.0" }, extra_jars = {}, shared = {},
  src_files = src.files, src_sums = src.sums, src_sizes = src.sizes }
local ctx = build.context(app, assert(assets.settings(app)), %q, function(m) io.stderr:write(m, "\n") end)
local built, err, code = assets.build_lambda(ctx, "p/m", mod)
io.write(tostring(built and built.sha256), "|", tostring(built and built.cached), "|", tostring(err), "|",
  tostring(code))
]]):format(dir, settings, dir .. "/m", dir .. "/out")
  end

  before_each(function()
    root = tmpdir()
    make_module(root, "m", { ["src/index.py"] = "def handler(e, c):\n    return 0\n" })
    assert(fs.mkdir_p(root .. "/out"))
    assert(fs.mkdir_p(root .. "/wheels"))
  end)
  after_each(function() fs.remove_tree(root) end)

  it("asks the engine, builds the image once and runs pip in it with the exact argv", function()
    local settings = ("{ cache_dir = %q, pip = { find_links = { %q } } }"):format(root .. "/cache", root .. "/wheels")
    local out, err, calls, status = with_fake(child(root, settings))
    assert.equal(0, status, err)
    local sha, cached = out:match("^(%x+)|(%a+)|nil|nil$")
    assert(sha, out .. err)
    assert.equal("false", cached)
    -- the Dockerfile built into lakehost, written into the cache folder
    local docker_dir = fs.realpath(root .. "/cache") .. "/docker"
    assert.equal(fs.read("docker/Dockerfile.lambda"), fs.read(docker_dir .. "/Dockerfile.lambda"))
    assert.equal(3, #calls)
    assert.same({ "version", "--format", "{{.Server.Version}}" }, calls[1])
    assert.same({ "build", "--platform", "linux/amd64", "-f", docker_dir .. "/Dockerfile.lambda",
      "-t", "lakehost-deps-lambda:py3.12-x86_64", "--build-arg", "PYTHON_VERSION=3.12", docker_dir }, calls[2])
    local work = calls[3][8]:match("^(.*):/lakehost/in:ro$")
    assert.matches("^" .. fs.realpath(root .. "/cache"):gsub("%p", "%%%0") .. "/tmp/%d+%-1$", work)
    assert.same({ "run", "--rm", "--platform", "linux/amd64", "--user", ("%d:%d"):format(proc.uid(), proc.gid()),
      "-v", work .. ":/lakehost/in:ro", "-v", work .. "/packages:/lakehost/out",
      "-v", fs.realpath(root .. "/wheels") .. ":/lakehost/find-links/1:ro",
      "-e", "HOME=/tmp", "-e", "PIP_ROOT_USER_ACTION=ignore", "-e", "PYTHONDONTWRITEBYTECODE=1",
      "lakehost-deps-lambda:py3.12-x86_64", "python3", "-m", "pip", "install", "--target", "/lakehost/out",
      "--upgrade", "--no-compile", "--no-cache-dir", "--disable-pip-version-check",
      "--find-links", "/lakehost/find-links/1", "-r", "/lakehost/in/requirements.txt" }, calls[3])
    assert.matches("assets: building dependencies with Docker\n", err, 1, true)
    -- warm: the engine is asked which builder to key on, nothing else runs
    out, err, calls = with_fake(child(root, settings))
    assert.equal(sha .. "|true|nil|nil", out, err)
    assert.same({ { "version", "--format", "{{.Server.Version}}" } }, calls)
  end)

  it("builds for arm64 with the configured runtime when asked to", function()
    local settings = ("{ builder = 'docker', cache_dir = %q, lambda_runtime = 'python3.11', "
      .. "lambda_architecture = 'arm64' }"):format(root .. "/cache")
    local out, err, calls, status = with_fake(child(root, settings))
    assert.equal(0, status, err)
    assert.matches("|false|nil|nil$", out)
    assert.equal(2, #calls)
    local docker_dir = fs.realpath(root .. "/cache") .. "/docker"
    assert.same({ "build", "--platform", "linux/arm64", "-f", docker_dir .. "/Dockerfile.lambda",
      "-t", "lakehost-deps-lambda:py3.11-arm64", "--build-arg", "PYTHON_VERSION=3.11", docker_dir }, calls[1])
    assert.same({ "run", "--rm", "--platform", "linux/arm64" }, { table.unpack(calls[2], 1, 4) })
  end)

  it("reports a failing image build with docker's last lines and leaves no cache entry", function()
    local settings = ("{ builder = 'docker', cache_dir = %q }"):format(root .. "/cache")
    local out, err, calls = with_fake(child(root, settings), { FAKE_DOCKER_EXIT = "1" })
    local lines = {}
    for i = 12, 30 do lines[#lines + 1] = "step " .. i end
    lines[#lines + 1] = "build says bye"
    assert.equal("nil|nil|docker image for pipelines/p/steps/m: docker build of lakehost-deps-lambda:py3.12-x86_64 "
      .. "failed (exit status 1):\n" .. table.concat(lines, "\n") .. "|failed", out, err)
    assert.equal(1, #calls)
    assert.same({}, entries_under(root .. "/cache/assets"))
    assert.same({}, fs.list(root .. "/out"))
  end)

  it("falls back to pip on this machine when no engine answers, saying why", function()
    local out = with_fake([[
      local assets = require("lake.assets")
      local build = require("lake.assets.build")
      local app = require("lake.app").new{}
      local logs = {}
      local b = build.installer(build.context(app, assert(assets.settings(app)), "/nonexistent",
        function(m) logs[#logs + 1] = m end))
      io.write(b, "|", table.concat(logs, "\n"))]], { FAKE_DOCKER_DOWN = "1" })
    assert.equal("local|assets: Docker engine not reachable: Cannot connect to the Docker daemon at "
      .. "unix:///var/run/docker.sock. Is the docker daemon running?; building dependencies with pip on this machine",
      out)
  end)
end)

describe("lake.assets with a real Docker engine #docker", function()
  it("installs a wheel in the Lambda image and packages it", function()
    local ok, why = docker.available()
    if not ok then
      pending("no Docker engine: " .. why)
      return
    end
    local root = tmpdir()
    make_wheel(root, "tinypkg", "1.0.0")
    local mod = make_module(root, "m", { ["src/index.py"] = "import tinypkg\n\ndef handler(e, c):\n"
      .. "    return tinypkg.greet('docker')\n" }, { packages = { "tinypkg==1.0.0" } })
    local app = lapp.new({ root = root, settings = { builder = "docker", cache_dir = root .. "/cache",
      pip = { no_index = true, find_links = { root } } } })
    assert(fs.mkdir_p(root .. "/out"))
    local built, err = build_lambda(app, "m", mod, { dir = root .. "/out" })
    assert(built, err)
    assert.is_truthy(names_of(built.path)[#names_of(built.path)] == "tinypkg/__init__.py")
    fs.remove_tree(root)
  end)
end)

describe("lakehost APP.lua synth with assets", function()
  local root
  local function app_lua(packages, shared_packages)
    return ([[
local lake = require("lake")
local assets = require("lake.assets")
local root = %q
local app = lake.App{ name = "t", root = root, stage = "dev",
  settings = { builder = "local", cache_dir = root .. "/cache", pip = { no_index = true } } }
local st = app:stack("t-stack-dev")
local load = require("lake.load")
local src, s = load.tree(root .. "/m/src"), load.tree(root .. "/shared/s")
local mod = { dir = root .. "/m", rel = "m", packages = %s, extra_jars = {},
  src_files = src.files, src_sums = src.sums, src_sizes = src.sizes,
  shared = { { name = "s", dir = root .. "/shared/s", rel = "shared/s", packages = %s, extra_jars = {},
    files = s.files, sums = s.sums, sizes = s.sizes } } }
local a = assets.lambda(app, "m", mod)
st:add("lambda_function", "Fn", { Code = { S3Bucket = a.bucket(), S3Key = a.key() },
  Role = "arn:aws:iam::123456789012:role/r", Handler = a.handler, Runtime = a.runtime })
return app
]]):format(root, packages, shared_packages)
  end

  before_each(function()
    root = tmpdir()
    make_module(root, "m", { ["src/index.py"] = "def handler(e, c):\n    return 0\n" })
    write(root .. "/shared/s/__init__.py", "")
  end)
  after_each(function() fs.remove_tree(root) end)

  it("writes the assets under lake.out/assets/<sha256>.zip and the template points at them", function()
    write(root .. "/app.lua", app_lua("{}", "{}"))
    local _, err, status = util.lakehost({ "app.lua", "synth" }, { cwd = root })
    assert.equal(0, status, err)
    local names = fs.list(root .. "/lake.out/assets")
    assert.equal(1, #names)
    local sha = names[1]:match("^(%x+)%.zip$")
    assert.equal(sha, (crypto.sha256_file(root .. "/lake.out/assets/" .. names[1])))
    local json = require("host.json")
    local tpl = json.decode(assert(fs.read(root .. "/lake.out/t-stack-dev.template.json")))
    assert.equal(sha .. ".zip", tpl.Resources.Fn.Properties.Code.S3Key)
    assert.equal("python3.12", tpl.Resources.Fn.Properties.Runtime)
    assert.equal("index.handler", tpl.Resources.Fn.Properties.Handler)
    local manifest = json.decode(assert(fs.read(root .. "/lake.out/manifest.json")))
    assert.same({ file = "assets/" .. sha .. ".zip", ids = { "m" }, key = sha .. ".zip", kind = "lambda", sha256 = sha,
      size = fs.stat(root .. "/lake.out/assets/" .. names[1]).size }, manifest.assets[1])
    assert.same({ "index.py", "shared/__init__.py", "shared/s/__init__.py" },
      names_of(root .. "/lake.out/assets/" .. names[1]))
    -- --builder none is fine for a module without packages, and gives the same bytes
    _, err, status = util.lakehost({ "app.lua", "synth", "--builder", "none", "--out", "again" }, { cwd = root })
    assert.equal(0, status, err)
    assert.same(names, fs.list(root .. "/again/assets"))
  end)

  it("exits 2 for conflicting packages and an unknown builder, writing nothing", function()
    write(root .. "/app.lua", app_lua([[{ "six==1.16.0" }]], [[{ "six==1.15.0" }]]))
    local _, err, status = util.lakehost({ "app.lua", "synth" }, { cwd = root })
    assert.equal(2, status)
    assert.equal("m/requirements.json: packages: six==1.16.0 (m/requirements.json) conflicts with six==1.15.0 "
      .. "(shared/manifest.json: s)\nlakehost: 1 problem found; nothing was written\n", err)
    _, err, status = util.lakehost({ "app.lua", "synth", "--builder", "dockr" }, { cwd = root })
    assert.equal(2, status)
    assert.equal("lakehost: synth: --builder expects one of docker, local, none, got 'dockr' "
      .. "(did you mean 'docker'?)\n", err)
    assert.is_false(fs.exists(root .. "/lake.out"))
    assert.is_false(fs.exists(root .. "/cache"))
  end)

  it("exits 1 when pip fails, with pip's last lines, leaving no output and no cache entry", function()
    write(root .. "/app.lua", app_lua([[{ "nosuchpkg==9.9" }]], "{}"))
    local _, err, status = util.lakehost({ "app.lua", "synth" }, { cwd = root })
    assert.equal(1, status)
    assert.matches("^lakehost: asset 'm': pip failed for m %(exit 1%):\n", err)
    assert.matches("ERROR: No matching distribution found for nosuchpkg==9.9\n", err, 1, true)
    assert.same({ "app.lua", "cache", "m", "shared" }, fs.list(root))
    assert.same({}, entries_under(root .. "/cache/assets"))
    assert.same({}, fs.list(root .. "/cache/tmp"))
  end)
end)

describe("lake.assets in a pipeline stack", function()
  local lake_tree = require("spec.lake.support.lake_tree")
  local lake = require("lake")
  local assembly = require("lake.assembly")

  it("gives Glue jobs --extra-py-files and pinned --extra-jars, and Lambdas the configured runtime", function()
    local pin = ("ab"):rep(32)
    local files = lake_tree.pipeline({}, "p", [[
name: p
domain: example
layers: {origin: raw, target: trusted}
steps:
  A:
    type: lambda
    properties:
      module: a
      next_step: B
  B:
    type: glue
    properties:
      module: b
      glue_version: pythonshell
]], { "a" })
    lake_tree.module(files, "pipelines/p/steps/b", '{"packages": [], "shared_modules": ["example"],\n'
      .. ' "extra_jars": ["https://repo.example/x/lib-1.0.jar#sha256=' .. pin .. '"]}\n')
    files["shared/manifest.json"] = lake_tree.MANIFEST
    files["shared/example/__init__.py"] = ""
    local root = lake_tree.tree(files)
    local app = lake.App { root = root, settings = { lambda_runtime = "python3.11", lambda_architecture = "arm64" } }
    lake.DatalakeBuilder { scope = app, lake_name = "Example Lake", env = "dev", lake_domains = { "example" },
      pipelines_path = root .. "/pipelines" }:build()
    assert.same({}, app.problems)
    local stack = app:get_stack("lake-p-stack-dev")
    local tpl = assembly.template(stack, { assets = lake_tree.ASSETS })
    local fn = tpl.Resources.StepAFunction.Properties
    assert.equal("python3.11", fn.Runtime)
    assert.same({ "arm64" }, fn.Architectures)
    assert.equal("index.handler", fn.Handler)
    local args = tpl.Resources.StepBJob.Properties.DefaultArguments
    local bucket = "lakehost-assets-${AWS::AccountId}-${AWS::Region}"
    assert.same({ ["Fn::Sub"] = ("s3://%s/p-b-deps.zip"):format(bucket) }, args["--extra-py-files"])
    assert.same({ ["Fn::Sub"] = ("s3://%s/jar-https-repo-example-x-lib-1-0-jar.zip"):format(bucket) },
      args["--extra-jars"])
    assert.same({ ["Fn::Sub"] = ("s3://%s/p-b-index-py.zip"):format(bucket) },
      tpl.Resources.StepBJob.Properties.Command.ScriptLocation)
    local ids = {}
    for i, a in ipairs(app.assets) do ids[i] = a.id end
    table.sort(ids)
    assert.same({ "jar:https://repo.example/x/lib-1.0.jar", "p/a", "p/b/deps", "p/b/index.py", "p/catch", "p/trigger" },
      ids)
    lake_tree.remove(root)
  end)

  it("records a malformed jar pin in requirements.json as a problem", function()
    local files = lake_tree.pipeline({}, "p", [[
name: p
domain: example
layers: {origin: raw, target: trusted}
steps:
  B:
    type: glue
    properties:
      module: b
      glue_version: pythonshell
]], {})
    lake_tree.module(files, "pipelines/p/steps/b", '{"packages": [], "shared_modules": [],\n'
      .. ' "extra_jars": ["https://repo.example/lib.jar#sha256=abc"]}\n')
    local root = lake_tree.tree(files)
    local app = lake_tree.build(root)
    assert.same({ "pipelines/p/steps/b/requirements.json: extra_jars: 'https://repo.example/lib.jar#sha256=abc': "
      .. "a pin is written #sha256=<64 hex digits> (pipelines/p/steps/b/requirements.json)" }, app.problems)
    lake_tree.remove(root)
  end)
end)
