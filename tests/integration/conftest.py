"""Shared integration fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.endpoint.server import LocalEndpoint, start_local_endpoint


@pytest.fixture(scope="session")
def local_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEndpoint]:
    """A local AWS endpoint on a free loopback port, for the whole session.

    moto's state is process-global: use unique resource names per test, or
    call ``local_endpoint.reset()`` (wipes everything) where a test needs it.
    """
    state_dir: Path = tmp_path_factory.mktemp("local-aws")
    with start_local_endpoint(state_dir, port=0) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def video_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEndpoint]:
    """An endpoint whose stream processors analyse the video of a local fragment store.

    The store is ``video_endpoint.config.fragment_root``: put a camera's fragments under
    ``<root>/<stream name>/<producer ms>.mkv``. It shares moto's state with ``local_endpoint``.
    """
    state_dir: Path = tmp_path_factory.mktemp("local-aws-video")
    fragment_root = tmp_path_factory.mktemp("fragments")
    with start_local_endpoint(state_dir, port=0, fragment_root=fragment_root) as endpoint:
        yield endpoint
