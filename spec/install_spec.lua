local util = require("spec.support.util")

describe("make install #unit", function()
  it("installs one file, a lakehost that carries its library", function()
    local fs = require("host.fs")
    local prefix = assert(fs.tmpdir("lakehost-prefix-"))
    -- -o: use the binary already built, do not rebuild it here
    local ok = os.execute(("make -s -o lakehost -o build/lakehost install PREFIX=%s >/dev/null"):format(util.shquote(prefix)))
    assert.is_true(ok)
    assert.same({ "bin/lakehost" }, fs.walk(prefix))
    local code = "local app = require('lake.app') "
      .. "io.write(tostring(package.searchpath('lake.app', package.path)), ' ', "
      .. "debug.getinfo(app.is_app, 'S').source, ' ', type(package.preload['lake.app']))"
    local p = assert(io.popen(("cd / && env -u LAKEHOST_PATH %s/bin/lakehost -e %s")
      :format(util.shquote(prefix), util.shquote(code))))
    local out = p:read("a")
    p:close()
    assert.equal("nil @lua/lake/app.lua function", out)
    fs.remove_tree(prefix)
  end)
end)
