"""RouteFile step of pipeline_example: decides the route of the object.

Keeps a route the trigger already set when it is a known one, else derives
it from the key (see shared/example/naming.py). An object with no route
fails the step with a message that says why; the state machine's catch
then notifies the lake's topic.
"""
from shared.example import naming


class UnknownRoute(ValueError):
    """The object's key says neither type1 nor type2."""


def handler(event, context=None):
    route = event.get("route")
    if route not in naming.ROUTES:
        route = naming.route_of(event["origin_key"])
    if route is None:
        raise UnknownRoute(
            "cannot route %r: its folder or file name must contain one of %s"
            % (event["origin_key"], ", ".join(naming.ROUTES))
        )
    out = dict(event)
    out["route"] = route
    return out
