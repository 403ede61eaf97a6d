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

from afon.web.security import SESSION_COOKIE
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
    options = ServeOptions(
        port=0, preset="50mm-f1.8", out=str(out), trainer_db=str(out / "trainer.sqlite")
    )
    with LiveServer(options) as live:
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
        # as a photographer does, keep holding a moment after the confirm (0.4 s of the
        # camera's own time, not the wall clock's) and let go while it still says focused
        t0 = page.evaluate("window.afon.state.t_s")
        page.wait_for_function(
            f"window.afon.state.t_s > {t0} + 0.4 && window.afon.state.focused === true"
        )
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

    # view toggles: peaking, and the magnifier: 5×, 10× (the sensor's region), off
    width = page.evaluate("window.afon.afFrameRect().w")
    tap(page, "KeyM")
    tap(page, "KeyP")
    page.wait_for_function(
        "window.afon.magnify === 5 && window.afon.state.magnify_rect && window.afon.peaking"
    )
    frames = page.evaluate("window.afon.stats.drawn")
    page.wait_for_function(f"window.afon.stats.drawn > {frames + 1}")
    assert page.evaluate("window.afon.afFrameRect().w") == pytest.approx(5 * width, rel=1e-6)
    assert page.locator("#magnify-btn").get_attribute("aria-pressed") == "true"
    tap(page, "KeyM")
    page.wait_for_function("window.afon.magnify === 10 && window.afon.state.magnify_rect")
    page.wait_for_function("document.getElementById('magnify-label').textContent === '×10 sensor'")
    assert body_state(server)["magnify_native"] is True
    tap(page, "KeyM")
    page.wait_for_function("window.afon.magnify === 0 && !window.afon.state.magnify_rect")
    tap(page, "KeyP")
    page.wait_for_function("!window.afon.peaking")
    assert page.errors == []
    page.context.close()


COUNT_COLOUR = """([r, g, b]) => {
  const c = document.getElementById('vf');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] === r && d[i + 1] === g && d[i + 2] === b) n++;
  return n;
}"""


def test_peaking_colour_and_threshold_are_adjustable_and_kept(
    server: LiveServer, browser: Any
) -> None:
    settle(server)
    page = open_page(browser, server.local_url, viewport={"width": 1280, "height": 860})
    wait_live(page)
    yellow = page.evaluate("window.afon.peakColors.yellow")
    page.locator("#peak-color").select_option("yellow")
    set_threshold = (
        "t => { const e = document.getElementById('peak-threshold'); e.value = String(t);"
        " e.dispatchEvent(new Event('input')); }"
    )
    page.evaluate(set_threshold, 16)
    tap(page, "KeyP")
    page.wait_for_function("window.afon.peaking && window.afon.peakThreshold === 16")

    def painted() -> int:
        frames = page.evaluate("window.afon.stats.drawn")
        page.wait_for_function(f"window.afon.stats.drawn > {frames + 1}")
        return int(page.evaluate(COUNT_COLOUR, yellow))

    low = painted()
    page.evaluate(set_threshold, 150)
    page.wait_for_function("window.afon.peakThreshold === 150")
    high = painted()
    assert low > 0 and high < low / 2, (low, high)
    # kept across a reload, as the page's other viewfinder settings
    page.reload()
    wait_live(page)
    kept = "[window.afon.peaking, window.afon.peakColor, window.afon.peakThreshold]"
    assert page.evaluate(kept) == [True, "yellow", 150]
    assert page.locator("#peak-threshold").input_value() == "150"
    assert page.locator("#peak-color").input_value() == "yellow"
    assert page.errors == []
    page.context.close()


def test_shot_review_full_size_af_point_100_percent_download_delete(
    server: LiveServer, browser: Any
) -> None:
    settle(server)
    runner = server.runner
    runner.settings({"focus_mode": "MF", "drive": "single", "af_point": (0.3, 0.45)}).result(
        TIMEOUT_S
    )
    page = open_page(browser, server.local_url, viewport={"width": 1280, "height": 860})
    wait_live(page)
    # earlier tests' stills may still be in the buffer: they land first
    wait_for(lambda: not (body_state(server)["buffer"] or [0])[0], what="the buffer written")
    before = len(runner.shots)
    tap(page, "KeyG")

    def saved() -> dict[str, Any] | None:
        mine = [s for s in runner.shots[before:] if s["settings"]["focus_mode"] == "MF"]
        return mine[0] if mine and mine[0]["image"] else None

    shot = wait_for(saved, what="the MF shot saved")
    n = shot["n"]
    thumb = page.locator(f"#gallery li[data-n='{n}'] img")
    thumb.wait_for()
    thumb.click()
    page.wait_for_function("window.afon.review && !document.getElementById('review').hidden")
    page.wait_for_function(
        "document.getElementById('review-img').complete"
        " && document.getElementById('review-img').naturalWidth > 0"
    )
    natural = page.evaluate("document.getElementById('review-img').naturalWidth")
    assert natural == 960  # the full still (serve's --still-width), not the thumbnail
    # the AF point drawn where the shot's record says it was
    img = page.locator("#review-img").bounding_box()
    af = page.locator("#review-af").bounding_box()
    cx, cy, w, h = shot["settings"]["af_window"]
    assert af["x"] == pytest.approx(img["x"] + (cx - w / 2) * img["width"], abs=2)
    assert af["y"] == pytest.approx(img["y"] + (cy - h / 2) * img["height"], abs=2)
    assert af["width"] == pytest.approx(w * img["width"], abs=2)
    page.wait_for_function("document.getElementById('review-meta').textContent.includes('MF')")
    # 100 %: one image pixel per screen pixel, scrolled to the AF point
    page.click("#review-zoom")
    page.wait_for_function(
        "document.getElementById('review-img').getBoundingClientRect().width"
        " === document.getElementById('review-img').naturalWidth"
    )
    stage = page.locator("#review-stage").bounding_box()
    af = page.locator("#review-af").bounding_box()
    assert stage["x"] <= af["x"] + af["width"] / 2 <= stage["x"] + stage["width"]
    assert stage["y"] <= af["y"] + af["height"] / 2 <= stage["y"] + stage["height"]
    page.click("#review-zoom")  # back to fit
    # download: the server's Content-Disposition name
    with page.expect_download() as info:
        page.click("#review-download")
    assert info.value.suggested_filename == shot["file"]
    # delete asks first; Cancel keeps the shot
    jpeg = runner.shot_files[n]
    page.click("#review-delete")
    page.wait_for_selector("#review-confirm", state="visible")
    assert shot["file"] in page.locator("#review-confirm-text").inner_text()
    page.click("#review-confirm-no")
    page.wait_for_selector("#review-confirm", state="hidden")
    assert jpeg.exists()
    page.click("#review-delete")
    page.click("#review-confirm-yes")
    page.wait_for_function(f"!document.querySelector(\"#gallery li[data-n='{n}']\")")
    page.wait_for_function("document.getElementById('review').hidden")
    assert not jpeg.exists()
    assert all(s["n"] != n for s in runner.visible_shots())
    assert page.errors == []
    page.context.close()


# Records the page's sounds and vibrations (headless Chromium plays no sound and has no motor).
CUE_SPY = """
window.__beeps = [];
window.__buzzes = [];
navigator.vibrate = (pattern) => { window.__buzzes.push(pattern); return true; };
const Real = window.AudioContext;
window.AudioContext = class extends Real {
  createOscillator() {
    const osc = super.createOscillator();
    const start = osc.start.bind(osc);
    osc.start = (...a) => { window.__beeps.push(osc.frequency.value); return start(...a); };
    return osc;
  }
};
"""


def test_focus_confirm_beep_and_vibration_are_switchable(
    server: LiveServer, browser: Any
) -> None:
    settle(server)
    runner = server.runner
    runner.settings({"focus_mode": "AF-C", "af_point": (0.3, 0.45)}).result(TIMEOUT_S)
    ctx = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 860})
    ctx.add_init_script(CUE_SPY)
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_S * 1000)
    page.goto(server.local_url)
    wait_live(page)
    assert page.evaluate("window.__beeps.length + window.__buzzes.length") == 0

    def focus_once() -> None:
        page.keyboard.down("KeyA")
        page.wait_for_function("window.afon.state.focused === true")
        page.keyboard.up("KeyA")
        wait_for(lambda: "AF_ON" not in body_state(server)["held"], what="AF-ON let go")
        page.wait_for_function("window.afon.state.af_state !== 'PASSIVE_FOCUSED'")

    focus_once()  # the switch is off by default: silent
    assert page.evaluate("window.__beeps.length + window.__buzzes.length") == 0
    page.check("#focus-beep")
    runner.settings({"focus_mode": "AF-S"}).result(TIMEOUT_S)  # the lock is cleared
    runner.settings({"focus_mode": "AF-C"}).result(TIMEOUT_S)
    page.wait_for_function("window.afon.state.focused === false")
    focus_once()
    page.wait_for_function("window.__beeps.includes(2000) && window.__buzzes.includes(30)")
    assert page.evaluate("window.afon.confirms") >= 1
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
        LiveServer(ServeOptions(port=0, token="browser-pairing-token", out=out)) as live,
    ):
        yield live


def test_the_printed_url_pairs_the_page_and_no_url_carries_the_token(
    paired: LiveServer, browser: Any
) -> None:
    """The #token= URL afon prints: the page trades it for the session cookie, removes it from
    the address bar, and its WebSocket, API calls and gallery images go without it."""
    token = "browser-pairing-token"
    requests: list[str] = []
    ctx = browser.new_context(bypass_csp=True)
    ctx.on("request", lambda r: requests.append(r.url))
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_S * 1000)
    page.goto(paired.local_url)
    wait_live(page)
    assert paired.local_url.endswith("#token=" + token) and token not in page.url
    assert page.evaluate("sessionStorage.getItem('afon-token')") is None
    cookies = {c["name"]: c for c in ctx.cookies()}
    assert cookies[SESSION_COOKIE]["httpOnly"] and cookies[SESSION_COOKIE]["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # HttpOnly: not readable by scripts
    # a shot: the gallery's thumbnail and link load by the cookie alone
    page.evaluate(
        """() => fetch('/api/control', {method: 'POST', headers: {'Content-Type':
             'application/json'}, body: JSON.stringify({control: 'SHUTTER', action: 'press'})})"""
    )
    page.wait_for_function(
        "document.querySelector('#gallery img') && document.querySelector('#gallery img')"
        ".complete && document.querySelector('#gallery img').naturalWidth > 0"
    )
    page.evaluate(
        """() => fetch('/api/control', {method: 'POST', headers: {'Content-Type':
             'application/json'}, body: JSON.stringify({control: 'SHUTTER', action: 'release'})})"""
    )
    href = page.locator("#gallery a").first.get_attribute("href")
    assert href is not None and "token" not in href
    assert requests and not [u for u in requests if token in u or "token=" in u]
    assert paired.runner.hub.viewers >= 1  # the WebSocket was let in by the cookie
    ctx.close()


def test_remote_page_without_token_is_refused(
    paired: LiveServer, server: LiveServer, browser: Any
) -> None:
    page = open_page(browser, paired.base_url + "/")
    page.wait_for_function("document.querySelector('#conn').textContent.includes('token')")
    assert "pairing token needed" in page.locator("#conn").inner_text()
    assert paired.runner.hub.viewers == 0
    assert page.locator("#token-form").is_visible()
    page.locator("#token-input").fill("browser-pairing-token")
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


# --- layout: the camera is always in view ----------------------------------------------------
DESKTOPS = [(1280, 900), (1366, 768)]
PHONE_LANDSCAPE = {"width": 844, "height": 390}
PHONE = {"has_touch": True, "is_mobile": True, "device_scale_factor": 2}


def boxes(page: Any, *ids: str) -> dict[str, dict[str, float]]:
    return {i: page.locator(f"#{i}").bounding_box() for i in ids}


def in_view(box: dict[str, float], w: int, h: int) -> bool:
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= w + 0.5
        and box["y"] + box["height"] <= h + 0.5
    )


def af_point_visible(page: Any) -> bool:
    """Nothing covers the AF point: the element at its centre is the viewfinder canvas."""
    result: bool = page.evaluate(
        """() => {
             const r = window.afon.afFrameRect();
             const c = document.getElementById('vf');
             const b = c.getBoundingClientRect();
             const x = b.left + (r.x + r.w / 2) * b.width / r.canvasW;
             const y = b.top + (r.y + r.h / 2) * b.height / r.canvasH;
             return document.elementFromPoint(x, y) === c;
           }"""
    )
    return result


@pytest.mark.parametrize(("width", "height"), DESKTOPS)
def test_desktop_keeps_viewfinder_and_buttons_in_view_through_shots(
    server: LiveServer, browser: Any, width: int, height: int
) -> None:
    settle(server)
    server.runner.settings({"focus_mode": "MF", "drive": "single"}).result(TIMEOUT_S)
    page = open_page(browser, server.local_url, viewport={"width": width, "height": height})
    wait_live(page)
    ids = ("vf", "af-on-btn", "shutter-btn")
    before = boxes(page, *ids)
    for name, box in before.items():
        assert in_view(box, width, height), (name, box)
    assert before["vf"]["height"] >= 0.5 * height  # the viewfinder is most of the window
    assert page.evaluate("document.scrollingElement.scrollHeight") <= height
    assert af_point_visible(page)
    shots = len(server.runner.shots)
    shown = len(server.runner.visible_shots())  # a deleted shot leaves the gallery
    for k in range(3):  # shots arrive in the gallery: nothing moves
        tap(page, "KeyG")
        wait_for(lambda k=k: len(server.runner.shots) >= shots + k + 1, what="a shot")
    page.wait_for_function(f"document.querySelectorAll('#gallery li').length >= {shown + 3}")
    after = boxes(page, *ids)
    assert after == before
    assert page.evaluate("document.scrollingElement.scrollHeight") <= height
    # the viewfinder keeps the stream's aspect (no stretching)
    frame_w, frame_h = body_state(server)["frame_size"]
    vf = after["vf"]
    assert vf["width"] / vf["height"] == pytest.approx(frame_w / frame_h, rel=0.01)
    assert page.errors == []
    server.runner.settings({"focus_mode": "AF-C", "drive": "continuous"}).result(TIMEOUT_S)
    page.context.close()


def test_phone_landscape_buttons_at_the_sides(server: LiveServer, browser: Any) -> None:
    settle(server)
    page = open_page(browser, server.local_url, viewport=PHONE_LANDSCAPE, **PHONE)
    wait_live(page)
    w, h = PHONE_LANDSCAPE["width"], PHONE_LANDSCAPE["height"]
    b = boxes(page, "vf", "af-on-btn", "shutter-btn", "af-off-btn", "half-btn")
    for name, box in b.items():
        assert in_view(box, w, h), (name, box)
    vf = b["vf"]
    assert vf["height"] >= 0.7 * h, vf
    # AF-ON's side on the right (the right thumb, as on a camera), the shutter's on the left
    for name in ("af-on-btn", "af-off-btn"):
        assert b[name]["x"] >= vf["x"] + vf["width"], (name, b[name])
    for name in ("shutter-btn", "half-btn"):
        assert b[name]["x"] + b[name]["width"] <= vf["x"], (name, b[name])
    for name in ("af-on-btn", "shutter-btn"):
        assert b[name]["height"] >= 80 and b[name]["width"] >= 80, (name, b[name])
    for x in (0.1, 0.5, 0.9):  # no button over the picture, wherever the AF point goes
        server.runner.settings({"af_point": (x, 0.8)}).result(TIMEOUT_S)
        page.wait_for_function(f"Math.abs(window.afon.state.af_window[0] - {x}) < 1e-6")
        assert af_point_visible(page)
    assert page.errors == []
    page.context.close()


def test_phone_portrait_is_one_handed_and_leaves_the_af_point_free(
    server: LiveServer, browser: Any
) -> None:
    settle(server)
    vp = {"width": 390, "height": 844}
    page = open_page(browser, server.local_url, viewport=vp, **PHONE)
    wait_live(page)
    b = boxes(page, "vf", "af-on-btn", "shutter-btn")
    assert in_view(b["vf"], 390, 844)
    for name in ("af-on-btn", "shutter-btn"):  # the lower third, under one thumb
        assert b[name]["y"] >= 844 * 0.6 and in_view(b[name], 390, 844), (name, b[name])
    assert b["vf"]["y"] + b["vf"]["height"] <= b["af-on-btn"]["y"]
    server.runner.settings({"af_point": (0.5, 0.9)}).result(TIMEOUT_S)
    page.wait_for_function("Math.abs(window.afon.state.af_window[1] - 0.9) < 1e-6")
    assert af_point_visible(page)
    page.context.close()


# --- accessibility ------------------------------------------------------------------------------
def test_focused_hold_button_works_from_the_keyboard_and_says_its_state(
    server: LiveServer, browser: Any
) -> None:
    settle(server)
    server.runner.settings({"focus_mode": "AF-S"}).result(TIMEOUT_S)
    page = open_page(browser, server.local_url, viewport={"width": 1280, "height": 900})
    wait_live(page)
    held = lambda: body_state(server)["held"]  # noqa: E731
    assert page.locator("#vf").get_attribute("role") == "img"
    assert "AF point" in (page.locator("#vf").get_attribute("aria-label") or "")
    assert page.locator("#af-words").get_attribute("aria-live") == "polite"
    assert page.locator("#af-on-btn").get_attribute("aria-pressed") == "false"
    for key in ("Space", "Enter"):
        page.locator("#af-on-btn").focus()
        page.keyboard.down(key)
        wait_for(lambda: "AF_ON" in held(), what=f"AF-ON held by {key} on the focused button")
        page.wait_for_function("document.querySelector('#af-on-btn').ariaPressed === 'true'")
        wait_for(lambda: body_state(server)["locked"], what="AF-S locked")
        page.keyboard.up(key)
        wait_for(lambda: "AF_ON" not in held(), what=f"released with {key}")
        page.wait_for_function("document.querySelector('#af-on-btn').ariaPressed === 'false'")
    # HUD words a photographer reads, beside the Camera2 name
    state = body_state(server)["af_state"]
    words = {"FOCUSED_LOCKED": "Focus locked", "NOT_FOCUSED_LOCKED": "Locked, not in focus"}
    page.wait_for_function(f"window.afon.state.af_state === '{state}'")
    assert page.locator("#af-words").inner_text() == words[state]
    assert page.locator("#af-state").inner_text() == state
    # a focused button losing focus while held lets go
    page.locator("#af-on-btn").focus()
    page.keyboard.down("Space")
    wait_for(lambda: "AF_ON" in held(), what="held")
    page.locator("#half-btn").focus()
    wait_for(lambda: "AF_ON" not in held(), what="released on blur")
    page.keyboard.up("Space")
    assert page.errors == []
    server.runner.settings({"focus_mode": "AF-C"}).result(TIMEOUT_S)
    page.context.close()


def test_hud_shows_slow_motion_and_a_full_buffer(server: LiveServer, browser: Any) -> None:
    import threading

    settle(server)
    page = open_page(browser, server.local_url, viewport={"width": 1280, "height": 900})
    wait_live(page)
    runner = server.runner
    # the loop slowed down (what it does on a busy machine): the HUD says so
    runner.submit(lambda: runner.body.clock.set_scale(0.5)).result(TIMEOUT_S)
    page.wait_for_function("window.afon.state.time_scale < 1")
    assert "slow motion" in page.locator("#pace-info").inner_text()
    assert page.locator("#pace-info").is_visible()
    # a card that does not keep up: a one-still buffer whose writing waits
    buf = runner.body.still_buffer
    assert buf is not None
    gate = threading.Event()
    put, depth = buf.put, buf.depth

    def slow_put(record: Any, image: Any = None, develop: Any = None) -> None:
        def held_up() -> Any:
            gate.wait(TIMEOUT_S)
            return develop() if develop is not None else image

        put(record, None, held_up)

    runner.settings({"focus_mode": "MF", "drive": "continuous"}).result(TIMEOUT_S)
    try:
        buf.depth = 1
        buf.put = slow_put  # type: ignore[method-assign]
        page.keyboard.down("KeyG")
        page.wait_for_function("window.afon.state.buffer_full === true")
        assert "BUFFER FULL" in page.locator("#buffer-info").inner_text()
        n = len(runner.body.shots)
        page.wait_for_function(f"window.afon.state.frame > {body_state(server)['frame'] + 5}")
        assert len(runner.body.shots) == n  # the burst waits for the card
        page.keyboard.up("KeyG")
    finally:
        gate.set()
        buf.put, buf.depth = put, depth  # type: ignore[method-assign]
    wait_for(lambda: not body_state(server)["buffer_full"], what="the buffer to empty")
    page.wait_for_function("!window.afon.state.buffer_full")
    runner.settings({"focus_mode": "AF-C"}).result(TIMEOUT_S)
    page.context.close()


# --- the trainer: a full drill played at its cues ----------------------------------------------
def test_a_drill_played_at_its_cues_scores_like_the_benchmark(
    server: LiveServer, browser: Any
) -> None:
    """The recompose drill played as its text says (hold AF-ON until focus confirms, let go,
    shoot at each cue): its keeper rate lies in the CI of the benchmark's model photographer
    (bbf-af-c) on the same scenario, with the strategy the drill's profile uses."""
    import json

    from afon.bench.metrics import summarize
    from afon.bench.runner import TrialJob, run_trial
    from afon.bench.scenario import load_builtin_scenario
    from afon.profile import load_profile

    settle(server)
    ctx = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    ctx.add_init_script(CUE_SPY)  # the cues' sound and vibration, recorded
    page = ctx.new_page()
    page.set_default_timeout(TIMEOUT_S * 1000)
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(server.local_url)
    wait_live(page)
    page.wait_for_selector("#trainer-drill option[value=recompose]", state="attached")
    page.select_option("#trainer-drill", "recompose")
    page.click("#trainer-start")
    page.wait_for_function("window.afonTrainer.running?.started === true")
    page.keyboard.down("KeyA")  # AF-ON on the face (the AF point is on it at the start)
    page.wait_for_function("window.afon.state.focused === true && window.afon.state.t_s < 2.2")
    page.keyboard.up("KeyA")  # focus confirmed: let go, the lens stays (before the recompose)
    moments = len(load_builtin_scenario("portrait").shoot.moments_s)
    for k in range(moments):
        page.wait_for_function(
            f"window.afonTrainer.cueLog.filter(c => c.text === 'NOW').length > {k}"
        )
        tap(page, "KeyG")  # at the cue
    page.wait_for_function("window.afonTrainer.running === null", timeout=30_000)
    # every cue sounded and buzzed: the countdown's (660 Hz, 40 ms) and each NOW (1320 Hz, 120 ms)
    cues = page.evaluate("window.afonTrainer.cueLog.map(c => c.text)")
    beeps = page.evaluate("window.__beeps")
    buzzes = page.evaluate("window.__buzzes")
    assert beeps.count(1320) == cues.count("NOW") == moments
    assert buzzes.count(120) == moments and beeps.count(660) == buzzes.count(40) >= 1
    page.wait_for_function("localStorage.getItem('afon-trainer-last') !== null")
    score = json.loads(page.evaluate("localStorage.getItem('afon-trainer-last')"))
    assert score["drill"] == "recompose" and score["aborted"] is False
    assert score["shots"] == moments
    coach = page.locator("#trainer-coach li").all_inner_texts()
    assert coach and page.locator("#trainer-replay circle, #trainer-replay line.shot").count()
    # the benchmark's photographer on the same scenario
    scn = load_builtin_scenario("portrait")
    strategy = load_profile("bbf").af_c_strategy
    trials = [run_trial(TrialJob(scn, "bbf-af-c", strategy, seed)) for seed in range(4)]
    bench = summarize(trials)
    lo, hi = bench["keeper_ci95"]
    assert lo - 1e-9 <= score["keeper_rate"] <= hi + 1e-9, (score, bench["keeper_ci95"])
    if os.environ.get("AFON_UPDATE_SCREENSHOTS") == "1":
        page.locator("#trainer-panel").screenshot(path=str(ROOT / "docs/img/trainer.png"))
    assert score["missed"] <= max(t.missed for t in trials) + (1 if score["behind"] else 0)
    assert page.errors == []
    page.context.close()


# --- manual focus from the page -----------------------------------------------------------------
def test_manual_focus_by_wheel_keys_and_slider(server: LiveServer, browser: Any) -> None:
    settle(server)
    page = open_page(browser, server.local_url, viewport={"width": 1366, "height": 768})
    wait_live(page)
    lens = lambda: body_state(server)["lens_d"]  # noqa: E731
    # AF-C: the ring is not the photographer's (no DMF), the slider is off
    page.wait_for_function("window.afon.state.manual_focus === false")
    assert page.locator("#mf-slider").is_disabled()
    server.runner.settings({"focus_mode": "MF"}).result(TIMEOUT_S)
    page.wait_for_function("window.afon.state.manual_focus === true")
    assert page.locator("#mf-slider").is_enabled()
    lo, hi = body_state(server)["lens_range_d"]
    target = round(lo + 0.5 * (hi - lo), 3)
    page.locator("#mf-slider").fill(str(target))
    wait_for(lambda: abs(lens() - target) < 0.01 * (hi - lo), what="the slider set the lens")
    page.locator("#mf-slider").blur()  # keys go to the camera again
    start = lens()
    box = page.locator("#vf").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(5):
        page.mouse.wheel(0, -100)  # towards near: more dioptres, 1% of the range a notch
    wait_for(lambda: lens() > start + 0.005 * (hi - lo), what="the wheel turned the ring")
    wait_for(lambda: not body_state(server)["lens_moving"], what="the lens to stop")
    after_wheel = lens()
    tap(page, "BracketLeft")
    wait_for(lambda: lens() < after_wheel - 0.005 * (hi - lo), what="[ turned it back")
    # DMF: AF-S with manual override (the bbf profile has it), after focus locked
    server.runner.settings({"focus_mode": "AF-S"}).result(TIMEOUT_S)
    assert server.runner.body.profile.manual_override
    page.keyboard.down("KeyA")
    wait_for(lambda: body_state(server)["locked"], what="AF-S locked")
    page.keyboard.up("KeyA")
    page.wait_for_function("window.afon.state.manual_focus === true")
    wait_for(lambda: not body_state(server)["lens_moving"], what="the lens to stop")
    locked = lens()
    tap(page, "BracketRight")
    wait_for(lambda: lens() > locked + 0.005 * (hi - lo), what="DMF after the lock")
    assert page.errors == []
    settle(server)
    server.runner.settings({"focus_mode": "AF-C"}).result(TIMEOUT_S)
    page.context.close()


def test_the_gpio_encoders_turn_shows_the_magnified_view(
    browser: Any, tmp_path: Path
) -> None:
    """The Pi builder's focus ring: `afon serve --inputs encoder:...` (gpiozero's MockFactory
    here); in MF a turn moves the lens and the page shows the 5× sensor view (MF assist) until
    the ring rests; the encoder's button cycles the magnifier."""
    from gpiozero.pins.mock import MockFactory

    from test_encoder import detents

    pins = MockFactory()
    options = ServeOptions(
        port=0,
        out=str(tmp_path),
        trainer_db=str(tmp_path / "trainer.sqlite"),
        inputs="encoder:a=5,b=6,step_d=0.05,button=13",
        pin_factory=pins,
    )
    try:
        with LiveServer(options) as live:
            assert any("encoder on GPIO5/GPIO6" in line for line in live.input_lines)
            runner = live.runner
            runner.settings({"focus_mode": "MF"}).result(TIMEOUT_S)
            page = open_page(browser, live.local_url, viewport={"width": 1366, "height": 768})
            wait_live(page)
            label = "document.getElementById('magnify-label')"
            assert page.evaluate(f"{label}.hidden")
            start = runner.state["lens_d"]
            detents(pins, 3)
            page.wait_for_function(
                f"{label}.textContent === '×5 sensor · MF assist' && !{label}.hidden"
                " && window.afon.state.magnify_rect !== null"
            )
            wait_for(
                lambda: abs(runner.state["lens_d"] - (start + 0.15)) < 0.01, what="the ring"
            )
            # the ring rests: the view goes back to the whole frame (2 s, bbf's mf_assist_s)
            page.wait_for_function(f"{label}.hidden && window.afon.state.magnify === 0")
            # the button: 5×, 10× (the photographer's, no timed close), off

            def press() -> None:
                # presses 0.1 s apart on the body's clock: closer ones are the switch bouncing
                t_s = runner.state["t_s"]
                wait_for(lambda: runner.state["t_s"] > t_s + 0.1, what="0.1 s between presses")
                pins.pin(13).drive_low()
                pins.pin(13).drive_high()

            for text in ("×5 sensor", "×10 sensor"):
                press()
                page.wait_for_function(f"{label}.textContent === '{text}' && !{label}.hidden")
            press()
            page.wait_for_function(f"{label}.hidden && window.afon.state.magnify === 0")
            assert page.errors == []
            page.context.close()
    finally:
        pins.reset()
