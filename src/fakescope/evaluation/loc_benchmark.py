"""The localization benchmark: every localizer under setups A, B and C, scored on synthetic partial edits
and, apart, on the real partial edits with masks.

Data, all derived from the benchmark manifest, deterministically:

- real images of sources without partial edits are split in two halves by content hash; fully
  generated images likewise;
- ``fakescope synth`` edits (inpainting, copy-move, splicing from any image, self-blended faces) are
  made from the first half for training and from the second half for testing;
- training: first-half reals, first-half generated images (setup A) and synthetic edits (B, C);
- test "synthetic": the synthetic test edits plus second-half reals (authentic images, whose correct
  map is empty); test "real edits": the manifest's partial images that have masks;
- aligned-local edits (a region re-made by an autoencoder, TAEF2 when ``$FAKESCOPE_TAEF2`` names its
  weights, else one of our own trained on the first-half reals; exact masks) from each half: the
  first half's join the training data of the learned localizers in :data:`ALIGNED_TRAINED` (rows
  "+aligned-local", setup C) and of the fusion; the second half's are a test set of their own;
- realistic edits (``fakescope synth --kinds realistic``: large regions, splices from a photo of
  another source, JPEG after the edit, as hand-made forgeries are) from each half likewise: the first half's
  join the aligned-local ones in the training data of rows "+realistic" (setup C); the second half's
  are a test set of their own.

Beside the learned rows: clip-tiles (a probe on frozen CLIP embeddings of tiles of the aligned-local
training set), the classical, training-free localizers (nothing to train) and the fusion
(:mod:`fakescope.localize.fusion`, fitted on synthetic edits only). Every new row also reports pixel F1
per kind of edit: on the real edits by :func:`edit_kind`, on the synthetic ones by synth kind.

Each row records the revision of every localizer its numbers come from (:func:`row_versions`: its own,
and for the fusion its members') and, where it trains forensic-similarity (alone or as the fusion's member),
that localizer's training settings (:data:`UNEDITED_SETTINGS`); a row made with an earlier revision or other
settings is stale and a run that asks for it makes it again, while a run that does not keeps it, marked as
such on the page.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ..data.manifest import Manifest, Sample
from ..io import ImageLoadError, open_image
from ..localize import create_localizer
from ..localize.base import SETUPS, load_mask
from ..metrics import localization_report

FULL = {"epochs": 8, "crops_per_image": 3, "width": 16}
REDUCED = {"epochs": 3, "crops_per_image": 2, "width": 8}
#: learned localizers that also train on aligned-local edits (setup C), and the fusion's learned members
ALIGNED_TRAINED = ("sida", "dadf", "mau-net")
#: aligned-local edits (training, test) per size: each is one autoencoder round trip of a whole image
ALIGNED_N = {"full": (300, 100), "reduced": (80, 40), "quick": (12, 6)}
#: realistic edits (training, test) per size, and the version of their recipe (:func:`.synthesis.local.realistic`)
REALISTIC_N = {"full": (400, 100), "reduced": (160, 60), "quick": (12, 6)}
REALISTIC_EDITS = "v1"
#: learned localizers that train on unedited images only (pairs of patches; no edit, no mask), and their
#: training settings per size (the fusion trains its forensic-similarity member with the same ones)
UNEDITED, UNEDITED_TRAINED = "unedited images", ("forensic-similarity",)
#: learned localizers that fit a head on frozen pretrained features of tiles of the setup C data (the
#: aligned-local training set), with no setup, epochs or width of their own
TILE_TRAINED = ("clip-tiles",)
UNEDITED_SETTINGS = {"full": {"steps": 4000, "width": 24}, "reduced": {"steps": 4000, "width": 16},
                     "quick": {"steps": 60, "width": 8}}  # fmt: skip
#: the settings rows were made with before they recorded them (``reduced`` was 2000 steps until the
#: training-half development set showed 4000 steps at width 16 flagging the edits' pixels more precisely)
EARLIER_UNEDITED = {"full": {"steps": 4000, "width": 24}, "reduced": {"steps": 2000, "width": 16}}
#: fusion settings per size (the images it fits on, the pixels it samples from each)
FUSION = {"full": {"fusion_images": 240},
          # on a CPU: fewer images, fewer pixels sampled from each
          "reduced": {"fusion_images": 100, "samples_per_image": 800}}  # fmt: skip
SYNTH, ALIGNED_TRAINING, NO_TRAINING = "synth", "synth+aligned-local", "none"
REALISTIC_TRAINING = "synth+aligned-local+realistic"
#: the training set (a key of :func:`build_sets`' result) of each kind of training, and how a row names it
TRAINING_SET = {SYNTH: "train", ALIGNED_TRAINING: "train+aligned", REALISTIC_TRAINING: "train+realistic",
                UNEDITED: "train"}
SUFFIX = {ALIGNED_TRAINING: ("+aligned", " +aligned-local"), REALISTIC_TRAINING: ("+realistic", " +realistic")}
#: kinds of the data set's real edits (see :func:`edit_kind`)
REAL_KINDS = ("copy-move", "splice", "splice or copy-move", "inpainting", "other manual")


def edit_kind(s: Sample) -> str:
    """The kind of a partial edit, from the manifest only: the synth kind for ``fakescope synth`` edits;
    for real ones, from the family and generator (inpainting families and generators are
    ``inpainting``; a generator naming only copy-move or only splicing is that; one naming both, as
    the data set's hand-made forgeries do, is ``splice or copy-move``)."""
    from ..data.synthesis.make import SYNTH_SOURCE

    g = (s.generator or "").lower()
    if s.source == SYNTH_SOURCE:
        kind = g.removeprefix("fakescope-")
        return "aligned-local" if kind.startswith("aligned-local") else kind
    if s.family == "inpainting" or "inpaint" in g:
        return "inpainting"
    copy, splice = "copy-move" in g or "copy move" in g, "splic" in g
    if copy and splice:
        return "splice or copy-move"
    return "copy-move" if copy else "splice" if splice else "other manual"


def _half(s: Sample) -> int:
    key = s.sha256 or hashlib.sha256(str(s.file).encode()).hexdigest()
    return int(key[:8], 16) % 2


def build_sets(manifest: Manifest, work: Path, n_train: int, n_test: int, n_authentic: int, log=print,
               aligned: tuple[int, int] | None = None, make_aligned: bool = True,
               realistic: tuple[int, int] | None = None, make_realistic: bool = True) -> dict:  # fmt: skip
    """The training and test sets (see the module's description). ``aligned``: (training, test) counts of
    aligned-local edits; with ``make_aligned`` False they are only read when an earlier run made them
    (each costs an autoencoder round trip), and left out otherwise. ``realistic`` and ``make_realistic``:
    the same for realistic edits."""
    import importlib.util

    from ..data.synthesis.make import ALL_KINDS, synthesize

    # self-blended faces need the face models (the `faces` extra); the other edits need OpenCV (`synth`)
    kinds = tuple(k for k in ALL_KINDS if k != "sbi" or importlib.util.find_spec("ai_edge_litert"))
    partial_sources = {s.source for s in manifest if s.label == "partial"}
    reals = [s for s in manifest if s.label == "real" and s.source not in partial_sources]
    fakes = [s for s in manifest if s.label == "fake"]
    sets = {}
    for half, n, seed in ((0, n_train, 1), (1, n_test, 2)):
        base = Manifest([s for s in reals if _half(s) == half])
        target = work / f"synth-{half}-{n}-{seed}"
        if not (target / "manifest.csv").is_file():
            log(f"localization: synthesizing {n} edits from {len(base)} real images into {target}")
            synthesize(base, target, n, kinds=kinds, donors=manifest, seed=seed, log=lambda m: None)
        sets[half] = Manifest.read(target / "manifest.csv")
    if aligned and not make_aligned:
        name = "taef2" if os.environ.get("FAKESCOPE_TAEF2") else "ae-nearest"
        made = all((work / f"aligned-local-{half}-{n}-{seed}-{name}" / "manifest.csv").is_file()
                   for half, n, seed in ((0, aligned[0], 3), (1, aligned[1], 4)))  # fmt: skip
        aligned = aligned if made else None
    if aligned:
        ae = None
        for half, n, seed in ((0, aligned[0], 3), (1, aligned[1], 4)):
            base = Manifest([s for s in reals if _half(s) == half])
            name = "taef2" if os.environ.get("FAKESCOPE_TAEF2") else "ae-nearest"
            target = work / f"aligned-local-{half}-{n}-{seed}-{name}"
            if not (target / "manifest.csv").is_file():
                if ae is None:
                    ae = benchmark_autoencoder(Manifest([s for s in reals if _half(s) == 0]), log)
                log(f"localization: {n} aligned-local edits ({ae.name}) from {len(base)} real images into {target}")
                synthesize(base, target, n, kinds=("aligned-local",), seed=seed, autoencoder=ae, log=lambda m: None)
            sets[f"aligned-{half}"] = Manifest.read(target / "manifest.csv")
    rng = np.random.default_rng(0)
    test_reals = [s for s in reals if _half(s) == 1]
    test_reals = [test_reals[i] for i in sorted(rng.choice(len(test_reals), min(n_authentic, len(test_reals)),
                                                           replace=False))]  # fmt: skip
    train = [*[s for s in reals if _half(s) == 0], *[s for s in fakes if _half(s) == 0], *sets[0].samples]
    out = {
        "train": Manifest(train),
        "synthetic": Manifest([*sets[1].samples, *test_reals]),
        "real edits": Manifest([s for s in manifest if s.label == "partial" and s.mask]),
    }
    if aligned:
        out["train+aligned"] = Manifest([*train, *sets["aligned-0"].samples])
        out["aligned-local"] = sets["aligned-1"]
    made = _realistic_sets(reals, work, realistic, make_realistic, log)
    if made:
        out["realistic"] = made[1]
        if "train+aligned" in out:  # rows "+realistic" train on both
            out["train+realistic"] = Manifest([*out["train+aligned"].samples, *made[0].samples])
    return out


def _realistic_sets(reals: list[Sample], work: Path, counts: tuple[int, int] | None, make: bool, log=print):
    """(training, test) realistic edits of the first and second half's real images (donors: the same half's
    real images of other sources), made unless ``make`` is False; None when there are none to use."""
    from ..data.synthesis.make import REALISTIC, synthesize

    if not counts:
        return None
    # the version of the edits (:data:`REALISTIC_EDITS`) names their folder: a changed recipe is made anew
    targets = [work / f"realistic-{REALISTIC_EDITS}-{half}-{n}-{seed}"
               for half, n, seed in ((0, counts[0], 5), (1, counts[1], 6))]  # fmt: skip
    if not make and not all((t / "manifest.csv").is_file() for t in targets):
        return None
    out = []
    for half, n, target in zip((0, 1), counts, targets):
        if not (target / "manifest.csv").is_file():
            base = Manifest([s for s in reals if _half(s) == half])
            log(f"localization: {n} realistic edits from {len(base)} real images into {target}")
            synthesize(base, target, n, kinds=(REALISTIC,), seed=5 + half, log=lambda m: None)
        out.append(Manifest.read(target / "manifest.csv"))
    return out


def benchmark_autoencoder(reals: Manifest, log=print):
    """TAEF2 when ``$FAKESCOPE_TAEF2`` names its weights; else our own ``ae-nearest``, trained on ``reals``."""
    import torch

    from ..data.synthesis.autoencoders import autoencoder_from_spec
    from ..io import load_image
    from ..train.loop import device

    if os.environ.get("FAKESCOPE_TAEF2"):
        return autoencoder_from_spec("taef2").to(device()).eval()
    log("localization: training our own autoencoder (ae-nearest) on the first-half real images")
    torch.manual_seed(0)
    return autoencoder_from_spec("ae-nearest", reals=[load_image(s.file) for s in reals]).to(device()).eval()


def scored_items(test: Manifest):
    """(image, mask, kind of edit) of each readable test image: authentic ones get an empty mask and no kind."""
    for s in test:
        try:
            img, _ = open_image(s.file)
        except ImageLoadError:
            continue
        mask = load_mask(s, img.size) if s.label == "partial" else None
        mask = mask if mask is not None else np.zeros((img.size[1], img.size[0]), np.float32)
        yield img, mask, edit_kind(s) if s.label == "partial" else None


def baselines(test: Manifest) -> dict:
    """Trivial maps on the same images: flag everything, flag nothing. A localizer must beat both."""
    masks = [mask for _, mask, _ in scored_items(test)]
    return {"flag everything": localization_report([np.ones_like(m) for m in masks], masks),
            "flag nothing": localization_report([np.zeros_like(m) for m in masks], masks)}  # fmt: skip


def evaluate_localizer(loc, test: Manifest, by_kind: bool = False) -> dict:
    """The localization report of ``loc`` on ``test``; with ``by_kind``, also one per kind of edit
    (:func:`edit_kind`; authentic images join every kind's report, so each has its FP area and image AUC)."""
    maps, masks, kinds, seconds = [], [], [], time.time()
    for img, mask, kind in scored_items(test):
        masks.append(mask)
        kinds.append(kind)
        maps.append(loc.localize(img)["map"])
    report = localization_report(maps, masks)
    report["seconds"] = round(time.time() - seconds, 1)
    if by_kind:
        report["by_kind"] = kind_reports(maps, masks, kinds)
    return report


def kind_reports(maps, masks, kinds) -> dict:
    """Per kind of edit: the report over that kind's edited images plus every authentic one (kind None)."""
    out = {}
    for kind in sorted({k for k in kinds if k is not None}):
        pick = [i for i, k in enumerate(kinds) if k in (kind, None)]
        r = localization_report([maps[i] for i in pick], [masks[i] for i in pick])
        out[kind] = {"n": r["n_manipulated"], "f1": r["per_image"]["f1_manipulated"],
                     "iou": r["per_image"]["iou_manipulated"], "auc": r["per_image"]["auc"],
                     "image_auc": r["image_level"].get("auc")}  # fmt: skip
    return out


def row_specs(localizers: list[str] | None, setups: str) -> list[tuple[str, str, str]]:
    """(localizer, setup, training edits) of every row: each learned localizer under each setup on the
    synth kinds; those of :data:`ALIGNED_TRAINED` also under C with aligned-local edits (asked for as
    ``<name>+aligned``); the classical localizers (no training); the fusion. ``localizers`` filters."""
    from ..registry import list_localizers as registered

    known = registered(training_free=False)
    learned = [n for n in known if n != "fusion-map" and n not in UNEDITED_TRAINED + TILE_TRAINED]
    specs = [(n, setup, SYNTH) for n in learned for setup in setups]
    specs += [(n, "C", ALIGNED_TRAINING) for n in ALIGNED_TRAINED if n in learned]
    specs += [(n, "C", REALISTIC_TRAINING) for n in ALIGNED_TRAINED if n in learned]
    specs += [(n, "–", UNEDITED) for n in UNEDITED_TRAINED if n in known]
    specs += [(n, "C", ALIGNED_TRAINING) for n in TILE_TRAINED if n in known]
    specs += [(n, "–", NO_TRAINING) for n in registered(training_free=True)]
    specs += [("fusion-map", "C", ALIGNED_TRAINING), ("fusion-map", "C", REALISTIC_TRAINING)]
    if localizers:
        wanted = set(localizers)
        specs = [sp for sp in specs if _asked_as({"localizer": sp[0], "training": sp[2]}) in wanted]
    return specs


def row_versions(name: str, size: str = "reduced") -> dict[str, int]:
    """The revision (:attr:`fakescope.registry.Entry.version`) of every localizer a row of ``name`` takes
    its numbers from: its own and, for the fusion, its members' under the benchmark's settings ``size``.
    Names no longer registered are left out."""
    from ..registry import entry, list_localizers

    names = [name]
    if name == "fusion-map":
        from ..localize.fusion import FusionConfig, _names

        cfg = FusionConfig.from_kwargs(**FUSION.get(size, {}))
        names += [*_names(cfg.learned), *_names(cfg.unedited), *_names(cfg.tiles), *_names(cfg.classical)]
    known = set(list_localizers())
    return {n: entry(n, kind="localizer").version for n in names if n in known}


def trains_unedited(versions: dict[str, int]) -> bool:
    """Whether a row with these revisions (:func:`row_versions`) trains forensic-similarity: itself, or as
    the fusion's member."""
    return any(n in versions for n in UNEDITED_TRAINED)


def is_current(row: dict, versions: dict[str, int], unedited: dict | None = None) -> bool:
    """Whether ``row`` was measured with these revisions (a row that records none was made at revision 1)
    and, where it trains forensic-similarity, with the training settings ``unedited`` (a row that records
    none was made with :data:`EARLIER_UNEDITED`)."""
    got = row.get("versions") or {}
    if not all(got.get(n, 1) == v for n, v in versions.items()):
        return False
    if unedited is None or not trains_unedited(versions):
        return True
    return row.get("unedited", EARLIER_UNEDITED.get(row.get("settings"))) == unedited


def _spec(r: dict) -> tuple[str, str, str]:
    return r["localizer"], r["setup"], r.get("training", SYNTH)


def plan_rows(specs: list[tuple[str, str, str]], done: list[dict], size: str,
              unedited: dict | None = None) -> tuple[list[dict], list]:  # fmt: skip
    """(rows kept, rows to run): a row of ``done`` made with the settings ``size`` is kept unless it is
    asked for (in ``specs``) and stale (:func:`is_current`; ``unedited``: forensic-similarity's training
    settings, by default those of ``size``); every asked row not kept is run."""
    unedited = UNEDITED_SETTINGS[size] if unedited is None else unedited
    rows = [r for r in done if r.get("settings") == size]
    current = {_spec(r) for r in rows if is_current(r, row_versions(r["localizer"], size), unedited)}
    todo = [sp for sp in specs if sp not in current]
    redo = set(todo)
    return [r for r in rows if _spec(r) not in redo], todo


def sets_needed(rows: list[dict]) -> set[str]:
    """The data sets the numbers of ``rows`` come from (keys of :func:`build_sets`' result)."""
    need = {"train", "synthetic", "real edits"}
    trainings = {r.get("training") for r in rows}
    need |= {TRAINING_SET[t] for t in trainings if t in TRAINING_SET}
    if REALISTIC_TRAINING in trainings:  # its description counts the edits it adds to the aligned-local set
        need.add("train+aligned")
    for key in ("aligned-local", "realistic"):
        if any(key in r for r in rows):
            need.add(key)
    return need


def kept_set_descriptions(done_sets: dict | None, built: dict, rows: list[dict]) -> dict:
    """The earlier description of each data set that a kept row's numbers come from and this run did not
    build (e.g. the aligned-local sets, made only when a row to run trains on them)."""
    need = sets_needed(rows)
    return {k: v for k, v in (done_sets or {}).items() if k not in built and k in need}


def run_localization(manifest: Manifest, work: Path, localizers: list[str] | None = None,
                     setups: str = "ABC", quick: bool = False, log=print, done: list[dict] | None = None,
                     on_row=None, done_sets: dict | None = None, keep: Path | None = None) -> dict:  # fmt: skip
    """Train and score every localizer under every setup. Rows in ``done`` made with the same settings and
    the current revisions are kept, not redone (the benchmark resumes; :func:`plan_rows`), and so is the
    description in ``done_sets`` of the data sets the kept rows used when this run does not build them;
    ``on_row`` gets the results after each new row. With ``keep``, every localizer trained for a new row is
    saved in ``keep/``:func:`kept_name`, its card carrying the row's numbers (:func:`row_metrics`): the very
    model the table measured, ready to ship."""
    from ..train.loop import device

    dev = str(device())
    cuda = dev.startswith("cuda")
    size = "full" if cuda and not quick else "reduced"
    config = FULL if size == "full" else REDUCED
    n_train, n_test, n_auth = (60, 20, 20) if quick else (400, 150, 100)
    unedited = UNEDITED_SETTINGS["quick" if quick else size]
    rows, todo = plan_rows(row_specs(localizers, setups), done or [], size, unedited)
    # a stale row that is being redone stays on the page (marked stale) until its new row replaces it
    redo = set(todo)
    stale = [r for r in done or [] if r.get("settings") == size and _spec(r) in redo]
    # aligned-local edits cost an autoencoder round trip each: made only when a row to run trains on them,
    # read when an earlier run made them (every new row is then scored on their test half too)
    sets = build_sets(manifest, work, n_train, n_test, n_auth, log, aligned=ALIGNED_N["quick" if quick else size],
                      make_aligned=any(t in (ALIGNED_TRAINING, REALISTIC_TRAINING) for *_, t in todo),
                      realistic=REALISTIC_N["quick" if quick else size],
                      make_realistic=any(t == REALISTIC_TRAINING for *_, t in todo))  # fmt: skip
    kept_sets = kept_set_descriptions(done_sets, sets, [*rows, *stale])
    if quick:
        quick_subsets(sets)
    # the baselines need only the masks: on the page from the first row on, also when a run is cut short
    extra = {"baselines": {key: baselines(sets[key]) for key in ("synthetic", "real edits", "realistic")
                           if key in sets},  # fmt: skip
             "baselines_by_kind": {key: baseline_kinds(sets[key]) for key in ("synthetic", "real edits")}}

    def result() -> dict:
        made = {_spec(r) for r in rows}
        return {**_result([*rows, *(r for r in stale if _spec(r) not in made)], sets, config, size, setups,
                          kept_sets, unedited), **extra}  # fmt: skip

    for name, setup, training in todo:
        t0 = time.time()
        train = sets[TRAINING_SET.get(training, "train")]
        if training == NO_TRAINING:
            loc = create_localizer(name)
            loc.cache_dir = work / "maps"
            trained_on = {"note": "training-free"}
        elif training == UNEDITED:
            loc = create_localizer(name, **unedited).fit(train, log=log)
            trained_on = loc.trained_on_
        elif name in TILE_TRAINED:
            loc = create_localizer(name).fit(train, log=log)
            trained_on = loc.trained_on_
        elif name == "fusion-map":
            loc = create_localizer(name, **config, **FUSION[size], similarity_steps=unedited["steps"],
                                   similarity_width=unedited["width"])  # fmt: skip
            loc.cache_dir = work / "maps"
            loc.fit(train, log=log)
            trained_on = loc.trained_on_
        else:
            loc = create_localizer(name, setup=setup, **config).fit(train)
            trained_on = loc.trained_on_
        row = {"localizer": name, "setup": setup, "training": training, "settings": size, "device": dev,
               "versions": row_versions(name, size), "train_seconds": round(time.time() - t0, 1),
               "trained_on": trained_on}  # fmt: skip
        if trains_unedited(row["versions"]):
            row["unedited"] = dict(unedited)
        for key in ("synthetic", "real edits", "aligned-local", "realistic"):
            if key in sets:
                row[key] = evaluate_localizer(loc, sets[key], by_kind=True)
        rows.append(row)
        if keep is not None and training != NO_TRAINING:
            loc.metrics_ = row_metrics(row, extra["baselines"])
            loc.save(Path(keep) / kept_name(row))
            log(f"localization: kept {row_label(row)} ({setup}) in {Path(keep) / kept_name(row)}")
        if on_row:
            on_row(result())
        r = row["real edits"]["per_image"]
        log(f"localization {name} setup {setup} ({training}): real edits pixel F1 {r['f1_manipulated']:.3f}, "
            f"IoU {r['iou_manipulated']:.3f}; synthetic F1 {row['synthetic']['per_image']['f1_manipulated']:.3f}, "
            f"FP area {row['synthetic']['per_image']['false_positive_area_authentic']:.3f}")
    return result()


def kept_name(row: dict) -> str:
    """The folder a row's trained localizer is kept in: ``NAME-SETUP`` for the rows of the three setups, else
    the name that asks for the row (``sida+realistic``, ``fusion-map``, ...)."""
    return f"{row['localizer']}-{row['setup']}" if row.get("training", SYNTH) == SYNTH else _asked_as(row)


def row_metrics(row: dict, baselines: dict) -> dict:
    """What a localizer's card says of its benchmark row: the real-edit and synthetic per-image metrics, the
    false-positive area on authentic images, *flag everything* on the same real edits, and the bar."""
    real, synthetic = row["real edits"], row["synthetic"]
    flag = baselines["real edits"]["flag everything"]["per_image"]["f1_manipulated"]
    return {
        "real_partial_edits": {"n": real["n"], "per_image": real["per_image"], "pooled": real["pooled"],
                               "by_kind": real.get("by_kind", {}),
                               "source": "the data set's partial edits with masks (never trained on), map at 0.5"},
        "synthetic_test": {"n": synthetic["n"], "per_image": synthetic["per_image"],
                           "image_auc": synthetic["image_level"].get("auc")},
        "authentic_false_positive_area": synthetic["per_image"]["false_positive_area_authentic"],
        "baseline_flag_everything_f1": flag,
        "bar": {"f1_at_least": flag + BAR_F1_MARGIN, "fp_area_at_most": BAR_FP_AREA,
                "met": meets_bar(row, baselines["real edits"]["flag everything"])},
        "benchmark": {"settings": row["settings"], "device": row["device"], "versions": row["versions"],
                      "row": row_label(row)},
    }  # fmt: skip


def quick_subsets(sets: dict) -> None:
    """A quick run's smaller sets, in place: 120 training images (stratified by label), the edits that only
    the aligned-local and realistic training sets add kept whole, 12 real edits."""
    sets["train"] = sets["train"].sample(120, seed=0, stratify="label")
    for key, kinds in (("train+aligned", ("fakescope-aligned",)),
                       ("train+realistic", ("fakescope-aligned", "fakescope-realistic"))):  # fmt: skip
        if key in sets:
            sets[key] = Manifest([*sets["train"].samples, *[x for x in sets[key] if x.generator.startswith(kinds)]])
    sets["real edits"] = sets["real edits"].sample(12, seed=0)


def baseline_kinds(test: Manifest) -> dict:
    """Flag everything, per kind of edit."""
    items = [(mask, kind) for _, mask, kind in scored_items(test)]
    masks, kinds = [m for m, _ in items], [k for _, k in items]
    return kind_reports([np.ones_like(m) for m in masks], masks, kinds)


def _result(rows, sets, config, size, setups, kept_sets=None, unedited=None) -> dict:
    """The benchmark's results: ``kept_sets`` describes data sets of kept rows that this run did not build;
    ``unedited``: forensic-similarity's training settings in this run."""
    return {
        "rows": list(rows),
        "sets": {**(kept_sets or {}),
                 **{k: {"n": len(v), "labels": dict(v.counts("label")),
                        "kinds": dict(Counter(edit_kind(s) for s in v if s.label == "partial"))}
                    for k, v in sets.items()}},
        "config": config,
        "settings": size,
        **({"unedited": dict(unedited)} if unedited else {}),
        "setups": {k: SETUPS[k] for k in setups},
    }


#: what a default localizer must do on the table: real-edit F1 this far above "flag everything" ...
BAR_F1_MARGIN = 0.10
#: ... while flagging at most this share of authentic images
BAR_FP_AREA = 0.10


def row_label(r: dict) -> str:
    training = r.get("training", SYNTH)
    if training == NO_TRAINING:
        return f"{r['localizer']} (classical)"
    if training == UNEDITED:
        return f"{r['localizer']} (unedited images)"
    if training == ALIGNED_TRAINING and r["localizer"] == "fusion-map":
        return r["localizer"]
    return r["localizer"] + SUFFIX.get(training, ("", ""))[1]


def _current_here(row: dict, size: str, unedited: dict | None = None) -> bool:
    """Whether a row was measured with the revisions of the code that renders it (unknown when the
    localizer's family cannot be loaded here: counted as current) and with forensic-similarity's training
    settings ``unedited`` (by default those of ``size``: a quick run records its own)."""
    try:
        return is_current(row, row_versions(row["localizer"], size), unedited or UNEDITED_SETTINGS.get(size))
    except (KeyError, ImportError):
        return True


def _asked_as(r: dict) -> str:
    """The name that asks for this row with ``--localizers`` (the fusion's aligned-local row is plain
    ``fusion-map``: it is the fusion's standard training, as it is clip-tiles' only one)."""
    if r["localizer"] in ("fusion-map", *TILE_TRAINED) and r.get("training") == ALIGNED_TRAINING:
        return r["localizer"]
    return r["localizer"] + SUFFIX.get(r.get("training"), ("", ""))[0]


def meets_bar(row: dict, baseline: dict) -> bool:
    """Real-edit F1 at least :data:`BAR_F1_MARGIN` above flag-everything, FP area at most :data:`BAR_FP_AREA`."""
    f1 = row["real edits"]["per_image"]["f1_manipulated"]
    fp = row["synthetic"]["per_image"]["false_positive_area_authentic"]
    return f1 >= baseline["per_image"]["f1_manipulated"] + BAR_F1_MARGIN and fp <= BAR_FP_AREA


def best_row(loc: dict) -> tuple[dict | None, bool]:
    """The row that meets the bar with the best real-edit F1; else the one closest to it (the smallest
    shortfall, counting both the F1 gap and the FP area over the limit); and whether it meets it. Stale
    rows (measured with an earlier revision) do not compete."""
    base = (loc.get("baselines") or {}).get("real edits", {}).get("flag everything")
    rows = [r for r in loc.get("rows") or [] if _current_here(r, loc.get("settings", "reduced"), loc.get("unedited"))]
    if not base or not rows:
        return None, False

    def shortfall(r):
        f1 = r["real edits"]["per_image"]["f1_manipulated"]
        fp = r["synthetic"]["per_image"]["false_positive_area_authentic"]
        return max(0.0, base["per_image"]["f1_manipulated"] + BAR_F1_MARGIN - f1) + max(0.0, fp - BAR_FP_AREA)

    ok = [r for r in rows if meets_bar(r, base)]
    if ok:
        return max(ok, key=lambda r: r["real edits"]["per_image"]["f1_manipulated"]), True
    return min(rows, key=shortfall), False


def _unedited_settings(loc: dict) -> str:
    """How the rows' forensic-similarity models were trained (steps, width), where rows record it."""
    made = Counter(tuple(r["unedited"].items()) for r in loc.get("rows") or [] if r.get("unedited"))
    if not made:
        return ""
    return "; forensic-similarity " + " / ".join(
        ", ".join(f"{k} {v}" for k, v in s) + (f" ({n} rows)" if len(made) > 1 else "") for s, n in made.items())


def _fused(loc: dict) -> str:
    """The maps the fusion row fuses and how, as its training record names them."""
    row = next((r for r in loc.get("rows") or [] if r["localizer"] == "fusion-map"
                and r.get("training", ALIGNED_TRAINING) == ALIGNED_TRAINING), None)  # fmt: skip
    trained = (row or {}).get("trained_on", {})
    members = trained.get("members")
    maps = "the maps of " + ", ".join(members) if members else "the +aligned-local learned maps and classical ones"
    how = ("a small per-pixel network (one hidden layer)" if trained.get("model") == "mlp"
           else "a per-pixel logistic regression")  # fmt: skip
    return f"{maps} with {how}"


def _realistic_rows(sets: dict) -> str:
    """The sentence on the rows that train on realistic edits, when the data sets of some row include them."""
    if "train+realistic" not in sets:
        return ""
    extra = sets["train+realistic"]["n"] - sets.get("train+aligned", sets["train"])["n"]
    test = sets.get("realistic", {}).get("n")
    return (f" Rows *+realistic* (setup C) train on those and on {extra} realistic edits too (`fakescope synth "
            "--kinds realistic`): regions of 3% to 85% of the image, content spliced from a photo of another "
            "source (another camera or collection; JPEG-encoded at its own quality), moved within the image or "
            "inpainted, colour-matched, and the result JPEG-encoded two times in three, as hand-made forgeries are"
            + (f"; {test} more, from the test half, are a test set of their own." if test else "."))


def render_localization(loc: dict) -> list[str]:
    from .report import fmt

    if not loc or not loc.get("rows"):
        return []
    sets = loc["sets"]
    lines = [
        "## Localization of partial manipulations",
        "",
        "Every learned localizer trained under the three supervision setups of DOLOS: "
        + "; ".join(f"**{k}** {v}" for k, v in loc["setups"].items())
        + f". Training set: {sets['train']['n']} images ({', '.join(f'{k} {v}' for k, v in sets['train']['labels'].items())}; "
        "the partial ones are `fakescope synth` edits of real images). Rows *+aligned-local* (setup C) also train "
        f"on {sets.get('train+aligned', sets['train'])['n'] - sets['train']['n']} aligned-local edits: a region of a "
        "real image re-made by an autoencoder (TAEF2, or our own when its weights are not given) and blended back "
        f"with its exact mask.{_realistic_rows(sets)} *(classical)* rows are training-free forensic traces; "
        + ("*(unedited images)* rows learn from the training set's unedited images alone (real and fully generated: "
           "whether two patches come from one picture), never from an edit or a mask; "
           if any(r.get("training") == UNEDITED for r in loc["rows"]) else "")
        + f"*fusion-map* fuses {_fused(loc)} fitted on synthetic edits only"
        + (" (*fusion-map +realistic*: its learned members train, and the fusion is fitted, with the realistic "
           "edits too)" if any(_asked_as(r) == "fusion-map+realistic" for r in loc["rows"]) else "")
        + ". Maps thresholded at 0.5.",
        "",
        f"- *synthetic*: {sets['synthetic']['n']} images, synthetic edits of real images none of the training "
        "edits came from, plus authentic real images (their correct map is empty).",
        f"- *real edits*: the {sets['real edits']['n']} partially manipulated images of the data set that have "
        "masks (inpainting, splicing, copy-move from CASIA, Coverage, IMD2020, Columbia, Inpaint-Anything, ...); "
        "never used for training or for choosing a threshold.",
        f"- Settings: {loc['settings']} ({', '.join(f'{k} {v}' for k, v in loc['config'].items())})"
        + _unedited_settings(loc) + ".",
        "",
        "Pixel F1 / IoU / AUC are per manipulated image, averaged; *pooled F1* counts all pixels of all "
        "manipulated and authentic images together; *FP area* is the share of an authentic image flagged; "
        "*image AUC* scores image-level detection by the map's maximum.",
        "",
        "| localizer | setup | real edits F1 | IoU | pixel AUC | pooled F1 | image AUC | synthetic F1 | IoU | "
        "pixel AUC | FP area | image AUC |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [{"localizer": f"*baseline: {name}*", "setup": "–", "real edits": loc["baselines"]["real edits"][name],
             "synthetic": loc["baselines"]["synthetic"][name]} for name in ("flag everything", "flag nothing")
            if loc.get("baselines")]  # fmt: skip
    order = {SYNTH: 0, ALIGNED_TRAINING: 1, REALISTIC_TRAINING: 2, UNEDITED: 3, NO_TRAINING: 4}
    ranked = sorted(loc["rows"], key=lambda r: (r["localizer"] == "fusion-map", order.get(r.get("training", SYNTH), 0),
                                                r["localizer"], r["setup"]))  # fmt: skip
    stale = [r for r in ranked if not _current_here(r, loc["settings"], loc.get("unedited"))]
    for r in [*ranked, *rows]:
        re, sy = r["real edits"], r["synthetic"]
        label = r["localizer"] if r["localizer"].startswith("*") else row_label(r) + (" †" if r in stale else "")
        lines.append(
            f"| {label} | {r['setup']} | {fmt(re['per_image']['f1_manipulated'])} | "
            f"{fmt(re['per_image']['iou_manipulated'])} | {fmt(re['per_image']['auc'])} | {fmt(re['pooled']['f1'])} | "
            f"{fmt(re['image_level'].get('auc'))} | {fmt(sy['per_image']['f1_manipulated'])} | "
            f"{fmt(sy['per_image']['iou_manipulated'])} | {fmt(sy['per_image']['auc'])} | "
            f"{fmt(sy['per_image']['false_positive_area_authentic'])} | {fmt(sy['image_level'].get('auc'))} |"
        )
    lines += ["", "The real edits hold no authentic images, so their image AUC is not defined. Rows at the *flag "
              "everything* baseline (FP area near 1) have learned nothing about where: they mark whole images.", ""]
    if stale:
        lines += ["† Measured with an earlier revision of the localizer (or of a member it fuses) than the code's, "
                  "or with other forensic-similarity training settings: stale until rerun (`fakescope benchmark --localization --localizers "
                  + ",".join(sorted({_asked_as(r) for r in stale})) + "`).", ""]
    lines += _render_kinds(loc, ranked, fmt, stale)
    best, ok = best_row(loc)
    if best is not None:
        base = loc["baselines"]["real edits"]["flag everything"]["per_image"]["f1_manipulated"]
        f1 = best["real edits"]["per_image"]["f1_manipulated"]
        fp = best["synthetic"]["per_image"]["false_positive_area_authentic"]
        bar = (f"The bar for the shipped default: real-edit F1 at least {BAR_F1_MARGIN:.2f} above *flag everything* "
               f"({base:.3f} + {BAR_F1_MARGIN:.2f} = {base + BAR_F1_MARGIN:.3f}) with an FP area of at most "
               f"{BAR_FP_AREA:.0%}. ")  # fmt: skip
        if ok:
            bar += (f"**{row_label(best)}** ({best['setup']}) meets it: F1 {f1:.3f}, FP area {fp:.3f}. It is the "
                    "shipped default localizer.")
        else:
            bar += (f"No row meets it; the closest is **{row_label(best)}** ({best['setup']}): F1 {f1:.3f} "
                    f"({f1 - base:+.3f} against flag everything), FP area {fp:.3f}. It is the shipped default "
                    "localizer all the same (the smallest shortfall: F1 gap plus FP area over the limit), and its "
                    "card says it misses the bar.")
        bar += (" (`fakescope benchmark --localization --localizers NAME --keep-localizers DIR` keeps the measured "
                "model; `src/fakescope/trained_localizers/default` is that folder.)")
        lines += [bar, ""]
    return lines


def _render_kinds(loc: dict, rows: list[dict], fmt, stale: list[dict] = ()) -> list[str]:
    """Per kind of edit: real edits by :func:`edit_kind`, synthetic test edits by synth kind, and the
    aligned-local test set; the rows made since per-kind scores were kept (older rows have none); the
    ``stale`` ones marked."""
    rows = [r for r in rows if "by_kind" in r["real edits"]]
    if not rows:
        return []
    real_kinds = [k for k in REAL_KINDS if k in loc["sets"]["real edits"].get("kinds", {})]
    synth_kinds = sorted(loc["sets"]["synthetic"].get("kinds", {}))
    n_real, n_syn = loc["sets"]["real edits"].get("kinds", {}), loc["sets"]["synthetic"].get("kinds", {})
    head = ([f"real {k} ({n_real[k]})" for k in real_kinds] + [f"synth {k} ({n_syn[k]})" for k in synth_kinds]
            + [f"aligned-local ({loc['sets'].get('aligned-local', {}).get('n', 0)})"]
            + ([f"realistic ({loc['sets']['realistic']['n']})"] if "realistic" in loc["sets"] else []))  # fmt: skip
    lines = ["### Pixel F1 per kind of edit", "",
             "Per-image pixel F1 averaged over the edits of each kind (count in brackets). Real edits by the kind "
             "their manifest rows name (generator and family): inpainting (LaMa removal, SD fill and background "
             "replacement), and *splice or copy-move* for the hand-made forgeries, whose rows do not say which; "
             "synthetic: the test edits by `fakescope synth` kind, and the aligned-local (and realistic) test "
             "edits.", "",
             "| localizer | setup | " + " | ".join(head) + " |",
             "|---|---|" + "---:|" * len(head)]  # fmt: skip
    flag = loc.get("baselines_by_kind") or {}
    own_sets = ["aligned-local", *(["realistic"] if "realistic" in loc["sets"] else [])]
    table = [(row_label(r) + (" †" if r in stale else ""), r["setup"], r["real edits"]["by_kind"],
              r["synthetic"]["by_kind"], [r.get(k, {}).get("per_image", {}).get("f1_manipulated") for k in own_sets])
             for r in rows]  # fmt: skip
    if flag:
        everything = [(loc.get("baselines") or {}).get(k, {}).get("flag everything", {}).get("per_image", {})
                      .get("f1_manipulated") for k in own_sets]  # fmt: skip
        table.append(("*baseline: flag everything*", "–", flag.get("real edits", {}), flag.get("synthetic", {}),
                      everything))  # fmt: skip
    for label, setup, real, syn, own in table:
        cells = [fmt(real.get(k, {}).get("f1")) for k in real_kinds] + [fmt(syn.get(k, {}).get("f1")) for k in synth_kinds]
        lines.append(f"| {label} | {setup} | " + " | ".join([*cells, *map(fmt, own)]) + " |")
    return [*lines, ""]
