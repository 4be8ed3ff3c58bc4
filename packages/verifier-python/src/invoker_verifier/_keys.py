"""Where verification keys come from: the gateway's JWKS URL (cached, refetched after
``max_age``, fetched at most once per ``cooldown``, the last good keys kept up to ``stale`` while
the endpoint fails: the same rules as the JS package's), a JWK set given inline, or an HS256
shared secret.

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

from ._constants import JWKS_COOLDOWN_S, JWKS_MAX_AGE_S, JWKS_STALE_S, JWKS_TIMEOUT_S
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
    """The gateway's JWKS, fetched on first use and kept (the same rules as the JS package's, and
    as the gateway's own ``staleOnErrorFetch`` for its issuers):

    - the keys are fresh for ``max_age`` after a good fetch; then a refresh is due;
    - fetches are spaced by ``cooldown``, counted from the last attempt, good or failed: an
      unknown ``kid`` or a due refresh within it costs no fetch (a stream of made-up kids, or of
      tokens while the endpoint fails, costs one fetch per cooldown);
    - at most one fetch at a time, and nobody queues behind it: while one is under way, a token
      whose key is in the keys held is verified with them at once, one with an unknown ``kid`` is
      refused at once (``key_unknown``); only a thread with no keys to use at all waits, and no
      longer than ``timeout``, as it would for its own fetch;
    - stale-on-error: while refreshes fail, the last good keys keep verifying until ``stale``
      after they were fetched (never longer: a key the gateway withdrew must stop working), then
      ``keys_unavailable`` until a fetch succeeds."""

    def __init__(
        self,
        url: str,
        max_age: float = JWKS_MAX_AGE_S,
        cooldown: float = JWKS_COOLDOWN_S,
        timeout: float = JWKS_TIMEOUT_S,
        fetch: Optional[Callable[[str, float], Any]] = None,
        clock: Callable[[], float] = time.monotonic,
        stale: float = JWKS_STALE_S,
    ):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise TypeError("jwks_url must be an http(s) URL")
        self.url = url
        self._max_age, self._cooldown, self._timeout = max_age, cooldown, timeout
        self._stale = max(stale, max_age)
        self._fetch = fetch or fetch_jwks
        self._clock = clock
        # The last good set and when it was fetched, replaced as one tuple (readers take no lock).
        self._good: Optional[Tuple[_KeySet, float]] = None
        self._attempted_at: Optional[float] = None
        self._fetching = threading.Lock()

    def _usable(self) -> Optional[_KeySet]:
        good = self._good
        if good is None:
            return None
        age = self._clock() - good[1]
        return good[0] if age < self._max_age or age <= self._stale else None

    def _cooling_down(self) -> bool:
        return self._attempted_at is not None and self._clock() - self._attempted_at < self._cooldown

    def _refresh(self, wait: bool) -> None:
        """One fetch, unless the last attempt is within the cooldown or another thread is fetching
        (then return at once, or with ``wait`` wait for that fetch up to ``timeout``). A failure
        is remembered (the attempt time) and leaves the last good keys in place."""
        if not self._fetching.acquire(blocking=False):
            # Another thread is fetching: wait for its answer only when there is nothing to use.
            if wait and self._fetching.acquire(timeout=self._timeout):
                self._fetching.release()
            return
        try:
            if self._cooling_down():
                return
            self._attempted_at = self._clock()
            try:
                key_set = _KeySet(self._fetch(self.url, self._timeout))
            except Exception:
                return
            self._good = (key_set, self._clock())
        finally:
            self._fetching.release()

    def __call__(self, alg: str, kid: str) -> List[Any]:
        good = self._good
        if good is None or self._clock() - good[1] >= self._max_age:
            self._refresh(wait=self._usable() is None)
        key_set = self._usable()
        if key_set is None:
            raise InvokerVerificationError("keys_unavailable")
        keys = key_set.candidates(alg, kid)
        if not keys:
            # A key rotated in since the last fetch: refetch, unless within the cooldown or under way.
            self._refresh(wait=False)
            key_set = self._usable()
            if key_set is None:
                raise InvokerVerificationError("keys_unavailable")
            keys = key_set.candidates(alg, kid)
        if not keys:
            raise InvokerVerificationError("key_unknown")
        return keys


_remote: Dict[Tuple[str, float, float, float, float], JWKSCache] = {}
_remote_lock = threading.Lock()


def remote_keys(url: str, max_age: float, cooldown: float, timeout: float, stale: float = JWKS_STALE_S) -> JWKSCache:
    """One cache per URL and settings for the whole process, so ``verify_invoker()`` called with
    the same arguments on every request still fetches the JWKS once."""
    with _remote_lock:
        cache = _remote.get((url, max_age, cooldown, timeout, stale))
        if cache is None:
            cache = _remote[(url, max_age, cooldown, timeout, stale)] = JWKSCache(url, max_age, cooldown, timeout, stale=stale)
        return cache
