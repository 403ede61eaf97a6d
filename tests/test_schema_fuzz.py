"""Every HTTP route fuzzed from afon's own OpenAPI document with schemathesis: the app as
`afon serve` builds it (paired with a token, the simulated camera's body loop running), called
in-process over ASGI. No 5xx, and every answer (status, content type, headers, body) conforms to
the document. Derandomized and bounded, so a CI failure reproduces."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")  # the dev extra installs it
from hypothesis import HealthCheck, settings  # noqa: E402

from afon.profile import builtin_profile_names  # noqa: E402
from afon.web.limits import RateLimiter  # noqa: E402
from afon.web.openapi import OPENAPI, openapi_document  # noqa: E402
from afon.web.serve import LiveServer, ServeOptions  # noqa: E402
from afon.web.server import Guard  # noqa: E402
from afon.web.trainer import DRILLS  # noqa: E402

TOKEN = "fuzzing-pairing-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_EXAMPLES = 15
"""Per operation and phase: enough to reach every enum, bound and error branch of a model."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`afon serve --token` without uvicorn: its camera, body loop, trainer and app."""
    tmp = tmp_path_factory.mktemp("fuzz")
    live = LiveServer(
        ServeOptions(
            port=0,
            token=TOKEN,
            out=str(tmp / "shots"),
            trainer_db=str(tmp / "trainer.sqlite"),
            lease_s=1.0,
        )
    )
    live.socket.close()  # no listener: the fuzzer calls the app directly
    guard = live.app
    assert isinstance(guard, Guard)
    # the request rate limit has its own tests (test_web_limits); here it would answer the
    # fuzzer's hundreds of requests a second with 429 before they reach the routes
    guard.http_rate = RateLimiter(rate_per_s=1e9, burst=1e9)
    live.runner.start()
    try:
        yield live
    finally:
        live.runner.stop()
        live.trainer_store.close()


class _Proxy:
    """The ASGI app the schema calls: the module's served app once the fixture has built it
    (pytest collects the operations before any fixture runs)."""

    target: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return  # the fixture runs the body loop; schemathesis must not start a second one
        assert self.target is not None, "the served fixture builds the app"
        await self.target(scope, receive, send)


PROXY = _Proxy()
# the document `afon serve` serves (the fixture checks /api/openapi.json is exactly this)
DOCUMENT = openapi_document(builtin_profile_names(), [d.name for d in DRILLS])
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.app = PROXY


@pytest.fixture(scope="module")
def app(served: LiveServer) -> Iterator[Any]:
    from starlette.testclient import TestClient

    PROXY.target = served.app
    client = TestClient(served.app, base_url="http://testserver")  # no `with`: no lifespan
    assert client.get("/api/openapi.json", headers=AUTH).json() == DOCUMENT
    yield PROXY
    PROXY.target = None


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_route_answers_by_its_description(case: Any, app: Any) -> None:
    case.call_and_validate(headers=AUTH)


def test_the_fuzzer_reaches_every_operation() -> None:
    """The fuzzer sees every operation of the document."""
    ops = {(op.method.lower(), op.path) for op in (r.ok() for r in schema.get_all_operations())}
    described = {(m, p) for p, methods in OPENAPI["paths"].items() for m in methods}
    assert ops == described and len(ops) >= 14


# --- what the fuzzer found, each pinned down -------------------------------------------------
@pytest.fixture()
def client(served: LiveServer) -> Any:
    from starlette.testclient import TestClient

    return TestClient(served.app, base_url="http://testserver", headers=AUTH)  # no lifespan


def _valid(instance: Any, name: str) -> bool:
    import jsonschema

    resolver_doc = {"components": DOCUMENT["components"]} | _ref(name)
    return jsonschema.Draft202012Validator(resolver_doc).is_valid(instance)


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def test_the_served_document_names_the_profiles_and_drills_this_server_has(client: Any) -> None:
    doc = client.get("/api/openapi.json").json()
    info = client.get("/api/info").json()
    assert doc["components"]["schemas"]["Settings"]["properties"]["profile"]["enum"] == (
        info["profiles"]
    )
    drills = [d["name"] for d in client.get("/api/trainer/drills").json()["drills"]]
    assert doc["components"]["schemas"]["DrillStart"]["properties"]["drill"]["enum"] == drills


def test_a_settings_request_must_change_something() -> None:
    assert not _valid({"id": 7}, "Settings")
    assert _valid({"drive": "single", "id": 7}, "Settings")


def test_state_conflicts_are_409_not_400(client: Any) -> None:
    assert client.post("/api/settings", json={"focus_mode": "AF-C"}).status_code == 200
    r = client.post("/api/settings", json={"lens_d": 1.0})
    assert r.status_code == 409 and "manual focus needs MF" in r.json()["error"]
    assert client.post("/api/settings", json={"focus_mode": "MF", "lens_d": 1.0}).status_code == 200
    r = client.post("/api/trainer/stop")
    assert r.status_code == 409 and "no drill is running" in r.json()["error"]
    r = client.post("/api/keys", json={"AF_OFF": "KeyA"})  # KeyA is AF-ON's by default
    assert r.status_code == 409 and "already bound to AF_ON" in r.json()["error"]
    assert r.json()["field"] == "AF_OFF"


def test_integers_may_be_written_as_json_numbers_with_no_fraction(client: Any) -> None:
    press = {"control": "AF_POINT_CENTRE", "action": "press", "id": 3.0}
    r = client.post("/api/control", json=press)
    assert r.status_code == 200
    client.post("/api/control", json={"control": "AF_POINT_CENTRE", "action": "release"})
    for bad in (2.5, True, 2.0**60):  # ("3" is an id too: short text)
        r = client.post("/api/control", json={"control": "AF_ON", "action": "press", "id": bad})
        assert r.status_code == 400 and r.json()["field"] == "id", bad


def test_unknown_api_routes_and_methods_answer_json(client: Any) -> None:
    r = client.get("/api/shots/-1/image")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    assert "no such route" in r.json()["error"]
    r = client.delete("/api/state")
    assert r.status_code == 405 and r.json()["error"].startswith("method DELETE not allowed")
    assert "GET" in r.headers["allow"]
    assert client.get("/no/such/page").headers["content-type"].startswith("text/plain")


def test_keys_body_with_something_beside_keys_is_refused(client: Any) -> None:
    r = client.post("/api/keys", json={"keys": {"AF_ON": "Space"}, "extra": 1})
    assert r.status_code == 400 and r.json()["field"] == "extra"
    assert not _valid({"x-unknown": ""}, "KeyMap") and not _valid({"AF_ON": "Key A"}, "KeyMap")
    assert _valid({"AF_ON": ["Space", "KeyA"], "SHUTTER": "Enter"}, "KeyMap")
    r = client.post("/api/keys", json={"keys": {"AF_ON": "Space"}})
    assert r.status_code == 200 and r.json()["keys"]["AF_ON"] == ["Space"]


def test_history_checks_technique_and_level_without_a_drill(client: Any) -> None:
    assert client.get("/api/trainer/history", params={"technique": "AAA"}).status_code == 400
    assert client.get("/api/trainer/history", params={"level": "9"}).status_code == 400
    assert client.get("/api/trainer/history", params={"level": "-1"}).status_code == 400
    r = client.get("/api/trainer/history", params={"drill": "recompose", "level": "2"})
    assert r.status_code == 200 and r.json()["drill"] == "recompose:bbf:L2"


def test_true_and_false_are_not_the_numbers_1_and_0(client: Any) -> None:
    for value in (False, True):
        r = client.post("/api/settings", json={"magnify": value})
        assert r.status_code == 400 and r.json()["field"] == "magnify", value
    assert client.post("/api/settings", json={"magnify": 0}).status_code == 200
