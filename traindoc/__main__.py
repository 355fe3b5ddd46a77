"""`python -m traindoc` and the `traindoc` command: check the packages, then run the CLI."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from traindoc._packages import ShadowedPackageError, check_packages

    try:  # before anything imports them (the CLI checks again for `python -m assistant`)
        check_packages()
    except ShadowedPackageError as exc:
        sys.stderr.write(f"traindoc: {exc.message}\n")
        return 2
    from assistant.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
