"""Detectors to bytes and back with skops, trusting only the types listed here.

Stored models are never unpickled: skops rebuilds objects from a description and refuses
any type not trusted, so a tampered file cannot run code when loaded.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable

import skops.io

from energy_core.detection.protocol import Detector

FORMAT = "skops"
# What an IsolationForestDetector holds beyond the types skops trusts by default
# (numpy arrays, scikit-learn estimators such as StandardScaler and IsolationForest).
# sklearn's Tree is listed because skops asks for it explicitly: it indexes its own node
# arrays without bounds checks, so a hostile file could crash the process. Our models
# come only from our own storage.
TRUSTED_TYPES: tuple[str, ...] = (
    "energy_core.detection.isolation_forest.IsolationForestDetector",
    "energy_core.detection.fastforest.CompiledForest",
    "energy_core.detection.temporal.TemporalDetector",
    "energy_core.detection.baseline.SkabIsolationForestDetector",
    "sklearn.tree._tree.Tree",
)


# Models stored before energy_core was laid out in folders name their classes by the old
# module paths; they load as the same classes, at their new homes.
MOVED_MODULES: dict[str, str] = {
    "energy_core.detector": "energy_core.detection.isolation_forest",
    "energy_core.fastforest": "energy_core.detection.fastforest",
    "energy_core.temporal": "energy_core.detection.temporal",
    "energy_core.baseline": "energy_core.detection.baseline",
    "energy_core.detectors": "energy_core.detection.registry",
}


def _renamed(type_name: str) -> str:
    module, _, name = type_name.rpartition(".")
    return f"{MOVED_MODULES.get(module, module)}.{name}"


def _alias_moved_modules() -> None:
    """Let skops import the old module paths a stored model names (as the new modules)."""
    for old, new in MOVED_MODULES.items():
        if old not in sys.modules:
            sys.modules[old] = importlib.import_module(new)


class UntrustedModelError(ValueError):
    """A stored model holds types outside the trusted list; it was not loaded."""

    def __init__(self, untrusted: Iterable[str], source: str = "stored model") -> None:
        self.untrusted = tuple(sorted(untrusted))
        super().__init__(
            f"refusing to load {source}: it holds untrusted type(s) {', '.join(self.untrusted)}"
            f" (trusted: {', '.join(TRUSTED_TYPES)} and skops' defaults)"
        )


def dump_detector(detector: Detector) -> bytes:
    """``detector`` serialised with skops."""
    return bytes(skops.io.dumps(detector))


def load_detector(
    payload: bytes, *, trusted: Iterable[str] = TRUSTED_TYPES, source: str = "stored model"
) -> Detector:
    """The detector in ``payload``; :class:`UntrustedModelError` if it holds other types."""
    allowed = tuple(trusted)
    named = skops.io.get_untrusted_types(data=payload)
    untrusted = [name for name in named if _renamed(name) not in allowed]
    if untrusted:
        raise UntrustedModelError(untrusted, source)
    if any(_renamed(name) != name for name in named):
        _alias_moved_modules()
    detector = skops.io.loads(payload, trusted=list(allowed) + list(named))
    if not isinstance(detector, Detector):
        raise UntrustedModelError([type(detector).__qualname__], source)
    return detector
