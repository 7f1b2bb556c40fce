"""`fakescope adversarial`: attacks on generated images, transfer to every detector, adversarial training."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .common import err, fail, log, one_line_errors


def _floats(text: str, what: str, scale: float = 1.0) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        return tuple(float(v) * scale for v in text.split(",") if v.strip())
    except ValueError:
        raise fail(f"{what} expects comma-separated numbers, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _command_line(ctx: typer.Context) -> str:
    """This invocation as a command line: the options given on it, in their order of declaration."""
    import shlex

    parts = ["fakescope", "adversarial"]
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        if source is None or source.name != "COMMANDLINE":
            continue
        value = ctx.params[param.name]
        flag = param.opts[0]
        if isinstance(value, bool):
            parts.append(flag if value else (param.secondary_opts or [flag])[0])
        else:
            parts += [flag, str(value)]
    return shlex.join(parts)


def adversarial_command(
    ctx: typer.Context,
    manifest: Path = typer.Option(Path("../shared/data/manifest.csv"), "--manifest", "-m", help="The data set."),
    out: Path = typer.Option(Path("docs/adversarial.json"), "--out", "-o", help="Results (JSON)."),
    page: Path = typer.Option(Path("docs/BENCHMARKS.md"), help="Markdown page whose 'Adversarial evaluation' "
                              "section is written (below the line that keeps the hand-run sections); "
                              "'-' writes none."),  # fmt: skip
    plot_path: Path = typer.Option(Path("docs/adversarial.png"), "--plot", help="The plot (PNG); '-' draws none."),
    work: Path = typer.Option(None, help="Folder of the attacked images (default: adversarial/ in the fakescope "
                              "cache); a rerun of the same configuration reuses them."),  # fmt: skip
    size: str = typer.Option("auto", help="auto (full on a CUDA device, else reduced), full or reduced."),
    n: int = typer.Option(None, help="Held-out generated images to attack (preset: 256 full, 8 reduced)."),
    steps: int = typer.Option(None, help="PGD steps (preset: 10 full, 2 reduced)."),
    linf: str = typer.Option("", help="L-inf budgets in grey levels (x/255), comma-separated (default 2,4,8)."),
    l2: str = typer.Option("", help="L2 budgets on the [0, 1] scale, comma-separated (default 1,3)."),
    min_ssim: float = typer.Option(None, help="The perceptual budget: least SSIM to the original (default 0.95)."),
    free: str = typer.Option("", help="Gradient-free attacks, comma-separated (default: ae-nearest, taef2, "
                             "noise2-jpeg90, noise8-jpeg75; 'none' for none)."),  # fmt: skip
    adv_train: int = typer.Option(None, help="Training fakes attacked for adversarial training (preset: 768 full, "
                                  "24 reduced; 0: no defence)."),  # fmt: skip
    adv_steps: int = typer.Option(None, help="PGD steps of the adversarial training attacks (preset: 5 full, "
                                  "2 reduced)."),  # fmt: skip
    seed: int = typer.Option(None, help="Seed of the source split and of the samples (default 0)."),
    victims: str = typer.Option("univfd,univfd-nn,fusion,dct-linear,default", help="Detectors scored "
                                "(registered names, e.g. meso4 too; 'default' is the shipped default's recipe; 'all': the "
                                "default and every registered detector)."),  # fmt: skip
    surrogates: str = typer.Option("default,dct-linear", help="Victims attacked white box (a CLIP linear probe, "
                                   "an ensemble with one, dct-linear, or a pixel network such as meso4); the first "
                                   "chooses the images."),  # fmt: skip
    defend: str = typer.Option("default", help="Victim retrained with adversarial training fakes ('none': no "
                               "defence)."),  # fmt: skip
    pairs: bool = typer.Option(True, help="Train the 'default' victim with the aligned pairs, as the default was."),
    autoencoder_weights: Path = typer.Option(Path("../shared/weights/taef2"), help="Folder of the TAEF2 weights "
                                             "(the pairs and the taef2 attack)."),  # fmt: skip
    render_only: bool = typer.Option(False, help="Only rewrite the section and the plot from --out."),
):
    """Attack held-out generated images (FGSM, PGD under L-inf, L2 and SSIM budgets, and without gradients),
    score them with every detector, and measure adversarial training as a defence."""
    from ..evaluation import adversarial as adv

    if render_only:
        if not out.is_file():
            raise fail(f"{out}: no results to render; run without --render-only first")
        _render(json.loads(out.read_text()), page, plot_path)
        return
    import torch

    free_names = () if free.strip() == "none" else (_names(free) or None)
    try:
        cfg = adv.config_for(size, torch.cuda.is_available(), n_fakes=n, steps=steps,
                             linf=_floats(linf, "--linf", 1 / 255), l2=_floats(l2, "--l2"), min_ssim=min_ssim,
                             free=free_names, adv_train=adv_train, adv_steps=adv_steps, seed=seed)  # fmt: skip
    except (ValueError, TypeError) as exc:
        raise fail(str(exc)) from None
    from .. import weights
    from ..data.manifest import Manifest

    with one_line_errors():
        m = Manifest.read(manifest)
    taef2 = autoencoder_weights if autoencoder_weights and autoencoder_weights.is_dir() else None
    victim_names = adv.all_victims() if victims.strip() == "all" else _names(victims)
    with one_line_errors(ValueError, FileNotFoundError, KeyError, about=manifest):
        results = adv.run_adversarial(m, cfg, work or weights.home() / "adversarial", victims=victim_names,
                                      surrogates=_names(surrogates),
                                      defend=None if defend.strip() in ("", "none") else defend.strip(),
                                      taef2=taef2, pairs=pairs, log=log)  # fmt: skip
    results["command"] = _command_line(ctx)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    err.print(f"wrote {out}", highlight=False)
    _render(results, page, plot_path)


def _render(results: dict, page: Path, plot_path: Path) -> None:
    from ..evaluation import adversarial as adv

    if str(plot_path) != "-":
        drawn = adv.plot(results, plot_path)
        if drawn:
            err.print(f"wrote {drawn}", highlight=False)
    if str(page) != "-":
        adv.write_section(page, adv.markdown(results))
        err.print(f"wrote {page}", highlight=False)
