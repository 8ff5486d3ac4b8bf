#!/usr/bin/env python3
"""A stand-in for Glue GetCrawler in front of moto (moto's crawlers never
return to READY after StartCrawler).

Usage: crawlerproxy.py UPSTREAM_URL [LAST_STATUS]

Listens on 127.0.0.1 (a free port, printed as "PORT <n>" on the first line of
stdout). GetCrawler (X-Amz-Target AWSGlue.GetCrawler) is answered here: the
first call of each crawler says RUNNING, the next ones READY with LastCrawl
Status LAST_STATUS (default SUCCEEDED). Every other request, StartCrawler
included, goes to UPSTREAM_URL unchanged (Host header included, so SigV4
signatures still verify). Exits by itself after 600 s.
"""
import json
import sys
import threading

import loopproxy

LAST = sys.argv[2] if len(sys.argv) > 2 else "SUCCEEDED"
SEEN = {}
LOCK = threading.Lock()


def answer(handler, body):
    if handler.headers.get("X-Amz-Target") != "AWSGlue.GetCrawler":
        return False
    name = json.loads(body or b"{}").get("Name", "")
    with LOCK:
        SEEN[name] = SEEN.get(name, 0) + 1
        calls = SEEN[name]
    crawler = {"Name": name, "State": "RUNNING" if calls == 1 else "READY"}
    if calls > 1:
        crawler["LastCrawl"] = {"Status": LAST, "LogGroup": "/aws-glue/crawlers", "LogStream": name}
        if LAST == "FAILED":
            crawler["LastCrawl"]["ErrorMessage"] = "stand-in: the crawl failed"
    data = json.dumps({"Crawler": crawler}).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/x-amz-json-1.1")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
    return True


if __name__ == "__main__":
    loopproxy.serve(sys.argv[1], answer)
