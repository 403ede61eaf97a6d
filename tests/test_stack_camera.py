"""StackCamera: slices by lens position, cross-fades, motor and frame timing, stills, errors."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image as PILImage

from afon.cameras.base import Camera, Frame
from afon.cameras.sim.motor import MotorSpec
from afon.cameras.stack import (
    DEFAULT_LENS_RANGE_D,
    StackCamera,
    StackError,
    stack_files,
    stack_motor_spec,
)
from afon.clock import RealClock, VirtualClock
from afon.errors import AfonError, CameraError

STACKS = Path(__file__).resolve().parent / "data" / "focal-stacks"
U8 = npt.NDArray[np.uint8]

SIZE = (160, 120)  # synthetic slices, stored at the preview size: no resampling in the way


def make_slices(n: int = 4, size: tuple[int, int] = SIZE, seed: int = 0) -> list[U8]:
    """`n` distinct RGB textures (each blurred differently, like a focus sweep)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[1], size[0], 3)).astype(np.float32)
    out = []
    for i in range(n):
        sigma = 0.5 + 1.5 * abs(i - n // 2)
        img = cv2.GaussianBlur(base, (0, 0), sigma) + 10.0 * i
        out.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
    return out


def write_stack(folder: Path, images: list[U8], names: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"slice_{i:02d}.png" for i in range(len(images))]
    for name, img in zip(names, images, strict=True):
        PILImage.fromarray(img).save(folder / name)
    return folder


@pytest.fixture
def slices() -> list[U8]:
    return make_slices()


@pytest.fixture
def stack(tmp_path: Path, slices: list[U8]) -> Path:
    return write_stack(tmp_path / "stack", slices)


def camera(path: Path, **kw: Any) -> StackCamera:
    kw.setdefault("preview_px", SIZE)
    return StackCamera(path, **kw)


def vclock(cam: StackCamera) -> VirtualClock:
    assert isinstance(cam.clock, VirtualClock)
    return cam.clock


def settle(cam: StackCamera, target_d: float) -> float:
    """Move the lens and let the virtual clock run until it has arrived and settled."""
    cam.move_lens(target_d)
    clock = vclock(cam)
    clock.advance(cam.motor_spec.travel_time_s(cam.motor_spec.max_d - cam.motor_spec.min_d))
    clock.advance(cam.motor_spec.settle_s + 1e-6)
    assert not cam.lens_moving()
    return float(clock.now_s())


def settled_frame(cam: StackCamera, target_d: float) -> Frame:
    """The first frame exposed wholly after the lens reached `target_d` and settled."""
    t_settled = settle(cam, target_d)
    frame = cam.next_frame()
    while frame.exposure_start_s < t_settled:
        frame = cam.next_frame()
    assert not frame.lens_moving
    return frame


# --- geometry and images ----------------------------------------------------------------------
def test_slice_positions_spread_evenly_over_lens_range(stack: Path) -> None:
    cam = camera(stack)
    assert cam.n_slices == 4
    assert cam.lens_range_d == DEFAULT_LENS_RANGE_D == (0.0, 12.0)
    assert [cam.slice_position_d(i) for i in range(4)] == [0.0, 4.0, 8.0, 12.0]
    assert cam.nearest_slice(5.9) == 1
    assert cam.nearest_slice(6.0) == 2  # a tie goes to the higher index
    assert cam.nearest_slice(-3.0) == 0 and cam.nearest_slice(40.0) == 3
    assert cam.slice_position(10.0) == pytest.approx(2.5)
    with pytest.raises(IndexError):
        cam.slice_position_d(4)
    cam2 = camera(stack, lens_range_d=(1.0, 4.0))
    assert [cam2.slice_position_d(i) for i in range(4)] == [1.0, 2.0, 3.0, 4.0]
    assert cam2.motor_spec.min_d == 1.0 and cam2.motor_spec.max_d == 4.0


def test_lens_on_a_slice_gives_exactly_that_photograph(stack: Path, slices: list[U8]) -> None:
    cam = camera(stack)
    for i in reversed(range(cam.n_slices)):
        reached = cam.move_lens(cam.slice_position_d(i))
        assert reached == pytest.approx(cam.slice_position_d(i))
        vclock(cam).advance(0.2)
        frame = cam.next_frame()
        assert not frame.lens_moving
        assert frame.lens_start_d == frame.lens_end_d == pytest.approx(cam.slice_position_d(i))
        assert np.array_equal(frame.image, slices[i])
        assert frame.meta["slice"] == i and frame.meta["slice_position"] == i
        assert np.array_equal(cam.preview_at(cam.slice_position_d(i)), slices[i])


def test_between_slices_is_the_linear_cross_fade(stack: Path, slices: list[U8]) -> None:
    cam = camera(stack)
    a, b = slices[1].astype(np.float64), slices[2].astype(np.float64)
    for frac in (0.5, 0.25):
        expected = (1 - frac) * a + frac * b
        got = cam.preview_at(cam.slice_position_d(1) + frac * 4.0).astype(np.float64)
        assert np.max(np.abs(got - expected)) <= 0.5 + 1e-6
    frame = settled_frame(cam, 6.0)  # halfway between slice 1 (4 D) and slice 2 (8 D)
    assert frame.meta["slice_position"] == pytest.approx(1.5)
    assert frame.meta["slice"] == 2
    assert np.max(np.abs(frame.image.astype(np.float64) - 0.5 * (a + b))) <= 0.5 + 1e-6


def test_preview_is_scaled_to_cover_and_centre_cropped(tmp_path: Path) -> None:
    wide = make_slices(2, size=(200, 100))
    folder = write_stack(tmp_path / "wide", wide)
    cam = StackCamera(folder, preview_px=(40, 40))
    img = cam.slice_image(0)
    assert img.shape == (40, 40, 3)
    # 200x100 covers 40x40 at scale 0.4 -> 80x40, centre crop x 20..60
    expected = cv2.resize(wide[0], (80, 40), interpolation=cv2.INTER_AREA)[:, 20:60]
    assert np.array_equal(img, expected)


def test_natural_order_and_case_insensitive_suffixes(tmp_path: Path) -> None:
    imgs = make_slices(4)
    folder = write_stack(tmp_path / "s", imgs, ["s10.PNG", "s2.png", "s1.Png", "s3.TIF"])
    (tmp_path / "s" / "notes.txt").write_text("not an image")
    assert [p.name for p in stack_files(folder)] == ["s1.Png", "s2.png", "s3.TIF", "s10.PNG"]
    cam = camera(folder)
    assert np.array_equal(cam.slice_image(0), imgs[2])
    assert np.array_equal(cam.slice_image(3), imgs[0])


# --- motor and timing -------------------------------------------------------------------------
def test_default_motor_is_vcm_like_and_on_the_slice_grid() -> None:
    spec = stack_motor_spec((0.0, 12.0), 7)
    assert spec.travel_time_s(12.0) == pytest.approx(0.040)
    assert spec.settle_s == pytest.approx(0.010)
    assert spec.step_d == pytest.approx(12.0 / 6 / 8)
    for i in range(7):
        assert spec.quantise(i * 2.0) == pytest.approx(i * 2.0, abs=1e-12)


@pytest.mark.parametrize("distance_d", [12.0, 4.0, 0.5])
def test_move_duration_matches_motor_profile(stack: Path, distance_d: float) -> None:
    cam = camera(stack)
    clock = vclock(cam)
    clock.advance(0.01)
    t0 = clock.now_s()
    target = cam.move_lens(distance_d)
    travel = cam.motor_spec.travel_time_s(target)
    settle_s = cam.motor_spec.settle_s
    clock.sleep_until(t0 + travel - 1e-4)
    assert cam.lens_position_d() < target - 1e-6
    assert cam.lens_moving()
    clock.sleep_until(t0 + travel + 1e-9)
    assert cam.lens_position_d() == pytest.approx(target, abs=1e-9)
    assert cam.lens_moving()  # still settling
    clock.sleep_until(t0 + travel + settle_s + 1e-6)
    assert not cam.lens_moving()


def test_frames_every_period_ready_after_readout(stack: Path) -> None:
    cam = camera(stack, frame_rate_hz=30.0, exposure_s=0.01, readout_s=0.008)
    clock = vclock(cam)
    for k in range(5):
        frame = cam.next_frame()
        assert frame.index == k
        assert frame.exposure_start_s == pytest.approx(k / 30.0)
        assert frame.exposure_end_s == pytest.approx(k / 30.0 + 0.01)
        assert frame.ready_s == pytest.approx(k / 30.0 + 0.018)
        assert clock.now_s() == pytest.approx(frame.ready_s)
        assert frame.meta["dropped"] == 0
        assert frame.phase is None


def test_late_caller_gets_latest_ready_frame(stack: Path) -> None:
    cam = camera(stack, frame_rate_hz=30.0, exposure_s=0.01, readout_s=0.008)
    clock = vclock(cam)
    first = cam.next_frame()
    clock.advance(0.2)  # six frame periods
    now = clock.now_s()
    frame = cam.next_frame()
    assert frame.ready_s <= now
    assert frame.ready_s + 1 / 30.0 > now  # the next one is not ready yet: this is the latest
    assert frame.index == 6 and frame.meta["dropped"] == 5
    assert clock.now_s() == now  # no wait for a frame already read out
    nxt = cam.next_frame()
    assert nxt.index == 7 and nxt.meta["dropped"] == 0
    assert first.index == 0


def test_next_frame_never_from_the_future_on_a_real_clock(stack: Path) -> None:
    clock = RealClock()
    cam = camera(stack, clock=clock, frame_rate_hz=200.0, exposure_s=0.002, readout_s=0.001)
    last = -1
    for _ in range(4):
        frame = cam.next_frame()
        assert frame.ready_s <= clock.now_s()
        assert frame.index > last
        last = frame.index


def test_virtual_clock_runs_are_deterministic(stack: Path) -> None:
    def run() -> list[tuple[int, float, float, bytes]]:
        cam = camera(stack)
        out = []
        for k in range(8):
            if k % 3 == 0:
                cam.move_lens(1.7 * k)
            f = cam.next_frame()
            out.append((f.index, f.lens_start_d, f.lens_end_d, f.image.tobytes()))
        return out

    assert run() == run()


def test_lens_moving_during_exposure_gives_a_mixed_frame(stack: Path, slices: list[U8]) -> None:
    cam = camera(stack, frame_rate_hz=30.0, exposure_s=1 / 60, readout_s=0.008)
    clock = vclock(cam)
    cam.next_frame()  # frame 0; frame 1 exposes from 1/30 s for 1/60 s
    clock.sleep_until(1 / 30 + 0.004)  # command in the middle of frame 1's exposure
    cam.move_lens(12.0)  # full range: 40 ms, longer than the rest of the exposure
    frame = cam.next_frame()
    assert frame.index == 1 and frame.lens_moving
    assert frame.lens_start_d == 0.0  # the lens stood still until the command
    assert 0.0 < frame.lens_end_d < 12.0
    assert frame.lens_start_d != frame.lens_end_d
    for i in range(cam.n_slices):
        assert not np.array_equal(frame.image, slices[i])
    # the image is the mean over the exposure: compare with a finer average of still images
    times = np.linspace(frame.exposure_start_s, frame.exposure_end_s, 129)
    mids = 0.5 * (times[1:] + times[:-1])
    expected = np.mean(
        [cam.preview_at(cam.lens_position_at(float(t))).astype(np.float64) for t in mids], axis=0
    )
    err = np.abs(frame.image.astype(np.float64) - expected)
    assert err.mean() < 1.0
    assert 0.0 < frame.meta["slice_position"] < 3.0


# --- stills -----------------------------------------------------------------------------------
def test_still_capture_full_resolution_and_meta(tmp_path: Path) -> None:
    full = make_slices(4, size=(320, 240))
    folder = write_stack(tmp_path / "big", full)
    cam = StackCamera(folder, preview_px=(160, 120), release_lag_s=0.05)
    clock = vclock(cam)
    settle(cam, cam.slice_position_d(2))
    release = clock.now_s()
    still = cam.capture_still(release)
    assert still.exposure_start_s == pytest.approx(release + 0.05)
    assert still.exposure_end_s == pytest.approx(release + 0.05 + cam.still_exposure_s)
    assert clock.now_s() == pytest.approx(still.exposure_end_s)
    assert still.meta["slice"] == 2 and still.meta["slice_position"] == 2.0
    assert still.meta["file"] == "slice_02.png"
    assert still.image is not None and np.array_equal(still.image, full[2])
    assert still.lens_start_d == still.lens_end_d == pytest.approx(8.0)
    # preview frames exposed during the still are blacked out
    frame = cam.next_frame()
    assert frame.exposure_start_s >= still.exposure_end_s
    # between slices: the nearest index and the fractional position; render=False skips pixels
    settle(cam, 9.0)
    still = cam.capture_still(clock.now_s(), render=False)
    assert still.image is None
    assert still.meta["slice"] == 2 and still.meta["slice_position"] == pytest.approx(2.25)
    halfway = 0.5 * (full[2].astype(np.float64) + full[3].astype(np.float64))
    assert np.max(np.abs(cam.still_at(10.0).astype(np.float64) - halfway)) <= 0.5 + 1e-6


def test_late_release_exposes_after_now(stack: Path) -> None:
    cam = camera(stack, release_lag_s=0.02)
    vclock(cam).advance(1.0)
    still = cam.capture_still(0.5, render=False)  # released in the past: counts from now
    assert still.exposure_start_s == pytest.approx(1.02)


def test_capabilities(stack: Path) -> None:
    cam: Camera = camera(stack, frame_rate_hz=24.0)
    caps = cam.capabilities
    assert caps.lens_drive and caps.still_capture and caps.live_view
    assert not caps.phase_detect and not caps.hardware_af
    assert caps.lens_range_d == (0.0, 12.0)
    assert caps.frame_rate_hz == 24.0
    assert any("phase" in note for note in caps.notes)
    assert cam.next_frame(phase=True).phase is None


def test_custom_motor_sets_the_range(stack: Path) -> None:
    spec = MotorSpec("stepper", 0.5, 3.5, max_speed_d_per_s=10.0, accel_d_per_s2=100.0)
    cam = camera(stack, motor=spec)
    assert cam.lens_range_d == (0.5, 3.5)
    assert cam.lens_position_d() == 0.5
    assert cam.move_lens(99.0) == 3.5


# --- errors -----------------------------------------------------------------------------------
def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="not found"):
        StackCamera(tmp_path / "nope")


def test_file_instead_of_folder(stack: Path) -> None:
    with pytest.raises(StackError, match="must be a folder"):
        StackCamera(stack / "slice_00.png")


def test_fewer_than_two_images(tmp_path: Path) -> None:
    folder = write_stack(tmp_path / "one", make_slices(1))
    with pytest.raises(StackError, match=r"at least 2 images.*found 1"):
        StackCamera(folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CameraError, match="found 0"):
        StackCamera(empty)


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    folder = write_stack(tmp_path / "bad", make_slices(2))
    (folder / "slice_01.png").write_bytes(b"this is not a png")
    with pytest.raises(StackError, match=r"slice_01\.png") as err:
        StackCamera(folder)
    assert isinstance(err.value, AfonError)


def test_images_of_different_sizes_are_fitted_with_a_warning(tmp_path: Path) -> None:
    imgs = make_slices(3, size=(160, 120))
    imgs[1] = np.asarray(  # breathing: +5%
        cv2.resize(imgs[1], (168, 126), interpolation=cv2.INTER_AREA), np.uint8
    )
    folder = write_stack(tmp_path / "breathing", imgs)
    cam = StackCamera(folder, preview_px=(80, 60))
    assert len(cam.warnings) == 1 and "slice_01.png is 168x126" in cam.warnings[0]
    assert cam.warnings[0] in cam.capabilities.notes
    assert cam.slice_image(1).shape == (60, 80, 3)
    assert cam.still_at(cam.slice_position_d(1)).shape == (120, 160, 3)


def test_bad_parameters(stack: Path) -> None:
    with pytest.raises(ValueError, match="exposure_s"):
        camera(stack, exposure_s=0.1)  # longer than a 30 fps frame
    with pytest.raises(ValueError, match="lens_range_d"):
        camera(stack, lens_range_d=(3.0, 1.0))
    with pytest.raises(ValueError, match="preview_px"):
        camera(stack, preview_px=(0, 10))


def test_closed_camera_refuses(stack: Path) -> None:
    with camera(stack) as cam:
        cam.next_frame()
    with pytest.raises(CameraError, match="closed"):
        cam.next_frame()


# --- real focal stacks ------------------------------------------------------------------------
REAL = ("pcb-depthmap", "pcb-macro", "ring")


@functools.cache
def real_camera(name: str) -> StackCamera:
    folder = STACKS / name
    if not folder.is_dir():
        pytest.fail(f"focal stack {folder} missing from tests/data")
    return StackCamera(folder)


@pytest.mark.parametrize("name", REAL)
def test_real_stack_replays_each_slice(name: str) -> None:
    cam = real_camera(name)
    n = len(stack_files(STACKS / name))
    assert cam.n_slices == n
    assert cam.warnings == []
    for i in range(n):
        frame = settled_frame(cam, cam.slice_position_d(i))
        assert frame.image.shape == (480, 640, 3)
        assert frame.meta["slice"] == i
        assert np.array_equal(frame.image, cam.slice_image(i))
    mid = cam.preview_at(cam.slice_position_d(0) + 0.5 * (cam.slice_position_d(1)))
    assert not np.array_equal(mid, cam.slice_image(0))


def test_real_stack_still_is_the_original_photograph() -> None:
    cam = real_camera("ring")
    settle(cam, cam.slice_position_d(3))
    still = cam.capture_still(cam.clock.now_s())
    original = cv2.imread(str(cam.files[3]), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    assert original is not None
    assert still.meta["slice"] == 3 and still.meta["file"] == "step3.jpg"
    assert still.image is not None
    assert np.array_equal(still.image, cv2.cvtColor(original, cv2.COLOR_BGR2RGB))
    assert math.isclose(still.lens_d, cam.slice_position_d(3))
