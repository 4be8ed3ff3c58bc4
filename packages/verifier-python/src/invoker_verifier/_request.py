"""The request the backend received: headers, method, absolute URL; and the URL in ``htu`` form."""

import re
from typing import Any, Optional, Tuple

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
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")


def htu_of(url: str, rewrite: Optional[Tuple[str, str]]) -> Optional[str]:
    """Scheme, host and path without query (DPoP's ``htu``, RFC 9449 §4.3). Nothing is parsed or
    resolved the way a URL parser would, so that the JS package gives the same answer:

    The scheme and host are lower-cased (ASCII; RFC 3986 §6.2.2.1) and a port that is the scheme's
    default, spelled exactly so (``:443`` on https), is dropped (RFC 9110 §4.2.3): the gateway's
    ``htu`` is a WHATWG-serialised URL, lower case and without a default port. Nothing else about
    the host is normalised: ``127.1``, ``0x7f.0.0.1``, ``2130706433``, a trailing ``.``,
    ``%31``-escapes, a port ``:0443`` or ``:028791`` all differ from ``htu``. A host that is not
    ASCII (the gateway's is punycode) and userinfo (``user@host``) give None.

    The path is taken byte for byte as the backend received it and never resolved: a router
    dispatches ``/admin/../hello`` or ``/admin/%2e%2e/hello`` to /admin, so resolving it to the
    ``/hello`` a token names would hand the /admin handler that token. The gateway forwards the
    normalised path it decided on, which is exactly the path in ``htu``. Spaces and control
    characters are refused rather than stripped, a ``#`` is kept in the path. None when ``url``
    is not an absolute http(s) or ws(s) URL."""
    if _FORBIDDEN.search(url):
        return None
    scheme_end = url.find("://")
    if scheme_end <= 0:
        return None
    scheme = url[:scheme_end].lower()
    default_port = DEFAULT_PORTS.get(scheme)
    if default_port is None:
        return None
    path_start = scheme_end + 3
    while path_start < len(url) and url[path_start] not in "/?#":
        path_start += 1
    host = url[scheme_end + 3:path_start]
    if not _PRINTABLE_ASCII.fullmatch(host) or "@" in host:
        return None
    host = host.lower()
    if host.endswith(":" + default_port):
        host = host[: -len(default_port) - 1]
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
