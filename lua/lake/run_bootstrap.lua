--- The Python side of `lakehost run`: the code the runner hands to the
-- interpreter it runs steps with (see lake.run).
--
--   LAMBDA      run with `python -c LAMBDA HANDLER EVENT_FILE RESULT_FILE META_JSON`
--               in the extracted function code: imports the handler's module,
--               calls handler(event, context) and writes
--               {"ok": true, "result": ...} or {"ok": false, "errorType",
--               "errorMessage", "stackTrace"} to RESULT_FILE (never stdout,
--               which belongs to the handler), plus "started": the
--               StartExecution calls it captured when META asks for it.
--   GLUE_UTILS  awsglue/utils.py for Glue pythonshell scripts run locally:
--               getResolvedOptions(argv, names) as Glue's.
local M = {}

M.LAMBDA = [==[
import decimal
import datetime
import importlib
import json
import re
import sys
import time
import traceback
import uuid


class Context:
    """The fields and the method of the Lambda context object."""

    def __init__(self, meta):
        self.function_name = meta["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = meta["function_arn"]
        self.memory_limit_in_mb = str(meta["memory"])
        self.aws_request_id = meta["request_id"]
        self.log_group_name = meta["log_group"]
        self.log_stream_name = "local/" + meta["request_id"]
        self.identity = None
        self.client_context = None
        self._deadline = time.time() + meta["timeout"]

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.time()) * 1000))


# Characters Step Functions refuses in an execution name.
BAD_NAME = re.compile(r'[\s<>{}\[\]?*"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]')


class _Http:
    def __init__(self, status):
        self.status_code = status
        self.headers = {}
        self.content = b""
        self.text = ""


def capture_start_execution(started):
    """Answers states:StartExecution in place of Step Functions, after
    botocore has validated and serialized the request, and records what the
    trigger sent: the execution input is the request's, byte for byte."""
    try:
        from botocore import handlers
    except ImportError:
        return

    def start_execution(params, **_):
        body = params.get("body") or b"{}"
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        req = json.loads(body)
        machine = req.get("stateMachineArn", "")
        name = req.get("name") or str(uuid.uuid4())
        text = req.get("input", "{}")
        meta = {"HTTPStatusCode": 400, "RequestId": str(uuid.uuid4()), "HTTPHeaders": {}, "RetryAttempts": 0}
        problem = None
        if len(name) > 80 or BAD_NAME.search(name):
            problem = ("InvalidName", "Invalid Name: '%s'" % name)
        else:
            try:
                json.loads(text)
            except ValueError as err:
                problem = ("InvalidExecutionInput", "Invalid State Machine Execution Input: '%s'" % err)
        if problem:
            return _Http(400), {"Error": {"Code": problem[0], "Message": problem[1]}, "ResponseMetadata": meta}
        arn = machine.replace(":stateMachine:", ":execution:", 1) + ":" + name
        started.append({"stateMachineArn": machine, "name": name, "input": text, "executionArn": arn})
        meta["HTTPStatusCode"] = 200
        return _Http(200), {"executionArn": arn, "startDate": datetime.datetime.now(datetime.timezone.utc),
                            "ResponseMetadata": meta}

    handlers.BUILTIN_HANDLERS.append(("before-call.sfn.StartExecution", start_execution))


def failure(kind, message, tb=None):
    return {"ok": False, "errorType": kind, "errorMessage": message,
            "stackTrace": traceback.format_list(tb) if tb else []}


def _default(value):
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)


def invoke(spec, event, context):
    module_name, _, function_name = spec.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as err:
        return failure("Runtime.UserCodeSyntaxError", "Syntax error in module '%s': %s" % (module_name, err))
    except Exception as err:  # noqa: BLE001 - reported as Lambda reports it
        return failure("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (module_name, err))
    handler = getattr(module, function_name, None)
    if handler is None:
        return failure("Runtime.HandlerNotFound",
                       "Handler '%s' missing on module '%s'" % (function_name, module_name))
    try:
        result = handler(event, context)
    except Exception as err:  # noqa: BLE001
        return failure(type(err).__name__, str(err), traceback.extract_tb(err.__traceback__)[1:])
    except SystemExit as err:
        return failure("Runtime.ExitError", "RequestId: %s Error: Runtime exited with error: exit status %s"
                       % (context.aws_request_id, err.code))
    try:
        text = json.dumps(result, default=_default)
    except (TypeError, ValueError) as err:
        return failure("Runtime.MarshalError", "Unable to marshal response: %s" % err)
    return {"ok": True, "result": text}


def main():
    spec, event_path, result_path, meta = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    started = []
    if meta.get("capture_start_execution"):
        capture_start_execution(started)
    with open(event_path, encoding="utf-8") as f:
        event = json.load(f)
    out = invoke(spec, event, Context(meta))
    result = out.pop("result", None)
    out["started"] = started
    text = json.dumps(out)
    if result is not None:
        text = text[:-1] + ', "result": ' + result + "}"
    sys.stdout.flush()
    sys.stderr.flush()
    with open(result_path, "w", encoding="utf-8") as f:
        f.write(text)


main()
]==]

M.GLUE_UTILS = [==[
"""lakehost's stand-in for awsglue.utils in local runs of Glue pythonshell jobs."""


class GlueArgumentError(Exception):
    pass


def getResolvedOptions(args, options):
    """{name: value} of the --name value (or --name=value) pairs of args for
    the names asked; GlueArgumentError names the missing ones."""
    found, i = {}, 1
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq:
                if i + 1 < len(args) and not args[i + 1].startswith("--"):
                    value, i = args[i + 1], i + 1
                else:
                    value = ""
            found[name] = value
        i += 1
    missing = [name for name in options if name not in found]
    if missing:
        raise GlueArgumentError("the following arguments are required: " + ", ".join("--" + n for n in missing))
    return {name: found[name] for name in options}
]==]

return M
