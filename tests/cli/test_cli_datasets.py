"""`smartenergy datasets list|fetch` end to end, offline: a local HTTP server serves the shared
data folder as the mirror (ENERGY_DATASETS_BASE_URL)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from energy_ui.cli import app
from energy_ui.datasets import NAB, SKAB
from tests.shared_data import serve_folder, shared_data

runner = CliRunner()


@pytest.fixture(autouse=True)
def working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # ./data is this test's own; no .env is read from the checkout
    for name in ("ENERGY_DATA_DIR", "ENERGY_DATASETS_BASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def mirror() -> Iterator[str]:
    with serve_folder(shared_data()) as base_url:
        yield base_url


def listed(*options: str) -> dict[str, dict]:
    result = runner.invoke(app, ["datasets", "list", "--json", *options])
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)["datasets"]}


def test_datasets_list_shows_both_data_sets_missing_from_an_empty_data_folder(monkeypatch):
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    rows = listed()
    assert rows["skab"]["state"] == rows["nab"]["state"] == "missing"
    assert rows["skab"]["verified"] == 0 and rows["skab"]["files"] == len(SKAB.files)
    assert rows["nab"]["license"] == "MIT" and rows["skab"]["license"] == "GPL-3.0"
    table = runner.invoke(app, ["datasets", "list"])
    assert table.exit_code == 0
    assert "skab" in table.stdout and "nab" in table.stdout
    assert "missing" in table.stdout


@pytest.mark.parametrize(
    ("setting", "arguments", "said", "not_said"),
    [
        ("es", [], ("ausente", "licencia"), ("missing", "license")),
        ("en", [], ("missing", "license"), ("ausente", "licencia")),
        ("es", ["--lang", "en"], ("missing", "license"), ("ausente", "licencia")),
        ("en", ["--lang", "es"], ("ausente", "licencia"), ("missing", "license")),
    ],
    ids=["es", "en", "--lang en over es", "--lang es over en"],
)
def test_datasets_list_speaks_the_language_of_the_setting_or_of_lang(
    monkeypatch, setting, arguments, said, not_said
):
    monkeypatch.setenv("ENERGY_LANGUAGE", setting)
    result = runner.invoke(app, [*arguments, "datasets", "list"])
    assert result.exit_code == 0, result.output
    assert [word for word in said if word not in result.stdout] == []
    assert [word for word in not_said if word in result.stdout] == []
    # What scripts read is the same in every language.
    as_json = runner.invoke(app, [*arguments, "datasets", "list", "--json"])
    assert json.loads(as_json.stdout)["datasets"][0]["state"] == "missing"


def test_datasets_fetch_downloads_verifies_and_list_then_shows_them_complete(monkeypatch, mirror):
    monkeypatch.setenv("ENERGY_DATASETS_BASE_URL", mirror)
    monkeypatch.setenv("ENERGY_LANGUAGE", "es")
    result = runner.invoke(app, ["datasets", "fetch", "skab", "nab"])
    assert result.exit_code == 0, result.output
    assert f"skab: {len(SKAB.files)} ficheros verificados (SHA-256)" in result.stdout
    assert f"nab: {len(NAB.files)} ficheros verificados" in result.stdout
    assert f"descargado: {Path('data', 'nab', 'windows.json')}" in result.stderr
    rows = listed()
    assert rows["skab"]["state"] == rows["nab"]["state"] == "complete"
    assert rows["nab"]["verified"] == len(NAB.files)
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    again = runner.invoke(app, ["datasets", "fetch", "nab"])
    assert again.exit_code == 0, again.output
    assert f"nab: {len(NAB.files)} files verified (SHA-256), 0 downloaded" in again.stdout


def test_the_fetched_data_is_what_evaluate_reads(monkeypatch, mirror):
    fetched = runner.invoke(app, ["datasets", "fetch", "nab", "--base-url", mirror])
    assert fetched.exit_code == 0, fetched.output
    result = runner.invoke(
        app,
        [
            "evaluate",
            "data/nab/rogue_agent_key_hold.csv",
            "--windows",
            "data/nab/windows.json",
            "--probation-fraction",
            "0.15",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["segments"] >= 1


def test_datasets_fetch_honours_the_data_dir_option_and_setting(monkeypatch, mirror, tmp_path):
    monkeypatch.setenv("ENERGY_DATASETS_BASE_URL", mirror)
    monkeypatch.setenv("ENERGY_DATA_DIR", str(tmp_path / "by-setting"))
    assert runner.invoke(app, ["datasets", "fetch", "nab"]).exit_code == 0
    assert (tmp_path / "by-setting" / "nab" / "windows.json").is_file()
    given = runner.invoke(app, ["datasets", "fetch", "nab", "--data-dir", "by-option"])
    assert given.exit_code == 0, given.output
    assert (tmp_path / "by-option" / "nab" / "windows.json").is_file()
    assert listed("--data-dir", "by-option")["nab"]["state"] == "complete"


@pytest.mark.parametrize("name", ["lead", "nope"])
def test_datasets_fetch_of_an_unknown_data_set_is_a_usage_error(name):
    result = runner.invoke(app, ["datasets", "fetch", name])
    assert result.exit_code == 2
    assert f"unknown data set {name!r}; known: skab, nab" in result.output
    assert not Path("data").exists()


def test_datasets_fetch_refuses_a_corrupted_file_naming_it(monkeypatch, tmp_path):
    served = tmp_path / "served" / "nab"
    for source in (shared_data() / "nab").iterdir():
        (served / source.name).parent.mkdir(parents=True, exist_ok=True)
        (served / source.name).write_bytes(source.read_bytes())
    (served / "windows.json").write_text("{}")
    with serve_folder(tmp_path / "served") as base_url:
        result = runner.invoke(app, ["datasets", "fetch", "nab", "--base-url", base_url])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("error: nab/windows.json: SHA-256 ")
    assert "not kept" in result.stderr
    assert not Path("data/nab/windows.json").exists()
    rows = listed()
    assert rows["nab"]["state"] == "partial"
    assert rows["nab"]["verified"] == len(NAB.files) - 1


def test_datasets_fetch_without_a_server_says_it_cannot_download():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = runner.invoke(
        app, ["datasets", "fetch", "skab", "--base-url", f"http://127.0.0.1:{port}"]
    )
    assert result.exit_code == 1
    assert f"error: cannot download http://127.0.0.1:{port}/skab/LICENSE" in result.stderr
    assert "Traceback" not in result.output


def test_datasets_list_names_a_modified_file(mirror, monkeypatch):
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    assert runner.invoke(app, ["datasets", "fetch", "skab", "--base-url", mirror]).exit_code == 0
    Path("data/skab/valve1/5.csv").write_text("datetime;anomaly\n")
    row = listed()["skab"]
    assert row["state"] == "partial"
    assert row["modified"] == ["valve1/5.csv"]
    assert "modified: valve1/5.csv" in runner.invoke(app, ["datasets", "list"]).stdout
