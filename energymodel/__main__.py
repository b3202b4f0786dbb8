"""``python -m energymodel``: the command line."""

from .cli import main

main()
