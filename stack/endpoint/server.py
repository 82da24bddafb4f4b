"""Composition root of the local AWS endpoint, and its two ways to run.

- ``start_local_endpoint(...)`` serves in a background thread and returns a
  ``LocalEndpoint`` (tests, benchmarks); ``stop()`` saves the state.
- ``serve_forever(config)`` serves in the foreground until SIGTERM/SIGINT
  (``python -m stack.endpoint``), then saves the state.

moto's backends are process-global: two endpoints in one process share
moto's state (each keeps its own Rekognition state, CA and admin API), and a
restore at start replaces the moto state of the whole process.
``LocalEndpoint.reset()`` (or ``POST /_fleet/reset``) wipes it between tests.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from moto.backends import get_backend
from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import BaseWSGIServer, make_server

from stack.broker.acl_sync import AclSync
from stack.endpoint import iot_patch, persistence
from stack.endpoint.app import LocalEndpointApp, save_everything
from stack.endpoint.ca import LocalCA
from stack.endpoint.config import LocalEndpointConfig
from stack.endpoint.gc_survivors import freeze_survivors
from stack.endpoint.rekognition.models import RekognitionState
from stack.endpoint.rekognition.sessions import SessionRunner, TimedSessionRunner
from stack.endpoint.rekognition.video_runner import EndpointResults, VideoSessionRunner

logger = logging.getLogger(__name__)

_KVS_ARN = re.compile(r"^arn:[a-z\d-]+:kinesisvideo:([a-z\d-]+):(\d{12}):stream/")


def kvs_stream_exists(stream_arn: str) -> bool:
    """Whether moto's kinesisvideo backend holds ``stream_arn``."""
    match = _KVS_ARN.match(stream_arn)
    if match is None:
        return False
    region, account = match.groups()
    try:
        return stream_arn in get_backend("kinesisvideo")[account][region].streams
    except KeyError:
        return False


class LocalEndpoint:
    """A running endpoint: ``url``, ``port``, ``ca``; ``stop()`` saves state."""

    def __init__(self, config: LocalEndpointConfig, session_runner: SessionRunner | None = None):
        self.config = config
        self.ca = LocalCA.load_or_create(config.ca_directory)
        self._iot_context = iot_patch.IotContext(self.ca, config.mqtt_host)
        iot_patch.install(self._iot_context)
        self._lock = threading.RLock()
        self.rekognition = RekognitionState(
            kvs_stream_exists,
            config.processor_quota,
            session_runner or self._default_runner(),
            streaming_video_available=config.streaming_video,
        )
        self._restore()
        self._saver = persistence.DebouncedSaver(self.save, config.save_delay_seconds)
        self.app = LocalEndpointApp(
            self.rekognition,
            self._iot_context,
            AclSync(
                config.acl_file,
                config.broker_pid_file,
                self._lock,
                broker_admin=config.broker_admin,
            ),
            self.save,
            self._saver.mark_dirty,
            self._lock,
            self._health,
            fragment_root=config.fragment_root,
        )
        self.app.acl_sync.sync()
        self.app.acl_sync.request()  # the broker's guard converges in the background
        self._server: BaseWSGIServer = make_server(
            config.host,
            config.port,
            self.app,
            threaded=True,
            request_handler=MotoRequestHandler,
        )
        self.port: int = self._server.server_port
        self.url = f"http://{config.host}:{self.port}"
        self._thread: threading.Thread | None = None
        self._stopped = False

    def _default_runner(self) -> SessionRunner:
        """Real analysis of the local fragments when there are some; else sessions only last."""
        if self.config.fragment_root is None:
            return TimedSessionRunner()
        # Sessions write their results through this endpoint: its URL is known once it serves.
        return VideoSessionRunner(self.config.fragment_root, EndpointResults(lambda: self.url))

    def _restore(self) -> None:
        loaded = persistence.read_state(self.config.state_file)
        if loaded is None:
            return
        moto_state, extra = loaded
        with self._lock:
            persistence.restore_moto(moto_state)
            self.rekognition.restore(extra.get("rekognition", {}))
        logger.info("restored endpoint state from %s", self.config.state_file)

    def _health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "url": self.url,
            "processor_quota": self.rekognition.processor_quota,
            "streaming_video_available": self.rekognition.streaming_video_available,
            "ca_cert_path": str(self.config.ca_directory / "ca.pem"),
            "broker_sync": self.app.acl_sync.status(),
        }

    def save(self) -> None:
        save_everything(self.rekognition, self.config.state_file, self._lock)

    def reset(self) -> None:
        self.app.reset()

    def start(self) -> LocalEndpoint:
        self._saver.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"local-aws-{self.port}", daemon=True
        )
        self._thread.start()
        logger.info("local AWS endpoint serving on %s", self.url)
        return self

    def serve(self) -> None:
        """Serve in the calling thread until ``stop()`` (from a signal handler)."""
        self._saver.start()
        logger.info("local AWS endpoint serving on %s", self.url)
        self._server.serve_forever()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
        self._saver.close()
        self.rekognition.runner.stop_all()
        self.save()
        iot_patch.uninstall(self._iot_context)
        logger.info("local AWS endpoint on %s stopped; state saved", self.url)

    def __enter__(self) -> LocalEndpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_local_endpoint(
    state_dir: Path,
    port: int = 0,
    processor_quota: int = 10,
    *,
    mqtt_host: str = "127.0.0.1",
    acl_file: Path | None = None,
    broker_pid_file: Path | None = None,
    save_delay_seconds: float = 2.0,
    session_runner: SessionRunner | None = None,
    fragment_root: Path | None = None,
    streaming_video: bool = True,
) -> LocalEndpoint:
    """Start an endpoint on 127.0.0.1 in a background thread."""
    config = LocalEndpointConfig(
        port=port,
        state_dir=state_dir,
        processor_quota=processor_quota,
        mqtt_host=mqtt_host,
        acl_file=acl_file,
        broker_pid_file=broker_pid_file,
        save_delay_seconds=save_delay_seconds,
        fragment_root=fragment_root,
        streaming_video=streaming_video,
    )
    return LocalEndpoint(config, session_runner).start()


def serve_forever(config: LocalEndpointConfig) -> None:
    """Run in the foreground; SIGTERM/SIGINT stop it gracefully (state saved)."""
    endpoint = LocalEndpoint(config)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d: stopping", signum)
        threading.Thread(target=endpoint._server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    freeze_survivors()  # its own process: the collector's settings are its own
    try:
        endpoint.serve()
    finally:
        endpoint.stop()
