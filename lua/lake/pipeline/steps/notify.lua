--- The notify step: publishes a message to the lake's error topic or to an
-- SNS topic the step names, and goes on; its output is its own input.
--
--   Announce:
--     type: notify
--     properties:
--       topic: errors                    # the default; or an SNS topic ARN
--       subject: "[lake] ${origin_key} loaded"
--       message: "${origin_key} is in ${target_bucket}, table ${table}"
--       next_step: Next
--
-- ${field} (or ${a.b}) in message and subject is the field of the state,
-- filled in when the step runs (States.Format).
local json = require("host.json")
local query = require("lake.aws.query")
local sm = require("lake.pipeline.state_machine")
local steps = require("lake.pipeline.steps")

local M = { name = "notify", summary = "publishes a message to the lake's error topic or a topic of its own" }

M.keys = { "message", "subject", "topic", "next_step" }
M.defaults = { topic = "errors" }
M.TOPIC_ARN_PATTERN = "^arn:aws[%w-]*:sns:[a-z][a-z0-9-]*:%d%d%d%d%d%d%d%d%d%d%d%d:[%w_-]+$"
M.FIELD_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$"
--- SNS's limits: a subject of 100 characters, a message of 256 KiB.
M.MAX_SUBJECT, M.MAX_MESSAGE = 100, 262144

function M.label(step)
  return ("notify step, topic %s"):format(step.topic == "errors" and "errors" or (step.topic or "?"))
end

---------------------------------------------------------------------------
-- config.yml

-- ${a} or ${a.b}: the path $.a, $.a.b
local function field_path(name)
  for part in (name .. "."):gmatch("(.-)%.") do
    if not part:match(M.FIELD_PATTERN) then
      return nil, ("'${%s}' is not a field of the state (use names such as ${origin_key} or ${file.type})")
        :format(name)
    end
  end
  return "$." .. name
end

local function template(ck, props, key, step, max)
  local v, pkey = props[key], step.key .. ".properties." .. key
  local line = ck:line_of(props, key, step.properties_line)
  if not ck:expect(v, "string", line, pkey) then return nil end
  if not v:find("%S") then
    ck:add(line, pkey, "must not be empty")
    return nil
  end
  if #v > max then
    ck:add(line, pkey, ("is %d characters, more than the %d SNS takes"):format(#v, max))
    return nil
  end
  if key == "subject" and v:find("[\r\n]") then
    ck:add(line, pkey, "SNS subjects are one line")
    return nil
  end
  local t = steps.format_template(v, field_path)
  for _, p in ipairs(t.problems) do ck:add(line, pkey, p.msg) end
  if #t.problems > 0 then return nil end
  return t
end

function M.check(ck, props, step)
  steps.next_step_property(ck, props, step)
  local pkey, pl = step.key .. ".properties", step.properties_line
  local msg = ck:required(props, "message", pkey, pl)
  if msg ~= nil then step.message = template(ck, props, "message", step, M.MAX_MESSAGE) end
  if props.subject ~= nil then step.subject = template(ck, props, "subject", step, M.MAX_SUBJECT) end
  step.topic = M.defaults.topic
  local topic = props.topic
  if topic ~= nil then
    local tl = ck:line_of(props, "topic", pl)
    if ck:expect(topic, "string", tl, pkey .. ".topic") then
      if topic == "errors" or topic:match(M.TOPIC_ARN_PATTERN) then
        step.topic = topic
      else
        step.topic = nil
        ck:add(tl, pkey .. ".topic", ("expected errors (the lake's error topic) or an SNS topic ARN "
          .. "(arn:aws:sns:<region>:<account>:<name>), got '%s'"):format(topic))
      end
    end
  end
end

---------------------------------------------------------------------------
-- The stack (a notify step adds no resource: the state machine may publish)

--- The topic's ARN of a step.
function M.topic_arn(p, step)
  if step.topic == "errors" then return p.lake.sns_topic.arn end
  return step.topic
end

function M.resources(p, list)
  local arns, seen, errors = {}, {}, false
  for _, s in ipairs(list) do
    local arn = M.topic_arn(p, s)
    errors = errors or s.topic == "errors"
    if not seen[s.topic] then
      seen[s.topic] = true
      arns[#arns + 1] = arn
    end
    p.refs[s.name] = { topic_arn = arn }
  end
  p:allow("PublishNotices", { "sns:Publish" }, arns)
  -- the error topic is encrypted with the lake key (encryption = "kms")
  if errors then
    for _, st in ipairs(p.lake.encryption:statements(p.stack, { "sns" })) do
      st.Sid = "UseLakeKeyForNotices"
      p.sm_statements[#p.sm_statements + 1] = st
    end
  end
end

--- Publishes and goes on: ResultPath null keeps the step's input.
function M.state(p, step)
  local params = { TopicArn = p.refs[step.name].topic_arn }
  steps.set_template(params, "Message", step.message)
  if step.subject then steps.set_template(params, "Subject", step.subject) end
  return sm.set_next({
    Type = "Task", Comment = M.label(step),
    Resource = sm.service_arn("sns:publish", p.partition),
    Parameters = params, ResultPath = json.null,
    Catch = sm.catch_all(),
  }, step)
end

function M.diagram(d, step, state)
  d:node("flag", M.label(step))
  d:flow(state)
end

---------------------------------------------------------------------------
-- `run`: SNS Publish through --endpoint.

M.run = { resources = { "^arn:[%w-]+:states:::sns:publish$" }, describe = "sns:publish" }

function M.run.invoke(rt, _, input, state_name)
  local value = rt.value
  if value.kind(input) ~= "object" or type(input.TopicArn) ~= "string" or type(input.Message) ~= "string" then
    return false, { Error = "States.Runtime", Cause = "sns:publish needs Parameters.TopicArn and Message (strings)" }
  end
  local params = { TopicArn = input.TopicArn, Message = input.Message }
  if type(input.Subject) == "string" then params.Subject = input.Subject end
  local r, err = query.call(rt:client(), "sns", "2010-03-31", "Publish", params)
  if not r then
    local code = type(err) == "table" and err.code or nil
    return false, { Error = code and ("SNS." .. code) or "States.TaskFailed", Cause = tostring(err) }
  end
  local res = r.PublishResult or r
  rt:log(state_name, { stdout = "published " .. tostring(res.MessageId) .. "\n", stderr = "" })
  return true, value.object({ MessageId = res.MessageId })
end

return M
