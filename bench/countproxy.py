#!/usr/bin/env python3
"""A counting HTTP proxy for loopback benchmarks.

Usage: countproxy.py UPSTREAM_URL STATS_FILE

Listens on 127.0.0.1 (a free port, printed as "PORT <n>" on the first line of
stdout) and forwards every request to UPSTREAM_URL unchanged (Host header
included, so SigV4 signatures still verify). After every request it writes
STATS_FILE (JSON): {"requests": n, "by_action": {"service:Action": n}}. The
action is the form body's Action= (query protocol), the X-Amz-Target's
operation (JSON protocol), else "s3:<METHOD>" with "?list-type=2" shown as
ListObjectsV2. Counts only grow: the bench reads the file before and after
each run and subtracts. Killed by the bench; exits by itself after 3600 s.
"""
import json
import os
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "spec", "support"))
import loopproxy  # noqa: E402  (the forwarding the spec proxies share)

STATS_FILE = sys.argv[2]
LOCK = threading.Lock()
STATS = {"requests": 0, "by_action": {}}


def save():
    with open(STATS_FILE + ".tmp", "w") as f:
        json.dump(STATS, f, sort_keys=True)
    os.replace(STATS_FILE + ".tmp", STATS_FILE)


def action_of(command, path, headers, body):
    target = headers.get("X-Amz-Target")
    if target:
        return "json:" + target.split(".")[-1]
    ctype = headers.get("Content-Type", "")
    if ctype.startswith("application/x-www-form-urlencoded"):
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            auth = headers.get("Authorization", "")
            service = "?"
            if "Credential=" in auth:
                parts = auth.split("Credential=")[1].split(",")[0].split("/")
                if len(parts) >= 4:
                    service = parts[3]
            return "%s:%s" % (service, form["Action"][0])
    query = urllib.parse.urlsplit(path).query
    if command == "GET" and "list-type=2" in query:
        return "s3:ListObjectsV2"
    names = {"HEAD": "HeadObject", "PUT": "PutObject", "GET": "GetObject", "DELETE": "DeleteObject"}
    return "s3:" + names.get(command, command)


def count(handler, body):
    action = action_of(handler.command, handler.path, handler.headers, body)
    with LOCK:
        STATS["requests"] += 1
        STATS["by_action"][action] = STATS["by_action"].get(action, 0) + 1
        save()
    return False  # always forwarded


if __name__ == "__main__":
    save()
    # the bench kills it when done; never outlive it by much
    loopproxy.serve(sys.argv[1], count, lifetime=3600, timeout=300)
