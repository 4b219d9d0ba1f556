"""``python -m qtheory``: the same as the ``qtheory`` command (see :mod:`qtheory.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
