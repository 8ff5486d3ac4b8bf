import unittest

import support

add = support.load("steps/add_to_database")

EVENT = {
    "target_bucket": "trusted",
    "target_key": "example/type1/a.json",
    "database": "example_trusted_test",
    "table": "example_type1",
    "route": "type1",
}


class AddToDatabaseTest(unittest.TestCase):
    def setUp(self):
        self.s3 = support.FakeS3({("trusted", "example/type1/a.json"):
                                  b'{"id": 1, "name": "a", "score": 1, "ok": true, "n": null}\n'
                                  b'{"id": 2, "name": "b", "score": 2.5, "extra": {"x": 1}, "n": 3}\n'})
        self.glue = support.FakeGlue()
        add.CLIENT_FACTORY = support.factory(s3=self.s3, glue=self.glue)

    def test_creates_the_table(self):
        out = add.handler(dict(EVENT))
        self.assertEqual("created", out["table_action"])
        self.assertEqual("s3://trusted/example/type1/", out["table_location"])
        table = self.glue.tables[("example_trusted_test", "example_type1")]
        self.assertEqual("json", table["Parameters"]["classification"])
        sd = table["StorageDescriptor"]
        self.assertEqual("s3://trusted/example/type1/", sd["Location"])
        self.assertEqual(add.JSON_SERDE, sd["SerdeInfo"]["SerializationLibrary"])
        self.assertEqual([
            {"Name": "id", "Type": "bigint"},
            {"Name": "name", "Type": "string"},
            {"Name": "score", "Type": "double"},
            {"Name": "ok", "Type": "boolean"},
            {"Name": "n", "Type": "bigint"},
            {"Name": "extra", "Type": "string"},
        ], sd["Columns"])
        for k, v in EVENT.items():
            self.assertEqual(v, out[k])

    def test_updates_keeping_existing_columns(self):
        self.glue.tables[("example_trusted_test", "example_type1")] = add.table_input(
            "example_type1", "s3://trusted/example/type1/", [{"Name": "id", "Type": "string"},
                                                             {"Name": "old", "Type": "string"}])
        out = add.handler(dict(EVENT))
        self.assertEqual("updated", out["table_action"])
        cols = self.glue.tables[("example_trusted_test", "example_type1")]["StorageDescriptor"]["Columns"]
        self.assertEqual(["id", "old", "name", "score", "ok", "n", "extra"], [c["Name"] for c in cols])
        self.assertEqual("string", cols[0]["Type"])
        self.assertEqual([("update_table", "example_trusted_test", "example_type1")], self.glue.calls)

    def test_mixed_types_become_strings(self):
        self.assertEqual([{"Name": "a", "Type": "string"}], add.infer_columns([{"a": 1}, {"a": "x"}]))
        self.assertEqual([{"Name": "a", "Type": "double"}], add.infer_columns([{"a": 1}, {"a": 1.5}]))

    def test_object_at_the_root(self):
        self.s3.objects[("trusted", "a.json")] = b'{"a": 1}'
        out = add.handler(dict(EVENT, target_key="a.json", table="a"))
        self.assertEqual("s3://trusted/", out["table_location"])

    def test_other_glue_errors_propagate(self):
        def boom(**kwargs):
            raise RuntimeError("AccessDenied")

        self.glue.get_table = boom
        with self.assertRaises(RuntimeError):
            add.handler(dict(EVENT))


if __name__ == "__main__":
    unittest.main()
