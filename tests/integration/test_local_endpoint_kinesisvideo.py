"""KVS calls the local endpoint adds to moto."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from stack.endpoint.server import LocalEndpoint
from tests.support.endpoint_admin import endpoint_client


def test_update_data_retention(local_endpoint: LocalEndpoint) -> None:
    kvs = endpoint_client(local_endpoint.url, "kinesisvideo")
    name = f"cam-{uuid.uuid4().hex[:6]}"
    kvs.create_stream(StreamName=name, DataRetentionInHours=1)
    version = kvs.describe_stream(StreamName=name)["StreamInfo"]["Version"]
    kvs.update_data_retention(
        StreamName=name,
        CurrentVersion=version,
        Operation="INCREASE_DATA_RETENTION",
        DataRetentionChangeInHours=23,
    )
    info = kvs.describe_stream(StreamName=name)["StreamInfo"]
    assert info["DataRetentionInHours"] == 24
    with pytest.raises(ClientError) as excinfo:
        kvs.update_data_retention(
            StreamName=name,
            CurrentVersion=version,
            Operation="DECREASE_DATA_RETENTION",
            DataRetentionChangeInHours=1,
        )
    assert excinfo.value.response["Error"]["Code"] == "VersionMismatchException"


def test_stream_tags_are_listed_added_and_removed(local_endpoint: LocalEndpoint) -> None:
    kvs = endpoint_client(local_endpoint.url, "kinesisvideo")
    name = f"cam-{uuid.uuid4().hex[:6]}"
    kvs.create_stream(StreamName=name, DataRetentionInHours=1, Tags={"owner": "fleet-a"})
    assert kvs.list_tags_for_stream(StreamName=name)["Tags"] == {"owner": "fleet-a"}
    arn = kvs.describe_stream(StreamName=name)["StreamInfo"]["StreamARN"]
    kvs.tag_stream(StreamARN=arn, Tags={"camera": "porch"})
    kvs.untag_stream(StreamName=name, TagKeyList=["owner"])
    assert kvs.list_tags_for_stream(StreamARN=arn)["Tags"] == {"camera": "porch"}
    with pytest.raises(ClientError) as excinfo:
        kvs.list_tags_for_stream(StreamName="no-such-stream")
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
