"""Soak: the in-memory demo streaming 100 readings/s with retention on; is memory flat?

    python bench/soak.py            # 10 minutes of streaming, a retrain every 60 s
    python bench/soak.py --quick    # 45 s of streaming, a retrain every 15 s: under a minute

Streams through the same use cases as the demo (detect-on-ingest with a trained model,
retention at 20,000 readings, an analysis every 10 s, a retrain every 60 s) and samples the
process's RSS. The baseline is the RSS after warm-up (the first fifth of the run, once
retention is full and the model is loaded), measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import emit_json, median, print_table, rss_mb

from energy_core import Simulator
from energy_ui.bootstrap import bootstrap
from energy_ui.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="45 s instead of 10 minutes, a retrain every 15 s"
    )
    parser.add_argument("--rate", type=int, default=100, help="readings per second")
    args = parser.parse_args()
    # --quick stays under a minute with the set-up (~5 s) and still retrains several times.
    duration, retrain_every = (45.0, 15.0) if args.quick else (600.0, 60.0)
    batch = max(1, args.rate // 10)

    settings = Settings(_env_file=None, database_url=None, max_readings=20_000, meters=3)
    application = bootstrap(settings, simulator=Simulator(meters=3, seed=1, anomaly_ratio=0.02))
    monitor = application.monitor
    start_rss = rss_mb()
    monitor.generate_history(20_000)
    monitor.train()
    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    next_tick = started
    next_analysis = started + 10
    next_train = started + retrain_every
    next_sample = started
    ingested = 0
    retrains = 0
    while (now := time.monotonic()) - started < duration:
        ingested += len(monitor.stream_tick(batch).stored)
        if now >= next_analysis:
            monitor.analyse()
            next_analysis += 10
        if now >= next_train:
            monitor.train()
            retrains += 1
            next_train += retrain_every
        if now >= next_sample:
            gc.collect()
            samples.append((now - started, rss_mb()))
            next_sample += duration / 40
        next_tick += 0.1
        time.sleep(max(0.0, next_tick - time.monotonic()))
    elapsed = time.monotonic() - started
    warm = [rss for at, rss in samples if duration * 0.2 <= at < duration * 0.3]
    final = [rss for _, rss in samples[-4:]]
    baseline, end = median(warm), median(final)
    growth = 100.0 * (end - baseline) / baseline
    rows = [
        ["RSS at start (libraries loaded)", f"{start_rss:.1f} MB"],
        ["RSS after warm-up (baseline)", f"{baseline:.1f} MB"],
        ["RSS at the end (median of last 4)", f"{end:.1f} MB"],
        ["growth after warm-up", f"{growth:+.2f} %  (target ≤ 10 %)"],
        ["readings ingested", f"{ingested} in {elapsed:.0f} s ({ingested / elapsed:.0f}/s)"],
        ["readings stored (retention 20,000)", str(monitor.queries.count())],
        [f"retrains during the run (every {retrain_every:.0f} s)", str(retrains)],
    ]
    print_table("soak: in-memory demo", rows, ["measure", "value"])
    emit_json(
        {
            "duration_s": round(elapsed, 1),
            "readings_per_s": round(ingested / elapsed, 1),
            "rss_baseline_mb": round(baseline, 1),
            "rss_end_mb": round(end, 1),
            "memory_growth_pct": round(growth, 2),
            "retrains": retrains,
        }
    )


if __name__ == "__main__":
    main()
