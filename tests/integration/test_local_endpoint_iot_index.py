"""Fleet indexing's SearchIndex on the local endpoint: pages of at most 100 linked by nextToken, a
thing group's members with their named shadows in AWS's document shape, and AWS's errors."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stack.endpoint import iot_index
from stack.endpoint.server import LocalEndpoint
from tests.support.endpoint_admin import endpoint_client

if TYPE_CHECKING:
    from types_boto3_iot import IoTClient
    from types_boto3_iot_data import IoTDataPlaneClient

REGION = "ap-southeast-2"  # a region of its own: the indexing configuration is per region
SHADOW = "camera-status"
INDEXED = {
    "thingIndexingMode": "REGISTRY_AND_SHADOW",
    "namedShadowIndexingMode": "ON",
    "filter": {"namedShadowNames": [SHADOW]},
}


def _data(local_endpoint: LocalEndpoint, region: str = REGION) -> IoTDataPlaneClient:
    return boto3.client(
        "iot-data",
        endpoint_url=local_endpoint.url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def iot(local_endpoint: LocalEndpoint) -> IoTClient:
    client = endpoint_client(local_endpoint.url, "iot", region=REGION)
    client.update_indexing_configuration(thingIndexingConfiguration=INDEXED)  # type: ignore[arg-type]
    return client


def _group(iot: IoTClient, things: list[str]) -> str:
    group = f"fleet-{uuid.uuid4().hex[:6]}"
    iot.create_thing_group(thingGroupName=group)
    for thing in things:
        iot.create_thing(thingName=thing)
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)
    return group


def _search(iot: IoTClient, query: str, **extra: Any) -> list[dict[str, Any]]:
    pages, request = [], {"indexName": "AWS_Things", "queryString": query, **extra}
    while True:
        page = iot.search_index(**request)
        pages.append(dict(page))
        if not page.get("nextToken"):
            return pages
        request["nextToken"] = page["nextToken"]


def test_a_groups_things_come_in_pages_of_at_most_max_results(iot: IoTClient) -> None:
    prefix = uuid.uuid4().hex[:6]
    things = [f"{prefix}-cam-{n:03d}" for n in range(23)]
    group = _group(iot, things)
    _group(iot, [f"{prefix}-other"])  # another group's thing is not listed

    pages = _search(iot, f"thingGroupNames:{group}", maxResults=10)

    assert [len(p["things"]) for p in pages] == [10, 10, 3]
    listed = [t["thingName"] for p in pages for t in p["things"]]
    assert sorted(listed) == things
    assert all(t["thingGroupNames"] == [group] for p in pages for t in p["things"])


def test_terms_joined_by_and_narrow_the_group(iot: IoTClient) -> None:
    prefix = uuid.uuid4().hex[:6]
    group = _group(iot, [f"{prefix}-a", f"{prefix}-b"])
    iot.update_thing(thingName=f"{prefix}-b", attributePayload={"attributes": {"fleet": "x"}})

    (page,) = _search(iot, f"thingGroupNames:{group} AND attributes.fleet:x")

    assert [t["thingName"] for t in page["things"]] == [f"{prefix}-b"]
    (page,) = _search(iot, f"thingGroupNames:{group} thingName:{prefix}-a*")
    assert [t["thingName"] for t in page["things"]] == [f"{prefix}-a"]


def test_the_named_shadow_is_in_the_document_under_name(
    iot: IoTClient, local_endpoint: LocalEndpoint
) -> None:
    prefix = uuid.uuid4().hex[:6]
    seen, unseen = f"{prefix}-seen", f"{prefix}-unseen"
    group = _group(iot, [seen, unseen])
    reported = {"presence": "online", "last_seen_ms": 1_700_000_000_000}
    _data(local_endpoint).update_thing_shadow(
        thingName=seen,
        shadowName=SHADOW,
        payload=json.dumps({"state": {"reported": reported}}).encode(),
    )

    (page,) = _search(iot, f"thingGroupNames:{group}")

    documents = {t["thingName"]: t for t in page["things"]}
    shadow = json.loads(documents[seen]["shadow"])
    assert shadow["name"][SHADOW]["reported"] == reported
    assert shadow["name"][SHADOW]["hasDelta"] is False
    assert isinstance(shadow["name"][SHADOW]["version"], int)
    assert "shadow" not in documents[unseen]


def test_more_than_100_results_a_page_is_refused(iot: IoTClient) -> None:
    group = _group(iot, [f"{uuid.uuid4().hex[:6]}-cam"])

    with pytest.raises(ClientError) as refused:
        iot.search_index(queryString=f"thingGroupNames:{group}", maxResults=101)

    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    assert (
        len(iot.search_index(queryString=f"thingGroupNames:{group}", maxResults=100)["things"]) == 1
    )


@pytest.mark.parametrize(
    "query",
    ["thingGroupNames:a OR thingGroupNames:b", "shadow.reported.presence:online", "(thingName:a)"],
)
def test_unsupported_query_syntax_is_an_invalid_query(iot: IoTClient, query: str) -> None:
    with pytest.raises(ClientError) as refused:
        iot.search_index(queryString=query)

    assert refused.value.response["Error"]["Code"] == "InvalidQueryException"


def test_with_indexing_off_the_index_does_not_exist(local_endpoint: LocalEndpoint) -> None:
    iot = endpoint_client(local_endpoint.url, "iot", region="sa-east-1")
    iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "OFF"})

    with pytest.raises(ClientError) as refused:
        iot.search_index(queryString="thingName:any")

    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_listing_goes_on_past_deleted_things_and_forgotten_cursors(iot: IoTClient) -> None:
    prefix = uuid.uuid4().hex[:6]
    things = [f"{prefix}-cam-{n}" for n in range(6)]
    group = _group(iot, things)
    query = f"thingGroupNames:{group}"
    first = iot.search_index(queryString=query, maxResults=2)
    iot.delete_thing(thingName=things[2])  # listed under the cursor, gone before its page

    second = iot.search_index(queryString=query, maxResults=2, nextToken=first["nextToken"])
    iot_index._CURSORS.clear()  # the endpoint forgot the listing: resumed after the last name
    third = iot.search_index(queryString=query, maxResults=2, nextToken=second["nextToken"])

    pages = [[t["thingName"] for t in page["things"]] for page in (first, second, third)]
    assert pages == [things[:2], things[3:5], things[5:]]
    assert "nextToken" not in third
