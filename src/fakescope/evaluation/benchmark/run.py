"""Running the benchmark: every protocol for the chosen detectors, merging parts, re-rendering."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np

from ...data.manifest import Manifest
from ...registry import list_detectors
from ..protocols import MODERN, Predictions, cross_validate, shortcut_cv, summarize
from ..report import fmt
from .choose import backfill_calibration, own_pairs, select
from .plan import PROTOCOLS, asked, available, device_name, folds_cap, machine, plan, recipes
from .render import write_page
from .throughput import measure_throughput


def rerender(out: Path) -> None:
    """Rewrite the Markdown (and the plot) from the results saved beside it."""
    results = json.loads(out.with_suffix(".json").read_text())
    manifest = Manifest.read(Path(results["manifest"]))
    backfill_calibration(results, manifest.sample(240, seed=0, stratify="source") if results["quick"] else manifest)
    write_page(results, out)


def refresh_throughput(manifest_path: Path, out: Path, throughput_images: int = 1000, log=print) -> dict:
    """Re-measure only the scan throughput (e.g. after shipping a new default) and re-render."""
    results = json.loads(out.with_suffix(".json").read_text())
    new = measure_throughput(Manifest.read(manifest_path), throughput_images, log)
    if new:
        kept = [t for t in results.get("throughput") or [] if t["images"] != new["images"] and t["detector"] == new["detector"]]
        results["throughput"] = sorted([*kept, new], key=lambda t: t["images"])
    write_page(results, out)
    return results


def aligned_setup(quick: bool, autoencoders: tuple[str, ...] | None = None, all_reals: bool = False):
    """The aligned training data: a few hundred pairs at 256 px (fewer for ``--quick``), or a pair of every real
    image large enough (``all_reals``); ``autoencoders`` replaces the default list."""
    from ..aligned_only import PAIRS_AUTOENCODERS, AlignedSetup

    setup = AlignedSetup(n_reals=None, autoencoders=PAIRS_AUTOENCODERS) if all_reals else (
        AlignedSetup(n_reals=24 if quick else 240))
    return dataclasses.replace(setup, autoencoders=tuple(autoencoders)) if autoencoders else setup


def _pairs(manifest: Manifest, quick: bool, autoencoders, autoencoder_weights: Path | None, log) -> tuple:
    """The aligned pairs added to every fold's training under ``pairs=True`` protocols, and their setup."""
    from ... import weights
    from ..aligned_only import build_training_set, describe

    setup = aligned_setup(quick, autoencoders, all_reals=True)
    train, _ = build_training_set(manifest, weights.home() / "benchmark-synth", setup, autoencoder_weights, log)
    return train, describe(train, setup)


def predict(name: str, key: str, manifest: Manifest, recipe: str, max_folds: int | None, config: dict,
            autoencoder_weights: Path | None, quick: bool, log=print, autoencoders=None) -> Predictions:  # fmt: skip
    """One detector's predictions under one protocol."""
    kw = dict(PROTOCOLS[key])
    if kw.pop("aligned", False):
        from ... import weights
        from ..aligned_only import aligned_only

        return aligned_only(name, manifest, weights.home() / "benchmark-synth", aligned_setup(quick, autoencoders),
                            taef2=autoencoder_weights, log=log, sources=recipe, **kw, **config)  # fmt: skip
    if kw.pop("pairs", False):
        extra, setup = _pairs(manifest, quick, autoencoders, autoencoder_weights, log)
        pred = cross_validate(name, manifest, log=log, sources=recipe, max_folds=folds_cap(key, max_folds),
                              extra_train=extra, **kw, **config)  # fmt: skip
        pred.extra["setup"] = setup
        return pred
    return cross_validate(name, manifest, log=log, sources=recipe, max_folds=folds_cap(key, max_folds), **kw,
                          **config)  # fmt: skip


def audit(key: str, manifest: Manifest, recipe: str, max_folds: int | None, autoencoder_weights: Path | None,
          quick: bool, autoencoders=None) -> Predictions:  # fmt: skip
    """The shortcut audit under one protocol (where aligned pairs are trained on: on the same pairs)."""
    kw = dict(PROTOCOLS[key])
    if kw.pop("aligned", False):
        from ... import weights
        from ..aligned_only import aligned_only_audit

        return aligned_only_audit(manifest, weights.home() / "benchmark-synth", aligned_setup(quick, autoencoders),
                                  taef2=autoencoder_weights, **kw)  # fmt: skip
    if kw.pop("pairs", False):
        extra, setup = _pairs(manifest, quick, autoencoders, autoencoder_weights, lambda m: None)
        pred = shortcut_cv(manifest, sources=recipe, max_folds=folds_cap(key, max_folds), extra_train=extra, **kw)
        pred.extra["setup"] = setup
        return pred
    return shortcut_cv(manifest, sources=recipe, max_folds=folds_cap(key, max_folds), **kw)


def run_benchmark(manifest_path: Path, detectors: str, out: Path, quick: bool = False,
                  throughput_images: int = 1000, protocols: list[str] | None = None, part: Path | None = None,
                  settings: dict[str, dict] | None = None, autoencoder_weights: Path | None = None,
                  only_recipes: list[str] | None = None, autoencoders: list[str] | None = None,
                  max_folds: int | None = None, audits_wanted: bool = True, log=print) -> dict:  # fmt: skip
    """Run the protocols for the chosen detectors.

    With ``part``, only the detectors' runs are written there (for another machine's share, e.g. the
    networks trained on a GPU), to be merged with :func:`merge_parts`; else the whole page is written.
    ``settings``: per detector, settings that replace the benchmark's own (e.g. ``calibration="loso"``);
    such runs are shown with their settings and are not candidates for the default.
    ``autoencoder_weights``: the TAEF2 folder, for the aligned-only protocols. ``only_recipes``: only
    these training recipes (default: each protocol's own). ``autoencoders``: the autoencoders whose
    counterparts the aligned protocols train on (default: TAEF2 and our own four). ``max_folds``: the groups
    of the group-held-out protocols merged into at most this many folds (fewer models to train, every image
    still scored by a model that never saw its group; the protocol's name says how many folds). ``audits_wanted``:
    False skips the shortcut audits of a part run (the page keeps those it has). With ``part``, the file is
    rewritten after every run, so an interrupted run keeps what it finished.
    """
    t_start = time.time()
    manifest = Manifest.read(manifest_path)
    names = list_detectors() if detectors == "all" else [d.strip() for d in detectors.split(",")]
    skipped = [n for n in names if not available(n)]
    names = [n for n in names if available(n)]
    config: dict = {}
    if quick:
        manifest = manifest.sample(240, seed=0, stratify="source")
        config = {"n_aug": 0, "calib_folds": 3}
        max_folds = max_folds or 3
    fewer_folds = bool(max_folds) and not quick  # fewer folds than the protocols' own, asked for by name
    device = device_name()
    cuda = device.startswith("cuda")

    command = (f"fakescope benchmark --detectors {detectors}" + (" --quick" if quick else "")
               + (f" --protocols {','.join(protocols)}" if protocols else "")
               + (f" --recipes {','.join(only_recipes)}" if only_recipes else "")
               + (f" --autoencoders {','.join(autoencoders)}" if autoencoders else "")
               + (f" --max-folds {max_folds}" if fewer_folds else "")
               + "".join(f" --set {k}={v}" for k, v in next(iter((settings or {}).values()), {}).items()))  # fmt: skip

    def meta_of() -> dict:
        return {
            "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "manifest": str(manifest_path), "n_images": len(manifest), "quick": quick,
            "command": command, "machine": machine(device),
            "seconds": round(time.time() - t_start),
        }  # fmt: skip

    # A part run for named protocols brings their audits along, unless told not to or its folds are fewer
    # than the protocols' own: the page's audits stay those of its full folds.
    audits = {}
    if part is None or (protocols and audits_wanted and not fewer_folds):
        for key in asked(protocols):
            for recipe in recipes(key):
                pred = audit(key, manifest, recipe, max_folds, autoencoder_weights, quick, autoencoders)
                a = audits[key if recipe == "paired" else f"{key}-all"] = summarize(pred)
                log(f"shortcut audit [{recipe}] {a['protocol']}: AUC {fmt(a['overall'].get('auc'))}")
    runs = []
    for name in names:
        for key, recipe, cfg, size in plan(name, protocols, cuda):
            if only_recipes and recipe not in only_recipes:
                continue
            given = (settings or {}).get(name, {})
            merged = {**config, **cfg, **given}
            if quick and "head_params" in cfg:
                merged["calib_folds"] = max(2, merged.get("calib_folds", 3))
            pred = predict(name, key, manifest, recipe, max_folds, merged, autoencoder_weights, quick, log,
                           autoencoders)  # fmt: skip
            s = summarize(pred)
            if PROTOCOLS[key].get("pairs"):  # the modern slice of the same folds, for the default's tie-break
                s["modern"] = summarize(pred.restrict(np.array([MODERN.keep(x) for x in pred.manifest])))["overall"]
            runs.append({"detector": name, "recipe": recipe, "protocol_key": key, "summary": s, "settings": size,
                         "set": given, "device": device, "seconds": round(pred.seconds, 1),
                         "p": [None if np.isnan(v) else round(float(v), 5) for v in pred.p]}
                        | ({"max_folds": max_folds} if fewer_folds and "by" in PROTOCOLS[key] else {}))  # fmt: skip
            log(f"{name} [{recipe}] {s['protocol']}: AUC {fmt(s['overall'].get('auc'))} ({pred.seconds:.0f}s, "
                f"{size}, {device})")  # fmt: skip
            if part is not None:
                write_part(part, {**meta_of(), "runs": runs, "audits": audits, "skipped_detectors": skipped})
    meta = meta_of()
    if part is not None:
        write_part(part, {**meta, "runs": runs, "audits": audits, "skipped_detectors": skipped})
        return {**meta, "runs": runs, "audits": audits}
    measured = measure_throughput(manifest, throughput_images, log) if throughput_images else None
    results = {**meta, "skipped_detectors": skipped, "audits": audits, "runs": runs,
               "throughput": [measured] if measured else [], "parts": []}  # fmt: skip
    previous = out.with_suffix(".json")
    if previous.is_file():  # the localization table has its own command; keep it
        kept = json.loads(previous.read_text()).get("localization")
        if kept:
            results["localization"] = kept
    select(results, manifest)
    write_page(results, out)
    return results


def write_part(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(content, default=str))
    tmp.replace(path)


def run_key(run: dict) -> tuple:
    """What makes a run: detector, recipe, protocol, the settings given to it and the autoencoders of the
    aligned pairs it trained on (if any)."""
    aes = (run["summary"].get("setup") or {}).get("autoencoders")
    return (run["detector"], run["recipe"], run["protocol_key"], json.dumps(run.get("set") or {}, sort_keys=True),
            ",".join(aes or []))  # fmt: skip


def merge_parts(out: Path, parts: list[Path], log=print) -> dict:
    """Add the runs of ``parts`` (from ``--part``) to the results beside ``out``, replacing runs of the
    same detector, recipe and protocol, and the audits of their protocols (not those of an ablation's pairs,
    made with other autoencoders than the protocol's own); then choose the default again and re-render."""
    results = json.loads(out.with_suffix(".json").read_text())
    for path in parts:
        part = json.loads(Path(path).read_text())
        if part["n_images"] != results["n_images"] or part["quick"] != results["quick"]:
            raise ValueError(f"{path}: made on {part['n_images']} images (quick={part['quick']}), the page on "
                             f"{results['n_images']} (quick={results['quick']}); they cannot be merged")  # fmt: skip
        new = {run_key(r) for r in part["runs"]}
        results["runs"] = [r for r in results["runs"] if run_key(r) not in new]
        results["runs"] += part["runs"]
        results.setdefault("audits", {}).update({k: a for k, a in (part.get("audits") or {}).items()
                                                 if own_pairs({"summary": a, "protocol_key": k})})  # not an ablation's
        results["skipped_detectors"] = sorted(set(results.get("skipped_detectors", []))
                                              - {r["detector"] for r in part["runs"]})  # fmt: skip
        results.setdefault("parts", []).append({k: part[k] for k in ("generated", "machine", "seconds")}
                                               | {"detectors": sorted({r["detector"] for r in part["runs"]})})  # fmt: skip
        log(f"merged {len(part['runs'])} runs from {path}")
    manifest = Manifest.read(Path(results["manifest"]))
    if results["quick"]:
        manifest = manifest.sample(240, seed=0, stratify="source")
    select(results, manifest)
    write_page(results, out)
    return results


def localization_benchmark(manifest_path: Path, out: Path, quick: bool = False, localizers: list[str] | None = None,
                           log=print, keep: Path | None = None) -> dict:  # fmt: skip
    """Run the localization benchmark and put its table into the page beside ``out``, row by row (an
    interrupted run resumes: rows already on the page with the same settings and revisions are kept, with
    the description of the data sets they used). ``keep``: a folder where every localizer trained for a
    new row is saved, with its row's numbers on its card."""
    from ... import weights
    from ..loc_benchmark import run_localization

    manifest = Manifest.read(manifest_path)
    path = out.with_suffix(".json")
    t0 = time.time()

    def load() -> dict:
        if path.is_file():
            return json.loads(path.read_text())
        return {"generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "manifest": str(manifest_path), "n_images": len(manifest), "quick": quick, "seconds": 0,
                "runs": [], "audits": {}, "skipped_detectors": []}  # fmt: skip

    def save(loc: dict) -> None:
        loc.update(generated=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                   seconds=round(time.time() - t0), manifest=str(manifest_path))  # fmt: skip
        results = load()
        results["localization"] = loc
        write_page(results, out)

    previous = load().get("localization") or {}
    loc = run_localization(manifest, weights.home() / "benchmark-synth", localizers or None, quick=quick, log=log,
                           done=previous.get("rows", []), done_sets=previous.get("sets"), on_row=save,
                           keep=keep)  # fmt: skip
    save(loc)
    return load()
