"""``ModelStore`` on the filesystem: one skops file and one JSON metadata file per version.

``models/model-0007.skops`` holds the detector, ``models/model-0007.json`` its
``ModelInfo``. A version is visible once its JSON exists; the JSON is written last and
atomically, so readers never see half a model. Several processes may save at once: each
claims its version by creating the ``.skops`` file exclusively.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from energy_adapters.model_codec import FORMAT, dump_detector, load_detector
from energy_core.detection.protocol import Detector
from energy_core.ports import ModelInfo

DEFAULT_DIRECTORY = Path("models")
_NAME = re.compile(r"^model-(\d+)\.json$")


def info_to_json(info: ModelInfo) -> dict[str, Any]:
    return {
        "version": info.version,
        "trained_at": info.trained_at.isoformat(),
        "rows": info.rows,
        "features": list(info.features),
        "contamination": info.contamination,
        "threshold": info.threshold,
        "detector": info.detector,
        "evaluation": dict(info.evaluation),
        "meter_factors": dict(info.meter_factors),
        "format": FORMAT,
    }


def info_from_json(data: dict[str, Any]) -> ModelInfo:
    return ModelInfo(
        trained_at=datetime.fromisoformat(data["trained_at"]),
        rows=int(data["rows"]),
        features=tuple(data["features"]),
        contamination=str(data["contamination"]),
        threshold=float(data["threshold"]),
        detector=str(data["detector"]),
        evaluation={str(key): float(value) for key, value in data["evaluation"].items()},
        version=int(data["version"]),
        # Models stored before meters were calibrated have none: every meter keeps factor 1.
        meter_factors={
            str(meter): float(factor) for meter, factor in data.get("meter_factors", {}).items()
        },
    )


class FileModelStore:
    """Models under ``directory`` (``models/`` by default, created on first save)."""

    def __init__(self, directory: str | os.PathLike[str] = DEFAULT_DIRECTORY) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()

    def _paths(self, version: int) -> tuple[Path, Path]:
        stem = self.directory / f"model-{version:04d}"
        return stem.with_suffix(".skops"), stem.with_suffix(".json")

    def _complete_versions(self) -> list[int]:
        if not self.directory.is_dir():
            return []
        found = (_NAME.match(path.name) for path in self.directory.iterdir())
        return sorted(int(match.group(1)) for match in found if match)

    def save(self, detector: Detector, info: ModelInfo) -> ModelInfo:
        payload = dump_detector(detector)
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock:
            version = max(self._claimed_versions(), default=0) + 1
            while True:
                model_path, info_path = self._paths(version)
                try:
                    with model_path.open("xb") as claimed:
                        claimed.write(payload)
                    break
                except FileExistsError:  # another process claimed it first
                    version += 1
            stored = replace(info, version=version)
            self._write_atomically(info_path, json.dumps(info_to_json(stored), indent=2))
        return stored

    def _claimed_versions(self) -> list[int]:
        pattern = re.compile(r"^model-(\d+)\.(?:json|skops)$")
        found = (pattern.match(path.name) for path in self.directory.iterdir())
        return [int(match.group(1)) for match in found if match]

    @staticmethod
    def _write_atomically(path: Path, content: str) -> None:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(content)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def latest_version(self) -> int | None:
        versions = self._complete_versions()
        return versions[-1] if versions else None

    def info(self, version: int | None = None) -> ModelInfo | None:
        if version is None:
            version = self.latest_version()
            if version is None:
                return None
        info_path = self._paths(version)[1]
        try:
            return info_from_json(json.loads(info_path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None

    def load(self, version: int | None = None) -> tuple[Detector, ModelInfo] | None:
        info = self.info(version)
        if info is None or info.version is None:
            return None
        model_path = self._paths(info.version)[0]
        detector = load_detector(model_path.read_bytes(), source=str(model_path))
        return detector, info

    def versions(self) -> list[ModelInfo]:
        found = (self.info(version) for version in self._complete_versions())
        return [info for info in found if info is not None]
