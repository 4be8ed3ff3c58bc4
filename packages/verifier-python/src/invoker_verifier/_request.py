"""The request the backend received: headers, method, absolute URL; and the URL in ``htu`` form."""

import re
from typing import Any, Optional, Tuple
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def header_value(headers: Any, name: str) -> Optional[str]:
    """One header from a Mapping (Starlette's, Werkzeug's, a plain dict in any case) or a list
    of (name, value) pairs. Two X-Invoker headers are never the gateway's (it sets exactly one):
    they are joined, as Node joins them, and the joined value is not a token."""
    name = name.lower()
    if hasattr(headers, "items"):
        getlist = getattr(headers, "getlist", None) or getattr(headers, "get_all", None)
        if getlist is not None:
            values = list(getlist(name))
        else:
            values = [v for k, v in headers.items() if k.lower() == name]
    else:
        values = [v for k, v in headers if (k.decode("latin-1") if isinstance(k, bytes) else k).lower() == name]
    values = [v.decode("latin-1") if isinstance(v, bytes) else v for v in values]
    return ", ".join(values) if values else None


_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")


def htu_of(url: str, rewrite: Optional[Tuple[str, str]]) -> Optional[str]:
    """Scheme, host and path without query (DPoP's ``htu``, RFC 9449 §4.3). Only the scheme and
    host are normalised (lower case, no default port, as the JS package's WHATWG URL gives them):
    the backend sees its own Host. The path is taken byte for byte as the backend received it and
    never resolved: a router dispatches ``/admin/../hello`` or ``/admin/%2e%2e/hello`` to /admin,
    so resolving it to the ``/hello`` a token names would hand the /admin handler that token. The
    gateway forwards the normalised path it decided on, which is exactly the path in ``htu``.
    Spaces and control characters are refused rather than stripped (``urlsplit`` strips some), a
    ``#`` is kept in the path. None when ``url`` is not an absolute http(s) URL."""
    if _FORBIDDEN.search(url):
        return None
    scheme_end = url.find("://")
    if scheme_end <= 0:
        return None
    path_start = scheme_end + 3
    while path_start < len(url) and url[path_start] not in "/?#":
        path_start += 1
    try:
        parts = urlsplit(url[:path_start])
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.netloc.rpartition("@")[2].lower()
    if port is not None and str(port) == DEFAULT_PORTS[scheme]:
        host = host.rsplit(":", 1)[0]
    path = url[path_start:].split("?", 1)[0]
    # An empty path is "/" (RFC 9110 §4.2.3); one not starting with "/" ("http://h#x") is not one the gateway sends.
    plain = f"{scheme}://{host}{path or '/'}"
    if rewrite is None:
        return plain
    source, target = rewrite
    if not plain.startswith(source):
        return None
    rest = plain[len(source):]
    # A prefix matches whole path segments only: /api must not match /apiary.
    if rest and not source.endswith("/") and not rest.startswith("/"):
        return None
    return target + rest
