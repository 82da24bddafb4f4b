"""bench/mqtt_lite.py: packets against the bytes of the MQTT 3.1.1 specification, and the client
against a scripted broker on a loopback socket."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.mqtt_lite import (
    DISCONNECT,
    MAX_REMAINING_LENGTH,
    PINGREQ,
    LiteClient,
    MqttError,
    Packet,
    PacketType,
    Will,
    encode_connect,
    encode_puback,
    encode_publish,
    encode_remaining_length,
    parse_connack,
    parse_puback,
    split_packets,
)


# Section 2.2.3's table: the boundaries of one to four bytes.
@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ],
)
def test_remaining_length_matches_the_specification(length: int, encoded: bytes) -> None:
    assert encode_remaining_length(length) == encoded


def test_remaining_length_beyond_four_bytes_is_refused() -> None:
    with pytest.raises(MqttError):
        encode_remaining_length(MAX_REMAINING_LENGTH + 1)


def test_connect_without_will() -> None:
    # 3.1: protocol name "MQTT", level 4, flags 0x02 (clean session), keep-alive 30, client id.
    assert encode_connect("cam-1", 30) == (b"\x10\x11\x00\x04MQTT\x04\x02\x00\x1e\x00\x05cam-1")


def test_connect_with_a_retained_qos1_will() -> None:
    will = Will("fleet/c/status", b"off", qos=1, retain=True)
    packet = encode_connect("c", 60, will)
    # Flags: will retain 0x20 | will QoS 1 0x08 | will flag 0x04 | clean session 0x02 = 0x2e.
    body = b"\x00\x04MQTT\x04\x2e\x00\x3c\x00\x01c\x00\x0efleet/c/status\x00\x03off"
    assert packet == b"\x10" + bytes([len(body)]) + body


def test_publish_qos1_retained_carries_its_packet_id() -> None:
    assert encode_publish("a/b", b"hi", qos=1, retain=True, packet_id=10) == (
        b"\x33\x09\x00\x03a/b\x00\x0ahi"
    )


def test_publish_qos0_has_no_packet_id() -> None:
    assert encode_publish("a/b", b"hi") == b"\x30\x07\x00\x03a/bhi"


@pytest.mark.parametrize("qos, packet_id", [(1, 0), (1, 65_536), (2, 1)])
def test_publish_refuses_what_it_cannot_send(qos: int, packet_id: int) -> None:
    with pytest.raises(MqttError):
        encode_publish("t", b"", qos=qos, packet_id=packet_id)


def test_fixed_packets() -> None:
    assert PINGREQ == b"\xc0\x00"
    assert DISCONNECT == b"\xe0\x00"
    assert encode_puback(0x0102) == b"\x40\x02\x01\x02"


def test_split_keeps_an_incomplete_packet_for_later() -> None:
    stream = b"\x20\x02\x00\x00" + b"\x40\x02\x00\x07" + b"\xd0\x00" + b"\x40\x02\x00"
    packets, used = split_packets(stream)
    assert [p.type for p in packets] == [PacketType.CONNACK, PacketType.PUBACK, PacketType.PINGRESP]
    assert used == 10
    assert parse_puback(packets[1]) == 7


def test_split_waits_for_a_multibyte_length() -> None:
    big = encode_publish("t", b"x" * 200)
    assert split_packets(big[:2]) == ([], 0)
    packets, used = split_packets(big)
    assert used == len(big) and packets[0].body.endswith(b"x" * 200)


@given(st.lists(st.tuples(st.text(min_size=1, max_size=40), st.binary(max_size=300)), max_size=8))
def test_split_reads_back_what_was_encoded(messages: list[tuple[str, bytes]]) -> None:
    stream = b"".join(encode_publish(t, p) for t, p in messages)
    packets, used = split_packets(stream)
    assert used == len(stream)
    assert [p.body for p in packets] == [
        len(t.encode()).to_bytes(2, "big") + t.encode() + p for t, p in messages
    ]


def test_connack_session_present_and_refusals() -> None:
    assert parse_connack(Packet(PacketType.CONNACK, 0, b"\x01\x00")) is True
    assert parse_connack(Packet(PacketType.CONNACK, 0, b"\x00\x00")) is False
    with pytest.raises(MqttError, match="not authorized"):
        parse_connack(Packet(PacketType.CONNACK, 0, b"\x00\x05"))


# The client against a scripted broker.


class ScriptedBroker:
    """Accepts one client; answers CONNACK (with `return_code`) and PUBACK; records packets."""

    def __init__(self, return_code: int = 0) -> None:
        self.return_code = return_code
        self.received: list[Packet] = []
        self.closed = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = bytearray()
        while data := await reader.read(4096):
            buffer += data
            packets, used = split_packets(buffer)
            del buffer[:used]
            for packet in packets:
                self.received.append(packet)
                if packet.type is PacketType.CONNECT:
                    writer.write(bytes([0x20, 2, 0, self.return_code]))
                elif packet.type is PacketType.PUBLISH and packet.flags & 0x02:
                    topic_length = int.from_bytes(packet.body[:2], "big")
                    packet_id = packet.body[2 + topic_length : 4 + topic_length]
                    writer.write(b"\x40\x02" + packet_id)
        writer.close()
        self.closed.set()


async def _with_broker(broker: ScriptedBroker) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(broker.handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_client_connects_publishes_and_disconnects() -> None:
    async def scenario() -> list[Packet]:
        broker = ScriptedBroker()
        server, port = await _with_broker(broker)
        client = LiteClient("cam-1", 30, Will("fleet/cam-1/status", b"off"))
        assert await client.connect("127.0.0.1", port, None) is False
        await client.publish("fleet/cam-1/status", b"on", qos=1, retain=True)
        await client.publish("fleet/cam-1/health", b"h", qos=1)
        await client.disconnect()
        await asyncio.wait_for(broker.closed.wait(), 5)
        server.close()
        return broker.received

    received = asyncio.run(scenario())
    assert [p.type for p in received] == [
        PacketType.CONNECT,
        PacketType.PUBLISH,
        PacketType.PUBLISH,
        PacketType.DISCONNECT,
    ]
    assert received[0].body.endswith(b"\x00\x12fleet/cam-1/status\x00\x03off")
    assert received[1].flags == 0x03 and received[2].flags == 0x02  # QoS 1, retained or not


def test_refused_connection_raises() -> None:
    async def scenario() -> None:
        server, port = await _with_broker(ScriptedBroker(return_code=5))
        try:
            await LiteClient("cam-1").connect("127.0.0.1", port, None)
        finally:
            server.close()

    with pytest.raises(MqttError, match="not authorized"):
        asyncio.run(scenario())


def test_publish_fails_when_the_connection_drops_before_the_ack() -> None:
    async def scenario() -> None:
        async def connack_then_hang_up(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            await reader.read(4096)
            writer.write(b"\x20\x02\x00\x00")
            await reader.read(4096)  # the publish, never acknowledged
            writer.close()

        server = await asyncio.start_server(connack_then_hang_up, "127.0.0.1", 0)
        client = LiteClient("cam-1")
        await client.connect("127.0.0.1", server.sockets[0].getsockname()[1], None)
        try:
            await asyncio.wait_for(client.publish("t", b"x"), 5)
        finally:
            server.close()

    with pytest.raises(MqttError, match="connection lost"):
        asyncio.run(scenario())
