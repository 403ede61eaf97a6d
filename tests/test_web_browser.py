"""`afon serve` in real headless Chromium (Debian's chromium package, driven by Playwright).

The server runs in-process on an ephemeral 127.0.0.1 port with the body on the real clock; the
tests wait on conditions (the body's state, the page's state), never on fixed sleeps.
Skipped when Playwright or the browser is missing (install: `apt-get install -y chromium`;
another binary: AFON_CHROMIUM=/path/to/chromium).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from afon.web.serve import LiveServer, ServeOptions
from waiting import TIMEOUT_S, wait_for

CHROMIUM = Path(os.environ.get("AFON_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(
        f"browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need Playwright (pip install playwright)"
)

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs/img/viewfinder.png"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
GREEN = (0x22, 0xDD, 0x44)  # the AF frame and focus confirm when focused (app.js COLORS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    out = tmp_path_factory.mktemp("browser-shots")
    # 50 mm f/1.8: shallow enough that focusing on the background leaves the face out of focus
    with LiveServer(ServeOptions(port=0, preset="50mm-f1.8", out=str(out))) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Playwright's launch() always starts from a fresh temporary profile (--user-data-dir)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


def body_state(server: LiveServer) -> dict[str, Any]:
    return server.runner.state


def settle(server: LiveServer) -> None:
    """No control held, bbf profile, AF point in the centre."""
    server.runner.settings({"profile": "bbf", "af_point": (0.5, 0.5)}).result(TIMEOUT_S)
    wait_for(lambda: not body_state(server)["held"], what="nothing held")


def open_page(browser: Any, url: str, **context: Any) -> Any:
    # bypass_csp: the page's CSP forbids eval, which Playwright's wait_for_function uses
    ctx = browser.new_context(bypass_csp=True, **context)
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_S * 1000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.errors = errors
    return page


def wait_live(page: Any) -> None:
    page.wait_for_function("window.afon && window.afon.connected && window.afon.stats.drawn > 2")


def tap(page: Any, key: str) -> None:
    page.keyboard.down(key)
    page.keyboard.up(key)


def test_keyboard_af_on_focuses_then_recompose_and_shoot(server: LiveServer, browser: Any) -> None:
    settle(server)
    page = open_page(browser, server.local_url, viewport={"width": 1280, "height": 860})
    wait_live(page)
    before = len(server.runner.shots)
    acks = lambda: page.evaluate("window.afon.stats.acks.length")  # noqa: E731

    # key auto-repeat is not a press: a held arrow moves the AF point once
    n = acks()
    page.keyboard.down("ArrowLeft")
    page.keyboard.down("ArrowLeft")  # auto-repeat (event.repeat = true)
    page.keyboard.up("ArrowLeft")
    wait_for(lambda: acks() >= n + 2, what="press and release acknowledged")
    assert body_state(server)["af_window"][0] == pytest.approx(0.45, abs=1e-6)
    for _ in range(3):  # the AF point onto the face at x = 0.3
        tap(page, "ArrowLeft")
    wait_for(lambda: abs(body_state(server)["af_window"][0] - 0.3) < 1e-6, what="AF point at 0.3")

    # hold AF-ON (A): AF-C focuses; the page shows focus confirm
    locked = ("FOCUSED_LOCKED", "NOT_FOCUSED_LOCKED")
    for _attempt in range(3):
        page.keyboard.down("KeyA")
        wait_for(lambda: body_state(server)["af_state"] == "PASSIVE_FOCUSED", what="AF focused")
        page.wait_for_function("window.afon.state.focused === true")
        page.keyboard.up("KeyA")
        wait_for(lambda: body_state(server)["af_state"] in locked, what="AF locked")
        # let go during a re-scan, the body locks NOT_FOCUSED (Camera2); a photographer re-presses
        if body_state(server)["af_state"] == "FOCUSED_LOCKED":
            break
    assert body_state(server)["af_state"] == "FOCUSED_LOCKED", body_state(server)

    # recompose: the AF point goes back to the centre (the background); the focus stays locked
    for _ in range(4):
        tap(page, "ArrowRight")
    wait_for(lambda: abs(body_state(server)["af_window"][0] - 0.5) < 1e-6, what="recomposed")
    assert body_state(server)["af_state"] == "FOCUSED_LOCKED"

    # full press (G), held: a burst in continuous drive
    page.keyboard.down("KeyG")
    wait_for(lambda: len(server.runner.shots) >= before + 2, what="a burst of shots")
    page.keyboard.up("KeyG")
    wait_for(lambda: "SHUTTER_FULL" not in body_state(server)["held"], what="shutter released")
    shots = server.runner.shots[before:]
    assert all(s["ok"] and s["in_focus"] is True for s in shots), shots
    page.wait_for_function(
        f"document.querySelectorAll('#gallery li.in-focus').length >= {len(shots)}"
    )
    assert page.locator("#gallery li.out-of-focus").count() == 0
    page.wait_for_function(
        "[...document.querySelectorAll('#gallery li.in-focus img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert "bbf" in page.locator("#gallery li.in-focus").first.inner_text()

    # the overlay: the AF frame is drawn in the focus-confirm green where the AF window is
    page.wait_for_function("window.afon.state.af_state === 'FOCUSED_LOCKED'")
    frames = page.evaluate("window.afon.stats.drawn")
    page.wait_for_function(f"window.afon.stats.drawn > {frames + 2}")
    check_af_frame_overlay(page)
    confirm = page.locator("#confirm").evaluate("e => getComputedStyle(e).backgroundColor")
    assert confirm == "rgb(34, 221, 68)"
    assert "FOCUSED_LOCKED" in page.locator("#af-state").inner_text()
    if os.environ.get("AFON_UPDATE_SCREENSHOTS") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))

    # view toggles: peaking and a 3× magnified view around the AF point
    width = page.evaluate("window.afon.afFrameRect().w")
    tap(page, "KeyM")
    tap(page, "KeyP")
    page.wait_for_function("window.afon.magnify && window.afon.peaking")
    frames = page.evaluate("window.afon.stats.drawn")
    page.wait_for_function(f"window.afon.stats.drawn > {frames + 1}")
    assert page.evaluate("window.afon.afFrameRect().w") == pytest.approx(3 * width, rel=1e-6)
    assert page.errors == []
    page.context.close()


def check_af_frame_overlay(page: Any) -> None:
    """Pixels of the AF frame colour along the frame's edges, at the expected position."""
    from PIL import Image

    rect = page.evaluate("window.afon.afFrameRect()")
    box = page.locator("#vf").bounding_box()
    png = page.locator("#vf").screenshot()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    sx = image.width / rect["canvasW"]
    sy = image.height / rect["canvasH"]
    assert abs(image.width - box["width"]) <= 2
    x0, x1 = rect["x"] * sx, (rect["x"] + rect["w"]) * sx
    y0, y1 = rect["y"] * sy, (rect["y"] + rect["h"]) * sy
    samples = []
    for k in range(1, 20):
        t = k / 20
        samples += [
            (x0 + t * (x1 - x0), y0),
            (x0 + t * (x1 - x0), y1),
            (x0, y0 + t * (y1 - y0)),
            (x1, y0 + t * (y1 - y0)),
        ]
    pixels = [image.getpixel((round(x), round(y))) for x, y in samples]
    green = [p for p in pixels if all(abs(int(c) - g) <= 40 for c, g in zip(p, GREEN, strict=True))]
    assert len(green) >= 0.9 * len(pixels), f"{len(green)}/{len(pixels)} AF-frame pixels green"
    # and not everywhere: the middle of the frame is the picture
    middle = image.getpixel((round((x0 + x1) / 2) + 12, round((y0 + y1) / 2) + 12))
    assert middle != GREEN


def test_touch_buttons_on_a_phone(server: LiveServer, browser: Any) -> None:
    settle(server)
    page = open_page(
        browser,
        server.local_url,
        viewport={"width": 390, "height": 844},
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
    )
    wait_live(page)
    buttons = {}
    for name in ("af-on-btn", "shutter-btn"):
        box = page.locator(f"#{name}").bounding_box()
        # big, and on screen without scrolling, at the bottom: within reach of one thumb
        assert box["height"] >= 80 and box["width"] >= 150, (name, box)
        assert box["y"] + box["height"] <= 844 and box["y"] > 844 / 2, (name, box)
        buttons[name] = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    cdp = page.context.new_cdp_session(page)

    def touch(kind: str, *points: tuple[float, float]) -> None:
        cdp.send(
            "Input.dispatchTouchEvent",
            {
                "type": kind,
                "touchPoints": [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)],
            },
        )

    held = lambda: body_state(server)["held"]  # noqa: E731
    touch("touchStart", buttons["af-on-btn"])
    wait_for(lambda: "AF_ON" in held(), what="AF-ON pressed by touch")
    wait_for(lambda: body_state(server)["af_state"] == "PASSIVE_FOCUSED", what="focused")
    page.wait_for_function("document.querySelector('#af-on-btn').classList.contains('held')")
    touch("touchEnd")
    wait_for(lambda: "AF_ON" not in held(), what="AF-ON released by touch")
    assert body_state(server)["af_state"] in ("FOCUSED_LOCKED", "NOT_FOCUSED_LOCKED")

    # thumb on AF-ON, finger on the shutter: AF-C tracks while the burst runs
    before = len(server.runner.shots)
    touch("touchStart", buttons["af-on-btn"])
    touch("touchStart", buttons["af-on-btn"], buttons["shutter-btn"])
    wait_for(lambda: {"AF_ON", "SHUTTER_FULL"} <= set(held()), what="both held")
    wait_for(lambda: len(server.runner.shots) >= before + 1, what="a shot")
    touch("touchEnd")
    wait_for(lambda: not held(), what="both released")

    # a cancelled touch (the system took the gesture) lets go too
    touch("touchStart", buttons["af-on-btn"])
    wait_for(lambda: "AF_ON" in held(), what="AF-ON pressed")
    touch("touchCancel")
    wait_for(lambda: "AF_ON" not in held(), what="AF-ON released on pointercancel")
    assert page.errors == []
    page.context.close()


def test_closing_the_page_lets_go(server: LiveServer, browser: Any) -> None:
    settle(server)
    page = open_page(browser, server.local_url)
    wait_live(page)
    page.keyboard.down("KeyA")
    wait_for(lambda: "AF_ON" in body_state(server)["held"], what="AF-ON held")
    page.context.close()  # no keyup ever arrives
    wait_for(lambda: "AF_ON" not in body_state(server)["held"], what="AF-ON released")


def test_keys_are_configurable_from_the_page(server: LiveServer, browser: Any) -> None:
    settle(server)
    page = open_page(browser, server.local_url)
    wait_live(page)
    assert "AF-ON (hold)" in page.locator("#legend").inner_text()
    page.locator("#keys-panel summary").click()
    page.locator("#keys-table button[data-action='AF_ON']").click()
    page.keyboard.press("KeyQ")
    page.wait_for_function("window.afon.keymap.AF_ON[0] === 'KeyQ'")
    assert page.locator("#af-on-btn kbd").inner_text() == "Q"
    page.keyboard.down("KeyQ")
    wait_for(lambda: "AF_ON" in body_state(server)["held"], what="AF-ON on the new key")
    page.keyboard.up("KeyQ")
    wait_for(lambda: "AF_ON" not in body_state(server)["held"], what="released")
    # a wrong key map is refused with the field named, and the old one stays
    page.locator("#keys-json").fill('{"AF_ON": ["KeyS"]}')
    page.locator("#keys-apply").click()
    page.wait_for_function("document.querySelector('#keys-error').textContent.includes('AF_ON')")
    assert "already bound" in page.locator("#keys-error").inner_text()
    page.locator("#keys-reset").click()
    page.wait_for_function("window.afon.keymap.AF_ON[0] === 'KeyA'")
    page.context.close()


@pytest.fixture(scope="module")
def paired() -> Iterator[LiveServer]:
    with (
        tempfile.TemporaryDirectory() as out,
        LiveServer(ServeOptions(port=0, token="browser-pair", out=out)) as live,
    ):
        yield live


def test_remote_page_without_token_is_refused(
    paired: LiveServer, server: LiveServer, browser: Any
) -> None:
    page = open_page(browser, paired.base_url + "/")
    page.wait_for_function("document.querySelector('#conn').textContent.includes('token')")
    assert "pairing token needed" in page.locator("#conn").inner_text()
    assert paired.runner.hub.viewers == 0
    assert page.locator("#token-form").is_visible()
    page.locator("#token-input").fill("browser-pair")
    page.locator("#token-form button").click()
    wait_live(page)
    assert paired.runner.hub.viewers == 1
    page.context.close()

    # a page from another origin (the other server) with the right token: refused (403)
    page = open_page(browser, server.base_url + "/")
    wait_live(page)
    url = paired.base_url.replace("http://", "ws://") + "/ws?token=browser-pair"
    result = page.evaluate(
        """url => new Promise(resolve => {
             const ws = new WebSocket(url);
             ws.onopen = () => { resolve('open'); ws.close(); };
             ws.onclose = () => resolve('refused');
           })""",
        url,
    )
    assert result == "refused"
    page.context.close()
