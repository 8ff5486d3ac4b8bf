"""ProcessType2 step of pipeline_example (Glue pythonshell job).

Reads the JSON object the contract names in the origin (raw) bucket,
flattens nested objects into top-level keys joined with "_"
({"customer": {"id": 1}} -> {"customer_id": 1}; lists stay as they are) and
writes the records to the same key in the target (trusted) bucket as JSON
Lines (shared/example/jsonl.py moves them).
"""
from shared.example.jsonl import CONTRACT, dump, get_args, main as run_job, parse_args, records  # noqa: F401


def flatten(value, prefix="", out=None):
    """Nested mappings of value as one mapping with keys joined by "_"."""
    out = {} if out is None else out
    if not isinstance(value, dict):
        out[prefix or "value"] = value
        return out
    for key, item in value.items():
        name = "%s_%s" % (prefix, key) if prefix else str(key)
        if isinstance(item, dict) and item:
            flatten(item, name, out)
        else:
            out[name] = item
    return out


def main(argv=None, s3=None):
    return run_job(flatten, argv, s3)


if __name__ == "__main__":
    main()
