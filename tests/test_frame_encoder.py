"""The live view's `FrameEncoder`: each frame encoded once, off the body thread, for every
viewer; latest frame only; the encoder owns its copy of the pixels."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from afon.web.runner import FrameEncoder, Hub, Subscriber, to_bgr

HANG_GUARD_S = 60.0
"""Only a guard against a hang: the tests wait on conditions, never on time."""


class _Loop:
    """The server's event loop, as far as the Hub uses it: runs the wake-up at once."""

    def call_soon_threadsafe(self, fn: Callable[[], Any]) -> None:
        fn()


def _wait_until(condition: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(int(HANG_GUARD_S / 0.01)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("condition not reached")


def _image(seed: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    rng = np.random.default_rng(seed)
    img = np.zeros((48, 64, 3), np.uint8)
    img[..., 0] = 200  # red in RGB: the channel order is checked after the round trip
    img[..., 1:] = rng.integers(0, 40, (48, 64, 2), dtype=np.uint8)
    return img


def test_only_the_latest_frame_is_encoded_and_every_viewer_gets_the_same_bytes() -> None:
    hub = Hub()
    woken = [threading.Event() for _ in range(3)]
    for event in woken:
        hub.subscribe(Subscriber(_Loop(), event))
    encoder = FrameEncoder(hub, quality=90)
    images = [_image(k) for k in range(3)]
    for seq, img in enumerate(images):  # the encoder is not running yet: frames pile up
        encoder.submit(seq, to_bgr(img), {"type": "state", "frame": seq})
    assert encoder.skipped == 2  # frames 0 and 1 were replaced before they were started
    images[2][:] = 0  # the camera reuses its buffer: the encoder has its own copy
    encoder.start()
    try:
        assert all(e.wait(HANG_GUARD_S) for e in woken)
    finally:
        encoder.stop()
    assert hub.frame is not None
    seq, jpeg, state_json = hub.frame
    assert seq == 2 and json.loads(state_json) == {"type": "state", "frame": 2}
    assert encoder.encoded == 1 and encoder.cpu_s > 0
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    rgb = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    assert rgb.shape == (48, 64, 3)
    assert abs(float(rgb[..., 0].mean()) - 200.0) < 8  # red stayed red, and was not zeroed
    assert float(rgb[..., 1:].mean()) < 40


def test_grey_frames_and_a_failing_frame_do_not_stop_the_live_view() -> None:
    hub = Hub()
    woken = threading.Event()
    hub.subscribe(Subscriber(_Loop(), woken))
    encoder = FrameEncoder(hub)
    encoder.submit(0, np.zeros((0, 0), np.uint8), {"frame": 0})  # cannot be encoded
    encoder.start()
    try:
        _wait_until(lambda: encoder.failed == 1)
        assert hub.frame is None and not woken.is_set()  # nothing published for it
        grey = np.full((32, 40), 128, np.uint8)
        encoder.submit(1, to_bgr(grey), {"frame": 1})
        assert woken.wait(HANG_GUARD_S)
    finally:
        encoder.stop()
    assert hub.frame is not None and hub.frame[0] == 1 and encoder.encoded == 1
    assert not encoder.thread.is_alive()
    decoded = cv2.imdecode(np.frombuffer(hub.frame[1], np.uint8), cv2.IMREAD_GRAYSCALE)
    assert decoded.shape == (32, 40) and abs(int(decoded.mean()) - 128) <= 2
