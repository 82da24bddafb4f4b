"""What the analyzers' benchmark watches on its local stack, each in a thread of its own.

- `TopicObserver`: an SQS queue of the benchmark's own subscribed to an SNS topic (the fleet's
  Rekognition topic, its notifications topic), drained continuously; each message is kept with
  the time SQS received it (its SentTimestamp), so arrivals are timed however late they are read.
- `ImageRequests`: the local endpoint's request log (`GET /_fleet/requests`): every
  GetDataEndpoint, GetImages and DetectLabels request with its arrival time and its caller's
  `app/<id>`. The endpoint numbers a request when it arrives, logs it once handled and keeps its
  last 10,000: it is read every second from the oldest number not seen yet (one missing for over
  20 s is given up, and counted).
- `OtherCpu`: what other processes on the machine used meanwhile.
"""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from bench.analysis_core import Arrival, RequestCount
from tests.support.endpoint_admin import last_seq, requests_since

if TYPE_CHECKING:
    from types_boto3_sns import SNSClient
    from types_boto3_sqs import SQSClient

IMAGE_OPERATIONS = {
    "GetDataEndpoint": "get_data_endpoint",
    "GetImages": "get_images",
    "DetectLabels": "detect_labels",
}


class TopicObserver:
    def __init__(self, sqs: SQSClient, sns: SNSClient, topic_arn: str, queue_name: str) -> None:
        self._sqs = sqs
        self.url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
        self._arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name=queue_name, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                self.read(wait_seconds=1)
            except Exception:  # the endpoint restarting or busy: read again
                self._stop.wait(1)

    def read(self, wait_seconds: int = 0) -> None:
        answer = self._sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["SentTimestamp"],
        )
        for message in answer.get("Messages", []):
            sent = int(message.get("Attributes", {}).get("SentTimestamp", time.time() * 1000))
            with self._lock:
                self._arrivals.append(Arrival(sent, message["Body"]))
            self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def arrivals(self, since_ms: int = 0) -> list[Arrival]:
        with self._lock:
            return [a for a in self._arrivals if a.arrived_ms >= since_ms]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class ImageRequests:
    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint
        self._records: list[dict[str, Any]] = []
        self.given_up = 0
        self._lock = threading.Lock()
        self._complete = last_seq(endpoint)  # every request up to this one was read
        self._seen: set[int] = set()  # read, above `_complete`
        self._waiting_since = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.read()
            except OSError:  # the endpoint busy: read again
                continue

    def read(self) -> None:
        with self._lock:
            for record in requests_since(self._endpoint, self._complete):
                seq = int(record["seq"])
                if seq in self._seen:
                    continue
                self._seen.add(seq)
                if record.get("operation") in IMAGE_OPERATIONS:
                    self._records.append(record)
            before = self._complete
            while self._seen:
                if self._complete + 1 in self._seen:
                    self._seen.remove(self._complete + 1)
                elif time.monotonic() - self._waiting_since > 20:
                    self.given_up += 1
                else:
                    break
                self._complete += 1
                self._waiting_since = time.monotonic()
            if self._complete == before and not self._seen:
                self._waiting_since = time.monotonic()

    def count(self, from_ms: int, to_ms: int, app_id: str | None = None) -> RequestCount:
        """Image requests that arrived in [from_ms, to_ms] from the caller `app_id` (None: the
        stack's own parts, which send no app id)."""
        self.read()
        counts = dict.fromkeys(IMAGE_OPERATIONS.values(), 0)
        with self._lock:
            for record in self._records:
                if from_ms <= int(record["time_ms"]) <= to_ms and record.get("app_id") == app_id:
                    counts[IMAGE_OPERATIONS[record["operation"]]] += 1
        return RequestCount(**counts)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class OtherCpu:
    """CPU time used by processes that are not this run's (the benchmark and its children, its
    stack's parts, whose working directory is in the run's directory, and theirs): the machine
    may be shared. Sampled at the start and end of each round, so processes that come and go in
    between are missed: a lower bound."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = str(workdir)
        self._last: dict[tuple[int, float], float] = {}

    def _mine(self) -> set[int]:
        me = psutil.Process()
        roots = [me]
        for proc in psutil.process_iter(["pid"]):
            with suppress(psutil.Error):
                if proc.cwd().startswith(self._workdir):
                    roots.append(proc)
        mine = set()
        for root in roots:
            with suppress(psutil.Error):
                mine.add(root.pid)
                mine.update(child.pid for child in root.children(recursive=True))
        return mine

    def sample(self) -> float:
        """Other processes' CPU seconds since the previous sample (0 at the first)."""
        mine = self._mine()
        now: dict[tuple[int, float], float] = {}
        for proc in psutil.process_iter(["pid"]):
            if proc.pid in mine:
                continue
            with suppress(psutil.Error):
                times = proc.cpu_times()
                now[(proc.pid, proc.create_time())] = times.user + times.system
        first = not self._last
        used = sum(cpu - self._last.get(key, 0.0) for key, cpu in now.items())
        self._last = now
        return 0.0 if first else max(0.0, used)
