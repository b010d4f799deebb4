"""Detectors to bytes and back with skops, trusting only the types listed here.

Stored models are never unpickled: skops rebuilds objects from a description and refuses
any type not trusted, so a tampered file cannot run code when loaded.
"""

from __future__ import annotations

from collections.abc import Iterable

import skops.io

from energy_core.detector import Detector

FORMAT = "skops"
# What an IsolationForestDetector holds beyond the types skops trusts by default
# (numpy arrays, scikit-learn estimators such as StandardScaler and IsolationForest).
# sklearn's Tree is listed because skops asks for it explicitly: it indexes its own node
# arrays without bounds checks, so a hostile file could crash the process. Our models
# come only from our own storage.
TRUSTED_TYPES: tuple[str, ...] = (
    "energy_core.detector.IsolationForestDetector",
    "energy_core.fastforest.CompiledForest",
    "energy_core.temporal.TemporalDetector",
    "energy_core.baseline.SkabIsolationForestDetector",
    "energy_core.detectors._PointDetector",
    "sklearn.tree._tree.Tree",
)


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
    untrusted = [name for name in skops.io.get_untrusted_types(data=payload) if name not in allowed]
    if untrusted:
        raise UntrustedModelError(untrusted, source)
    detector = skops.io.loads(payload, trusted=list(allowed))
    if not isinstance(detector, Detector):
        raise UntrustedModelError([type(detector).__qualname__], source)
    return detector
