"""The OpenAPI description at /api/openapi.json matches the server's /api/ routes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from afon.web.openapi import OPENAPI, openapi_document
from afon.web.runner import BodyRunner
from afon.web.security import Security
from afon.web.server import Guard, WebApp

HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


class _NoRunner:
    """The routes under test never touch the body loop (no lifespan runs: no `with` client)."""

    camera_name = "none"
    profiles = ("bbf", "canon")


def build(security: Security) -> Guard:
    app = WebApp(cast(BodyRunner, _NoRunner()), security).build()
    assert isinstance(app, Guard)
    return app


def api_routes(app: Guard) -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for route in cast(Any, app.app).routes:
        if isinstance(route, Route) and route.path.startswith("/api/"):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            methods = {m.lower() for m in (route.methods or ())} - {"head"}
            routes.setdefault(path, set()).update(methods)
    return routes


def test_every_api_route_is_described_and_nothing_else() -> None:
    routes = api_routes(build(Security()))
    described = {
        path: {m for m in ops if m in HTTP_METHODS} for path, ops in OPENAPI["paths"].items()
    }
    assert routes == described
    assert all(path.startswith("/api/") for path in described)


def test_document_is_valid_openapi_31() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    schemes = doc["components"]["securitySchemes"]
    assert "tokenQuery" not in schemes  # a token in the URL is refused
    assert schemes["session"]["in"] == "cookie"
    assert schemes["bearer"]["scheme"] == "bearer"
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    for ops in doc["paths"].values():
        for op in ops.values():
            assert "200" in op["responses"] and "401" in op["responses"]
    try:
        from openapi_spec_validator import validate
    except ImportError:  # pragma: no cover - the dev extra installs it
        pytest.skip("openapi-spec-validator is not installed")
    validate(doc)


def test_served_with_the_same_token_rules() -> None:
    open_client = TestClient(build(Security()), base_url="http://127.0.0.1:8000")
    r = open_client.get("/api/openapi.json")
    assert r.status_code == 200 and r.json() == openapi_document(["bbf", "canon"])
    served = r.json()["components"]["schemas"]
    assert served["Settings"]["properties"]["profile"]["enum"] == ["bbf", "canon"]
    assert "enum" not in OPENAPI["components"]["schemas"]["Settings"]["properties"]["profile"]
    paired = TestClient(build(Security("s3cret")), base_url="http://192.168.1.5:8000")
    assert paired.get("/api/openapi.json").status_code == 401
    assert paired.get("/api/openapi.json", params={"token": "nope"}).status_code == 401
    assert paired.get("/api/openapi.json", params={"token": "s3cret"}).status_code == 401
    bearer = {"Authorization": "Bearer s3cret"}
    assert paired.get("/api/openapi.json", headers=bearer).status_code == 200
    foreign = {"Origin": "http://evil.example", "Authorization": "Bearer s3cret"}
    assert paired.get("/api/openapi.json", headers=foreign).status_code == 403


# --- afon serve --keymap: the [keyboard] section of the input key map -----------------------
def test_serve_keymap_reads_the_keyboard_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from afon.cli import main
    from afon.errors import AfonError, ConfigError
    from afon.web import serve as serve_module
    from afon.web.keys import default_keymap
    from afon.web.serve import ServeOptions, browser_keymap

    path = tmp_path / "keymap.toml"
    path.write_text('[gpio]\nAF_ON = 17\n\n[keyboard]\nAF_ON = "Space"\nSHUTTER = "Enter"\n')
    keys = browser_keymap(keymap=str(path))
    assert keys["AF_ON"] == ["Space"] and keys["SHUTTER"] == ["Enter"]
    assert keys["AF_OFF"] == default_keymap()["AF_OFF"]
    no_section = tmp_path / "gpio-only.toml"
    no_section.write_text("[gpio]\nAF_ON = 17\n")
    assert browser_keymap(keymap=str(no_section)) == default_keymap()
    bad = tmp_path / "bad.toml"
    bad.write_text('[keyboard]\nAF_ON = "Key A"\n')
    with pytest.raises(ConfigError, match=r"keyboard\.AF_ON"):
        browser_keymap(keymap=str(bad))
    with pytest.raises(AfonError, match="not both"):
        browser_keymap(keys=str(path), keymap=str(path))
    seen: list[ServeOptions] = []

    def fake_serve(options: ServeOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(serve_module, "serve", fake_serve)
    assert main(["serve", "--keymap", str(path)]) == 0
    assert seen[0].keymap == str(path) and seen[0].keys is None
