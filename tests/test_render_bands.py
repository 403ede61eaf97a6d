"""Rolling-shutter bands per layer and moving cards smeared over their band only
(`afon.cameras.sim.render`): fewer draws, with the pixels held to what they stand for."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from afon.cameras.sim.preset import load_preset
from afon.cameras.sim.render import _MAX_BANDS, Renderer, RowTiming, _blend_entries
from afon.cameras.sim.scene import load_builtin_scene

ROWS = RowTiming(0.0, 0.004, 0.025)


def _portrait_300() -> tuple[Renderer, float]:
    spec = load_preset("300mm-f2.8")
    r = Renderer(load_builtin_scene("portrait"), spec.optics, (320, 240), seed=5)
    return r, 1.0 / r.scene.subject_distance_m(0.0)


def _through_focus(focus_d: float, span_d: float = 0.01) -> Callable[[float], float]:
    def lens(t: float) -> float:  # the lens sweeps through the subject's focus in the readout
        return focus_d - span_d / 2 + span_d * min(max(t / 0.03, 0.0), 1.0)
    return lens


def test_each_layer_gets_the_bands_its_own_blur_needs() -> None:
    """The lens passing the subject's focus during the readout: the subject in focus needs the
    most bands; the background, 100 px out of focus, one."""
    r, focus = _portrait_300()
    counts = r._band_counts(_through_focus(focus), ROWS, 1.0)
    person, pad = (next(x for x in r.scene.layers if x.name == n) for n in ("person",
                                                                          "launch-pad"))
    assert abs(r.layer_blur_px(pad, 0.0, focus)) > 50
    assert counts[id(pad)] == 1
    assert 4 <= counts[id(person)] <= _MAX_BANDS


def test_a_layer_in_fewer_bands_looks_as_in_the_finest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The frame with each layer in its own bands is within 1 DN of the frame with every layer
    in the bands the subject needs (as before per-layer bands; noise off), and its rows still
    see the lens of their own time (the subject's focus gradient down the frame is kept)."""
    r, focus = _portrait_300()
    lens = _through_focus(focus)
    ours = r.render(0.0, 0.0, lens_d=lens, rows=ROWS, noise=False).astype(int)
    most = max(r._band_counts(lens, ROWS, 1.0).values())
    finest = Renderer(r.scene, r.optics, r.size_px, seed=5)
    monkeypatch.setattr(finest, "_band_counts",
                        lambda *a: {id(x): most for x in finest.scene.layers})
    ref = finest.render(0.0, 0.0, lens_d=lens, rows=ROWS, noise=False).astype(int)
    assert most >= 4
    assert np.abs(ours - ref).max() <= 1
    # against one band for every layer (the lens of the mid-frame row everywhere): far off
    flat = Renderer(r.scene, r.optics, r.size_px, seed=5)
    monkeypatch.setattr(flat, "_band_counts", lambda *a: {id(x): 1 for x in flat.scene.layers})
    one = flat.render(0.0, 0.0, lens_d=lens, rows=ROWS, noise=False).astype(int)
    assert np.abs(one - ref).max() > 10


def test_layers_that_swap_places_in_the_readout_are_drawn_band_after_band(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the layers' order change during the readout, every band draws its layers in
    their order at its own time (layer after layer would put the wrong one in front)."""
    r, focus = _portrait_300()
    back, front = r.scene.layers_back_to_front(0.0)
    half_s = ROWS.window_s(0.5)[0] + ROWS.integration_s / 2
    monkeypatch.setattr(r, "_visible_layers",
                        lambda t: [back, front] if t < half_s else [front, back])
    plan, _ = r._plan(0.0, (focus,), _through_focus(focus), ROWS, r.size_px[1])
    bands: dict[tuple[int, int], list[object]] = {}
    for layer, band in plan:
        bands.setdefault((band.y0, band.y1), []).append(layer)
    assert len(bands) >= 4
    for (y0, _), layers in bands.items():
        t = next(b.t_s for _, b in plan if b.y0 == y0)
        assert layers == ([back, front] if t < half_s else [front, back])
    # drawn in that order, band by band
    starts = [b.y0 for _, b in plan]
    assert starts == sorted(starts)


def _whole_smear(self: Renderer, cache, p, entries, k, t_size, m, extra):  # type: ignore[no-untyped-def]
    """`_smeared_band` as it was: the whole blended texture smeared."""
    e0 = entries[0][0]
    img = self._smear_now(_blend_entries(cache, entries), m[0], m[1], extra,
                          cv2.BORDER_CONSTANT)
    return e0.pad + extra, img, 1.0, (0, 0), (img.shape[1], img.shape[0])


@pytest.mark.parametrize(("scene", "preset", "times_s"),
                         [("obstacle", "300mm-f2.8", (1.0, 1.6, 2.5)),
                          ("obstacle", "50mm-f1.8", (1.2, 2.0, 2.8)),
                          ("bird", "300mm-f2.8", (2.8, 3.0, 3.2))])
def test_a_moving_card_smeared_over_its_band_is_the_whole_smear(
        scene: str, preset: str, times_s: tuple[float, ...],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Smearing only the texels the band reads gives the pixels of smearing the whole
    texture, bit for bit (previews and phase images, lens still and moving)."""
    spec = load_preset(preset)

    def frames() -> tuple[list[np.ndarray], int]:
        r = Renderer(load_builtin_scene(scene), spec.optics, (240, 180), seed=2)
        lo, hi = spec.motor.min_d, spec.motor.max_d
        out = []
        moved = 0
        for i, t0 in enumerate(times_s):
            rows = RowTiming(t0, 0.016, 0.025)

            def lens(t: float, i: int = i, t0: float = t0) -> float:
                if i == 0:  # still, on the subject
                    return float(1.0 / r.scene.subject_distance_m(t0))
                return float(lo + (hi - lo) * (0.3 * i + 2.0 * (t - t0)))

            out.append(r.render(0.0, 0.0, frame_index=i, lens_d=lens, rows=rows))
            ph = r.render_phase(0.0, 0.0, frame_index=i, lens_d=lens, rows=rows)
            out += [ph.left, ph.right]
            moved += sum(1 for key in r._smears if "band" in key[1])
        return out, moved

    ours, moved = frames()
    assert moved > 0  # a card moved and was smeared over its band
    monkeypatch.setattr(Renderer, "_smeared_band", _whole_smear)
    for a, b in zip(ours, frames()[0], strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_frame_cost_benchmark_drives_its_whole_lens_path() -> None:
    """benchmarks/frame_cost.py draws the frames of every move (far end, near end, subject
    and about it), each move until the lens stops, and reports their CPU time."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "frame_cost.py"
    spec = importlib.util.spec_from_file_location("frame_cost", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    got = mod.frame_cost("wall", "300mm-f2.8")  # (a slow motor: end to end in ~17 frames)
    assert 2 * 15 < got["frames"] <= 6 * mod.MAX_FRAMES_PER_MOVE
    assert 0 < got["cpu_median_ms"] <= got["cpu_mean_ms"] * 10


def test_the_render_benchmark_reads_its_target_alone_and_reports_the_interleaved_pass(
) -> None:
    """benchmarks/render.py times each scene's renderer alone (as a camera runs it), then, with
    a baseline, the two interleaved frame for frame; the ≤ 5 ms target reads the obstacle's
    alone median and says whether it is met."""
    import importlib.util
    from pathlib import Path

    from afon.cameras.sim import render as this_renderer

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "render.py"
    spec = importlib.util.spec_from_file_location("render_bench", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    alone = mod.bench_scene("wall", mod.OPTICS["pi"], 4, 1)
    assert alone["cpu_median_ms"] > 0 and "interleaved_cpu_median_ms" not in alone
    both = mod.bench_scene("wall", mod.OPTICS["pi"], 4, 1, this_renderer)
    assert both["interleaved_cpu_median_ms"] > 0 and both["baseline_cpu_median_ms"] > 0
    assert both["cpu_speedup"] == pytest.approx(
        both["baseline_cpu_median_ms"] / both["interleaved_cpu_median_ms"], abs=0.01)
    fast = {"obstacle": {"cpu_median_ms": 4.9, "interleaved_cpu_median_ms": 5.6}}
    slow = {"obstacle": {"cpu_median_ms": 5.1}}
    assert mod._target(fast) == {"scene": "obstacle", "limit_ms": 5.0, "cpu_median_ms": 4.9,
                                 "interleaved_cpu_median_ms": 5.6, "met": True}
    assert mod._target(slow)["met"] is False
