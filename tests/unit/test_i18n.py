"""The dashboard's text catalogue: complete in both languages, numbers written per language."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import energy_ui
from energy_core.detection.temporal import VIEWS
from energy_ui.i18n import LANGUAGES, TEXTS, VIEW_TEXT, explanation, number, signed, text


def test_every_text_exists_in_spanish_and_english_with_the_same_placeholders():
    for key, versions in TEXTS.items():
        assert set(versions) == set(LANGUAGES), key
        fields = {
            language: {name for _, name, _, _ in string.Formatter().parse(value) if name}
            for language, value in versions.items()
        }
        assert fields["es"] == fields["en"], key


def test_numbers_follow_the_language():
    assert (number(10_000, "es"), number(10_000, "en")) == ("10.000", "10,000")
    assert (number(11.54, "es", 1), number(11.54, "en", 1)) == ("11,5", "11.5")
    assert (signed(0.3, "es"), signed(-0.3, "en"), signed(-0.01, "es")) == ("+0,3", "−0.3", "0,0")
    assert text("status.delta", "en", delta="+1.0") == "+1.0 pp vs. previous"


def test_every_text_key_the_dashboard_uses_exists():
    key = re.compile(r"[a-z_]+\.[a-z_]+")
    prefixes = {name.split(".")[0] for name in TEXTS}
    used = set()
    for path in Path(energy_ui.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and key.fullmatch(value) and value.split(".")[0] in prefixes:
                used.add(value)
    assert used - set(TEXTS) == set()


def test_the_dashboard_never_renders_html():
    for path in Path(energy_ui.__file__).parent.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "ui.html(" not in source and "ui.markdown(" not in source, path.name


def test_every_text_of_the_command_line_is_used_by_it():
    used = set()
    for path in Path(energy_ui.__file__).parent.glob("cli*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                used.add(node.value)
    assert {key for key in TEXTS if key.startswith("cli.")} - used == set()


def test_every_view_a_detector_names_has_words_in_both_languages():
    assert set(VIEW_TEXT) == set(VIEWS)
    assert all(VIEW_TEXT[view] in TEXTS for view in VIEWS)
    assert explanation("stuck", ("voltage",), "en") == "value stuck: Voltage"
    assert explanation("point", (), "es") == "salto brusco"
    assert explanation(None, ("voltage", "current"), "es") == "Voltaje, Corriente"
    assert explanation("new_view", ("not_a_variable",), "en") == "new_view: not_a_variable"
