"""The conformance vectors (test/vectors/x-invoker.json, made by the gateway's own signing code):
the Python verifier gives every vector's expected result, as the JS one does."""

import base64
import json
from pathlib import Path

import pytest

from invoker_verifier import InvokerVerificationError, InvokerVerifier, MemoryReplayCache, REASON_CODES

FILE = json.loads((Path(__file__).resolve().parents[3] / "test" / "vectors" / "x-invoker.json").read_text())


def run_vector(file, vector):
    options = dict(
        issuer=file["verifier"]["issuer"],
        audience=vector.get("options", {}).get("audience", file["verifier"]["audience"]),
        clock_tolerance=file["verifier"]["clock_tolerance_seconds"],
        now=lambda: vector["now"],
    )
    if vector["keys"] == "secret":
        options["secret"] = base64.urlsafe_b64decode(file["secret"] + "=" * (-len(file["secret"]) % 4))
    else:
        options["jwks"] = file["jwks"]
    if "algorithms" in vector.get("options", {}):
        options["algorithms"] = vector["options"]["algorithms"]
    if "url_rewrite" in vector.get("options", {}):
        rewrite = vector["options"]["url_rewrite"]
        options["url_rewrite"] = (rewrite["from"], rewrite["to"])
    uses = vector.get("uses", 1)
    if "uses" in vector:
        options["replay_cache"] = MemoryReplayCache(now=lambda: vector["now"])
    verifier = InvokerVerifier(**options)
    headers = {} if vector["token"] is None else {"X-Invoker": vector["token"]}
    result = None
    for use in range(1, uses + 1):
        try:
            result = verifier.verify(headers, vector["request"]["method"], vector["request"]["url"])
        except InvokerVerificationError as error:
            return {"reason": error.reason if use == uses else f"first use refused: {error.reason}"}
    return {
        "invoker": result.invoker,
        "auth": result.auth,
        "body_verified": result.body_verified,
        "mcp": result.mcp,
        "request_id": result.request_id,
    }


@pytest.mark.parametrize("vector", FILE["vectors"], ids=[v["name"] for v in FILE["vectors"]])
def test_vector(vector):
    assert run_vector(FILE, vector) == vector["expect"]


def test_reason_codes_are_the_js_ones():
    source = (Path(__file__).resolve().parents[2] / "verifier" / "src" / "reasons.ts").read_text()
    block = source.split("export const REASON_CODES = [", 1)[1].split("]", 1)[0]
    assert tuple(part.strip().strip("'") for part in block.split(",") if part.strip()) == REASON_CODES
