"""The example pipeline end to end, in memory: the trigger's state goes
through RouteFile, the choice, the Glue step of its route and
AddToDatabase, as the state machine chains them."""
import json
import unittest
from unittest import mock

import support

trigger = support.load("trigger")
route_file = support.load("steps/route_file")
process = {"type1": support.load("steps/process_type1"), "type2": support.load("steps/process_type2")}
add = support.load("steps/add_to_database")


def glue_argv(state):
    """The job's argv as startJobRun passes the contract (--key value)."""
    argv = ["index.py"]
    for key, value in sorted(state.items()):
        argv += ["--" + key, str(value)]
    return argv


class PipelineTest(unittest.TestCase):
    def run_pipeline(self, key, body):
        s3 = support.FakeS3({(support.ENV["ORIGIN_BUCKET"], key): body})
        sfn, glue = support.FakeStepFunctions(), support.FakeGlue()
        trigger.CLIENT_FACTORY = support.factory(stepfunctions=sfn)
        add.CLIENT_FACTORY = support.factory(s3=s3, glue=glue)
        with mock.patch.dict("os.environ", support.ENV):
            trigger.handler({"source": "aws.s3", "detail-type": "Object Created", "id": "1",
                             "detail": {"bucket": {"name": support.ENV["ORIGIN_BUCKET"]}, "object": {"key": key}}})
        state = json.loads(sfn.started[0]["input"])
        state = route_file.handler(state)                       # RouteFile (OutputPath $.Payload)
        process[state["route"]].main(glue_argv(state), s3=s3)   # RouteChoice -> ProcessTypeN (ResultPath null)
        state = add.handler(state)                              # AddToDatabase
        return s3, glue, state

    def test_type1_moves_the_object_to_trusted_and_registers_it(self):
        s3, glue, state = self.run_pipeline("example/type1/orders.json", b'{"orderId": 1, "Total": 2.5}')
        out = s3.objects[(support.ENV["TARGET_BUCKET"], "example/type1/orders.json")]
        self.assertEqual({"order_id": 1, "total": 2.5}, json.loads(out))
        table = glue.tables[(support.ENV["DATABASE"], "example_type1")]
        self.assertEqual(["order_id", "total"], [c["Name"] for c in table["StorageDescriptor"]["Columns"]])
        self.assertEqual("created", state["table_action"])

    def test_type2_flattens(self):
        s3, glue, _ = self.run_pipeline("example/type2/c.json", b'{"customer": {"id": 7}}')
        out = s3.objects[(support.ENV["TARGET_BUCKET"], "example/type2/c.json")]
        self.assertEqual({"customer_id": 7}, json.loads(out))
        self.assertIn((support.ENV["DATABASE"], "example_type2"), glue.tables)


if __name__ == "__main__":
    unittest.main()
