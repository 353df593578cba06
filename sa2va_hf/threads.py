"""How many threads the image processor uses, and the pool they run on.

The rule (``num_threads=None``, the default): a call uses the cores it is given.

1. ``num_threads=k`` (constructor or call) is used as given;
2. else the environment variable ``SA2VA_HF_NUM_THREADS=k``;
3. else 1 inside a worker of a process pool, where the workers already fill the cores: a
   ``torch.utils.data.DataLoader`` worker (``get_worker_info()``, asked only when torch is already
   imported), any ``multiprocessing`` / ``multiprocess`` child (``datasets.map(num_proc=...)``,
   ``multiprocessing.Pool``, ``ProcessPoolExecutor``), and a Ray worker (the CPUs Ray assigned it);
4. else every core this process may run on (``os.sched_getaffinity``), shared out among the local
   ranks of a distributed launch (``LOCAL_WORLD_SIZE``, set by ``torchrun`` and ``accelerate``).

The work is the same whatever the count: with more than one thread the three resizes of an image
(tile canvas, thumbnail, grounding image) and the images of a batch run side by side (PIL and
torch release the GIL while resizing), and the outputs are identical.

Fork safety: threads do not survive ``fork``; a child that waits on its parent's threads waits
forever. So a child made by ``fork`` starts clean: the pools of this module are forgotten (and
their lock made anew), torch is set to one intra-op thread before the package's first torch
operation there (its OpenMP pool, once used by the parent, hangs the child), and ``video_io``
makes its own frame-conversion context (see there).
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from .errors import Sa2VAError

ENV_VAR = "SA2VA_HF_NUM_THREADS"
MAX_THREADS = 64

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()
_forked = False  # this process was made by fork from one that imported this module
_torch_made_safe = False


def _start_clean_after_fork() -> None:
    global _pools_lock, _forked, _torch_made_safe
    _pools_lock = threading.Lock()  # another thread of the parent may have held it at the fork
    _pools.clear()  # executors whose threads stayed in the parent
    _forked, _torch_made_safe = True, False


os.register_at_fork(after_in_child=_start_clean_after_fork)


def fork_safe_torch(torch):
    """``torch``, set to one intra-op thread in a forked child or a ``multiprocessing`` child (once).

    Every torch operation of the package goes through this: in a forked child torch's OpenMP pool, if
    the parent ran a parallel region, never answers -- whether this module was imported before the fork
    or in the child. A child is a pool worker, where one thread is the rule anyway (``DataLoader`` sets
    the same in its workers).
    """
    global _torch_made_safe
    if not _torch_made_safe and (
        _forked or _parent_process_of("multiprocessing") or _parent_process_of("multiprocess")
    ):
        torch.set_num_threads(1)
        _torch_made_safe = True
    return torch


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _parent_process_of(module_name: str) -> bool:
    module = sys.modules.get(module_name)
    parent = getattr(module, "parent_process", None)
    try:
        return parent is not None and parent() is not None
    except Exception:  # a module of that name that is not the multiprocessing we know
        return False


def _ray_worker_cpus() -> int | None:
    """The CPUs Ray assigned to this task or actor, if this process is a Ray worker (else None)."""
    worker = sys.modules.get("ray._private.worker")
    if worker is None:
        return None
    try:
        if worker.global_worker.mode != worker.WORKER_MODE:
            return None
        cpus = sys.modules["ray"].get_runtime_context().get_assigned_resources().get("CPU", 1)
        return max(1, int(cpus))
    except Exception:  # an older or newer Ray without these names: one thread, as in any worker
        return 1


def worker_process_threads() -> int | None:
    """Threads to use when this process is a worker of a process pool (see the module docstring), else None."""
    torch_data = sys.modules.get("torch.utils.data")
    get_worker_info = getattr(torch_data, "get_worker_info", None)
    if get_worker_info is not None and get_worker_info() is not None:
        return 1
    if _parent_process_of("multiprocessing") or _parent_process_of("multiprocess"):
        return 1
    return _ray_worker_cpus()


def default_num_threads() -> int:
    """The thread count of ``num_threads=None``: the environment variable, else the rule above."""
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        try:
            count = int(value)
        except ValueError:
            count = 0
        if not 1 <= count <= MAX_THREADS:
            raise Sa2VAError(f"{ENV_VAR} must be an int in 1..{MAX_THREADS}, got {value!r}")
        return count
    in_worker = worker_process_threads()
    if in_worker is not None:
        return min(in_worker, MAX_THREADS)
    try:
        ranks = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        ranks = 1
    return min(max(1, available_cores() // ranks), MAX_THREADS)


def resolve_num_threads(num_threads: int | None) -> int:
    """``num_threads`` as given, or :func:`default_num_threads` for ``None``."""
    return default_num_threads() if num_threads is None else num_threads


def thread_pool(num_threads: int) -> ThreadPoolExecutor:
    """A pool of ``num_threads`` threads, shared by every call of this process with that count."""
    pool = _pools.get(num_threads)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(num_threads)
            if pool is None:
                pool = _pools[num_threads] = ThreadPoolExecutor(max_workers=num_threads, thread_name_prefix="sa2va-image")
    return pool
