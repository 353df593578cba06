"""One side of ``bench/upstream.py``, run as its own process: the product (``--side product``, the project's
venv) or upstream's v1 classes (``--side upstream``, a venv of upstream's own). Only the standard library,
torch and numpy are imported here, so the same file runs in both venvs.

It builds every source's dataset once, answers ``READY`` with its package versions, then reads one JSON
command a line on stdin and answers one JSON line (on the stdout it was started with; everything the
libraries print goes to stderr):

* ``{"op": "warm", "source": s}``: a first sample in every in-process mode (not timed);
* ``{"op": "run", "source": s, "mode": m}``: build every sample of ``s`` once, in mode ``m`` --
  ``one`` (one thread: torch, the product's processor, OpenCV's and decord's decoders), ``default`` (each library's
  own thread count), ``loader`` (``DataLoader(num_workers=2, batch_size=2)`` + the side's collate
  function, a whole epoch timed from ``iter`` to the last batch, workers' start included), and the
  product's opt-in torch resize backend, ``torch`` (one thread) / ``torch_loader``;
* ``{"op": "crossing", "source": s, "mode": m}``: what a batch of 2 costs to go from a worker to the main
  process: the collate function, torch's ``ForkingPickler`` (tensors copied into shared memory) and the
  unpickling, CPU ms each, and the bytes that cross (``mode``: ``loader``, or the product's
  ``compact_loader``, collated as in a worker and finished when unpickled);
* ``{"op": "profile", "source": s, "samples": k, "out": path}``: cProfile of ``k`` samples at one thread
  (CPU time).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import io
import json
import os
import pickle
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH_SIZE = 2
WORKERS = 2
CROSSING_REPEAT = 5


def tensor_bytes(obj) -> int:
    """Bytes of every tensor / array buffer in a (nested) batch."""
    import numpy as np
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.element_size() * obj.nelement()
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    if type(obj).__name__ == "Finish":  # the product's compact batch: what crosses is its arguments
        return tensor_bytes(list(obj.args))
    return 0


def in_process(get, n: int) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        get(i)
    return {"samples": n, "seconds": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def through_loader(dataset, collate, n: int) -> dict:
    import torch

    loader = torch.utils.data.DataLoader(
        dataset, batch_size=BATCH_SIZE, num_workers=WORKERS, collate_fn=collate, timeout=900
    )
    wall, seen = time.perf_counter(), 0
    for _ in loader:
        seen += 1
    return {"samples": n, "batches": seen, "seconds": time.perf_counter() - wall}


def crossing(get, collate, worker=contextlib.nullcontext) -> dict:
    """CPU ms of collate / pickling into shared memory / unpickling a batch of 2, and its bytes (medians).
    ``worker()``: a context in which the collate function acts as in a DataLoader worker."""
    from multiprocessing.reduction import ForkingPickler

    import torch.multiprocessing  # noqa: F401 (registers torch's reductions on ForkingPickler)

    built = [get(i) for i in range(BATCH_SIZE)]
    rows = {"collate": [], "pickle": [], "unpickle": []}
    for _ in range(CROSSING_REPEAT):
        samples = copy.deepcopy(built)  # fresh buffers: pickling moves a tensor's storage into shared memory
        with worker():
            c0 = time.process_time()
            batch = collate(samples)
            c1 = time.process_time()
            buf = io.BytesIO()
            ForkingPickler(buf, pickle.HIGHEST_PROTOCOL).dump(batch)
            c2 = time.process_time()
        pickle.loads(buf.getvalue())
        c3 = time.process_time()
        rows["collate"].append(1000 * (c1 - c0))
        rows["pickle"].append(1000 * (c2 - c1))
        rows["unpickle"].append(1000 * (c3 - c2))
    out = {k: statistics.median(v) / BATCH_SIZE for k, v in rows.items()}
    out["buffer_bytes"] = tensor_bytes(batch) / BATCH_SIZE
    out["pickle_bytes"] = len(buf.getvalue()) / BATCH_SIZE
    out["sample_bytes"] = tensor_bytes(samples) / BATCH_SIZE
    return out


def profile(get, k: int, path: str) -> dict:
    prof = cProfile.Profile(time.process_time)  # CPU time: another load on the machine does not stretch it
    wall = time.perf_counter()
    prof.enable()
    for i in range(k):
        get(i)
    prof.disable()
    prof.dump_stats(path)
    return {"samples": k, "seconds": time.perf_counter() - wall, "out": path}


def handle(side, cmd: dict) -> dict:
    op, source = cmd["op"], cmd.get("source")
    if op == "run":
        mode = cmd["mode"]
        side.set_threads(mode)
        dataset = side.dataset(source, mode)
        if mode.endswith("loader"):
            return through_loader(dataset, side.collate(source), len(dataset))
        return in_process(dataset.__getitem__, len(dataset))
    if op == "warm":  # a first sample in every in-process mode: imports, caches, thread pools
        for mode in side.modes:
            if not mode.endswith("loader"):
                side.set_threads(mode)
                side.dataset(source, mode)[0]
        return {}
    if op == "crossing":
        mode = cmd.get("mode", "loader")
        if mode not in side.modes:
            return {"skipped": True}
        side.set_threads("default")
        worker = getattr(side, "as_worker", contextlib.nullcontext)
        return crossing(side.dataset(source, mode).__getitem__, side.collate(source), worker)
    if op == "profile":
        side.set_threads("one")
        return profile(side.dataset(source, "one").__getitem__, cmd["samples"], cmd["out"])
    raise ValueError(f"unknown op {op!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=("product", "upstream"), required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--sources", required=True)
    parser.add_argument("--upstream", help="the upstream checkout (upstream side)")
    args = parser.parse_args()
    answer = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the libraries print (C code included) goes to stderr
    sys.stdout = sys.stderr
    sys.path.insert(0, REPO)
    if args.side == "product":
        from bench._side_product import Side
    else:
        from bench._side_upstream import Side
    side = Side(args.data, args.sources.split(","), args.upstream)
    answer.write(json.dumps({"ready": True, "versions": side.versions()}) + "\n")
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "quit":
            break
        try:
            result = handle(side, cmd)
        except Exception as e:  # reported to the driver, which stops with it
            import traceback

            traceback.print_exc()
            result = {"error": f"{type(e).__name__}: {e}"}
        answer.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
