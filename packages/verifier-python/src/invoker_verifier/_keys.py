"""Where verification keys come from: the gateway's JWKS URL (cached, refetched after
``max_age``, refetched for an unknown ``kid`` at most once per ``cooldown``: the same rules as
jose's remote set in the JS package), a JWK set given inline, or an HS256 shared secret.

Key selection follows jose's: a key is a candidate when its ``kid`` is the token's, its type
(and curve) fits the token's ``alg``, its own ``alg`` (if any) is that ``alg``, its ``use`` (if
any) is ``sig`` and its ``key_ops`` (if any) include ``verify``. A set holding a private key is
refused, as jose refuses it."""

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Dict, List, Optional, Tuple

from jwt.algorithms import get_default_algorithms

from ._constants import JWKS_COOLDOWN_S, JWKS_MAX_AGE_S, JWKS_TIMEOUT_S
from ._reasons import InvokerVerificationError

ALGORITHMS = get_default_algorithms()

#: alg → (kty, crv) a key must have to verify it.
KEY_TYPES = {"EdDSA": ("OKP", "Ed25519"), "ES256": ("EC", "P-256")}

PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k", "oth")


def _usable(jwk: Dict[str, Any], alg: str, kid: str) -> bool:
    kty, crv = KEY_TYPES[alg]
    key_ops = jwk.get("key_ops")
    return (
        jwk.get("kty") == kty
        and jwk.get("crv") == crv
        and jwk.get("kid") == kid
        and jwk.get("alg", alg) == alg
        and jwk.get("use", "sig") == "sig"
        and (key_ops is None or (isinstance(key_ops, list) and "verify" in key_ops))
    )


class _KeySet:
    """An imported JWK set: keys are imported once per (key, alg), on first use."""

    def __init__(self, jwks: Any):
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not all(isinstance(k, dict) for k in jwks["keys"]):
            raise ValueError("not a JWK set")
        self._jwks: List[Dict[str, Any]] = jwks["keys"]
        self._imported: Dict[Tuple[int, str], Any] = {}

    def candidates(self, alg: str, kid: str) -> List[Any]:
        keys = []
        for index, jwk in enumerate(self._jwks):
            if not _usable(jwk, alg, kid):
                continue
            if (index, alg) not in self._imported:
                if any(member in jwk for member in PRIVATE_MEMBERS):
                    raise InvokerVerificationError("keys_unavailable")
                try:
                    self._imported[(index, alg)] = ALGORITHMS[alg].from_jwk(jwk)
                except Exception:
                    raise InvokerVerificationError("keys_unavailable") from None
            keys.append(self._imported[(index, alg)])
        return keys


class LocalKeys:
    """A JWK set given inline."""

    def __init__(self, jwks: Any):
        self._set = _KeySet(jwks)

    def __call__(self, alg: str, kid: str) -> List[Any]:
        keys = self._set.candidates(alg, kid)
        if not keys:
            raise InvokerVerificationError("key_unknown")
        return keys


class SecretKey:
    """The raw bytes of an HS256 gateway key (its JWK ``k``, base64url-decoded)."""

    def __init__(self, secret: bytes):
        if not isinstance(secret, (bytes, bytearray)) or len(secret) < 32:
            raise TypeError("secret must be at least 32 bytes")
        self._key = ALGORITHMS["HS256"].prepare_key(bytes(secret))

    def __call__(self, alg: str, kid: str) -> List[Any]:
        return [self._key]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A JWKS answer must come from the configured URL itself (jose fetches with redirect: manual).
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def fetch_jwks(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"accept": "application/json, application/jwk-set+json", "user-agent": "invoker-gateway-verifier"})
    with _opener.open(request, timeout=timeout) as response:
        if response.status != 200:
            raise ValueError("Expected 200 OK from the JWKS endpoint")
        return json.loads(response.read())


class JWKSCache:
    """The gateway's JWKS, fetched on first use and kept: refetched after ``max_age`` seconds, and
    for an unknown ``kid`` at most once per ``cooldown`` seconds (a rotated-in key is found, a
    stream of made-up kids costs one fetch per cooldown). Thread-safe: one fetch at a time."""

    def __init__(
        self,
        url: str,
        max_age: float = JWKS_MAX_AGE_S,
        cooldown: float = JWKS_COOLDOWN_S,
        timeout: float = JWKS_TIMEOUT_S,
        fetch: Optional[Callable[[str, float], Any]] = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise TypeError("jwks_url must be an http(s) URL")
        self.url = url
        self._max_age, self._cooldown, self._timeout = max_age, cooldown, timeout
        self._fetch = fetch or fetch_jwks
        self._clock = clock
        self._set: Optional[_KeySet] = None
        self._fetched_at: Optional[float] = None
        self._lock = threading.Lock()

    def _fresh_for(self, duration: float) -> bool:
        return self._fetched_at is not None and self._clock() < self._fetched_at + duration

    def _reload(self, seen: Optional[float]) -> None:
        with self._lock:
            if self._fetched_at != seen:
                return  # another thread reloaded while this one waited
            try:
                key_set = _KeySet(self._fetch(self.url, self._timeout))
            except Exception:
                raise InvokerVerificationError("keys_unavailable") from None
            self._set, self._fetched_at = key_set, self._clock()

    def __call__(self, alg: str, kid: str) -> List[Any]:
        if self._set is None or not self._fresh_for(self._max_age):
            self._reload(self._fetched_at)
        assert self._set is not None
        keys = self._set.candidates(alg, kid)
        if not keys and not self._fresh_for(self._cooldown):
            self._reload(self._fetched_at)
            keys = self._set.candidates(alg, kid)
        if not keys:
            raise InvokerVerificationError("key_unknown")
        return keys


_remote: Dict[Tuple[str, float, float, float], JWKSCache] = {}
_remote_lock = threading.Lock()


def remote_keys(url: str, max_age: float, cooldown: float, timeout: float) -> JWKSCache:
    """One cache per URL and settings for the whole process, so ``verify_invoker()`` called with
    the same arguments on every request still fetches the JWKS once."""
    with _remote_lock:
        cache = _remote.get((url, max_age, cooldown, timeout))
        if cache is None:
            cache = _remote[(url, max_age, cooldown, timeout)] = JWKSCache(url, max_age, cooldown, timeout)
        return cache
