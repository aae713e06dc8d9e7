"""`python -m pixseek.cli`: the `pixseek` command."""

from pixseek.cli import main

main()
