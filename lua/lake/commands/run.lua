--- `run PIPELINE --event FILE`: a pipeline's state machine on this machine
-- (lake.run), from a fresh synthesis.
local common = require("lake.commands.common")
local errors = require("lake.errors")
local run = require("lake.run")
local synth = require("lake.commands.synth")

local M = {
  synopsis = "PIPELINE --event F",
  summary = "run a pipeline's state machine on this machine",
  args = true,
  options = common.aws_options { event = "FILE", endpoint = "URL", verbose = true, out = "DIR", keep = true,
    python = "PATH", wait = true },
  help = [[
usage: lakehost APP.lua run PIPELINE --event FILE [OPTIONS]

Runs the pipeline's state machine on this machine, from the synth output:
the trigger Lambda first, with the event (an S3 "Object Created" EventBridge
event, a custom EventBridge event or an S3 notification, as JSON), then each
step of the execution it starts (its StartExecution is answered locally, not
sent). Each step runs as its type runs it locally: Lambda steps run the
function's packaged code with python, with the environment variables and the
timeout of the template; Glue pythonshell steps run the job's script with its
--key value arguments and a stand-in for awsglue.utils.getResolvedOptions;
glueetl steps need PySpark. A failing step goes through the state machine's
Retry and Catch (ErrorCatch runs the catch Lambda). Names use AWS_REGION
(else us-east-1) and AWS_ACCOUNT_ID (else STS, else 123456789012).

Prints a timeline (step, duration, status) on stderr and the final output as
JSON on stdout. Exit 0 when the execution succeeded, 1 when it failed, 2 for
bad input.

  --event FILE     the event for the pipeline's trigger (required)
  --endpoint URL   send the steps' AWS calls there (AWS_ENDPOINT_URL), e.g. a
                   local moto server; without it they go to AWS
  --python PATH    the Python that runs the steps (default: LAKEHOST_PYTHON,
                   else python3); it needs what the steps import (boto3)
  --out DIR        synthesize into DIR (default lake.out)
  --verbose        each step's input, output and logs
  --keep           keep the steps' files (code, events, results) and say where
  --wait           sleep through wait steps (default: say how long each would
                   wait, computed as Step Functions would, and go on at once)
]] .. common.AWS_HELP .. [[
  (--profile and --region reach the steps too, as AWS_PROFILE and AWS_REGION)
]],
}

function M.run(app, opts, pos)
  local perr = synth.problems(app)
  if perr then return nil, perr end
  -- --profile and --region read as the environment would say them
  local function getenv(k)
    if opts.region and (k == "AWS_REGION" or k == "AWS_DEFAULT_REGION") then return opts.region end
    if opts.profile and (k == "AWS_PROFILE" or k == "AWS_DEFAULT_PROFILE") then return opts.profile end
    if opts.profile and (k == "AWS_ACCESS_KEY_ID" or k == "AWS_SECRET_ACCESS_KEY" or k == "AWS_SESSION_TOKEN") then
      return nil -- as with `aws --profile`: the profile, not the key variables
    end
    return os.getenv(k)
  end
  local status, err = run.command(app, pos, opts, function(dir) return synth.write(app, dir, true) end, getenv)
  if status == nil then return nil, err end
  if status ~= 0 then return nil, errors.failure(("run: %s did not succeed"):format(pos[1])) end
  return true
end

return M
