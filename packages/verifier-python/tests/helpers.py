"""Test keys and tokens signed with PyJWT (independent of the verifier's own code)."""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

ISSUER = "https://gw.test"


class Key:
    def __init__(self, kid):
        self.kid = kid
        self.private = Ed25519PrivateKey.generate()
        self.jwk = {**json.loads(OKPAlgorithm.to_jwk(self.private.public_key())), "kid": kid, "alg": "EdDSA", "use": "sig"}

    def token(self, url, method="GET", **over):
        now = int(time.time())
        claims = {
            "iss": ISSUER, "aud": "crm", "sub": "apikey:ci", "iat": now, "exp": now + 60, "jti": str(uuid.uuid4()),
            "invoker": {"id": "apikey:ci", "kind": "apiKey", "meta": {}}, "auth": {"method": "api_key", "api_key": "ci"},
            "htm": method, "htu": url,
        }
        claims.update(over)
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid, "typ": "invoker+jwt"})


class JwksServer:
    """A real HTTP server on loopback publishing a JWK set the test can change, answering with
    ``status`` (500 for a failing endpoint); counts fetches."""

    def __init__(self):
        self.keys = []
        self.fetches = 0
        self.status = 200
        # Cleared: every answer waits until it is set again (a fetch held under way).
        self.gate = threading.Event()
        self.gate.set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.fetches += 1
                outer.gate.wait(30)
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(outer.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
