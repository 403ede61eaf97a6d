"""libcamera's Raspberry Pi autofocus (``rpi.af``), ported as a baseline: PDAF, the contrast
(CDAF) scan it falls back to, and continuous AF.

Upstream: raspberrypi/libcamera ``v0.7.1+rpt20260429`` (commit 26bfadc6),
``src/ipa/rpi/controller/rpi/af.cpp`` (cited as af.cpp:LINE) and ``af.h``; tuning
``src/ipa/rpi/vc4/data/imx708.json`` lines 686-740 (the ``rpi.af`` block; identical in
``pisp/data/imx708.json`` from line 1200). Written from reading that source, not copied.

`RpiAf` is the algorithm core, one `RpiAf.prepare` per frame as libcamera's ``prepare()``
(af.cpp:775-822) runs ``doAF`` then ``updateLensPosition``. The rules, with their lines:

- **Tuning** (`IMX708_NORMAL`, `IMX708_FAST`, verbatim from imx708.json:705-737): steps,
  ``contrast_ratio``, ``pdaf_gain``, ``pdaf_squelch``, ``max_slew``, ``pdaf_frames``,
  ``dropout_frames``, ``step_frames``, ``retrigger_*``; ``conf_epsilon`` 8, ``conf_thresh`` 16,
  ``conf_clip`` 512, ``skip_frames`` 5; range 0-12 D, default 1 D. `CDAF_ONLY` is the same
  tuning with ``pdaf_frames = dropout_frames = 0``, which makes ``startAF`` go straight to the
  scan (af.cpp:716-718), as on a module without PDAF (OV64A40's tuning does this).
- **Weights** (`region_weights`, af.cpp:267-322): the AF window's area over each statistics
  cell, ``ceil(46080 / (10·rows·cols) × overlap / cell area)``; without a window the middle
  half width × third height (af.cpp:313-321).
- **Phase aggregate** (`aggregate_phase`, af.cpp:331-366): cells with ``conf ≥ conf_thresh``
  count, confidence clipped to ``conf_clip`` minus ``conf_thresh/2``; phase = Σw·c·p / Σw·c,
  conf = Σw·c / Σw, valid only when Σw·c ≥ Σw.
- **Contrast** (af.cpp:368-383): the weighted mean of the cells' raw focus figures.
- **Skip** (af.cpp:590-595): ``skip_frames`` frames are ignored after start-up or a mode
  switch (af.cpp:264) and after the first lens setting from an unknown position
  (af.cpp:705-710) — not at every trigger. `RpiAf(started=True)` is a camera that has been
  streaming (the skip is over); ``started=False`` models the first frames after start-up.
- **Same-sign count** (af.cpp:597-602): frames in a row with the phase of the same sign.
- **PDAF, triggered** (af.cpp:607-637, 448-459): while ``conf ≥ conf_epsilon`` the lens moves
  by ``pdaf_gain × phase`` each frame, for at most ``pdaf_frames`` iterations; a step below
  ``pdaf_squelch`` cuts the count to ``step_frames``; in the last ``step_frames`` iterations
  the step is multiplied by ``stepCount / step_frames`` — an *integer* division upstream, so 0:
  the lens stays — and then AF ends (Idle, reported Focused unless a step hit the slew limit
  at a range end: af.cpp:461-473).
- **PDAF dropout** (af.cpp:627-635): ``dropout_frames`` frames in a row with
  ``conf < conf_epsilon`` start the contrast scan (triggered) or wait for a scene change
  (continuous); a confident frame resets the count.
- **PDAF, continuous** (af.cpp:438-447, 616): a move only once the same-sign count is 3 (the
  4th reading in a row of one sign); the step is scaled by ``conf / (conf + conf_epsilon)``,
  and below ``pdaf_squelch`` by ``(step / squelch)²`` (a cubic near zero, against wobble);
  Focused unless the step hit the slew limit (af.cpp:461-471). Confident frames refresh the
  scene's contrast (af.cpp:622-625), so the lens's own PDAF moves are never a scene change.
- **Slew** (af.cpp:692-711): the commanded position moves at most ``max_slew`` per frame toward
  the target, clamped to the range while in PDAF or a scan.
- **Scan start** (af.cpp:736-757): triggered from the range's min with ``+step_coarse``
  (Coarse2); in continuous mode from where the lens is when that is more than 2 coarse steps
  from both ends, first toward far (Coarse1), reversing if the first sample is not 25% below
  the maximum; within 2 coarse steps of an end, from that end (Coarse2).
- **Scan step** (af.cpp:535-586, 658-689): wait until the slew-limited command reached the
  target, then the step wait, then record (position, contrast, phase, conf); the scan ends at
  a range end, after 3 fine samples, or when contrast < ``contrast_ratio`` × the scan's max;
  then the fine scan starts at ``peak ± step_fine`` stepping back, or (fine done / no fine
  step) the lens goes to the peak and settles.
- **Peak** (`find_peak`, af.cpp:502-533): the best sample and its neighbours (same-side at an
  end); parabola vertex ``(aby·cbx² − cby·abx²) / (2·(aby·cbx − cby·abx))`` accepted when
  ``|denominator| ≥ 1/64`` on the *raw* contrast figures and ``denominator · abx > 0``, clamped
  to the neighbours' offsets, i.e. to the three samples' interval.
- **Early termination by phase** (af.cpp:476-500, 683-686): during a scan, with the last sample
  and the current frame confident and the phase gradient of the expected sign, jump to the
  interpolated zero-phase position (``-2.5 ≤ param ≤ 3``) and settle.
- **Settle verdict** (af.cpp:668-682): Focused iff the settled contrast ≥ ratio × max and the
  scan's min ≤ ratio × max; then Idle (triggered) or back to PDAF (continuous with PDAF).
- **Scene change** (af.cpp:638-657): in continuous mode while PDAF is out (dropped out, or
  none), a contrast (or colour) change beyond ``retrigger_ratio`` against the reference makes
  this frame the reference and counts 1, every later frame counts one more, and at
  ``retrigger_delay`` the scan starts. The port checks contrast only (afon's frames carry no
  AWB statistics).

What differs from the hardware, and why (all stated in docs/autofocus.md):

- **Timing: one rule for every strategy.** Upstream waits ``step_frames`` (5) frames after a
  scan move — a count tuned to the IMX708 pipeline (lens settling plus the ISP's statistics
  latency; af.cpp:766-773). Here the frames come from afon's camera, whose pipeline latency and
  lens settling differ, so the wait ends at the first frame afon's timing rule
  (`afon.focus.engine.MeasurementGate`) passes — the same rule afon's own strategies obey
  (``step_wait="gate"``, the default). ``step_wait="frames"`` keeps upstream's count (for the
  tests that pin upstream behaviour). PDAF iterations likewise run on the frames the rule
  passes, in Auto and Continuous mode alike: a frame exposed before the lens got to the last
  command carries no new reading, and counts neither as a same-sign nor as a dropout frame.
  Upstream runs the PDAF loop on every frame, but its step is relative to the *commanded*
  position (``ftarget_ = fsmooth_ + phase``, af.cpp:473): it takes each frame's phase as
  measured with the lens at ``fsmooth_``, which the IMX708 nearly gives (the lens command goes
  out from ``prepare()`` to keep PDAF feedback fast, af.cpp:766-773). On afon's cameras 1-4
  frames are exposed before a command has taken effect (lens latency, motor travel, pipeline
  latency); fed those, the continuous loop applied each correction 2-4 times and hunted (±1.3 D
  on cm3 on a still card; the same-sign rule does not stop it: after every reversal it moves
  again on the 4th reading, and the next, stale, frame doubles the step).
- **Statistics from afon's measurements**: per-cell phase and confidence from afon's
  `afon.focus.phase.measure_phase` on a 16×12 grid (the IMX708's PDAF grid,
  cam_helper_imx708.cpp:73-74), the phase expressed in libcamera's units — dioptres divided
  by `PDAF_D_PER_UNIT` with libcamera's sign (positive = move far) — so the tuning's
  ``pdaf_gain`` keeps the loop gain it has on the module; confidence = afon's 0..1 ×
  ``conf_clip``. Contrast per cell is the raw sum of the squared Sobel gradient of the luma on
  an 8×8 grid (PiSP's focus regions), as an ISP's focus statistic is a raw sum.
- **Other lenses**: `scaled_tuning` multiplies the search's dioptre figures (steps,
  ``pdaf_squelch``, ``max_slew``) by the lens range over the IMX708's 12 D, so the search takes
  as many steps as on the module; frame counts and the PDAF loop gain stay.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from afon.cameras.base import Frame
from afon.focus.engine import (
    Acquisition,
    AfContext,
    AfStatus,
    AfStep,
    AfWindow,
    MeasurementGate,
)
from afon.focus.phase import measure_phase

UPSTREAM = "raspberrypi/libcamera v0.7.1+rpt20260429 (26bfadc6)"

CM3_RANGE_D = 12.0
"""The range of libcamera's IMX708 tuning ("normal": 0-12 D)."""

PDAF_D_PER_UNIT = 1.0 / 60.0
"""Dioptres per unit of libcamera's PDAF phase on the IMX708 (S.11.4: 1/16 sensor pixel,
pdaf_data.h): the module's ideal disparity, 4/(3π) × f²/(N·pitch) = 0.424 × (4.74 mm)² /
(1.8 × 1.4 µm) = 3.75 px per dioptre, is 60 units per dioptre. The tuning's ``pdaf_gain``
(−0.016 D per unit) is then a loop gain of 0.96."""

PDAF_GRID = (16, 12)
"""IMX708 PDAF statistics: 16 columns × 12 rows (cam_helper_imx708.cpp:73-74)."""
FOCUS_GRID = (8, 8)
"""Focus (CDAF) statistics regions on the PiSP ISP."""
MAX_WINDOWS = 10
"""af.cpp:171."""


@dataclass(frozen=True)
class RpiAfSpeed:
    """One ``speeds`` entry of the rpi.af tuning (af.h SpeedDependentParams); the defaults are
    the IMX708's "normal" speed (imx708.json:705-718)."""

    step_coarse: float = 1.0
    step_fine: float = 0.25
    contrast_ratio: float = 0.75
    retrigger_ratio: float = 0.8
    retrigger_delay: int = 10
    pdaf_gain: float = -0.016
    pdaf_squelch: float = 0.125
    max_slew: float = 1.5
    pdaf_frames: int = 20
    dropout_frames: int = 6
    step_frames: int = 5


@dataclass(frozen=True)
class RpiAfTuning:
    """The rpi.af tuning block (af.h CfgParams with one range and one speed)."""

    speed: RpiAfSpeed
    focus_min: float = 0.0
    focus_max: float = 12.0
    focus_default: float = 1.0
    conf_epsilon: int = 8
    conf_thresh: int = 16
    conf_clip: int = 512
    skip_frames: int = 5
    pdaf_d_per_unit: float = PDAF_D_PER_UNIT


IMX708_NORMAL = RpiAfTuning(
    RpiAfSpeed(
        step_coarse=1.0,
        step_fine=0.25,
        contrast_ratio=0.75,
        retrigger_ratio=0.8,
        retrigger_delay=10,
        pdaf_gain=-0.016,
        pdaf_squelch=0.125,
        max_slew=1.5,
        pdaf_frames=20,
        dropout_frames=6,
        step_frames=5,
    )
)
"""imx708.json:705-718 ("normal" speed) with :689-695, :734-737."""

IMX708_FAST = RpiAfTuning(
    RpiAfSpeed(
        step_coarse=1.25,
        step_fine=0.0,
        contrast_ratio=0.75,
        retrigger_ratio=0.8,
        retrigger_delay=8,
        pdaf_gain=-0.02,
        pdaf_squelch=0.125,
        max_slew=2.0,
        pdaf_frames=16,
        dropout_frames=4,
        step_frames=4,
    )
)
"""imx708.json:719-732 ("fast" speed)."""

CDAF_ONLY = replace(
    IMX708_NORMAL, speed=replace(IMX708_NORMAL.speed, pdaf_frames=0, dropout_frames=0)
)
"""The normal tuning on a module without PDAF: ``startAF`` goes straight to the scan."""


def scaled_tuning(tuning: RpiAfTuning, lens_min_d: float, lens_max_d: float) -> RpiAfTuning:
    """`tuning` on another lens: its range, and the dioptre figures of the search (steps,
    squelch, slew) scaled by the lens range over the IMX708's 12 D; frame counts unchanged.
    The PDAF unit stays (`PDAF_D_PER_UNIT`): the phase comes from afon's calibration of this
    lens, so ``pdaf_gain`` keeps its loop gain of 0.96 on every lens. On a 0-12 D lens this is
    the tuning itself."""
    k = (lens_max_d - lens_min_d) / CM3_RANGE_D
    sp = tuning.speed
    speed = replace(
        sp,
        step_coarse=sp.step_coarse * k,
        step_fine=sp.step_fine * k,
        pdaf_squelch=sp.pdaf_squelch * k,
        max_slew=sp.max_slew * k,
    )
    default = lens_min_d + (tuning.focus_default - tuning.focus_min) * k
    return replace(
        tuning,
        speed=speed,
        focus_min=lens_min_d,
        focus_max=lens_max_d,
        focus_default=default,
    )


# --- statistics ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegionWeights:
    rows: int
    cols: int
    w: tuple[int, ...]

    @property
    def sum(self) -> int:
        return sum(self.w)


def region_weights(
    rows: int, cols: int, window: AfWindow | None, size_px: tuple[int, int]
) -> RegionWeights:
    """af.cpp:267-322: each cell's share of the AF window (integer, as upstream), or the
    default middle 1/2 × 1/3 when there is no window. `size_px` is the statistics region."""
    width, height = size_px
    w = [0] * (rows * cols)
    total = 0
    if window is not None and height >= rows and width >= cols:
        max_cell = 46080 // (MAX_WINDOWS * rows * cols)
        cell_h = height // rows
        cell_w = width // cols
        cell_a = cell_h * cell_w
        wx, wy, ww, wh = window.to_px(width, height)
        for r in range(rows):
            y0 = max(cell_h * r, wy)
            y1 = min(cell_h * (r + 1), wy + wh)
            if y0 >= y1:
                continue
            for c in range(cols):
                x0 = max(cell_w * c, wx)
                x1 = min(cell_w * (c + 1), wx + ww)
                if x0 >= x1:
                    continue
                a = (y1 - y0) * (x1 - x0)
                a = (max_cell * a + cell_a - 1) // cell_a
                w[r * cols + c] += a
                total += a
    if total == 0:
        for r in range(rows // 3, rows - rows // 3):
            for c in range(cols // 4, cols - cols // 4):
                w[r * cols + c] = 1
    return RegionWeights(rows, cols, tuple(w))


def aggregate_phase(
    weights: RegionWeights, phases: list[float], confs: list[int], tuning: RpiAfTuning
) -> tuple[float, float, bool]:
    """af.cpp:331-366: (phase, conf, valid) from per-cell phase and confidence."""
    sum_wc = 0
    sum_wcp = 0.0
    for wt, p, c in zip(weights.w, phases, confs, strict=True):
        if wt and c >= tuning.conf_thresh:
            c = min(c, tuning.conf_clip) - (tuning.conf_thresh >> 1)
            sum_wc += wt * c
            sum_wcp += wt * c * p
    total = weights.sum
    if 0 < total <= sum_wc:
        return sum_wcp / sum_wc, sum_wc / total, True
    return 0.0, 0.0, False


def weighted_contrast(weights: RegionWeights, values: list[float]) -> float:
    """af.cpp:368-383: the weighted mean of the cells' focus figures."""
    total = weights.sum
    if total <= 0:
        return 0.0
    return sum(wt * v for wt, v in zip(weights.w, values, strict=True)) / total


def focus_regions(luma: np.ndarray, rows: int, cols: int) -> list[float]:
    """Raw focus figure per cell: Σ (Gx² + Gy²) of the 3×3 Sobel gradient (ISP-like sums)."""
    img = np.asarray(luma, np.float32)
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    energy = gx * gx + gy * gy
    h, w = energy.shape
    ch, cw = h // rows, w // cols
    cells = energy[: ch * rows, : cw * cols].reshape(rows, ch, cols, cw).sum(axis=(1, 3))
    return [float(v) for v in cells.ravel()]


# --- the algorithm core ----------------------------------------------------------------------
class ScanState(enum.IntEnum):
    IDLE = 0
    TRIGGER = 1
    PDAF = 2
    COARSE1 = 3
    COARSE2 = 4
    FINE = 5
    SETTLE = 6


class Mode(enum.Enum):
    MANUAL = "manual"
    AUTO = "auto"
    CONTINUOUS = "continuous"


class Report(enum.Enum):
    IDLE = "idle"
    SCANNING = "scanning"
    FOCUSED = "focused"
    FAILED = "failed"


@dataclass
class ScanRecord:
    focus: float
    contrast: float
    phase: float
    conf: float


def find_peak(data: list[ScanRecord], i: int) -> float:
    """af.cpp:502-533 on raw contrast figures (see the module docstring)."""
    f = data[i].focus
    if len(data) >= 3:
        if i == 0:
            i += 1
        elif i + 1 >= len(data):
            i -= 1
        abx = data[i - 1].focus - data[i].focus
        aby = data[i - 1].contrast - data[i].contrast
        cbx = data[i + 1].focus - data[i].focus
        cby = data[i + 1].contrast - data[i].contrast
        denom = 2.0 * (aby * cbx - cby * abx)
        if abs(denom) >= 1.0 / 64.0 and denom * abx > 0.0:
            f = (aby * cbx * cbx - cby * abx * abx) / denom
            f = min(max(f, min(abx, cbx)), max(abx, cbx))
            f += data[i].focus
    return f


@dataclass
class RpiAf:
    """The state machine of af.cpp (one camera; see the module docstring for each rule).

    `step_wait` "gate": a scan step waits for a frame the timing rule passes (`prepare`'s
    ``valid``); "frames": upstream's ``step_frames`` count.
    """

    tuning: RpiAfTuning
    started: bool = True
    step_wait: str = "gate"
    mode: Mode = Mode.MANUAL
    scan_state: ScanState = ScanState.IDLE
    report: Report = Report.IDLE
    initted: bool = False
    ftarget: float = -1.0
    fsmooth: float = -1.0
    prev_phase: float = 0.0
    old_scene_contrast: float = 0.0
    skip_count: int = 0
    step_count: int = 0
    drop_count: int = 0
    same_sign_count: int = 0
    scene_change_count: int = 0
    scan_max_index: int = 0
    scan_max_contrast: float = 0.0
    scan_min_contrast: float = 1.0e9
    scan_step: float = 0.0
    scan_data: list[ScanRecord] = field(default_factory=list)
    pause: bool = False

    def __post_init__(self) -> None:
        if self.step_wait not in ("gate", "frames"):
            raise ValueError(f"step_wait must be 'gate' or 'frames', got {self.step_wait!r}")
        if not self.started:
            self.skip_count = self.tuning.skip_frames  # switchMode, af.cpp:264

    @property
    def speed(self) -> RpiAfSpeed:
        return self.tuning.speed

    # --- controls (af.cpp:915-940) ---------------------------------------------------------
    def set_lens(self, d: float) -> None:
        """Where the lens is (setLensPosition in manual mode before AF starts)."""
        self.ftarget = min(max(d, self.tuning.focus_min), self.tuning.focus_max)
        self._update_lens()

    def set_mode(self, mode: Mode) -> None:
        if self.mode is not mode:
            self.mode = mode
            self.pause = False
            if mode is Mode.CONTINUOUS:
                self.scan_state = ScanState.TRIGGER
            elif mode is not Mode.AUTO or self.scan_state < ScanState.COARSE1:
                self._go_idle()

    def trigger(self) -> None:
        if self.mode is Mode.AUTO and self.scan_state is ScanState.IDLE:
            self.scan_state = ScanState.TRIGGER

    def cancel(self) -> None:
        if self.mode is Mode.AUTO:
            self._go_idle()

    def _go_idle(self) -> None:
        self.scan_state = ScanState.IDLE
        self.report = Report.IDLE
        self.scan_data.clear()

    # --- per frame (af.cpp:775-822) --------------------------------------------------------
    def prepare(self, contrast: float, phase: float, conf: float, valid: bool = True) -> Report:
        """One frame: ``contrast`` and (phase, conf) of this frame's statistics, ``valid``
        whether the timing rule passes it. Returns the AF state libcamera reports."""
        if self.scan_state is ScanState.TRIGGER:
            self._start_af()
        if self.initted:
            self._do_af(contrast, phase, conf, valid)
            self._update_lens()
        if self.mode is Mode.AUTO and self.scan_state is not ScanState.IDLE:
            return Report.SCANNING
        if self.mode is Mode.MANUAL:
            return Report.IDLE
        return self.report

    def _do_af(self, contrast: float, phase: float, conf: float, valid: bool) -> None:
        if self.skip_count > 0:  # af.cpp:590-595
            self.skip_count -= 1
            return
        gate = self.step_wait == "gate"
        if gate and not valid and self.scan_state is ScanState.PDAF:
            return  # no new reading on a frame exposed while the lens moved
        if phase * self.prev_phase <= 0.0:  # af.cpp:597-602
            self.same_sign_count = 0
        else:
            self.same_sign_count += 1
        self.prev_phase = phase
        if self.mode is Mode.MANUAL:
            return
        sp = self.speed
        if self.scan_state is ScanState.PDAF:  # af.cpp:607-637
            if conf >= self.tuning.conf_epsilon:
                if self.mode is Mode.AUTO or self.same_sign_count >= 3:
                    self._do_pdaf(phase, conf)
                if self.step_count > 0:
                    self.step_count -= 1
                elif self.mode is not Mode.CONTINUOUS:
                    self.scan_state = ScanState.IDLE
                self.old_scene_contrast = contrast
                self.scene_change_count = 0
                self.drop_count = 0
                return
            self.drop_count += 1
            if self.drop_count < sp.dropout_frames:
                return
            if self.mode is not Mode.CONTINUOUS:
                self._start_programmed_scan()
                return
        if self.scan_state < ScanState.COARSE1 and self.mode is Mode.CONTINUOUS:
            # af.cpp:638-657 (contrast only: no AWB statistics here)
            r = sp.retrigger_ratio
            if contrast + 1.0 < r * self.old_scene_contrast or (
                self.old_scene_contrast + 1.0 < r * contrast
            ):
                self.old_scene_contrast = contrast
                self.scene_change_count = 1
            elif self.scene_change_count:
                self.scene_change_count += 1
            if self.scene_change_count >= sp.retrigger_delay:
                self._start_programmed_scan()
        elif self.scan_state >= ScanState.COARSE1 and self.fsmooth == self.ftarget:
            # af.cpp:658-689
            if gate and not valid:
                return
            if not gate and self.step_count > 0:
                self.step_count -= 1
            elif self.scan_state is ScanState.SETTLE:
                ratio = sp.contrast_ratio
                ok = (
                    contrast >= ratio * self.scan_max_contrast
                    and self.scan_min_contrast <= ratio * self.scan_max_contrast
                )
                self.report = Report.FOCUSED if ok else Report.FAILED
                if self.mode is Mode.CONTINUOUS and not self.pause and sp.dropout_frames > 0:
                    self.scan_state = ScanState.PDAF
                else:
                    self.scan_state = ScanState.IDLE
                self.drop_count = 0
                self.scene_change_count = 0
                self.old_scene_contrast = max(self.scan_max_contrast, contrast)
                self.scan_data.clear()
            elif conf >= self.tuning.conf_thresh and self._early_termination(phase):
                self.scan_state = ScanState.SETTLE
                wait = self.mode is not Mode.CONTINUOUS and not gate
                self.step_count = sp.step_frames if wait else 0
            else:
                self._do_scan(contrast, phase, conf)

    def _do_pdaf(self, phase: float, conf: float) -> None:  # af.cpp:433-474
        sp = self.speed
        phase *= sp.pdaf_gain
        if self.mode is Mode.CONTINUOUS:
            phase *= conf / (conf + self.tuning.conf_epsilon)
            if abs(phase) < sp.pdaf_squelch:
                a = phase / sp.pdaf_squelch
                phase *= a * a
        elif self.step_count >= sp.step_frames:
            if abs(phase) < sp.pdaf_squelch:
                self.step_count = sp.step_frames
        else:
            phase *= self.step_count // sp.step_frames  # integer division upstream: 0
        if phase < -sp.max_slew:
            phase = -sp.max_slew
            at_end = self.ftarget <= self.tuning.focus_min
            self.report = Report.FAILED if at_end else Report.SCANNING
        elif phase > sp.max_slew:
            phase = sp.max_slew
            at_end = self.ftarget >= self.tuning.focus_max
            self.report = Report.FAILED if at_end else Report.SCANNING
        else:
            self.report = Report.FOCUSED
        self.ftarget = self.fsmooth + phase

    def _early_termination(self, phase: float) -> bool:  # af.cpp:476-500
        if not self.scan_data or self.scan_data[-1].conf < self.tuning.conf_thresh:
            return False
        old_focus = self.scan_data[-1].focus
        old_phase = self.scan_data[-1].phase
        if (self.ftarget - old_focus) * (phase - old_phase) * self.speed.pdaf_gain < 0.0:
            param = phase / (phase - old_phase)
            if (param >= -2.5 or self.mode is Mode.CONTINUOUS) and param <= 3.0:
                param = max(param, -2.5)
                self.ftarget += param * (old_focus - self.ftarget)
                return True
        return False

    def _do_scan(self, contrast: float, phase: float, conf: float) -> None:  # af.cpp:535-586
        sp = self.speed
        t = self.tuning
        if not self.scan_data or contrast > self.scan_max_contrast:
            self.scan_max_contrast = contrast
            self.scan_max_index = len(self.scan_data)
        self.scan_min_contrast = min(self.scan_min_contrast, contrast)
        self.scan_data.append(ScanRecord(self.ftarget, contrast, phase, conf))
        if (
            (self.scan_step >= 0.0 and self.ftarget >= t.focus_max)
            or (self.scan_step <= 0.0 and self.ftarget <= t.focus_min)
            or (self.scan_state is ScanState.FINE and len(self.scan_data) >= 3)
            or contrast < sp.contrast_ratio * self.scan_max_contrast
        ):
            pk = find_peak(self.scan_data, self.scan_max_index)
            first = self.scan_data[0].contrast
            if (
                self.scan_state is ScanState.COARSE1
                and first >= sp.contrast_ratio * self.scan_max_contrast
            ):
                self.scan_step = -self.scan_step
                self.scan_state = ScanState.COARSE2
            elif self.scan_state is ScanState.FINE or sp.step_fine <= 0.0:
                self.ftarget = pk
                self.scan_state = ScanState.SETTLE
            elif self.scan_step >= 0.0:
                self.ftarget = min(pk + sp.step_fine, t.focus_max)
                self.scan_step = -sp.step_fine
                self.scan_state = ScanState.FINE
            else:
                self.ftarget = max(pk - sp.step_fine, t.focus_min)
                self.scan_step = sp.step_fine
                self.scan_state = ScanState.FINE
            self.scan_data.clear()
        else:
            self.ftarget += self.scan_step
        self.step_count = 0 if self.ftarget == self.fsmooth else sp.step_frames

    def _update_lens(self) -> None:  # af.cpp:692-711
        t = self.tuning
        if self.scan_state >= ScanState.PDAF:
            self.ftarget = min(max(self.ftarget, t.focus_min), t.focus_max)
        if self.initted:
            s = self.speed.max_slew
            self.fsmooth = min(max(self.ftarget, self.fsmooth - s), self.fsmooth + s)
        else:
            self.fsmooth = self.ftarget
            self.initted = True
            if not self.started:
                self.skip_count = t.skip_frames

    def _start_af(self) -> None:  # af.cpp:713-734
        sp = self.speed
        pdaf = (
            sp.pdaf_gain != 0.0
            and sp.dropout_frames > 0
            and (self.mode is Mode.CONTINUOUS or sp.pdaf_frames > 0)
        )
        if pdaf:
            if not self.initted:
                self.ftarget = self.tuning.focus_default
                self._update_lens()
            self.step_count = 0 if self.mode is Mode.CONTINUOUS else sp.pdaf_frames
            self.scan_state = ScanState.PDAF
            self.scan_data.clear()
            self.drop_count = 0
            self.old_scene_contrast = 0.0
            self.scene_change_count = 0
            self.report = Report.SCANNING
        else:
            self._start_programmed_scan()
            self._update_lens()

    def _start_programmed_scan(self) -> None:  # af.cpp:736-757
        sp = self.speed
        t = self.tuning
        if (
            not self.initted
            or self.mode is not Mode.CONTINUOUS
            or self.fsmooth <= t.focus_min + 2.0 * sp.step_coarse
        ):
            self.ftarget = t.focus_min
            self.scan_step = sp.step_coarse
            self.scan_state = ScanState.COARSE2
        elif self.fsmooth >= t.focus_max - 2.0 * sp.step_coarse:
            self.ftarget = t.focus_max
            self.scan_step = -sp.step_coarse
            self.scan_state = ScanState.COARSE2
        else:
            self.scan_step = -sp.step_coarse
            self.scan_state = ScanState.COARSE1
        self.scan_max_contrast = 0.0
        self.scan_min_contrast = 1.0e9
        self.scan_max_index = 0
        self.scan_data.clear()
        self.step_count = sp.step_frames
        self.report = Report.SCANNING


# --- afon adapters ---------------------------------------------------------------------------
class Statistics:
    """What libcamera gets from the camera for one frame, from afon's measurements: the
    aggregate phase and confidence (16×12 PDAF cells) and the contrast (8×8 focus regions),
    each weighted by the AF window as af.cpp does (see the module docstring)."""

    def __init__(self, ctx: AfContext, tuning: RpiAfTuning, pdaf: bool) -> None:
        self.ctx = ctx
        self.tuning = tuning
        self.pdaf = pdaf and ctx.phase_d_per_px is not None
        self._weights: dict[tuple[int, int, int, int, AfWindow], RegionWeights] = {}

    def _w(self, rows: int, cols: int, window: AfWindow, size: tuple[int, int]) -> RegionWeights:
        key = (rows, cols, size[0], size[1], window)
        hit = self._weights.get(key)
        if hit is None:
            hit = region_weights(rows, cols, window, size)
            self._weights[key] = hit
        return hit

    def contrast(self, frame: Frame, window: AfWindow) -> float:
        luma = frame.luma
        h, w = luma.shape
        cols, rows = FOCUS_GRID
        return weighted_contrast(
            self._w(rows, cols, window, (w, h)), focus_regions(luma, rows, cols)
        )

    def phase(self, frame: Frame, window: AfWindow) -> tuple[float, float]:
        if not self.pdaf or frame.phase is None:
            return 0.0, 0.0
        left = frame.phase.left
        h, w = left.shape
        cols, rows = PDAF_GRID
        weights = self._w(rows, cols, window, (w, h))
        phases = [0.0] * (rows * cols)
        confs = [0] * (rows * cols)
        cell_w, cell_h = 1.0 / cols, 1.0 / rows
        unit = self.tuning.pdaf_d_per_unit
        for i, wt in enumerate(weights.w):
            if not wt:
                continue
            r, c = divmod(i, cols)
            cell = AfWindow((c + 0.5) * cell_w, (r + 0.5) * cell_h, cell_w, cell_h)
            m = measure_phase(frame.phase, cell, self.ctx)
            if m.defocus_d is None:
                continue
            phases[i] = -m.defocus_d / unit  # libcamera's sign: positive = move far
            confs[i] = round(m.confidence * self.tuning.conf_clip)
        phase, conf, _ = aggregate_phase(weights, phases, confs, self.tuning)
        return phase, conf


class LibcameraAf(Acquisition):
    """libcamera's AF in Auto mode (an AfTrigger Start per AF-ON press) as an AF-S strategy.

    `pdaf` False is the contrast-only variant (`CDAF_ONLY` behaviour). FOCUSED / FAILED when
    libcamera reports Focused / Failed after going Idle; the timeout is the body's.
    """

    def __init__(
        self,
        ctx: AfContext,
        tuning: RpiAfTuning = IMX708_NORMAL,
        *,
        pdaf: bool = True,
        name: str | None = None,
        step_wait: str = "gate",
        lens_scaled: bool = False,
    ) -> None:
        self.ctx = ctx
        has_pdaf = pdaf and ctx.phase_d_per_px is not None
        base = (
            tuning
            if has_pdaf
            else replace(tuning, speed=replace(tuning.speed, pdaf_frames=0, dropout_frames=0))
        )
        # `tuning` is the module's (0-12 D) unless `lens_scaled` says it fits this lens already
        self.tuning = base if lens_scaled else scaled_tuning(base, ctx.lens_min_d, ctx.lens_max_d)
        self.name = name or ("libcamera_pdaf" if has_pdaf else "libcamera_cdaf")
        self.wants_phase = has_pdaf
        self.stats = Statistics(ctx, self.tuning, has_pdaf)
        self.step_wait = step_wait
        self.core = RpiAf(self.tuning, step_wait=step_wait)
        self._gate = MeasurementGate(ctx)
        self._commanded: float | None = None
        self._now_s = 0.0

    def start(self, lens_d: float, now_s: float) -> float | None:
        self._reset_acquisition()
        self._now_s = now_s
        self.core = RpiAf(self.tuning, step_wait=self.step_wait)
        self.core.set_lens(lens_d)  # a streaming camera: libcamera knows where it left the lens
        self._commanded = self.core.fsmooth
        self.core.set_mode(Mode.AUTO)
        self.core.trigger()
        return None

    def cancel(self) -> None:
        super().cancel()
        self.core.cancel()

    def _update(self, frame: Frame, window: AfWindow) -> AfStep:
        valid = self._gate.ready(frame)
        measure = valid or self.step_wait == "frames"
        contrast = self.stats.contrast(frame, window) if measure else 0.0
        wants = self.wants_phase and measure
        phase, conf = self.stats.phase(frame, window) if wants else (0.0, 0.0)
        report = self.core.prepare(contrast, phase, conf, valid)
        target: float | None = None
        lens = self.core.fsmooth
        if self._commanded is None or lens != self._commanded:
            self._gate.moved(frame.ready_s, lens - (self._commanded or lens))
            self._commanded = lens
            target = lens
        if report is Report.FOCUSED:
            self.done = AfStatus.FOCUSED
            return AfStep(AfStatus.FOCUSED, target)
        if report is Report.FAILED:
            self.done = AfStatus.FAILED
            return AfStep(AfStatus.FAILED, target)
        return AfStep(AfStatus.SCANNING, target)


class LibcameraServo:
    """libcamera's AF in Continuous mode (AF-C): the PDAF loop, the contrast scan on a scene
    change when PDAF drops out. Statistics from every frame the timing rule passes (the
    module docstring says why not from the others); the core sees every frame (its slew, skip
    and scene-change counts run per frame, as upstream's ``prepare()``)."""

    def __init__(
        self, ctx: AfContext, tuning: RpiAfTuning = IMX708_NORMAL, *, pdaf: bool = True
    ) -> None:
        self.ctx = ctx
        has_pdaf = pdaf and ctx.phase_d_per_px is not None
        base = (
            tuning
            if has_pdaf
            else replace(tuning, speed=replace(tuning.speed, pdaf_frames=0, dropout_frames=0))
        )
        self.tuning = scaled_tuning(base, ctx.lens_min_d, ctx.lens_max_d)
        self.name = "libcamera"
        self.wants_phase = has_pdaf
        self.stats = Statistics(ctx, self.tuning, has_pdaf)
        self.core = RpiAf(self.tuning)
        self._gate = MeasurementGate(ctx)
        self._commanded: float | None = None

    def start(self, lens_d: float, now_s: float) -> float | None:
        self.core = RpiAf(self.tuning)
        self.core.set_lens(lens_d)
        self._commanded = self.core.fsmooth
        self.core.set_mode(Mode.CONTINUOUS)
        return None

    def update(self, frame: Frame, window: AfWindow, aim_s: float) -> AfStep:
        valid = self._gate.ready(frame)
        if valid or self.core.scan_state is not ScanState.PDAF:
            contrast = self.stats.contrast(frame, window)
            phase, conf = self.stats.phase(frame, window) if self.wants_phase else (0.0, 0.0)
        else:  # the core skips this frame (no new reading): nothing to measure
            contrast, phase, conf = 0.0, 0.0, 0.0
        report = self.core.prepare(contrast, phase, conf, valid)
        target: float | None = None
        lens = self.core.fsmooth
        if self._commanded is None or lens != self._commanded:
            self._gate.moved(frame.ready_s, lens - (self._commanded or lens))
            self._commanded = lens
            target = lens
        status = (
            AfStatus.FOCUSED
            if report is Report.FOCUSED
            else (AfStatus.FAILED if report is Report.FAILED else AfStatus.SCANNING)
        )
        return AfStep(status, target)


def libcamera_pdaf(ctx: AfContext) -> LibcameraAf:
    """libcamera's AF as it runs on a PDAF module (the IMX708 "normal" tuning)."""
    return LibcameraAf(ctx, IMX708_NORMAL, pdaf=True)


def libcamera_cdaf(ctx: AfContext) -> LibcameraAf:
    """libcamera's AF on a module without PDAF: the contrast scan alone."""
    return LibcameraAf(ctx, IMX708_NORMAL, pdaf=False)


def libcamera_af(ctx: AfContext) -> LibcameraAf:
    """libcamera's AF as it runs on this camera: PDAF when the camera has it, else CDAF."""
    af = LibcameraAf(ctx, IMX708_NORMAL, pdaf=True)
    af.name = "libcamera"
    return af


def libcamera_servo(ctx: AfContext) -> LibcameraServo:
    """libcamera's continuous AF on this camera."""
    return LibcameraServo(ctx, IMX708_NORMAL)
