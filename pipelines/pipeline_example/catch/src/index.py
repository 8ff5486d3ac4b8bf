"""Catch of pipeline_example: tells the lake's SNS topic that a run failed.

The state machine's ErrorCatch state invokes it with
``{"input": <the state>, "execution": <id>, "state_machine": <name>}``. A
failed task left ``{"Error", "Cause"}`` in ``input.error``; when no choice
matched there is no ``error`` and the message says so. The execution then
ends FAILED (the PipelineFailed state).
"""
import json
import os

NO_MATCH = "States.NoChoiceMatched"


def _client(name):
    import boto3  # present in the Lambda runtime; imported late so tests need no boto3

    return boto3.client(name)


#: Returns a boto3 client by service name; tests replace it with fakes.
CLIENT_FACTORY = _client


def _cause(cause):
    """The readable part of a Cause (Lambda puts a JSON error object there)."""
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            return cause
        if isinstance(parsed, dict) and parsed.get("errorMessage"):
            return "%s: %s" % (parsed.get("errorType", "Error"), parsed["errorMessage"])
    return cause


def message(event, env=None):
    """The notification for one failed run."""
    env = os.environ if env is None else env
    state = event.get("input", event) if isinstance(event, dict) else {"value": event}
    if not isinstance(state, dict):
        state = {"value": state}
    error = state.get("error") if isinstance(state.get("error"), dict) else None
    if error is None:
        error = {"Error": NO_MATCH, "Cause": "no choice matched the state (see input.route)"}
    return {
        "lake": env.get("LAKE_NAME", ""),
        "pipeline": env.get("PIPELINE", ""),
        "stage": env.get("STAGE", ""),
        "execution": event.get("execution") if isinstance(event, dict) else None,
        "error": error.get("Error"),
        "cause": _cause(error.get("Cause")),
        "input": {k: v for k, v in sorted(state.items()) if k != "error"},
    }


def subject(msg):
    """An SNS subject: ASCII, one line, at most 100 characters."""
    text = "[%s] pipeline %s failed: %s" % (msg["lake"], msg["pipeline"], msg["error"])
    text = text.encode("ascii", "replace").decode("ascii").replace("\n", " ")
    return text[:100]


def handler(event, context=None):
    msg = message(event)
    sns = CLIENT_FACTORY("sns")
    sns.publish(
        TopicArn=os.environ["SNS_TOPIC_ARN"],
        Subject=subject(msg),
        Message=json.dumps(msg, indent=2, sort_keys=True, default=str),
    )
    return msg
