"""fakescope."""
