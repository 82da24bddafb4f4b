"""Which analyzer the fleet uses: recorded with the fleet (an attribute of its thing group), so
that every part (registration, the bridge, the workers, the flows) agrees."""

from __future__ import annotations

from cloud.clients import AwsClients
from cloud.errors import InvalidInputError, NotFoundError, aws_call
from cloud.iot import thing_group_marker
from cloud.models import Analyzer
from cloud.naming import FleetNames

ANALYZER_ATTRIBUTE = "analyzer"
DEFAULT = Analyzer.STREAM_PROCESSOR  # what a fleet recorded before there was a choice uses


def recorded_analyzer(clients: AwsClients, names: FleetNames) -> Analyzer | None:
    """The fleet's recorded analyzer; None when the fleet has none recorded (or no group yet)."""
    try:
        with aws_call(f"describe thing group {names.thing_group}"):
            group = clients.iot.describe_thing_group(thingGroupName=names.thing_group)
    except NotFoundError:
        return None
    attributes = group.get("thingGroupProperties", {}).get("attributePayload", {})
    value = attributes.get("attributes", {}).get(ANALYZER_ATTRIBUTE)
    return Analyzer(value) if value in {a.value for a in Analyzer} else None


def record_analyzer(clients: AwsClients, names: FleetNames, analyzer: Analyzer) -> None:
    with aws_call(f"record analyzer {analyzer} on thing group {names.thing_group}"):
        clients.iot.update_thing_group(
            thingGroupName=names.thing_group,
            thingGroupProperties={
                "thingGroupDescription": thing_group_marker(names.fleet),
                "attributePayload": {
                    "attributes": {ANALYZER_ATTRIBUTE: analyzer.value},
                    "merge": True,
                },
            },
        )


def effective(asked: Analyzer | None, recorded: Analyzer | None, fleet: str) -> Analyzer:
    """The analyzer a part uses: the recorded one; a setting that disagrees is an error, since
    the fleet's resources are the recorded analyzer's. Pure."""
    if recorded is None:
        return asked or DEFAULT
    if asked is not None and asked is not recorded:
        raise InvalidInputError(
            f"fleet {fleet} uses the {recorded} analyzer but FLEET_ANALYZER is {asked}: "
            f"switch the fleet with `fleet analyzer use {asked}`, or unset FLEET_ANALYZER"
        )
    return recorded
