import json
import unittest
from unittest import mock

import support

catch = support.load("catch")


class CatchTest(unittest.TestCase):
    def setUp(self):
        self.env = mock.patch.dict("os.environ", support.ENV)
        self.env.start()
        self.sns = support.FakeSNS()
        catch.CLIENT_FACTORY = support.factory(sns=self.sns)

    def tearDown(self):
        self.env.stop()

    def test_publishes_a_failed_task(self):
        cause = json.dumps({"errorMessage": "cannot route 'x.json'", "errorType": "UnknownRoute"})
        event = {
            "execution": "arn:aws:states:us-east-1:1:execution:m:e",
            "input": {"origin_key": "x.json", "error": {"Error": "UnknownRoute", "Cause": cause}},
        }
        msg = catch.handler(event)
        self.assertEqual(1, len(self.sns.published))
        sent = self.sns.published[0]
        self.assertEqual(support.ENV["SNS_TOPIC_ARN"], sent["TopicArn"])
        self.assertEqual("[Example Lake] pipeline pipeline_example failed: UnknownRoute", sent["Subject"])
        self.assertEqual(msg, json.loads(sent["Message"]))
        self.assertEqual({
            "lake": "Example Lake",
            "pipeline": "pipeline_example",
            "stage": "test",
            "execution": "arn:aws:states:us-east-1:1:execution:m:e",
            "error": "UnknownRoute",
            "cause": "UnknownRoute: cannot route 'x.json'",
            "input": {"origin_key": "x.json"},
        }, msg)

    def test_no_choice_matched(self):
        msg = catch.handler({"input": {"route": "type9"}})
        self.assertEqual("States.NoChoiceMatched", msg["error"])
        self.assertEqual({"route": "type9"}, msg["input"])

    def test_plain_causes_and_odd_inputs(self):
        msg = catch.handler({"input": {"error": {"Error": "States.Timeout", "Cause": "took too long"}}})
        self.assertEqual("took too long", msg["cause"])
        msg = catch.handler({"input": "just a string"})
        self.assertEqual({"value": "just a string"}, msg["input"])

    def test_subject_fits_sns(self):
        subject = catch.subject({"lake": "L\u00e9 " * 40, "pipeline": "p", "error": "E\nrror"})
        self.assertLessEqual(len(subject), 100)
        subject.encode("ascii")
        self.assertNotIn("\n", subject)


if __name__ == "__main__":
    unittest.main()
