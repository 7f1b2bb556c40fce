"""Evaluation protocols, the shortcut audit, reports and benchmarks (metrics live in ``fakescope.metrics``)."""
