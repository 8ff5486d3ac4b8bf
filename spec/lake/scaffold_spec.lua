-- lake.scaffold: the templates as text, and writing them with nothing
-- overwritten and nothing half-written.
local fs = require("host.fs")
local scaffold = require("lake.scaffold")
local util = require("spec.support.util")

local function by_path(files)
  local out = {}
  for _, f in ipairs(files) do out[f.path] = f.text end
  return out
end

-- Every file and folder under dir, relative to it.
local function tree(dir) return fs.walk(dir, { dirs = true }) or {} end

describe("lake.scaffold templates #unit", function()
  it("makes a project of app.lua, README.md, .gitignore, a pipeline, a standalone stack and shared/", function()
    local files = scaffold.project { lake_name = "Sales Lake" }
    local paths = {}
    for _, f in ipairs(files) do paths[#paths + 1] = f.path end
    table.sort(paths)
    assert.same({ ".gitignore", "README.md", "app.lua",
      "pipelines/example_pipeline/catch/requirements.json", "pipelines/example_pipeline/catch/src/index.py",
      "pipelines/example_pipeline/config.yml",
      "pipelines/example_pipeline/steps/copy_object/requirements.json",
      "pipelines/example_pipeline/steps/copy_object/src/index.py",
      "pipelines/example_pipeline/trigger/requirements.json", "pipelines/example_pipeline/trigger/src/index.py",
      "shared/example/__init__.py", "shared/example/naming.py", "shared/manifest.json",
      "standalone/parameters.lua" }, paths)
    for _, f in ipairs(files) do assert.is_nil(f.text:find("{{", 1, true), f.path) end
    local t = by_path(files)
    assert.equal("# What lakehost writes: synth's output and the cache of built packages.\nlake.out/\n.lake-cache/\n",
      t[".gitignore"])
    assert.matches('lake_name = "Sales Lake",', t["app.lua"], 1, true)
    assert.matches('name = "sales-lake",', t["app.lua"], 1, true)
    assert.matches("^# Sales Lake\n", t["README.md"])
  end)

  it("reuses the example pipeline's trigger and catch and the example's shared module, byte for byte", function()
    local t = by_path(scaffold.project { lake_name = "x" })
    for _, f in ipairs({ "trigger/src/index.py", "trigger/requirements.json", "catch/src/index.py",
      "catch/requirements.json" }) do
      assert.equal(assert(fs.read("pipelines/pipeline_example/" .. f)), t["pipelines/example_pipeline/" .. f], f)
    end
    for _, f in ipairs({ "manifest.json", "example/__init__.py", "example/naming.py" }) do
      assert.equal(assert(fs.read("shared/" .. f)), t["shared/" .. f], f)
    end
  end)

  it("fills a pipeline's config.yml with its name, domain and layers", function()
    local cfg = by_path(scaffold.pipeline { name = "orders", domain = "sales", origin = "trusted",
      target = "service" })["config.yml"]
    local value = assert(require("host.yaml").load(cfg, "config.yml"))
    assert.equal("orders", value.name)
    assert.equal("sales", value.domain)
    assert.same({ origin = "trusted", target = "service" }, value.layers)
    assert.same({ { s3 = { prefix = "orders/" } } }, value.triggers)
    assert.equal("copy_object", value.steps.CopyObject.properties.module)
  end)

  it("escapes the lake's name in app.lua, which stays valid Lua", function()
    local t = by_path(scaffold.project { lake_name = 'Bob\'s "big" \\ lake' })
    assert.is_function(load(t["app.lua"], "=app.lua", "t"))
    assert.matches([[lake_name = "Bob's \"big\" \\ lake",]], t["app.lua"], 1, true)
    assert.matches('name = "bob-s-big-lake",', t["app.lua"], 1, true)
  end)

  it("names a standalone stack after its file and starts it with what a script receives", function()
    local text = scaffold.stack("my_queue")
    assert.is_function(load(text, "=my_queue.lua", "t"))
    assert.matches('^%-%-%- my_queue: a stack of your own', text)
    assert.matches('lake.Name("lake-my-queue-stack", datalake.stage)', text, 1, true)
    for _, s in ipairs({ "local app, datalake = ...", "datalake.buckets[domain][layer]", "datalake.error_topic",
      "datalake:lambda_function(stack, id, { folder = ..., ... })", "stack:add(kind, id, props)",
      '"AWS::SQS::Queue"', '"sqs_queue"', "datalake.storage_stack, .shared_stack" }) do
      assert.matches(s, text, 1, true)
    end
  end)

  it("refuses a placeholder without a value", function()
    assert.has_error(function() scaffold.render("a {{b}} c", {}) end, "lake.scaffold: no value for {{b}}")
    assert.equal("a x c", scaffold.render("a {{b}} c", { b = "x" }))
  end)
end)

describe("lake.scaffold.write #unit", function()
  local dirs = {}
  local function tmp()
    dirs[#dirs + 1] = util.tmpdir("lakehost-scaffold-")
    return dirs[#dirs]
  end
  teardown(function()
    for _, d in ipairs(dirs) do fs.remove_tree(d) end
  end)

  local FILES = { { path = "a.txt", text = "a" }, { path = "x/y/b.txt", text = "b" }, { path = "x/c.txt", text = "c" } }

  -- acceptance
  it("writes the files, creating the folder and the folders they need", function()
    local dir = tmp() .. "/new/project"
    local written = assert(scaffold.write(dir, FILES))
    assert.same({ dir .. "/a.txt", dir .. "/x/y/b.txt", dir .. "/x/c.txt" }, written)
    assert.same({ "a.txt", "x", "x/c.txt", "x/y", "x/y/b.txt" }, tree(dir))
    assert.equal("b", fs.read(dir .. "/x/y/b.txt"))
  end)

  it("writes beside files that are not its own", function()
    local dir = tmp()
    assert(fs.write(dir .. "/keep.txt", "mine"))
    assert(scaffold.write(dir, FILES))
    assert.equal("mine", fs.read(dir .. "/keep.txt"))
  end)

  -- refusals
  it("writes nothing when one of the files exists, and names it", function()
    local dir = tmp()
    assert(fs.mkdir_p(dir .. "/x"))
    assert(fs.write(dir .. "/x/c.txt", "mine"))
    local ok, err = scaffold.write(dir, FILES, { what = "init" })
    assert.is_nil(ok)
    assert.equal("input", err.kind)
    assert.equal("init: 1 of the files to write exists already; nothing was written", err.msg)
    assert.same({ dir .. "/x/c.txt: exists" }, err.problems)
    assert.same({ "x", "x/c.txt" }, tree(dir))
    assert.equal("mine", fs.read(dir .. "/x/c.txt"))
  end)

  it("writes nothing when a folder on the way is a file", function()
    local dir = tmp()
    assert(fs.write(dir .. "/x", "a file"))
    local ok, err = scaffold.write(dir, FILES)
    assert.is_nil(ok)
    assert.same({ dir .. "/x: exists and is not a folder" }, err.problems)
    assert.same({ "x" }, tree(dir))
  end)

  it("removes what it wrote, and the folders it made, when a write fails", function()
    local parent = tmp()
    local dir = parent .. "/p"
    local calls = 0
    local failing = setmetatable({
      write = function(path, text)
        calls = calls + 1
        if calls == 3 then return nil, "fs: " .. path .. ": No space left on device", "ENOSPC" end
        return fs.write(path, text)
      end,
    }, { __index = fs })
    local ok, err = scaffold.write(dir, FILES, { what = "init", fs = failing })
    assert.is_nil(ok)
    assert.equal("failed", err.kind)
    assert.equal("init: fs: " .. dir .. "/x/c.txt: No space left on device (nothing was left written)", err.msg)
    assert.equal(3, calls)
    assert.same({}, tree(parent))
  end)
end)
