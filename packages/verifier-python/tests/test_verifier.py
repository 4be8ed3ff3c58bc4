"""The Python verifier beyond the conformance vectors: options, the JWKS cache against a real
HTTP server (refetch on an unknown kid, cooldown, unreachable keys), the replay cache's bounds,
and header forms."""

import pytest

from helpers import ISSUER, JwksServer, Key
from invoker_verifier import InvokerVerificationError, InvokerVerifier, JWKSCache, MemoryReplayCache, verify_invoker

URL = "http://b.test/run"


def reason(call):
    try:
        call()
        return "ok"
    except InvokerVerificationError as error:
        return error.reason


@pytest.fixture
def jwks_server():
    server = JwksServer()
    yield server
    server.close()


@pytest.mark.parametrize("options", [
    {"issuer": ISSUER, "audience": "crm"},
    {"issuer": ISSUER, "audience": "crm", "jwks": {"keys": []}, "jwks_url": "http://x.test/jwks"},
    {"issuer": "", "audience": "crm", "jwks": {"keys": []}},
    {"issuer": ISSUER, "audience": [], "jwks": {"keys": []}},
    {"issuer": ISSUER, "audience": "crm", "jwks": {"keys": []}, "algorithms": ["HS256"]},
    {"issuer": ISSUER, "audience": "crm", "secret": bytes(32), "algorithms": ["EdDSA"]},
    {"issuer": ISSUER, "audience": "crm", "secret": bytes(16)},
    {"issuer": ISSUER, "audience": "crm", "jwks": {"keys": []}, "clock_tolerance": -1},
    {"issuer": ISSUER, "audience": "crm", "jwks": {"keys": []}, "algorithms": ["RS256"]},
    {"issuer": ISSUER, "audience": "crm", "jwks": "not a set"},
    {"issuer": ISSUER, "audience": "crm", "jwks_url": "file:///etc/passwd"},
])
def test_options_are_checked_at_construction(options):
    with pytest.raises(TypeError):
        InvokerVerifier(**options)


def test_jwks_fetched_once_and_refetched_for_unknown_kid_once_per_cooldown(jwks_server):
    current, following = Key("k1"), Key("k2")
    jwks_server.keys = [current.jwk]
    clock = [1000.0]
    cache = JWKSCache(jwks_server.url, cooldown=30, clock=lambda: clock[0])
    verifier = InvokerVerifier(ISSUER, "crm", jwks=None, secret=None, jwks_url=jwks_server.url)
    verifier._keys = cache
    assert reason(lambda: verifier.verify({"x-invoker": current.token(URL)}, "GET", URL)) == "ok"
    assert reason(lambda: verifier.verify({"x-invoker": current.token(URL)}, "GET", URL)) == "ok"
    assert jwks_server.fetches == 1
    jwks_server.keys = [following.jwk, current.jwk]
    clock[0] += 10  # within the cooldown: no refetch
    assert reason(lambda: verifier.verify({"x-invoker": following.token(URL)}, "GET", URL)) == "key_unknown"
    assert jwks_server.fetches == 1
    clock[0] += 25  # past it: one refetch finds the rotated-in key
    assert reason(lambda: verifier.verify({"x-invoker": following.token(URL)}, "GET", URL)) == "ok"
    assert jwks_server.fetches == 2
    assert reason(lambda: verifier.verify({"x-invoker": Key("k9").token(URL)}, "GET", URL)) == "key_unknown"
    assert jwks_server.fetches == 2


def test_jwks_refetched_after_max_age(jwks_server):
    key = Key("k1")
    jwks_server.keys = [key.jwk]
    clock = [0.0]
    cache = JWKSCache(jwks_server.url, max_age=600, clock=lambda: clock[0])
    cache("EdDSA", "k1")
    clock[0] = 599
    cache("EdDSA", "k1")
    assert jwks_server.fetches == 1
    clock[0] = 600
    cache("EdDSA", "k1")
    assert jwks_server.fetches == 2


def test_keys_unavailable_is_503(jwks_server):
    key = Key("k1")
    jwks_server.status = 500
    with pytest.raises(InvokerVerificationError) as caught:
        verify_invoker({"x-invoker": key.token(URL)}, "GET", URL, jwks_url=jwks_server.url + "?down", issuer=ISSUER, audience="crm")
    assert caught.value.reason == "keys_unavailable" and caught.value.status == 503
    closed = JwksServer()
    closed.close()
    assert reason(lambda: verify_invoker({"x-invoker": key.token(URL)}, "GET", URL, jwks_url=closed.url, issuer=ISSUER, audience="crm", jwks_timeout=2)) == "keys_unavailable"


def test_a_set_with_a_private_key_is_refused():
    key = Key("k1")
    private = {**key.jwk, "d": "AAAA"}
    assert reason(lambda: InvokerVerifier(ISSUER, "crm", jwks={"keys": [private]}).verify({"x-invoker": key.token(URL)}, "GET", URL)) == "keys_unavailable"


def test_verify_invoker_fetches_once_per_url(jwks_server):
    key = Key("k1")
    jwks_server.keys = [key.jwk]
    url = jwks_server.url + "?once"
    for _ in range(3):
        verify_invoker({"x-invoker": key.token(URL)}, "GET", URL, jwks_url=url, issuer=ISSUER, audience="crm")
    assert jwks_server.fetches == 1


def test_messages_never_carry_the_token():
    key = Key("k1")
    token = key.token(URL, aud="echo")
    with pytest.raises(InvokerVerificationError) as caught:
        InvokerVerifier(ISSUER, "crm", jwks={"keys": [key.jwk]}).verify({"x-invoker": token}, "GET", URL)
    assert token.split(".")[1] not in str(caught.value) and token.split(".")[1] not in repr(caught.value.problem())


def test_header_forms():
    key = Key("k1")
    verifier = InvokerVerifier(ISSUER, "crm", jwks={"keys": [key.jwk]})
    token = key.token(URL)
    assert verifier.verify({"X-Invoker": token}, "GET", URL).invoker["id"] == "apikey:ci"
    assert verifier.verify([(b"x-invoker", token.encode())], "GET", URL + "?q=1").invoker["id"] == "apikey:ci"
    # Two headers are never the gateway's: joined, they are not a token.
    assert reason(lambda: verifier.verify([("x-invoker", token), ("x-invoker", token)], "GET", URL)) == "malformed"


def test_replay_cache_refuses_second_use_until_expiry():
    now = [1000.0]
    cache = MemoryReplayCache(now=lambda: now[0])
    assert cache.first_use("a", 1065) is True
    assert cache.first_use("a", 1065) is False
    now[0] = 1065
    assert cache.first_use("b", 1130) is True
    assert len(cache) == 1


def test_replay_cache_is_bounded():
    cache = MemoryReplayCache(max_entries=3, now=lambda: 0)
    for jti in "abcd":
        assert cache.first_use(jti, 60)
    assert len(cache) == 3
    assert cache.first_use("d", 60) is False
    assert cache.first_use("a", 60) is True


def test_only_tokens_that_passed_every_check_enter_the_replay_cache():
    key = Key("k1")
    cache = MemoryReplayCache()
    verifier = InvokerVerifier(ISSUER, "crm", jwks={"keys": [key.jwk]}, replay_cache=cache)
    assert reason(lambda: verifier.verify({"x-invoker": Key("k1").token(URL, jti="fixed")}, "GET", URL)) == "signature"
    assert reason(lambda: verifier.verify({"x-invoker": key.token(URL, jti="fixed")}, "GET", "http://b.test/other")) == "wrong_request"
    assert len(cache) == 0
    token = key.token(URL, jti="fixed")
    assert reason(lambda: verifier.verify({"x-invoker": token}, "GET", URL)) == "ok"
    assert reason(lambda: verifier.verify({"x-invoker": token}, "GET", URL)) == "replayed"
