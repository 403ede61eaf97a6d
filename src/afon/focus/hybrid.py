"""Hybrid AF-S: phase detection to jump, contrast to confirm when phase is unsure.

On every frame whose lens stood still (`lens_still`) the phase images of the AF window are
measured (`measure_phase`):

- **confident** (confidence ≥ `high_confidence`): jump by the measured defocus (slew-limited to
  `max_jump_d`), then confirm on the next still frame: FOCUSED once a confident reading puts
  the lens within `tolerance_d` (the same rule as `PhaseAf`), the reading's residual going out
  with the verdict as the last lens move when it continues the last jump's direction, however
  small; a residual that would reverse the lens by more than a tenth of the depth of focus is
  a jump confirmed again instead (`afon.focus.phase.confirm_step`: a small reversal lands on
  the far side of the lens's friction). Typically 3 frames (measure, one frame exposed while
  the lens moves, confirm), 5 with one correction, 2 more per further correction up to
  `max_jumps` (4).
- **unsure** (`low_confidence` ≤ confidence < `high_confidence`, or still jumping after
  `max_jumps`): a short local contrast search (`ContrastAf` with ``guess_d`` = the phase
  estimate and ``bounds`` = the estimate ± `local_half_width`, fine steps) finds and confirms
  the peak. An unsure reading more than twice `local_half_width` out of focus (while jumps
  are left) is a jump instead: its direction and rough distance are good, its precision is
  not, and the reading where the blur is smaller is surer (the zone area on a face 0.4 D
  from a 300 mm at infinity reads 0.31 D, unsure; a local search there failed).
- **no phase signal** (confidence < `low_confidence` on `dropout_frames` still frames, frames
  without phase data, or an uncalibrated camera): the full contrast search (`ContrastAf`),
  which also gives the FAILED verdict on a featureless scene.
- **a reading beyond infinity** (`beyond_infinity`: no subject's; a blur wider than the phase
  search reaches, a 300 mm lens at infinity on a face 2.5 m away): a search drive, steps of
  `SWEEP_REACH` of the search's reach towards the near end, reading phase at each stop, until
  a confident reading of a real distance takes over (the predictive servo drives the same
  way while it has no track).

Timeout: the phase stage is bounded by `phase_frames` (20, libcamera's ``pdaf_frames``)
phase iterations: frames spent waiting for a jump's lens to arrive (`MeasurementGate`) are not
counted (a 0.3 D move of the 300 mm takes 10 frames); the contrast search it may hand over to
has its own bound (`ContrastAf.frame_bound`).
`cancel()` stops issuing moves (also in the contrast stage).
"""

from __future__ import annotations

from afon.cameras.base import Frame
from afon.focus.contrast import ContrastAf
from afon.focus.engine import Acquisition, AfContext, AfStatus, AfStep, AfWindow, MeasurementGate
from afon.focus.phase import (
    PhaseMeasurement,
    confirm_step,
    default_tolerance_d,
    measure_phase,
)

SWEEP_REACH = 0.8
"""A search-drive step as a share of the defocus the phase search can measure."""
SWEEP_FRAMES = 8
"""Frames a search-drive step may take (the move and a still frame): the phase stage's bound
(`phase_frames`) grows by this per step."""


def beyond_infinity(lens_d: float, m: PhaseMeasurement, ctx: AfContext) -> bool:
    """A phase reading that puts the subject beyond infinity by more than the depth of focus:
    no subject's (the dioptric distance of anything is at least 0), but a blur wider than
    the phase search reaches, whose correlation peak sits near zero where the two halves'
    crosstalk lines up."""
    return m.defocus_d is not None and lens_d + m.defocus_d < -ctx.depth_of_focus_d


def sweep_target(lens_d: float, m: PhaseMeasurement, ctx: AfContext) -> float | None:
    """The next stop of a search drive: towards the near end by `SWEEP_REACH` of the defocus
    the phase search measures; None at the near end."""
    reach_d = SWEEP_REACH * m.search_px * abs(ctx.phase_d_per_px or 0.0)
    target = min(lens_d + reach_d, ctx.lens_max_d)
    return target if target - lens_d > 1e-6 else None


class HybridAf(Acquisition):
    """Phase to jump, contrast to confirm / fine-tune, contrast alone without phase."""

    name = "hybrid"
    wants_phase = True

    def __init__(
        self,
        ctx: AfContext,
        *,
        high_confidence: float = 0.5,
        low_confidence: float = 0.15,
        tolerance_d: float | None = None,
        max_jump_d: float = 8.0,
        max_jumps: int = 4,
        dropout_frames: int = 2,
        phase_frames: int = 20,
        local_half_width: float | None = None,
    ) -> None:
        self.ctx = ctx
        self.high_confidence = high_confidence
        self.low_confidence = low_confidence
        self.tolerance_d = tolerance_d if tolerance_d is not None else default_tolerance_d(ctx)
        self.max_jump_d = max_jump_d
        self.max_jumps = max_jumps
        self.dropout_frames = dropout_frames
        self.phase_frames = phase_frames
        dof = max(ctx.depth_of_focus_d, 1e-6)
        self.local_half_width = local_half_width if local_half_width is not None else 4.0 * dof
        self.cancelled = False
        self._reset()

    def _reset(self) -> None:
        self.frames = 0
        self.mode = "phase"
        self.contrast: ContrastAf | None = None
        self.last: PhaseMeasurement | None = None
        self.done: AfStatus | None = None
        self._jumps = 0
        self._approach = 0
        """Direction of the last jump (+1 nearer, −1 farther; 0 before the first)."""
        self._dropouts = 0
        self._sweeps = 0
        self._waits = 0
        self._gate = MeasurementGate(self.ctx)

    def start(self, lens_d: float, now_s: float) -> float | None:
        self._reset()
        self.cancelled = False
        self._now_s = now_s
        if self.ctx.phase_d_per_px is None:
            return self._to_contrast(ContrastAf(self.ctx), lens_d)
        return None

    def cancel(self) -> None:
        """Stop issuing lens moves; the lens stays where it is."""
        super().cancel()
        if self.contrast is not None:
            self.contrast.cancel()

    def _sweep_frames(self) -> int:
        return SWEEP_FRAMES * self._sweeps

    @property
    def max_frames(self) -> int:
        return self.phase_frames + ContrastAf(self.ctx).frame_bound()

    def _to_contrast(self, search: ContrastAf, lens_d: float) -> float | None:
        self.mode = "contrast"
        self.contrast = search
        return search.start(lens_d, getattr(self, "_now_s", 0.0))

    def _update(self, frame: Frame, window: AfWindow) -> AfStep:
        if self.mode == "contrast" and self.contrast is not None:
            step = self.contrast.update(frame, window)
            if step.status is not AfStatus.SCANNING:
                self.done = step.status
            return step
        if not self._gate.ready(frame):
            self._waits += 1  # the lens still travelling: no phase iteration
            return self._scanning(None)
        lens = frame.lens_d
        if frame.phase is None:
            return self._handover(ContrastAf(self.ctx), lens, frame, window)
        m = measure_phase(frame.phase, window, self.ctx)
        self.last = m
        unsure = m.confidence < self.high_confidence
        if m.defocus_d is not None:
            seen = m.confidence >= self.low_confidence
            if (seen and beyond_infinity(lens, m, self.ctx)) or (self.mode == "sweep" and unsure):
                return self._sweep(frame, window, lens, m)
            self.mode = "phase"
        if m.defocus_d is None or m.confidence < self.low_confidence:
            self._dropouts += 1
            if self._dropouts >= self.dropout_frames:
                return self._handover(ContrastAf(self.ctx), lens, frame, window)
            return self._scanning(None)
        self._dropouts = 0
        estimate = min(max(lens + m.defocus_d, self.ctx.lens_min_d), self.ctx.lens_max_d)
        far = abs(m.defocus_d) > 2.0 * self.local_half_width
        if unsure and far and self._jumps < self.max_jumps and abs(estimate - lens) > 1e-6:
            # an unsure reading far out of focus: its direction and rough distance are
            # good, its precision is not (a local search around it would miss); move there
            # and read again, where the blur is smaller and the reading surer
            return self._jump(frame, lens, estimate)
        if unsure or self._jumps >= self.max_jumps:
            return self._local_search(estimate, lens)
        if abs(m.defocus_d) <= self.tolerance_d:
            # confirmed: the residual goes out with the verdict when it continues the
            # approach, a larger reversal is a jump confirmed again (`confirm_step`, as in
            # `PhaseAf`) while a jump is left
            may_jump = self._jumps + 1 < self.max_jumps
            step = confirm_step(lens, m.defocus_d, self._approach, self.ctx, may_jump=may_jump)
            if step.status is AfStatus.FOCUSED:
                self._end(AfStatus.FOCUSED)
                return step
            assert step.target_d is not None
            return self._jump(frame, lens, step.target_d)
        jump = max(-self.max_jump_d, min(self.max_jump_d, m.defocus_d))
        target = min(max(lens + jump, self.ctx.lens_min_d), self.ctx.lens_max_d)
        if abs(target - lens) < 1e-6:
            # pinned at a range end: in focus within the depth of focus, else out of reach
            ok = abs(m.defocus_d) <= self.ctx.depth_of_focus_d
            return self._end(AfStatus.FOCUSED if ok else AfStatus.FAILED)
        return self._jump(frame, lens, target)

    def _sweep(self, frame: Frame, window: AfWindow, lens: float, m: PhaseMeasurement) -> AfStep:
        """Search drive. A reading that puts the subject beyond infinity sees a blur wider than
        the phase search reaches (its peak then sits near zero, where the two halves'
        crosstalk lines up; a 300 mm lens at infinity looking at a face 2.5 m away): the lens
        steps towards the near end by most of that reach, reading phase at each stop, until a
        confident reading of a real distance takes over, as bodies do when AF finds nothing;
        at the near end, the full contrast search (FAILED on a featureless scene)."""
        self.mode = "sweep"
        target = sweep_target(lens, m, self.ctx)
        if target is None:
            return self._handover(ContrastAf(self.ctx), lens, frame, window)
        self._sweeps += 1
        self._gate.moved(frame.ready_s, target - lens)
        return AfStep(AfStatus.SCANNING, target)

    def _jump(self, frame: Frame, lens: float, target: float) -> AfStep:
        self._jumps += 1
        self._approach = 1 if target > lens else -1
        self._gate.moved(frame.ready_s, target - lens)
        return self._scanning(target)

    def _local_search(self, estimate: float, lens: float) -> AfStep:
        r = self.local_half_width
        dof = max(self.ctx.depth_of_focus_d, 1e-6)
        search = ContrastAf(
            self.ctx,
            guess_d=estimate,
            bounds=(estimate - r, estimate + r),
            step_d=1.75 * dof,
            probe_d=2.0 * r,
        )
        target = self._to_contrast(search, lens)
        return self._scanning(target)

    def _handover(self, search: ContrastAf, lens: float, frame: Frame, window: AfWindow) -> AfStep:
        """Switch to a contrast search and let it use the current (still) frame."""
        first = self._to_contrast(search, lens)
        if first is not None:
            return self._scanning(first)
        step = search.update(frame, window)
        if step.status is not AfStatus.SCANNING:
            self.done = step.status
        return step

    def _scanning(self, target: float | None) -> AfStep:
        bound = self.phase_frames + self._sweep_frames() + self._waits
        if self.mode == "phase" and self.frames >= bound:
            return self._end(AfStatus.FAILED)
        return AfStep(AfStatus.SCANNING, target)
