"""`python -m azuresim` entry point."""

from __future__ import annotations

from azuresim.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
