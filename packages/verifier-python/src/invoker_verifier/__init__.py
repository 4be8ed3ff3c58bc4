"""invoker-gateway-verifier: verify the X-Invoker header invoker-gateway signs.

>>> from invoker_verifier import InvokerVerifier
>>> verifier = InvokerVerifier(jwks_url="https://gateway.example.com/.well-known/jwks.json",
...                            issuer="https://gateway.example.com", audience="crm")  # doctest: +SKIP
>>> result = verifier.verify(request.headers, request.method, str(request.url))  # doctest: +SKIP
>>> result.invoker["id"], result.auth["method"]  # doctest: +SKIP
"""

from ._claims import VerifiedInvoker
from ._keys import JWKSCache
from ._reasons import PROBLEM_CONTENT_TYPE, REASON_CODES, InvokerVerificationError
from ._replay import MemoryReplayCache, ReplayCache
from ._verify import InvokerVerifier, verify_invoker

__version__ = "0.1.0"

__all__ = [
    "InvokerVerifier",
    "verify_invoker",
    "InvokerVerificationError",
    "REASON_CODES",
    "PROBLEM_CONTENT_TYPE",
    "VerifiedInvoker",
    "MemoryReplayCache",
    "ReplayCache",
    "JWKSCache",
]
