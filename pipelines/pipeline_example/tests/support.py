"""Test support for the example pipeline: loads each module's src/index.py
under its own name and provides in-memory fakes of the AWS clients the
code uses (no AWS, no boto3 needed)."""
import importlib.util
import io
import os
import sys

PIPELINE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(PIPELINE))
# Lambda packages put shared modules under shared/<name>/ at their root; the
# repository root has the same layout.
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

ENV = {
    "PIPELINE": "pipeline_example",
    "STAGE": "test",
    "LAKE_NAME": "Example Lake",
    "ORIGIN_BUCKET": "example-raw-us-east-1-123456789012-test",
    "TARGET_BUCKET": "example-trusted-us-east-1-123456789012-test",
    "DATABASE": "example_trusted_test",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:pipeline-example-state-machine-test",
    "SNS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:example-lake-errors-test",
}


def load(module):
    """The index.py of a module folder ("trigger", "steps/route_file", ...)."""
    path = os.path.join(PIPELINE, module, "src", "index.py")
    name = "pipeline_example_" + module.replace("/", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class NoSuchKey(Exception):
    pass


class ExecutionAlreadyExists(Exception):
    pass


class EntityNotFoundException(Exception):
    pass


class FakeS3:
    def __init__(self, objects=None):
        self.objects = dict(objects or {})
        self.puts = []

    def get_object(self, Bucket, Key):
        if (Bucket, Key) not in self.objects:
            raise NoSuchKey("%s/%s" % (Bucket, Key))
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}

    def put_object(self, Bucket, Key, Body, **kwargs):
        body = Body if isinstance(Body, bytes) else Body.encode("utf-8")
        self.objects[(Bucket, Key)] = body
        self.puts.append({"Bucket": Bucket, "Key": Key, "Body": body, **kwargs})
        return {}


class FakeStepFunctions:
    def __init__(self):
        self.started = []

    def start_execution(self, stateMachineArn, name, input):
        if any(s["name"] == name for s in self.started):
            raise ExecutionAlreadyExists(name)
        self.started.append({"stateMachineArn": stateMachineArn, "name": name, "input": input})
        return {"executionArn": stateMachineArn.replace(":stateMachine:", ":execution:") + ":" + name}


class FakeGlue:
    def __init__(self, tables=None):
        self.tables = dict(tables or {})
        self.calls = []

    def get_table(self, DatabaseName, Name):
        if (DatabaseName, Name) not in self.tables:
            raise EntityNotFoundException(Name)
        return {"Table": self.tables[(DatabaseName, Name)]}

    def create_table(self, DatabaseName, TableInput):
        self.calls.append(("create_table", DatabaseName, TableInput["Name"]))
        self.tables[(DatabaseName, TableInput["Name"])] = TableInput

    def update_table(self, DatabaseName, TableInput):
        self.calls.append(("update_table", DatabaseName, TableInput["Name"]))
        self.tables[(DatabaseName, TableInput["Name"])] = TableInput


class FakeSNS:
    def __init__(self):
        self.published = []

    def publish(self, **kwargs):
        self.published.append(kwargs)
        return {"MessageId": str(len(self.published))}


def factory(**clients):
    """A CLIENT_FACTORY returning the given fakes by service name."""

    def get(name):
        if name not in clients:
            raise AssertionError("unexpected client %r" % name)
        return clients[name]

    return get
