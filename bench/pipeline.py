"""Benchmark images.pipeline.make_variants against a naive Pillow version, pyvips and a floor.

Run: .venv/bin/python bench/pipeline.py [--reps N]
Every preset of both kinds runs on each photo: the avatar presets on a centred square, the banner
presets on a full-width 3:1 focal band. The last line of output is JSON for the 24 MP photo;
"pipeline_ms" is make_variants as the app calls it (default threads), "pyvips_ms" is pyvips on
one thread (VIPS_CONCURRENCY=1), "pyvips_2t_ms" on two; the table also shows both at 1 and 2
threads. Every ratio compares medians of runs alternated in the same process, so load from
elsewhere hits every contender alike. "quality_min" is the lowest SSIM of any output of either
photo against a reference resize (bench/quality.py); it must not drop when the pipeline speeds up.
The focus table: what finding the face (avatars) or the face/salient region (banners) on the
editor copy adds to a job, on a 12 MP and a 2 MP photo with a real portrait in it (target < 150 ms).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import multiprocessing
import multiprocessing.forkserver
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("VIPS_CONCURRENCY", "1")  # before pyvips is imported: one core, like Pillow
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from PIL import Image, ImageOps  # noqa: E402

from app.services.images import focus  # noqa: E402
from app.services.images import presets as presets_mod  # noqa: E402
from app.services.images.encode import choose_format  # noqa: E402
from app.services.images.pipeline import (  # noqa: E402
    START_QUALITY,
    THREADS,
    Box,
    Crop,
    crop_box_for,
    make_variants,
)
from bench.quality import pipeline_quality  # noqa: E402
from tests.unit import images, portraits  # noqa: E402

try:
    import pyvips  # noqa: E402
except Exception:  # pyvips (or its libvips binary) missing: the column prints as null
    pyvips = None

AVATARS = presets_mod.for_kind("avatar")
BANNERS = presets_mod.for_kind("banner")
Job = list[tuple[Crop, tuple[presets_mod.Preset, ...]]]


def make_photo(width: int, height: int, seed: int) -> bytes:
    """Photo-like JPEG at camera quality with an embedded (non-sRGB, P3-like) ICC profile."""
    return images.jpeg(
        images.photo(width, height, seed=seed), quality=94, icc_profile=images.p3_profile()
    )


def jobs_for(width: int, height: int) -> Job:
    side = 0.9 * min(width, height)
    square = Box((width - side) / 2, (height - side) / 2, side, side)
    band = Box(0, height * 0.25, width, width / 3)  # the user framed a full-width 3:1 strip
    return [(Crop(square), AVATARS), (Crop(band), BANNERS)]


def run_pipeline(data: bytes, jobs: Job, threads: int = THREADS) -> int:
    n = 0
    for crop, presets in jobs:
        for v in make_variants(data, crop, presets, threads=threads):
            assert len(v.data) <= presets_mod.get(v.preset_key).max_bytes
            n += 1
    return n


def run_naive(data: bytes, jobs: Job) -> int:
    """What one writes first: full decode, then crop + Lanczos from the full image per preset."""
    n = 0
    for crop, presets in jobs:
        im = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
        for p in presets:
            b = crop_box_for(p, crop, im.width, im.height)
            out = im.crop((round(b.x), round(b.y), round(b.x + b.w), round(b.y + b.h)))
            out = out.resize((p.width, p.height), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            out.save(buf, "JPEG", quality=85)
            n += 1
    return n


def _shrink(boxes: list[tuple[presets_mod.Preset, Box]]) -> int:
    slack = min(min(b.w / p.width, b.h / p.height) for p, b in boxes)
    return next((f for f in (8, 4, 2) if f <= slack), 1)


def _union(boxes: list[tuple[presets_mod.Preset, Box]], f: int) -> tuple[int, int, int, int]:
    x0 = math.floor(min(b.x for _, b in boxes) / f)
    y0 = math.floor(min(b.y for _, b in boxes) / f)
    x1 = math.ceil(max(b.x + b.w for _, b in boxes) / f)
    y1 = math.ceil(max(b.y + b.h for _, b in boxes) / f)
    return x0, y0, x1, y1


def run_pyvips(data: bytes, jobs: Job) -> int:
    """Shrink-on-load once, crop to the area any preset needs, sRGB once, then every variant."""
    n = 0
    header = pyvips.Image.new_from_buffer(data, "")
    for crop, presets in jobs:
        boxes = [(p, crop_box_for(p, crop, header.width, header.height)) for p in presets]
        f = _shrink(boxes)
        im = pyvips.Image.jpegload_buffer(data, shrink=f)
        x0, y0, x1, y1 = _union(boxes, f)
        x1, y1 = min(x1, im.width), min(y1, im.height)
        im = im.crop(x0, y0, x1 - x0, y1 - y0)
        if im.get_typeof("icc-profile-data"):
            im = im.icc_transform("srgb")
        im = im.copy_memory()
        for p, b in boxes:
            left, top = int(b.x / f) - x0, int(b.y / f) - y0
            w = min(round(b.w / f), im.width - left)
            h = min(round(b.h / f), im.height - top)
            out = im.crop(left, top, w, h).resize(p.width / w, vscale=p.height / h)
            out.jpegsave_buffer(Q=85, keep=pyvips.enums.ForeignKeep.NONE)
            n += 1
    return n


def run_floor(data: bytes, jobs: Job) -> int:
    """Work no pipeline can skip: the decode at the same reduced DCT scale the pipeline picks,
    then one encoding of each distinct output (same size, format and first-try settings as the
    pipeline's, from a 1:1 crop). No colour conversion, no resampling, one thread."""
    n = 0
    for crop, presets in jobs:
        im = Image.open(io.BytesIO(data))
        boxes = [(p, crop_box_for(p, crop, im.width, im.height)) for p in presets]
        f = _shrink(boxes)
        if f > 1:
            im.draft("RGB", (im.width // f, im.height // f))
        im.load()
        seen = set()
        for p, b in boxes:
            fmt = choose_format(p, transparent=False)
            key = (round(b.x), round(b.y), round(b.w), p.width, p.height, fmt)
            if key in seen:  # the pipeline encodes presets showing the same pixels once
                continue
            seen.add(key)
            x, y = min(int(b.x / f), im.width - p.width), min(int(b.y / f), im.height - p.height)
            out = im.crop((max(0, x), max(0, y), max(0, x) + p.width, max(0, y) + p.height))
            buf = io.BytesIO()
            if fmt == "png":
                out.save(buf, "PNG", compress_level=1)
            else:
                out.save(buf, "JPEG", quality=START_QUALITY)
            n += 1
    return n


def portrait_photo(width: int, height: int) -> bytes:
    """A camera JPEG with scikit-image's astronaut off-centre, her face ~1/12 of the width."""
    canvas = portraits.background(width, height)
    size = round(width * 0.45)
    portraits.paste_astronaut(canvas, (round(width * 0.5), round(height * 0.1)), size)
    return images.jpeg(canvas, quality=94)


def measure_focus(reps: int) -> dict[str, dict[str, float]]:
    """Median ms per image of focus.detect on the job's editor copy, for each kind, next to
    make_variants for that kind's presets (what the job spent before), alternated."""
    out = {}
    for label, (w, h) in {"12 MP 4000x3000": (4000, 3000), "2 MP 1600x1200": (1600, 1200)}.items():
        data = portrait_photo(w, h)
        scale = min(1.0, 1600 / max(w, h))
        editor = presets_mod.Preset(
            "editor", "avatar", "linkarooie", round(w * scale), round(h * scale), 3_000_000,
            ("jpeg",), "rect", "Editor copy", fixed=False,
        )  # fmt: skip
        copy = make_variants(data, Crop(), [editor])[0].data
        for kind, kind_presets in (("avatar", AVATARS), ("banner", BANNERS)):
            found = focus.detect(copy, kind, w, h)  # warm-up: the cascade loads once per process
            detect, cpu, pipe = [], [], []
            for _ in range(max(reps, 9)):
                start, used = time.perf_counter(), time.process_time()
                focus.detect(copy, kind, w, h)
                detect.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - used) * 1000)
                start = time.perf_counter()
                make_variants(data, Crop(), kind_presets)
                pipe.append((time.perf_counter() - start) * 1000)
            out[f"{label} {kind}"] = {
                "detect_ms": statistics.median(detect),
                "best_ms": min(detect),
                "cpu_ms": statistics.median(cpu),
                "pipeline_ms": statistics.median(pipe),
                "source": found["source"] if found else "failed",
            }
    return out


def measure(
    runners: dict[str, Callable[[bytes, Job], int]], data: bytes, jobs: Job, reps: int
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Median time per contender, and every run's time in order (round by round)."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for fn in runners.values():  # warm-up (imports, lcms transform cache, ...)
        fn(data, jobs)
    for _ in range(reps):  # alternate so drift and other load hit every contender alike
        for name, fn in runners.items():
            start = time.perf_counter()
            fn(data, jobs)
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(ts) for name, ts in times.items()}, times


def paired(times: dict[str, list[float]], a: str, b: str) -> float:
    """Median over the rounds of a / b within each round: the two ran seconds apart, so load
    from elsewhere that comes and goes between rounds cancels out better than in the ratio of
    the two medians."""
    if b not in times:
        return math.nan
    return statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))


def _probe(data: bytes) -> float:
    """Runs in a child forked from a small fork server, so ru_maxrss is the pipeline's own."""
    with Image.open(io.BytesIO(data)) as im:
        size = im.size
    run_pipeline(data, jobs_for(*size))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--quality-only", action="store_true", help="skip the timings")
    args = parser.parse_args()
    # start the fork server while this process is still small: a child inherits the RSS
    # high-water mark of the process it was forked or exec'ed from
    ctx = multiprocessing.get_context("forkserver")
    multiprocessing.forkserver.ensure_running()

    def threaded(fn: Callable[[bytes, Job], int], n: int) -> Callable[[bytes, Job], int]:
        return lambda data, jobs: fn(data, jobs, threads=n)

    def vips_threads(n: int) -> Callable[[bytes, Job], int]:
        def run(data: bytes, jobs: Job) -> int:
            pyvips.concurrency_set(n)
            try:
                return run_pyvips(data, jobs)
            finally:
                pyvips.concurrency_set(1)

        return run

    runners = {
        "naive Pillow (1 thread)": run_naive,
        f"pipeline (default, {THREADS} threads)": run_pipeline,
        "pipeline (1 thread)": threaded(run_pipeline, 1),
        "floor (1 thread)": run_floor,
    }
    if pyvips is not None:
        runners["pyvips (1 thread)"] = run_pyvips
        runners["pyvips (2 threads)"] = vips_threads(2)
    print(
        f"{len(AVATARS)} avatar + {len(BANNERS)} banner presets per photo (two make_variants "
        f"calls), median of {args.reps} alternating runs, {os.cpu_count()} CPUs"
    )
    results, quality, rounds = {}, {}, {}
    for label, (w, h, seed) in {
        "24 MP 6000x4000": (6000, 4000, 1),
        "12 MP 4000x3000": (4000, 3000, 2),
    }.items():
        data = make_photo(w, h, seed)
        if label.startswith("24"):
            photo24 = data
        q = pipeline_quality(data, jobs_for(w, h), THREADS)
        quality[label] = q
        worst = sorted(q, key=q.get)[:3]
        print(
            f"\n{label}: SSIM vs one Lanczos pass from the full decode, min {min(q.values()):.4f}, "
            f"mean {statistics.fmean(q.values()):.4f}; lowest "
            + ", ".join(f"{k} {q[k]:.4f}" for k in worst)
        )
        if args.quality_only:
            continue
        r, rounds[label] = measure(runners, data, jobs_for(w, h), args.reps)
        results[label] = r
        base = r[f"pipeline (default, {THREADS} threads)"]
        print(f"\n{label} photo-like JPEG, {len(data) / 1e6:.1f} MB, P3 ICC profile")
        print(f"  {'contender':<30}{'median':>10}{'vs default pipeline':>22}")
        for name, ms in r.items():
            print(f"  {name:<30}{ms:>8.0f}ms{ms / base:>21.2f}x")

    quality_min = min(min(q.values()) for q in quality.values())
    if args.quality_only:
        print(json.dumps({"quality_min": round(quality_min, 4)}))
        return
    found = measure_focus(args.reps)
    # CPU time is what detection takes from the cores (both threads added up), whatever else
    # runs on the machine; wall time on a busy machine mostly measures the others
    print("\nFocus detection on the editor copy (photo with a real portrait), per image")
    print(
        f"  {'photo, kind':<30}{'found':>9}{'median':>10}{'best':>8}{'CPU':>8}"
        f"{'vs make_variants':>19}"
    )
    for name, f in found.items():
        print(
            f"  {name:<30}{f['source']:>9}{f['detect_ms']:>8.0f}ms{f['best_ms']:>6.0f}ms"
            f"{f['cpu_ms']:>6.0f}ms{f['detect_ms'] / f['pipeline_ms']:>18.2f}x"
        )
    slowest = max(f["detect_ms"] for f in found.values())
    cpu = max(f["cpu_ms"] for f in found.values())
    print(
        f"focus: slowest median {slowest:.0f} ms wall, {cpu:.0f} ms CPU per image (target < 150) "
        f"at load average {os.getloadavg()[0]:.1f}"
    )
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end (other work on this machine)")
    for label, r in results.items():
        pipe = r[f"pipeline (default, {THREADS} threads)"]
        vips2 = r.get("pyvips (2 threads)")
        name, t = f"pipeline (default, {THREADS} threads)", rounds[label]
        print(
            f"{label}: pipeline / floor {pipe / r['floor (1 thread)']:.2f}x (target < 2), "
            f"pipeline / pyvips 2 threads {pipe / (vips2 or math.nan):.2f}x (target <= 1); "
            f"paired per round: {paired(t, name, 'floor (1 thread)'):.2f}x and "
            f"{paired(t, name, 'pyvips (2 threads)'):.2f}x"
        )
    with ctx.Pool(1) as pool:
        peak = pool.apply(_probe, (photo24,))
    whole = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    r = results["24 MP 6000x4000"]
    pipeline_ms = r[f"pipeline (default, {THREADS} threads)"]
    vips = r.get("pyvips (1 thread)")
    vips2 = r.get("pyvips (2 threads)")
    naive, floor = r["naive Pillow (1 thread)"], r["floor (1 thread)"]
    print(
        f"\n24 MP: speedup vs naive {naive / pipeline_ms:.1f}x (target >= 5), "
        f"vs pyvips 1 thread {pipeline_ms / (vips or math.nan):.2f}x (target <= 1.3), "
        f"vs floor {pipeline_ms / floor:.2f}x (target <= 2)"
    )
    print(
        f"peak RSS: pipeline alone on the 24 MP photo, both kinds {peak:.0f} MB (target < 300); "
        f"this whole bench process, naive full decodes included, {whole:.0f} MB"
    )
    print(
        json.dumps(
            {
                "naive_ms": round(naive, 1),
                "pipeline_ms": round(pipeline_ms, 1),
                "speedup": round(naive / pipeline_ms, 2),
                "pyvips_ms": round(vips, 1) if vips else None,
                "floor_ms": round(floor, 1),
                "peak_rss_mb": round(peak, 1),
                "pyvips_2t_ms": round(vips2, 1) if vips2 else None,
                "quality_min": round(quality_min, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
