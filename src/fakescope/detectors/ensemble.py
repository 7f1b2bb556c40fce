"""Score-level fusion of detectors: the mean log-odds of the members' calibrated probabilities.

This is the fusion the benchmark evaluates when it chooses the default (no
fusion weights are fitted, so nothing can be tuned on the evaluation data):
each member is trained with its own recipe and calibrated on held-out parts
of its own training data; the ensemble's probability is
``sigmoid(mean_i logit(p_i))``.

Members are written ``detector:recipe`` joined by ``+``, e.g.
``fakescope train ensemble --set members=univfd:all+fusion:paired``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..features.extract import EXTRACTORS
from ..data.manifest import Manifest
from ..registry import create, register
from ..train.calibration import PlattCalibrator, balanced_weights
from ..types import Card
from .base import FeatureDetector, TrainConfig

DEFAULT_MEMBERS = "univfd:all+univfd-nn:paired"


def parse_members(text: str) -> list[tuple[str, str]]:
    out = []
    for part in text.split("+"):
        name, _, recipe = part.strip().partition(":")
        if not name:
            raise ValueError(f"empty member in {text!r}; write detector:recipe+detector:recipe")
        out.append((name, recipe or "paired"))
    if len(out) < 2:
        raise ValueError(f"an ensemble needs at least two members, got {text!r}")
    return out


def _logit(p):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class Ensemble(FeatureDetector):
    family = "ensemble"

    def __init__(self, name: str = "ensemble", members: str = DEFAULT_MEMBERS, head_params: dict | None = None,
                 **train):  # fmt: skip
        self.members_spec = members
        base = {k: v for k, v in train.items() if k != "sources"}
        self.members = [create(d, sources=recipe, **base) for d, recipe in parse_members(members)]
        super().__init__(name, head_params or {}, **train)
        self.extractors = tuple(dict.fromkeys(e for m in self.members for e in m.extractors))

    @property
    def summary(self) -> str:
        return "Score-level fusion (mean log-odds) of " + " and ".join(
            f"{m.name} [{m.train_config.sources}]" for m in self.members
        )

    @property
    def preprocessing(self) -> str:
        return " | ".join(f"{m.name}: {m.preprocessing}" for m in self.members)

    @property
    def paper(self) -> str:
        return "; ".join(dict.fromkeys(m.paper for m in self.members if m.paper))

    def builder_kw(self):
        return {"members": self.members_spec}

    # features: the members' head inputs side by side ------------------------------------
    def _join(self, blocks):
        self.widths_ = [b.reshape(len(b), -1).shape[1] for b in blocks]
        self.shapes_ = [b.shape[1:] for b in blocks]
        return np.concatenate([b.reshape(len(b), -1) for b in blocks], axis=1)

    def featurize(self, images):
        # each extractor once, however many members read it (CLIP is the expensive one)
        return self.design_features({name: np.asarray(EXTRACTORS[name].apply(list(images)))
                                     for name in self.extractors})  # fmt: skip

    def design_features(self, feats):
        return self._join([m.design_features({k: feats[k] for k in m.extractors}) for m in self.members])

    def features_of(self, manifest, view="clean", **kw):
        parts = [m.features_of(manifest, view, **kw) for m in self.members]
        ok = np.logical_and.reduce([o for _, o in parts])
        return self._join([X for X, _ in parts]), ok

    def _split(self, X):
        out, start = [], 0
        for w, shape in zip(self.widths_, self.shapes_):
            out.append(X[:, start : start + w].reshape(len(X), *shape))
            start += w
        return out

    # training and inference -------------------------------------------------------------
    def fit(self, manifest, matched=None, log=lambda m: None, **extract_kw):
        for m in self.members:
            m.fit(manifest, matched=matched, log=log, **extract_kw)
        self.head_ = [m.head_ for m in self.members]  # fitted marker (the members hold the state)
        self.calibration_ = {"rule": "sigmoid(mean of the members' calibrated log-odds); nothing fitted"}
        if self.train_config.calibration in ("source", "loso", "logo"):
            self._fit_out_of_source(manifest, **extract_kw)
        self.trained_on_ = {m.name: m.trained_on_ for m in self.members}
        self.trained_on_["images"] = max(m.trained_on_["images"] for m in self.members)
        self.not_trained_on_ = " | ".join(f"{m.name}: {m.not_trained_on_}" for m in self.members)
        return self

    def _fit_out_of_source(self, manifest, **extract_kw) -> None:
        """Calibrate the fusion itself where the members were out of their depth: the mean log-odds of
        the members' held-out (out-of-source) probabilities, on the images every member held out, fit a
        monotone Platt map, the verdict sets and the distance abstention (on the first member's
        embedding). The members' own sets and banks are dropped: the ensemble's replace them."""
        held = [m.held_out_ for m in self.members]
        common = set(held[0]["keys"]).intersection(*(h["keys"] for h in held[1:]))
        order = [i for i, k in enumerate(held[0]["keys"]) if k in common]
        keys = [held[0]["keys"][i] for i in order]
        where = [{k: i for i, k in enumerate(h["keys"])} for h in held]
        z = np.mean([_logit(h["p"][[w[k] for k in keys]]) for h, w in zip(held, where)], axis=0)
        y, groups = held[0]["y"][order], held[0]["groups"][order]
        self.calibrator_ = PlattCalibrator().fit(z, y, monotone=True, weights=balanced_weights(y, groups))
        # Distances: to the images every member trains on; the other held-out images calibrate them.
        by_key = {s.key: s for s in manifest}
        trained = set.intersection(*({k for k, t in zip(h["keys"], h["trained_on"]) if t} for h in held))
        bank = Manifest([by_key[k] for k in dict.fromkeys(keys) if k in trained], root=manifest.root)
        rest = Manifest([by_key[k] for k in dict.fromkeys(keys) if k not in trained], root=manifest.root)
        X, ok = self.features_of(bank, held[0]["view"], **extract_kw)
        bank_groups = np.array([s.source or "(none)" for s in bank])
        elsewhere = None
        if len(rest):
            Xr, okr = self.features_of(rest, held[0]["view"], **extract_kw)
            elsewhere = self.abstention_features(Xr[okr])
        self._fit_reliability(self.calibrator_(z), y, groups, self.abstention_features(X[ok]), bank_groups[ok],
                              elsewhere)  # fmt: skip
        for m in self.members:
            for attr in ("conformal_", "abstention_"):
                if hasattr(m, attr):
                    delattr(m, attr)
            for key in ("conformal", "abstention"):
                m.calibration_.pop(key, None)
        a = self.abstention_
        self.calibration_ = {
            **self.calibrator_.to_dict(),
            "rule": "sigmoid(a * mean of the members' calibrated log-odds + b)",
            "fitted_on": f"the members' held-out scores of {len(keys)} training images "
                         f"({self.train_config.calibration} folds: each image scored by models that never saw its source)",
            "conformal": self.conformal_.to_dict() | ({"level_choice": self.level_choice_} if self.level_choice_ else {}),
            "abstention": {"k": a.k, "beta": a.beta, "threshold": a.threshold_,
                           "fitted_on": f"leave-one-source-out distances of the training images ({self.members[0].name}'s "
                           "input, the first view)"},
        }  # fmt: skip

    def abstention_features(self, X):
        return self._split(X)[0].reshape(len(X), -1)

    def proba_from_features(self, X):
        self._check_fitted()
        logits = np.mean([_logit(m.proba_from_features(x)) for m, x in zip(self.members, self._split(X))], axis=0)
        if hasattr(self, "calibrator_"):
            return self.calibrator_(logits)
        return 1 / (1 + np.exp(-logits))

    def predict_proba(self, images):
        self._check_fitted()
        if not len(images):
            return np.zeros(0)
        return self.proba_from_features(self.featurize(images))

    # persistence ---------------------------------------------------------------------------
    @property
    def card(self) -> Card:
        card = super().card
        card.upstream_weights = sorted({w for m in self.members for w in m.card.upstream_weights})
        card.config["members"] = [{"detector": m.name, "recipe": m.train_config.sources} for m in self.members]
        return card

    def save(self, directory):
        """The members in ``members/<i>-<name>/``, each a saved detector; the ensemble's own weights file
        lists the members' weight hashes, so the card's sha256 covers them."""
        from ..saved import read, write

        self._check_fitted()
        directory = Path(directory)
        subs = [directory / "members" / f"{i}-{m.name}" for i, m in enumerate(self.members)]
        for m, sub in zip(self.members, subs):
            m.save(sub)
        digests = [read(sub).card.weights_sha256 for sub in subs]
        arrays = {"member_sha256": np.array(digests)} | self.reliability_arrays()
        return write(directory, "detector", self.name, self.init_kwargs(), self.card, arrays)

    def restore(self, saved):
        from ..saved import arrays, load, read

        state = arrays(saved)
        expected = list(state["member_sha256"])
        subs = sorted((saved.directory / "members").iterdir(), key=lambda p: int(p.name.split("-")[0]))
        if len(subs) != len(expected):
            raise ValueError(f"{saved.directory}: {len(subs)} members on disk, the card records {len(expected)}")
        self.members = []
        for sub, digest in zip(subs, expected):
            if read(sub).card.weights_sha256 != digest:
                raise ValueError(f"{sub}: member weights do not match the ensemble's record")
            self.members.append(load(sub, kind="detector"))
        self.head_ = [m.head_ for m in self.members]
        cal = saved.card.calibration
        if "a" in cal:  # calibrated out of source (older ensembles fuse without a map)
            self.calibrator_ = PlattCalibrator.from_dict(cal)
            self._restore_reliability(cal, state)
        self._restore_card(saved.card)
        return self


@register("ensemble", "score-level fusion (mean log-odds) of registered detectors")
def ensemble(head_params: dict | None = None, members: str = DEFAULT_MEMBERS, **train) -> Ensemble:
    return Ensemble("ensemble", members, head_params, **train)


__all__ = ["Ensemble", "parse_members", "TrainConfig"]
