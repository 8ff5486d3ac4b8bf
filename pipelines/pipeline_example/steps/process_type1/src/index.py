"""ProcessType1 step of pipeline_example (Glue pythonshell job).

Reads the JSON object the contract names in the origin (raw) bucket,
normalises every key to snake_case ("firstName" -> "first_name",
"Order ID" -> "order_id") and writes the records to the same key in the
target (trusted) bucket as JSON Lines (shared/example/jsonl.py moves them).
"""
import re

from shared.example.jsonl import CONTRACT, dump, get_args, main as run_job, parse_args, records  # noqa: F401


def snake_case(name):
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def normalise(value):
    """The value with every mapping key in snake_case, at every depth."""
    if isinstance(value, dict):
        return {snake_case(k): normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def main(argv=None, s3=None):
    return run_job(normalise, argv, s3)


if __name__ == "__main__":
    main()
