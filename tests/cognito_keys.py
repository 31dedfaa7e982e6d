"""A stand-in Cognito user pool for authorizer tests: real RSA keys, a JWKS over HTTP, tokens."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

REGION = "us-east-1"
POOL_ID = "us-east-1_TestPool1"
CLIENT_ID = "testclient123"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL_ID}"


class SigningKey:
    def __init__(self, kid):
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self):
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}


class Pool:
    """Keys, a JWKS endpoint on 127.0.0.1, and a minting function for Cognito-shaped tokens."""

    def __init__(self):
        self.keys = [SigningKey("key-1")]
        self.fetches = 0
        self.down = False
        pool = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                pool.fetches += 1
                if pool.down:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": [k.jwk() for k in pool.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)  # stops within 50 ms
        self.thread.start()
        self.jwks_url = f"http://127.0.0.1:{self.server.server_port}/{POOL_ID}/.well-known/jwks.json"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def claims(self, username="alice", groups=("readers",), use="id", **overrides):
        now = int(time.time())
        claims = {
            "sub": f"sub-{username}",
            "iss": ISSUER,
            "token_use": use,
            "iat": now,
            "auth_time": now,
            "exp": now + 3600,
        }
        if use == "id":
            claims.update({"aud": CLIENT_ID, "cognito:username": username})
        else:
            claims.update({"client_id": CLIENT_ID, "username": username})
        if groups is not None:
            claims["cognito:groups"] = list(groups)
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, key=None, headers=None, extra=None, **claim_args):
        key = key or self.keys[0]
        claims = {**self.claims(**claim_args), **(extra or {})}
        return jwt.encode(claims, key.private, algorithm="RS256",
                          headers={"kid": key.kid, **(headers or {})})
