-- lake.diff: template differences, and JSON documents held in strings (a
-- state machine's DefinitionString) compared as documents (issue 17).
local diff = require("lake.diff")
local json = require("host.json")

-- A state machine definition with the given states (JSON text).
local function asl(states, extra)
  local def = { StartAt = "First", States = states }
  for k, v in pairs(extra or {}) do def[k] = v end
  return json.encode(def)
end

-- A template holding one state machine whose DefinitionString is def.
local function machine(def)
  return { Resources = { Machine = { Type = "AWS::StepFunctions::StateMachine",
    Properties = { RoleArn = { ["Fn::GetAtt"] = { "Role", "Arn" } }, DefinitionString = def } } } }
end

local function lines_of(name, d) return table.concat(diff.format(name, d), "\n") .. "\n" end

local TASK = {
  Type = "Task", Resource = "arn:${AWS::Partition}:states:::glue:startJobRun.sync", Next = "Last",
  Parameters = { JobName = "job-dev", Arguments = { ["--job"] = "a", ["--table.$"] = "$.table" } },
  Retry = { { ErrorEquals = { "States.ALL" }, MaxAttempts = 2 } },
}
local LAST = { Type = "Succeed" }

local function copy(v)
  if type(v) ~= "table" then return v end
  local out = setmetatable({}, getmetatable(v))
  for k, x in pairs(v) do out[k] = copy(x) end
  return out
end

describe("lake.diff documents in strings", function()
  it("reads a plain string holding JSON", function()
    assert.same({ a = { 1, 2 } }, diff.document('{"a":[1,2]}'))
    assert.same({ 1, "x" }, diff.document('  [1,"x"]'))
  end)

  it("reads an Fn::Sub text, keeping ${...} placeholders as strings", function()
    local doc = diff.document({ ["Fn::Sub"] = '{"Resource":"arn:${AWS::Partition}:states:::lambda:invoke"}' })
    assert.same({ Resource = "arn:${AWS::Partition}:states:::lambda:invoke" }, doc)
  end)

  it("puts Fn::Sub variables in: text as CloudFormation would, intrinsics as placeholders", function()
    local doc = diff.document({ ["Fn::Sub"] = {
      '{"a":"${Text}","b":"${Fn}","c":"${Attr}:x","d":"${Other}","e":"${!Literal}","f":"${AWS::Region}"}',
      { Text = "plain", Fn = { Ref = "MyFunction" }, Attr = { ["Fn::GetAtt"] = { "Job", "Arn" } },
        Other = { ["Fn::ImportValue"] = "exp" } } } })
    assert.same({ a = "plain", b = "${MyFunction}", c = "${Job.Arn}:x", d = '${{"Fn::ImportValue":"exp"}}',
      e = "${!Literal}", f = "${AWS::Region}" }, doc)
  end)

  it("reads a placeholder standing outside a JSON string as an opaque string", function()
    local doc = diff.document({ ["Fn::Sub"] = { '{"TimeoutSeconds": ${Timeout}, "s":"x${Timeout}"}',
      { Timeout = { Ref = "TimeoutParam" } } } })
    assert.same({ TimeoutSeconds = "${TimeoutParam}", s = "x${TimeoutParam}" }, doc)
  end)

  it("reads an Fn::Join over text and intrinsics", function()
    local doc = diff.document({ ["Fn::Join"] = { "", { '{"Resource":"', { ["Fn::GetAtt"] = { "Fn", "Arn" } },
      '","Next":"', { Ref = "AWS::Region" }, '"}' } } })
    assert.same({ Resource = "${Fn.Arn}", Next = "${AWS::Region}" }, doc)
  end)

  it("finds no document in other values", function()
    assert.is_nil(diff.document("plain text"))
    assert.is_nil(diff.document("{not json"))
    assert.is_nil(diff.document('"a string"'))
    assert.is_nil(diff.document(42))
    assert.is_nil(diff.document({ Ref = "X" }))
    assert.is_nil(diff.document({ ["Fn::Sub"] = "arn:${AWS::Partition}:s3:::b" }))
    assert.is_nil(diff.document({ ["Fn::Join"] = { ",", { Ref = "Subnets" } } }))
  end)
end)

describe("lake.diff state machine definitions", function()
  local old
  before_each(function()
    old = { First = copy(TASK), Last = copy(LAST) }
  end)

  it("lists states added and removed, by name with their type", function()
    local new = { First = copy(TASK), Wait = { Type = "Wait", Seconds = 5, Next = "Last" } }
    local d = diff.documents(json.decode(asl(old)), json.decode(asl(new)))
    assert.equal("asl", d.format)
    assert.same({ { path = "States.Wait", name = "Wait", type = "Wait" } }, d.states_added)
    assert.same({ { path = "States.Last", name = "Last", type = "Succeed" } }, d.states_removed)
    assert.same({}, d.states_changed)
    assert.same({}, d.changes)
  end)

  it("gives each change inside a state its JSON path", function()
    local new = copy(old)
    new.First.Parameters.Arguments["--job"] = "b"
    new.First.TimeoutSeconds = 60
    new.First.Parameters.JobName = nil
    local d = diff.documents(json.decode(asl(old)), json.decode(asl(new)))
    assert.same({ "States.First" }, d.states_changed)
    assert.same({
      { path = "States.First.Parameters.Arguments.--job", old = "a", new = "b" },
      { path = "States.First.Parameters.JobName", old = "job-dev", new = nil },
      { path = "States.First.TimeoutSeconds", old = nil, new = 60 },
    }, d.changes)
  end)

  it("aligns arrays: one element inserted is one change, at its index", function()
    local new = copy(old)
    table.insert(new.First.Retry, 1, { ErrorEquals = { "Glue.Busy" }, MaxAttempts = 9 })
    new.First.Retry[2].ErrorEquals[2] = "States.Timeout"
    local d = diff.documents(json.decode(asl(old)), json.decode(asl(new)))
    assert.same({
      { path = "States.First.Retry[0]", old = nil, new = { ErrorEquals = { "Glue.Busy" }, MaxAttempts = 9 } },
      { path = "States.First.Retry[1].ErrorEquals[1]", old = nil, new = "States.Timeout" },
    }, d.changes)
    -- removing it again: the element's old index
    local back = diff.documents(json.decode(asl(new)), json.decode(asl(old)))
    assert.equal("States.First.Retry[0]", back.changes[1].path)
    assert.is_nil(back.changes[1].new)
  end)

  it("compares elements changed in place index by index", function()
    local a = { Choices = { { Variable = "$.r", StringEquals = "t1", Next = "A" },
      { Variable = "$.r", StringEquals = "t2", Next = "B" } } }
    local b = copy(a)
    b.Choices[2].Next = "C"
    local d = diff.documents(json.decode(json.encode(a)), json.decode(json.encode(b)))
    assert.equal("json", d.format)
    assert.same({ { path = "Choices[1].Next", old = "B", new = "C" } }, d.changes)
  end)

  it("finds states added in a Parallel branch, with the branch's path", function()
    local par = { Type = "Parallel", End = true, Branches = { { StartAt = "X", States = { X = { Type = "Pass", End = true } } } } }
    local par2 = copy(par)
    par2.Branches[1].States.Y = { Type = "Pass", End = true }
    par2.Branches[1].States.X.End = nil
    par2.Branches[1].States.X.Next = "Y"
    local d = diff.documents(json.decode(asl({ First = par })), json.decode(asl({ First = par2 })))
    assert.same({ { path = "States.First.Branches[0].States.Y", name = "Y", type = "Pass" } }, d.states_added)
    assert.same({ "States.First", "States.First.Branches[0].States.X" }, d.states_changed)
    assert.same({
      { path = "States.First.Branches[0].States.X.End", old = true, new = nil },
      { path = "States.First.Branches[0].States.X.Next", old = nil, new = "Y" },
    }, d.changes)
  end)

  it("compares placeholders as text", function()
    local a = { ["Fn::Sub"] = asl({ First = { Type = "Task", Resource = "arn:${AWS::Partition}:x:${AWS::Region}", End = true } }) }
    local b = { ["Fn::Sub"] = asl({ First = { Type = "Task", Resource = "arn:${AWS::Partition}:x:eu-west-1", End = true } }) }
    local d = diff.templates(machine(a), machine(b))
    local c = d.changed[1].changes[1]
    assert.same({ { path = "States.First.Resource", old = "arn:${AWS::Partition}:x:${AWS::Region}",
      new = "arn:${AWS::Partition}:x:eu-west-1" } }, c.doc.changes)
  end)
end)

describe("lake.diff templates", function()
  local def_a, def_b
  before_each(function()
    local old = { First = copy(TASK), Last = copy(LAST) }
    local new = { First = copy(TASK), Last = copy(LAST), Extra = { Type = "Pass", Next = "Last" } }
    new.First.Parameters.Arguments["--job"] = "b"
    old.Gone = { Type = "Fail", Error = "E" }
    def_a = { ["Fn::Sub"] = asl(old, { Comment = "a long comment that would show twice" }) }
    def_b = { ["Fn::Sub"] = asl(new, { Comment = "a long comment that would show twice" }) }
  end)

  it("shows a changed DefinitionString as a structural diff, not as two strings", function()
    local d = diff.templates(machine(def_a), machine(def_b))
    assert.same({}, d.added)
    assert.equal(1, #d.changed)
    local text = lines_of("s", d)
    assert.equal([[
s
  ~ Machine (AWS::StepFunctions::StateMachine)
      Properties.DefinitionString: state machine definition (1 state added, 1 state removed, 1 state changed)
        + States.Extra (Pass)
        - States.Gone (Fail)
        ~ States.First.Parameters.Arguments.--job: "a" -> "b"
]], text)
    assert.is_nil(text:find("a long comment", 1, true))
  end)

  it("compares a plain string definition with an Fn::Sub one", function()
    local d = diff.templates(machine(def_a["Fn::Sub"]), machine(def_b))
    assert.equal("asl", d.changed[1].changes[1].doc.format)
  end)

  it("shows both values whole when a definition does not parse", function()
    local d = diff.templates(machine({ ["Fn::Sub"] = '{"StartAt": broken' }), machine(def_b))
    local c = d.changed[1].changes[1]
    assert.is_nil(c.doc)
    assert.equal("Properties.DefinitionString.Fn::Sub", c.path)
    local text = lines_of("s", d)
    assert.matches('Properties.DefinitionString.Fn::Sub: "{\\"StartAt\\": broken" -> ', text, 1, true)
    assert.truthy(text:find("a long comment", 1, true))
  end)

  it("says when two texts hold the same document", function()
    local pretty = { ["Fn::Sub"] = json.encode(json.decode(def_a["Fn::Sub"]), { pretty = true }) }
    local d = diff.templates(machine(def_a), machine(pretty))
    assert.equal(1, #d.changed)
    assert.matches("Properties.DefinitionString: state machine definition: the same document in other text",
      lines_of("s", d), 1, true)
  end)

  it("reads any JSON document in a string the same way (a policy)", function()
    local function topic(policy)
      return { Resources = { P = { Type = "AWS::SNS::TopicPolicy", Properties = { PolicyDocument = policy } } } }
    end
    local a = '{"Statement":[{"Action":["sns:Publish"],"Effect":"Allow","Resource":"*"}]}'
    local b = '{"Statement":[{"Action":["sns:Publish","sns:Subscribe"],"Effect":"Allow","Resource":"*"}]}'
    local d = diff.templates(topic(a), topic(b))
    assert.equal([[
s
  ~ P (AWS::SNS::TopicPolicy)
      Properties.PolicyDocument: JSON document
        + Statement[0].Action[1]: "sns:Subscribe"
]], lines_of("s", d))
  end)

  it("keeps resources added, removed and other properties as before", function()
    local old = { Resources = { A = { Type = "AWS::SNS::Topic", Properties = { TopicName = "a" } },
      B = { Type = "AWS::SQS::Queue" } }, Outputs = { O = { Value = "1" } } }
    local new = { Resources = { A = { Type = "AWS::SNS::Topic", Properties = { TopicName = "b" } },
      C = { Type = "AWS::S3::Bucket" } }, Outputs = { O = { Value = "2" } } }
    local d = diff.templates(old, new)
    assert.equal([[
s
  + C (AWS::S3::Bucket)
  - B (AWS::SQS::Queue)
  ~ A (AWS::SNS::Topic)
      Properties.TopicName: "a" -> "b"
  ~ Outputs.O.Value: "1" -> "2"
]], lines_of("s", d))
    assert.same({ "s: no differences" }, diff.format("s", diff.templates(new, new)))
  end)
end)

describe("lake.diff as JSON", function()
  it("gives status, resources and the document's changes with paths and values", function()
    local old = { StartAt = "First", States = { First = { Type = "Pass", End = true, Result = "a" } } }
    local new = { StartAt = "First", States = { First = { Type = "Pass", End = true, Result = "b" },
      Big = { Type = "Pass", End = true, Result = string.rep("x", 2000) } } }
    local d = diff.templates(machine(json.encode(old)), machine(json.encode(new)))
    local doc = json.decode(json.encode(diff.to_json("s", d, false)))
    assert.equal("changed", doc.status)
    local c = doc.resources.changed[1]
    assert.equal("Machine", c.id)
    local ch = c.changes[1]
    assert.same({ path = "Properties.DefinitionString", kind = "changed", document = "asl",
      states = { added = { { path = "States.Big", name = "Big", type = "Pass" } }, removed = {},
        changed = { "States.First" } },
      changes = { { path = "States.First.Result", kind = "changed", old = "a", new = "b" } } }, ch)
  end)

  it("gives large values by size and the status of new and unchanged stacks", function()
    local new = { Resources = { T = { Type = "AWS::SNS::Topic", Properties = { DisplayName = string.rep("y", 1100) } } } }
    local old = { Resources = { T = { Type = "AWS::SNS::Topic", Properties = { DisplayName = "short" } } } }
    local doc = diff.to_json("s", diff.templates(old, new), false)
    assert.same({ path = "Properties.DisplayName", kind = "changed", old = "short", new_bytes = 1102 },
      doc.resources.changed[1].changes[1])
    assert.equal("new", diff.to_json("s", diff.templates(nil, new), true).status)
    local same = diff.to_json("s", diff.templates(new, new), false)
    assert.equal("unchanged", same.status)
    assert.equal('{"added":[],"changed":[],"removed":[]}', json.encode(same.resources))
  end)
end)

describe("diff and list of a deployed lake #integration", function()
  local util = require("spec.support.util")
  local moto = require("spec.support.moto")
  local fs = require("host.fs")
  local STACK = "lake-pipeline-example-stack-dev"
  local server, dir, tmp, before

  -- lakehost in the copy of the example, with its own TMPDIR (to see what
  -- diff leaves there)
  local function run(args, extra)
    local env = { TMPDIR = tmp, LAKEHOST_CACHE_DIR = dir .. "/.cache" }
    for k, v in pairs(server.env) do env[k] = v end
    for k, v in pairs(extra or {}) do env[k] = v end
    local argv = { dir .. "/app.lua" }
    for _, a in ipairs(args) do argv[#argv + 1] = a end
    return util.lakehost(argv, { env = env, cwd = dir })
  end

  -- What lake.out holds: every file's path, size, mtime and text.
  local function snapshot(path)
    local out = {}
    for _, rel in ipairs(assert(fs.walk(path, { dirs = true }))) do
      local p = path .. "/" .. rel
      local st = assert(fs.stat(p))
      out[rel] = { mtime = st.mtime_ns, size = st.size, text = st.type == "file" and fs.read(p) or nil }
    end
    local st = assert(fs.stat(path))
    out["."] = { mtime = st.mtime_ns }
    return out
  end

  local function edit(file, from, to)
    local text = assert(fs.read(file))
    local s, e = text:find(from, 1, true)
    assert(s, from)
    assert(fs.write(file, text:sub(1, s - 1) .. to .. text:sub(e + 1)))
  end

  setup(function()
    server = moto.start()
    dir = util.tmpdir("lakehost-diff-spec-")
    tmp = dir .. "/tmp"
    assert(fs.mkdir_p(tmp))
    util.run({ "cp", "-R", "app.lua", "pipelines", "shared", "standalone", dir .. "/" })
    local _, err, code = run({ "bootstrap" })
    assert(code == 0, err)
    _, err, code = run({ "deploy", "--require-approval", "never" })
    assert(code == 0, err)
    -- one field of one step: ProcessType1's timeout, 30 -> 45 minutes
    local step = "      module: process_type1\n      next_step: AddToDatabase\n      glue_version: pythonshell\n"
    edit(dir .. "/pipelines/pipeline_example/config.yml", step .. "      timeout_minutes: 30",
      step .. "      timeout_minutes: 45")
    before = snapshot(dir .. "/lake.out")
  end)

  teardown(function()
    if server then server.stop() end
    if dir then fs.remove_tree(dir) end
  end)

  it("shows the changed step as paths in the definition, not two whole strings", function()
    local out, err, code = run({ "diff" })
    assert.equal(0, code, err)
    assert.matches("lake-storage-stack-dev: no differences", out, 1, true)
    assert.matches("lake-shared-stack-dev: no differences", out, 1, true)
    assert.matches([[
  ~ StateMachine (AWS::StepFunctions::StateMachine)
      Properties.DefinitionString: state machine definition (1 state changed)
        ~ States.ProcessType1.TimeoutSeconds: 1800 -> 2700
]], out, 1, true)
    -- the Glue job's own timeout (minutes) changed too
    assert.matches('Properties.Timeout: 30 -> 45', out, 1, true)
    -- no part of the definition's text beyond the changed field
    assert.is_nil(out:find('"StartAt', 1, true))
    assert.is_nil(out:find("RouteChoice", 1, true))
    assert.is_true(#out < 1500, out)
  end)

  it("left lake.out and the temporary folder as they were", function()
    local after = snapshot(dir .. "/lake.out")
    assert.same(before, after)
    -- what deploy wrote still holds the deployed timeout
    assert.truthy(fs.read(dir .. "/lake.out/" .. STACK .. ".template.json"):find('\\"TimeoutSeconds\\":1800', 1, true))
    assert.same({}, assert(fs.list(tmp)))
  end)

  it("prints one JSON document with --json, which Python reads too", function()
    local out, err, code = run({ "diff", "--json" })
    assert.equal(0, code, err)
    assert.equal("", err)
    local doc = assert(json.decode(out))
    assert.equal(1, doc.differ)
    local by = {}
    for _, s in ipairs(doc.stacks) do by[s.name] = s end
    assert.equal("unchanged", by["lake-storage-stack-dev"].status)
    local s = by[STACK]
    assert.equal("changed", s.status)
    assert.same({}, s.resources.added)
    local sm
    for _, r in ipairs(s.resources.changed) do if r.id == "StateMachine" then sm = r end end
    assert.same({ { path = "Properties.DefinitionString", kind = "changed", document = "asl",
      states = { added = {}, removed = {}, changed = { "States.ProcessType1" } },
      changes = { { path = "States.ProcessType1.TimeoutSeconds", kind = "changed", old = 1800, new = 2700 } } } },
      sm.changes)
    local file = dir .. "/diff.json"
    assert(fs.write(file, out))
    local py = util.run({ "python3", "-c", "import json,sys; d=json.load(open(sys.argv[1])); "
      .. "print([s['status'] for s in d['stacks']])", file })
    assert.matches("'changed'", py, 1, true)
    assert.same({}, assert(fs.list(tmp)))
  end)

  it("still exits 1 with --fail, after the JSON document", function()
    local out, err, code = run({ "diff", "--json", "--fail" })
    assert.equal(1, code)
    assert.matches("1 stack differs from what is deployed", err, 1, true)
    assert.equal(1, json.decode(out).differ)
    local _, _, ok = run({ "diff", "--json", "--fail", "lake-storage-stack-dev" })
    assert.equal(0, ok)
  end)

  it("reads --from DIR without synthesizing, and synthesizes into --out DIR when given", function()
    local out, err, code = run({ "diff", "--from", "lake.out" })
    assert.equal(0, code, err)
    assert.equal(4, select(2, out:gsub(": no differences", "")))
    out, err, code = run({ "diff", "--out", "elsewhere" })
    assert.equal(0, code, err)
    assert.matches("TimeoutSeconds: 1800 -> 2700", out, 1, true)
    assert.truthy(fs.read(dir .. "/elsewhere/" .. STACK .. ".template.json"):find('\\"TimeoutSeconds\\":2700', 1, true))
    assert.same(before, snapshot(dir .. "/lake.out"))
  end)

  it("removes the temporary folder when it fails", function()
    local _, err, code = run({ "diff", "no-such-stack" })
    assert.equal(2, code)
    assert.matches("no-such-stack", err, 1, true)
    assert.same({}, assert(fs.list(tmp)))
    _, err, code = run({ "diff" }, { AWS_SECRET_ACCESS_KEY = "wrong-secret-key-0000000000000000000000" })
    assert.equal(1, code)
    assert.matches("SignatureDoesNotMatch", err, 1, true)
    assert.same({}, assert(fs.list(tmp)))
    -- an error raised after synthesis (the session finds no region) unwinds
    -- through diff: the folder goes all the same
    _, err, code = run({ "diff" }, { AWS_REGION = "", AWS_DEFAULT_REGION = "", AWS_CONFIG_FILE = dir .. "/none" })
    assert.equal(2, code)
    assert.matches("no AWS region", err, 1, true)
    assert.same({}, assert(fs.list(tmp)))
    assert.same(before, snapshot(dir .. "/lake.out"))
  end)

  it("gives a new stack the status new", function()
    util.run({ "cp", "-R", dir .. "/pipelines/pipeline_example", dir .. "/pipelines/pipeline_two" })
    edit(dir .. "/pipelines/pipeline_two/config.yml", "name: pipeline_example", "name: pipeline_two")
    local out, err, code = run({ "diff", "--json" })
    assert.equal(0, code, err)
    local by = {}
    for _, s in ipairs(json.decode(out).stacks) do by[s.name] = s end
    local two = assert(by["lake-pipeline-two-stack-dev"])
    assert.equal("new", two.status)
    assert.is_true(#two.resources.added > 5)
    fs.remove_tree(dir .. "/pipelines/pipeline_two")
  end)

  it("lists the stacks as JSON with their dependencies and status", function()
    local out, err, code = run({ "list", "--json" })
    assert.equal(0, code, err)
    local doc = assert(json.decode(out))
    local names = {}
    for i, s in ipairs(doc.stacks) do names[i] = s.name end
    assert.same({ "lake-storage-stack-dev", "lake-shared-stack-dev", "lake-extra-policies-stack-dev", STACK }, names)
    assert.same({ name = STACK, status = "CREATE_COMPLETE", dependencies = { "lake-shared-stack-dev" } }, doc.stacks[4])
    assert.same({}, doc.stacks[1].dependencies)
    assert.is_nil(doc.status_error)
    -- without credentials: no status, and the text version agrees on the order
    local text = run({ "list" })
    assert.truthy(text:find("lake-storage-stack-dev", 1, true) < text:find(STACK, 1, true))
    out, err, code = run({ "list", "--json" }, { AWS_ENDPOINT_URL = "http://127.0.0.1:" .. moto.free_port() })
    assert.equal(0, code, err)
    doc = json.decode(out)
    assert.is_nil(doc.stacks[1].status)
    assert.is_string(doc.status_error)
    assert.matches("deployed status unknown", err, 1, true)
  end)
end)
