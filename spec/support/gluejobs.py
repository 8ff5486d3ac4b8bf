"""A stand-in for the one Glue API moto lacks (UpdateJob), with the calls
around it: CreateJob, GetJob, UpdateJob, over the AWS JSON 1.1 protocol on
127.0.0.1. It checks every request's SigV4 signature (botocore recomputes
it with the secret key given) and, as Glue does, UpdateJob replaces the
whole definition with the JobUpdate: a field left out is gone.

  python3 spec/support/gluejobs.py ACCESS_KEY SECRET_KEY
prints "PORT <n>" on its first line, then serves until killed. Only for
specs: route Glue alone to it (AWS_ENDPOINT_URL_GLUE).
"""
import http.server
import json
import socketserver
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS, SECRET = sys.argv[1], sys.argv[2]
JOBS = {}
CALLS = []


def signature_ok(handler, body):
    auth = handler.headers.get("Authorization", "")
    if f"Credential={ACCESS}/" not in auth or "/glue/aws4_request" not in auth:
        return False
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {k: v for k, v in handler.headers.items() if k.lower() in signed}
    req = AWSRequest(method="POST", url=f"http://{handler.headers['Host']}{handler.path}", data=body,
                     headers=headers)
    req.context["timestamp"] = handler.headers["X-Amz-Date"]
    scope = auth.split("Credential=")[1].split(",")[0].split("/")
    signer = SigV4Auth(Credentials(ACCESS, SECRET), "glue", scope[2])
    canonical = signer.canonical_request(req)
    expected = signer.signature(signer.string_to_sign(req, canonical), req)
    return auth.endswith("Signature=" + expected)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, doc):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message):
        self.answer(status, {"__type": code, "message": message})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not signature_ok(self, body):
            return self.error(403, "InvalidSignatureException", "signature does not match")
        action = self.headers.get("X-Amz-Target", "").split(".")[-1]
        params = json.loads(body or b"{}")
        CALLS.append(action)
        if action == "CreateJob":
            job = dict(params)
            JOBS[job["Name"]] = job
            return self.answer(200, {"Name": job["Name"]})
        if action == "GetJob":
            job = JOBS.get(params.get("JobName"))
            if job is None:
                return self.error(400, "EntityNotFoundException", "no job " + str(params.get("JobName")))
            return self.answer(200, {"Job": job})
        if action == "UpdateJob":
            name = params.get("JobName")
            if name not in JOBS:
                return self.error(400, "EntityNotFoundException", "no job " + str(name))
            update = params.get("JobUpdate") or {}
            if "Command" not in update or "Role" not in update:
                return self.error(400, "InvalidInputException", "Command and Role are required")
            job = dict(update)
            job["Name"] = name
            JOBS[name] = job
            return self.answer(200, {"JobName": name})
        if action == "Calls":  # the spec's own: which actions came, in order
            return self.answer(200, {"Calls": CALLS})
        return self.error(400, "UnknownOperationException", action)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    print("PORT", srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
