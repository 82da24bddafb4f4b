"""`gst-launch-1.0 -m -v -e` for a pipeline whose elements need a secret (an RTSP password).

Run as `/usr/bin/python3 gst_child.py` (a Python with GStreamer's bindings, python3-gi) with
one JSON object on stdin:

    {"description": "rtspsrc name=src location=... ! ...",
     "secret_properties": {"src": {"user-id": "...", "user-pw": "..."}},
     "eos_timeout_seconds": 9}

The secrets are set on the named elements after parsing: they never appear on a command line, in
the environment or in the output. It prints the lines device.gst_output parses, in gst-launch's
formats (the PLAYING line, element messages, the meter's last-message, ERROR lines, EOS), one
flush per line. SIGINT or SIGTERM sends EOS; it exits 0 on EOS, 1 on an error or when EOS does
not come within eos_timeout_seconds, like gst-launch.

Self-contained on purpose (stdlib and gi only): it runs outside the agent's virtualenv.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

try:
    import gi  # type: ignore[import-not-found]

    gi.require_version("Gst", "1.0")
    from gi.repository import GLib, Gst  # type: ignore[import-not-found]
except (ImportError, ValueError):
    # Said as gst-launch says an element is missing, so the agent names what to install
    # (device.pipeline.install_hint("python3-gi")) instead of restarting in a loop.
    sys.stdout.write('WARNING: erroneous pipeline: no element "python3-gi"\n')
    sys.exit(1)


def out(text: str) -> None:
    # One write per line: GStreamer's own log lines (GST_DEBUG) must not land inside it.
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class Child:
    def __init__(self, pipeline: Any, eos_timeout_s: float):
        self.pipeline = pipeline
        self.eos_timeout_s = eos_timeout_s
        self.loop = GLib.MainLoop()
        self.code = 0
        self.interrupted = False
        self.playing = False

    def run(self) -> int:
        bus = self.pipeline.get_bus()
        bus.add_watch(GLib.PRIORITY_DEFAULT, self.on_message)
        for signum in (signal.SIGINT, signal.SIGTERM):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, self.on_signal)
        # -v, for the one property the agent reads: the meter's per-buffer last-message.
        self.pipeline.add_property_deep_notify_watch("last-message", True)
        out("Setting pipeline to PAUSED ...")
        result = self.pipeline.set_state(Gst.State.PAUSED)
        if result == Gst.StateChangeReturn.FAILURE:
            self.drain_errors(bus)
            err("ERROR: pipeline doesn't want to pause.")
            self.code = 1
        elif result == Gst.StateChangeReturn.NO_PREROLL:
            out("Pipeline is live and does not need PREROLL ...")
            self.play()
        elif result == Gst.StateChangeReturn.SUCCESS:
            self.play()
        # ASYNC: PLAYING once prerolled (ASYNC_DONE).
        if self.code == 0:
            self.loop.run()
        out("Setting pipeline to NULL ...")
        self.pipeline.set_state(Gst.State.NULL)
        bus.remove_watch()
        return self.code

    def play(self) -> None:
        if self.playing:
            return
        self.playing = True
        out("Setting pipeline to PLAYING ...")
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            err("ERROR: pipeline doesn't want to play.")
            self.finish(1)

    def finish(self, code: int) -> None:
        self.code = code
        self.loop.quit()

    def drain_errors(self, bus: Any) -> None:
        while (message := bus.pop_filtered(Gst.MessageType.ERROR)) is not None:
            self.print_error(message)

    def print_error(self, message: Any) -> None:
        error, debug = message.parse_error()
        err(f"ERROR: from element {message.src.get_path_string()}: {error.message}")
        if debug:
            err(f"Additional debug info:\n{debug}")

    def on_message(self, bus: Any, message: Any) -> bool:
        kind = message.type
        if kind == Gst.MessageType.PROPERTY_NOTIFY:
            obj, name, value = message.parse_property_notify()
            text = value.get_value() if hasattr(value, "get_value") else value
            out(f"{obj.get_path_string()}: {name} = {text}")
        elif kind == Gst.MessageType.ELEMENT:
            structure = message.get_structure().to_string()
            source = message.src.get_name()
            out(f'Got message #{message.seqnum} from element "{source}" (element): {structure}')
        elif kind == Gst.MessageType.ERROR:
            self.print_error(message)
            self.finish(1)
        elif kind == Gst.MessageType.WARNING:
            warning, debug = message.parse_warning()
            err(f"WARNING: from element {message.src.get_path_string()}: {warning.message}")
            if debug:
                err(f"Additional debug info:\n{debug}")
        elif kind == Gst.MessageType.EOS:
            out(f'Got EOS from element "{message.src.get_name()}".')
            self.finish(0)
        elif kind == Gst.MessageType.ASYNC_DONE and message.src == self.pipeline:
            self.play()
        elif kind == Gst.MessageType.LATENCY:
            self.pipeline.recalculate_latency()
        elif kind == Gst.MessageType.CLOCK_LOST and self.playing:
            self.pipeline.set_state(Gst.State.PAUSED)
            self.pipeline.set_state(Gst.State.PLAYING)
        return True

    def on_signal(self) -> bool:
        if self.interrupted:  # a second signal: stop now
            err("ERROR: interrupted again before EOS")
            self.finish(1)
            return False
        self.interrupted = True
        out("EOS on shutdown enabled -- Forcing EOS on the pipeline")
        self.pipeline.send_event(Gst.Event.new_eos())
        GLib.timeout_add(int(self.eos_timeout_s * 1000), self.on_eos_timeout)
        return True

    def on_eos_timeout(self) -> bool:
        err(f"ERROR: no EOS within {self.eos_timeout_s:g} s of the interrupt")
        self.finish(1)
        return False


def main() -> int:
    try:
        request = json.loads(sys.stdin.read())
        description = request["description"]
    except (ValueError, KeyError, TypeError):
        err("ERROR: gst_child.py reads a JSON object with a description on stdin")
        return 2
    sys.stdin.close()
    Gst.init(None)
    # GST_DEBUG above WARNING could log what rtspsrc sends, credentials included: cap it (this
    # also drops category levels such as rtspsrc:6). Debug the camera with gst-launch instead.
    level = min(int(Gst.debug_get_default_threshold()), int(Gst.DebugLevel.WARNING))
    Gst.debug_set_threshold_from_string(str(level), True)
    try:
        pipeline = Gst.parse_launch(description)
    except GLib.Error as error:
        err(f"WARNING: erroneous pipeline: {error.message}")
        return 1
    for name, properties in request.get("secret_properties", {}).items():
        element = pipeline.get_by_name(name)
        if element is None:
            err(f'WARNING: erroneous pipeline: no element named "{name}" for its secrets')
            return 1
        for prop, value in properties.items():
            element.set_property(prop, value)
    eos_timeout_s = float(request.get("eos_timeout_seconds", 10))
    del request  # the secrets live on in the elements only
    return Child(pipeline, eos_timeout_s).run()


if __name__ == "__main__":
    sys.exit(main())
