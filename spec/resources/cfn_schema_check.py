"""Checks resource kind declarations against CloudFormation's own resource
schemas (the copy bundled with cfn-lint).

stdin: one line per declared field, tab-separated:
    TYPE  PATH  KIND  REQUIRED(0|1)  ENUM(comma-separated or empty)
  PATH like "BucketEncryption.ServerSideEncryptionConfiguration[].SSEAlgorithm";
  a line "TYPE  @attr  NAME" declares an attribute.
stdout: one problem per line (nothing when all is well).
"""
import sys

from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

schemas = {}


def schema_of(rtype):
    if rtype not in schemas:
        schemas[rtype] = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", rtype).schema
    return schemas[rtype]


def deref(root, node):
    while isinstance(node, dict) and "$ref" in node:
        node = root["definitions"][node["$ref"].split("/")[-1]]
    return node


def options(root, node):
    """The node and the branches of its oneOf/anyOf/allOf."""
    node = deref(root, node)
    out = [node]
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in node.get(key, []):
            out.extend(options(root, branch))
    return out


def lookup(root, path):
    node = root
    for seg in path.split("."):
        is_list = seg.endswith("[]")
        name = seg[:-2] if is_list else seg
        found = None
        for opt in options(root, node):
            if name in opt.get("properties", {}):
                found = opt["properties"][name]
                break
        if found is None:
            return None, "no property"
        node = deref(root, found)
        if is_list:
            if node.get("type") != "array" and "items" not in node:
                return None, "not a list"
            node = deref(root, node.get("items", {}))
    return node, None


def required_in(root, path):
    parent, _, name = path.rpartition(".")
    node = root
    if parent:
        node, _ = lookup(root, parent)
    return any(name in opt.get("required", []) for opt in options(root, node or {}))


problems = []
declared = {}  # (type, parent path) -> {name: required}
for line in sys.stdin:
    parts = line.rstrip("\n").split("\t")
    rtype, path = parts[0], parts[1]
    root = schema_of(rtype)
    if path == "@attr":
        if parts[2] not in root.get("properties", {}):
            problems.append(f"{rtype}: attribute {parts[2]} is not in the schema")
        continue
    required, enum = parts[3] == "1", parts[4]
    parent, _, name = path.rpartition(".")
    declared.setdefault((rtype, parent), {})[name.replace("[]", "")] = required
    node, err = lookup(root, path)
    if err:
        problems.append(f"{rtype}: {path}: {err}")
        continue
    if enum:
        allowed = set(node.get("enum", []))
        extra = [v for v in enum.split(",") if allowed and v not in allowed]
        if extra:
            problems.append(f"{rtype}: {path}: values not in the schema: {', '.join(extra)}")

# Whatever the schema requires in an object we declare must be declared, and required.
for (rtype, parent), fields in sorted(declared.items()):
    root = schema_of(rtype)
    node = root if parent == "" else lookup(root, parent)[0]
    if node is None:
        continue
    # Required keys of the object itself and its allOf parts; those inside
    # oneOf/anyOf branches are alternatives ("one of"), not all needed.
    node = deref(root, node)
    need = set(node.get("required", []))
    for branch in node.get("allOf", []):
        need.update(deref(root, branch).get("required", []))
    for name in sorted(need):
        where = f"{parent}.{name}" if parent else name
        if name not in fields:
            problems.append(f"{rtype}: {where}: required by the schema but not declared")
        elif not fields[name]:
            problems.append(f"{rtype}: {where}: required by the schema but declared optional")

print("\n".join(problems))
