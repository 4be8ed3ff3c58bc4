"""Why a token was refused: one stable code per failure, the same as the JS package's and the
gateway CLI's ``decode``. Match on ``reason``, never on the message; no message carries the token."""

REASON_CODES = (
    "missing",
    "malformed",
    "typ",
    "signature",
    "key_unknown",
    "keys_unavailable",
    "issuer",
    "audience",
    "expired",
    "wrong_request",
    "replayed",
)

_MESSAGES = {
    "missing": "the request has no X-Invoker header",
    "malformed": "the X-Invoker header is not a well-formed invoker token",
    "typ": "the token is not an invoker token (typ)",
    "signature": "the token signature is not valid, or its algorithm is not accepted",
    "key_unknown": "the token's key is not among the gateway's keys",
    "keys_unavailable": "the gateway's keys could not be fetched",
    "issuer": "the token was issued by another gateway",
    "audience": "the token was issued for another pack",
    "expired": "the token is outside its lifetime (expired, or issued in the future)",
    "wrong_request": "the token was issued for another request (method or URL)",
    "replayed": "the token was already used",
}


class InvokerVerificationError(Exception):
    """A refused X-Invoker token. ``status`` is the HTTP status to answer with: 503 when the
    gateway's keys could not be fetched (retrying can work), 401 otherwise."""

    def __init__(self, reason: str):
        super().__init__(_MESSAGES[reason])
        self.reason = reason
        self.message = _MESSAGES[reason]
        self.status = 503 if reason == "keys_unavailable" else 401

    def problem(self) -> dict:
        """The RFC 9457 problem+json body the adapters answer with."""
        return {
            "type": f"urn:invoker-gateway:verifier:{self.reason}",
            "title": self.message,
            "status": self.status,
            "reason": self.reason,
        }


PROBLEM_CONTENT_TYPE = "application/problem+json"
