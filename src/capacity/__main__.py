"""Run the CLI as ``python -m capacity``."""

from capacity.cli import main

main()
