"""Export stages on Ray (the ``distributed`` extra): item-text embedding and teacher labelling, sharded over a
pool of actors on this machine (``--ray auto``) or an existing cluster (``--ray HOST:PORT``).

Each actor builds its model once (a :class:`WorkerFactory` says how: the text encoder of a bundle, or the
fine-tuned teacher) and then takes shards. The driver stays the single writer of the label cache: it commits
each finished shard in one transaction, so an interrupted run resumes without redoing committed shards, and a
shard whose worker died (or raised) is given to a fresh actor once. Nothing here imports ray unless a
:class:`RayRunner` is built.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import ArgumentError, ExportError, missing_extra

Log = Callable[[str, float], None]


@dataclass(frozen=True)
class RayConfig:
    """Where and how wide to run. ``address``: ``auto`` starts a local Ray runtime for this export (or joins
    one already running on this machine); ``HOST:PORT`` or ``ray://HOST:PORT`` joins a cluster. ``workers``:
    actors per stage (default: the cluster's CPUs). ``shard_users``: users per labelling shard;
    ``shard_items``: item texts per embedding shard. ``device``: ``cuda`` asks Ray for one GPU per labelling
    actor and runs the torch teacher there."""

    address: str = "auto"
    workers: int | None = None
    shard_users: int = 8
    shard_items: int = 512
    device: str = "cpu"
    retries: int = 1

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ArgumentError(f"--workers must be >= 1, got {self.workers}")
        if self.shard_users < 1 or self.shard_items < 1:
            raise ArgumentError("shard sizes must be >= 1")
        if self.device not in ("cpu", "cuda"):
            raise ArgumentError(f"--device must be cpu or cuda, got {self.device!r}")


class WorkerFactory(Protocol):
    """Picklable recipe of a worker's model: ``build()`` runs once inside each actor."""

    def build(self) -> Any: ...


@dataclass(frozen=True)
class TextEncoderFactory:
    """The default bundle's text encoder (one thread per actor: the actors are the parallelism)."""

    threads: int = 1

    def build(self) -> Any:
        from ..backends.onnx_text import OnnxTextEncoder
        from ..bundle import default_bundle_path, load_bundle

        base = load_bundle(default_bundle_path())
        te = base.manifest.encoder
        enc = OnnxTextEncoder(
            te, base.file(te.model), base.file(te.tokenizer), threads=self.threads, what="default text encoder"
        )
        return _Embedder(enc)


class _Embedder:
    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return embed_texts(self.encoder, texts)


def embed_texts(encoder: Any, texts: Sequence[str], batch: int = 64) -> np.ndarray:
    """Texts → vectors in batches of ``batch`` (the same batching in-process and on every worker, so the
    results are identical)."""
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return np.concatenate([encoder.embed(list(texts[i : i + batch])) for i in range(0, len(texts), batch)])


def _embed_chunk(texts: list[str]) -> np.ndarray:
    emb = TextEncoderFactory(threads=1).build()
    try:
        return emb.embed(texts)
    finally:
        emb.encoder.close()


def embed_local(texts: Sequence[str], processes: int, batch: int = 64) -> np.ndarray:
    """Texts → vectors with ``processes`` one-thread encoder processes (contiguous chunks, whole batches each),
    so the vectors are bitwise those of one process, and of Ray's workers, at ``processes``× the speed."""
    if processes <= 1 or len(texts) <= 4 * batch:
        return _embed_chunk(list(texts))
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    per = -(-len(texts) // (processes * batch)) * batch  # whole batches: the same batch boundaries as one process
    chunks = [list(texts[i : i + per]) for i in range(0, len(texts), per)]
    # spawn, not fork: the exporting process has torch's thread pool running
    with ProcessPoolExecutor(len(chunks), mp_context=multiprocessing.get_context("spawn")) as pool:
        return np.concatenate(list(pool.map(_embed_chunk, chunks)))


def require_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise missing_extra(
            "distributed", "ray", "--ray runs the export's labelling and embedding on Ray workers"
        ) from None
    return ray


def _unnice() -> None:
    """Ray starts workers at niceness 15, so on a machine with any other busy process they get a few per cent
    of a core (measured here: a labelling shard 30× slower beside two other jobs). Export workers are the job:
    take normal priority back where the OS allows it."""
    try:
        if os.getpriority(os.PRIO_PROCESS, 0) > 0:
            os.setpriority(os.PRIO_PROCESS, 0, 0)
    except (OSError, AttributeError):
        pass  # not permitted (or not POSIX): run niced


class _Actor:
    """The body of every actor: the model built once, then one method call per shard."""

    def __init__(self, factory: WorkerFactory) -> None:
        _unnice()
        self.obj = factory.build()

    def run(self, method: str, shard: Any) -> Any:
        return getattr(self.obj, method)(shard)

    def pid(self) -> int:
        return os.getpid()


class RayRunner:
    """A connection to Ray and the pools of actors of one export. Use as a context manager: leaving it (also
    by Ctrl-C) kills this export's actors and, when it started the runtime, shuts it down."""

    def __init__(self, cfg: RayConfig) -> None:
        self.cfg = cfg
        self.ray = require_ray()
        self._started = False
        if not self.ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if cfg.address == "auto":
                try:
                    self.ray.init(address="auto", **kwargs)  # a runtime already running on this machine
                except ConnectionError:
                    local: dict[str, Any] = {"num_cpus": cfg.workers} if cfg.workers else {}
                    # a runtime this export starts runs its workers at normal priority (Ray's default is 15)
                    local["_system_config"] = {"worker_niceness": 0}
                    self.ray.init(**kwargs, **local)
            else:
                self.ray.init(address=cfg.address, **kwargs)
            self._started = True
        self.workers = cfg.workers or max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def __enter__(self) -> RayRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
            self._started = False

    def _new_actor(self, factory: WorkerFactory, gpu: bool) -> Any:
        opts: dict[str, Any] = {"num_cpus": 1, "max_restarts": 0, "max_task_retries": 0}
        if gpu:
            opts["num_gpus"] = 1
        return self.ray.remote(**opts)(_Actor).remote(factory)

    def map_shards(
        self,
        factory: WorkerFactory,
        method: str,
        shards: Sequence[Any],
        on_result: Callable[[int, Any], None],
        *,
        what: str,
        units: Sequence[int] | None = None,
        log: Log = lambda m, f: None,
        gpu: bool = False,
        actors_out: list[Any] | None = None,
    ) -> None:
        """Run ``method(shard)`` on a pool of actors built by ``factory``; call ``on_result(index, result)`` in
        the driver as each shard finishes (in completion order). A shard whose actor died or raised is resubmitted
        to a fresh actor up to ``cfg.retries`` times; then the stage fails. ``units``: items per shard, for the
        progress line's rate."""
        if not shards:
            return
        ray = self.ray
        n_actors = min(self.workers, len(shards))
        actors = [self._new_actor(factory, gpu) for _ in range(n_actors)]
        if actors_out is not None:
            actors_out.extend(actors)
        units = units or [1] * len(shards)
        todo = list(range(len(shards)))[::-1]
        attempts = [0] * len(shards)
        pending: dict[Any, tuple[int, int]] = {}  # object ref → (shard, actor slot)
        done = done_units = 0
        t0 = time.perf_counter()

        def submit(slot: int) -> None:
            i = todo.pop()
            attempts[i] += 1
            pending[actors[slot].run.remote(method, shards[i])] = (i, slot)

        try:
            for slot in range(n_actors):
                if todo:
                    submit(slot)
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                ref = ready[0]
                i, slot = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as e:
                    if attempts[i] > self.cfg.retries:
                        cause = getattr(e, "cause", None) or e  # a task error carries the worker's exception
                        text = (str(cause).strip().splitlines() or [""])[-1][:200]
                        raise ExportError(
                            f"{what}: shard {i} failed {attempts[i]} times on Ray workers "
                            f"({type(cause).__name__}: {text})"
                        ) from None
                    ray.kill(actors[slot], no_restart=True)
                    actors[slot] = self._new_actor(factory, gpu)  # a fresh worker retries the shard
                    if actors_out is not None:
                        actors_out.append(actors[slot])
                    todo.append(i)
                    submit(slot)
                    continue
                on_result(i, result)
                done += 1
                done_units += units[i]
                rate = done_units / max(time.perf_counter() - t0, 1e-9)
                log(
                    f"{what} on Ray: {done}/{len(shards)} shards, {rate:.3g}/s ({n_actors} workers)", done / len(shards)
                )
                if todo:
                    submit(slot)
        finally:  # also on Ctrl-C: this export's workers stop; committed shards stay committed
            for a in actors:
                ray.kill(a, no_restart=True)


def embed_on_ray(runner: RayRunner, texts: Sequence[str], log: Log, factory: WorkerFactory | None = None) -> np.ndarray:
    """Item texts → vectors on Ray, in the input order."""
    size = runner.cfg.shard_items
    shards = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
    parts: dict[int, np.ndarray] = {}
    runner.map_shards(
        factory or TextEncoderFactory(),
        "embed",
        shards,
        lambda i, r: parts.__setitem__(i, np.asarray(r, dtype=np.float32)),
        what="embedding item texts",
        units=[len(s) for s in shards],
        log=log,
    )
    return np.concatenate([parts[i] for i in range(len(shards))])
