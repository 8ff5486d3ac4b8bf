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

It trusts nothing the event says about where the object is: an event naming
another bucket than the pipeline's origin bucket (``ORIGIN_BUCKET``), or no
key, an empty one or one that is not a string, is refused: one log line
says why, nothing starts, and the handler returns normally. A refused event
is not a delivery failure: raising would only make Lambda retry an event
that can never be accepted.
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


def _mapping(where, key):
    """where[key] when both are mappings, else {}."""
    value = where.get(key) if isinstance(where, dict) else None
    return value if isinstance(value, dict) else {}


def _s3_bucket(where):
    """The bucket name of an S3 event or record: S3 always names it."""
    name = _mapping(where, "bucket").get("name")
    if not isinstance(name, str) or not name:
        raise BadEvent("an S3 event without its bucket's name")
    return name


def _size(where):
    """An object's size in bytes from an event, or None (a bool is no size)."""
    size = where.get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None


def objects_of(event):
    """[(bucket, key, unique, size)] of the objects an event is about.

    ``unique`` tells two events about the same key apart (version, etag,
    sequencer or event id) and goes into the execution name; ``size`` is
    the object's size in bytes when the event says it (S3's do), else None.
    """
    if not isinstance(event, dict):
        raise BadEvent("expected a JSON object as event, got %s" % type(event).__name__)
    if "Records" in event:
        out = []
        records = event["Records"] if isinstance(event["Records"], list) else [None]
        for record in records:
            s3 = _mapping(record, "s3")
            obj = _mapping(s3, "object")
            key = obj.get("key")
            if not isinstance(key, str) or not key:
                raise BadEvent("an S3 record without an object key (a non-empty string)")
            key = urllib.parse.unquote_plus(key)
            unique = obj.get("versionId") or obj.get("sequencer") or obj.get("eTag") or ""
            out.append((_s3_bucket(s3), key, unique, _size(obj)))
        return out
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else event
    if event.get("source") == "aws.s3":
        obj = _mapping(detail, "object")
        key = obj.get("key")
        if not isinstance(key, str) or not key:
            raise BadEvent("an S3 event without detail.object.key (a non-empty string)")
        unique = obj.get("version-id") or obj.get("sequencer") or obj.get("etag") or event.get("id", "")
        return [(_s3_bucket(detail), key, unique, _size(obj))]
    key = detail.get("origin_key") or detail.get("key")
    if not isinstance(key, str) or not key:
        raise BadEvent("the event names no object: expected detail.key (or detail.origin_key), a non-empty string")
    bucket = detail.get("origin_bucket") or detail.get("bucket")
    return [(bucket, key, event.get("id") or json.dumps(detail, sort_keys=True), _size(detail))]


def foreign_bucket(bucket, env=None):
    """Why an object of ``bucket`` is refused, or None: the pipeline reads its
    origin bucket only (an event that names none means that one)."""
    env = os.environ if env is None else env
    if bucket is None or bucket == env["ORIGIN_BUCKET"]:
        return None
    return "the event's bucket is not this pipeline's origin bucket"


def refuse(refused, reason, **fields):
    """Logs one refusal (a JSON line) and records it."""
    entry = dict(fields, refused=reason)
    print(json.dumps(entry, sort_keys=True))
    refused.append(entry)


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
    machine = os.environ["STATE_MACHINE_ARN"]
    started, refused = [], []
    try:
        objects = objects_of(event)
    except BadEvent as err:
        refuse(refused, str(err))
        return {"started": started, "refused": refused}
    sfn = None
    for bucket, key, unique, size in objects:
        why = foreign_bucket(bucket)
        if why:
            refuse(refused, why, bucket=bucket, expected=os.environ["ORIGIN_BUCKET"], key=key)
            continue
        if sfn is None:
            sfn = CLIENT_FACTORY("stepfunctions")
        state = contract(bucket, key)
        if size is not None:
            state["size"] = size  # (SizeCheck in config.yml: too large an object is not loaded)
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
    return {"started": started, "refused": refused}
