"""WSGI and Flask adapters.

``InvokerWSGIMiddleware`` wraps any WSGI app: it verifies every request and puts the result in
``environ["invoker_gateway.x_invoker"]``; a refused token gets 401 problem+json naming the reason
(503 when the gateway's keys could not be fetched). ``init_flask(app, verifier)`` does the same
for a Flask app and puts the result on ``flask.g.x_invoker``.

    app.wsgi_app = InvokerWSGIMiddleware(app.wsgi_app, verifier)     # any WSGI app
    init_flask(app, verifier)                                         # or, in Flask
"""

import json
from typing import Any, Callable, Iterable, Optional
from urllib.parse import quote

from ._reasons import PROBLEM_CONTENT_TYPE, InvokerVerificationError
from ._verify import InvokerVerifier

ENVIRON_KEY = "invoker_gateway.x_invoker"


def environ_headers(environ: dict) -> list:
    headers = [(key[5:].replace("_", "-").lower(), value) for key, value in environ.items() if key.startswith("HTTP_")]
    return headers


def environ_url(environ: dict) -> str:
    """The absolute URL a WSGI request arrived at, from its Host header and its raw path where the
    server keeps one (PATH_INFO is percent-decoded; ``htu`` keeps the gateway's encoding)."""
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path = raw.split("?", 1)[0]
    else:
        decoded = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        path = quote(decoded.encode("latin-1").decode("utf-8", "replace"), safe="/;=,:@!$&'()*+~")
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{path or '/'}"


def _problem_response(error: InvokerVerificationError, start_response: Callable) -> Iterable[bytes]:
    body = json.dumps(error.problem()).encode()
    reason = "Service Unavailable" if error.status == 503 else "Unauthorized"
    start_response(f"{error.status} {reason}", [("Content-Type", PROBLEM_CONTENT_TYPE), ("Content-Length", str(len(body)))])
    return [body]


class InvokerWSGIMiddleware:
    def __init__(self, app: Callable, verifier: InvokerVerifier, url: Optional[Callable[[dict], str]] = None):
        self.app = app
        self.verifier = verifier
        self.url = url or environ_url

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            environ[ENVIRON_KEY] = self.verifier.verify(environ_headers(environ), environ.get("REQUEST_METHOD", "GET"), self.url(environ))
        except InvokerVerificationError as error:
            return _problem_response(error, start_response)
        return self.app(environ, start_response)


def init_flask(app: Any, verifier: InvokerVerifier) -> None:
    """Verify every request of a Flask app before its views run; the result is ``g.x_invoker``."""
    from flask import Response, g, request  # only when Flask is used

    @app.before_request
    def _verify_x_invoker() -> Any:
        try:
            g.x_invoker = verifier.verify(request.headers, request.method, environ_url(request.environ))
        except InvokerVerificationError as error:
            return Response(json.dumps(error.problem()), status=error.status, content_type=PROBLEM_CONTENT_TYPE)
        return None
