import unittest

import support  # noqa: F401 - puts the repository root on sys.path

from shared.example import naming


class RouteTest(unittest.TestCase):
    def test_route_by_folder_or_file_name(self):
        self.assertEqual("type1", naming.route_of("example/type1/data.json"))
        self.assertEqual("type2", naming.route_of("example/orders_TYPE2.json"))
        self.assertEqual("type1", naming.route_of("type1.json"))

    def test_first_part_that_says_wins(self):
        self.assertEqual("type2", naming.route_of("example/type2/type1.json"))

    def test_no_route(self):
        self.assertIsNone(naming.route_of("example/other/data.json"))
        # the extension does not count
        self.assertIsNone(naming.route_of("example/data.type1"))


class TableTest(unittest.TestCase):
    def test_table_of_the_folder(self):
        self.assertEqual("example_type1", naming.table_of("example/type1/a.json"))
        self.assertEqual("sales_2024_q1", naming.table_of("Sales/2024-Q1/x.json"))

    def test_table_at_the_root(self):
        self.assertEqual("orders", naming.table_of("orders.json"))
        self.assertEqual("t_2024", naming.table_of("2024/a.json"))
        self.assertEqual("data", naming.table_of("---.json"))


class ExecutionNameTest(unittest.TestCase):
    def test_safe_and_short(self):
        name = naming.execution_name("example/type 1/" + "x" * 200 + ".json", "etag")
        self.assertLessEqual(len(name), 80)
        self.assertRegex(name, r"^[A-Za-z0-9_-]+$")

    def test_same_event_same_name(self):
        self.assertEqual(naming.execution_name("a/b.json", "v1"), naming.execution_name("a/b.json", "v1"))
        self.assertNotEqual(naming.execution_name("a/b.json", "v1"), naming.execution_name("a/b.json", "v2"))
        self.assertTrue(naming.execution_name("a/b.json", "v1").startswith("a-b-json-"))


if __name__ == "__main__":
    unittest.main()
