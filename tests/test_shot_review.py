"""Shot review over HTTP: one shot's record, its JPEG inline or as a download, and deleting it
(JPEG + sidecar, the gallery told, only files of the shots folder, behind the token)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from afon.errors import AfonError
from afon.shots import ShotRecord, delete_shot_files
from afon.web.serve import LiveServer, ServeOptions
from waiting import TIMEOUT_S, wait_for

TOKEN = "review-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    out = tmp_path_factory.mktemp("review")
    options = ServeOptions(port=0, preset="50mm-f1.8", out=str(out), lease_s=2.0, token=TOKEN)
    with LiveServer(options) as live:
        yield live


@pytest.fixture()
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.base_url, timeout=TIMEOUT_S, trust_env=False, headers=AUTH
    ) as client:
        yield client


def take_shot(http: httpx.Client) -> dict[str, object]:
    r = http.post("/api/settings", json={"focus_mode": "MF", "drive": "single"})
    assert r.status_code == 200, r.text
    before = {s["n"] for s in http.get("/api/shots").json()["shots"]}
    for action in ("press", "release"):
        r = http.post("/api/control", json={"control": "SHUTTER", "action": action})
        assert r.status_code == 200, r.text

    def new() -> dict[str, object] | None:
        shots = [s for s in http.get("/api/shots").json()["shots"] if s["n"] not in before]
        return shots[0] if shots and shots[0]["image"] else None

    shot: dict[str, object] = wait_for(new, what="a saved shot")
    return shot


def test_one_shot_its_record_and_its_jpeg_inline_or_as_a_download(
    server: LiveServer, http: httpx.Client
) -> None:
    shot = take_shot(http)
    n = shot["n"]
    r = http.get(f"/api/shots/{n}")
    assert r.status_code == 200
    body = r.json()
    assert body["shot"]["n"] == n and body["record"]["settings"]["af_window"]
    assert body["record"]["image_path"].endswith(str(shot["file"]))
    inline = http.get(f"/api/shots/{n}/image")
    assert inline.status_code == 200 and inline.content[:2] == b"\xff\xd8"
    assert inline.headers["content-disposition"] == f'inline; filename="{shot["file"]}"'
    down = http.get(f"/api/shots/{n}/image", params={"download": "1"})
    assert down.headers["content-disposition"] == f'attachment; filename="{shot["file"]}"'
    assert down.content == inline.content
    assert http.get(f"/api/shots/{n}/image", params={"download": "yes"}).status_code == 400
    assert http.get(f"/api/shots/{n}/image", params={"path": "../x"}).status_code == 400
    assert http.get("/api/shots/99999").status_code == 404


def test_delete_removes_jpeg_and_sidecar_and_tells_the_gallery(
    server: LiveServer, http: httpx.Client
) -> None:
    shot = take_shot(http)
    n = shot["n"]
    record = http.get(f"/api/shots/{n}").json()["record"]
    jpeg, sidecar = Path(record["image_path"]), Path(record["record_path"])
    assert jpeg.is_file() and sidecar.is_file()
    ws_url = server.base_url.replace("http://", "ws://") + "/ws"
    with connect(ws_url, proxy=None, additional_headers=AUTH) as ws:  # a second viewer
        r = http.delete(f"/api/shots/{n}")
        assert r.status_code == 200, r.text
        assert sorted(r.json()["files"]) == sorted([jpeg.name, sidecar.name])

        def told() -> dict[str, object] | None:
            data = ws.recv(timeout=TIMEOUT_S)
            msg = json.loads(data) if isinstance(data, str) else {}
            return msg if msg.get("type") == "shot_deleted" else None

        assert wait_for(told, what="the viewer told")["n"] == n
    assert not jpeg.exists() and not sidecar.exists()
    assert n not in [s["n"] for s in http.get("/api/shots").json()["shots"]]
    assert http.get(f"/api/shots/{n}").status_code == 404
    assert http.get(f"/api/shots/{n}/image").status_code == 404
    assert http.get(f"/api/shots/{n}/thumb").status_code == 404
    assert http.delete(f"/api/shots/{n}").status_code == 404  # already gone
    assert http.delete("/api/shots/-1").status_code == 404
    assert http.delete("/api/shots/..%2F..%2Fetc%2Fpasswd").status_code == 404
    # the other shots are still there, and the folder reopens without the deleted one
    from afon.shots import ShotStore

    names = [Path(r.image_path or "").name for r in ShotStore(jpeg.parent, repair=False).records()]
    assert jpeg.name not in names


def test_delete_needs_the_token_and_the_servers_origin(
    server: LiveServer, http: httpx.Client
) -> None:
    shot = take_shot(http)
    n = shot["n"]
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT_S, trust_env=False) as bare:
        assert bare.delete(f"/api/shots/{n}").status_code == 401
        wrong = {"Authorization": "Bearer no"}
        assert bare.delete(f"/api/shots/{n}", headers=wrong).status_code == 401
        foreign = AUTH | {"Origin": "http://evil.example"}
        assert bare.delete(f"/api/shots/{n}", headers=foreign).status_code == 403
    assert http.get(f"/api/shots/{n}").status_code == 200  # not deleted by any of those


def test_delete_touches_only_shot_files_in_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    outside = tmp_path / "precious.jpg"
    outside.write_bytes(b"keep me")
    inside = folder / "shot_00001.jpg"
    inside.write_bytes(b"\xff\xd8")
    other = folder / "notes.json"
    other.write_text("{}")
    base = dict(index=0, pressed_s=0.0, release_s=0.0, exposure_start_s=0.0)
    base |= dict(exposure_end_s=0.0, lens_d=0.0, af_state="INACTIVE", settings={})
    for bad in (str(outside), str(folder / ".." / "precious.jpg"), str(other)):
        record = ShotRecord(**base, image_path=bad)  # type: ignore[arg-type]
        with pytest.raises(AfonError, match="refusing to delete"):
            delete_shot_files(folder, record)
    assert outside.read_bytes() == b"keep me" and other.exists()
    ok = ShotRecord(**base, image_path=str(inside))  # type: ignore[arg-type]
    assert delete_shot_files(folder, ok) == ["shot_00001.jpg"] and not inside.exists()
