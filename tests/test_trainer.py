"""The trainer: drills, scoring, the SQLite history and the `/api/trainer/` endpoints (a real
server on an ephemeral loopback port, the body on the real clock), and the panel in Chromium."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from afon.bench.scenario import load_builtin_scenario
from afon.errors import AfonError
from afon.shots import ShotRecord
from afon.web.serve import LiveServer, ServeOptions
from afon.web.trainer import (
    DRILLS,
    REACTION_ALLOWANCE_S,
    TrainerStore,
    drill_info,
    drill_named,
    score_shots,
)
from waiting import TIMEOUT_S, wait_for

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs/img/trainer.png"


# --- drills and scoring ------------------------------------------------------------------------
def test_drills_cover_the_benchmark_scenarios_with_a_technique() -> None:
    assert [d.scenario for d in DRILLS] == ["portrait", "runner", "bird", "obstacle", "low-light"]
    for d in DRILLS:
        info = drill_info(d)
        assert info["moments"] == len(info["moments_s"]) > 0
        sentences = d.technique.count(". ") + 1
        assert 2 <= sentences <= 4, d.name
    with pytest.raises(AfonError, match=r"'nope'.*recompose, runner"):
        drill_named("nope")
    assert drill_named("low-light").focus_mode == "AF-S"


def shot(
    pressed: float, lag: float | None, in_focus: bool, failure: str | None = None
) -> ShotRecord:
    start = None if lag is None else pressed + lag
    return ShotRecord(
        index=0,
        pressed_s=pressed,
        release_s=pressed,
        exposure_start_s=start,
        exposure_end_s=None if start is None else start + 0.01,
        lens_d=0.4,
        af_state="FOCUSED_LOCKED",
        settings={},
        truth={"in_focus": in_focus},
        failure=failure,
    )


def test_score_of_recorded_shots() -> None:
    scn = load_builtin_scenario("portrait")  # moments 2.8, 3.2, 3.6; tolerance 0.15 s
    assert scn.shoot.moments_s == pytest.approx((2.8, 3.2, 3.6))
    late = scn.shoot.tolerance_s + REACTION_ALLOWANCE_S - 0.05
    records = [
        shot(2.8, 0.06, True),  # caught
        shot(3.2 + late - 0.06, 0.06, True),  # caught, with a human's reaction
        shot(3.6, 0.08, False),  # exposed but out of focus: moment missed
        shot(3.9, None, False, failure="not focused"),  # no exposure
        shot(-0.5, 0.05, True),  # before the drill: ignored
        shot(scn.duration_s + 5.0, 0.05, True),  # long after it: ignored
    ]
    score = score_shots(scn, records)
    assert score == {
        "shots": 4,
        "keepers": 2,
        "keeper_rate": 0.5,
        "lag_median_s": pytest.approx(0.06),
        "moments": 3,
        "missed": 1,
    }
    empty = score_shots(scn, [])
    assert empty["keeper_rate"] is None and empty["lag_median_s"] is None
    assert empty["missed"] == 3 and empty["shots"] == 0


# --- the history -------------------------------------------------------------------------------
def test_store_adds_lists_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "trainer.sqlite"
    store = TrainerStore(path)
    assert not path.exists()  # opened on first use
    assert store.list() == [] and store.list("runner") == []
    assert not path.exists()  # reading does not create it either
    a = {"keeper_rate": 0.5, "lag_median_s": 0.06, "missed": 1, "shots": 4, "moments": 3}
    b = {"keeper_rate": None, "lag_median_s": None, "missed": 3, "shots": 0, "moments": 3}
    store.add("recompose", 1000.0, a)
    store.add("runner", 1001.0, a)
    store.add("recompose", 1002.0, b)
    store.close()

    again = TrainerStore(path)
    rows = again.list("recompose")
    assert [r["started_at"] for r in rows] == [1000.0, 1002.0]  # oldest first
    assert rows[0] | {"id": 0} == {"id": 0, "drill": "recompose", "started_at": 1000.0} | a
    assert rows[1]["keeper_rate"] is None and rows[1]["missed"] == 3
    assert [r["drill"] for r in again.list()] == ["recompose", "runner", "recompose"]
    assert [r["started_at"] for r in again.list(limit=2)] == [1001.0, 1002.0]
    again.close()


def test_store_error_names_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    score = {"keeper_rate": 1.0, "lag_median_s": 0.05, "missed": 0, "shots": 1, "moments": 1}
    with pytest.raises(AfonError, match="trainer history"):
        TrainerStore(blocker / "trainer.sqlite").add("runner", 0.0, score)
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"not a database" * 100)
    with pytest.raises(AfonError, match=r"corrupt\.sqlite"):
        TrainerStore(corrupt).list()


# --- HTTP --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("trainer")
    options = ServeOptions(
        port=0, out=str(tmp / "shots"), trainer_db=str(tmp / "trainer.sqlite"), lease_s=2.0
    )
    with LiveServer(options) as live:
        yield live


@pytest.fixture()
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT_S, trust_env=False) as client:
        yield client


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def control(client: httpx.Client, name: str, action: str) -> None:
    ok(client.post("/api/control", json={"control": name, "action": action}))


def test_drill_over_http_is_scored_and_kept(http: httpx.Client, server: LiveServer) -> None:
    drills = ok(http.get("/api/trainer/drills"))
    assert [d["name"] for d in drills["drills"]] == [d.name for d in DRILLS]
    assert drills["active"] is None

    started = ok(http.post("/api/trainer/start", json={"drill": "recompose"}))
    assert started["drill"]["scenario"] == "portrait"
    state = wait_for(lambda: ok(http.get("/api/state")), what="state")
    wait_for(lambda: ok(http.get("/api/state"))["t_s"] < 1.0, what="the drill's clock")
    assert ok(http.get("/api/trainer/drills"))["active"] == "recompose"
    state = ok(http.get("/api/state"))
    assert state["profile"] == "bbf" and state["drive"] == "single"

    control(http, "AF_ON", "press")
    wait_for(lambda: ok(http.get("/api/state"))["focused"], what="focused")
    control(http, "AF_ON", "release")
    for _ in range(2):
        before = ok(http.get("/api/state"))["shots"]
        control(http, "SHUTTER", "press")
        wait_for(lambda b=before: ok(http.get("/api/state"))["shots"] > b, what="a shot")
        control(http, "SHUTTER", "release")

    score = ok(http.post("/api/trainer/stop"))
    assert score["drill"] == "recompose" and score["shots"] == 2
    assert score["keeper_rate"] == 1.0  # focused on the face, nothing moved yet
    assert 0.0 < score["lag_median_s"] < 0.5
    assert score["moments"] == 3 and 0 <= score["missed"] <= 3
    # stopped before the scenario's end: aborted, scored but kept out of the history
    if score["elapsed_s"] < load_builtin_scenario("portrait").duration_s:
        assert score["aborted"] is True and score["session"] is None
        assert ok(http.get("/api/trainer/history", params={"drill": "recompose"}))["sessions"] == []
    assert ok(http.get("/api/trainer/history", params={"drill": "runner"}))["sessions"] == []
    assert ok(http.get("/api/trainer/drills"))["last_score"]["shots"] == 2
    # the served camera is back, on its own clock
    back = ok(http.get("/api/state"))
    assert back["camera"] == "sim:portrait" and "drill" not in back["camera"]


def test_trainer_errors_are_clear(http: httpx.Client) -> None:
    r = http.post("/api/trainer/start", json={"drill": "marathon"})
    assert r.status_code == 400 and "'marathon'" in r.json()["error"]
    assert r.json()["field"] == "drill"
    r = http.post("/api/trainer/start", json={})
    assert r.status_code == 400 and r.json()["field"] == "drill"
    r = http.post("/api/trainer/start", json={"drill": "runner", "speed": 3})
    assert r.status_code == 400 and "speed" in r.json()["error"]
    r = http.post("/api/trainer/start", content=b"{not json")
    assert r.status_code == 400
    r = http.post("/api/trainer/stop")
    assert r.status_code == 409 and "no drill is running" in r.json()["error"]
    r = http.get("/api/trainer/history", params={"drill": "marathon"})
    assert r.status_code == 400 and "'marathon'" in r.json()["error"]
    r = http.get("/api/trainer/history", params={"limit": "3"})
    assert r.status_code == 400 and "limit" in r.json()["error"]
    r = http.get("/api/trainer/drills", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403


def test_trainer_needs_the_token_off_loopback(tmp_path: Path) -> None:
    options = ServeOptions(
        host="0.0.0.0",
        port=0,
        out=str(tmp_path / "shots"),
        trainer_db=str(tmp_path / "t.sqlite"),
    )
    with LiveServer(options) as live:
        assert live.token is not None
        url = f"http://127.0.0.1:{live.port}"
        with httpx.Client(base_url=url, timeout=TIMEOUT_S, trust_env=False) as client:
            for method, path in (
                ("GET", "/api/trainer/drills"),
                ("POST", "/api/trainer/start"),
                ("POST", "/api/trainer/stop"),
                ("GET", "/api/trainer/history"),
            ):
                r = client.request(method, path, json={"drill": "runner"})
                assert r.status_code == 401, (path, r.text)
            auth = {"Authorization": f"Bearer {live.token}"}
            assert client.get("/api/trainer/drills", headers=auth).status_code == 200
    assert not (tmp_path / "t.sqlite").exists()  # nothing got through to the store


# --- the panel in Chromium -------------------------------------------------------------------
CHROMIUM = Path(os.environ.get("AFON_CHROMIUM", "/usr/bin/chromium"))


def test_trainer_panel_draws_the_learning_curve(server: LiveServer) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright")
    for rate in (0.25, 0.5, 0.75):
        server.trainer_store.add(
            "runner",
            time.time(),
            {"keeper_rate": rate, "lag_median_s": 0.05, "missed": 2, "shots": 8, "moments": 14},
        )
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            # bypass_csp: the page's CSP forbids eval, which wait_for_function uses
            page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            page.goto(server.base_url + "/")
            page.wait_for_selector("#trainer-drill option[value=runner]", state="attached")
            page.select_option("#trainer-drill", "runner")
            page.wait_for_selector("#trainer-curve[data-sessions='3']", state="attached")
            assert page.locator("#trainer-curve circle.point").count() == 3
            assert page.locator("#trainer-curve polyline.keepers").count() == 1
            assert page.locator("#trainer-curve polyline.lag").count() == 1
            assert page.locator("#trainer-curve rect.missed").count() == 3
            assert "AF-ON" in page.locator("#trainer-technique").inner_text()
            # a session from the page stopped at once: scored, marked aborted, not charted
            page.click("#trainer-start")
            page.wait_for_selector("#trainer-stop:enabled")
            # a countdown, then the drill on its own body
            page.wait_for_function("window.afonTrainer.running?.started === true")
            assert [c["text"] for c in page.evaluate("window.afonTrainer.cueLog")][:3] == [
                "3",
                "2",
                "1",
            ]
            page.click("#trainer-stop")
            page.wait_for_selector("#trainer-score:has-text('missed 14/14')")
            assert "aborted" in page.locator("#trainer-score").inner_text()
            assert page.locator("#trainer-curve").get_attribute("data-sessions") == "3"
            assert len(server.trainer_store.list("runner")) == 3
            if not SCREENSHOT.exists():  # the full drill's (test_web_browser) is the better one
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.locator("#trainer-panel").screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()


# --- a drill on its own body (virtual clock) ------------------------------------------------
def _trainer_on_virtual_clock(tmp_path: Path) -> tuple[Any, Any, Any]:
    from afon.body import Body
    from afon.cameras.sim.camera import SimCamera
    from afon.clock import VirtualClock
    from afon.web.runner import BodyRunner
    from afon.web.trainer import Trainer

    cam = SimCamera("portrait", "50mm-f1.8", clock=VirtualClock(), render_frames=False)
    served = Body(cam, "bbf", shots_dir=tmp_path / "shots")
    runner = BodyRunner(served, camera_name="sim:portrait")
    trainer = Trainer(runner, TrainerStore(tmp_path / "t.sqlite"), "96")
    return runner, served, trainer


def test_a_drill_runs_on_its_own_body_and_gives_the_served_one_back(tmp_path: Path) -> None:
    from afon.web.trainer import drill_named

    runner, served, trainer = _trainer_on_virtual_clock(tmp_path)
    served.camera.close = lambda: pytest.fail("a drill closed the served camera")  # type: ignore[method-assign]
    served_lens = served.camera.lens_position_d()
    drill = drill_named("recompose")
    trainer._start(drill, load_builtin_scenario("portrait"))
    body = runner.body
    assert body is not served and runner.camera_name.endswith("(drill recompose)")
    assert body.clock.now_s() == pytest.approx(0.0, abs=1e-9)
    body.af_on.press()
    body.run_for(1.0)
    body.af_on.release()
    body.shutter.press()
    body.run_for(0.3)
    body.shutter.release()
    body.run_until(load_builtin_scenario("portrait").duration_s + 0.1)  # past its end
    score = trainer._stop()
    assert score["aborted"] is False and score["session"] is not None
    assert score["shots"] == 1 and score["behind"] is False
    assert runner.body is served and runner.camera_name == "sim:portrait"
    assert served.on_shot == runner._on_shot
    assert served.camera.lens_position_d() == served_lens  # untouched meanwhile
    assert len(trainer.store.list("recompose")) == 1
    # stopped early: aborted, kept out of the curve
    trainer._start(drill, load_builtin_scenario("portrait"))
    runner.body.run_for(1.0)
    early = trainer._stop()
    assert early["aborted"] is True and early["session"] is None
    assert len(trainer.store.list("recompose")) == 1
    assert runner.body is served


def test_a_score_taken_in_slow_motion_is_flagged(tmp_path: Path) -> None:
    from afon.web.trainer import drill_named

    runner, _served, trainer = _trainer_on_virtual_clock(tmp_path)
    trainer._start(drill_named("runner"), load_builtin_scenario("runner"))
    runner.body.run_until(load_builtin_scenario("runner").duration_s + 0.1)
    runner.loop.slowed += 1  # the loop slowed down during the drill
    score = trainer._stop()
    assert score["behind"] is True


def test_coach_diagnoses_af_on_after_the_recompose(tmp_path: Path) -> None:
    from afon.web.trainer import drill_named

    runner, _served, trainer = _trainer_on_virtual_clock(tmp_path)
    trainer._start(drill_named("recompose"), load_builtin_scenario("portrait"))
    body = runner.body
    body.af_on.press()  # focus on the face ...
    body.run_until(2.0)
    body.af_on.release()
    body.run_until(3.0)  # ... the recompose at 2.3 s ...
    body.af_on.press()  # ... and the mistake: AF-ON again, the AF point on the background
    body.run_until(3.2)
    for t in (3.2, 3.6):
        body.run_until(t)
        body.shutter.press()
        body.run_for(0.1)
        body.shutter.release()
    body.af_on.release()
    body.run_until(load_builtin_scenario("portrait").duration_s + 0.1)
    score = trainer._stop()
    lines = " ".join(score["coaching"])
    assert "AF-ON pressed at 3.0 s after the recompose (2.3 s)" in lines, lines
    assert "out of focus with AF-ON held" in lines, lines
    assert score["missed"] >= 2
    tl = score["timeline"]
    assert tl["recompose_s"] == 2.3 and len(tl["moments"]) == 3
    assert any(s["af_on"] for s in tl["samples"]) and tl["samples"][0]["t"] < 0.1
    assert all(s["subject_d"] is not None for s in tl["samples"])
    assert [s["in_focus"] for s in tl["shots"]] == [False, False]


def test_levels_tighten_the_moment_window_and_shutter_af_is_a_technique(tmp_path: Path) -> None:
    from afon.web.trainer import LEVELS, drill_named, moment_window_s

    scn = load_builtin_scenario("portrait")
    windows = [moment_window_s(scn, level) for level in sorted(LEVELS)]
    assert windows == sorted(windows, reverse=True) and windows[0] > windows[-1]
    runner, _served, trainer = _trainer_on_virtual_clock(tmp_path)
    trainer._start(drill_named("recompose"), scn, technique="shutter", level=3)
    assert runner.body.profile.name == "shutter-af"
    runner.body.run_until(scn.duration_s + 0.1)
    score = trainer._stop()
    assert score["technique"] == "shutter" and score["level"] == 3
    assert trainer.store.list("recompose:shutter:L3")  # its own curve
    assert not trainer.store.list("recompose")
    with pytest.raises(AfonError, match="technique"):
        trainer.start(drill_named("recompose"), technique="eye")
    with pytest.raises(AfonError, match="level"):
        trainer.start(drill_named("recompose"), level=7)
