"""The request the backend received: headers, method, absolute URL; and the URL in ``htu`` form."""

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


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 §5.2.4, as WHATWG URL parsing applies it (so `/a/../b` compares as `/b`, like in JS).
    output: list = []
    for segment in path.split("/")[1:]:
        if segment in (".", "%2e", "%2E"):
            continue
        if segment.lower() in ("..", ".%2e", "%2e.", "%2e%2e"):
            if output:
                output.pop()
            continue
        output.append(segment)
    if path.split("/")[-1].lower() in (".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"):
        output.append("")
    return "/" + "/".join(output)


def htu_of(url: str, rewrite: Optional[Tuple[str, str]]) -> Optional[str]:
    """Scheme, host and path without query or fragment (DPoP's ``htu``, RFC 9449 §4.3), with the
    lower-case scheme and host and no default port, as the JS package's WHATWG URL gives it.
    None when ``url`` is not an absolute http(s) URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.netloc.rpartition("@")[2].lower()
    if port is not None and str(port) == DEFAULT_PORTS[scheme]:
        host = host.rsplit(":", 1)[0]
    plain = f"{scheme}://{host}{_remove_dot_segments(parts.path or '/')}"
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
