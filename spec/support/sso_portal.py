#!/usr/bin/env python3
"""A stand-in for the IAM Identity Center portal (no emulator offers it):
GET /federation/credentials?account_id=&role_name= with the
x-amz-sso_bearer_token header answers role credentials when the token is
"good-token", 401 otherwise. Prints "PORT <n>" first; killed by the spec."""
import http.server, json, threading, urllib.parse


class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        tok = self.headers.get("x-amz-sso_bearer_token")
        if u.path != "/federation/credentials" or tok != "good-token":
            body = json.dumps({"message": "Session token not found or invalid"}).encode()
            self.send_response(401)
            self.send_header("x-amzn-ErrorType", "UnauthorizedException")
        else:
            body = json.dumps({"roleCredentials": {
                "accessKeyId": "ASIASSO" + q["account_id"][0], "secretAccessKey": "sso-secret",
                "sessionToken": "sso-token-" + q["role_name"][0], "expiration": 4102444800000}}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print("PORT %d" % srv.server_address[1], flush=True)
threading.Thread(target=srv.serve_forever, daemon=True).start()
threading.Event().wait(300)
