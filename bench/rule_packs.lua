-- AWS's rule packs over the synthesized lake, counted: for each variant
-- (the example lake, its VPC variant with two domains, the `kms` variant,
-- the toolkit stack; spec/support/rule_variants.lua) and each cdk-nag pack
-- (AwsSolutions, HIPAA.Security, NIST.800.53.R5; templates loaded through
-- CfnInclude, spec/support/cdknag.lua) the errors, warnings and honoured
-- suppressions, then cfn-lint's errors, warnings and informational findings
-- (--include-checks I). Prints figures; it is not a test.
--   ./lakehost bench/rule_packs.lua [--root DIR] [--findings] [--json FILE]
--     --root DIR   synthesize the apps of another checkout (DIR/app.lua,
--                  DIR/spec/fixtures/apps/hardened_vpc/app.lua) with the
--                  binary running this script (its own lake.toolkit):
--                  how "before" figures are made from an older commit
--     --findings   also every finding, grouped by rule id, with the
--                  resource types and how many resources
--     --json FILE  the whole cdk-nag document and counts, for comparison
-- Without node, npm or the npm registry only cfn-lint's figures are printed.
package.path = "./?.lua;" .. package.path
local cdknag = require("spec.support.cdknag")
local fs = require("host.fs")
local json = require("host.json")
local proc = require("host.proc")
local variants = require("spec.support.rule_variants")

local PACKS = { "AwsSolutions", "HIPAA.Security", "NIST.800.53.R5" }

local opts = { root = assert(fs.cwd()) }
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--root" then
      i = i + 1
      opts.root = assert(fs.realpath(arg[i] or ""), "--root needs a folder")
    elseif a == "--findings" then
      opts.findings = true
    elseif a == "--json" then
      i = i + 1
      opts.json = assert(arg[i], "--json needs a file")
    else
      io.stderr:write("rule_packs: unknown argument " .. a .. "\n")
      os.exit(2)
    end
    i = i + 1
  end
end

local BIN = fs.realpath(arg[-1] and arg[-1]:find("/", 1, true) and arg[-1] or "./lakehost") or "./lakehost"
local dir = assert(fs.tmpdir("lakehost-rulepacks-bench-"))

local synth, all = {}, {}
for _, v in ipairs(variants.LIST) do
  local files, err, unsupported = variants.synth(v, dir .. "/" .. v.name, { bin = BIN, root = opts.root })
  synth[v.name] = { files = files, err = err, unsupported = unsupported }
  if not files and not unsupported then io.stderr:write(("rule_packs: %s: %s\n"):format(v.name, err)) end
  for _, f in ipairs(files or {}) do all[#all + 1] = f end
end

local t0 = proc.monotime()
local ok, why = cdknag.ensure()
local install = proc.monotime() - t0
local doc, nerr
local t1 = proc.monotime()
if ok then doc, nerr = cdknag.run(all) end
local nag_time = proc.monotime() - t1
if not doc then io.stderr:write("rule_packs: cdk-nag skipped: " .. tostring(nerr or why) .. "\n") end

local by_file = {}
for _, t in ipairs(doc and doc.templates or {}) do by_file[t.file] = t end

local rows, findings = {}, {} -- findings[variant][pack][rule] = {n=, types={}}
print(("%-8s %-16s %7s %8s %10s"):format("variant", "pack", "errors", "warnings", "suppressed"))
for _, v in ipairs(variants.LIST) do
  local s = synth[v.name]
  findings[v.name] = {}
  for _, p in ipairs(PACKS) do
    local c = { errors = 0, warnings = 0, suppressed = 0 }
    local f = {}
    findings[v.name][p] = f
    for _, file in ipairs(s.files or {}) do
      local t = by_file[file]
      local r = t and t.packs[p]
      if r then
        for _, k in ipairs({ "errors", "warnings", "suppressed" }) do
          c[k] = c[k] + #r[k]
          if k ~= "suppressed" then
            for _, e in ipairs(r[k]) do
              local g = f[e.rule] or { n = 0, types = {}, level = k }
              f[e.rule] = g
              g.n = g.n + 1
              g.types[e.type] = (g.types[e.type] or 0) + 1
            end
          end
        end
      end
    end
    local shown
    if not s.files then
      shown = { "n/a", "n/a", "n/a" }
    elseif not doc then
      shown = { "-", "-", "-" }
    else
      shown = { c.errors, c.warnings, c.suppressed }
    end
    rows[#rows + 1] = { variant = v.name, pack = p, counts = s.files and doc and c or nil }
    print(("%-8s %-16s %7s %8s %10s"):format(v.name, p, shown[1], shown[2], shown[3]))
  end
end

print()
print(("%-8s %9s %9s %9s  %s"):format("variant", "cfn-lint E", "W", "I", "rules"))
local lint = {}
for _, v in ipairs(variants.LIST) do
  local s = synth[v.name]
  if s.files then
    local counts, lines, rules = variants.cfn_lint(s.files)
    if counts then
      local ids = {}
      for r, n in pairs(rules) do ids[#ids + 1] = ("%s x%d"):format(r, n) end
      table.sort(ids)
      lint[v.name] = counts
      print(("%-8s %10d %9d %9d  %s"):format(v.name, counts.E, counts.W, counts.I, table.concat(ids, ", ")))
    else
      print(("%-8s %s"):format(v.name, lines))
    end
  else
    print(("%-8s %10s %9s %9s  %s"):format(v.name, "n/a", "n/a", "n/a",
      s.unsupported and "option " .. tostring(v.option) .. " unknown to this build" or ""))
  end
end

if opts.findings and doc then
  for _, v in ipairs(variants.LIST) do
    for _, p in ipairs(PACKS) do
      local f = findings[v.name][p]
      local ids = {}
      for r in pairs(f) do ids[#ids + 1] = r end
      table.sort(ids)
      if #ids > 0 then
        print()
        print(("%s / %s"):format(v.name, p))
        for _, r in ipairs(ids) do
          local types = {}
          for ty, n in pairs(f[r].types) do types[#types + 1] = ("%s x%d"):format(ty, n) end
          table.sort(types)
          print(("  %-52s %-8s %3d  %s"):format(r, f[r].level == "errors" and "error" or "warning", f[r].n,
            table.concat(types, ", ")))
        end
      end
    end
  end
end

print()
if doc then
  print(("cdk-nag %s, aws-cdk-lib %s; install/check %.1f s, one run over %d templates %.1f s"):format(
    doc.versions["cdk-nag"], doc.versions["aws-cdk-lib"], install, #all, nag_time))
end

if opts.json then
  assert(fs.write(opts.json, json.encode({ rows = rows, lint = lint, nag = doc or json.object() }, { pretty = true })))
end
fs.remove_tree(dir)
