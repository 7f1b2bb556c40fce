"""Entry point: `fakescope ...`. Each command group lives in its own module."""

from __future__ import annotations

import typer

from . import adversarial, analysis, attribute, bench, data, detectors, robustness, scan, serve, synth, train, weights

app = typer.Typer(
    name="fakescope",
    help="Tell real photos from AI-generated and manipulated images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("scan")(scan.scan_command)
app.command("localize")(scan.localize_command)
app.command("list")(detectors.list_command)
app.command("card")(detectors.card_command)
app.command("train")(train.train_command)
app.command("evaluate")(train.evaluate_command)
app.command("benchmark")(bench.benchmark_command)
app.command("robustness")(robustness.robustness_command)
app.command("adversarial")(adversarial.adversarial_command)
app.command("synth")(synth.synth_command)
app.command("serve")(serve.serve_command)
app.command("spectrum")(analysis.spectrum_command)
app.command("prompts")(analysis.prompts_command)
app.add_typer(weights.app, name="weights")
app.add_typer(data.app, name="manifest")
app.add_typer(data.features_app, name="features")
app.add_typer(synth.autoencoder_app, name="autoencoder")
app.add_typer(attribute.app, name="attribute")


if __name__ == "__main__":  # pragma: no cover
    app()
