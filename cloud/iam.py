"""IAM roles: the per-camera Rekognition role and the fleet's KVS producer role."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from cloud.clients import AwsClients
from cloud.errors import NotFoundError, aws_call
from cloud.models import Change, RoleRecord
from cloud.paging import listed
from cloud.policies import canonical
from cloud.tags import as_key_value_list

if TYPE_CHECKING:
    from types_boto3_iam.type_defs import PolicyDocumentTypeDef

log = logging.getLogger(__name__)


def _document(value: PolicyDocumentTypeDef) -> Mapping[str, object]:
    # IAM returns policy documents URL-encoded; botocore decodes some responses, not all.
    if not isinstance(value, str):
        return value
    loaded: dict[str, object] = json.loads(unquote(value))
    return loaded


def get_role(clients: AwsClients, name: str) -> tuple[RoleRecord, Mapping[str, object]] | None:
    """The role and its trust policy, or None."""
    try:
        with aws_call(f"get IAM role {name}"):
            role = clients.iam.get_role(RoleName=name)["Role"]
    except NotFoundError:
        return None
    return RoleRecord(name=role["RoleName"], arn=role["Arn"]), _document(
        role["AssumeRolePolicyDocument"]
    )


def _inline_policy(clients: AwsClients, role: str, policy: str) -> Mapping[str, object] | None:
    try:
        with aws_call(f"get inline policy {policy} of role {role}"):
            doc = clients.iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
    except NotFoundError:
        return None
    return _document(doc)


def ensure_role(
    clients: AwsClients,
    name: str,
    *,
    trust: dict[str, Any],
    tags: dict[str, str],
    description: str,
) -> tuple[RoleRecord, Change]:
    found = get_role(clients, name)
    if found is None:
        with aws_call(f"create IAM role {name}"):
            role = clients.iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=description,
                Tags=as_key_value_list(tags),
            )["Role"]
        log.info("created IAM role %s", name)
        return RoleRecord(name=role["RoleName"], arn=role["Arn"]), Change.CREATED
    record, current_trust = found
    if canonical(current_trust) == canonical(trust):
        return record, Change.UNCHANGED
    with aws_call(f"update trust policy of IAM role {name}"):
        clients.iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
    return record, Change.UPDATED


def ensure_inline_policy(
    clients: AwsClients, role: str, policy_name: str, document: dict[str, Any]
) -> Change:
    current = _inline_policy(clients, role, policy_name)
    if current is not None and canonical(current) == canonical(document):
        return Change.UNCHANGED
    with aws_call(f"put inline policy {policy_name} on IAM role {role}"):
        clients.iam.put_role_policy(
            RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(document)
        )
    return Change.CREATED if current is None else Change.UPDATED


def delete_role(clients: AwsClients, name: str) -> bool:
    """Delete a role and everything attached to it (inline and managed policies first)."""
    try:
        with aws_call(f"list policies of IAM role {name}"):
            inline = clients.iam.list_role_policies(RoleName=name)["PolicyNames"]
            attached = clients.iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    except NotFoundError:
        return False
    with aws_call(f"delete IAM role {name}"):
        for policy_name in inline:
            clients.iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        for policy in attached:
            clients.iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        clients.iam.delete_role(RoleName=name)
    log.info("deleted IAM role %s", name)
    return True


def list_roles(clients: AwsClients, name_prefix: str) -> list[RoleRecord]:
    """Every role whose name starts with `name_prefix` (IAM filters by path only, not by name)."""
    return [
        RoleRecord(name=role["RoleName"], arn=role["Arn"])
        for role in listed(
            "list IAM roles",
            clients.iam.get_paginator("list_roles").paginate(),
            lambda page: page.get("Roles", []),
        )
        if role["RoleName"].startswith(name_prefix)
    ]


def role_tags(clients: AwsClients, name: str) -> dict[str, str] | None:
    """The role's tags, or None if there is no such role."""
    try:
        tags = listed(
            f"list the tags of IAM role {name}",
            clients.iam.get_paginator("list_role_tags").paginate(RoleName=name),
            lambda page: page.get("Tags", []),
        )
    except NotFoundError:
        return None
    return {t["Key"]: t["Value"] for t in tags}
