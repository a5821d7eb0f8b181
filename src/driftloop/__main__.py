"""``python -m driftloop``: the same as the ``driftloop`` command."""

from .cli import main

main()
