local docker = require("lake.docker")
local proc = require("host.proc")
local util = require("spec.support.util")

local FAKE = util.cwd() .. "/spec/fixtures/proc/fake-docker"

-- The docker binary the builders name when opts.docker is not given.
local DOCKER = (os.getenv("LAKEHOST_DOCKER") or "") ~= "" and os.getenv("LAKEHOST_DOCKER") or "docker"

local tmpdir = util.tmpdir

local function lines_of(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local t = {}
  for l in f:lines() do t[#t + 1] = l end
  f:close()
  return t
end

-- Runs Lua code in a fresh lakehost whose PATH holds only a `docker` that is
-- the fake; returns what the code printed (stdout), and the argv the fake
-- recorded. env adds variables (FAKE_DOCKER_DOWN=1, ...).
local function with_fake(code, env)
  local dir = tmpdir()
  assert(os.execute("ln -s " .. util.shquote(FAKE) .. " " .. util.shquote(dir .. "/docker")))
  local log = dir .. "/argv.log"
  local e = { PATH = dir, FAKE_DOCKER_LOG = log, LAKEHOST_DOCKER = "" }
  for k, v in pairs(env or {}) do e[k] = v end
  local out, err, status = util.lakehost({ "-e", code }, { env = e })
  assert(status == 0, "lakehost failed: " .. err)
  local argv = lines_of(log)
  os.execute("rm -rf " .. util.shquote(dir))
  return out, argv
end

describe("lake.docker #unit", function()
  describe("argv_for_build", function()
    it("builds the exact docker build command line", function()
      assert.same({ DOCKER, "build", "--platform", "linux/amd64", "-f", "/ctx/Dockerfile.lambda",
                    "-t", "lake-deps:abc", "--build-arg", "A=1", "--build-arg", "PY=3.11",
                    "--build-arg", "Z=last", "/ctx" },
        docker.argv_for_build({ context = "/ctx", dockerfile = "/ctx/Dockerfile.lambda",
                                tag = "lake-deps:abc", build_args = { Z = "last", PY = "3.11", A = 1 } }))
    end)

    it("leaves out -f and --platform when not wanted, and honours opts.docker", function()
      assert.same({ "/opt/docker", "build", "-t", "t", "." },
        docker.argv_for_build({ context = ".", tag = "t", platform = false, docker = "/opt/docker" }))
      assert.same({ DOCKER, "build", "--platform", "linux/arm64", "-t", "t", "." },
        docker.argv_for_build({ context = ".", tag = "t", platform = "linux/arm64" }))
    end)

    it("refuses misuse with the caller's line", function()
      local cases = {
        { {}, "docker.build: option 'context' is required" },
        { { context = "." }, "docker.build: option 'tag' is required" },
        { { context = ".", tag = "t", buildargs = {} }, "docker.build: unknown option 'buildargs'" },
        { { context = ".", tag = 1 }, "docker.build: option 'tag' must be a string (got number)" },
        { { context = ".", tag = "t", platform = true },
          "docker.build: option 'platform' must be a string or false (got boolean)" },
        { { context = ".", tag = "t", build_args = { ["A=B"] = "x" } },
          "docker.build: build arg name A=B is not a valid variable name" },
        { { context = ".", tag = "t", build_args = { A = {} } },
          "docker.build: build arg 'A' must be a string or a number (got table)" },
      }
      for _, c in ipairs(cases) do
        local ok, err = pcall(docker.argv_for_build, c[1])
        assert.is_false(ok)
        assert.equal(c[2], err) -- pcall is the caller: no position
        local line = debug.getinfo(1, "l").currentline + 1
        ok, err = pcall(function() docker.build(c[1]) end)
        assert.is_false(ok)
        assert.equal("spec/lake/docker_spec.lua:" .. line .. ": " .. c[2], err)
      end
      assert.has_error(function() docker.argv_for_build("x") end,
        "docker.build: options must be a table (got string)")
    end)
  end)

  describe("argv_for_run", function()
    it("builds the exact docker run command line", function()
      local me = ("%d:%d"):format(proc.uid(), proc.gid())
      assert.same({ DOCKER, "run", "--rm", "--platform", "linux/amd64", "--user", me,
                    "-v", "/src/a:/work", "-v", "/cache:/root/.cache:ro",
                    "-e", "A=1", "-e", "PIP_NO_INPUT=1", "-w", "/work",
                    "lake-deps:abc", "pip", "install", "-t", "/work/out", "$HOME;*" },
        docker.argv_for_run({
          image = "lake-deps:abc",
          argv = { "pip", "install", "-t", "/work/out", "$HOME;*" },
          mounts = { { src = "/src/a", dst = "/work" }, { src = "/cache", dst = "/root/.cache", ro = true } },
          env = { PIP_NO_INPUT = "1", A = 1 },
          workdir = "/work",
        }))
    end)

    it("leaves out --rm, --platform and --user when asked", function()
      assert.same({ DOCKER, "run", "alpine" },
        docker.argv_for_run({ image = "alpine", rm = false, platform = false, user = false }))
      assert.same({ DOCKER, "run", "--rm", "--platform", "linux/amd64", "--user", "1000:1000", "alpine", "true" },
        docker.argv_for_run({ image = "alpine", user = "1000:1000", argv = { "true" } }))
    end)

    it("refuses misuse", function()
      local cases = {
        { {}, "docker.run: option 'image' is required" },
        { { image = "a", workdri = "/w" }, "docker.run: unknown option 'workdri'" },
        { { image = "a", rm = "yes" }, "docker.run: option 'rm' must be a boolean (got string)" },
        { { image = "a", mounts = { "/x:/y" } }, "docker.run: mounts[1] must be a table" },
        { { image = "a", mounts = { { src = "rel", dst = "/w" } } },
          "docker.run: mounts[1].src must be an absolute path (got rel)" },
        { { image = "a", mounts = { { src = "/a", dst = "/w:x" } } },
          "docker.run: mounts[1].dst must not contain ':' (got /w:x)" },
        { { image = "a", mounts = { { src = "/a", dst = "/w", mode = "ro" } } },
          "docker.run: mounts[1]: unknown field 'mode'" },
        { { image = "a", mounts = { { src = "/a", dst = "/w", ro = "yes" } } },
          "docker.run: mounts[1].ro must be a boolean (got string)" },
        { { image = "a", env = { A = true } }, "docker.run: env 'A' must be a string or a number (got boolean)" },
        { { image = "a", argv = { "x", 2 } }, "docker.run: argv[2] must be a string (got number)" },
      }
      for _, c in ipairs(cases) do
        local ok, err = pcall(docker.argv_for_run, c[1])
        assert.is_false(ok)
        assert.equal(c[2], err)
        local line = debug.getinfo(1, "l").currentline + 1
        ok, err = pcall(function() docker.run(c[1]) end)
        assert.is_false(ok)
        assert.equal("spec/lake/docker_spec.lua:" .. line .. ": " .. c[2], err)
      end
    end)
  end)

  describe("with a fake docker on PATH", function()
    it("finds an engine and its version", function()
      local out, argv = with_fake([[print(require("lake.docker").available())]])
      assert.equal("true\t24.0.7\n", out)
      assert.same({ "version", "--format", "{{.Server.Version}}" }, argv)
    end)

    it("says why the engine is not reachable", function()
      local out = with_fake([[print(require("lake.docker").available())]], { FAKE_DOCKER_DOWN = "1" })
      assert.equal("false\tDocker engine not reachable: Cannot connect to the Docker daemon at "
        .. "unix:///var/run/docker.sock. Is the docker daemon running?\n", out)
    end)

    it("says when docker is not on PATH", function()
      local out = util.lakehost({ "-e", [[print(require("lake.docker").available())]] },
        { env = { PATH = "/nonexistent", LAKEHOST_DOCKER = "" } })
      assert.equal("false\tdocker not found on PATH\n", out)
      out = util.lakehost({ "-e", [[print(require("lake.docker").available())]] },
        { env = { PATH = "/nonexistent", LAKEHOST_DOCKER = "podman" } })
      assert.equal("false\tpodman not found on PATH\n", out)
    end)

    it("takes the binary from LAKEHOST_DOCKER or opts.docker", function()
      local out = util.lakehost({ "-e", [[print(require("lake.docker").available())]] },
        { env = { PATH = util.cwd() .. "/spec/fixtures/proc", LAKEHOST_DOCKER = "fake-docker" } })
      assert.equal("true\t24.0.7\n", out)
      assert.same({ true, "24.0.7" }, { docker.available({ docker = FAKE }) })
    end)

    it("runs docker build with the exact argv", function()
      local out, argv = with_fake([[
        local d = require("lake.docker")
        print(d.build{ context = "/ctx", dockerfile = "/ctx/Dockerfile", tag = "img:1",
                       build_args = { B = "2", A = "1" } })]])
      assert.equal("true\n", out)
      assert.same({ "build", "--platform", "linux/amd64", "-f", "/ctx/Dockerfile", "-t", "img:1",
                    "--build-arg", "A=1", "--build-arg", "B=2", "/ctx" }, argv)
    end)

    it("returns the last 20 lines of output when the build fails", function()
      local out = with_fake([[
        local ok, err = require("lake.docker").build{ context = "/ctx", tag = "img:1" }
        io.write(tostring(ok), "\n", err)]], { FAKE_DOCKER_EXIT = "3" })
      local expect = { "nil", "docker build of img:1 failed (exit status 3):" }
      for i = 12, 30 do expect[#expect + 1] = "step " .. i end
      expect[#expect + 1] = "build says bye"
      assert.equal(table.concat(expect, "\n"), out)
    end)

    it("runs a container with the exact argv and returns the result", function()
      local out, argv = with_fake([[
        local res = require("lake.docker").run{ image = "alpine:3", argv = { "sh", "-c", "echo hi" },
          mounts = { { src = "/tmp", dst = "/w", ro = true } }, env = { X = "y" }, workdir = "/w",
          user = "0:0" }
        io.write(tostring(res.ok), "|", res.code, "|", res.stdout, "|", res.stderr)]])
      assert.equal("true|0|ran\n|run stderr\n", out)
      assert.same({ "run", "--rm", "--platform", "linux/amd64", "--user", "0:0", "-v", "/tmp:/w:ro",
                    "-e", "X=y", "-w", "/w", "alpine:3", "sh", "-c", "echo hi" }, argv)
    end)

    it("returns a failing container as a result, and a missing docker as an error", function()
      local out = with_fake([[
        local res = require("lake.docker").run{ image = "alpine" }
        io.write(tostring(res.ok), "|", res.code)]], { FAKE_DOCKER_EXIT = "7" })
      assert.equal("false|7", out)
      local res, err = docker.run({ image = "alpine", docker = "/no/such/docker" })
      assert.is_nil(res)
      assert.equal("docker run: cannot run '/no/such/docker': No such file or directory", err)
      res, err = docker.build({ context = ".", tag = "t", docker = "/no/such/docker" })
      assert.is_nil(res)
      assert.equal("docker build: cannot run '/no/such/docker': No such file or directory", err)
    end)
  end)
end)

describe("lake.docker #docker", function()
  it("runs a real container when an engine is present", function()
    local ok, why = docker.available()
    if not ok then
      pending("no Docker engine: " .. why)
      return
    end
    local res, err = docker.run({ image = "alpine", argv = { "true" }, timeout = 300 })
    assert(res, err)
    assert.is_true(res.ok, res.stderr)
  end)
end)
