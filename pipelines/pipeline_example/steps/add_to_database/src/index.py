"""AddToDatabase step of pipeline_example: registers the data in the catalog.

Creates (or updates) the Glue table the contract names, in the contract's
database, over the folder of the target key in the target bucket, as JSON
(classification json, the OpenX JSON SerDe; one record per line, as the
process steps write it). Columns are inferred from the records of the
target object and merged with the columns the table already has, so a new
field adds a column and never drops one.
"""
import json
import posixpath

JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


def _client(name):
    import boto3  # present in the Lambda runtime; imported late so tests need no boto3

    return boto3.client(name)


#: Returns a boto3 client by service name; tests replace it with fakes.
CLIENT_FACTORY = _client


def hive_type(value):
    """The Hive type of a JSON value (strings for anything mixed or nested)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    return "string"


def infer_columns(rows):
    """[{"Name", "Type"}] of the records, in first-seen order; a column whose
    values disagree on the type becomes a string."""
    types, order = {}, []
    for row in rows:
        for key, value in row.items():
            name = str(key).lower()
            if value is None:
                kind = None
            else:
                kind = hive_type(value)
            if name not in types:
                order.append(name)
                types[name] = kind
            elif kind and types[name] and types[name] != kind:
                if {types[name], kind} == {"bigint", "double"}:
                    types[name] = "double"
                else:
                    types[name] = "string"
            elif kind and not types[name]:
                types[name] = kind
    return [{"Name": n, "Type": types[n] or "string"} for n in order]


def merge_columns(existing, new):
    """Existing columns first (their types kept), then the new ones."""
    have = {c["Name"] for c in existing}
    return list(existing) + [c for c in new if c["Name"] not in have]


def read_rows(s3, bucket, key):
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    try:
        data = json.loads(body)
        return data if isinstance(data, list) else [data]
    except ValueError:
        return [json.loads(line) for line in body.splitlines() if line.strip()]


def table_input(name, location, columns):
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "json", "EXTERNAL": "TRUE"},
        "StorageDescriptor": {
            "Columns": columns,
            "Location": location,
            "InputFormat": INPUT_FORMAT,
            "OutputFormat": OUTPUT_FORMAT,
            "SerdeInfo": {"SerializationLibrary": JSON_SERDE},
        },
    }


def handler(event, context=None):
    s3, glue = CLIENT_FACTORY("s3"), CLIENT_FACTORY("glue")
    bucket, key = event["target_bucket"], event["target_key"]
    folder = posixpath.dirname(key)
    location = "s3://%s/%s" % (bucket, folder + "/" if folder else "")
    rows = [r for r in read_rows(s3, bucket, key) if isinstance(r, dict)]
    columns = infer_columns(rows)
    database, table = event["database"], event["table"]
    try:
        current = glue.get_table(DatabaseName=database, Name=table)["Table"]
    except Exception as err:  # noqa: BLE001 - the client's exception classes live on the client
        if type(err).__name__ != "EntityNotFoundException":
            raise
        current = None
    if current is None:
        glue.create_table(DatabaseName=database, TableInput=table_input(table, location, columns))
        action = "created"
    else:
        existing = current.get("StorageDescriptor", {}).get("Columns", [])
        glue.update_table(DatabaseName=database,
                          TableInput=table_input(table, location, merge_columns(existing, columns)))
        action = "updated"
    out = dict(event)
    out["table_location"] = location
    out["table_action"] = action
    return out
