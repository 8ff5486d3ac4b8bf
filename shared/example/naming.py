"""How the example pipeline names things from an object key.

* route: the first folder or file name of the key that contains ``type1`` or
  ``type2`` decides the route ("example/type1/a.json" and
  "example/orders_type2.json" route to type1 and type2); None when neither
  appears.
* table: the folder of the key, lower-cased, every run of characters other
  than letters and digits turned into ``_`` ("example/type1/a.json" ->
  "example_type1"); a key at the bucket root names the table after the file
  ("a.json" -> "a").
* execution name: the key made safe for Step Functions (letters, digits,
  ``-`` and ``_``), cut so that a hash of the event fits in the 80
  characters a name may have. The same event gives the same name, so a
  duplicate delivery cannot start the pipeline twice.
"""
import hashlib
import posixpath
import re

ROUTES = ("type1", "type2")
MAX_EXECUTION_NAME = 80


def route_of(key):
    """The route of an object key ("type1", "type2"), or None."""
    for part in key.split("/"):
        stem = part.rsplit(".", 1)[0].lower()
        for route in ROUTES:
            if route in stem:
                return route
    return None


def _identifier(text):
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def table_of(key):
    """The Glue table an object belongs to."""
    folder = posixpath.dirname(key)
    if folder:
        name = _identifier(folder)
    else:
        name = _identifier(posixpath.basename(key).rsplit(".", 1)[0])
    if not name:
        name = "data"
    if name[0].isdigit():
        name = "t_" + name
    return name[:255]


def execution_name(key, *unique):
    """A Step Functions execution name for an object key, unique per event.

    ``unique`` are the values that tell two events about the same key apart
    (the object's version, etag or sequencer, or the event id).
    """
    digest = hashlib.sha256("\n".join((key,) + tuple(str(u) for u in unique)).encode("utf-8")).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", key).strip("-") or "object"
    return "%s-%s" % (safe[: MAX_EXECUTION_NAME - len(digest) - 1], digest)
