"""Benchmark: known faces against the local AWS endpoint (its real face model): who is named on
pictures of two people at the fleet's threshold and around it, and the latency recognition adds
to a detection, against the same detection handled without it, in one run.

    .venv/bin/python -m bench.faces [--samples 30] [--show]

(As a module: run as a script, `bench/` comes first on the import path and `bench/cli.py` hides
the `cli` package.)

The local AWS endpoint runs as its own process (`python -m stack.endpoint`, as `fleet up` starts
it) on a free port, with a fleet of the benchmark's own (`ensure_fleet`).

- **Who is named**: person A is indexed as `alice` from one photo (`fleet faces add`'s
  `add_person`), then every picture of `bench/faces_images.py` (A and B, 17 each: the person's
  photograph changed 14 ways, and 3 frames of their door scene) is stored in the results bucket
  and searched as a detection's frame is (`recognise_frame`: its faces, each face's crop
  searched), once at threshold 0 (each face's best similarity: the sweep over 80, 90, 95, 99
  follows) and once at the fleet's threshold (the product's own answer). Then `alice` is
  removed, B is indexed as `bob`, and the same again.
- **Latency**: two cameras of the fleet, one registered with `recognize_faces` and one without;
  per sample, a LABEL_DETECTED (PERSON) for each, with a 1280x720 frame of A or B stored where
  the analyzers store frames, through the fleet's topic and queue; the results consumer's
  `handle` of each is timed (store, recognition on the one camera, notify), in alternating order;
  then `recognise_frame` alone on another frame. Every frame is new to the endpoint, which
  remembers the last images it analysed. Two warm-up samples are not counted.

Prints tables and writes bench/results/faces.json; details and the latest figures:
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.faces_core import (
    THRESHOLDS,
    LatencySample,
    Search,
    SeenFace,
    at_fleet,
    latency_figures,
    outcome,
    similarities,
    sweep,
    targets,
)
from bench.faces_images import (
    FRAME_HEIGHT,
    FRAME_WIDTH,
    VARIANTS,
    Person,
    Probe,
    enrolment_photo,
    latency_frame,
    probes,
)
from bench.faces_observe import CallTimer, EndpointProcess, endpoint_process
from bench.faces_report import tables
from bench.local_aws import local_settings
from cloud import detections, iot, registry
from cloud.clients import AwsClients
from cloud.faces.checks import check_photo
from cloud.faces.gallery import add_person, remove_person
from cloud.faces.models import FaceRecognition, FaceStatus
from cloud.faces.recognition import recognise_frame
from cloud.fleet import ensure_fleet, fleet_names
from cloud.models import CameraSpec
from cloud.naming import FleetNames
from cloud.queues import QueueMessage
from cloud.rekognition_messages import DetectionRecord
from services.results_consumer.rekognition_faces import RekognitionFaces
from services.results_consumer.service import (
    ConsumerConfig,
    ResultsConsumer,
    ResultsEndpoints,
)
from services.results_consumer.service import (
    Outcome as Handled,
)
from tests.support.endpoint_admin import last_seq, requests_since
from tests.support.results_messages import label_detected

RESULTS = Path(__file__).parent / "results"
NAMES = {Person.A: "alice", Person.B: "bob"}
PLAIN, FACES = "bench-plain", "bench-faces"  # cameras without and with recognition
PROBE_CAMERA = "bench-probes"
WARM_UP = 2
OTHER_FRAME = 1000  # latency_frame(i + this): the same person, elsewhere in the frame
PRODUCER_MS = 1_800_000_000_000


class NoEvents:
    """Prefect events are not part of what is timed: the consumer's event sink does nothing."""

    def detection(self, fleet: str, record: DetectionRecord) -> None:
        return None


def _progress(line: str) -> None:
    print(f"[faces] {line}", file=sys.stderr, flush=True)


def seen_faces(found: FaceRecognition) -> tuple[SeenFace, ...] | None:
    """A recognition's faces as the figures take them (None: it failed)."""
    if found.status is FaceStatus.FAILED:
        return None
    return tuple(SeenFace(f.name, f.similarity) for f in found.faces)


# Who is named.


def store_probes(clients: AwsClients, names: FleetNames, pictures: list[Probe]) -> list[str]:
    """Each picture in the results bucket, under a camera's results prefix; their keys."""
    keys = []
    for number, probe in enumerate(pictures):
        key = f"{names.results_prefix(PROBE_CAMERA)}/probes/{number:02d}-{probe.person}.jpg"
        clients.s3.put_object(Bucket=names.results_bucket, Key=key, Body=probe.data)
        keys.append(key)
    return keys


def search_round(
    clients: AwsClients,
    names: FleetNames,
    person: Person,
    pictures: list[Probe],
    keys: list[str],
    threshold: float,
) -> list[Search]:
    """Index `person` from one photo, search every picture, then remove the person again."""
    name = NAMES[person]
    add_person(clients, names, name, [check_photo(f"{name}.jpg", enrolment_photo(person))])
    bucket, collection = names.results_bucket, names.faces_collection
    searches = []
    for probe, key in zip(pictures, keys, strict=True):
        everyone = seen_faces(recognise_frame(clients, collection, bucket, key, 0.0))
        fleet = seen_faces(recognise_frame(clients, collection, bucket, key, threshold))
        known = probe.person is person
        searches.append(
            Search(
                person=probe.person.value,
                variant=probe.variant,
                indexed=name,
                known=known,
                faces=everyone,
                at_fleet=outcome(fleet, name if known else None, threshold),
            )
        )
    removed = remove_person(clients, names, name)
    if removed.faces_left or removed.objects_left:
        raise RuntimeError(f"{name} was not removed: {removed.proof}")
    return searches


# Latency.


def register(clients: AwsClients, names: FleetNames) -> None:
    """The two cameras' things as registration writes them (no stream or processor is needed:
    the consumer reads only the thing's attributes)."""
    for camera, recognise in ((PLAIN, False), (FACES, True)):
        spec = CameraSpec(camera_id=camera, recognize_faces=recognise)
        iot.ensure_thing(clients, names.thing(camera), registry.thing_attributes(spec, names.fleet))


def _detection(
    clients: AwsClients, consumer: ResultsConsumer, names: FleetNames, camera: str, i: int
) -> QueueMessage:
    """A LABEL_DETECTED of `camera`, published to the fleet's topic, as received from its queue
    (its frame must be stored already)."""
    message = label_detected(
        names.fleet,
        camera,
        f"s{i}",
        "PERSON",
        97.0,
        PRODUCER_MS + 1000 * i,
        names.results_bucket,
    )
    clients.sns.publish(
        TopicArn=names.topic_arn(),
        Subject="Rekognition Stream Processing Event",
        Message=json.dumps(message),
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        received = consumer.receive(wait_seconds=1)
        if received:
            (only,) = received
            return only
    raise RuntimeError(f"camera {camera}: the detection {i} did not reach the results queue")


def _frame_key(names: FleetNames, camera: str, i: int) -> str:
    """Where LABEL_DETECTED's frameImageUri points (`label_detected`'s layout)."""
    return f"{names.results_prefix(camera)}/{names.fleet}-{camera}/s{i}/PERSON-1/frame.jpg"


@dataclass
class Handling:
    """One timed `handle`: wall time, the endpoint's CPU time, the requests it logged and the
    client-side time of each call."""

    ms: float
    endpoint_cpu_ms: float
    requests: dict[str, int]
    calls_ms: dict[str, float]


def _timed_handle(
    consumer: ResultsConsumer, message: QueueMessage, endpoint: EndpointProcess, calls: CallTimer
) -> Handling:
    seq = last_seq(endpoint.url)
    calls.take()
    cpu = endpoint.cpu_ms()
    began = time.perf_counter()
    handled = consumer.handle(message)
    elapsed = (time.perf_counter() - began) * 1000
    cpu = endpoint.cpu_ms() - cpu
    if handled is not Handled.STORED:
        raise RuntimeError(f"the consumer's handle answered {handled.value}, not stored")
    requests = Counter(str(r["operation"]) for r in requests_since(endpoint.url, seq))
    return Handling(elapsed, cpu, dict(requests), calls.take())


def latency_round(
    clients: AwsClients,
    names: FleetNames,
    endpoint: EndpointProcess,
    threshold: float,
    samples: int,
) -> list[LatencySample]:
    register(clients, names)
    calls = CallTimer(
        [clients.rekognition, clients.s3, clients.dynamodb, clients.sns, clients.sqs, clients.iot]
    )
    consumer = ResultsConsumer(
        clients,
        names,
        ResultsEndpoints.locate(clients, names),
        ConsumerConfig(wait_seconds=1, cooldown_seconds=0),
        NoEvents(),
        faces=RekognitionFaces(clients, names, threshold),
    )
    bucket, collection = names.results_bucket, names.faces_collection
    found = []
    for i in range(WARM_UP + samples):
        person, frame = latency_frame(i)
        messages = {}
        for camera in (PLAIN, FACES):
            clients.s3.put_object(Bucket=bucket, Key=_frame_key(names, camera, i), Body=frame)
            messages[camera] = _detection(clients, consumer, names, camera, i)
        timed = {}
        for camera in (PLAIN, FACES) if i % 2 == 0 else (FACES, PLAIN):
            timed[camera] = _timed_handle(consumer, messages[camera], endpoint, calls)
        _, other = latency_frame(i + OTHER_FRAME)
        key = f"{names.results_prefix(PROBE_CAMERA)}/alone/{i}.jpg"
        clients.s3.put_object(Bucket=bucket, Key=key, Body=other)
        began = time.perf_counter()
        alone = recognise_frame(clients, collection, bucket, key, threshold)
        alone_ms = (time.perf_counter() - began) * 1000
        (record,) = detections.list_detections(clients, names.detections_table, FACES, 1)
        if alone.status is FaceStatus.FAILED or record.faces is None:
            raise RuntimeError(f"recognition failed on sample {i}: {alone.reason}")
        if i < WARM_UP:
            continue
        plain, faces = timed[PLAIN], timed[FACES]
        found.append(
            LatencySample(
                person=person.value,
                without_ms=round(plain.ms, 1),
                with_ms=round(faces.ms, 1),
                recognise_ms=round(alone_ms, 1),
                status=record.faces.status.value,
                endpoint_cpu_without_ms=round(plain.endpoint_cpu_ms, 1),
                endpoint_cpu_with_ms=round(faces.endpoint_cpu_ms, 1),
                requests_without=plain.requests,
                requests_with=faces.requests,
                calls_with_ms=faces.calls_ms,
            )
        )
    return found


# The run.


def commit_id() -> str | None:
    """The checkout's commit (and whether it has changes), for the record."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}{' (with changes)' if changed else ''}"


def run(samples: int) -> dict[str, Any]:
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="bench-faces-"))
    settings = local_settings(workdir / "home")
    threshold = settings.face_match_threshold
    loads = [os.getloadavg()[0]]
    try:
        with endpoint_process(settings.aws_port, workdir) as endpoint:
            clients = AwsClients(settings)
            ensure_fleet(clients)
            names = fleet_names(clients)
            pictures = probes()
            keys = store_probes(clients, names, pictures)
            _progress(f"endpoint up, {len(pictures)} pictures: {time.monotonic() - began:.0f} s")
            searches: list[Search] = []
            for person in Person:
                searches += search_round(clients, names, person, pictures, keys, threshold)
                loads.append(os.getloadavg()[0])
                _progress(f"{NAMES[person]} indexed, searched: {time.monotonic() - began:.0f} s")
            add_person(clients, names, "bob", [check_photo("bob.jpg", enrolment_photo(Person.B))])
            timed = latency_round(clients, names, endpoint, threshold, samples)
            loads.append(os.getloadavg()[0])
            _progress(f"{samples} detections timed: {time.monotonic() - began:.0f} s")
    except BaseException:
        _progress(f"failed; the endpoint's log: {workdir / 'endpoint.log'}")
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    fleet = at_fleet(searches, threshold)
    latency = latency_figures(timed)
    return {
        "settings": {
            "threshold": threshold,
            "thresholds": sorted({*THRESHOLDS, threshold}),
            "pictures": len(pictures),
            "variants": [v.name for v in VARIANTS],
            "samples": samples,
            "warm_up": WARM_UP,
            "frame": f"{FRAME_WIDTH}x{FRAME_HEIGHT}",
            "cpus": os.cpu_count(),
            "commit": commit_id(),
        },
        "load_averages": [round(load, 2) for load in loads],
        "sweep": sweep(searches, {*THRESHOLDS, threshold}),
        "at_fleet": fleet,
        "similarities": similarities(searches),
        "latency": latency,
        "targets": targets(fleet, latency),
        "searches": [{**asdict(s), "at_fleet": s.at_fleet.value} for s in searches],
        "latency_samples": [asdict(s) for s in timed],
        "seconds": round(time.monotonic() - began, 1),
    }


def _samples(text: str) -> int:
    value = int(text)
    if not 5 <= value <= 200:
        raise argparse.ArgumentTypeError(f"{value} is not within 5 to 200")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--samples", type=_samples, default=30, help="detections timed per camera (5 to 200)"
    )
    parser.add_argument(
        "--show", action="store_true", help="print the tables of the last run's JSON; run nothing"
    )
    args = parser.parse_args()
    if args.show:
        result = json.loads((RESULTS / "faces.json").read_text())
    else:
        result = run(args.samples)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "faces.json").write_text(json.dumps(result, indent=2) + "\n")
    console = Console(width=200)
    for table in tables(result):
        console.print(table)
    fleet = result["at_fleet"]
    agree = "agree" if not fleet["disagree"] else f"differ on {'; '.join(fleet['disagree'])}"
    console.print(
        f"the product's searches at {fleet['threshold']:g} and the sweep's figures at "
        f"{fleet['threshold']:g} {agree}"
    )
    for target in result["targets"]:
        console.print(
            f"{'met' if target['met'] else 'MISSED'}: {target['target']}: {target['measured']}"
        )
    s = result["settings"]
    console.print(
        f"commit {s['commit']}, {s['cpus']} CPUs, load {min(result['load_averages']):.1f} to "
        f"{max(result['load_averages']):.1f}; run took {result['seconds']:.0f} s; results: "
        f"{RESULTS / 'faces.json'}"
    )


if __name__ == "__main__":
    main()
