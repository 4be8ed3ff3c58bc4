"""The X-Invoker claims and the checks on them, pure (``now`` is passed in), in the order both
verifiers apply them: shape, issuer, audience, lifetime, request binding."""

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence


@dataclass(frozen=True)
class VerifiedInvoker:
    #: ``{"id", "kind", "label"?, "meta"}``: the caller. ``id`` is opaque (``apikey:ci-bot``, ``anon:…``, ``<signer>:<user>``).
    invoker: Dict[str, Any]
    #: How the gateway established it: ``{"method", "api_key"?, "issuer"?, "signer"?, "on_behalf_of"?, "body"?}``.
    auth: Dict[str, Any]
    #: False only when the body was streamed to the backend before the gateway checked it.
    body_verified: bool
    #: ``{"method", "tool"?}`` when the gateway recognised an MCP call; else None.
    mcp: Optional[Dict[str, Any]]
    #: The gateway's request id (``jti``; also the ``X-Request-Id`` header).
    request_id: str
    #: Every claim of the token.
    claims: Dict[str, Any]


def _string(value: Any) -> bool:
    return isinstance(value, str)


def _time(value: Any) -> bool:
    # NumericDate (RFC 7519 §2): a JSON number. bool is an int in Python and is not one.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _optional_string(obj: Dict[str, Any], key: str) -> bool:
    return key not in obj or isinstance(obj[key], str)


def claims_shape(payload: Any) -> Optional[Dict[str, Any]]:
    """Every claim the gateway always writes, with its type; None when one is missing or mistyped."""
    if not isinstance(payload, dict):
        return None
    p = payload
    if not all(_string(p.get(k)) for k in ("iss", "sub", "jti", "htm", "htu")):
        return None
    aud = p.get("aud")
    if not (_string(aud) or (isinstance(aud, list) and all(_string(a) for a in aud))):
        return None
    if not _time(p.get("iat")) or not _time(p.get("exp")):
        return None
    invoker = p.get("invoker")
    if not isinstance(invoker, dict) or not _string(invoker.get("id")) or not _string(invoker.get("kind")):
        return None
    if not isinstance(invoker.get("meta"), dict) or not _optional_string(invoker, "label"):
        return None
    # The subject is the invoker: a token whose two ids differ was not written by the gateway.
    if invoker["id"] != p["sub"]:
        return None
    auth = p.get("auth")
    if not isinstance(auth, dict) or not _string(auth.get("method")):
        return None
    # Unknown body states are refused rather than guessed: only these two are defined.
    if "body" in auth and auth["body"] not in ("verified", "streamed"):
        return None
    if "mcp" in p:
        mcp = p["mcp"]
        if not isinstance(mcp, dict) or not _string(mcp.get("method")) or not _optional_string(mcp, "tool"):
            return None
    return p


def claims_problem(claims: Dict[str, Any], issuer: str, audiences: Sequence[str], tolerance: float, method: str, htu: Optional[str], now: float) -> Optional[str]:
    """The first failed check on well-shaped claims, or None when they hold for this request."""
    if claims["iss"] != issuer:
        return "issuer"
    aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if not any(a in audiences for a in aud):
        return "audience"
    # RFC 7519 §4.1.4: not accepted on or after exp; iat ahead of this clock means a clock we do not trust.
    if claims["exp"] <= now - tolerance or claims["iat"] > now + tolerance:
        return "expired"
    # Methods are case-sensitive (RFC 9110 §9.1): `post` is not `POST`.
    if claims["htm"] != method or htu is None or claims["htu"] != htu:
        return "wrong_request"
    return None


def verified_invoker(claims: Dict[str, Any]) -> VerifiedInvoker:
    return VerifiedInvoker(
        invoker=claims["invoker"],
        auth=claims["auth"],
        body_verified=claims["auth"].get("body") != "streamed",
        mcp=claims.get("mcp"),
        request_id=claims["jti"],
        claims=claims,
    )
