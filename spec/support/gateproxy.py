#!/usr/bin/env python3
"""A gate in front of a loopback AWS endpoint: holds some requests until told.

Usage: gateproxy.py UPSTREAM_URL MARKER GATE_FILE

Listens on 127.0.0.1 (a free port, printed as "PORT <n>" on the first line of
stdout) and forwards every request to UPSTREAM_URL unchanged (Host header
included, so SigV4 signatures still verify). A request whose body holds the
bytes MARKER (say "Action=CreateChangeSet") waits until GATE_FILE exists; the
first such request prints "HELD" on stdout, so a spec knows that the client
got that far and stopped there. That puts a process in a known place (a
deploy holding its lock) without any timing. Exits by itself after 600 s.
"""
import os
import sys
import threading
import time

import loopproxy

MARKER = sys.argv[2].encode()
GATE = sys.argv[3]
SAID = threading.Event()
SAY = threading.Lock()


def hold(handler, body):
    if MARKER in body:
        with SAY:
            if not SAID.is_set():
                SAID.set()
                print("HELD", flush=True)
        while not os.path.exists(GATE):
            time.sleep(0.05)
    return False  # forwarded, once the gate is open


if __name__ == "__main__":
    loopproxy.serve(sys.argv[1], hold)
