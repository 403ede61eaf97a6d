"""The honest camera (issue 9, lens / timing / reporting): each effect against physics or a hand
computation, and one test per defect that would have caught it."""

from __future__ import annotations

import dataclasses
import math
from importlib import resources
from pathlib import Path

import pytest

from afon.cameras.base import Camera, Capabilities, Frame, Still
from afon.cameras.sim.camera import ExposureTruth, SimCamera
from afon.cameras.sim.motor import LensMotor, MotorSpec
from afon.cameras.sim.preset import CameraPreset, load_preset
from afon.cameras.sim.scene import card_scene
from afon.clock import Clock
from afon.focus.calibration import calibrate_pdaf

PREVIEW = (160, 120)
CAL_PREVIEW = (640, 480)
"""PDAF calibrations run at the benchmark's preview size (sub-pixel disparities need it)."""


def preset_with(name: str, **timing: object) -> CameraPreset:
    p = load_preset(name)
    return dataclasses.replace(p, timing=dataclasses.replace(p.timing, **timing))


def still_motor(p: CameraPreset) -> CameraPreset:
    """The preset with an ideal motor (no ringing, offset or hysteresis)."""
    m = dataclasses.replace(
        p.motor, resonance_hz=0.0, damping_ratio=1.0, posture_offset_d=0.0, hysteresis_d=0.0
    )
    return dataclasses.replace(p, motor=m)


# --- auto exposure and timing ---------------------------------------------------------------
def test_daylight_exposure_is_the_auto_exposure_not_the_frame_budget() -> None:
    """Defect: motion mixing and timestamps used the 16 ms budget while AE exposes 1.6 ms.

    By hand (cm3, 10,000 lx): pixel 1.4 µm → full well 2000 e⁻/µm² · 1.96 µm² = 3920 e⁻;
    rate = 1800 e⁻/(lx·s·µm²) · 10⁴ lx · 0.9 / (4 · 1.8²) · 1.96 µm² = 2.45·10⁶ e⁻/s;
    integration = 3920 / 2.45·10⁶ = 1.60 ms.
    """
    cam = SimCamera(
        card_scene(1.0, "skimage:brick", light_lux=10000.0),
        "cm3",
        preview_px=PREVIEW,
        render_frames=False,
    )
    rate = 1800.0 * 1e4 * 0.9 / (4 * 1.8**2) * (6.45e3 / 4608) ** 2
    full_well = 2000.0 * (6.45e3 / 4608) ** 2
    assert cam.integration_s == pytest.approx(full_well / rate, rel=1e-6)
    assert cam.integration_s == pytest.approx(1.60e-3, abs=0.01e-3)
    f = cam.next_frame()
    timing = cam.preset.timing
    # first row's start to last row's end: integration + rolling readout, not the budget
    assert f.exposure_end_s - f.exposure_start_s == pytest.approx(
        cam.integration_s + timing.readout_s
    )
    assert f.ready_s - f.exposure_end_s == pytest.approx(timing.pipeline_latency_s)
    # the first row stops integrating at the end of the budget (fixed readout grid)
    assert f.exposure_start_s + cam.integration_s == pytest.approx(timing.exposure_s)


def test_low_light_uses_the_whole_budget_and_gain() -> None:
    cam = SimCamera(
        card_scene(1.0, "skimage:brick", light_lux=5.0),
        "cm3",
        preview_px=PREVIEW,
        render_frames=False,
    )
    assert cam.integration_s == pytest.approx(cam.preset.timing.exposure_s)
    assert cam.renderer.exposure(cam.preset.timing.exposure_s).gain > 1.0


def test_a_move_before_the_integration_does_not_mix_into_the_frame() -> None:
    """With AE at 1.6 ms, a lens move that ends before the centre row integrates leaves the
    frame in focus at the new position (with the 16 ms window it was mixed)."""
    p = still_motor(preset_with("cm3", pipeline_latency_s=0.0))
    cam = SimCamera(
        card_scene(1.0, "skimage:brick", light_lux=10000.0),
        p,
        preview_px=PREVIEW,
        render_frames=False,
        start_d=1.0,
    )
    cam.next_frame()  # frame 0 ready at 0.026 s
    cam.move_lens(1.5)  # a 0.5 D move takes 0.8 ms + 8 ms settle on the VCM
    f = cam.next_frame()  # frame 1: centre row integrates ~0.047-0.049 s
    truth = cam.truth_of(f)
    assert truth.lens_d == pytest.approx(1.5)


# --- the motor remembers its history --------------------------------------------------------
def test_a_frame_exposing_when_a_command_arrives_keeps_its_true_focus() -> None:
    """Defect: a new command made the motor forget its plan, so a frame exposed before the
    command read the lens where it was at the command (4.5 D instead of 1.5 D)."""
    spec = MotorSpec("vcm", 0.0, 12.0, 600.0, 120000.0)
    m = LensMotor(spec, 1.5)
    m.command(4.5, 0.010)
    before = [m.position_d(t) for t in (0.0, 0.009, 0.011, 0.013)]
    m.command(1.5, 0.014)
    after = [m.position_d(t) for t in (0.0, 0.009, 0.011, 0.013)]
    assert after == before
    assert after[0] == pytest.approx(1.5)


def test_the_motor_history_through_the_camera() -> None:
    p = still_motor(preset_with("cm3", pipeline_latency_s=0.0))
    cam = SimCamera(
        card_scene(1.0, "skimage:brick", light_lux=5.0),
        p,
        preview_px=PREVIEW,
        render_frames=False,
        start_d=1.5,
    )
    cam.next_frame()
    f = cam.next_frame()  # exposed 0.0333..0.0596 s at 1.5 D, ready 0.0596 s
    cam.move_lens(4.5)
    cam.move_lens(2.0)  # a second command before the next frame
    assert cam.truth_of(f).lens_start_d == pytest.approx(1.5)
    assert cam.true_lens_d(f.exposure_end_s) == pytest.approx(1.5)


# --- what a real lens does ------------------------------------------------------------------
def vcm(resonance_hz: float, zeta: float, **kw: float) -> MotorSpec:
    return MotorSpec(
        "vcm", 0.0, 12.0, 1e6, 1e12, resonance_hz=resonance_hz, damping_ratio=zeta, **kw
    )


def test_vcm_rings_like_a_damped_oscillator() -> None:
    """A (near) step of 1 D into a 100 Hz, ζ = 0.2 spring-mass: overshoot exp(−πζ/√(1−ζ²))
    = 52.7 % at the damped half period π/ω_d = 5.10 ms, envelope decaying as e^(−ζωt)."""
    zeta, f0 = 0.2, 100.0
    m = LensMotor(vcm(f0, zeta), 1.0)
    m.command(2.0, 0.0)
    wd = 2 * math.pi * f0 * math.sqrt(1 - zeta**2)
    t_peak = math.pi / wd
    assert t_peak == pytest.approx(5.10e-3, abs=0.01e-3)
    overshoot = m.position_d(t_peak) - 2.0
    assert overshoot == pytest.approx(math.exp(-math.pi * zeta / math.sqrt(1 - zeta**2)), rel=1e-3)
    # no point near t_peak is higher (it is the maximum)
    assert all(m.position_d(t_peak + dt) <= m.position_d(t_peak) + 1e-12 for dt in (-2e-4, 2e-4))
    # one full damped period later the error has shrunk by exp(−ζω·2π/ω_d)
    t2 = t_peak + 2 * math.pi / wd
    ratio = (m.position_d(t2) - 2.0) / overshoot
    assert ratio == pytest.approx(math.exp(-zeta * 2 * math.pi * f0 * 2 * math.pi / wd), rel=1e-3)
    # and it comes to rest on the target
    assert m.position_d(0.5) == pytest.approx(2.0, abs=1e-9)
    # the driver reports what it commanded: no ringing in the report
    assert m.reported_d(t_peak) == pytest.approx(2.0)


def test_cm3_ringing_after_the_reported_settle_is_small_but_real() -> None:
    p = load_preset("cm3")
    m = LensMotor(p.motor, 1.0)
    m.command(5.0, 0.0)
    done = m.arrival_s() + p.motor.settle_s
    assert not m.is_moving(done)
    rest = m.position_d(1.0)
    err = abs(m.position_d(done) - rest)
    assert 1e-4 < err < 0.5 * 0.40  # under half the depth of focus (0.40 D), not zero


def test_posture_offset_is_the_spring_sag_by_hand(tmp_path: Path) -> None:
    """cm3: a 100 Hz spring-held lens sags g/ω² = 9.81/(2π·100)² = 24.85 µm pointing straight
    down; aimed 10° down, 24.85 · sin 10° = 4.315 µm on the image side, over f² = 22.47 µm/D:
    0.192 D nearer than commanded. Level (the built-in preset, as calibrated): none."""
    assert load_preset("cm3").motor.posture_offset_d == 0.0
    text = (resources.files("afon.cameras.sim") / "presets" / "cm3.toml").read_text()
    tilted = tmp_path / "cm3-tilted.toml"
    tilted.write_text(text.replace("posture_pitch_deg = 0.0", "posture_pitch_deg = 10.0"))
    p = load_preset(tilted)
    sag_um = 9.81 / (2 * math.pi * 100.0) ** 2 * 1e6
    assert sag_um == pytest.approx(24.85, abs=0.01)
    assert p.motor.posture_offset_d == pytest.approx(
        sag_um * math.sin(math.radians(10.0)) / 4.74**2, rel=1e-9
    )
    assert p.motor.posture_offset_d == pytest.approx(0.192, abs=1e-3)
    assert p.motor.hysteresis_d == pytest.approx(3.0 / 4.74**2)
    m = LensMotor(p.motor, 1.0)
    m.command(3.0, 0.0)
    assert m.position_d(1.0) - m.reported_d(1.0) == pytest.approx(
        p.motor.posture_offset_d - p.motor.hysteresis_d / 2
    )


def test_hysteresis_ends_short_on_the_side_the_lens_came_from() -> None:
    spec = vcm(100.0, 0.5, posture_offset_d=0.1, hysteresis_d=0.06)
    up = LensMotor(spec, 1.0)
    up.command(3.0, 0.0)
    down = LensMotor(spec, 5.0)
    down.command(3.0, 0.0)
    assert up.position_d(1.0) == pytest.approx(3.0 + 0.1 - 0.03)
    assert down.position_d(1.0) == pytest.approx(3.0 + 0.1 + 0.03)
    # both report the commanded 3.0 D: the driver cannot see it
    assert up.reported_d(1.0) == down.reported_d(1.0) == 3.0


def test_a_lens_command_takes_effect_frames_later() -> None:
    """lens_latency_frames = 2: a command issued during frame n's readout moves the lens at
    the second frame boundary after it; frames exposed meanwhile show the old position and
    report the lens as moving (the request is pending), as Android's LENS_STATE does."""
    p = still_motor(preset_with("cm3", pipeline_latency_s=0.0, lens_latency_frames=2))
    cam = SimCamera(
        card_scene(1.0, "skimage:brick", light_lux=5.0),
        p,
        preview_px=PREVIEW,
        render_frames=False,
        start_d=1.0,
    )
    f0 = cam.next_frame()
    issued = cam.clock.now_s()
    cam.move_lens(3.0)
    assert cam.lens_moving()
    period = 1 / 30
    applied = (math.floor(issued / period) + 2) * period
    frames = [cam.next_frame() for _ in range(5)]
    assert f0.ready_s == pytest.approx(issued)
    for f in frames:
        truth = cam.truth_of(f)
        if f.exposure_end_s < applied:
            assert truth.lens_d == pytest.approx(1.0)
            assert f.lens_moving and f.lens_d == pytest.approx(1.0)
    assert cam.true_lens_d(applied - 1e-6) == pytest.approx(1.0)
    assert cam.true_lens_d(applied + 0.01) == pytest.approx(3.0)


def test_latency_zero_moves_at_once() -> None:
    p = still_motor(preset_with("cm3", lens_latency_frames=0))
    cam = SimCamera(
        card_scene(1.0, "skimage:brick"), p, preview_px=PREVIEW, render_frames=False, start_d=1.0
    )
    cam.next_frame()
    now = cam.clock.now_s()
    cam.move_lens(3.0)
    assert cam.true_lens_d(now + 1e-3) > 1.0


# --- what the camera reports ----------------------------------------------------------------
def test_frames_carry_the_reported_lens_position_never_the_true_one() -> None:
    cam = SimCamera(
        card_scene(1.0, "skimage:brick"),
        "cm3",
        preview_px=PREVIEW,
        render_frames=False,
        start_d=2.0,
    )
    cam.next_frame()
    cam.move_lens(4.0)
    frames = [cam.next_frame() for _ in range(6)]
    last = frames[-1]
    truth = cam.truth_of(last)
    # at rest the VCM reports the commanded 4.0 D; the lens sags and sticks elsewhere
    assert last.lens_d == pytest.approx(4.0)
    assert truth.lens_d == pytest.approx(
        4.0 + cam.preset.motor.posture_offset_d - cam.preset.motor.hysteresis_d / 2, abs=1e-3
    )
    assert cam.lens_position_d() == pytest.approx(4.0)
    # a frame has no truth in it: only reported fields
    names = {f.name for f in dataclasses.fields(Frame)}
    assert names.isdisjoint(
        {f.name for f in dataclasses.fields(ExposureTruth)} - {"lens_start_d", "lens_end_d"}
    )
    assert "subject_distance_m" not in last.meta and "in_focus" not in last.meta


def test_a_lens_with_an_encoder_reports_its_measured_position() -> None:
    p = load_preset("300mm-f2.8")
    assert p.motor.position_sensor
    m = LensMotor(p.motor, 0.1)
    m.command(0.3, 0.0)
    for t in (0.05, 0.1, 0.2):
        assert m.reported_d(t) == pytest.approx(p.motor.quantise(m.position_d(t)))


def test_stills_carry_no_truth_the_judge_gets_it_separately() -> None:
    cam = SimCamera(
        card_scene(2.0, "skimage:brick"),
        "cm3",
        preview_px=PREVIEW,
        render_frames=False,
        start_d=0.5,
    )
    still = cam.capture_still(cam.clock.now_s(), render=False)
    assert still.meta == {}
    truth = cam.judge_still(still)
    assert truth["subject_distance_m"] == pytest.approx(2.0)
    assert truth["in_focus"] is cam.optics.in_focus(2.0, truth["lens_d"])


def test_frames_reach_software_after_the_pipeline_latency() -> None:
    p = load_preset("cm3")
    assert p.timing.pipeline_latency_s == pytest.approx(1 / 30, abs=1e-3)
    cam = SimCamera(card_scene(1.0, "skimage:brick"), p, preview_px=PREVIEW, render_frames=False)
    for _ in range(3):
        f = cam.next_frame()
        assert cam.clock.now_s() == pytest.approx(f.exposure_end_s + p.timing.pipeline_latency_s)
    assert cam.capabilities.pipeline_latency_s == p.timing.pipeline_latency_s


# --- optics defects -------------------------------------------------------------------------
def test_closest_focus_is_measured_from_the_sensor_plane() -> None:
    """Defect: 1/closest_focus_m took the sensor-plane distance as the lens distance.

    50 mm at 0.45 m from the sensor: u + 50u/(u − 50) = 450 ⇒ u² − 450u + 22500 = 0 ⇒
    u = (450 + √112500)/2 = 392.7 mm ⇒ 2.546 D (not 2.222 D)."""
    o = load_preset("50mm-f1.8").optics
    u = (450 + math.sqrt(450**2 - 4 * 450 * 50)) / 2
    assert o.closest_object_m == pytest.approx(u / 1000)
    assert o.max_focus_d == pytest.approx(2.546, abs=1e-3)
    assert o.closest_object_m + o.image_distance_mm(o.max_focus_d) / 1000 == pytest.approx(0.45)


def test_the_300mm_breathes_like_an_internal_focus_telephoto() -> None:
    """Defect: the image grew as the 300 mm focused closer (unit focusing). An internal-focus
    telephoto shortens its focal length: the maker's 0.18× at 2.0 m gives f = 258.5 mm at
    closest focus, and a subject's image shrinks as the lens focuses closer."""
    o = load_preset("300mm-f2.8").optics
    assert o.effective_focal_length_mm(o.max_focus_d) == pytest.approx(
        2000 * 0.18 / 1.18**2, rel=1e-9
    )
    subject_m = 5.0
    far = o.magnification(subject_m, 0.0)
    near = o.magnification(subject_m, o.max_focus_d)
    assert near < far
    assert near / far == pytest.approx(258.55 / 300, rel=1e-3)
    # the maker's figure back at closest focus (within 3 %)
    u = o.closest_object_m
    assert o.magnification(u, o.max_focus_d) == pytest.approx(0.18, rel=0.03)
    # a unit-focusing 50 mm still grows
    o50 = load_preset("50mm-f1.8").optics
    assert o50.magnification(3.0, 2.0) > o50.magnification(3.0, 0.0)


def test_the_300mm_full_travel_matches_its_cited_figure() -> None:
    """Defect: full travel took 0.447 s, ~15 % faster than the cited 0.5-0.65 s."""
    m = load_preset("300mm-f2.8").motor
    t = m.travel_time_s(m.max_d - m.min_d)
    assert 0.5 <= t <= 0.65
    assert t == pytest.approx(0.575, abs=0.01)


# --- PDAF as sensors give it ----------------------------------------------------------------
class InterfaceOnly:
    """A camera seen only through the `Camera` protocol (no optics, preset or renderer)."""

    def __init__(self, cam: SimCamera) -> None:
        self._cam = cam
        self.clock: Clock = cam.clock

    @property
    def capabilities(self) -> Capabilities:
        return self._cam.capabilities

    def next_frame(self, phase: bool = False) -> Frame:
        return self._cam.next_frame(phase)

    def move_lens(self, target_d: float) -> float:
        return self._cam.move_lens(target_d)

    def lens_position_d(self) -> float:
        return self._cam.lens_position_d()

    def lens_moving(self) -> bool:
        return self._cam.lens_moving()

    def capture_still(self, release_s: float, render: bool = True) -> Still:
        return self._cam.capture_still(release_s, render)

    def close(self) -> None:
        self._cam.close()


def ideal_gain_d_per_px(p: CameraPreset, preview_px: tuple[int, int]) -> float:
    """1 / (4/(3π) × blur px per dioptre): the ideal half-pupil PDAF (unit focusing)."""
    o = p.optics
    blur_px_per_d = (
        o.focal_length_mm**2 / 1000.0 / o.f_number / o.pixel_pitch_mm * o.preview_scale(preview_px)
    )
    return 1.0 / (4.0 / (3.0 * math.pi) * blur_px_per_d)


@pytest.mark.parametrize("preset", ["cm3", "50mm-f1.8"])
def test_pdaf_calibration_measures_the_gain_and_the_offset(preset: str) -> None:
    """The calibration routine, through the camera interface only, finds the disparity gain
    below ideal (gain_ratio) and the phase-zero offset of the preset."""
    cam = SimCamera("portrait", preset, preview_px=CAL_PREVIEW)
    rig = cam.calibration_rig()
    wrapped = dataclasses.replace(rig, make_camera=lambda: InterfaceOnly(rig.make_camera()))
    cal = calibrate_pdaf(wrapped)
    p = cam.preset
    ideal = ideal_gain_d_per_px(p, CAL_PREVIEW)
    # less disparity per dioptre than ideal by about gain_ratio (the engine's NCC estimator
    # reads sub-pixel shifts ~8 % short as well: that is what a calibration is for)
    assert ideal / cal.phase_d_per_px == pytest.approx(p.phase.gain_ratio, rel=0.15)
    assert ideal / cal.phase_d_per_px < 0.8
    dof = cam.capabilities.depth_of_focus_d
    assert dof is not None
    # the contrast peak of the sweep is found to about half a depth of focus
    assert cal.phase_offset_d == pytest.approx(-p.phase.zero_offset_d, abs=0.75 * dof)
    assert cal.rms_residual_px < 0.05


def test_the_context_takes_pdaf_from_the_calibration_not_the_renderer() -> None:
    from afon.focus.calibration import calibrated_pdaf
    from afon.focus.context import context_for

    cam = SimCamera("portrait", "cm3", preview_px=CAL_PREVIEW)
    ctx = context_for(cam)
    cal = calibrated_pdaf(cam)
    assert cal is not None
    assert ctx.phase_d_per_px == cal.phase_d_per_px
    assert ctx.phase_offset_d == cal.phase_offset_d
    assert ctx.pipeline_latency_s == cam.preset.timing.pipeline_latency_s
    # a camera without a rig (seen through the interface only) gets no PDAF gain
    assert context_for(InterfaceOnly(cam)).phase_d_per_px is None


def test_interface_only_is_a_camera() -> None:
    cam: Camera = InterfaceOnly(
        SimCamera(card_scene(1.0, "skimage:brick"), "cm3", preview_px=PREVIEW, render_frames=False)
    )
    assert cam.capabilities.phase_detect
