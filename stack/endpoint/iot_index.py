"""IoT fleet indexing's ``SearchIndex`` on ``AWS_Things``, over moto's registry and shadows.

moto's own answers every thing in the account at once (no ``maxResults``, no ``nextToken``) and
indexes only named shadows. Served here instead, as AWS answers:

- the index exists when ``thingIndexingMode`` (moto's indexing configuration, which
  ``Get``/``UpdateIndexingConfiguration`` keep) is not ``OFF``; otherwise, or for another index
  name, ``ResourceNotFoundException`` (HTTP 404);
- ``maxResults`` at most 100 (``InvalidRequestException`` above), pages linked by an opaque
  ``nextToken``;
- the query: terms ``field:value`` joined by spaces or ``AND``, on ``thingName``,
  ``thingTypeName``, ``thingGroupNames`` and ``attributes.<name>``, a value ending in ``*`` a
  prefix; anything else (``OR``, ``NOT``, ranges, quotes, parentheses, shadow fields) is
  ``InvalidQueryException``;
- each thing's document: name, id, type, groups, attributes and, with ``REGISTRY_AND_SHADOW``,
  ``shadow``: a JSON string with the classic shadow's ``desired``/``reported``/``metadata``/
  ``version``/``hasDelta`` at the top and each named shadow of the configuration's
  ``filter.namedShadowNames`` (with ``namedShadowIndexingMode`` ``ON``) under ``name``.

A listing costs one sort of the candidates' names (a group query's members, read from the group,
else every thing), on its first page; the names are kept under a cursor (the last
``_CURSORS`` listings), and each next page builds only its own documents. The token holds the
cursor and the last name listed: a thing deleted meanwhile is skipped, one added meanwhile is not
listed, and a token whose cursor is gone resumes after that name from a new sort.

Not emulated: the index's build time (``IndexNotReadyException``) and its lag behind writes
(AWS's index is eventually consistent; this one reads the live registry), connectivity and
Device Defender data, ``queryVersion``, and sorting of the results (AWS's order is unspecified;
this one is by thing name).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.iot.models import iot_backends

from stack.endpoint.exceptions import LocalAwsError

THINGS_INDEX = "AWS_Things"
MAX_RESULTS = 100
_FIELDS = ("thingName", "thingTypeName", "thingGroupNames")
_ATTRIBUTE = "attributes."
_FORBIDDEN = set('()[]{}"~^\\') | {" TO "}


class InvalidQueryException(LocalAwsError):
    code = "InvalidQueryException"


class InvalidRequestException(LocalAwsError):
    code = "InvalidRequestException"


class IndexNotFoundException(LocalAwsError):
    code = "ResourceNotFoundException"
    status = 404


@dataclass(frozen=True)
class Term:
    field: str
    value: str

    def matches(self, values: Iterable[str]) -> bool:
        if self.value.endswith("*"):
            prefix = self.value[:-1]
            return any(v.startswith(prefix) for v in values)
        return self.value in values


def parse_query(query: str) -> list[Term]:
    """The query's terms, all of which a thing must match."""
    if any(mark in query for mark in _FORBIDDEN):
        raise InvalidQueryException(f"unsupported query syntax: {query}")
    terms = []
    for word in query.split():
        if word == "AND":
            continue
        field, colon, value = word.partition(":")
        known = field in _FIELDS or (field.startswith(_ATTRIBUTE) and len(field) > len(_ATTRIBUTE))
        if not colon or not value or not known:
            raise InvalidQueryException(f"unsupported query term {word!r} in: {query}")
        terms.append(Term(field, value))
    if not terms:
        raise InvalidQueryException(f"empty query: {query!r}")
    return terms


@dataclass(frozen=True)
class Listing:
    """A query's candidates, sorted once for all its pages: (thing name, thing ARN)."""

    query: str
    things: tuple[tuple[str, str], ...]


_CURSORS: OrderedDict[str, Listing] = OrderedDict()
_CURSORS_KEPT = 64
_cursors_lock = threading.Lock()


def _name(thing: tuple[str, str]) -> str:
    return thing[0]


def _keep(listing: Listing) -> str:
    cursor = uuid.uuid4().hex
    with _cursors_lock:
        _CURSORS[cursor] = listing
        while len(_CURSORS) > _CURSORS_KEPT:
            _CURSORS.popitem(last=False)
    return cursor


def _kept(cursor: str, query: str) -> Listing | None:
    with _cursors_lock:
        listing = _CURSORS.get(cursor)
    return listing if listing is not None and listing.query == query else None


def _token(cursor: str, last: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([cursor, last]).encode()).decode()


def _resume(token: str | None) -> tuple[str, str] | None:
    """The cursor and the last name listed, from a nextToken."""
    if token is None:
        return None
    try:
        cursor, last = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as err:
        raise InvalidRequestException(f"invalid nextToken: {token}") from err
    if not isinstance(cursor, str) or not isinstance(last, str):
        raise InvalidRequestException(f"invalid nextToken: {token}")
    return cursor, last


def _value(config: Any, name: str) -> Any:
    return config.get(name) if isinstance(config, dict) else getattr(config, name, None)


def _shadow_section(shadow: Any) -> dict[str, Any] | None:
    if shadow is None or shadow.deleted:
        return None
    data = shadow.to_dict()
    state = {key: value for key, value in data["state"].items() if key != "delta"}
    return {
        **state,
        "metadata": data["metadata"],
        "version": data["version"],
        "hasDelta": "delta" in data["state"],
    }


class ThingIndex:
    """One account and region's ``AWS_Things``, read from moto's IoT backend."""

    def __init__(self, account: str, region: str) -> None:
        self.backend = iot_backends[account][region]
        self.config = self.backend.indexing_configuration.configuration.thingIndexingConfiguration

    def search(self, request: dict[str, Any]) -> dict[str, Any]:
        index = request.get("indexName") or THINGS_INDEX
        if index != THINGS_INDEX or self.config.thingIndexingMode == "OFF":
            raise IndexNotFoundException(
                f"Index {index} does not exist. Please enable index by calling "
                "UpdateIndexingConfiguration"
            )
        limit = request.get("maxResults", MAX_RESULTS)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS:
            raise InvalidRequestException(
                f"maxResults must be between 1 and {MAX_RESULTS}; it was {limit}"
            )
        query = request.get("queryString")
        if not isinstance(query, str) or not query:
            raise InvalidRequestException("queryString is required")
        terms = parse_query(query)
        resumed = _resume(request.get("nextToken"))
        listing = _kept(resumed[0], query) if resumed else None
        cursor = resumed[0] if resumed and listing else None
        if listing is None:
            listing = Listing(query, self._candidates(terms))
            cursor = _keep(listing)
        page, more = self._page(terms, listing, resumed[1] if resumed else None, limit)
        answer: dict[str, Any] = {"things": [self._document(t) for t in page]}
        if more and cursor is not None:
            answer["nextToken"] = _token(cursor, page[-1].thing_name)
        return answer

    def _candidates(self, terms: list[Term]) -> tuple[tuple[str, str], ...]:
        """(name, ARN) by name: a group term's members, else every thing of the account."""
        groups = [t for t in terms if t.field == "thingGroupNames" and not t.value.endswith("*")]
        if not groups:
            members: Iterable[Any] = self.backend.things.values()
        else:
            group = self._group(groups[0].value)
            members = group.things.values() if group is not None else ()
        return tuple(sorted((thing.thing_name, thing.arn) for thing in members))

    def _group(self, name: str) -> Any | None:
        for group in self.backend.thing_groups.values():
            if group.thing_group_name == name:
                return group
        return None

    def _page(
        self, terms: list[Term], listing: Listing, after: str | None, limit: int
    ) -> tuple[list[Any], bool]:
        start = 0 if after is None else bisect.bisect_right(listing.things, after, key=_name)
        page: list[Any] = []
        for index in range(start, len(listing.things)):
            thing = self.backend.things.get(listing.things[index][1])
            if thing is None:  # deleted since the listing began
                continue
            if all(term.matches(self._values(thing, term.field)) for term in terms):
                if len(page) == limit:
                    return page, True
                page.append(thing)
        return page, False

    def _values(self, thing: Any, field: str) -> list[str]:
        fields: dict[str, Callable[[], list[str]]] = {
            "thingName": lambda: [thing.thing_name],
            "thingTypeName": lambda: [thing.thing_type.thing_type_name] if thing.thing_type else [],
            "thingGroupNames": lambda: self._groups_of(thing),
        }
        if field in fields:
            return fields[field]()
        value = thing.attributes.get(field[len(_ATTRIBUTE) :])
        return [] if value is None else [str(value)]

    def _groups_of(self, thing: Any) -> list[str]:
        return [
            g.thing_group_name for g in self.backend.thing_groups.values() if thing.arn in g.things
        ]

    def _document(self, thing: Any) -> dict[str, Any]:
        document: dict[str, Any] = {
            "thingName": thing.thing_name,
            "thingId": thing.thing_id,
            "thingGroupNames": self._groups_of(thing),
            "attributes": dict(thing.attributes),
        }
        if thing.thing_type:
            document["thingTypeName"] = thing.thing_type.thing_type_name
        shadow = self._shadow(thing)
        if shadow:
            document["shadow"] = json.dumps(shadow, separators=(",", ":"))
        return document

    def _shadow(self, thing: Any) -> dict[str, Any]:
        if self.config.thingIndexingMode != "REGISTRY_AND_SHADOW":
            return {}
        shadow: dict[str, Any] = dict(_shadow_section(thing.thing_shadows.get(None)) or {})
        if self.config.namedShadowIndexingMode == "ON":
            wanted = _value(self.config.filter, "namedShadowNames") or []
            named = {
                name: section
                for name in wanted
                if (section := _shadow_section(thing.thing_shadows.get(name))) is not None
            }
            if named:
                shadow["name"] = named
        return shadow


def search_index(account: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
    return ThingIndex(account, region).search(request)


OPERATIONS = {"SearchIndex": search_index}
