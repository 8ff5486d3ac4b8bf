local embedded = require("host.embedded")
local fs = require("host.fs")

describe("host.embedded #unit", function()
  it("lists a module for every .lua file under lua/, sorted", function()
    local want = {}
    for _, rel in ipairs(assert(fs.walk("lua"))) do
      if rel:match("%.lua$") then
        want[#want + 1] = (rel:gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", "."))
      end
    end
    table.sort(want)
    local names = embedded.modules()
    assert.same(want, names)
    assert.is_true(#names > 50)
    for _, n in ipairs({ "lake", "lake.app", "lake.states.interpreter", "lake.pipeline.steps.lambda", "resources.s3_bucket" }) do
      assert.is_true(require("lake.util").contains(names, n), n)
    end
  end)

  it("has each module registered in package.preload", function()
    for _, name in ipairs(embedded.modules()) do
      assert.equal("function", type(package.preload[name]), name)
    end
  end)

  it("hands out the Dockerfiles byte for byte", function()
    for _, kind in ipairs({ "lambda", "glue" }) do
      local path = "docker/Dockerfile." .. kind
      assert.equal(assert(fs.read(path)), embedded.file(path))
    end
  end)

  it("hands out every resource schema file as it is in data/resources, kept deflated", function()
    local files = assert(fs.glob("data/resources/*.json"))
    assert.is_true(#files > 250, #files)
    local raw = 0
    for _, path in ipairs(files) do
      local text = assert(fs.read(path))
      assert.equal(text, embedded.file(path), path)
      raw = raw + #text
    end
    -- deflated in the binary: the object that holds every embedded file (the
    -- Lua chunks and Dockerfiles too) is a fraction of the schemas alone. The
    -- object, not the binary, so a sanitizer build measures the same thing
    -- (ASan pads each global array: its object is half again as large).
    local bin = os.getenv("LAKEHOST_BIN") or "build/lakehost"
    local object = bin:match("^(.*)/[^/]+$") .. "/gen/embedded.o"
    local size = assert(fs.stat(object), object).size
    assert.is_true(size * 2 < raw, ("%s %d bytes, schemas %d"):format(object, size, raw))
  end)

  it("answers nil for a file it does not have", function()
    assert.is_nil(embedded.file("docker/Dockerfile.nope"))
    assert.is_nil(embedded.file("lua/lake/app.lua"))
    assert.has_error(function() embedded.file() end)
  end)
end)
