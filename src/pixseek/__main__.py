"""The `pixseek` command (the console script's entry point) and `python -m pixseek`.

The CLI is imported when the command runs, not when this module is. On purpose: multiprocessing's
spawn re-runs the parent's main script in every process it starts (as `__mp_main__`, so that what it
defines can be unpickled there), and the console script's only top-level statement is the import of
its entry point. Pointed at `pixseek.cli:main`, every analysis worker (and every web worker of
`pixseek serve --web-workers N`) imported typer, rich, the search engine and the store before its
first file (~0.15 s of CPU each, more than a second of wall time on a busy box), none of which it
uses; pointed here, it imports this module only. (`python -m pixseek` and `python -m pixseek.cli`
run a `__main__` module, which spawn never re-runs.)
"""

from __future__ import annotations


def main() -> None:
    from pixseek.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
