"""An RTSP camera for tests: videotestsrc as H.264 behind basic auth (GstRtspServer).

Run by Debian's Python (`/usr/bin/python3 rtsp_server.py --port N`), which has python3-gi and
gir1.2-gst-rtsp-server-1.0; `user:password` comes on stdin, not on the command line. Prints
`READY rtsp://127.0.0.1:N/cam` once it listens, then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi  # type: ignore[import-not-found]

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # type: ignore[import-not-found]  # noqa: E402

ROLE = "camera-user"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pattern", default="ball")
    parser.add_argument("--fps", type=int, default=15)
    args = parser.parse_args()
    user, _, password = sys.stdin.readline().rstrip("\n").partition(":")

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( videotestsrc is-live=true pattern={args.pattern} "
        f"! video/x-raw,width=320,height=240,framerate={args.fps}/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast bitrate=300 key-int-max=15 "
        "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    factory.set_shared(True)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role(ROLE, "media.factory.access", True)
    permissions.add_permission_for_role(ROLE, "media.factory.construct", True)
    factory.set_permissions(permissions)
    server.get_mount_points().add_factory("/cam", factory)

    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", ROLE)
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)

    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1
    loop = GLib.MainLoop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, loop.quit)
    print(f"READY rtsp://127.0.0.1:{args.port}/cam", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
