"""The data set downloader, offline: a local HTTP server plays the public sources (or a mirror)
with the exact files of the shared data folder."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import socket
from pathlib import Path

import pytest

import tests.shared_data as shared_data_module
from energy_ui.datasets import (
    DATASETS,
    GITHUB_RAW,
    NAB,
    NAB_SERIES,
    SKAB,
    DatasetError,
    fetch,
    is_complete,
    locate,
    missing_hint,
    nab_windows,
    resolve,
    states,
    url_for,
)
from tests.shared_data import find, serve_folder, shared_data

HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def copy_tree(source: Path, target: Path) -> None:
    """Copy the files below ``source`` (the shared copies are read-only; these are not)."""
    for path in source.rglob("*"):
        if path.is_file():
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(path.read_bytes())


def combined_windows(windows: dict[str, list[list[str]]]) -> bytes:
    """A stand-in for NAB's labels/combined_windows.json: the same windows under NAB's folder
    names, among other series, in NAB's layout (sorted keys, indent 4)."""
    combined: dict[str, list[list[str]]] = {
        f"{NAB_SERIES[name][0]}/{name}": spans for name, spans in windows.items()
    }
    combined["realKnownCause/nyc_taxi.csv"] = [
        ["2014-11-01 19:22:30.000000", "2014-11-02 12:22:30"]
    ]
    combined["artificialNoAnomaly/art_flatline.csv"] = []
    return json.dumps(combined, indent=4, sort_keys=True).encode()


def upstream_layout(root: Path, shared: Path) -> Path:
    """``root`` laid out as the public sources (owner/repo/commit/path), from the shared copies;
    NAB's combined windows as ``combined_windows`` makes them."""
    for data in DATASETS.values():
        for file in data.files:
            target = root / file.source
            target.parent.mkdir(parents=True, exist_ok=True)
            if file.derive is None:
                target.write_bytes((shared / data.name / file.path).read_bytes())
            else:
                windows = json.loads((shared / data.name / file.path).read_bytes())
                target.write_bytes(combined_windows(windows))
    return root


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.part"))


@pytest.fixture(scope="module")
def shared() -> Path:
    return shared_data()


# --- the catalogue -----------------------------------------------------------------------------
def test_every_file_comes_from_its_data_sets_repository_at_a_full_commit_with_a_sha256():
    for data in DATASETS.values():
        assert HEX40.match(data.commit)
        assert data.homepage == f"https://github.com/{data.repository}/tree/{data.commit}"
        paths = [file.path for file in data.files]
        assert len(paths) == len(set(paths))
        for file in data.files:
            assert file.source.startswith(f"{data.repository}/{data.commit}/")
            assert HEX64.match(file.sha256)
            assert url_for(data, file) == f"{GITHUB_RAW}/{file.source}"


def test_the_catalogue_holds_skab_and_nab_with_their_licences_and_never_lead():
    assert list(DATASETS) == ["skab", "nab"]
    assert "LICENSE" in {file.path for file in SKAB.files}
    assert "LICENSE.txt" in {file.path for file in NAB.files}
    assert len([file for file in SKAB.files if file.path.startswith("valve1/")]) == 16
    everything = json.dumps([dataclasses.asdict(d) for d in DATASETS.values()], default=str)
    assert "lead" not in everything.lower()


def test_nab_windows_json_is_made_from_the_combined_labels_byte_for_byte(shared):
    stored = (shared / "nab" / "windows.json").read_bytes()
    made = nab_windows(combined_windows(json.loads(stored)))
    assert stored == made
    assert hashlib.sha256(made).hexdigest() == NAB.files[-1].sha256


def test_nab_windows_refuses_labels_that_lack_a_series():
    with pytest.raises(DatasetError, match=r"combined_windows\.json"):
        nab_windows(b'{"realKnownCause/nyc_taxi.csv": []}')
    with pytest.raises(DatasetError, match=r"combined_windows\.json"):
        nab_windows(b"not json")


# --- fetching ----------------------------------------------------------------------------------
def test_fetch_from_a_mirror_stores_every_file_verified_in_the_data_folder_layout(shared, tmp_path):
    data_dir = tmp_path / "data"
    with serve_folder(shared) as base_url:
        done = fetch(SKAB, data_dir, base_url=base_url) + fetch(NAB, data_dir, base_url=base_url)
    assert {item.outcome for item in done} == {"downloaded"}
    assert len(done) == len(SKAB.files) + len(NAB.files)
    assert is_complete(data_dir, SKAB) and is_complete(data_dir, NAB)
    for item in done:
        relative = item.path.relative_to(data_dir)
        assert item.path.read_bytes() == (shared / relative).read_bytes()
        assert item.size == item.path.stat().st_size
    assert sorted(p.name for p in data_dir.iterdir()) == ["nab", "skab"]  # never lead
    assert leftovers(data_dir) == []


def test_fetch_again_keeps_the_verified_files_and_replaces_a_modified_one(shared, tmp_path):
    data_dir = tmp_path / "data"
    with serve_folder(shared) as base_url:
        fetch(SKAB, data_dir, base_url=base_url)
        licence = data_dir / "skab" / "LICENSE"
        licence.write_text("edited by hand")
        assert states(data_dir, SKAB)["LICENSE"] == "modified"
        again = fetch(SKAB, data_dir, base_url=base_url)
    outcomes = {item.path.relative_to(data_dir / "skab").as_posix(): item.outcome for item in again}
    assert outcomes.pop("LICENSE") == "replaced"
    assert set(outcomes.values()) == {"present"}
    assert licence.read_bytes() == (shared / "skab" / "LICENSE").read_bytes()


def test_fetch_from_the_public_layout_checks_the_source_then_derives_windows_json(shared, tmp_path):
    upstream = upstream_layout(tmp_path / "upstream", shared)
    combined = upstream / NAB.files[-1].source
    # The stand-in combined file is not NAB's real one: pin its digest for this test.
    windows = dataclasses.replace(
        NAB.files[-1], source_sha256=hashlib.sha256(combined.read_bytes()).hexdigest()
    )
    nab = dataclasses.replace(NAB, files=(*NAB.files[:-1], windows))
    data_dir = tmp_path / "data"
    with serve_folder(upstream) as base:
        fetch(SKAB, data_dir, upstream=base)
        fetch(nab, data_dir, upstream=base)
    assert is_complete(data_dir, SKAB) and is_complete(data_dir, NAB)
    assert (data_dir / "nab" / "windows.json").read_bytes() == (
        shared / "nab" / "windows.json"
    ).read_bytes()


def test_a_derived_file_whose_source_differs_from_the_pinned_one_is_refused(shared, tmp_path):
    upstream = upstream_layout(tmp_path / "upstream", shared)
    data_dir = tmp_path / "data"
    with serve_folder(upstream) as base, pytest.raises(DatasetError) as refused:
        fetch(NAB, data_dir, upstream=base)
    assert "nab/windows.json (its source)" in str(refused.value)
    assert "combined_windows.json" in str(refused.value)
    assert not (data_dir / "nab" / "windows.json").exists()
    assert leftovers(data_dir) == []


def test_a_corrupted_download_is_refused_named_and_not_kept(shared, tmp_path):
    mirror = tmp_path / "mirror"
    copy_tree(shared / "skab", mirror / "skab")
    corrupted = mirror / "skab" / "valve1" / "3.csv"
    content = bytearray(corrupted.read_bytes())
    content[100] ^= 1
    corrupted.write_bytes(bytes(content))
    data_dir = tmp_path / "data"
    with serve_folder(mirror) as base_url, pytest.raises(DatasetError) as refused:
        fetch(SKAB, data_dir, base_url=base_url)
    message = str(refused.value)
    assert message.startswith("skab/valve1/3.csv: SHA-256 ")
    assert hashlib.sha256(content).hexdigest() in message
    assert "/skab/valve1/3.csv" in message  # the URL
    assert "not kept" in message
    assert not (data_dir / "skab" / "valve1" / "3.csv").exists()
    assert leftovers(data_dir) == []
    assert states(data_dir, SKAB)["valve1/2.csv"] == "ok"  # files before it stay, verified


def test_an_unreachable_server_is_a_clear_error_naming_the_url(tmp_path):
    base_url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(DatasetError) as refused:
        fetch(SKAB, tmp_path / "data", base_url=base_url, timeout=5)
    assert str(refused.value).startswith(f"cannot download {base_url}/skab/LICENSE: ")
    assert "refused" in str(refused.value).lower()
    assert leftovers(tmp_path) == []


def test_a_file_the_server_lacks_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with serve_folder(tmp_path / "empty") as base_url, pytest.raises(DatasetError) as refused:
        fetch(NAB, tmp_path / "data", base_url=base_url)
    assert (
        str(refused.value) == f"cannot download {base_url}/nab/LICENSE.txt: HTTP 404 File not found"
    )


def test_a_mirror_can_be_a_local_folder(shared, tmp_path):
    done = fetch(NAB, tmp_path / "data", base_url=shared.resolve().as_uri())
    assert len(done) == len(NAB.files)
    assert is_complete(tmp_path / "data", NAB)


def test_only_http_https_and_file_urls_are_accepted(tmp_path):
    with pytest.raises(DatasetError, match="not an http://, https:// or file:// URL"):
        fetch(SKAB, tmp_path, base_url="ftp://127.0.0.1/data")


# --- finding what is there ---------------------------------------------------------------------
def test_states_say_which_files_are_missing_or_modified(shared, tmp_path):
    copy_tree(shared / "nab", tmp_path / "nab")
    (tmp_path / "nab" / "windows.json").unlink()
    (tmp_path / "nab" / "LICENSE.txt").write_text("x")
    found = states(tmp_path, NAB)
    assert found["windows.json"] == "missing"
    assert found["LICENSE.txt"] == "modified"
    assert {found[name] for name in NAB_SERIES} == {"ok"}
    assert not is_complete(tmp_path, NAB)


def test_locate_prefers_the_data_folder_then_a_complete_fallback(shared, tmp_path):
    data_dir = tmp_path / "data"
    assert locate(NAB, data_dir, fallbacks=[shared]) == shared / "nab"
    copy_tree(shared / "nab", data_dir / "nab")
    assert locate(NAB, data_dir, fallbacks=[shared]) == data_dir / "nab"
    assert locate(NAB, tmp_path / "none", fallbacks=[tmp_path / "neither"]) is None


def test_resolve_finds_a_missing_data_folder_path_in_the_fallback(tmp_path):
    fallback = tmp_path / "shared"
    for name in ("0.csv", "1.csv", "10.csv"):
        (fallback / "skab" / "valve1").mkdir(parents=True, exist_ok=True)
        (fallback / "skab" / "valve1" / name).write_text("x")
    data_dir = tmp_path / "data"
    pattern = data_dir / "skab" / "valve1" / "*.csv"
    assert resolve(pattern, data_dir, [fallback]) == [
        fallback / "skab" / "valve1" / n for n in ("0.csv", "1.csv", "10.csv")
    ]
    one = data_dir / "skab" / "valve1" / "1.csv"
    assert resolve(one, data_dir, [fallback]) == [fallback / "skab" / "valve1" / "1.csv"]
    elsewhere = tmp_path / "other" / "1.csv"
    assert resolve(elsewhere, data_dir, [fallback]) == [elsewhere]
    assert missing_hint(data_dir / "nab" / "x.csv", data_dir) == (
        f"the data set nab is not in {data_dir}: `smartenergy datasets fetch nab`"
    )
    assert missing_hint(elsewhere, data_dir) is None


# --- the tests' own lookup -----------------------------------------------------------------------
def test_a_missing_data_set_fails_the_test_under_ci_and_skips_it_otherwise(tmp_path, monkeypatch):
    monkeypatch.setattr(shared_data_module, "_found", lambda name: find(name, [tmp_path]))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        shared_data_module.dataset_dir("skab")
    assert "smartenergy datasets fetch skab" in str(failed.value)
    assert "CI=true" in str(failed.value)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        shared_data_module.dataset_dir("skab")


def test_a_partly_present_data_set_is_reported_with_what_is_wrong(shared, tmp_path):
    copy_tree(shared / "skab", tmp_path / "skab")
    (tmp_path / "skab" / "valve1" / "4.csv").unlink()
    reason = find("skab", [tmp_path])
    assert isinstance(reason, str)
    assert "valve1/4.csv missing" in reason
    assert find("skab", [tmp_path, shared]) == shared / "skab"
