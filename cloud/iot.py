"""AWS IoT: the fleet registry (thing group and things), certificates, policy and role alias."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from cloud.clients import AwsClients
from cloud.errors import ConflictError, NotFoundError, aws_call
from cloud.models import CertificateRecord, Change, ThingRecord
from cloud.paging import listed
from cloud.policies import canonical

log = logging.getLogger(__name__)

MAX_POLICY_VERSIONS = 5
CREDENTIAL_DURATION_SECONDS = 3600  # the role alias allows 900 to 43200


# Fleet-level resources.


def thing_group_marker(fleet: str) -> str:
    """The description `ensure_thing_group` gives the fleet's group (named after the fleet): the
    group's ownership marker, since the local endpoint cannot read IoT tags back."""
    return f"cameras of fleet {fleet}"


def ensure_thing_group(clients: AwsClients, name: str, tags: dict[str, str]) -> str:
    try:
        with aws_call(f"describe thing group {name}"):
            return str(clients.iot.describe_thing_group(thingGroupName=name)["thingGroupArn"])
    except NotFoundError:
        pass
    with aws_call(f"create thing group {name}"):
        created = clients.iot.create_thing_group(
            thingGroupName=name,
            thingGroupProperties={"thingGroupDescription": thing_group_marker(name)},
            tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        )
    log.info("created thing group %s", name)
    return str(created["thingGroupArn"])


def ensure_policy(clients: AwsClients, name: str, document: dict[str, Any]) -> Change:
    """Create the policy, or make `document` its default version (pruning the oldest)."""
    try:
        with aws_call(f"get IoT policy {name}"):
            current = clients.iot.get_policy(policyName=name)
    except NotFoundError:
        with aws_call(f"create IoT policy {name}"):
            clients.iot.create_policy(policyName=name, policyDocument=json.dumps(document))
        log.info("created IoT policy %s", name)
        return Change.CREATED
    if canonical(current["policyDocument"]) == canonical(document):
        return Change.UNCHANGED
    with aws_call(f"list versions of IoT policy {name}"):
        versions = clients.iot.list_policy_versions(policyName=name)["policyVersions"]
    old = sorted(
        (v for v in versions if not v["isDefaultVersion"]), key=lambda v: int(v["versionId"])
    )
    with aws_call(f"update IoT policy {name}"):
        if len(versions) >= MAX_POLICY_VERSIONS and old:
            clients.iot.delete_policy_version(policyName=name, policyVersionId=old[0]["versionId"])
        clients.iot.create_policy_version(
            policyName=name, policyDocument=json.dumps(document), setAsDefault=True
        )
    log.info("IoT policy %s: new default version", name)
    return Change.UPDATED


def ensure_role_alias(clients: AwsClients, alias: str, role_arn: str) -> str:
    try:
        with aws_call(f"describe role alias {alias}"):
            found = clients.iot.describe_role_alias(roleAlias=alias)["roleAliasDescription"]
        if found["roleArn"] == role_arn:
            return str(found["roleAliasArn"])
        with aws_call(f"update role alias {alias}"):
            clients.iot.update_role_alias(roleAlias=alias, roleArn=role_arn)
        return str(found["roleAliasArn"])
    except NotFoundError:
        pass
    with aws_call(f"create role alias {alias}"):
        created = clients.iot.create_role_alias(
            roleAlias=alias, roleArn=role_arn, credentialDurationSeconds=CREDENTIAL_DURATION_SECONDS
        )
    log.info("created role alias %s", alias)
    return str(created["roleAliasArn"])


def describe_endpoint(clients: AwsClients, endpoint_type: str) -> str:
    with aws_call(f"describe IoT endpoint {endpoint_type}"):
        return str(clients.iot.describe_endpoint(endpointType=endpoint_type)["endpointAddress"])


# The registry.


def describe_thing(clients: AwsClients, name: str) -> ThingRecord | None:
    try:
        with aws_call(f"describe thing {name}"):
            thing = clients.iot.describe_thing(thingName=name)
            principals = clients.iot.list_thing_principals(thingName=name)["principals"]
    except NotFoundError:
        return None
    return ThingRecord(
        name=thing["thingName"],
        arn=thing["thingArn"],
        attributes=thing.get("attributes", {}),
        version=int(thing.get("version", 1)),
        principals=tuple(principals),
    )


def thing_attributes(clients: AwsClients, name: str) -> dict[str, str] | None:
    """The thing's attributes (DescribeThing alone: for readers allowed nothing more); None if
    there is no such thing."""
    try:
        with aws_call(f"describe thing {name}"):
            return dict(clients.iot.describe_thing(thingName=name).get("attributes", {}))
    except NotFoundError:
        return None


def ensure_thing(
    clients: AwsClients, name: str, attributes: dict[str, str]
) -> tuple[ThingRecord, Change]:
    current = describe_thing(clients, name)
    change = Change.UNCHANGED
    if current is None:
        with aws_call(f"create thing {name}"):
            clients.iot.create_thing(thingName=name, attributePayload={"attributes": attributes})
        log.info("created thing %s", name)
        change = Change.CREATED
    elif current.attributes != attributes:
        with aws_call(f"update thing {name}"):
            clients.iot.update_thing(
                thingName=name,
                attributePayload={"attributes": attributes, "merge": False},
                expectedVersion=current.version,
            )
        change = Change.UPDATED
    record = describe_thing(clients, name) if change is not Change.UNCHANGED else current
    if record is None:
        raise NotFoundError(f"thing {name} vanished right after it was written")
    return record, change


def ensure_in_group(clients: AwsClients, thing: str, group: str, *, new_thing: bool) -> None:
    if new_thing or group not in _groups_of(clients, thing):
        with aws_call(f"add thing {thing} to group {group}"):
            clients.iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)


def _groups_of(clients: AwsClients, thing: str) -> set[str]:
    with aws_call(f"list groups of thing {thing}"):
        groups = clients.iot.list_thing_groups_for_thing(thingName=thing, maxResults=100)
    return {g["groupName"] for g in groups.get("thingGroups", [])}


def list_group_things(clients: AwsClients, group: str) -> list[str]:
    try:
        names = listed(
            f"list things of group {group}",
            clients.iot.get_paginator("list_things_in_thing_group").paginate(
                thingGroupName=group, PaginationConfig={"PageSize": 250}
            ),
            lambda page: page.get("things", []),
        )
    except NotFoundError:
        return []
    return sorted(names)


def things_with_attribute(clients: AwsClients, name: str, value: str) -> dict[str, dict[str, str]]:
    """Every thing whose attribute `name` is `value`, with its attributes: one paginated call for
    a whole fleet, where describing each thing would be one call per camera."""
    things = listed(
        f"list things with {name}={value}",
        clients.iot.get_paginator("list_things").paginate(
            attributeName=name, attributeValue=value, PaginationConfig={"PageSize": 250}
        ),
        lambda page: page.get("things", []),
    )
    return {t["thingName"]: dict(t.get("attributes", {})) for t in things}


def delete_thing(clients: AwsClients, name: str) -> bool:
    if describe_thing(clients, name) is None:
        return False
    with aws_call(f"delete thing {name}"):
        clients.iot.delete_thing(thingName=name)
    log.info("camera %s: deleted thing", name)
    return True


# Certificates.


def certificate_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def describe_certificate(clients: AwsClients, cert_id: str) -> CertificateRecord | None:
    try:
        with aws_call(f"describe certificate {cert_id}"):
            info = clients.iot.describe_certificate(certificateId=cert_id)["certificateDescription"]
    except NotFoundError:
        return None
    return CertificateRecord(
        certificate_id=info["certificateId"], arn=info["certificateArn"], status=info["status"]
    )


def create_certificate_from_csr(clients: AwsClients, csr_pem: str) -> tuple[CertificateRecord, str]:
    """An ACTIVE certificate for a key that never leaves the bundle; returns it with its PEM."""
    with aws_call("create certificate from CSR"):
        created = clients.iot.create_certificate_from_csr(
            certificateSigningRequest=csr_pem, setAsActive=True
        )
    record = CertificateRecord(
        certificate_id=created["certificateId"], arn=created["certificateArn"], status="ACTIVE"
    )
    return record, str(created["certificatePem"])


def attach_certificate(clients: AwsClients, cert_arn: str, policy: str, thing: str) -> None:
    with aws_call(f"attach policy {policy} and thing {thing} to certificate"):
        clients.iot.attach_policy(policyName=policy, target=cert_arn)
        clients.iot.attach_thing_principal(thingName=thing, principal=cert_arn)


def retire_certificate(
    clients: AwsClients, cert_arn: str, thing: str | None, *, detach_wait_seconds: float = 30
) -> None:
    """The documented order: detach policies, INACTIVE, detach from the thing, then delete."""
    cert_id = certificate_id(cert_arn)
    with aws_call(f"retire certificate {cert_id}"):
        for policy in clients.iot.list_attached_policies(target=cert_arn)["policies"]:
            clients.iot.detach_policy(policyName=policy["policyName"], target=cert_arn)
        clients.iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE")
    if thing is not None:
        try:
            with aws_call(f"detach certificate {cert_id} from thing {thing}"):
                clients.iot.detach_thing_principal(thingName=thing, principal=cert_arn)
        except NotFoundError:
            log.debug("certificate %s was not attached to %s", cert_id, thing)
    # DetachThingPrincipal is asynchronous on AWS: deleting too early is a DeleteConflict.
    deadline = time.monotonic() + detach_wait_seconds
    delay = 0.2
    while True:
        try:
            with aws_call(f"delete certificate {cert_id}"):
                clients.iot.delete_certificate(certificateId=cert_id)
            log.info("retired certificate %s", cert_id)
            return
        except NotFoundError:
            return
        except ConflictError:
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


# Teardown: reading what the fleet holds, and deleting it.


def thing_group_description(clients: AwsClients, name: str) -> str | None:
    """The group's description (the fleet's ownership marker), "" without one; None if absent."""
    try:
        with aws_call(f"describe thing group {name}"):
            group = clients.iot.describe_thing_group(thingGroupName=name)
    except NotFoundError:
        return None
    return str(group.get("thingGroupProperties", {}).get("thingGroupDescription", ""))


def thing_principals(clients: AwsClients, thing: str) -> list[str]:
    try:
        return listed(
            f"list principals of thing {thing}",
            clients.iot.get_paginator("list_thing_principals").paginate(thingName=thing),
            lambda page: page.get("principals", []),
        )
    except NotFoundError:
        return []


def policy_document(clients: AwsClients, name: str) -> dict[str, Any] | None:
    """The policy's default version, or None if there is no such policy."""
    try:
        with aws_call(f"get IoT policy {name}"):
            document = clients.iot.get_policy(policyName=name)["policyDocument"]
    except NotFoundError:
        return None
    loaded: dict[str, Any] = json.loads(document)
    return loaded


def policy_targets(clients: AwsClients, name: str) -> list[str]:
    """The principals (certificates) the policy is attached to."""
    try:
        return listed(
            f"list targets of IoT policy {name}",
            clients.iot.get_paginator("list_targets_for_policy").paginate(policyName=name),
            lambda page: page.get("targets", []),
        )
    except NotFoundError:
        return []


def role_alias_role(clients: AwsClients, alias: str) -> str | None:
    """The ARN of the IAM role the alias hands out, or None if there is no such alias."""
    try:
        with aws_call(f"describe role alias {alias}"):
            found = clients.iot.describe_role_alias(roleAlias=alias)["roleAliasDescription"]
    except NotFoundError:
        return None
    return str(found["roleArn"])


def delete_thing_when_detached(
    clients: AwsClients, name: str, *, detach_wait_seconds: float = 30
) -> bool:
    """Delete the thing once no principal is attached: DetachThingPrincipal is asynchronous on
    AWS, and DeleteThing refuses a thing that still has principals."""
    deadline = time.monotonic() + detach_wait_seconds
    delay = 0.2
    while principals := thing_principals(clients, name):
        if time.monotonic() > deadline:
            raise ConflictError(
                f"thing {name} still has {len(principals)} principals attached "
                f"after {detach_wait_seconds:g} s: {', '.join(principals)}"
            )
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    try:
        with aws_call(f"delete thing {name}"):
            clients.iot.delete_thing(thingName=name)
    except NotFoundError:
        return False
    log.info("camera %s: deleted thing", name)
    return True


def delete_policy(clients: AwsClients, name: str) -> bool:
    """Delete the policy's other versions, then the policy; attached principals are a conflict."""
    try:
        with aws_call(f"list versions of IoT policy {name}"):
            versions = clients.iot.list_policy_versions(policyName=name)["policyVersions"]
    except NotFoundError:
        return False
    with aws_call(f"delete IoT policy {name}"):
        for version in versions:
            if not version["isDefaultVersion"]:
                clients.iot.delete_policy_version(
                    policyName=name, policyVersionId=version["versionId"]
                )
        clients.iot.delete_policy(policyName=name)
    log.info("deleted IoT policy %s (%d versions)", name, len(versions))
    return True


def delete_role_alias(clients: AwsClients, alias: str) -> bool:
    try:
        with aws_call(f"delete role alias {alias}"):
            clients.iot.delete_role_alias(roleAlias=alias)
    except NotFoundError:
        return False
    log.info("deleted role alias %s", alias)
    return True


def delete_thing_group(clients: AwsClients, name: str) -> bool:
    """DeleteThingGroup succeeds for a missing group, so existence is read first."""
    if thing_group_description(clients, name) is None:
        return False
    with aws_call(f"delete thing group {name}"):
        clients.iot.delete_thing_group(thingGroupName=name)
    log.info("deleted thing group %s", name)
    return True
