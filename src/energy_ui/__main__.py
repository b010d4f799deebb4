"""`python -m energy_ui`: serve the dashboard (the in-memory demo without `DATABASE_URL`)."""

from __future__ import annotations

from energy_ui.dashboard import serve


def main() -> None:
    serve()


if __name__ in {"__main__", "__mp_main__"}:
    main()
