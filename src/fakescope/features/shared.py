"""One instance per process of each model class, made on first use."""

from __future__ import annotations

import threading


class SharedModel:
    """Mixin: ``cls.shared()`` is the process's one instance of ``cls``, so a model session (seconds to
    load, hundreds of MB) is loaded once however many detectors use it. Thread-safe."""

    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls):
        with SharedModel._shared_lock:
            instance = cls.__dict__.get("_instance")
            if instance is None:
                instance = cls()
                cls._instance = instance
            return instance
