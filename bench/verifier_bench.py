"""The Python half of `npm run bench:verifier` (bench/verifier.ts starts it and hands it the JWKS
URL, one token, and on stdin a fresh token per call for the replay-cache case): verification with
the key cached, with and without the replay cache, beside the Ed25519 check alone; cases
interleaved round by round. Prints JSON (median µs per token)."""

import base64
import json
import platform
import sys
import time
import urllib.request

from jwt.algorithms import OKPAlgorithm

from invoker_verifier import InvokerVerifier, MemoryReplayCache

jwks_url, token, url, issuer = sys.argv[1:5]
tokens = sys.stdin.read().split()
ROUNDS, PER_ROUND, WARM_UP = 9, 1_000, 300

plain = InvokerVerifier(issuer, "crm", jwks_url=jwks_url)
replay = InvokerVerifier(issuer, "crm", jwks_url=jwks_url, replay_cache=MemoryReplayCache())
headers = {"x-invoker": token}
header, payload, signature = token.split(".")
public_key = OKPAlgorithm.from_jwk(json.loads(urllib.request.urlopen(jwks_url).read())["keys"][0])
signing_input = f"{header}.{payload}".encode()
signature_bytes = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))

cases = {
    "plain": lambda i: plain.verify(headers, "POST", url),
    "replay": lambda i: replay.verify({"x-invoker": tokens[i]}, "POST", url),
    "bare": lambda i: public_key.verify(signature_bytes, signing_input),
}
samples = {name: [] for name in cases}
for run in cases.values():
    for i in range(WARM_UP):
        run(i)
for r in range(ROUNDS):
    for name, run in cases.items():
        start = time.perf_counter()
        for i in range(PER_ROUND):
            run(WARM_UP + r * PER_ROUND + i)
        samples[name].append((time.perf_counter() - start) * 1e6 / PER_ROUND)
result = {name: sorted(s)[ROUNDS // 2] for name, s in samples.items()}
result["version"] = platform.python_version()
print(json.dumps(result))
