-- Pipeline config.yml validation (issue 3, "Bad input"): every rule, with
-- the exact file:line: key: message the user sees.
local app_mod = require("lake.app")
local config = require("lake.pipeline.config")
local yaml = require("host.yaml")

local FILE = "pipelines/p/config.yml"

-- Problems of a config text, formatted as the commands print them.
local function problems(text, domains)
  local app = app_mod.new()
  local value, marks = yaml.load(text, FILE)
  assert(value ~= nil, marks)
  local _, ck = config.validate(value, marks, { file = FILE, domains = domains or { "example", "sales" } })
  for _, p in ipairs(ck:sorted()) do app:problem(p.file, p.line, p.key, p.msg) end
  return app.problems
end

local function validated(text)
  local value, marks = assert(yaml.load(text, FILE))
  return config.validate(value, marks, { file = FILE, domains = { "example" } })
end

-- A valid config; tests replace parts of it.
local HEAD = [[
name: p
domain: example
layers:
  origin: raw
  target: trusted
]]
local function with_steps(steps) return HEAD .. "steps:\n" .. steps end

local LAMBDA = [[
  A:
    type: lambda
    properties:
      module: a
]]

describe("pipeline config.yml #unit", function()
  -- refusals
  it("refuses unknown keys with a did-you-mean", function()
    assert.same({
      FILE .. ":11: steps.A.properties.next: unknown key (did you mean 'next_step'?)",
      FILE .. ":12: steps.A.properties.timeout: unknown key (did you mean 'timeout_seconds'?)",
    }, problems(with_steps(LAMBDA .. "      next: B\n      timeout: 30\n")))
    assert.same({ FILE .. ":1: nmae: unknown key (did you mean 'name'?)" },
      problems("nmae: x\n" .. with_steps(LAMBDA)))
    assert.same({ FILE .. ":6: zzz: unknown key (allowed: name, domain, layers, triggers, tags, contract, logging, tracing, steps)" },
      problems(HEAD .. "zzz: 1\nsteps:\n" .. LAMBDA))
  end)

  it("refuses missing required keys at the line of their parent", function()
    assert.same({
      FILE .. ":1: name: is required",
      FILE .. ":1: domain: is required",
      FILE .. ":1: layers: is required",
      FILE .. ":1: steps: is required",
    }, problems("tags: {}\n"))
    assert.same({ FILE .. ":9: steps.A.properties.module: is required" },
      problems(with_steps("  A:\n    type: lambda\n    properties:\n      timeout_seconds: 5\n")))
    assert.same({ FILE .. ":7: steps.A.type: is required", FILE .. ":7: steps.A.properties: is required" },
      problems(with_steps("  A: {}\n")))
  end)

  it("refuses wrong types", function()
    assert.same({
      FILE .. ":1: name: expected a string, got an integer (quote it: '12')",
      FILE .. ":3: layers: expected a mapping, got a list",
    }, problems("name: 12\ndomain: example\nlayers: [raw, trusted]\nsteps:\n" .. LAMBDA))
    assert.same({ FILE .. ":11: steps.A.properties.timeout_seconds: expected an integer, got a string" },
      problems(with_steps(LAMBDA .. "      timeout_seconds: fast\n")))
    assert.same({ FILE .. ":1: (top level): expected a mapping, got a list" }, problems("- a\n- b\n"))
  end)

  it("refuses a bad pipeline name", function()
    assert.same({ FILE .. ":1: name: 'My Pipeline' is not a pipeline name: lowercase letters, digits, '_' and '-', "
      .. "starting with a letter" }, problems((HEAD:gsub("name: p", "name: My Pipeline")) .. "steps:\n" .. LAMBDA))
  end)

  it("refuses a domain the lake does not have, listing those it has", function()
    assert.same({ FILE .. ":2: domain: 'sale' is not a domain of the lake (domains: example, sales) "
      .. "(did you mean 'sales'?)" }, problems((HEAD:gsub("domain: example", "domain: sale")) .. "steps:\n" .. LAMBDA))
  end)

  it("refuses bad layers and origin equal to target", function()
    assert.same({ FILE .. ":5: layers.target: expected one of raw, trusted, service, got 'trsted' "
      .. "(did you mean 'trusted'?)" },
      problems((HEAD:gsub("target: trusted", "target: trsted")) .. "steps:\n" .. LAMBDA))
    assert.same({ FILE .. ":5: layers.target: must differ from layers.origin (both are 'raw'): a pipeline moves "
      .. "data between two layers" }, problems((HEAD:gsub("target: trusted", "target: raw")) .. "steps:\n" .. LAMBDA))
    assert.same({ FILE .. ":3: layers.target: is required" },
      problems((HEAD:gsub("  target: trusted\n", "")) .. "steps:\n" .. LAMBDA))
  end)

  it("refuses triggers that are not exactly one of s3 and event_rule", function()
    assert.same({
      FILE .. ":7: triggers[1]: needs exactly one of s3, event_rule",
      FILE .. ":10: triggers[2].s3.prefx: unknown key (did you mean 'prefix'?)",
      FILE .. ":11: triggers[3].event_rule.source: is required",
      FILE .. ":14: triggers[4].event_rule.source: needs at least one item",
      FILE .. ":15: triggers[5].event_rule.detail_type[2]: expected a string, got an integer (quote it: '3')",
    }, problems(HEAD .. [[
triggers:
  - s3: {prefix: a/}
    event_rule: {source: [x]}
  - s3:
      prefx: a/
  - event_rule:
      detail_type: [x]
  - event_rule:
      source: []
  - event_rule: {source: [x], detail_type: [y, 3]}
steps:
]] .. LAMBDA))
  end)

  it("refuses tags that are not strings or numbers, and aws: keys", function()
    assert.same({
      FILE .. ":8: tags.aws:x: the aws: prefix is reserved for AWS",
      FILE .. ":9: tags.list: expected a string or a number, got a list",
    }, problems(HEAD .. "tags:\n  version: '1.0'\n  aws:x: y\n  list: [1]\n  n: 2\nsteps:\n" .. LAMBDA))
  end)

  it("refuses contract keys that are not identifiers and unknown types", function()
    assert.same({
      FILE .. ":7: contract.bad-key: contract keys must be identifiers (letters, digits and '_', not starting with "
        .. "a digit): they become --key arguments of the Glue jobs and $.key paths of the state machine",
      FILE .. ":8: contract.n: expected one of str, int, float, bool, list, dict, got 'string' (did you mean 'str'?)",
    }, problems(HEAD .. "contract:\n  bad-key: str\n  n: string\n  ok: str\nsteps:\n" .. LAMBDA))
  end)

  it("refuses next_step to a missing step", function()
    assert.same({
      FILE .. ":11: steps.A.properties.next_step: no step named 'Bb' (did you mean 'B'?)",
      FILE .. ":12: steps.B: unreachable: no next_step leads to it from the first step 'A'",
    },
      problems(with_steps(LAMBDA .. "      next_step: Bb\n  B:\n    type: lambda\n    properties:\n      module: b\n")))
  end)

  it("refuses unreachable steps, counted from the first step of the file", function()
    assert.same({ FILE .. ":11: steps.B: unreachable: no next_step leads to it from the first step 'A'" },
      problems(with_steps(LAMBDA .. "  B:\n    type: lambda\n    properties:\n      module: b\n")))
  end)

  it("reports an unreachable part of the steps once, at its first step", function()
    -- B -> C and D <-> E are unreachable from A: B (nothing leads to it) and D (a cycle) are reported.
    local text = with_steps(LAMBDA .. [[
  B:
    type: lambda
    properties: {module: b, next_step: C}
  C:
    type: lambda
    properties: {module: c}
  D:
    type: lambda
    properties: {module: d, next_step: E}
  E:
    type: lambda
    properties: {module: e, next_step: D}
]])
    assert.same({
      FILE .. ":11: steps.B: unreachable: no next_step leads to it from the first step 'A'",
      FILE .. ":17: steps.D: unreachable: no next_step leads to it from the first step 'A'",
      FILE .. ":22: steps.E.properties.next_step: makes a cycle: D -> E -> D (a pipeline runs each step at most once)",
    }, problems(text))
  end)

  it("refuses cycles", function()
    assert.same({ FILE .. ":16: steps.B.properties.next_step: makes a cycle: A -> B -> A (a pipeline runs each step "
      .. "at most once)" }, problems(with_steps(LAMBDA
      .. "      next_step: B\n  B:\n    type: lambda\n    properties:\n      module: b\n      next_step: A\n")))
    assert.same({ FILE .. ":11: steps.A.properties.next_step: makes a cycle: A -> A (a pipeline runs each step at "
      .. "most once)" }, problems(with_steps(LAMBDA .. "      next_step: A\n")))
  end)

  it("refuses duplicate step names (a YAML duplicate key)", function()
    local value, err = yaml.load(with_steps(LAMBDA .. LAMBDA), FILE)
    assert.is_nil(value)
    assert.equal(FILE .. ":11:3: duplicate key 'A' (first at line 7)", err)
  end)

  it("refuses a choice without choices, and bad choices", function()
    assert.same({ FILE .. ":9: steps.C.properties.choices: is required" },
      problems(with_steps("  C:\n    type: choice\n    properties: {}\n")))
    assert.same({ FILE .. ":10: steps.C.properties.choices: needs at least one choice" },
      problems(with_steps("  C:\n    type: choice\n    properties:\n      choices: []\n")))
    assert.same({
      FILE .. ":11: steps.C.properties.choices[1].next_step: is required",
      FILE .. ":12: steps.C.properties.choices[1].equals: expected a string, got an integer (quote it: '1')",
      FILE .. ":13: steps.C.properties.choices[2].variable: 'x y' is neither a key of the state (such as route "
        .. "or file.type) nor a JSONPath (such as $.file.size)",
      FILE .. ":13: steps.C.properties.choices[2]: has no comparison: give variable and one of string_equals, "
        .. "numeric_greater_than, is_present, ... (see pipelines/README.md), or one of and, or, not",
      FILE .. ":13: steps.C.properties.choices[2].next_step: no step named 'Z'",
    }, problems(with_steps([[
  C:
    type: choice
    properties:
      choices:
        - variable: route
          equals: 1
        - {variable: x y, next_step: Z}
]])))
  end)

  it("refuses an invalid step type, glue_version, job_bookmark and worker_type", function()
    local known = table.concat(require("lake.pipeline.steps").BUILT_IN, ", ")
    assert.same({ FILE .. ":8: steps.A.type: expected one of " .. known .. ", got 'lamda' (did you mean 'lambda'?)" },
      problems(with_steps("  A:\n    type: lamda\n    properties:\n      module: a\n")))
    assert.same({
      FILE .. ":11: steps.G.properties.glue_version: expected one of pythonshell, glueetl, got 'pyspark'",
      FILE .. ":12: steps.G.properties.job_bookmark: expected one of enable, disable, pause, got 'on'",
      FILE .. ":13: steps.G.properties.worker_type: expected one of Standard, G.1X, G.2X, G.025X, G.4X, G.8X, Z.2X, "
        .. "got 'G.3X' (did you mean 'G.1X'?)",
    }, problems(with_steps([[
  G:
    type: glue
    properties:
      module: g
      glue_version: pyspark
      job_bookmark: "on"
      worker_type: G.3X
]])))
  end)

  it("refuses capacity settings of the other Glue executable", function()
    assert.same({
      FILE .. ":12: steps.G.properties.worker_type: only for glue_version glueetl (pythonshell jobs use max_capacity)",
      FILE .. ":13: steps.G.properties.max_capacity: must be 0.0625 or 1 for pythonshell, got 2",
    }, problems(with_steps([[
  G:
    type: glue
    properties:
      module: g
      glue_version: pythonshell
      worker_type: G.1X
      max_capacity: 2
]])))
    assert.same({ FILE .. ":12: steps.G.properties.max_capacity: only for glue_version pythonshell (glueetl jobs use "
      .. "worker_type and worker_count)" }, problems(with_steps([[
  G:
    type: glue
    properties:
      module: g
      glue_version: glueetl
      max_capacity: 1
]])))
  end)

  it("refuses out-of-range numbers", function()
    assert.same({
      FILE .. ":11: steps.A.properties.timeout_seconds: must be between 1 and 900, got 901",
      FILE .. ":12: steps.A.properties.memory_size: must be between 128 and 10240, got 64",
    }, problems(with_steps(LAMBDA .. "      timeout_seconds: 901\n      memory_size: 64\n")))
  end)

  it("refuses step names the error path uses", function()
    assert.same({ FILE .. ":7: steps.ErrorCatch: 'ErrorCatch' is reserved for the state machine's error path; "
      .. "choose another name" }, problems(with_steps((LAMBDA:gsub("  A:", "  ErrorCatch:")))))
  end)

  it("refuses environment variables lakehost or Lambda set", function()
    assert.same({
      FILE .. ":12: steps.A.properties.environment.AWS_REGION: names starting with AWS_ or LAMBDA_ are reserved "
        .. "by Lambda",
      FILE .. ":13: steps.A.properties.environment.PIPELINE: is set by lakehost on every step function; "
        .. "choose another name",
    }, problems(with_steps(LAMBDA
      .. "      environment:\n        AWS_REGION: x\n        PIPELINE: y\n        OK: 1\n")))
  end)

  it("reports every problem of the file in one run, by line", function()
    local probs = problems([[
name: p
domain: nowhere
layers: {origin: raw, target: raw}
steps:
  A:
    type: lambda
    properties:
      module: a
      next: B
]])
    assert.same({
      FILE .. ":2: domain: 'nowhere' is not a domain of the lake (domains: example, sales)",
      FILE .. ":3: layers.target: must differ from layers.origin (both are 'raw'): a pipeline moves data between "
        .. "two layers",
      FILE .. ":9: steps.A.properties.next: unknown key (did you mean 'next_step'?)",
    }, probs)
  end)

  -- acceptance
  it("accepts the example pipeline and keeps the file order of the steps", function()
    local f = assert(io.open("pipelines/pipeline_example/config.yml"))
    local cfg, ck = validated(f:read("a"))
    f:close()
    assert.same({}, ck.problems)
    assert.is_true(cfg.ok)
    local order = {}
    for _, s in ipairs(cfg.steps) do order[#order + 1] = s.name end
    assert.same({ "SizeCheck", "TooLarge", "RouteFile", "RouteChoice", "ProcessType1", "ProcessType2", "AddToDatabase" },
      order)
    local keys = {}
    for _, c in ipairs(cfg.contract) do keys[#keys + 1] = c.key end
    assert.same({ "origin_bucket", "origin_key", "target_bucket", "target_key", "route", "database", "table" }, keys)
    assert.same({ version = "1.0.0" }, cfg.tags)
    assert.same({ kind = "s3", index = 1, line = 8, prefix = "example/", suffix = ".json" }, cfg.triggers[1])
    assert.same({ "example_source" }, cfg.triggers[2].source)
  end)

  it("fills the defaults of step properties", function()
    local cfg = validated(with_steps(LAMBDA .. "      next_step: G\n  G:\n    type: glue\n    properties:\n"
      .. "      module: g\n  E:\n    type: glue\n    properties:\n      module: e\n      glue_version: glueetl\n"))
    local a, g = cfg.by_name.A, cfg.by_name.G
    assert.equal(60, a.timeout_seconds)
    assert.equal(128, a.memory_size)
    assert.same({}, a.environment)
    assert.equal("pythonshell", g.glue_version)
    assert.equal(0.0625, g.max_capacity)
    assert.equal(60, g.timeout_minutes)
    assert.equal(1, g.max_concurrent_runs)
    assert.equal(0, g.max_retries)
    assert.equal("disable", g.job_bookmark)
    assert.equal("G.1X", cfg.by_name.E.worker_type)
    assert.equal(2, cfg.by_name.E.worker_count)
  end)

  it("turns environment numbers and booleans into strings", function()
    local cfg = validated(with_steps(LAMBDA .. "      environment:\n        N: 3\n        B: true\n        S: x\n"))
    assert.same({ N = "3", B = "true", S = "x" }, cfg.by_name.A.environment)
  end)

  -- logging, tracing, accounts (issue 18)
  it("refuses a logging level it does not know, and turning logging off", function()
    assert.same({ FILE .. ":6: logging: expected one of error, all, got 'errors' (did you mean 'error'?)" },
      problems(HEAD .. "logging: errors\nsteps:\n" .. LAMBDA))
    assert.same({ FILE .. ":6: logging: expected one of error, all, got 'ALL' (did you mean 'all'?)" },
      problems(HEAD .. "logging: ALL\nsteps:\n" .. LAMBDA))
    for _, off in ipairs({ "off", "'off'", "false" }) do
      assert.same({ FILE .. ":6: logging: the state machine's logs cannot be turned off: 'error' (the default) "
        .. "logs only failures, which is what tells why a run failed; expected one of error, all" },
        problems(HEAD .. "logging: " .. off .. "\nsteps:\n" .. LAMBDA), off)
    end
    assert.same({ FILE .. ":6: logging: expected a string, got a list" },
      problems(HEAD .. "logging: [all]\nsteps:\n" .. LAMBDA))
    assert.same({ FILE .. ":6: loging: unknown key (did you mean 'logging'?)" },
      problems(HEAD .. "loging: all\nsteps:\n" .. LAMBDA))
  end)

  it("refuses tracing that is not a boolean", function()
    assert.same({ FILE .. ":6: tracing: expected a boolean, got a string" },
      problems(HEAD .. "tracing: xray\nsteps:\n" .. LAMBDA))
    assert.same({ FILE .. ":6: tracin: unknown key (did you mean 'tracing'?)" },
      problems(HEAD .. "tracin: true\nsteps:\n" .. LAMBDA))
  end)

  it("accepts logging and tracing, and leaves them unset when absent (the lake's defaults apply)", function()
    local cfg = validated(HEAD .. "logging: all\ntracing: true\nsteps:\n" .. LAMBDA)
    assert.is_true(cfg.ok)
    assert.same({ "all", true }, { cfg.logging, cfg.tracing })
    cfg = validated(HEAD .. "logging: error\ntracing: false\nsteps:\n" .. LAMBDA)
    assert.same({ "error", false }, { cfg.logging, cfg.tracing })
    cfg = validated(HEAD .. "steps:\n" .. LAMBDA)
    assert.is_true(cfg.ok)
    assert.is_nil(cfg.logging)
    assert.is_nil(cfg.tracing)
  end)

  it("refuses accounts that are not 12-digit strings, listed twice, empty, or on an s3 trigger", function()
    assert.same({
      FILE .. ":9: triggers[1].event_rule.accounts[1]: expected a string, got an integer (quote it: '123456789012')",
      FILE .. ":13: triggers[2].event_rule.accounts[1]: '12345' is not an AWS account id: 12 digits, quoted",
      FILE .. ":14: triggers[2].event_rule.accounts[2]: 'abcdefghijkl' is not an AWS account id: 12 digits, quoted",
      FILE .. ":16: triggers[2].event_rule.accounts[4]: '111122223333' is listed twice",
      FILE .. ":17: triggers[3].event_rule.accounts: needs at least one item",
      FILE .. ":20: triggers[4].s3.accounts: an s3 trigger watches the pipeline's origin bucket, which is in "
        .. "the lake's account: accounts is for event_rule triggers only",
      FILE .. ":21: triggers[5].event_rule.acounts: unknown key (did you mean 'accounts'?)",
    }, problems(HEAD .. [[
triggers:
  - event_rule:
      source: [x]
      accounts: [123456789012]
  - event_rule:
      source: [x]
      accounts:
        - '12345'
        - abcdefghijkl
        - '111122223333'
        - '111122223333'
  - event_rule: {source: [x], accounts: []}
  - s3:
      prefix: a/
      accounts: ['111122223333']
  - event_rule: {source: [x], acounts: ['111122223333']}
steps:
]] .. LAMBDA))
  end)

  it("accepts the accounts of an event_rule trigger", function()
    local cfg = validated(HEAD .. "triggers:\n  - event_rule: {source: [x], accounts: ['111122223333', "
      .. "'012345678901']}\nsteps:\n" .. LAMBDA)
    assert.is_true(cfg.ok)
    assert.same({ "111122223333", "012345678901" }, cfg.triggers[1].accounts)
  end)

  it("accepts an s3 trigger without a filter", function()
    local cfg = validated(HEAD .. "triggers:\n  - s3:\nsteps:\n" .. LAMBDA)
    assert.is_true(cfg.ok)
    assert.same({ kind = "s3", index = 1, line = 7 }, cfg.triggers[1])
  end)
end)
