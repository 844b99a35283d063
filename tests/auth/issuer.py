"""A fake Google token issuer: RSA keys made in the test, their certificates served from a local HTTP server.

Nothing leaves the machine: tokens are signed with keys generated for the session and verified against
``{kid: PEM certificate}`` served from 127.0.0.1, exactly the format of Google's ``oauth2/v1/certs``.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

AUDIENCE = "https://model.example.test"
CALLER = "caller@example-project.iam.gserviceaccount.com"


class SigningKey:
    """An RSA key, its key id and a self-signed certificate for it (what Google publishes per key)."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kid)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, claims: dict, kid: str | None = None) -> str:
        """A token with ``claims``, signed RS256, naming key ``kid`` (default: this key's own id) in its header."""
        return jwt.encode(crypt.RSASigner(self._key, key_id=kid or self.kid), claims).decode()


def claims(**overrides) -> dict:
    """The claims of a Google ID token for CALLER and AUDIENCE, valid for an hour; ``None`` drops a claim."""
    now = int(time.time())
    base = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "azp": "1234567890",
        "sub": "1234567890",
        "email": CALLER,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


class CertServer:
    """Serves ``{kid: PEM}`` like Google's certificate endpoint, counting fetches; ``status``/``body`` can break it."""

    def __init__(self, certs: dict[str, str], cache_control: str = "public, max-age=3600") -> None:
        self.body = json.dumps(certs).encode()
        self.status = 200
        self.cache_control = cache_control
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", server.cache_control)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/oauth2/v1/certs"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
