"""The Starlette/FastAPI and WSGI/Flask adapters on real apps (Starlette's TestClient over httpx,
Flask's test client)."""

import flask
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
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
