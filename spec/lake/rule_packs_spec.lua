-- AWS's own rule packs over the synthesized lake (issue 18): cdk-nag's
-- AwsSolutions, HIPAA Security and NIST 800-53 R5 packs, templates loaded
-- through CfnInclude, find no error and no warning on the example lake, its VPC variant with two domains, the `kms` variant and
-- the toolkit stack; every suppression a template carries gives a reason of
-- at least one sentence; cfn-lint with its informational rules finds no
-- error and no warning. The npm packages are installed once per run into a
-- cache folder (spec/support/cdknag.lua); without node, npm or the registry
-- the cdk-nag specs are skipped with the reason.
local cdknag = require("spec.support.cdknag")
local fs = require("host.fs")
local util = require("spec.support.util")
local variants = require("spec.support.rule_variants")

-- "<rule> <resource> [finding]: info" lines, sorted, for failure messages.
local function describe_findings(list)
  local out = {}
  for _, f in ipairs(list) do
    out[#out + 1] = ("%s %s%s: %s"):format(f.rule, f.resource, f.finding ~= "" and " " .. f.finding or "", f.info)
  end
  table.sort(out)
  return table.concat(out, "\n")
end

describe("rule packs over the synthesized lake #integration", function()
  local dir
  local synth = {} -- name -> {files=} | {err=, unsupported=}
  local nag, nag_err -- the decoded nag.js document, by template file
  local by_file = {}
  local lint, lint_err, lint_lines -- cfn-lint's counts (or nil, err) and lines over all of them

  setup(function()
    dir = util.tmpdir("lakehost-rulepacks-")
    local all = {}
    for _, v in ipairs(variants.LIST) do
      local files, err, unsupported = variants.synth(v, dir .. "/" .. v.name)
      synth[v.name] = files and { files = files } or { err = err, unsupported = unsupported }
      for _, f in ipairs(files or {}) do all[#all + 1] = f end
    end
    -- one cfn-lint run and one node run for every template of every variant
    -- (each takes seconds to start)
    local counts, out = variants.cfn_lint(all)
    if counts then lint, lint_lines = counts, out else lint_err = out end
    local ok, why = cdknag.ensure()
    if not ok then
      nag_err = why
      print("rule_packs_spec: cdk-nag skipped: " .. why)
      return
    end
    nag, nag_err = cdknag.run(all, { "AwsSolutionsChecks", "HIPAASecurityChecks", "NIST80053R5Checks" })
    for _, t in ipairs(nag and nag.templates or {}) do by_file[t.file] = t end
  end)

  teardown(function()
    if dir then fs.remove_tree(dir) end
  end)

  -- The variant's templates, or nil after marking the test pending (an
  -- option the binary does not know yet) or failing (any other synth error).
  local function templates(name)
    local s = synth[name]
    if s.unsupported then
      print(("rule_packs_spec: the %s variant needs an option this build does not know; skipped"):format(name))
      pending(name .. " variant: option " .. variants.by_name[name].option .. " is not known to this build")
      return nil
    end
    assert(s.files, s.err)
    return s.files
  end

  local function nag_results(name)
    local files = templates(name)
    if not files then return nil end
    if not nag then
      if not cdknag.ensure() then
        pending("cdk-nag unavailable: " .. tostring(nag_err))
        return nil
      end
      error(nag_err)
    end
    local out = {}
    for _, f in ipairs(files) do out[#out + 1] = assert(by_file[f], "nag.js left out " .. f) end
    return out
  end

  for _, v in ipairs(variants.LIST) do
    for _, pack in ipairs({ "AwsSolutions", "HIPAA.Security", "NIST.800.53.R5" }) do
      it(("finds no %s error or warning on the %s variant"):format(pack, v.name), function()
        local results = nag_results(v.name)
        if not results then return end
        local found = {}
        for _, t in ipairs(results) do
          assert.is_table(t.packs[pack], t.file)
          for _, list in ipairs({ t.packs[pack].errors, t.packs[pack].warnings }) do
            for _, e in ipairs(list) do
              local copy = {}
              for k, x in pairs(e) do copy[k] = x end
              copy.resource = t.stack .. "/" .. e.resource
              found[#found + 1] = copy
            end
          end
        end
        assert(#found == 0, ("%d %s findings on %s:\n%s"):format(#found, pack, v.name, describe_findings(found)))
      end)
    end

    it(("gives every suppression on the %s variant a reason of a sentence"):format(v.name), function()
      local results = nag_results(v.name)
      if not results then return end
      local bad = {}
      for _, t in ipairs(results) do
        for _, s in ipairs(t.declared) do
          local reason = type(s.reason) == "string" and s.reason or ""
          if #reason < 20 or not reason:match("%.$") then
            bad[#bad + 1] = ("%s/%s %s: %q"):format(t.stack, s.resource, tostring(s.id), reason)
          end
        end
        -- what cdk-nag honoured came from the template, reason and all
        for _, pack in pairs(t.packs) do
          for _, s in ipairs(pack.suppressed) do
            assert.is_true(#s.reason >= 20, s.rule .. " " .. s.resource)
          end
        end
      end
      assert(#bad == 0, "suppressions without a sentence of reason:\n" .. table.concat(bad, "\n"))
    end)
  end

  it("honours a template's cdk_nag Metadata through CfnInclude", function()
    -- the harness itself: a finding the Metadata suppresses is reported as
    -- suppressed with the template's reason, the same finding unsuppressed
    -- as an error
    if not nag then
      pending("cdk-nag unavailable: " .. tostring(nag_err))
      return
    end
    local reason = "Access logs of this test bucket would only log the logging itself."
    local path = dir .. "/suppressed.json"
    assert(fs.write(path, [[{"Resources": {
      "Quiet": {"Type": "AWS::S3::Bucket", "Properties": {}, "Metadata": {"cdk_nag": {"rules_to_suppress": [
        {"id": "AwsSolutions-S1", "reason": "]] .. reason .. [["}]}}},
      "Loud": {"Type": "AWS::S3::Bucket", "Properties": {}}}}]]))
    local doc = assert(cdknag.run({ path }, { "AwsSolutionsChecks" }))
    local pack = doc.templates[1].packs.AwsSolutions
    local s1 = {}
    for _, e in ipairs(pack.errors) do
      if e.rule == "AwsSolutions-S1" then s1[#s1 + 1] = e.resource end
    end
    assert.same({ "Loud" }, s1)
    assert.equal(1, #pack.suppressed)
    assert.same({ "AwsSolutions-S1", "Quiet", reason },
      { pack.suppressed[1].rule, pack.suppressed[1].resource, pack.suppressed[1].reason })
  end)

  for _, v in ipairs(variants.LIST) do
    it(("finds no cfn-lint error or warning, informational rules included, on the %s variant"):format(v.name),
      function()
        local files = templates(v.name)
        if not files then return end
        assert(lint, lint_err)
        local prefix = dir .. "/" .. v.name .. "/"
        local lines, info = {}, {}
        for _, l in ipairs(lint_lines) do
          if l:sub(1, #prefix) == prefix then
            lines[#lines + 1] = l
            local rule = l:match(":%d+:%d+:%d+:%d+:(I%d+):")
            if rule then info[rule] = (info[rule] or 0) + 1 end
          end
        end
        local shown, n = {}, 0
        for rule, k in pairs(info) do
          shown[#shown + 1] = ("%s x%d"):format(rule, k)
          n = n + k
        end
        table.sort(shown)
        print(("rule_packs_spec: cfn-lint on %s (%d templates): %d informational (%s)"):format(v.name, #files, n,
          #shown > 0 and table.concat(shown, ", ") or "none"))
        local bad = {}
        for _, l in ipairs(lines) do
          if l:match(":[EW]%d+:") then bad[#bad + 1] = l end
        end
        assert(#bad == 0, "cfn-lint errors or warnings:\n" .. table.concat(bad, "\n"))
      end)
  end
end)
