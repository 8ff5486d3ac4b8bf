-- The synthesized lakes the rule packs are run over (spec/lake/rule_packs_spec.lua,
-- bench/rule_packs.lua): the example lake, its VPC variant with two domains,
-- the same with encryption = "kms", and the toolkit stack `bootstrap` deploys.
--   local variants = require("spec.support.rule_variants")
--   local files, err, unsupported = variants.synth(v, dir)
-- Also cfn-lint with the informational rules, counted by level.
local fs = require("host.fs")
local proc = require("host.proc")

local M = {}

M.TOOLKIT_BUCKET = "lakehost-assets-123456789012-us-east-1"

--- name, the app (nil: the toolkit stack), extra environment; in report order.
M.LIST = {
  { name = "example", app = "app.lua" },
  { name = "vpc", app = "spec/fixtures/apps/hardened_vpc/app.lua" },
  { name = "kms", app = "spec/fixtures/apps/hardened_vpc/app.lua", env = { LAKEHOST_SPEC_ENCRYPTION = "kms" },
    option = "encryption" },
  { name = "toolkit" },
}

M.by_name = {}
for _, v in ipairs(M.LIST) do M.by_name[v.name] = v end

--- Synthesizes variant v into dir (created when missing).
-- @param v table an entry of M.LIST
-- @param dir string output folder
-- @param opts table|nil {bin = lakehost binary (LAKEHOST_BIN or ./lakehost), root = repository (cwd)}
-- @return files (sorted template paths) | nil, err, unsupported (true when
--   the binary does not know the variant's option: not an error of the lake)
function M.synth(v, dir, opts)
  opts = opts or {}
  local root = opts.root or assert(fs.cwd())
  assert(fs.mkdir_p(dir))
  if not v.app then
    -- the toolkit stack, exactly as bootstrap makes it
    local toolkit = require("lake.toolkit")
    local text = toolkit.template(M.TOOLKIT_BUCKET)
    local path = dir .. "/" .. toolkit.STACK .. ".template.json"
    assert(fs.write(path, text))
    return { path }
  end
  local bin = opts.bin or os.getenv("LAKEHOST_BIN") or "./lakehost"
  if bin:sub(1, 1) ~= "/" then bin = root .. "/" .. bin end
  local env = { AWS_EC2_METADATA_DISABLED = "true", LAKEHOST_CACHE_DIR = dir .. "/.cache" }
  for k, val in pairs(v.env or {}) do env[k] = val end
  local res, err = proc.run { argv = { bin, root .. "/" .. v.app, "synth", "--quiet", "--out", dir .. "/out" },
    cwd = root, env_add = env, timeout = 300 }
  if not res then return nil, err end
  if not res.ok then
    local out = (res.stderr or "") .. (res.stdout or "")
    local unsupported = v.option ~= nil and out:find(v.option .. ": unknown option", 1, true) ~= nil
    return nil, ("%s synth failed:\n%s"):format(v.app, out), unsupported
  end
  local files = fs.glob(dir .. "/out/*.template.json")
  table.sort(files)
  if #files == 0 then return nil, v.app .. " synth wrote no template" end
  return files
end

--- cfn-lint with the informational rules (--include-checks I) over files.
-- @return counts {E=, W=, I=}, findings (parseable lines, sorted), rule
--   counts {[rule id] = n} | nil, err (cfn-lint missing or unreadable output)
function M.cfn_lint(files)
  if not proc.which("cfn-lint") then return nil, "cfn-lint is not installed (pip install cfn-lint)" end
  local argv = { "cfn-lint", "--format", "parseable", "--include-checks", "I", "--" }
  for _, f in ipairs(files) do argv[#argv + 1] = f end
  local res, err = proc.run { argv = argv, timeout = 600 }
  if not res then return nil, err end
  -- the exit status is a bit mask: 2 errors, 4 warnings, 8 informational
  if res.how ~= "exit" or res.code % 2 == 1 or res.code > 14 then
    return nil, ("cfn-lint failed (%s %s): %s%s"):format(res.how, tostring(res.code), res.stdout, res.stderr or "")
  end
  local counts, lines, rules = { E = 0, W = 0, I = 0 }, {}, {}
  for line in res.stdout:gmatch("[^\n]+") do
    local rule = line:match(":%d+:%d+:%d+:%d+:(%u%d+):")
    if rule then
      local level = rule:sub(1, 1)
      counts[level] = (counts[level] or 0) + 1
      rules[rule] = (rules[rule] or 0) + 1
      lines[#lines + 1] = line
    end
  end
  table.sort(lines)
  return counts, lines, rules
end

return M
