"""DynamoDB tables the fleet owns: created on demand, tagged, waited for."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from cloud.clients import AwsClients
from cloud.errors import ConflictError, NotFoundError, aws_call
from cloud.paging import listed
from cloud.tags import as_key_value_list

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import (
        AttributeDefinitionTypeDef,
        KeySchemaElementTypeDef,
        WaiterConfigTypeDef,
    )

log = logging.getLogger(__name__)

_TABLE_WAIT: WaiterConfigTypeDef = {"Delay": 2, "MaxAttempts": 60}


def ensure_table(
    clients: AwsClients,
    name: str,
    tags: dict[str, str],
    *,
    partition_key: str,
    sort_key: str | None = None,
) -> str:
    """Create the table (string keys, on demand) if it is missing and wait until it is usable;
    returns its ARN."""
    try:
        with aws_call(f"describe DynamoDB table {name}"):
            return str(clients.dynamodb.describe_table(TableName=name)["Table"]["TableArn"])
    except NotFoundError:
        pass
    keys: list[KeySchemaElementTypeDef] = [{"AttributeName": partition_key, "KeyType": "HASH"}]
    attributes: list[AttributeDefinitionTypeDef] = [
        {"AttributeName": partition_key, "AttributeType": "S"}
    ]
    if sort_key is not None:
        keys.append({"AttributeName": sort_key, "KeyType": "RANGE"})
        attributes.append({"AttributeName": sort_key, "AttributeType": "S"})
    try:
        with aws_call(f"create DynamoDB table {name}"):
            clients.dynamodb.create_table(
                TableName=name,
                KeySchema=keys,
                AttributeDefinitions=attributes,
                BillingMode="PAY_PER_REQUEST",
                Tags=as_key_value_list(tags),
            )
        log.info("created DynamoDB table %s", name)
    except ConflictError:
        pass  # created concurrently
    with aws_call(f"wait for DynamoDB table {name}"):
        clients.dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig=_TABLE_WAIT)
        return str(clients.dynamodb.describe_table(TableName=name)["Table"]["TableArn"])


def table_tags(clients: AwsClients, name: str) -> dict[str, str] | None:
    """The table's tags, or None if there is no such table (or it is being deleted)."""
    try:
        with aws_call(f"describe DynamoDB table {name}"):
            table = clients.dynamodb.describe_table(TableName=name)["Table"]
    except NotFoundError:
        return None
    if table.get("TableStatus") == "DELETING":
        return None
    tags = listed(
        f"list the tags of DynamoDB table {name}",
        clients.dynamodb.get_paginator("list_tags_of_resource").paginate(
            ResourceArn=table["TableArn"]
        ),
        lambda page: page.get("Tags", []),
    )
    return {t["Key"]: t["Value"] for t in tags}


def delete_table(clients: AwsClients, name: str, *, wait: bool = False) -> bool:
    """Delete the table (and, with `wait`, wait until it is gone); False if there was none."""
    try:
        with aws_call(f"delete DynamoDB table {name}"):
            clients.dynamodb.delete_table(TableName=name)
    except NotFoundError:
        return False
    if wait:
        with aws_call(f"wait for DynamoDB table {name} to be deleted"):
            clients.dynamodb.get_waiter("table_not_exists").wait(
                TableName=name, WaiterConfig=_TABLE_WAIT
            )
    log.info("deleted DynamoDB table %s", name)
    return True
