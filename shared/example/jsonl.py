"""Moving JSON records between buckets, for the example's Glue steps.

The input may be one JSON object, a JSON array of objects or JSON Lines;
the output is JSON Lines with sorted keys, the format Glue's JSON classifier
and Athena read. Arguments come from the state machine as --<contract key>
(getResolvedOptions in Glue; a small parser elsewhere, for tests).
"""
import json
import sys

CONTRACT = ["origin_bucket", "origin_key", "target_bucket", "target_key"]


def parse_args(argv, names):
    """--name value / --name=value pairs of argv, for the names asked."""
    out, i = {}, 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq and i + 1 < len(argv):
                value, i = argv[i + 1], i + 1
            out[name] = value
        i += 1
    missing = [n for n in names if n not in out]
    if missing:
        raise SystemExit("missing arguments: " + ", ".join("--" + n for n in missing))
    return {n: out[n] for n in names}


def get_args(argv, names):
    try:
        from awsglue.utils import getResolvedOptions  # in Glue only
    except ImportError:
        return parse_args(argv, names)
    return getResolvedOptions(argv, names)


def records(body):
    """The records of a JSON object, array or JSON Lines text."""
    text = body.decode("utf-8-sig") if isinstance(body, bytes) else body
    try:
        data = json.loads(text)
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return data if isinstance(data, list) else [data]


def dump(rows):
    """JSON Lines, keys sorted."""
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def run(args, s3, transform):
    """Reads the origin object, transforms each record, writes the target; the number of records."""
    obj = s3.get_object(Bucket=args["origin_bucket"], Key=args["origin_key"])
    rows = [transform(r) for r in records(obj["Body"].read())]
    s3.put_object(Bucket=args["target_bucket"], Key=args["target_key"], Body=dump(rows),
                  ContentType="application/x-ndjson")
    return len(rows)


def main(transform, argv=None, s3=None):
    """A Glue job's entry point: arguments, client, run, one line of output."""
    args = get_args(sys.argv if argv is None else argv, CONTRACT)
    if s3 is None:
        import boto3  # present in Glue

        s3 = boto3.client("s3")
    n = run(args, s3, transform)
    print("wrote %d records to s3://%s/%s" % (n, args["target_bucket"], args["target_key"]))
    return n
