"""``fakescope scan --engine ray``: the scan on a Ray cluster, with Ray Data.

The driver (the machine that runs the command) expands the inputs as the local
scan does, drops those already in ``--out``, and builds a Ray Data pipeline:

1. **decode, in tasks** on any node: each entry is read and decoded exactly as the
   local scan's decode threads do (:func:`fakescope.scanning._decode`: Pillow, reduced
   to the views the detector reads, plus the provenance metadata); an unreadable entry
   becomes its error, not a failure;
2. **score, in an actor pool**: each actor loads the detector (and so the CLIP encoder)
   once and scores batch after batch with the same code as the local scan;
3. rows stream back to the driver, which writes them with the local scan's writers, so
   JSONL, CSV and Parquet, resuming and error rows behave the same. Rows come in the
   order they finish, not the input order.

With ``--device cuda`` the tasks only read headers and metadata
(:func:`fakescope.engines.probe.probe`), and each actor takes one GPU and runs the
GPU path (:class:`fakescope.engines.gpu.DeviceScorer`: JPEGs decoded there).

Inputs may also be URIs that pyarrow's filesystems read (``s3://bucket/photos/``,
``gs://...``, ``hdfs://...``); the nodes then read them through pyarrow, and a folder
URI is listed recursively for image suffixes. Local paths must be readable from every
node under the same name (a shared filesystem) unless the cluster is one machine.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from ..io import IMAGE_SUFFIXES, ImageInfo, ImageLoadError
from ..scanning import DecodePlan, Inputs, UsageError, find_inputs, output_row, path_fields, row_path
from ..types import Verdict

#: entries per decode task call; the actors score what arrives in batches of ``batch_size``
DECODE_BATCH = 16
#: memory a decode task asks Ray for: decoding a 12 MP photo holds about 100 MB, twice while an EXIF
#: rotation is applied (see scanning.scan_iter); Ray then never runs more decodes than memory holds
DECODE_MEMORY = 256 * 2**20


def _table(columns: dict[str, list], binary: tuple[str, ...] = ()):
    """A Ray Data batch as an Arrow table: strings, ``binary`` columns as bytes, ``None`` kept as null."""
    import pyarrow as pa

    return pa.table({k: pa.array(v, type=pa.binary() if k in binary else pa.string()) for k, v in columns.items()})


def _require_ray():
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError("--engine ray needs Ray Data: pip install 'fakescope[ray]'") from None


def is_uri(path: str) -> bool:
    return "://" in path


def find_inputs_any(inputs: str | os.PathLike | Iterable[str | os.PathLike]) -> Inputs:
    """:func:`fakescope.scanning.find_inputs`, plus URIs of pyarrow filesystems (a file, or a folder
    listed recursively for image suffixes)."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found = Inputs(paths=[])
    for item in map(os.fspath, inputs):
        if not is_uri(item):
            part = find_inputs(item)
            found.paths += part.paths
            found.refused.update(part.refused)
            continue
        from pyarrow import fs

        filesystem, root = fs.FileSystem.from_uri(item)
        info = filesystem.get_file_info(root)
        if info.type == fs.FileType.NotFound:
            raise UsageError(f"{item}: no such file or folder")
        if info.type == fs.FileType.Directory:
            scheme = item.split("://", 1)[0]
            listed = filesystem.get_file_info(fs.FileSelector(root, recursive=True))
            images = [f.path for f in listed
                      if f.type == fs.FileType.File and os.path.splitext(f.path)[1].lower() in IMAGE_SUFFIXES]  # fmt: skip
            found.paths += sorted(f"{scheme}://{p}" for p in images)
        else:
            found.paths.append(item)
    seen: set[str] = set()
    found.paths = [p for p in found.paths if not (p in seen or seen.add(p))]
    return found


def read_bytes(path: str) -> bytes:
    """The bytes of a local path (regular files only, as the local scan) or of a URI."""
    from ..io import _read_file

    if not is_uri(path):
        return _read_file(path, path)
    from pyarrow import fs

    try:
        filesystem, where = fs.FileSystem.from_uri(path)
        with filesystem.open_input_file(where) as fh:
            return fh.read()
    except (OSError, ValueError) as exc:
        raise ImageLoadError(path, f"cannot read file ({exc})") from None


# --- stage 1 (tasks): decode --------------------------------------------------------------------------


def _pack(prepared) -> bytes:
    """A decoded image or its views (``features.extract.Prepared``) as bytes (``.npz``, nothing pickled)."""
    from ..features.extract import Prepared

    buf = io.BytesIO()
    if isinstance(prepared, Prepared):
        np.savez(buf, __size__=np.array(prepared.size), **{k: np.asarray(v) for k, v in prepared.inputs.items()})
    else:
        np.savez(buf, __image__=np.asarray(prepared))
    return buf.getvalue()


def _unpack(blob: bytes):
    from PIL import Image

    from ..features.extract import Prepared

    with np.load(io.BytesIO(blob)) as z:
        if "__image__" in z:
            return Image.fromarray(z["__image__"])
        return Prepared(tuple(int(v) for v in z["__size__"]), {k: Image.fromarray(z[k]) for k in z if k != "__size__"})


def decode_batch(batch, plan: DecodePlan):
    """Ray Data task: decode each entry as the local scan does; errors are kept as values."""
    from ..scanning import _decode

    batch = batch.to_pydict()
    out = {"path": [], "path_bytes": [], "error": [], "views": [], "info": [], "provenance": []}
    for text, raw in zip(batch["path"], batch["path_bytes"]):
        path = row_path({"path": text, "path_bytes": raw})
        if is_uri(path):
            try:
                _, img, info, err, prov = _decode_bytes(path, plan)
            except ImageLoadError as exc:
                img, info, err, prov = None, None, exc.reason, None
        else:
            _, img, info, err, prov = _decode(path, plan)
        out["path"].append(text)
        out["path_bytes"].append(raw)
        out["error"].append(err)
        out["views"].append(None if img is None else _pack(img))
        out["info"].append(None if info is None else json.dumps(dataclasses.asdict(info)))
        out["provenance"].append(None if prov is None else json.dumps(prov))
    return _table(out, binary=("views",))


def _decode_bytes(path: str, plan: DecodePlan):
    from ..io import open_image
    from ..provenance import evidence

    data = read_bytes(path)
    try:
        img, info = open_image(data, name=path, min_side=plan.min_side)
    except ImageLoadError as exc:
        return path, None, None, exc.reason, None
    if plan.extractors:
        from ..features.extract import prepare

        img = prepare(img, plan.extractors)
    return path, img, info, None, evidence(data)


class Scorer:
    """Ray Data actor: one detector (and CLIP session) per actor, batches of decoded entries -> rows (JSON)."""

    def __init__(self, detector, threads: int = 1):
        # One ONNX thread per CPU Ray gives the actor; set before the first session is made.
        os.environ["FAKESCOPE_THREADS"] = str(threads)
        self.detector = detector

    def __call__(self, batch):
        from ..scanning import assess

        batch = batch.to_pydict()
        det = self.detector
        rows: list = [None] * len(batch["path"])
        good = []
        for i, (text, raw, err, blob) in enumerate(zip(batch["path"], batch["path_bytes"], batch["error"],
                                                        batch["views"])):  # fmt: skip
            path = row_path({"path": text, "path_bytes": raw})
            if err is not None:
                rows[i] = Verdict.failed(det, path, err)
            else:
                good.append((i, path, _unpack(blob)))
        probs, reliability = assess(det, [img for _, _, img in good])
        for (i, path, _), p, rel in zip(good, probs, reliability):
            info = ImageInfo(**json.loads(batch["info"][i]))
            rows[i] = Verdict.scored(det, path, float(p), info, reliability=rel)
            rows[i].provenance = json.loads(batch["provenance"][i])
        return _table({"row": [json.dumps(output_row(v), ensure_ascii=False) for v in rows]})


# --- the GPU variant ---------------------------------------------------------------------------------------


def probe_batch(batch):
    """Ray Data task: header, metadata and decoder choice of each entry (:func:`~fakescope.engines.probe.probe`)."""
    from .probe import probe

    batch = batch.to_pydict()
    probed = []
    for text, raw in zip(batch["path"], batch["path_bytes"]):
        path = row_path({"path": text, "path_bytes": raw})
        try:
            pr = probe(path, read_bytes(path) if is_uri(path) else None)
        except ImageLoadError as exc:
            from .probe import Probed

            pr = Probed(path, error=exc.reason)
        d = dataclasses.asdict(pr)
        d["path"] = None  # travels as path/path_bytes
        probed.append(json.dumps(d))
    return _table({"path": batch["path"], "path_bytes": batch["path_bytes"], "probed": probed})


class DeviceActor:
    """Ray Data actor on one GPU: reads the files' bytes, decodes and scores them
    (:class:`~fakescope.engines.gpu.DeviceScorer`)."""

    def __init__(self, detector, device: str = "cuda"):
        from .gpu import DeviceScorer

        self.scorer = DeviceScorer(detector, device)

    def __call__(self, batch):
        from .probe import Probed

        batch = batch.to_pydict()
        probed = []
        for text, raw, js in zip(batch["path"], batch["path_bytes"], batch["probed"]):
            d = json.loads(js)
            d["path"] = row_path({"path": text, "path_bytes": raw})
            d["info"] = None if d["info"] is None else ImageInfo(**d["info"])
            probed.append(Probed(**d))

        def data(pr):
            if pr.error is not None:
                return None
            try:
                return read_bytes(pr.path)
            except ImageLoadError:
                return None

        blobs = list(self.scorer.pool.map(data, probed))
        for pr, blob in zip(probed, blobs):
            if pr.error is None and blob is None:
                pr.error = "file could not be read again after its header was (removed or changed during the scan)"
        rows = self.scorer.score(probed, blobs)
        return _table({"row": [json.dumps(output_row(v), ensure_ascii=False) for v in rows]})


# --- the driver ----------------------------------------------------------------------------------------------


def connect(address: str | None = None, **init_kw) -> None:
    """Join the Ray cluster at ``address`` (``auto``: the one this machine belongs to; ``None``: the one
    ``RAY_ADDRESS`` names, else a local one), unless this process already has."""
    _require_ray()
    import ray

    if not ray.is_initialized():
        ray.init(address=address, logging_level=logging.WARNING, **init_kw)


def ray_rows(detector, batch_size: int = 16, device: str | None = None, actors: int | None = None,
             ) -> Callable[[list[str]], Iterator[list[dict]]]:  # fmt: skip
    """The engine :func:`fakescope.scanning.scan` takes as ``rows_iter``: paths -> batches of rows,
    computed on the connected Ray cluster (see :func:`connect`)."""
    _require_ray()

    def run(paths: list[str]) -> Iterator[list[dict]]:
        import ray
        import ray.data

        if not paths:
            return
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        names = [path_fields(p) for p in paths]
        # Blocks of a few decode batches each (at most 2000 blocks): enough to spread over the cluster.
        step = max(4 * DECODE_BATCH, -(-len(names) // 2000))
        ds = ray.data.from_arrow([_table({"path": [n[0] for n in names[i : i + step]],
                                          "path_bytes": [n[1] for n in names[i : i + step]]})
                                  for i in range(0, len(names), step)])  # fmt: skip
        resources = ray.cluster_resources()
        if device is not None and str(device).startswith("cuda"):
            gpus = int(resources.get("GPU", 0))
            if gpus < 1:
                raise UsageError("--device cuda on Ray: the cluster has no GPU")
            ds = ds.map_batches(probe_batch, batch_size=DECODE_BATCH, batch_format="pyarrow")
            scored = ds.map_batches(DeviceActor, fn_constructor_args=(detector, "cuda"), batch_size=max(batch_size, 64),
                                    batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=actors or gpus),
                                    num_gpus=1)  # fmt: skip
        else:
            plan = DecodePlan.for_detector(detector)
            ds = ds.map_batches(decode_batch, fn_kwargs={"plan": plan}, batch_size=DECODE_BATCH,
                                batch_format="pyarrow", memory=DECODE_MEMORY)  # fmt: skip
            # Half the CPUs decode, half score: decoding a camera photo costs about what scoring it does.
            n = actors or max(1, int(resources.get("CPU", 2)) // 2)
            scored = ds.map_batches(Scorer, fn_constructor_args=(detector,), batch_size=batch_size,
                                    batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=n),
                                    num_cpus=1)  # fmt: skip
        for batch in scored.iter_batches(batch_size=None, batch_format="pyarrow"):
            yield [json.loads(r) for r in batch.column("row").to_pylist()]

    return run
