"""The shared frame of every dashboard page: styles, header, cards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nicegui import ui

# Static page assets (no data in them). The script only flips a class on <body> when the
# websocket drops or comes back, so the connection chip needs no server round trip.
HEAD = """
<style>
  body { background: #f1f5f9; }
  .se-card { border-radius: 14px; box-shadow: 0 1px 2px rgba(15, 23, 42, .06),
             0 1px 8px rgba(15, 23, 42, .05); border: 1px solid #e2e8f0; }
  .se-kpi-value { font-size: 1.7rem; font-weight: 700; line-height: 1.15; color: #0f172a; }
  .se-kpi-label { font-size: .78rem; letter-spacing: .02em; text-transform: uppercase;
                  color: #64748b; font-weight: 600; }
  .se-caption { font-size: .8rem; color: #64748b; }
  .se-section { font-size: .95rem; font-weight: 600; color: #0f172a; }
  .se-maintenance .q-item { padding-left: 0; padding-right: 0; }
  .se-maintenance .q-item__section--avatar { min-width: 32px; }
  .se-maintenance .q-item__section--avatar .q-icon { color: #64748b; font-size: 1.25rem; }
  .se-maintenance .q-item__label { font-weight: 600; color: #0f172a; }
  .se-upload .q-uploader__list { min-height: 0; padding: 4px 8px; }
  .se-upload { max-height: 10rem; }
  body.se-offline .se-online { display: none !important; }
  body:not(.se-offline) .se-offline-chip { display: none !important; }
  /* On a phone the header's chips keep their icon; the text stays for screen readers. */
  @media (max-width: 639.98px) {
    .se-chip .q-chip__content { position: absolute; width: 1px; height: 1px; overflow: hidden;
                                clip: rect(0 0 0 0); white-space: nowrap; }
    .se-chip .q-chip__icon { margin-right: 0; }
  }
</style>
<script>
(() => {
  const mark = (offline) => document.body.classList.toggle('se-offline', offline);
  const hook = () => {
    if (!window.socket) { setTimeout(hook, 50); return; }
    window.socket.on('connect', () => mark(false));
    window.socket.on('disconnect', () => mark(true));
    window.socket.io.on('reconnect_attempt', () => mark(true));
    mark(!window.socket.connected);
  };
  document.addEventListener('DOMContentLoaded', hook);
})();
</script>
"""


def add_head() -> None:
    """Add the dashboard's styles and connection script to the current page."""
    ui.add_head_html(HEAD)


@contextmanager
def card(title: str | None = None, *, classes: str = "") -> Iterator[ui.card]:
    """A white rounded card with an optional section title."""
    with ui.card().classes(f"se-card w-full gap-2 {classes}").props("flat") as element:
        if title:
            ui.label(title).classes("se-section")
        yield element


def kpi(label: str, value: str, *, marker: str, caption: str = "") -> tuple[ui.label, ui.label]:
    """A labelled big number; returns the value and caption labels to update later."""
    with ui.column().classes("gap-0 min-w-[9rem]"):
        ui.label(label).classes("se-kpi-label")
        value_label = ui.label(value).classes("se-kpi-value").mark(marker)
        caption_label = ui.label(caption).classes("se-caption")
    return value_label, caption_label


def table_texts(table: ui.table, language_text: str, empty_text: str) -> ui.table:
    """Quasar's own table texts from our catalogue, so they follow the language switch."""
    table.props["rows-per-page-label"] = language_text
    table.props["no-data-label"] = empty_text
    table.props[":pagination-label"] = "(first, last, total) => `${first}–${last} / ${total}`"
    return table
