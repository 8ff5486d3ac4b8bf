"""CopyObject step: copies the object that started the run to the target layer.

The event is the state the trigger built (the pipeline's contract):
``origin_bucket``, ``origin_key``, ``target_bucket``, ``target_key``, ...
What the handler returns is the next step's input (or the run's output).
Put your own processing here; list pip packages in ../requirements.json.
"""
import os


def _client(name):
    import boto3  # present in the Lambda runtime; imported late so tests need no boto3

    return boto3.client(name)


#: Returns a boto3 client by service name; tests replace it with fakes.
CLIENT_FACTORY = _client


def handler(event, context=None):
    bucket = event.get("target_bucket") or os.environ["TARGET_BUCKET"]
    key = event.get("target_key") or event["origin_key"]
    CLIENT_FACTORY("s3").copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": event["origin_bucket"], "Key": event["origin_key"]},
    )
    out = dict(event)
    out["copied_to"] = "s3://%s/%s" % (bucket, key)
    return out
