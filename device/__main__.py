"""`python -m device --config agent.toml`: the agent without the `fleet` CLI (camera hosts)."""

import sys

# Memory on a camera host: pydantic imports `secrets`, which loads Python's OpenSSL binding
# (libcrypto, megabytes resident) though the agent hashes nothing with it: awscrt brings its own
# TLS. Without it, hashlib and hmac use the standard library's built-in hashes.
sys.modules.setdefault("_hashlib", None)  # type: ignore[arg-type]

import argparse  # noqa: E402
import logging  # noqa: E402
from pathlib import Path  # noqa: E402

from device.agent import run  # noqa: E402


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
