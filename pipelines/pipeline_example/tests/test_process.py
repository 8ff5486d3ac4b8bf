import json
import unittest

import support

type1 = support.load("steps/process_type1")
type2 = support.load("steps/process_type2")

ARGV = ["script.py", "--JOB_ID", "j_1", "--origin_bucket", "raw", "--origin_key", "example/type1/a.json",
        "--target_bucket=trusted", "--target_key", "example/type1/a.json", "--route", "type1",
        "--job-bookmark-option", "job-bookmark-disable"]


def lines(body):
    return [json.loads(line) for line in body.decode("utf-8").splitlines()]


class ArgsTest(unittest.TestCase):
    def test_parses_both_forms(self):
        args = type1.parse_args(ARGV, type1.CONTRACT)
        self.assertEqual({"origin_bucket": "raw", "origin_key": "example/type1/a.json", "target_bucket": "trusted",
                          "target_key": "example/type1/a.json"}, args)

    def test_missing_arguments(self):
        with self.assertRaises(SystemExit) as ctx:
            type2.parse_args(["x", "--origin_bucket", "b"], type2.CONTRACT)
        self.assertEqual("missing arguments: --origin_key, --target_bucket, --target_key", str(ctx.exception))

    def test_falls_back_without_awsglue(self):
        self.assertEqual("raw", type1.get_args(ARGV, type1.CONTRACT)["origin_bucket"])


class Type1Test(unittest.TestCase):
    def test_normalises_keys_to_snake_case(self):
        s3 = support.FakeS3({("raw", "example/type1/a.json"): json.dumps(
            {"firstName": "Ada", "Order ID": 7, "address": {"zipCode": "1"}, "items": [{"SKU": "x"}]}).encode()})
        self.assertEqual(1, type1.main(ARGV, s3=s3))
        put = s3.puts[0]
        self.assertEqual(("trusted", "example/type1/a.json"), (put["Bucket"], put["Key"]))
        self.assertEqual([{"first_name": "Ada", "order_id": 7, "address": {"zip_code": "1"},
                           "items": [{"sku": "x"}]}], lines(put["Body"]))

    def test_reads_arrays_and_json_lines(self):
        self.assertEqual([{"a": 1}, {"a": 2}], type1.records(b'[{"a": 1}, {"a": 2}]'))
        self.assertEqual([{"a": 1}, {"a": 2}], type1.records(b'{"a": 1}\n\n{"a": 2}\n'))
        self.assertEqual([{"a": 1}], type1.records('\ufeff{"a": 1}'.encode("utf-8")))

    def test_snake_case(self):
        for given, want in [("camelCase", "camel_case"), ("HTTPCode", "httpcode"), ("a-b c", "a_b_c"),
                            ("already_snake", "already_snake"), ("v2Name", "v2_name")]:
            self.assertEqual(want, type1.snake_case(given), given)


class Type2Test(unittest.TestCase):
    def test_flattens_nested_objects(self):
        body = b'{"id": 1, "customer": {"name": "Ada", "address": {"city": "X"}}, "tags": ["a"], "empty": {}}'
        s3 = support.FakeS3({("raw", "example/type1/a.json"): body})
        type2.main(ARGV, s3=s3)
        self.assertEqual([{"id": 1, "customer_name": "Ada", "customer_address_city": "X", "tags": ["a"], "empty": {}}],
                         lines(s3.puts[0]["Body"]))

    def test_scalars_become_a_value_column(self):
        self.assertEqual({"value": 3}, type2.flatten(3))

    def test_missing_origin_object_fails(self):
        with self.assertRaises(support.NoSuchKey):
            type2.main(ARGV, s3=support.FakeS3())


if __name__ == "__main__":
    unittest.main()
