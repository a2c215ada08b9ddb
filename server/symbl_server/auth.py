"""Access tokens: HS256 JWTs signed with a key kept in the data directory, so tokens survive a restart.

Like Symbl, the token endpoint returns the cached token with its remaining lifetime until it nears expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from pathlib import Path

BAD_TOKEN_MESSAGE = "Token validation failed for provided token."
BAD_CREDENTIALS_MESSAGE = "Invalid appId or appSecret."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_signing_key(path: Path) -> bytes:
    """The server's token-signing key, created once with owner-only permissions."""
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


class TokenIssuer:
    def __init__(self, app_id: str, app_secret: str, signing_key: bytes, lifetime_s: int):
        self._app_id = app_id
        self._app_secret = app_secret
        self._key = signing_key
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()
        self._cached: tuple[str, float] | None = None  # token, expiry (epoch seconds)

    def __repr__(self) -> str:
        return f"TokenIssuer(app_id={self._app_id!r}, lifetime_s={self.lifetime_s})"

    def credentials_match(self, app_id: object, app_secret: object) -> bool:
        if not isinstance(app_id, str) or not isinstance(app_secret, str):
            return False
        same_id = hmac.compare_digest(app_id.encode(), self._app_id.encode())
        same_secret = hmac.compare_digest(app_secret.encode(), self._app_secret.encode())
        return same_id and same_secret

    def issue(self) -> tuple[str, int]:
        """The cached token and its remaining whole seconds, or a new one once the cached one nears expiry."""
        now = time.time()
        renew_margin = max(1.0, min(60.0, self.lifetime_s / 10))
        with self._lock:
            if self._cached is None or self._cached[1] - now < renew_margin:
                expiry = now + self.lifetime_s
                self._cached = (
                    self._sign({"sub": self._app_id, "iat": int(now), "exp": expiry, "jti": secrets.token_hex(8)}),
                    expiry,
                )
            token, expiry = self._cached
        return token, max(1, int(expiry - now))

    def _sign(self, claims: dict) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"

    def _claims(self, token: str) -> dict | None:
        """The claims of a token this server signed, or None."""
        try:
            header, payload, signature = token.split(".")
            expected = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(signature)):
                return None
            claims = json.loads(_unb64(payload))
        except (ValueError, TypeError):
            return None
        return claims if isinstance(claims, dict) else None

    def is_valid(self, token: str) -> bool:
        claims = self._claims(token)
        return claims is not None and claims.get("sub") == self._app_id and float(claims.get("exp", 0)) > time.time()

    def sign_page(self, conversation_id: str, lifetime_s: int) -> str:
        """A token for one conversation's page, valid `lifetime_s` seconds (0: no expiry); not an access token."""
        claims: dict = {"page": conversation_id, "jti": secrets.token_hex(8)}
        if lifetime_s:
            claims["exp"] = time.time() + lifetime_s
        return self._sign(claims)

    def page_conversation(self, token: str) -> str | None:
        """The conversation a page token opens, or None when it is forged or expired."""
        claims = self._claims(token)
        if claims is None or not isinstance(claims.get("page"), str):
            return None
        if "exp" in claims and float(claims["exp"]) <= time.time():
            return None
        return claims["page"]
