"""Metrics, evaluation protocols, the shortcut audit and reports."""
