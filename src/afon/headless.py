"""`afon run`: a camera body without a screen, driven by GPIO buttons or an input device.

The loop runs on one thread: each tick it takes the queued input edges (`InputHub.poll`: debounce,
level check, watchdog), applies them to the body, and steps the body one frame. AF state changes,
shots and input warnings are printed as one line each, or as one JSON object each
(NDJSON, ``afon run --json``: ``{"event": "af_state" | "shot" | "notice", ...}``, between the
command's ``start`` and ``end`` events). Ctrl-C ends the run cleanly: a pending
release is recorded, the camera closed, and every shot already taken is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from afon.body import Body, live_loop_threads, warm_up
from afon.cameras.base import Camera
from afon.controls import ControlEvent
from afon.focus.states import AfStateChange
from afon.inputs import InputHub, Notice
from afon.inputs.keymap import InputMap
from afon.profile import Profile
from afon.shots import ShotRecord


@dataclass
class HeadlessResult:
    """What a run did."""

    steps: int = 0
    interrupted: bool = False
    lines: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


def af_line(change: AfStateChange) -> str:
    return f"{change.t_s:.3f}s AF {change.old.value} -> {change.new.value} ({change.cause.value})"


def af_event(change: AfStateChange) -> dict[str, Any]:
    return {
        "event": "af_state",
        "t_s": round(change.t_s, 6),
        "from": change.old.value,
        "to": change.new.value,
        "cause": change.cause.value,
    }


def shot_event(record: ShotRecord) -> dict[str, Any]:
    return {
        "event": "shot",
        "t_s": round(record.release_s, 6),
        "index": record.index,
        "ok": record.ok,
        "failure": record.failure,
        "lag_s": record.lag_s,
        "lens_d": record.lens_d,
        "af_state": record.af_state,
        "image": record.image_path,
        "record": record.record_path,
    }


def notice_event(notice: Notice) -> dict[str, Any]:
    return {
        "event": "notice",
        "t_s": round(notice.t_s, 6),
        "kind": notice.kind,
        "action": notice.action,
        "message": notice.message,
    }


def shot_line(record: ShotRecord) -> str:
    if not record.ok:
        return f"{record.release_s:.3f}s shot {record.index} FAILED: {record.failure}"
    lag = f"{record.lag_s * 1000:.0f} ms" if record.lag_s is not None else "?"
    where = f" -> {record.image_path}" if record.image_path else ""
    return (
        f"{record.release_s:.3f}s shot {record.index} lag {lag}, lens {record.lens_d:.3f} D, "
        f"AF {record.af_state}{where}"
    )


class HeadlessRunner:
    """A body plus an input hub, stepped by `tick()` (one frame) or `run()`."""

    def __init__(
        self,
        camera: Camera,
        hub: InputHub,
        profile: str | Path | Profile = "bbf",
        *,
        out: str | Path | None = None,
        save_images: bool = True,
        emit: Callable[[str], None] = print,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        af: str | None = None,
    ) -> None:
        self.hub = hub
        self.emit = emit
        self.on_event = on_event
        self.result = HeadlessResult()
        self._closed = False
        self._reported: set[str] = set()
        self._ring_refused = False
        self._button_said = False
        self.body = Body(
            camera,
            profile,
            shots_dir=out,
            save_images=save_images,
            on_af_state=lambda c: self._line(af_line(c), af_event(c)),
            on_shot=lambda s: self._line(shot_line(s), shot_event(s)),
            af=af,
            judge=getattr(camera, "judge_still", None),
        )

    def _line(self, text: str, event: dict[str, Any]) -> None:
        """One thing that happened: a line for people (`emit`) and an event dict (`on_event`)."""
        self.result.lines.append(text)
        self.emit(text)
        if self.on_event is not None:
            self.on_event(event)

    def apply_inputs(self) -> None:
        """Apply queued input edges, the level check and the watchdog to the body."""
        events, notices = self.hub.poll(self.body.clock.now_s())
        for notice in notices:
            self.result.notices.append(notice)
            self._line(str(notice), notice_event(notice))
        for source in self.hub.sources:
            error = getattr(source, "error", None)
            if isinstance(error, str) and error not in self._reported:
                self._reported.add(error)
                now = self.body.clock.now_s()
                notice = Notice(now, "input-gone", getattr(source, "name", "input"), error)
                self._line(str(notice), notice_event(notice))
        for event in events:
            self.body.handle(event)
        for source in self.hub.sources:
            take = getattr(source, "take_steps", None)
            steps = take() if callable(take) else 0
            if steps:
                self._turn_ring(steps * float(getattr(source, "step_d", 0.0)))
            presses = getattr(source, "take_presses", None)
            if callable(presses) and presses() and not self._button_said:
                self._button_said = True  # magnify needs a viewfinder: afon serve has one
                now = self.body.clock.now_s()
                notice = Notice(
                    now,
                    "magnify",
                    "encoder",
                    "the encoder's button magnifies the viewfinder of afon serve; "
                    "afon run has none",
                )
                self.result.notices.append(notice)
                self._line(str(notice), notice_event(notice))

    def _turn_ring(self, delta_d: float) -> None:
        """The encoder's turn on the focus ring: MF, or DMF after AF-S locked; else said once
        (until the ring works again)."""
        body = self.body
        if body.focus_ring(delta_d):
            self._ring_refused = False
            lens = body.camera.lens_position_d()
            self._line(
                f"{body.clock.now_s():.3f}s focus ring {delta_d:+.3f} D -> lens {lens:.3f} D",
                {"event": "focus_ring", "t_s": round(body.clock.now_s(), 6), "delta_d": delta_d},
            )
        elif not self._ring_refused:
            self._ring_refused = True
            now = body.clock.now_s()
            notice = Notice(
                now,
                "focus-ring",
                "encoder",
                f"focus ring ignored: manual focus needs MF, or AF-S with manual override "
                f"after focus locked (now {body.focus_mode}, {body.state.value})",
            )
            self.result.notices.append(notice)
            self._line(str(notice), notice_event(notice))

    def tick(self) -> None:
        """One loop iteration: inputs, then one frame."""
        self.apply_inputs()
        self.body.step()
        self.result.steps += 1

    def run(self, duration_s: float | None = None, max_steps: int | None = None) -> HeadlessResult:
        """Tick until `duration_s` on the body's clock, `max_steps`, or Ctrl-C; then close."""
        t_end = None if duration_s is None else self.body.clock.now_s() + duration_s
        live_loop_threads()
        warm_up(self.body.camera)
        try:
            while (t_end is None or self.body.clock.now_s() < t_end) and (
                max_steps is None or self.result.steps < max_steps
            ):
                self.tick()
        except KeyboardInterrupt:
            self.result.interrupted = True
        finally:
            self.close()
        return self.result

    def close(self) -> None:
        """Release every held control, record a pending release, close inputs and camera."""
        self.hub.close()
        if self._closed:
            return
        self._closed = True
        now = self.body.clock.now_s()
        for control in reversed(self.body.controls.held_controls()):
            self.body.handle(ControlEvent(control, False, now))
        self.body.close()


def open_inputs(
    inputs: InputMap,
    *,
    pin_factory: Any = None,
    evdev_device: Any = None,
    start: bool = True,
    now_s: Callable[[], float] | None = None,
    stream: Any = None,
    emit: Callable[[str], None] | None = None,
) -> InputHub:
    """An `InputHub` with a source for each kind of binding in `inputs`.

    `now_s` is the body's clock (the terminal's taps are released on it); `emit` hears which
    input device was opened and whether it was grabbed.
    """
    hub = InputHub.from_map(inputs)
    say = emit if emit is not None else (lambda _text: None)
    try:
        if inputs.gpio:
            from afon.inputs.gpio import GpioInput

            hub.add(GpioInput(hub, inputs.gpio, pin_factory=pin_factory))
        if inputs.encoder is not None:
            from afon.inputs.encoder import FocusEncoder

            e = inputs.encoder
            hub.add(
                FocusEncoder(
                    e.a, e.b, e.step_d, button=e.button, now_s=now_s, pin_factory=pin_factory
                )
            )
            say(
                f"focus ring: encoder on GPIO{e.a}/GPIO{e.b}, {e.step_d:g} D per detent"
                + (f"; its button on GPIO{e.button}" if e.button is not None else "")
            )
        if inputs.evdev:
            from afon.inputs.evdev_input import EvdevInput, open_device

            if evdev_device is not None:
                device, chosen, label = evdev_device, True, "the given device"
            else:
                device, info, chosen = open_device(inputs.evdev_device, inputs.evdev.values())
                label = f"{info.name!r} ({info.path})"
            grab = chosen if inputs.evdev_grab is None else inputs.evdev_grab
            source = EvdevInput(hub, inputs.evdev, device, grab=grab)
            hub.add(source)
            say(
                f"input device {label}"
                + ("; grabbed: its keys reach only afon" if source.grabbed else "; shared")
            )
            if start:
                source.start()
        if inputs.terminal:
            from afon.inputs.terminal import TerminalKeys

            clock_now = now_s if now_s is not None else _monotonic
            keys = TerminalKeys(hub, inputs.terminal, clock_now, stream=stream)
            hub.add(keys)
            say(f"terminal keys: {keys.help_line()}")
            if start:
                keys.start()
    except BaseException:
        hub.close()
        raise
    return hub


def _monotonic() -> float:
    import time

    return time.monotonic()
