"""The public labelled data sets the detection docs use: where they come from, how they are
checked, and where they are kept.

Each data set is pinned to one commit of its public repository, and every file to its SHA-256,
so that the figures in docs/detection.md can be reproduced on exactly the same bytes. Files are
stored in the data folder (``./data`` by default, ``ENERGY_DATA_DIR``) laid out as
``<data set>/<path>``; this is also the layout of ``../shared/data``, which is read when the data
folder lacks a data set.

Downloads go to a temporary file beside the target, are verified, then renamed over it: a file
in the data folder is either absent or one whose digest was checked. ``base_url`` (setting
``ENERGY_DATASETS_BASE_URL``) replaces the public sources with a mirror laid out like the data
folder (``http://``, ``https://`` or ``file://``), e.g. an offline copy.
"""

from __future__ import annotations

import glob
import hashlib
import http.client
import json
import os
import secrets
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal
from urllib.parse import urlsplit

GITHUB_RAW = "https://raw.githubusercontent.com"
"""Where the public sources are read from: ``<owner>/<repo>/<commit>/<path>`` below it."""
FALLBACK_DATA_DIR = Path("../shared/data")
"""Read when the data folder lacks a data set (relative to the working directory)."""
TIMEOUT_S = 60.0
CHUNK = 1 << 16


class DatasetError(Exception):
    """A data set could not be fetched or checked; the message names the file and the URL."""


@dataclass(frozen=True, slots=True)
class DataFile:
    """One file of a data set.

    ``path`` is where it is stored, below the data set's folder; ``source`` where it comes from,
    below ``GITHUB_RAW`` (owner/repo/commit/path). A derived file is made from its source by
    ``derive`` (deterministic), after checking the source against ``source_sha256``.
    """

    path: str
    source: str
    sha256: str
    source_sha256: str | None = None
    derive: Callable[[bytes], bytes] | None = None


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    title: str
    repository: str
    commit: str
    license: str
    files: tuple[DataFile, ...] = field(repr=False)

    @property
    def homepage(self) -> str:
        return f"https://github.com/{self.repository}/tree/{self.commit}"


FileState = Literal["ok", "missing", "modified"]
Outcome = Literal["downloaded", "present", "replaced"]


@dataclass(frozen=True, slots=True)
class Fetched:
    """What ``fetch`` did with one file."""

    dataset: str
    path: Path
    outcome: Outcome
    size: int


# --- the catalogue ---------------------------------------------------------------------------
SKAB_COMMIT = "b2c0d46c2971dcbfe71e26087b6d231998bb91c2"
NAB_COMMIT = "ea702d75cc2258d9d7dd35ca8e5e2539d71f3140"

_VALVE1 = {
    "0": "16af3f71313a23dd33d9b7b8065d836d05c3f9257588881cc7fbe07c076d9dc8",
    "1": "fe4493bf805baef4e6dfb864094275d8cc2ea80a16b3735e2752b18b6aefd812",
    "2": "90492413469261886c8896c327241448df5da73fd7739cabfec8dd82de3c0ce4",
    "3": "cb6afea108eddfd8447307e405f86bbb764b8d8e9130d7849a46e1303e19b8b2",
    "4": "983aed9dc09991a57911091373c580e1b86d06aa983cd51678f108fd8d709654",
    "5": "78974991ec87b7f9b9b6b2944f4b525468a9beb36c59b06cd7650d9a15eca14a",
    "6": "97469c0e0c9c0e0ee5d30794f1f36c6785df5816a112a8b16c59637e8c894685",
    "7": "ca2c9c6d6fa302c642acec6fbedac495bd12fececeee0a755d45a54e340e0f30",
    "8": "0c4afb92248b5b35b4c9d734a91ed8318346901f04579074903730569e60416c",
    "9": "2aa1ae1b2ff505caecda24802b877dc686924bbbeeb7e7db4faa261efb5ed5bd",
    "10": "ee16be8e4b870c779491e3d1dc9e0ecbfaf29eb013e032abff7a33f2cbbfe2ad",
    "11": "89660fae4ed5c918db014409bbbc29f498fd99c7e956fab2620d18dea700a973",
    "12": "90adfa9bc86d4556e6a4ce734436fd5685af79c189cd9828f8df75a7f468ce07",
    "13": "d6cb6a97437215d3066a87e1fcc5fa4e68017629c043c5315920e3cf1060841c",
    "14": "5f0bb9bc33c5e6c259263e32e25915c4d24c82b0a94554d48808626da05c1d71",
    "15": "75cc86ab25d7091eee024739fa06d048753480d5d7d1507077231cab4f1b7a7e",
}


def _skab(path: str, sha256: str) -> DataFile:
    return DataFile(path, f"waico/SKAB/{SKAB_COMMIT}/{path}", sha256)


SKAB = Dataset(
    name="skab",
    title="Skoltech Anomaly Benchmark: valve1 runs and the anomaly-free run",
    repository="waico/SKAB",
    commit=SKAB_COMMIT,
    license="GPL-3.0",
    files=(
        _skab("LICENSE", "3972dc9744f6499f0f9b2dbf76696f2ae7ad8af9b23dde66d6af86c9dfb36986"),
        *(
            DataFile(f"valve1/{n}.csv", f"waico/SKAB/{SKAB_COMMIT}/data/valve1/{n}.csv", digest)
            for n, digest in _VALVE1.items()
        ),
        DataFile(
            "anomaly-free/anomaly-free.csv",
            f"waico/SKAB/{SKAB_COMMIT}/data/anomaly-free/anomaly-free.csv",
            "7641a8742957100ef424dd97adfb3eeab27d4d180645fe2b3c49b7f7146ae9a6",
        ),
    ),
)

NAB_SERIES: dict[str, tuple[str, str]] = {
    # file: (NAB's data folder, SHA-256)
    "machine_temperature_system_failure.csv": (
        "realKnownCause",
        "92bf5b87fc7f9bba8ca0b7ec63ccaac8cb4a1371a258e8c29a10ae9c018d82a4",
    ),
    "ambient_temperature_system_failure.csv": (
        "realKnownCause",
        "230b68ccca20f59d562afd5d24ad52939c9b784386bed0054018358bf9120581",
    ),
    "rogue_agent_key_hold.csv": (
        "realKnownCause",
        "47b110baa8e3636574c1033dda1cce780873647fab58223d159d4fee6f180e86",
    ),
    "rogue_agent_key_updown.csv": (
        "realKnownCause",
        "9797cfef477c13306f7a33874ab4d6cf700f8f2c7e5825a2a5bc02004370909a",
    ),
    "ec2_cpu_utilization_5f5533.csv": (
        "realAWSCloudwatch",
        "01613e6f632d067f11a5dfd40a188b0789752b388d9bc77a398bd06333878a76",
    ),
    "rds_cpu_utilization_e47b3b.csv": (
        "realAWSCloudwatch",
        "6b712b922ab3b3404c5a629d64a570c390c99471ee8b9b0ff7665f553fda92c1",
    ),
    "elb_request_count_8c0756.csv": (
        "realAWSCloudwatch",
        "74c26574a01ca9fb89dddb5021e2e13c3a93eb25dc640438a9acb1ceb00f1021",
    ),
    "art_daily_flatmiddle.csv": (
        "artificialWithAnomaly",
        "ea5df125947e9ee2b977ac3d341f3c2a029588862af97cae4a654fc56e838702",
    ),
    "art_increase_spike_density.csv": (
        "artificialWithAnomaly",
        "0959d8871d5c1a3fc3120fb7421e4ef113fffb434af2889085b52aebdb69360c",
    ),
}


def nab_windows(combined: bytes) -> bytes:
    """``windows.json`` from NAB's ``labels/combined_windows.json``: the windows of the series
    in ``NAB_SERIES`` only, keyed by file name without NAB's folder, sorted, indented by 4 (the
    layout NAB itself uses), no final newline. ``DatasetError`` if a series is not there."""
    try:
        windows = json.loads(combined)
        chosen = {name: windows[f"{folder}/{name}"] for name, (folder, _) in NAB_SERIES.items()}
    except (ValueError, KeyError, TypeError) as error:
        raise DatasetError(
            f"NAB combined_windows.json: not the labels expected ({error})"
        ) from None
    return json.dumps(dict(sorted(chosen.items())), indent=4).encode("utf-8")


NAB = Dataset(
    name="nab",
    title="Numenta Anomaly Benchmark: known-cause, cloud and artificial series with windows",
    repository="numenta/NAB",
    commit=NAB_COMMIT,
    license="MIT",
    files=(
        DataFile(
            "LICENSE.txt",
            f"numenta/NAB/{NAB_COMMIT}/LICENSE.txt",
            "0a0b4d0b10cb1f7ed9ab2993ef93defc03447e6eba9daca1315dd32dae4877e3",
        ),
        *(
            DataFile(name, f"numenta/NAB/{NAB_COMMIT}/data/{folder}/{name}", digest)
            for name, (folder, digest) in NAB_SERIES.items()
        ),
        DataFile(
            "windows.json",
            f"numenta/NAB/{NAB_COMMIT}/labels/combined_windows.json",
            "497f42b78d91fd3f80f6197b1e2ab13b23d7c4b4f68befbdcd5b7c77f251d93e",
            source_sha256="1e1fbc4601321aad8d0f8b3784c8134299379f68f6c1f7777565f8ffd57ab6b1",
            derive=nab_windows,
        ),
    ),
)

DATASETS: dict[str, Dataset] = {dataset.name: dataset for dataset in (SKAB, NAB)}
"""Every data set ``smartenergy datasets`` knows, by name."""


def dataset(name: str) -> Dataset:
    """The data set called ``name``; ``KeyError`` names the known ones."""
    try:
        return DATASETS[name.lower()]
    except KeyError:
        raise KeyError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}") from None


# --- checking what is there --------------------------------------------------------------------
def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_state(root: Path, data: Dataset, file: DataFile) -> FileState:
    """Whether ``file`` of ``data`` is in the folder ``root`` (the data folder or a fallback)
    with its pinned digest."""
    path = root / data.name / file.path
    if not path.is_file():
        return "missing"
    return "ok" if sha256_of(path) == file.sha256 else "modified"


def states(root: Path, data: Dataset) -> dict[str, FileState]:
    """Each file's state, by its path in the data set."""
    return {file.path: file_state(root, data, file) for file in data.files}


def is_complete(root: Path, data: Dataset) -> bool:
    return all(state == "ok" for state in states(root, data).values())


def locate(
    data: Dataset, data_dir: Path, fallbacks: Sequence[Path] = (FALLBACK_DATA_DIR,)
) -> Path | None:
    """The folder holding every file of ``data``, verified: in the data folder, else in the
    first fallback that has it; ``None`` if none does."""
    for root in (data_dir, *fallbacks):
        if is_complete(root, data):
            return root / data.name
    return None


def resolve(
    argument: Path, data_dir: Path, fallbacks: Sequence[Path] = (FALLBACK_DATA_DIR,)
) -> list[Path]:
    """The files a command-line path names. A path that exists is itself. A missing path inside
    the data folder (``data/skab/valve1/0.csv``, or a pattern the shell left unexpanded,
    ``data/skab/valve1/*.csv``) is looked up, in the same place, in the fallback folders; the
    first that has it wins. Otherwise ``[argument]``, for the caller to report missing."""
    if argument.exists():
        return [argument]
    inside = _inside(argument, data_dir)
    if inside is None:
        return [argument]
    pattern = inside.as_posix()
    for root in (data_dir, *fallbacks):
        if glob.has_magic(pattern):
            matches = sorted(root.glob(pattern))
            if matches:
                return matches
        elif (root / inside).exists():
            return [root / inside]
    return [argument]


def missing_hint(argument: Path, data_dir: Path) -> str | None:
    """For a missing path inside the data folder that names a known data set: how to get it."""
    inside = _inside(argument, data_dir)
    if inside is None or not inside.parts or inside.parts[0] not in DATASETS:
        return None
    name = inside.parts[0]
    return f"the data set {name} is not in {data_dir}: `smartenergy datasets fetch {name}`"


def _inside(path: Path, folder: Path) -> Path | None:
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(folder))
    except ValueError:
        return None


# --- fetching ----------------------------------------------------------------------------------
def url_for(
    data: Dataset, file: DataFile, base_url: str | None = None, upstream: str = GITHUB_RAW
) -> str:
    """Where ``file`` is downloaded from: its pinned public source below ``upstream``, or
    ``base_url`` (a mirror laid out like the data folder: ``<base_url>/<data set>/<path>``,
    which serves derived files as they are stored)."""
    if base_url:
        return f"{base_url.rstrip('/')}/{data.name}/{file.path}"
    return f"{upstream.rstrip('/')}/{file.source}"


def fetch(
    data: Dataset,
    data_dir: Path,
    *,
    base_url: str | None = None,
    upstream: str = GITHUB_RAW,
    timeout: float = TIMEOUT_S,
    on_file: Callable[[Fetched], None] | None = None,
) -> list[Fetched]:
    """Download every file of ``data`` into ``data_dir/<name>`` and check its SHA-256.

    Files already there with their pinned digest are left alone; others are downloaded to a
    temporary file, verified, then renamed into place. ``DatasetError`` on the first file that
    cannot be downloaded or whose digest differs (that file is not kept). ``upstream`` replaces
    ``GITHUB_RAW`` (tests); ``base_url`` reads from a mirror laid out like the data folder.
    """
    if base_url:
        _check_scheme(base_url)
    _check_scheme(upstream)
    done: list[Fetched] = []
    for file in data.files:
        target = data_dir / data.name / file.path
        state = file_state(data_dir, data, file)
        if state == "ok":
            result = Fetched(data.name, target, "present", target.stat().st_size)
        else:
            size = _fetch_file(data, file, target, base_url, upstream, timeout)
            outcome: Outcome = "replaced" if state == "modified" else "downloaded"
            result = Fetched(data.name, target, outcome, size)
        done.append(result)
        if on_file is not None:
            on_file(result)
    return done


def fetch_all(
    names: Iterable[str], data_dir: Path, *, base_url: str | None = None
) -> list[Fetched]:
    """``fetch`` each named data set in turn."""
    chosen = [dataset(name) for name in names]
    return [item for data in chosen for item in fetch(data, data_dir, base_url=base_url)]


def _fetch_file(
    data: Dataset,
    file: DataFile,
    target: Path,
    base_url: str | None,
    upstream: str,
    timeout: float,
) -> int:
    label = f"{data.name}/{file.path}"
    url = url_for(data, file, base_url, upstream)
    if file.derive is None or base_url:
        with _atomic(target) as stream:
            digest, size = _download(url, stream, timeout)
            _check(label, url, digest, file.sha256)
        return size
    # Derived: check the source as published, then what is made from it.
    with tempfile.TemporaryFile() as raw:
        source_digest, _ = _download(url, raw, timeout)
        _check(f"{label} (its source)", url, source_digest, file.source_sha256 or "")
        raw.seek(0)
        content = file.derive(raw.read())
    with _atomic(target) as stream:
        stream.write(content)
        _check(label, url, hashlib.sha256(content).hexdigest(), file.sha256)
    return len(content)


def _check(label: str, url: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise DatasetError(
            f"{label}: SHA-256 {actual} differs from the pinned {expected} (from {url}); not kept"
        )


def _check_scheme(url: str) -> None:
    if urlsplit(url).scheme not in ("http", "https", "file"):
        raise DatasetError(f"{url}: not an http://, https:// or file:// URL")


@contextmanager
def _atomic(target: Path) -> Iterator[BinaryIO]:
    """A temporary file beside ``target``, renamed over it on success and removed on any
    failure (a refused digest, a lost connection, Ctrl-C)."""
    temporary = target.parent / f".{target.name}.{secrets.token_hex(4)}.part"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # os.open rather than mkstemp: the file gets the umask's usual mode, not 0600.
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise DatasetError(f"cannot write in {target.parent}: {error}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
        os.replace(temporary, target)
    except OSError as error:
        raise DatasetError(f"cannot write {target}: {error}") from None
    finally:
        temporary.unlink(missing_ok=True)


def _download(url: str, into: BinaryIO, timeout: float) -> tuple[str, int]:
    """Stream ``url`` into ``into``; its SHA-256 and size."""
    digest, size = hashlib.sha256(), 0
    request = urllib.request.Request(url, headers={"User-Agent": "smartenergy-datasets"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
                _write(into, chunk, url)
    except urllib.error.HTTPError as error:
        raise DatasetError(f"cannot download {url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise DatasetError(f"cannot download {url}: {error.reason}") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
        raise DatasetError(f"cannot download {url}: {error or type(error).__name__}") from None
    return digest.hexdigest(), size


def _write(into: BinaryIO, chunk: bytes, url: str) -> None:
    try:
        into.write(chunk)
    except OSError as error:
        raise DatasetError(f"cannot store {url}: {error}") from None
