import json
import unittest
from unittest import mock

import support

trigger = support.load("trigger")

EVENTBRIDGE = {
    "version": "0",
    "id": "17793124-05d4-b198-2fde-7ededc63b103",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "account": "123456789012",
    "region": "us-east-1",
    "resources": ["arn:aws:s3:::example-raw-us-east-1-123456789012-test"],
    "detail": {
        "version": "0",
        "bucket": {"name": "example-raw-us-east-1-123456789012-test"},
        "object": {"key": "example/type1/orders.json", "size": 5, "etag": "b1946ac9", "sequencer": "617f08299329d189"},
        "reason": "PutObject",
    },
}

RECORDS = {
    "Records": [{
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": "example-raw-us-east-1-123456789012-test"},
            "object": {"key": "example/type2/big+file%3D1.json", "eTag": "abc"},
        },
    }]
}

CUSTOM = {
    "id": "e-1",
    "source": "example_source",
    "detail-type": "example_detail",
    "detail": {"key": "example/type2/customers.json"},
}


class TriggerTest(unittest.TestCase):
    def setUp(self):
        self.env = mock.patch.dict("os.environ", support.ENV)
        self.env.start()
        self.sfn = support.FakeStepFunctions()
        trigger.CLIENT_FACTORY = support.factory(stepfunctions=self.sfn)

    def tearDown(self):
        self.env.stop()

    def test_eventbridge_object_created(self):
        out = trigger.handler(EVENTBRIDGE)
        self.assertEqual(1, len(self.sfn.started))
        started = self.sfn.started[0]
        self.assertEqual(support.ENV["STATE_MACHINE_ARN"], started["stateMachineArn"])
        self.assertEqual({
            "origin_bucket": "example-raw-us-east-1-123456789012-test",
            "origin_key": "example/type1/orders.json",
            "target_bucket": "example-trusted-us-east-1-123456789012-test",
            "target_key": "example/type1/orders.json",
            "route": "type1",
            "database": "example_trusted_test",
            "table": "example_type1",
        }, json.loads(started["input"]))
        self.assertTrue(started["name"].startswith("example-type1-orders-json-"))
        self.assertEqual(started["name"], out["started"][0]["name"])

    def test_classic_s3_notification_keys_are_url_decoded(self):
        trigger.handler(RECORDS)
        state = json.loads(self.sfn.started[0]["input"])
        self.assertEqual("example/type2/big file=1.json", state["origin_key"])
        self.assertEqual("type2", state["route"])

    def test_custom_event_defaults_to_the_origin_bucket(self):
        trigger.handler(CUSTOM)
        state = json.loads(self.sfn.started[0]["input"])
        self.assertEqual(support.ENV["ORIGIN_BUCKET"], state["origin_bucket"])
        self.assertEqual("example/type2/customers.json", state["origin_key"])
        self.assertEqual("example_type2", state["table"])

    def test_direct_invocation_with_origin_keys(self):
        trigger.handler({"origin_bucket": "other", "origin_key": "x/type1.json"})
        state = json.loads(self.sfn.started[0]["input"])
        self.assertEqual("other", state["origin_bucket"])
        self.assertEqual("type1", state["route"])

    def test_unknown_route_is_left_to_the_route_step(self):
        trigger.handler({"detail": {"key": "example/misc/a.json"}})
        self.assertEqual("", json.loads(self.sfn.started[0]["input"])["route"])

    def test_a_duplicate_delivery_starts_nothing_new(self):
        trigger.handler(EVENTBRIDGE)
        out = trigger.handler(EVENTBRIDGE)
        self.assertEqual(1, len(self.sfn.started))
        self.assertIsNone(out["started"][0]["executionArn"])

    def test_events_without_an_object_are_refused(self):
        with self.assertRaises(trigger.BadEvent):
            trigger.handler({"detail": {}})
        with self.assertRaises(trigger.BadEvent):
            trigger.handler({"source": "aws.s3", "detail": {"bucket": {"name": "b"}}})
        with self.assertRaises(trigger.BadEvent):
            trigger.handler(["not", "an", "object"])
        self.assertEqual([], self.sfn.started)

    def test_other_start_errors_propagate(self):
        def boom(**kwargs):
            raise RuntimeError("throttled")

        self.sfn.start_execution = boom
        with self.assertRaises(RuntimeError):
            trigger.handler(EVENTBRIDGE)


if __name__ == "__main__":
    unittest.main()
