"""Trigger of pipeline_example: starts the state machine for new objects.

It accepts the events it can be given:

* an EventBridge "Object Created" event from S3 (the s3 triggers of
  config.yml: one EventBridge rule per trigger, matching the origin bucket,
  the prefix and the suffix);
* a custom EventBridge event (the event_rule triggers) or a direct
  invocation, whose ``detail`` (or the event itself) carries ``key`` or
  ``origin_key``, and optionally ``bucket`` or ``origin_bucket`` (the origin
  bucket of the pipeline by default);
* defensively, a classic S3 notification (``Records``), whose keys are
  URL-encoded.

For each object it builds the contract of config.yml and starts one
execution with it as input.
"""
import json
import os
import urllib.parse

from shared.example import naming


def _client(name):
    import boto3  # present in the Lambda runtime; imported late so tests need no boto3

    return boto3.client(name)


#: Returns a boto3 client by service name; tests replace it with fakes.
CLIENT_FACTORY = _client


class BadEvent(ValueError):
    """The event names no object the pipeline can process."""


def objects_of(event):
    """[(bucket, key, unique)] of the objects an event is about.

    ``unique`` tells two events about the same key apart (version, etag,
    sequencer or event id) and goes into the execution name.
    """
    if not isinstance(event, dict):
        raise BadEvent("expected a JSON object as event, got %s" % type(event).__name__)
    if "Records" in event:
        out = []
        for record in event["Records"]:
            s3 = record.get("s3") or {}
            obj = s3.get("object") or {}
            key = urllib.parse.unquote_plus(obj.get("key", ""))
            if not key:
                raise BadEvent("an S3 record without an object key")
            unique = obj.get("versionId") or obj.get("sequencer") or obj.get("eTag") or ""
            out.append(((s3.get("bucket") or {}).get("name"), key, unique))
        return out
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else event
    if event.get("source") == "aws.s3":
        obj = detail.get("object") or {}
        key = obj.get("key")
        if not key:
            raise BadEvent("an S3 event without detail.object.key")
        unique = obj.get("version-id") or obj.get("sequencer") or obj.get("etag") or event.get("id", "")
        return [((detail.get("bucket") or {}).get("name"), key, unique)]
    key = detail.get("origin_key") or detail.get("key")
    if not key:
        raise BadEvent("the event names no object: expected detail.key (or detail.origin_key)")
    bucket = detail.get("origin_bucket") or detail.get("bucket")
    return [(bucket, key, event.get("id") or json.dumps(detail, sort_keys=True))]


def contract(bucket, key, env=None):
    """The state machine input for one object (the contract of config.yml)."""
    env = os.environ if env is None else env
    return {
        "origin_bucket": bucket or env["ORIGIN_BUCKET"],
        "origin_key": key,
        "target_bucket": env["TARGET_BUCKET"],
        "target_key": key,
        "route": naming.route_of(key) or "",
        "database": env["DATABASE"],
        "table": naming.table_of(key),
    }


def handler(event, context=None):
    sfn = CLIENT_FACTORY("stepfunctions")
    machine = os.environ["STATE_MACHINE_ARN"]
    started = []
    for bucket, key, unique in objects_of(event):
        state = contract(bucket, key)
        name = naming.execution_name(key, state["origin_bucket"], unique)
        try:
            resp = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(state, sort_keys=True))
            arn = resp["executionArn"]
        except Exception as err:  # noqa: BLE001 - the client's exception classes live on the client
            # EventBridge delivers at least once: the same event again is not an error.
            if type(err).__name__ != "ExecutionAlreadyExists":
                raise
            arn = None
        started.append({"name": name, "executionArn": arn, "input": state})
        print(json.dumps({"started": name, "key": key, "route": state["route"]}))
    return {"started": started}
