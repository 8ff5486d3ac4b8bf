#!/usr/bin/env python3
"""A stand-in for the EC2 instance metadata service (IMDSv2) and the ECS/EKS
container credentials endpoint, on loopback, for the credential specs: no
emulator offers them and the real ones live on link-local addresses that
specs must never contact.

    python3 spec/support/metadata_server.py [--ppid PID]

Prints "PORT <n>" first, then serves until killed (or PID is gone, or 300 s
have passed, so it cannot outlive the specs).

IMDS (paths as on EC2):
  PUT /latest/api/token            needs X-aws-ec2-metadata-token-ttl-seconds
                                   (400 without); answers a fresh token
  GET /latest/meta-data/iam/security-credentials/        the role name
  GET /latest/meta-data/iam/security-credentials/ROLE    the credentials JSON
  A GET without a valid token answers 401 unless "v1" is on.
Container: GET /container/... answers the credentials JSON; when
"container_token" is set the Authorization header must equal it (else 401).

Control (JSON in, JSON out):
  POST /_control {key: value...}   changes the settings below
  GET  /_stats                     the request counters
Settings: access_key, secret_key, session_token, expiration (ISO 8601; by
default an hour from now at each answer), role, rotate (append the count of
credential answers to the key id), v1 (GETs work without a token),
token_status (the status of PUT /latest/api/token when not 200, e.g. 403),
creds_status (the status of the credentials GET when not 200), no_role (404
on the role list), expire_tokens (forget every token issued so far),
token_stall (seconds the token PUT waits before answering),
container_access_key, container_token, container_status (the status of
the container GET when not 200), reset (the settings and counters as at
start).
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
DEFAULTS = {
    "access_key": "ASIAIMDSEXAMPLE", "secret_key": "imds-secret-value",
    "session_token": "imds-session-token-value", "expiration": None,
    "role": "lakehost-ec2-role", "rotate": False, "v1": False,
    "token_status": 200, "creds_status": 200, "no_role": False,
    "container_access_key": "ASIACONTAINEREXAMPLE", "container_token": None,
    "container_status": 200, "token_stall": 0,
}
CONF = dict(DEFAULTS)


def zero():
    return {"token_puts": 0, "token_ttl": None, "role_gets": 0, "creds_gets": 0,
            "unauthorized": 0, "container_gets": 0, "container_unauthorized": 0,
            "container_paths": [], "paths": []}


STATS = zero()
TOKENS = set()
SERIAL = [0]


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body, ctype="text/plain"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def creds(self, key):
        with LOCK:
            SERIAL[0] += 1
            if CONF["rotate"]:
                key = "%s%d" % (key, SERIAL[0])
            exp = CONF["expiration"] or iso(time.time() + 3600)
        return json.dumps({"Code": "Success", "LastUpdated": iso(time.time()), "Type": "AWS-HMAC",
                           "AccessKeyId": key, "SecretAccessKey": CONF["secret_key"],
                           "Token": CONF["session_token"], "Expiration": exp})

    def do_PUT(self):
        self.body()
        with LOCK:
            STATS["paths"].append("PUT " + self.path)
        if self.path != "/latest/api/token":
            return self.answer(404, "not found")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        with LOCK:
            STATS["token_puts"] += 1
            STATS["token_ttl"] = ttl
            status = CONF["token_status"]
            stall = CONF["token_stall"]
        if stall:
            time.sleep(stall)
        if status != 200:
            return self.answer(status, "token refused")
        if not ttl:
            return self.answer(400, "missing ttl")
        with LOCK:
            tok = "imds-v2-token-%d" % STATS["token_puts"]
            TOKENS.add(tok)
        self.answer(200, tok)

    def do_POST(self):
        data = self.body()
        if self.path != "/_control":
            return self.answer(404, "not found")
        req = json.loads(data or b"{}")
        with LOCK:
            if req.pop("reset", False):
                CONF.clear()
                CONF.update(DEFAULTS)
                STATS.clear()
                STATS.update(zero())
                TOKENS.clear()
                SERIAL[0] = 0
            if req.pop("expire_tokens", False):
                TOKENS.clear()
            CONF.update(req)
        self.answer(200, "{}", "application/json")

    def do_GET(self):
        if self.path == "/_stats":
            with LOCK:
                return self.answer(200, json.dumps(STATS), "application/json")
        with LOCK:
            STATS["paths"].append("GET " + self.path)
        if self.path.startswith("/container"):
            with LOCK:
                STATS["container_gets"] += 1
                STATS["container_paths"].append(self.path)
                want = CONF["container_token"]
            if want is not None and self.headers.get("Authorization") != want:
                with LOCK:
                    STATS["container_unauthorized"] += 1
                return self.answer(401, json.dumps({"message": "invalid authorization token"}),
                                   "application/json")
            if CONF["container_status"] != 200:
                return self.answer(CONF["container_status"], json.dumps({"message": "agent unavailable"}),
                                   "application/json")
            return self.answer(200, self.creds(CONF["container_access_key"]), "application/json")
        base = "/latest/meta-data/iam/security-credentials/"
        if not self.path.startswith(base):
            return self.answer(404, "not found")
        tok = self.headers.get("X-aws-ec2-metadata-token")
        with LOCK:
            ok = (tok in TOKENS) if tok else CONF["v1"]
            if not ok:
                STATS["unauthorized"] += 1
        if not ok:
            return self.answer(401, "")
        rest = self.path[len(base):]
        if rest == "":
            with LOCK:
                STATS["role_gets"] += 1
            if CONF["no_role"]:
                return self.answer(404, "not found")
            return self.answer(200, CONF["role"])
        if rest != CONF["role"]:
            return self.answer(404, "not found")
        with LOCK:
            STATS["creds_gets"] += 1
            status = CONF["creds_status"]
        if status != 200:
            return self.answer(status, "unavailable")
        self.answer(200, self.creds(CONF["access_key"]), "application/json")


def main():
    ppid = None
    if len(sys.argv) >= 3 and sys.argv[1] == "--ppid":
        ppid = int(sys.argv[2])
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print("PORT %d" % srv.server_address[1], flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    deadline = time.time() + 300
    while time.time() < deadline:
        if ppid is not None:
            try:
                os.kill(ppid, 0)
            except OSError:
                break
        time.sleep(0.5)


main()
