-- A lake of 5 domains x 20 pipelines (copies of the example pipeline) must
-- synthesize and pass cfn-lint with zero errors, like the example does.
local util = require("spec.support.util")
local fs = require("host.fs")

describe("a lake of 5 domains x 20 pipelines #integration", function()
  local dir

  setup(function()
    dir = assert(fs.tmpdir("lakehost-big-lake-"))
    assert(os.execute(("cp -R shared %s/shared"):format(util.shquote(dir))))
    local example = assert(fs.read("pipelines/pipeline_example/config.yml"))
    local src = "pipelines/pipeline_example"
    for d = 1, 5 do
      for p = 1, 20 do
        local name = ("p_d%d_%02d"):format(d, p)
        local pdir = dir .. "/pipelines/" .. name
        assert(fs.mkdir_p(pdir))
        assert(os.execute(("cp -R %s/trigger %s/catch %s/steps %s/"):format(src, src, src, util.shquote(pdir))))
        assert(fs.write(pdir .. "/config.yml", (example:gsub("name: pipeline_example", "name: " .. name)
          :gsub("domain: example", "domain: domain" .. d))))
      end
    end
    assert(fs.write(dir .. "/app.lua", [[
      local lake = require("lake")
      local root = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$")
      local app = lake.App { root = root }
      lake.DatalakeBuilder { scope = app, lake_name = "Big Lake", env = "prd", enable_vpc = true,
        lake_domains = { "domain1", "domain2", "domain3", "domain4", "domain5" },
        sns_subscriptions = { { protocol = "email", endpoint = "data@example.com" } },
        pipelines_path = root .. "/pipelines", tags = { team = "data" } }:build()
      return app
    ]]))
  end)

  teardown(function() fs.remove_tree(dir) end)

  it("synthesizes 102 stacks that cfn-lint accepts", function()
    local _, err, code = util.lakehost({ dir .. "/app.lua", "synth", "--out", dir .. "/out", "--quiet" },
      { env = { LAKEHOST_CACHE_DIR = dir .. "/cache" } })
    assert.equal(0, code, err)
    local templates = assert(fs.glob(dir .. "/out/*.template.json"))
    assert.equal(102, #templates)
    local ok, out = util.cfn_lint(dir .. "/out/*.template.json")
    assert.is_true(ok, out)
  end)

  it("writes the same bytes every time", function()
    local crypto = require("host.crypto")
    local function tree(out)
      local t = {}
      for _, f in ipairs(assert(fs.walk(out))) do t[f] = crypto.sha256_hex(assert(fs.read(out .. "/" .. f))) end
      return t
    end
    local _, err, code = util.lakehost({ dir .. "/app.lua", "synth", "--out", dir .. "/again", "--quiet" },
      { env = { LAKEHOST_CACHE_DIR = dir .. "/cache" } })
    assert.equal(0, code, err)
    local again = tree(dir .. "/again")
    local n = 0
    for _ in pairs(again) do n = n + 1 end
    assert.equal(102 * 2 - 2 + 1 + 7, n) -- templates, a diagram per pipeline, the manifest, 7 assets
    assert.same(tree(dir .. "/out"), again) -- the first test's synth
  end)
end)
