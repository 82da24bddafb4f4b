"""A camera's item in the frames analyzer's table, as teardown sees it: there or not. Only its key
is read, so an item whatever it holds (one another version wrote, say) is found and deleted."""

from __future__ import annotations

from cloud.analysis import frames_table
from cloud.clients import AwsClients
from cloud.errors import NotFoundError, aws_call


def present(clients: AwsClients, table: str, camera_id: str) -> bool:
    """Whether the camera has an item; False when the table is gone too."""
    key = frames_table.PARTITION_KEY
    try:
        with aws_call(f"camera {camera_id}: look for its item in {table}"):
            answer = clients.dynamodb.get_item(
                TableName=table,
                Key={key: {"S": camera_id}},
                ProjectionExpression="#k",
                ExpressionAttributeNames={"#k": key},
                ConsistentRead=True,
            )
    except NotFoundError:
        return False
    return "Item" in answer


def delete(clients: AwsClients, table: str, camera_id: str) -> bool:
    """Delete the camera's item; True if it existed."""
    if not present(clients, table, camera_id):
        return False
    try:
        frames_table.delete_camera(clients, table, camera_id)
    except NotFoundError:
        return False  # the table went meanwhile, and the item with it
    return True
