-- The example pipeline's Python code: its unittest suite (fake AWS clients,
-- no network, no boto3 needed) must pass, and every module must compile
-- for the oldest Python it runs on (Glue pythonshell 3.9).
local util = require("spec.support.util")

local TESTS = "pipelines/pipeline_example/tests"

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return ok, code, out
end

describe("example pipeline Python #unit", function()
  it("passes its unit tests", function()
    local ok, code, out = run("PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s " .. util.shquote(TESTS)
      .. " -t " .. util.shquote(TESTS))
    assert.is_true(ok, ("exit %s\n%s"):format(tostring(code), out))
    assert.matches("\nOK\n", out)
    local n = tonumber(out:match("Ran (%d+) tests?"))
    assert.is_true(n ~= nil and n >= 30, out)
  end)

  it("has an index.py and requirements.json in every module folder", function()
    for _, m in ipairs({ "trigger", "catch", "steps/route_file", "steps/process_type1", "steps/process_type2",
      "steps/add_to_database" }) do
      local dir = "pipelines/pipeline_example/" .. m
      local ok = run("test -f " .. util.shquote(dir .. "/src/index.py") .. " && test -f "
        .. util.shquote(dir .. "/requirements.json"))
      assert.is_true(ok, dir)
    end
  end)

  it("uses no syntax newer than Python 3.9", function()
    -- ast.parse with feature_version refuses newer grammar (match, except*, ...).
    local script = [[
import ast, pathlib, sys
bad = []
files = sorted(pathlib.Path("pipelines/pipeline_example").rglob("*.py"))
files += sorted(pathlib.Path("shared").rglob("*.py"))
for p in files:
    try:
        ast.parse(p.read_text(), str(p), feature_version=(3, 9))
    except SyntaxError as e:
        bad.append("%s: %s" % (p, e))
print("\n".join(bad))
sys.exit(1 if bad else 0)
]]
    local path = util.tmpfile(script, ".py")
    local ok, _, out = run("python3 " .. util.shquote(path))
    os.remove(path)
    assert.is_true(ok, out)
  end)
end)
