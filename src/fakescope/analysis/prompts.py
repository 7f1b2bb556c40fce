"""Prompt analysis after DE-FAKE (Sha et al. 2023): which prompts make generated images hard to catch.

For the fully generated images of a manifest that have a prompt, a detector's miss rate (share of fakes
scored ``p_fake`` under the threshold) is broken down by traits of the prompt:

- **length**: words in the prompt, in buckets; DE-FAKE found prompts of 25-75 words gave the most realistic
  images;
- **topic**: keyword groups (:data:`TOPICS`); a prompt belongs to every group one of its words names;
- **noun proportion**: nouns among the prompt's words, by the stated heuristic :func:`is_noun` (no
  part-of-speech tagger is a dependency of fakescope);
- **cluster**: groups of prompts close in meaning: all-MiniLM-L6-v2 sentence embeddings (the project's
  NumPy encoder) of the distinct prompts of each table, clustered by HDBSCAN (or DBSCAN), noise points kept
  apart as "unclustered".

Each group gets its count, misses, miss rate and Wilson 95 % interval, and a second interval from a bootstrap
over distinct prompts: many images share one prompt (rendered by several generators), and images of one
prompt are not independent trials, so the image-level interval is too narrow when few prompts make a group.
Groups with under :data:`MIN_IMAGES` images or :data:`MIN_PROMPTS` distinct prompts are flagged as too small
to read. Each group also gets the miss rate its mix of generators alone would give, since generators differ
far more than prompts do. Sources differ in generators and in how they write prompts, so the tables are also
made for the largest source alone (a *stratum*).

Plots, tables and the page are drawn by :mod:`.prompts_report`.

Which images a detector trained on matters: a miss rate on images the model saw in training says little. The
default scores are the held-out predictions the benchmark stored for the shipped default (leave-one-source-out
under matched processing: every image scored by a model that never saw its source); see :func:`benchmark_scores`.

Prompts are read as the manifest gives them, with two clean-ups: a ComfyUI-style negative prompt after
``||`` is dropped, and attention weights such as ``(word:1.2)`` are reduced to the word.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.manifest import Manifest, file_sha256
from .stats import wilson

#: Groups under this many images are flagged as too small to read.
MIN_IMAGES = 30
#: ... and so are groups made from fewer distinct prompts.
MIN_PROMPTS = 5
#: (first, last, label) of the length buckets, in words; ``None``: no upper end.
LENGTH_BUCKETS = ((1, 4, "1-4 words"), (5, 9, "5-9 words"), (10, 24, "10-24 words"), (25, 75, "25-75 words"),
                  (76, None, "over 75 words"))  # fmt: skip
#: (low, high, label) of the noun-proportion buckets.
NOUN_BUCKETS = ((0.0, 0.25, "nouns < 25 %"), (0.25, 0.5, "nouns 25-50 %"), (0.5, 0.75, "nouns 50-75 %"),
                (0.75, 1.01, "nouns ≥ 75 %"))  # fmt: skip
#: A prompt that is only a style name (``style: NAME``, as Fooocus' style previews record it) says nothing of
#: the picture's content; it gets the topic :data:`STYLE_ONLY` and no other.
STYLE_ONLY = "style name only"
NO_TOPIC = "none of these"

#: Topic keyword groups. A word matches in its own form or with a plural ``s``/``es`` removed.
TOPICS: dict[str, frozenset[str]] = {k: frozenset(v.split()) for k, v in {
    "people": "girl woman women man men boy child children kid baby people person portrait face lady king queen "
              "jester captain jesus traveler travelers mermaid female male geisha waifu mulan jagger america "
              "iron superhero soldier warrior princess prince family crowd selfie model",
    "animals and creatures": "octopus panda fish frog fox fennec bear shark bat unicorn ogre dragon cat dog bird "
                             "horse animal creature kermit muppet monster robot alien insect butterfly wolf lion",
    "nature and landscape": "forest mountain sea ocean lake river sky cloud sunset sunrise snow landscape nature "
                            "scenery tree rainbow winter water underwater galaxy alps wilderness rock park beach "
                            "desert field flower garden island storm stormy thunderstorm lightning rain raining "
                            "rainy fog foggy moon planet space star",
    "city and architecture": "city building street tokyo shanghai temple skyscraper cityscape nightclub kitchen "
                             "mansion museum arena house room roof lair village castle church tower bridge "
                             "interior coffeeshop cafe shop town",
    "objects and food": "bottle glass car table headphone hamburger burger cake drink shoe skateboard bicycle "
                        "laptop ship jar candle apple pie sandwich sandwitch broccoli mushroom vegetable sword "
                        "pistol toy plate book cover mirror phone clock chair",
    "art styles": "painting painted illustration art artwork style anime cubist cubism surrealism surreal ghibli "
                  "sculpture drawing sketch concept artstation cartoon abstract picasso kirby mckean digital "
                  "cyberpunk psychedelic oil watercolor watercolour comic manga pixel fantasy miyazaki",
    "photographic terms": "photo photograph photography photorealistic realistic hyperrealistic paparazzi shot "
                          "aerial still cinematic hdr 8k 4k resolution lighting flash camera lens dslr bokeh "
                          "render octane unreal detailed",
    "feelings and abstractions": "beauty definition feel feels panic happy happiness calm nightmare dream love "
                                 "fear sadness lonely loneliness idea invention",
}.items()}  # fmt: skip

#: Function words: never nouns.
FUNCTION_WORDS = frozenset("""
a an the this that these those my your his her its our their some any every each no all both either neither
and or but nor so yet for of in on at by to from with without into onto over under above below between among
through across along around behind beyond near inside outside up down out off about against during before after
since until while as like than then there here where when why how what which who whom whose
i me you he him she it we us they them myself herself himself itself themselves one ones
is are was were be been being am do does did done have has had having will would shall should can could may
might must not never very too also just only even more most less least much many few such own same other
another again ever
""".split())  # fmt: skip
#: Adjectives common in prompts that no suffix rule catches (colours, sizes, qualities).
ADJECTIVES = frozenset("""
red green blue yellow orange purple pink black white gray grey brown golden gold silver dark bright light
big small huge tiny large little long short tall high low wide old new young ancient modern future futuristic
pretty beautiful ugly cute scary nice good bad best worst great amazing epic vivid soft hard hot cold warm cool
wet dry deep deepest darkest rainy foggy dusky calm happy sad angry lost strange weird quiet loud fast slow
full empty rich poor clean dirty smooth rough sharp flat bold primary basic solid fancy fluffy messy massive
glowing fizzy juicy tall wooden miniature snowy cloudy green-eyed blonde wavy muted intricate accurate
exceptional newest extremely insanely breathtaking handsome albino asian avant garde national real
photorealistic hyperrealistic realistic cinematic psychedelic abstract geometric surreal digital
two-dimensional single half double first second third 8k 4k hd hdr
""".split())  # fmt: skip
#: Verbs common in prompts that no suffix rule catches.
VERBS = frozenset("""
met meet meets showed show shows make makes made create created go goes went get gets got give gave take took
see saw seen look looks find found hold holds held wear wears wore ride rides rode eat eats ate sit sits sat
stand stands stood run runs ran fly flies flew swim swims swam feel feels felt keep keeps kept discover
discovered play plays played work works worked place placed cover covered compose composed
""".split())  # fmt: skip
#: Words ending in -ing that are nouns (most -ing words in prompts are verbs or participles).
ING_NOUNS = frozenset("""
painting building lighting drawing clothing ceiling wedding king ring thing morning evening string wing
spring sling swing ping pudding sibling ceiling rendering
""".split())  # fmt: skip
_ADJ_SUFFIXES = ("ful", "ous", "ive", "able", "ible", "less", "ish", "ic", "ical", "ary", "ian", "esque")
_NOT_ADJ = frozenset("music logic magic picnic mosaic topic comic graphic garlic traffic clinic fabric tunic "
                     "panic mechanic relic library dictionary sanctuary boundary summary salary diary".split())


def positive_prompt(prompt: str) -> str:
    """The prompt without a negative prompt (after ``||``) and with ``(word:1.2)`` weights reduced to the word."""
    text = prompt.split("||", 1)[0]
    text = re.sub(r":\s*\d+(?:\.\d+)?\s*\)", ")", text)
    return text.strip()


def words(prompt: str) -> list[str]:
    """Lower-case words of the (positive) prompt: runs of letters and digits, inner ``'`` and ``-`` kept."""
    return re.findall(r"[^\W_]+(?:['’-][^\W_]+)*", positive_prompt(prompt).lower())


def _forms(word: str) -> set[str]:
    out = {word}
    if word.endswith("es") and len(word) > 4:
        out.add(word[:-2])
    if word.endswith("s") and len(word) > 3:
        out.add(word[:-1])
    if word.endswith("'s") or word.endswith("’s"):
        out.add(word[:-2])
    return out


def is_noun(word: str) -> bool:
    """Heuristic noun test for a lower-case word of an English prompt.

    Not a noun: function words, numbers, words in the adjective and verb lists, words ending in ``-ly``
    (adverbs), ``-ed`` (past forms and participles), ``-ing`` (unless a listed ``-ing`` noun such as
    *painting*), or an adjective suffix (``-ful``, ``-ous``, ``-ive``, ``-able``, ``-ic``, ...; a few nouns
    such as *music* excepted). Every other word counts as a noun. It errs towards nouns for unknown
    adjectives and verbs.
    """
    forms = _forms(word)
    if forms & FUNCTION_WORDS or not any(c.isalpha() for c in word) or word.isdigit():
        return False
    if forms & (ADJECTIVES | VERBS):
        return False
    if forms & (ING_NOUNS | _NOT_ADJ):
        return True
    if word.endswith(("ly", "ed")) and len(word) > 4:
        return False
    if word.endswith("ing") and len(word) > 4:
        return False
    return not (word.endswith(_ADJ_SUFFIXES) and len(word) > 5)


def noun_share(prompt: str) -> float | None:
    """Nouns (by :func:`is_noun`) among the prompt's words; ``None`` for a prompt without words."""
    ws = words(prompt)
    return sum(is_noun(w) for w in ws) / len(ws) if ws else None


def is_style_only(prompt: str) -> bool:
    return re.fullmatch(r"\s*style\s*:\s*\S+\s*", prompt or "", flags=re.IGNORECASE) is not None


def topics(prompt: str) -> list[str]:
    """The topic groups whose keywords the prompt uses (in :data:`TOPICS` order), or ``[NO_TOPIC]``."""
    if is_style_only(prompt):
        return [STYLE_ONLY]
    forms = set().union(*(_forms(w) for w in words(prompt))) if words(prompt) else set()
    found = [name for name, keys in TOPICS.items() if forms & keys]
    return found or [NO_TOPIC]


def length_bucket(n_words: int) -> str:
    for lo, hi, label in LENGTH_BUCKETS:
        if n_words >= lo and (hi is None or n_words <= hi):
            return label
    return "no words"


def noun_bucket(share: float | None) -> str:
    if share is None:
        return "no words"
    return next(label for lo, hi, label in NOUN_BUCKETS if lo <= share < hi)


# --- scores --------------------------------------------------------------------------------------------------
@dataclass
class Scores:
    """``p_fake`` per image (by sha256 and/or resolved path), the threshold under which a fake is missed, and
    where the scores come from, in words."""

    by_key: dict[str, float]
    threshold: float
    description: str
    held_out: bool

    def lookup(self, sample) -> float | None:
        for key in (sample.sha256, os.path.realpath(sample.file)):
            if key and key in self.by_key:
                return self.by_key[key]
        if not sample.sha256 and sample.file.is_file():
            return self.by_key.get(file_sha256(sample.file))
        return None


class ScoresError(ValueError):
    """Scores cannot be read or matched; the message says why."""


def benchmark_scores(path: str | os.PathLike, protocol: str = "loso-matched", detector: str = "ensemble",
                     settings: dict[str, str] | None = None) -> Scores:  # fmt: skip
    """The out-of-source predictions a benchmark stored (``BENCHMARKS.json``: ``runs[*].p``, in the order of the
    benchmark's manifest) for one run.

    Args:
        protocol: the run's ``protocol_key`` (``loso-matched``: leave one source out, matched processing).
        detector: the run's detector.
        settings: ``--set`` values the run must have (e.g. ``{"calibration": "loso"}``); needed only when
            several runs match.

    Raises:
        ScoresError: no run or several runs match, or the benchmark's manifest cannot be found or does not
            have as many rows as the run has predictions.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ScoresError(f"{path}: cannot read benchmark results ({exc})") from None
    settings = settings or {}
    runs = [r for r in data.get("runs", []) if r.get("protocol_key") == protocol and r.get("detector") == detector
            and r.get("p") and all(str((r.get("set") or {}).get(k)) == str(v) for k, v in settings.items())]
    if len(runs) != 1:
        seen = sorted({f"{r.get('protocol_key')}:{r.get('detector')} {r.get('set') or ''}".strip()
                       for r in data.get("runs", []) if r.get("p")})  # fmt: skip
        what = "no run" if not runs else f"{len(runs)} runs"
        raise ScoresError(f"{path}: {what} with protocol {protocol!r}, detector {detector!r}"
                          + (f" and settings {settings}" if settings else "") + "; runs with predictions: "
                          + "; ".join(seen))  # fmt: skip
    run = runs[0]
    candidates = [Path(data.get("manifest", "")), path.resolve().parent.parent / data.get("manifest", "")]
    manifest_path = next((c for c in candidates if c.is_file()), None)
    if manifest_path is None:
        raise ScoresError(f"{path}: the benchmark's manifest {data.get('manifest')!r} is not found (looked from "
                          f"the current folder and from {path.resolve().parent.parent})")  # fmt: skip
    bench = Manifest.read(manifest_path)
    if len(bench) != len(run["p"]):
        raise ScoresError(f"{path}: the run has {len(run['p'])} predictions, its manifest {manifest_path} "
                          f"{len(bench)} rows")  # fmt: skip
    by_key: dict[str, float] = {}
    for s, p in zip(bench, run["p"]):
        if p is None:
            continue
        by_key[os.path.realpath(s.file)] = float(p)
        if s.sha256:
            by_key[s.sha256] = float(p)
    threshold = float((run.get("summary") or {}).get("threshold", 0.5))
    extra = ", ".join(f"{k}={v}" for k, v in (run.get("set") or {}).items())
    desc = (f"{detector} [{run.get('recipe', '')}{', ' + extra if extra else ''}], protocol {protocol}: "
            f"{(run.get('summary') or {}).get('protocol', '')}; held-out predictions stored in {path.name}")
    return Scores(by_key, threshold, desc, held_out=True)


def scan_scores(path: str | os.PathLike, threshold: float = 0.5) -> Scores:
    """``p_fake`` from the rows of ``fakescope scan --out`` (.jsonl or .csv), matched to images by path.

    These are whatever the scanning detector gives, which is in-sample for images it trained on.
    """
    path = Path(path)
    rows: list[dict] = []
    try:
        if path.suffix.lower() == ".csv":
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        else:
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError, csv.Error) as exc:
        raise ScoresError(f"{path}: cannot read scan rows ({exc})") from None
    by_key = {}
    for row in rows:
        if row.get("p_fake") not in (None, "") and row.get("path"):
            by_key[os.path.realpath(row["path"])] = float(row["p_fake"])
    return Scores(by_key, threshold, f"p_fake from the scan rows in {path.name} (not necessarily held out)",
                  held_out=False)  # fmt: skip


# --- the analysis --------------------------------------------------------------------------------------------
@dataclass
class Item:
    """One generated image with a prompt, and what the analysis reads from it."""

    path: str
    prompt: str
    generator: str
    source: str
    p: float
    missed: bool
    n_words: int
    length: str
    topics: list[str]
    noun_share: float | None
    nouns: str
    clusters: dict[str, str] = field(default_factory=dict)  # stratum -> cluster name


@dataclass
class GroupStats:
    """Miss rate of one group of images, with its intervals."""

    dimension: str
    name: str
    n: int
    prompts: int
    missed: int
    wilson: tuple[float, float]
    bootstrap: tuple[float, float]
    sources: Counter
    expected: float = math.nan  # the miss rate its generators have over the whole table, weighted by its images

    @property
    def rate(self) -> float:
        return self.missed / self.n if self.n else math.nan

    @property
    def small(self) -> bool:
        return self.n < MIN_IMAGES or self.prompts < MIN_PROMPTS


@dataclass
class Cluster:
    name: str
    size: int  # distinct prompts
    keywords: list[str]
    example: str


@dataclass
class PromptResult:
    """Everything :func:`analyse` found; ``tables[stratum][dimension]`` lists the groups of one dimension."""

    items: list[Item]
    scores: Scores
    clusterer: str
    clusters: dict[str, dict[str, Cluster]]  # stratum -> name -> cluster
    strata: list[str]  # "all", then the source(s) analysed on their own
    tables: dict[str, dict[str, list[GroupStats]]]
    overall: dict[str, GroupStats]
    skipped: Counter = field(default_factory=Counter)  # why images were left out


DIMENSIONS = ("prompt length", "topic", "noun proportion", "prompt cluster")


def _bootstrap(items: list[Item], reps: int, rng: np.random.Generator) -> tuple[float, float]:
    """95 % percentile interval of the miss rate, resampling distinct prompts (with all their images)."""
    by_prompt: dict[str, list[bool]] = {}
    for it in items:
        by_prompt.setdefault(it.prompt, []).append(it.missed)
    if len(by_prompt) < 2:
        return math.nan, math.nan
    n = np.array([len(v) for v in by_prompt.values()], dtype=float)
    k = np.array([sum(v) for v in by_prompt.values()], dtype=float)
    draws = rng.integers(0, len(n), size=(reps, len(n)))
    rates = k[draws].sum(1) / n[draws].sum(1)
    lo, hi = np.percentile(rates, [2.5, 97.5])
    return float(lo), float(hi)


def group_stats(dimension: str, name: str, items: list[Item], reps: int = 2000, seed: int = 0,
                generator_rates: dict[str, float] | None = None) -> GroupStats:  # fmt: skip
    """Counts and intervals of one group; ``generator_rates`` (miss rate per generator over the whole table)
    gives :attr:`GroupStats.expected`, the rate the group would have if only its generators mattered."""
    missed = sum(it.missed for it in items)
    rng = np.random.default_rng([seed, len(items), missed])
    expected = (float(np.mean([generator_rates[it.generator] for it in items]))
                if generator_rates and items else math.nan)  # fmt: skip
    return GroupStats(dimension, name, len(items), len({it.prompt for it in items}), missed,
                      wilson(missed, len(items)), _bootstrap(items, reps, rng), Counter(it.source for it in items),
                      expected)  # fmt: skip


def _content_words(prompt: str) -> list[str]:
    return [w for w in words(prompt) if w not in FUNCTION_WORDS and len(w) > 2 and not w.isdigit()]


def embed_prompts(prompts: list[str], embed: Callable[[list[str]], np.ndarray] | None = None) -> np.ndarray:
    """(N, D) unit embeddings of the prompts' positive parts; default MiniLM
    (:class:`~fakescope.features.text.SentenceEncoder`, all-MiniLM-L6-v2, 384-d)."""
    if embed is None:
        from ..features.text import SentenceEncoder

        embed = SentenceEncoder.shared().embed
    return np.asarray(embed([positive_prompt(p) for p in prompts]), dtype=np.float64).reshape(len(prompts), -1)


def cluster_prompts(prompts: list[str], x: np.ndarray, method: str = "hdbscan", min_cluster_size: int = 3,
                    eps: float = 0.8) -> tuple[list[str], dict[str, Cluster]]:  # fmt: skip
    """Cluster distinct prompts by meaning.

    Args:
        x: (N, D) unit embeddings of ``prompts`` (:func:`embed_prompts`).
        method: ``hdbscan`` (scikit-learn's HDBSCAN, ``min_cluster_size``, leaf selection) or ``dbscan`` (``eps`` on the
            Euclidean distance of unit embeddings, ``min_cluster_size`` as ``min_samples``).

    Returns:
        The cluster name of each prompt (``unclustered`` for noise) and the clusters by name (``c1`` the
        largest), each with its most frequent content words and the prompt nearest its centre.
    """
    from sklearn.cluster import DBSCAN, HDBSCAN

    if method not in ("hdbscan", "dbscan"):
        raise ValueError(f"unknown clustering method {method!r}; expected hdbscan or dbscan")
    if len(prompts) < max(2, min_cluster_size):
        labels = np.full(len(prompts), -1)
    elif method == "hdbscan":
        # leaf selection: the finest clusters; the default (excess of mass) merged nearly every prompt into one
        labels = HDBSCAN(min_cluster_size=min_cluster_size, metric="euclidean", cluster_selection_method="leaf",
                         copy=True).fit_predict(x)  # fmt: skip
    else:
        labels = DBSCAN(eps=eps, min_samples=min_cluster_size, metric="euclidean").fit_predict(x)
    # name clusters by size, largest first, so names are stable for the same data
    sizes = Counter(int(v) for v in labels if v >= 0)
    order = {lab: i + 1 for i, (lab, _) in enumerate(sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])))}
    names = [f"c{order[int(lab)]}" if lab >= 0 else "unclustered" for lab in labels]
    clusters = {}
    for lab, idx in order.items():
        members = [i for i, v in enumerate(labels) if v == lab]
        centre = x[members].mean(0)
        example = prompts[members[int(np.argmax(x[members] @ centre))]]
        counts = Counter(w for i in members for w in set(_content_words(prompts[i])))
        keywords = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:4]]
        clusters[f"c{idx}"] = Cluster(f"c{idx}", len(members), keywords, example)
    return names, clusters


def analyse(manifest: Manifest, scores: Scores, strata: list[str] | None = None, cluster: str = "hdbscan",
            min_cluster_size: int = 3, eps: float = 0.8, reps: int = 2000,
            embed: Callable[[list[str]], np.ndarray] | None = None) -> PromptResult:  # fmt: skip
    """Miss rates of the generated images of ``manifest`` that have prompts, by prompt trait.

    Args:
        strata: sources to analyse on their own as well as together (default: the source with the most
            prompted fakes, when there are several sources). Sources differ in generators, sizes and in how
            they write prompts, which confounds a pooled table.
        cluster: ``hdbscan``, ``dbscan`` or ``none``. Clusters are found among the distinct prompts of each
            stratum separately, so one source's way of writing prompts does not decide another's clusters.
        min_cluster_size, eps: see :func:`cluster_prompts`.
        embed: prompts -> unit embeddings (default MiniLM; tests pass their own).
    """
    items, skipped = [], Counter()
    for s in manifest:
        if s.label != "fake":
            continue
        if not s.prompt.strip():
            skipped["no prompt"] += 1
            continue
        p = scores.lookup(s)
        if p is None:
            skipped["no score"] += 1
            continue
        ws = words(s.prompt)
        share = noun_share(s.prompt)
        items.append(Item(str(s.path), s.prompt, s.generator, s.source, p, p < scores.threshold, len(ws),
                          length_bucket(len(ws)), topics(s.prompt), share, noun_bucket(share)))  # fmt: skip
    sources = Counter(it.source for it in items)
    if strata is None:
        strata = [sources.most_common(1)[0][0]] if len(sources) > 1 else []
    clusters: dict[str, dict[str, Cluster]] = {}
    if cluster != "none" and items:
        distinct = sorted({it.prompt for it in items})
        x = dict(zip(distinct, embed_prompts(distinct, embed)))
        for stratum in ["all", *strata]:
            chosen = sorted({it.prompt for it in items if stratum == "all" or it.source == stratum})
            names, clusters[stratum] = cluster_prompts(chosen, np.stack([x[p] for p in chosen]), cluster,
                                                       min_cluster_size, eps)  # fmt: skip
            of = dict(zip(chosen, names))
            for it in items:
                if it.prompt in of and (stratum == "all" or it.source == stratum):
                    it.clusters[stratum] = of[it.prompt]
    keys = {"prompt length": lambda it, st: [it.length], "topic": lambda it, st: it.topics,
            "noun proportion": lambda it, st: [it.nouns],
            "prompt cluster": lambda it, st: [it.clusters[st]] if st in it.clusters else []}
    order = {"prompt length": [b[2] for b in LENGTH_BUCKETS] + ["no words"],
             "noun proportion": [b[2] for b in NOUN_BUCKETS] + ["no words"],
             "topic": [*TOPICS, STYLE_ONLY, NO_TOPIC]}  # fmt: skip
    tables: dict[str, dict[str, list[GroupStats]]] = {}
    overall: dict[str, GroupStats] = {}
    for stratum in ["all", *strata]:
        chosen = [it for it in items if stratum == "all" or it.source == stratum]
        by_gen: dict[str, list[bool]] = {}
        for it in chosen:
            by_gen.setdefault(it.generator, []).append(it.missed)
        rates = {g: sum(v) / len(v) for g, v in by_gen.items()}
        overall[stratum] = group_stats("all", "all prompted fakes", chosen, reps, generator_rates=rates)
        tables[stratum] = {}
        for dim in DIMENSIONS:
            groups: dict[str, list[Item]] = {}
            for it in chosen:
                for g in keys[dim](it, stratum):
                    groups.setdefault(g, []).append(it)
            rank = order.get(dim)
            if rank is None:  # clusters: c1 (the most prompts), c2, ..., unclustered last
                names = sorted(groups, key=lambda g: (g == "unclustered", int(g[1:]) if g != "unclustered" else 0))
            else:
                names = sorted(groups, key=lambda g: rank.index(g) if g in rank else len(rank))
            tables[stratum][dim] = [group_stats(dim, g, groups[g], reps, generator_rates=rates) for g in names]
    return PromptResult(items, scores, cluster, clusters, ["all", *strata], tables, overall, skipped)
