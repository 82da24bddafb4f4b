"""`python -m device --config agent.toml`: the agent without the `fleet` CLI (camera hosts)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from device.agent import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m device", description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="the bundle's agent.toml")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    return run(args.config)


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(main())
