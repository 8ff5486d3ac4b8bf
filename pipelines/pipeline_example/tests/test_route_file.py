import unittest

import support

route_file = support.load("steps/route_file")


class RouteFileTest(unittest.TestCase):
    def test_keeps_a_known_route(self):
        event = {"origin_key": "example/type1/a.json", "route": "type2", "table": "t"}
        self.assertEqual(dict(event), route_file.handler(event))

    def test_derives_a_missing_route(self):
        out = route_file.handler({"origin_key": "example/type2/a.json", "route": ""})
        self.assertEqual("type2", out["route"])

    def test_refuses_an_object_without_route(self):
        with self.assertRaises(route_file.UnknownRoute) as ctx:
            route_file.handler({"origin_key": "example/misc/a.json", "route": ""})
        self.assertIn("must contain one of type1, type2", str(ctx.exception))

    def test_does_not_modify_its_input(self):
        event = {"origin_key": "example/type1/a.json"}
        route_file.handler(event)
        self.assertEqual({"origin_key": "example/type1/a.json"}, event)


if __name__ == "__main__":
    unittest.main()
