"""Samples per second of the product's training transform (recipe v1, records from ``load_source``) against
upstream's own v1 dataset classes running unchanged on the same native data (a measurement, not a test).

The benchmark writes each source in its native layout from real photos / frames / an mp4 you point it at
(``bench/_upstream_data.py``), then runs two processes side by side: the product in this venv, upstream's
classes in a venv of upstream's own (``--upstream-python``) from a local checkout of magic-research/Sa2VA
(``--upstream``; nothing of it is copied into this project). Modes, per source:

* ``one``: one process, one thread each (torch, the product's processor, OpenCV's and decord's decoders);
* ``default``: one process, each side's default threads (the product: every core);
* ``loader``: ``DataLoader(num_workers=2, batch_size=2)`` + each side's collate function, a whole epoch;
* ``torch`` / ``torch_loader``: the product alone with the opt-in torch resize backend, one thread /
  through the DataLoader, against upstream's ``one`` / ``loader`` of the same round;
* ``compact_loader`` / ``torch_compact_loader``: ``loader`` / ``torch_loader`` with
  ``Sa2VATrainingTransform(compact_samples=True)`` (uint8 tiles and RLE masks cross from the workers, the
  batch is finished in the main process), against upstream's ``loader`` of the same round.

A/B rounds: every round runs every (mode, source) on both sides back to back, the order swapped each round;
the table gives the median over rounds of the per-round ratio (upstream = 1) and the 1-minute load average
(``/proc/loadavg``) seen during the run (the benchmark itself adds 1 to 2). ``--crossing`` adds what a
sample costs to cross from a DataLoader worker to the main process; ``--profile DIR`` writes cProfile
files of both sides per source (one thread) and prints their top functions.

Run (see the README's "Speed" for building the upstream venv)::

    .venv/bin/python bench/upstream.py --upstream /tmp/sa2va-upstream --upstream-python /tmp/venv-upstream/bin/python \\
        --images /work/shared/data/images/*.jpg --frames /work/shared/data/video_bedroom --video /work/shared/data/coffee.mp4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import _upstream_data  # noqa: E402

SOURCES = ("refcoco", "osprey", "gcg_grandf", "revos", "ref_sav", "chat_univi")
MODES = ("one", "default", "loader", "torch", "torch_loader", "compact_loader", "torch_compact_loader")
#: product-only modes -> the upstream mode of the same round they are compared with
PRODUCT_ONLY = {"torch": "one", "torch_loader": "loader", "compact_loader": "loader", "torch_compact_loader": "loader"}
SIDE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ab_side.py")
READY_TIMEOUT = 600


def load_average() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class SideProcess:
    """A side running ``bench/_ab_side.py``: one JSON command, one JSON answer."""

    def __init__(self, name: str, python: str, data: str, sources: list[str], upstream: str | None) -> None:
        cmd = [python, SIDE_SCRIPT, "--side", name, "--data", data, "--sources", ",".join(sources)]
        if upstream:
            cmd += ["--upstream", upstream]
        self.name = name
        self.log = open(os.path.join(data, f"{name}.log"), "w")
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=env)  # fmt: skip
        self.ready = self._read(f"{name} side did not start")

    def _read(self, what: str) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"{what}: see {self.log.name}")
        answer = json.loads(line)
        if "error" in answer:
            raise SystemExit(f"{self.name}: {answer['error']} (see {self.log.name})")
        return answer

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read(f"{self.name} side stopped on {cmd}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def rate(answer: dict) -> float:
    """Samples per second of wall-clock time."""
    return answer["samples"] / answer["seconds"]


def cpu_rate(answer: dict) -> float:
    """Samples per second of the process's CPU time (one-thread modes: what another load cannot stretch)."""
    return answer["samples"] / answer["cpu"]


def ab_rounds(sides: dict, sources: list[str], modes: list[str], rounds: int) -> tuple[dict, list[float]]:
    """{(source, mode): {"product": [answer per round], "upstream": [...]}} and the load averages seen."""
    results: dict = {}
    loads = [load_average()]
    for r in range(rounds):
        for mode in modes:
            for source in sources:
                order = ["product", "upstream"] if r % 2 == 0 else ["upstream", "product"]
                row = results.setdefault((source, mode), {"product": [], "upstream": []})
                for name in order:
                    if name == "upstream" and mode in PRODUCT_ONLY:
                        continue
                    row[name].append(sides[name].ask(op="run", source=source, mode=mode))
                loads.append(load_average())
        print(f"  round {r + 1}/{rounds} done, load {loads[-1]:.2f}", file=sys.stderr, flush=True)
    return results, loads


def ratio_table(results: dict, sources: list[str], modes: list[str], measure=rate) -> list[str]:
    lines = ["| source | " + " | ".join(modes) + " |", "|---|" + "---|" * len(modes)]
    for source in sources:
        cells = []
        for mode in modes:
            row = results[(source, mode)]
            base = results[(source, PRODUCT_ONLY.get(mode, mode))]["upstream"]
            ratios = [measure(p) / measure(u) for p, u in zip(row["product"], base)]
            cells.append(f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})")
        lines.append(f"| {source} | " + " | ".join(cells) + " |")
    return lines


def rate_table(results: dict, sources: list[str], modes: list[str]) -> list[str]:
    lines = ["| source | " + " | ".join(f"{m} product / upstream" for m in modes) + " |", "|---|" + "---|" * len(modes)]
    for source in sources:
        cells = []
        for mode in modes:
            row = results[(source, mode)]
            up = f"{statistics.median(map(rate, row['upstream'])):.2f}" if row["upstream"] else "-"
            cells.append(f"{statistics.median(map(rate, row['product'])):.2f} / {up}")
        lines.append(f"| {source} | " + " | ".join(cells) + " |")
    return lines


def crossing_table(sides: dict, sources: list[str]) -> list[str]:
    lines = ["| source | side | bytes a sample (tensors) | collate ms | pickle to shm ms | unpickle (compact: + finish) ms |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for source in sources:
        for name, side in sides.items():
            for mode in ("loader", "compact_loader"):
                c = side.ask(op="crossing", source=source, mode=mode)
                if c.get("skipped"):
                    continue
                label = name if mode == "loader" else f"{name}, compact samples"
                lines.append(f"| {source} | {label} | {c['buffer_bytes'] / 1e6:.1f} MB | {c['collate']:.1f} | "
                             f"{c['pickle']:.1f} | {c['unpickle']:.1f} |")  # fmt: skip
    return lines


def profiles(sides: dict, sources: list[str], folder: str, samples: int, top: int) -> None:
    import pstats

    os.makedirs(folder, exist_ok=True)
    for source in sources:
        for name, side in sides.items():
            path = os.path.join(os.path.abspath(folder), f"{source}.{name}.prof")
            answer = side.ask(op="profile", source=source, samples=samples, out=path)
            print(f"\n## {source}, {name}: {samples} samples, {1000 * answer['seconds'] / samples:.1f} ms each "
                  f"(under cProfile, one thread); {path}")  # fmt: skip
            pstats.Stats(path).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="a checkout of magic-research/Sa2VA (v1)")
    parser.add_argument("--upstream-python", required=True, help="the python of upstream's venv")
    parser.add_argument("--images", nargs="+", required=True, help="real photos (JPEG), cropped to 640x480")
    parser.add_argument("--frames", help="a folder of real video frames (ReVOS)")
    parser.add_argument("--video", help="a real mp4 (Ref-SAV, Chat-UniVi)")
    parser.add_argument("--data", help="where the native data is written (default: a new temporary folder)")
    parser.add_argument("--records", type=int, default=50, help="records per image source")
    parser.add_argument("--videos", type=int, default=12, help="records per video source")
    parser.add_argument("--frame-size", default="1280x720", help="ReVOS frames are resized to this")
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--crossing", action="store_true", help="also the worker -> main process cost")
    parser.add_argument("--profile", metavar="DIR", help="also cProfile both sides per source, into DIR")
    parser.add_argument("--profile-samples", type=int, default=10)
    parser.add_argument("--profile-top", type=int, default=25)
    args = parser.parse_args()
    sources = args.sources.split(",")
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(sources) - set(SOURCES)) + sorted(set(modes) - set(MODES))
    if unknown:
        raise SystemExit(f"unknown source or mode {unknown}; sources {SOURCES}, modes {MODES}")
    for mode in modes:
        if mode in PRODUCT_ONLY and PRODUCT_ONLY[mode] not in modes:
            raise SystemExit(f"mode {mode!r} is compared with upstream's {PRODUCT_ONLY[mode]!r}: add it to --modes")
    if {"revos"} & set(sources) and not args.frames:
        raise SystemExit("revos needs --frames (a folder of JPEG frames)")
    if {"ref_sav", "chat_univi"} & set(sources) and not args.video:
        raise SystemExit("ref_sav / chat_univi need --video (an mp4)")
    args.frame_size = tuple(int(v) for v in args.frame_size.split("x"))
    data = args.data or tempfile.mkdtemp(prefix="sa2va-bench-upstream-")

    start = time.perf_counter()
    _upstream_data.write(data, sources, args)
    print(f"native data in {data} ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    sides = {}
    try:
        sides["product"] = SideProcess("product", sys.executable, data, sources, None)
        sides["upstream"] = SideProcess("upstream", args.upstream_python, data, sources, args.upstream)
        for source in sources:
            for side in sides.values():
                side.ask(op="warm", source=source)
        results, loads = ab_rounds(sides, sources, modes, args.rounds)
        print(f"\n{args.records} records per image source (640x480 crops of {len(args.images)} photos), "
              f"{args.videos} per video source; {os.cpu_count()} CPUs; median of {args.rounds} A/B rounds")  # fmt: skip
        for name, side in sides.items():
            print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in side.ready["versions"].items()))
        print(f"1-minute load average during the run: min {min(loads):.2f}, median {statistics.median(loads):.2f}, "
              f"max {max(loads):.2f} (this benchmark adds 1-2)\n")  # fmt: skip
        print("samples/s, product / upstream = ratio (min-max over rounds)\n")
        print("\n".join(ratio_table(results, sources, modes)))
        one_thread = [m for m in modes if m in ("one", "torch")]
        if one_thread:
            print("\nthe one-thread modes by CPU time (samples per CPU-second of each side's process)\n")
            print("\n".join(ratio_table(results, sources, one_thread, cpu_rate)))
        print("\nsamples/s (median), product / upstream\n")
        print("\n".join(rate_table(results, sources, modes)))
        if args.crossing:
            print("\nworker -> main process, a batch of 2 (per sample; CPU ms, medians)\n")
            print("\n".join(crossing_table(sides, sources)))
        if args.profile:
            profiles(sides, sources, args.profile, args.profile_samples, args.profile_top)
    finally:
        for side in sides.values():
            side.close()


if __name__ == "__main__":
    main()
