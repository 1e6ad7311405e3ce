"""``python -m imgrad``: the same command line as ``imgrad``."""

from imgrad.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
