"""The language the command line writes its messages in, and those messages from ``i18n``.

The global ``--lang`` of ``smartenergy`` wins, else ``ENERGY_LANGUAGE`` (environment or
``.env``), else Spanish — the dashboard's own setting. ``--help`` stays English and ``--json``
output is the same in both languages.
"""

from __future__ import annotations

from contextvars import ContextVar

import typer
from pydantic_settings import BaseSettings

from energy_core.telemetry.catalogue import Language
from energy_ui import i18n
from energy_ui.settings import Settings

# Set by the main command's callback for one invocation (typer's own click keeps its current
# context to itself); a command run without it (a sub-app alone, in tests) reads the setting.
_given: ContextVar[Language | None] = ContextVar("smartenergy_lang", default=None)
_found: ContextVar[Language | None] = ContextVar("smartenergy_language", default=None)


class _LanguageOnly(BaseSettings):
    """``ENERGY_LANGUAGE`` alone: the language of an error about another bad setting."""

    model_config = Settings.model_config
    language: Language = "es"


def _setting() -> Language:
    try:
        return Settings().language
    except ValueError:  # another ENERGY_* value is bad: the command reports that one
        try:
            return _LanguageOnly().language
        except ValueError:
            return "es"


def choose(language: Language | None, context: typer.Context) -> None:
    """The language of this invocation, until ``context`` closes: ``language`` (``--lang``),
    else the setting."""
    given = _given.set(language)
    found = _found.set(language or _setting())

    def forget() -> None:
        _found.reset(found)
        _given.reset(given)

    context.call_on_close(forget)


def chosen() -> Language | None:
    """The ``--lang`` of this invocation, if one was given."""
    return _given.get()


def language() -> Language:
    """``--lang``, else the setting ``ENERGY_LANGUAGE``, else Spanish."""
    return _found.get() or _setting()


def say(key: str, **values: object) -> str:
    """The catalogue's text of ``key`` in the command line's language, ``values`` filled in."""
    return i18n.text(key, language(), **values)


def number(value: float, decimals: int = 0) -> str:
    """``value`` with thousands separators as the command line's language writes numbers."""
    return i18n.number(value, language(), decimals)
