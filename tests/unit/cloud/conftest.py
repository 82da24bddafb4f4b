"""Clients for the cloud tests, and Stubbers of the KVS control plane and its archived-media data
plane at `DATA_ENDPOINT` (the request must have the real API's shape)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.stub import Stubber

from cloud.clients import AwsClients
from cloud.settings import FleetSettings
from tests.support.kvs_stubs import DATA_ENDPOINT


@pytest.fixture
def clients(tmp_path: Path) -> AwsClients:
    return AwsClients(FleetSettings(home=tmp_path))


@pytest.fixture
def media_stubs(clients: AwsClients) -> Iterator[tuple[Stubber, Stubber]]:
    kvs = Stubber(clients.kvs)
    media = Stubber(clients.archived_media(DATA_ENDPOINT))
    with kvs, media:
        yield kvs, media
        kvs.assert_no_pending_responses()
        media.assert_no_pending_responses()
