"""The JWKS cache while the gateway's JWKS endpoint fails, against a real HTTP server that counts
fetches and can be switched to 500 (red team F4): a failed fetch is remembered for the cooldown,
the last good keys keep verifying (up to ``stale``) past ``max_age``, and a fetch under way makes
no other thread wait. The clock is the cache's own (injected), so no test sleeps for a cooldown."""

import threading

import pytest

from helpers import ISSUER, JwksServer, Key
from invoker_verifier import InvokerVerificationError, InvokerVerifier, JWKSCache


def reason(cache, kid):
    try:
        cache("EdDSA", kid)
        return "ok"
    except InvokerVerificationError as error:
        return error.reason


@pytest.fixture
def server():
    s = JwksServer()
    yield s
    s.close()


@pytest.fixture
def clock():
    return [1000.0]


def cache_for(server, clock, **options):
    return JWKSCache(server.url, clock=lambda: clock[0], **options)


def test_unknown_kids_while_the_endpoint_fails_cost_one_fetch_per_cooldown(server, clock):
    server.keys = [Key("k1").jwk]
    cache = cache_for(server, clock)
    assert reason(cache, "k1") == "ok" and server.fetches == 1
    server.status = 500
    clock[0] += 40  # past the 30 s cooldown, within max_age
    # The first made-up kid may fetch (and fails); the failure is remembered for the cooldown.
    assert {reason(cache, f"made-up-{i}") for i in range(20)} == {"key_unknown"}
    assert server.fetches == 2
    assert reason(cache, "k1") == "ok" and server.fetches == 2
    clock[0] += 29
    assert reason(cache, "made-up-x") == "key_unknown" and server.fetches == 2
    clock[0] += 2  # 31 s after the failed attempt: one more
    assert reason(cache, "made-up-y") == "key_unknown" and server.fetches == 3


def test_with_no_keys_a_failing_endpoint_is_asked_once_per_cooldown(server, clock):
    server.status = 500
    cache = cache_for(server, clock)
    assert {reason(cache, "k1") for _ in range(20)} == {"keys_unavailable"}
    assert server.fetches == 1
    clock[0] += 31
    assert reason(cache, "k1") == "keys_unavailable" and server.fetches == 2
    server.status = 200
    server.keys = [Key("k1").jwk]
    assert reason(cache, "k1") == "keys_unavailable" and server.fetches == 2  # within the cooldown
    clock[0] += 31
    assert reason(cache, "k1") == "ok" and server.fetches == 3


def test_stale_on_error_the_last_good_keys_verify_up_to_stale_with_retries_a_cooldown_apart(server, clock):
    server.keys = [Key("k1").jwk]
    cache = cache_for(server, clock)  # max_age 600 s, cooldown 30 s, stale 1 h: the defaults
    fetched_at = clock[0]
    assert reason(cache, "k1") == "ok"
    server.status = 500
    clock[0] = fetched_at + 600  # max_age: a refresh is due, and fails
    assert reason(cache, "k1") == "ok" and server.fetches == 2
    clock[0] += 10
    assert reason(cache, "k1") == "ok" and server.fetches == 2  # retries wait for the cooldown
    clock[0] += 21
    assert reason(cache, "k1") == "ok" and server.fetches == 3
    clock[0] = fetched_at + 3600  # the keys are an hour old: still used
    assert reason(cache, "k1") == "ok" and server.fetches == 4
    clock[0] = fetched_at + 3631  # past stale (and the cooldown): not any more
    assert reason(cache, "k1") == "keys_unavailable" and server.fetches == 5
    clock[0] += 1
    assert reason(cache, "k1") == "keys_unavailable" and server.fetches == 5
    server.status = 200  # the endpoint is back: the next attempt after the cooldown finds it
    clock[0] += 30
    assert reason(cache, "k1") == "ok" and server.fetches == 6


def test_stale_is_configurable_and_never_shorter_than_max_age(server, clock):
    server.keys = [Key("k1").jwk]
    cache = cache_for(server, clock, max_age=60, stale=120)
    fetched_at = clock[0]
    assert reason(cache, "k1") == "ok"
    server.status = 500
    clock[0] = fetched_at + 120
    assert reason(cache, "k1") == "ok"
    clock[0] = fetched_at + 121
    assert reason(cache, "k1") == "keys_unavailable"
    short = cache_for(server, clock, max_age=600, stale=0)
    server.status = 200
    assert reason(short, "k1") == "ok"
    clock[0] += 599
    server.status = 500
    assert reason(short, "k1") == "ok"
    # The verifier's option reaches the process-wide cache.
    assert InvokerVerifier(ISSUER, "crm", jwks_url=server.url + "?stale", jwks_stale=7200)._keys._stale == 7200


def run_in_thread(call):
    """Runs call in a thread; the result, or "still waiting" when it has not returned within 5 s."""
    out = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    thread.join(5)
    return out[0] if out else "still waiting"


def test_a_fetch_under_way_makes_no_other_thread_wait(server, clock):
    server.keys = [Key("k1").jwk]
    cache = cache_for(server, clock, timeout=20)
    assert reason(cache, "k1") == "ok"
    clock[0] += 600  # max_age: the next token starts a refresh
    server.gate.clear()  # and the endpoint holds its answer
    refreshing = threading.Thread(target=lambda: reason(cache, "k1"), daemon=True)
    refreshing.start()
    for _ in range(200):
        if server.fetches == 2:
            break
        threading.Event().wait(0.01)
    assert server.fetches == 2
    # Meanwhile: a known kid is verified with the keys held, an unknown one refused, at once.
    assert run_in_thread(lambda: reason(cache, "k1")) == "ok"
    assert run_in_thread(lambda: reason(cache, "made-up")) == "key_unknown"
    assert server.fetches == 2
    server.gate.set()
    refreshing.join(10)
    assert not refreshing.is_alive()


def test_with_no_keys_threads_wait_for_the_one_fetch_under_way(server, clock):
    server.keys = [Key("k1").jwk]
    cache = cache_for(server, clock)
    server.gate.clear()
    results = []
    threads = [threading.Thread(target=lambda: results.append(reason(cache, "k1")), daemon=True) for _ in range(5)]
    for thread in threads:
        thread.start()
    threading.Event().wait(0.3)
    server.gate.set()
    for thread in threads:
        thread.join(10)
    assert results == ["ok"] * 5
    assert server.fetches == 1
