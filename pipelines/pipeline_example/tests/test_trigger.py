import contextlib
import copy
import io
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
            "size": 5,
        }, json.loads(started["input"]))
        self.assertTrue(started["name"].startswith("example-type1-orders-json-"))
        self.assertEqual(started["name"], out["started"][0]["name"])

    def test_classic_s3_notification_keys_are_url_decoded(self):
        trigger.handler(RECORDS)
        state = json.loads(self.sfn.started[0]["input"])
        self.assertEqual("example/type2/big file=1.json", state["origin_key"])
        self.assertEqual("type2", state["route"])
        self.assertNotIn("size", state)  # the record says none

    def test_the_size_an_event_gives_goes_to_the_state_when_it_is_a_byte_count(self):
        records = copy.deepcopy(RECORDS)
        records["Records"][0]["s3"]["object"]["size"] = 209715200
        trigger.handler(records)
        self.assertEqual(209715200, json.loads(self.sfn.started[0]["input"])["size"])
        for bad in (True, -1, "5", 1.5):
            self.sfn.started.clear()
            event = copy.deepcopy(EVENTBRIDGE)
            event["detail"]["object"]["size"] = bad
            trigger.handler(event)
            self.assertNotIn("size", json.loads(self.sfn.started[0]["input"]))

    def test_custom_event_defaults_to_the_origin_bucket(self):
        trigger.handler(CUSTOM)
        state = json.loads(self.sfn.started[0]["input"])
        self.assertEqual(support.ENV["ORIGIN_BUCKET"], state["origin_bucket"])
        self.assertEqual("example/type2/customers.json", state["origin_key"])
        self.assertEqual("example_type2", state["table"])

    def test_direct_invocation_with_origin_keys(self):
        trigger.handler({"origin_bucket": support.ENV["ORIGIN_BUCKET"], "origin_key": "x/type1.json"})
        state = json.loads(self.sfn.started[0]["input"])
        self.assertEqual(support.ENV["ORIGIN_BUCKET"], state["origin_bucket"])
        self.assertEqual("type1", state["route"])

    def refused(self, event):
        """handler(event) with its log lines; asserts it started nothing."""
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            out = trigger.handler(event)
        self.assertEqual([], self.sfn.started)
        self.assertEqual([], out["started"])
        lines = [json.loads(line) for line in log.getvalue().splitlines()]
        self.assertEqual(out["refused"], lines)
        return out["refused"]

    def test_an_s3_event_of_another_bucket_is_refused_with_a_logged_reason(self):
        event = copy.deepcopy(EVENTBRIDGE)
        event["detail"]["bucket"]["name"] = "someone-elses-bucket"
        self.assertEqual([{
            "refused": "the event's bucket is not this pipeline's origin bucket",
            "bucket": "someone-elses-bucket",
            "expected": support.ENV["ORIGIN_BUCKET"],
            "key": "example/type1/orders.json",
        }], self.refused(event))

    def test_a_custom_event_or_record_naming_another_bucket_is_refused(self):
        self.assertEqual("other", self.refused({"origin_bucket": "other", "origin_key": "x/type1.json"})[0]["bucket"])
        self.assertEqual("other", self.refused({"detail": {"bucket": "other", "key": "x/type1.json"}})[0]["bucket"])
        records = copy.deepcopy(RECORDS)
        records["Records"][0]["s3"]["bucket"]["name"] = "other"
        self.assertEqual("other", self.refused(records)[0]["bucket"])

    def test_only_the_objects_of_the_origin_bucket_start_of_a_mixed_notification(self):
        records = copy.deepcopy(RECORDS)
        other = copy.deepcopy(records["Records"][0])
        other["s3"]["bucket"]["name"] = "other"
        records["Records"].append(other)
        with contextlib.redirect_stdout(io.StringIO()):
            out = trigger.handler(records)
        self.assertEqual(1, len(self.sfn.started))
        self.assertEqual(["other"], [r["bucket"] for r in out["refused"]])

    def test_an_s3_event_without_a_key_or_with_a_key_that_is_not_a_string_is_refused(self):
        for key in (None, "", 42, ["a"], {"k": "v"}):
            event = copy.deepcopy(EVENTBRIDGE)
            if key is None:
                del event["detail"]["object"]["key"]
            else:
                event["detail"]["object"]["key"] = key
            refused = self.refused(event)
            self.assertEqual(1, len(refused), key)
            self.assertIn("detail.object.key", refused[0]["refused"])
        self.assertIn("key", self.refused({"detail": {"key": 7}})[0]["refused"])
        self.assertIn("object key", self.refused({"Records": [{"s3": {"bucket": {"name": "b"}}}]})[0]["refused"])

    def test_an_s3_event_without_its_bucket_name_is_refused(self):
        event = copy.deepcopy(EVENTBRIDGE)
        del event["detail"]["bucket"]
        self.assertEqual("an S3 event without its bucket's name", self.refused(event)[0]["refused"])

    def test_unknown_route_is_left_to_the_route_step(self):
        trigger.handler({"detail": {"key": "example/misc/a.json"}})
        self.assertEqual("", json.loads(self.sfn.started[0]["input"])["route"])

    def test_a_duplicate_delivery_starts_nothing_new(self):
        trigger.handler(EVENTBRIDGE)
        out = trigger.handler(EVENTBRIDGE)
        self.assertEqual(1, len(self.sfn.started))
        self.assertIsNone(out["started"][0]["executionArn"])

    def test_events_without_an_object_are_refused_without_an_exception(self):
        # a refused event is no delivery failure: raising would only make Lambda retry it
        for event in ({"detail": {}}, {"source": "aws.s3", "detail": {"bucket": {"name": "b"}}},
                      ["not", "an", "object"], {"Records": ["x"]}, {"source": "aws.s3", "detail": {"object": "k"}}):
            self.assertEqual(1, len(self.refused(event)), event)
        with self.assertRaises(trigger.BadEvent):
            trigger.objects_of({"detail": {}})

    def test_other_start_errors_propagate(self):
        def boom(**kwargs):
            raise RuntimeError("throttled")

        self.sfn.start_execution = boom
        with self.assertRaises(RuntimeError):
            trigger.handler(EVENTBRIDGE)


if __name__ == "__main__":
    unittest.main()
