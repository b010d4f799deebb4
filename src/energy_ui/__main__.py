"""`python -m energy_ui [command]`: the command line; with no command, the dashboard."""

from energy_ui.cli import main

if __name__ == "__main__":
    main()
