"""Starlette and FastAPI adapters.

``InvokerMiddleware`` (pure ASGI) verifies every HTTP request and WebSocket handshake and puts
the result on ``request.state.x_invoker``; a refused token gets 401 problem+json naming the
reason (503 when the gateway's keys could not be fetched), a refused WebSocket is closed with
1008. ``invoker_dependency`` does the same per route, as a FastAPI dependency.

Verification runs in a worker thread (``anyio.to_thread``): a JWKS fetch or a shared replay
store must not block the event loop.

    app.add_middleware(InvokerMiddleware, verifier=InvokerVerifier(jwks_url=..., issuer=..., audience="crm"))

    @app.get("/agents/run")
    def run(x_invoker: VerifiedInvoker = Depends(invoker_dependency(verifier))): ...
"""

import json
from typing import Any, Callable, Optional
from urllib.parse import quote

import anyio.to_thread

from ._claims import VerifiedInvoker
from ._reasons import PROBLEM_CONTENT_TYPE, InvokerVerificationError
from ._verify import InvokerVerifier


def scope_url(scope: dict) -> str:
    """The absolute URL an ASGI request arrived at, from its Host header and its *raw* path:
    ``scope["path"]`` is percent-decoded, and ``htu`` keeps the encoding the gateway sent."""
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
    if host is None:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    raw = scope.get("raw_path")
    path = raw.decode("latin-1").split("?", 1)[0] if raw else quote(scope["path"])
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
    return f"{scheme}://{host}{scope.get('root_path', '') if not raw else ''}{path}"


def _method(scope: dict) -> str:
    # A WebSocket handshake is a GET (RFC 6455 §4.1), and the gateway signs it as one.
    return scope.get("method", "GET")


class InvokerMiddleware:
    def __init__(self, app: Any, verifier: InvokerVerifier, url: Optional[Callable[[dict], str]] = None):
        self.app = app
        self.verifier = verifier
        self.url = url or scope_url

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            verified = await anyio.to_thread.run_sync(self.verifier.verify, scope["headers"], _method(scope), self.url(scope))
        except InvokerVerificationError as error:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            body = json.dumps(error.problem()).encode()
            await send({"type": "http.response.start", "status": error.status, "headers": [(b"content-type", PROBLEM_CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["x_invoker"] = verified
        await self.app(scope, receive, send)


def invoker_dependency(verifier: InvokerVerifier) -> Callable[..., VerifiedInvoker]:
    """A FastAPI dependency returning the ``VerifiedInvoker``, or raising ``HTTPException`` (401
    or 503) whose detail is the problem (with ``reason``). A plain function: FastAPI runs it in
    its thread pool."""
    from fastapi import HTTPException, Request  # only when FastAPI is used

    def x_invoker(request: Request) -> VerifiedInvoker:
        try:
            return verifier.verify(request.scope["headers"], request.method, scope_url(request.scope))
        except InvokerVerificationError as error:
            raise HTTPException(status_code=error.status, detail=error.problem()) from None

    return x_invoker
