"""``python -m stack.endpoint``: run the local AWS endpoint in the foreground."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from stack.endpoint.config import LocalEndpointConfig
from stack.endpoint.server import serve_forever


def parse_args(argv: list[str]) -> LocalEndpointConfig:
    parser = argparse.ArgumentParser(prog="python -m stack.endpoint", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--processor-quota", type=int, default=10)
    parser.add_argument("--mqtt-host", default="127.0.0.1")
    parser.add_argument("--acl-file", type=Path)
    parser.add_argument("--broker-pid-file", type=Path)
    parser.add_argument("--broker-port", type=int, help="the broker's port, for its admin identity")
    parser.add_argument("--broker-admin-cert", type=Path)
    parser.add_argument("--broker-admin-key", type=Path)
    parser.add_argument(
        "--fragment-root",
        type=Path,
        help="the local fragment store: stream processor sessions analyse its video",
    )
    parser.add_argument(
        "--no-streaming-video",
        dest="streaming_video",
        action="store_false",
        help="play an account without Rekognition Streaming Video: CreateStreamProcessor is "
        "refused (AccessDeniedException)",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return LocalEndpointConfig(
        host=args.host,
        port=args.port,
        state_dir=args.state_dir,
        processor_quota=args.processor_quota,
        mqtt_host=args.mqtt_host,
        acl_file=args.acl_file,
        broker_pid_file=args.broker_pid_file,
        broker_port=args.broker_port,
        broker_admin_cert=args.broker_admin_cert,
        broker_admin_key=args.broker_admin_key,
        fragment_root=args.fragment_root,
        streaming_video=args.streaming_video,
    )


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse_args(sys.argv[1:] if argv is None else argv)
    except ValidationError as err:
        logging.getLogger(__name__).error("invalid configuration: %s", err)
        return 2
    serve_forever(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
