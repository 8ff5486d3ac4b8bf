#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for loopback tests.

Usage: faultproxy.py UPSTREAM_URL RATE SEED [STATS_FILE]

Listens on 127.0.0.1 (a free port, printed as "PORT <n>" on the first line of
stdout) and forwards every request to UPSTREAM_URL unchanged (Host header
included, so SigV4 signatures still verify). For a share RATE (0..1) of the
requests, chosen by a PRNG seeded with SEED, it does not forward and instead
answers 500, 503, a Throttling error in the shape of the service's protocol,
or drops the connection without answering. FAULTPROXY_DELAY=<seconds> slows
every forwarded request (to interrupt a deploy half-way). FAULTPROXY_HANG_AFTER=<Action>
forwards the first request of that query-protocol action, then stops answering
every later request (an endpoint gone silent mid-deploy). Counts go to STATS_FILE as JSON
on every request. Killed by the spec when done; exits by itself after 600 s.
"""
import json
import os
import random
import sys
import threading
import time

import loopproxy

RATE = float(sys.argv[2])
RNG = random.Random(int(sys.argv[3]))
STATS_FILE = sys.argv[4] if len(sys.argv) > 4 else None
DELAY = float(os.environ.get("FAULTPROXY_DELAY", "0"))  # seconds added to every forwarded request
HANG_AFTER = os.environ.get("FAULTPROXY_HANG_AFTER", "").encode()
SILENT = threading.Event()  # set once HANG_AFTER went through: nothing is answered any more
LOCK = threading.Lock()
STATS = {"requests": 0, "forwarded": 0, "500": 0, "503": 0, "throttle": 0, "drop": 0}

QUERY_THROTTLE = (b'<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
                  b'<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>'
                  b'</Error><RequestId>fault-proxy</RequestId></ErrorResponse>')
S3_SLOWDOWN = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
               b'<Message>Please reduce your request rate.</Message><RequestId>fault-proxy</RequestId></Error>')
INTERNAL = (b'<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code>'
            b'<Message>injected</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>')


def save():
    if STATS_FILE:
        with open(STATS_FILE + ".tmp", "w") as f:
            json.dump(STATS, f)
        os.replace(STATS_FILE + ".tmp", STATS_FILE)


def first(handler, body):
    if SILENT.is_set():
        with LOCK:
            STATS["requests"] += 1
            STATS["unanswered"] = STATS.get("unanswered", 0) + 1
            save()
        time.sleep(600)
        return True
    if HANG_AFTER and (b"Action=" + HANG_AFTER + b"&") in body + b"&":
        SILENT.set()
    with LOCK:
        STATS["requests"] += 1
        fault = None
        if RNG.random() < RATE:
            fault = RNG.choice(["500", "503", "throttle", "drop"])
            STATS[fault] += 1
        else:
            STATS["forwarded"] += 1
        save()
    is_query = handler.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
    if fault == "drop":
        handler.close_connection = True
        handler.connection.shutdown(2)
        return True
    if fault is not None:
        if fault == "throttle":
            status, payload = (400, QUERY_THROTTLE) if is_query else (503, S3_SLOWDOWN)
        else:
            status, payload = int(fault), INTERNAL
        handler.send_response(status)
        handler.send_header("Content-Type", "text/xml")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)
        return True
    if DELAY:
        time.sleep(DELAY)
    return False


if __name__ == "__main__":
    # the spec kills the process group when done; never outlive it by much
    loopproxy.serve(sys.argv[1], first)
