"""The Python backend of the end-to-end test: a Starlette app behind the package's
InvokerMiddleware, under uvicorn, started by test/e2e/verifier-backends.test.ts (twice: two
replicas sharing a Redis replay cache). It answers what it verified; a refused token gets the
middleware's 401 problem+json with the reason."""

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from invoker_verifier import InvokerVerifier, MemoryReplayCache
from invoker_verifier.starlette import InvokerMiddleware

if os.environ.get("REDIS_URL"):
    # The README's Redis example, extracted from README.md by the test into readme_replay.py.
    from readme_replay import RedisReplayCache

    replay_cache = RedisReplayCache()
else:
    replay_cache = MemoryReplayCache()

verifier = InvokerVerifier(
    jwks_url=os.environ["JWKS_URL"],
    issuer=os.environ["ISSUER"],
    audience=os.environ["AUDIENCE"],
    clock_tolerance=float(os.environ.get("CLOCK_TOLERANCE", "5")),
    # A replica behind a load balancer sees its own address; the gateway forwarded to the balancer's.
    url_rewrite=(os.environ["REWRITE_FROM"], os.environ["REWRITE_TO"]) if os.environ.get("REWRITE_FROM") else None,
    replay_cache=replay_cache,
)


async def echo(request: Request) -> JSONResponse:
    verified = request.state.x_invoker
    body = await request.body()
    return JSONResponse({
        "backend": "python",
        "x_invoker": request.headers["x-invoker"],
        "invoker": verified.invoker,
        "auth": verified.auth,
        "body_verified": verified.body_verified,
        "request_id": verified.request_id,
        "method": request.method,
        "body_bytes": len(body),
    })


app = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "DELETE"])])
app.add_middleware(InvokerMiddleware, verifier=verifier)
