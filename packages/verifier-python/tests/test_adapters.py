"""The Starlette/FastAPI and WSGI/Flask adapters on real apps (Starlette's TestClient over httpx,
a real uvicorn server where a client library would clean the path, Flask's test client)."""

import json
import socket
import threading
import time

import flask
import uvicorn
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from helpers import ISSUER, Key
from invoker_verifier import InvokerVerifier, MemoryReplayCache, VerifiedInvoker
from invoker_verifier.starlette import InvokerMiddleware, invoker_dependency
from invoker_verifier.wsgi import ENVIRON_KEY, InvokerWSGIMiddleware, init_flask

KEY = Key("k1")


def verifier(**extra):
    return InvokerVerifier(ISSUER, "crm", jwks={"keys": [KEY.jwk]}, **extra)


def test_starlette_middleware_sets_state_and_refuses_with_the_reason():
    async def run(request):
        return JSONResponse({"id": request.state.x_invoker.invoker["id"], "body_verified": request.state.x_invoker.body_verified})

    app = Starlette(routes=[Route("/files/{name}", run)])
    app.add_middleware(InvokerMiddleware, verifier=verifier(replay_cache=MemoryReplayCache()))
    client = TestClient(app, base_url="http://b.test")
    # The raw, percent-encoded path is what htu carries (scope["path"] would be decoded).
    token = KEY.token("http://b.test/files/a%20b")
    response = client.get("/files/a%20b?x=1", headers={"x-invoker": token})
    assert response.status_code == 200, response.text
    assert response.json() == {"id": "apikey:ci", "body_verified": True}
    replayed = client.get("/files/a%20b", headers={"x-invoker": token})
    assert replayed.status_code == 401
    assert replayed.headers["content-type"] == "application/problem+json"
    assert replayed.json()["reason"] == "replayed"
    assert client.get("/files/a%20b").json()["reason"] == "missing"
    assert client.get("/files/other", headers={"x-invoker": KEY.token("http://b.test/files/a%20b")}).json()["reason"] == "wrong_request"


def test_fastapi_dependency():
    app = FastAPI()
    dependency = invoker_dependency(verifier())

    @app.post("/run")
    def run(x_invoker: VerifiedInvoker = Depends(dependency)):
        return {"id": x_invoker.invoker["id"], "request_id": x_invoker.request_id}

    client = TestClient(app, base_url="http://b.test")
    response = client.post("/run", headers={"x-invoker": KEY.token("http://b.test/run", method="POST", jti="r-1")})
    assert response.status_code == 200, response.text
    assert response.json() == {"id": "apikey:ci", "request_id": "r-1"}
    refused = client.post("/run", headers={"x-invoker": KEY.token("http://b.test/run", method="GET")})
    assert refused.status_code == 401
    assert refused.json()["detail"]["reason"] == "wrong_request"


def test_flask_init_sets_g_and_refuses_with_the_reason():
    app = flask.Flask(__name__)
    init_flask(app, verifier())

    @app.route("/run", methods=["POST"])
    def run():
        return {"id": flask.g.x_invoker.invoker["id"], "method": flask.g.x_invoker.auth["method"]}

    client = app.test_client()
    response = client.post("http://b.test/run?q=1", headers={"x-invoker": KEY.token("http://b.test/run", method="POST")})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"id": "apikey:ci", "method": "api_key"}
    refused = client.post("http://b.test/run", headers={"x-invoker": KEY.token("http://b.test/run", method="POST", exp=1)})
    assert refused.status_code == 401
    assert refused.content_type == "application/problem+json"
    assert refused.get_json()["reason"] == "expired"


def test_wsgi_middleware_on_any_wsgi_app():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ[ENVIRON_KEY].invoker["id"].encode()]

    wrapped = flask.Flask(__name__)
    wrapped.wsgi_app = InvokerWSGIMiddleware(app, verifier())
    client = wrapped.test_client()
    assert client.get("http://b.test/x", headers={"x-invoker": KEY.token("http://b.test/x")}).get_data(as_text=True) == "apikey:ci"
    refused = client.get("http://b.test/x", headers={"x-invoker": KEY.token("http://b.test/x", iss="https://evil.test")})
    assert refused.status_code == 401 and refused.get_json()["reason"] == "issuer"


# A path the gateway never forwards (it normalises before deciding and forwards what it decided on,
# which is htu's path), each spelled so that a router that does not resolve dot segments dispatches
# it to /admin, or to another route than /hello. Each must be wrong_request for a token bound to /hello.
ADMIN_SPELLINGS = ["/admin/../hello", "/admin/%2e%2e/hello", "/admin/%2E%2E/hello", "/admin/x/%2E%2e/../hello"]
OTHER_SPELLINGS = ["/./hello", "//hello", "/hello/", "/h%65llo", "/%68ello"]


def _raw_get(port, path, token, host):
    """One request with the path exactly as written (HTTP clients would resolve or re-encode it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Invoker: {token}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def test_starlette_on_uvicorn_refuses_every_path_spelling_the_router_reads_otherwise():
    async def hello(request):
        return JSONResponse({"handler": "hello"})

    async def admin(request):
        return JSONResponse({"handler": "admin", "caller": request.state.x_invoker.invoker["id"]})

    app = Starlette(routes=[Route("/hello", hello), Mount("/admin", routes=[Route("/{rest:path}", admin)])])
    app.add_middleware(InvokerMiddleware, verifier=verifier())
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        host = f"127.0.0.1:{port}"
        token = KEY.token(f"http://{host}/hello")
        assert _raw_get(port, "/hello", token, host) == (200, {"handler": "hello"})
        for path in ADMIN_SPELLINGS + OTHER_SPELLINGS:
            status, body = _raw_get(port, path, token, host)
            assert (status, body.get("reason")) == (401, "wrong_request"), (path, body)
        # The router really does send these to /admin when the token is bound there.
        for path in ADMIN_SPELLINGS:
            assert _raw_get(port, path, KEY.token(f"http://{host}{path}"), host) == (200, {"handler": "admin", "caller": "apikey:ci"})
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


def test_flask_refuses_every_path_spelling_the_router_reads_otherwise():
    app = flask.Flask(__name__)
    init_flask(app, verifier())

    @app.route("/hello")
    def hello():
        return {"handler": "hello"}

    @app.route("/admin/<path:rest>")
    def admin(rest):
        return {"handler": "admin"}

    client = app.test_client()
    token = KEY.token("http://b.test/hello")
    assert client.get("http://b.test/hello", headers={"x-invoker": token}).get_json() == {"handler": "hello"}
    for path in ADMIN_SPELLINGS + OTHER_SPELLINGS:
        refused = client.get(f"http://b.test{path}", headers={"x-invoker": token})
        assert (refused.status_code, refused.get_json()["reason"]) == (401, "wrong_request"), path
    # Werkzeug's router sends PATH_INFO /admin/../hello to /admin: only the check above keeps the token out.
    assert client.get("http://b.test/admin/%2e%2e/hello", headers={"x-invoker": KEY.token("http://b.test/admin/%2e%2e/hello")}).get_json() == {"handler": "admin"}
