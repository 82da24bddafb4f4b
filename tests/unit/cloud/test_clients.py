from __future__ import annotations

import threading
from pathlib import Path

from botocore.stub import Stubber

from cloud.clients import AwsClients
from cloud.settings import FleetSettings, Target


def test_each_client_is_made_once_and_shared_across_threads(tmp_path: Path) -> None:
    clients = AwsClients(FleetSettings(home=tmp_path))
    seen: list[object] = []
    start = threading.Barrier(8)

    def take() -> None:
        start.wait()
        seen.append(clients.sqs)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and all(client is seen[0] for client in seen)
    assert clients.s3 is clients.s3


def test_local_clients_talk_to_the_local_endpoint(tmp_path: Path) -> None:
    settings = FleetSettings(home=tmp_path, aws_port=5999)
    clients = AwsClients(settings)
    assert clients.iot_data.meta.endpoint_url == settings.endpoint_url
    assert clients.quotas.meta.service_model.service_name == "service-quotas"
    assert clients.kvs.meta.region_name == settings.region


def test_on_aws_the_shadow_client_uses_the_accounts_ats_endpoint(tmp_path: Path) -> None:
    clients = AwsClients(FleetSettings(home=tmp_path, target=Target.AWS, region="eu-west-1"))
    host = "abc123-ats.iot.eu-west-1.amazonaws.com"
    with Stubber(clients.iot) as stub:
        stub.add_response(
            "describe_endpoint", {"endpointAddress": host}, {"endpointType": "iot:Data-ATS"}
        )
        assert clients.iot_data.meta.endpoint_url == f"https://{host}"
        assert clients.iot_data is clients.iot_data  # described once
        stub.assert_no_pending_responses()
