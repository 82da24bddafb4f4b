"""A minimal MQTT 3.1.1 client on asyncio: CONNECT (with a Last Will), PUBLISH at QoS 0 or 1,
PUBACK, PINGREQ and DISCONNECT over one TLS connection, for simulating thousands of cameras in
one process where awsiotsdk's client (an event-loop thread and native buffers each) would not fit.

Packet encoding and decoding are pure functions (MQTT 3.1.1, OASIS standard, section 3); the
client is an `asyncio.Protocol`. Not implemented: SUBSCRIBE (a simulated camera takes no
commands), QoS 2, receiving PUBLISH (a packet the broker sends unasked is ignored), retries of an
unacknowledged publish after a reconnect (the caller sees the failure and decides).
"""

from __future__ import annotations

import asyncio
import ssl
import struct
import time
from dataclasses import dataclass
from enum import IntEnum

PROTOCOL_NAME = b"MQTT"
PROTOCOL_LEVEL = 4  # 3.1.1
MAX_REMAINING_LENGTH = 268_435_455


class PacketType(IntEnum):
    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14


class MqttError(Exception):
    """A malformed packet, a refused connection or a connection lost before an answer."""


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class Packet:
    """One packet read off the wire: its type, the fixed header's flags and its body."""

    type: PacketType
    flags: int
    body: bytes


# Encoding (section 2.2 and 3).


def encode_remaining_length(length: int) -> bytes:
    """The variable-length integer of section 2.2.3: 7 bits a byte, high bit = more follow."""
    if not 0 <= length <= MAX_REMAINING_LENGTH:
        raise MqttError(f"remaining length {length} out of range")
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | 0x80 if length else byte)
        if not length:
            return bytes(out)


def _string(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    if len(data) > 0xFFFF:
        raise MqttError("string longer than 65,535 bytes")
    return struct.pack("!H", len(data)) + data


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + encode_remaining_length(len(body)) + body


def encode_connect(
    client_id: str, keep_alive_s: int, will: Will | None = None, clean_session: bool = True
) -> bytes:
    flags = 0x02 if clean_session else 0
    payload = _string(client_id)
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += _string(will.topic) + _string(will.payload)
    header = (
        _string(PROTOCOL_NAME) + bytes([PROTOCOL_LEVEL, flags]) + struct.pack("!H", keep_alive_s)
    )
    return _packet(PacketType.CONNECT << 4, header + payload)


def encode_publish(
    topic: str, payload: bytes, qos: int = 0, retain: bool = False, packet_id: int = 0
) -> bytes:
    if qos not in (0, 1):
        raise MqttError(f"QoS {qos} is not supported")
    if qos and not 0 < packet_id <= 0xFFFF:
        raise MqttError("a QoS 1 publish needs a packet id in 1..65535")
    first = PacketType.PUBLISH << 4 | qos << 1 | (1 if retain else 0)
    body = _string(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload
    return _packet(first, body)


def encode_puback(packet_id: int) -> bytes:
    return _packet(PacketType.PUBACK << 4, struct.pack("!H", packet_id))


PINGREQ = bytes([PacketType.PINGREQ << 4, 0])
DISCONNECT = bytes([PacketType.DISCONNECT << 4, 0])


# Decoding.


def split_packets(buffer: bytes | bytearray) -> tuple[list[Packet], int]:
    """The complete packets at the start of `buffer`, and how many bytes they took."""
    packets: list[Packet] = []
    pos = 0
    while pos + 2 <= len(buffer):
        length, multiplier, i = 0, 1, pos + 1
        while True:
            if i >= len(buffer):
                return packets, pos  # the length itself is incomplete
            byte = buffer[i]
            length += (byte & 0x7F) * multiplier
            i += 1
            if not byte & 0x80:
                break
            multiplier *= 128
            if multiplier > 128**3:
                raise MqttError("malformed remaining length")
        if i + length > len(buffer):
            return packets, pos
        kind = buffer[pos] >> 4
        try:
            packet_type = PacketType(kind)
        except ValueError as err:
            raise MqttError(f"unexpected packet type {kind}") from err
        packets.append(Packet(packet_type, buffer[pos] & 0x0F, bytes(buffer[i : i + length])))
        pos = i + length
    return packets, pos


CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorized",
}


def parse_connack(packet: Packet) -> bool:
    """The session-present flag; raises when the broker refused the connection."""
    if packet.type is not PacketType.CONNACK or len(packet.body) != 2:
        raise MqttError(f"expected CONNACK, got {packet.type.name}")
    code = packet.body[1]
    if code:
        raise MqttError(f"connection refused: {CONNACK_REASONS.get(code, code)}")
    return bool(packet.body[0] & 0x01)


def parse_puback(packet: Packet) -> int:
    if packet.type is not PacketType.PUBACK or len(packet.body) != 2:
        raise MqttError(f"expected PUBACK, got {packet.type.name}")
    packet_id: int = struct.unpack("!H", packet.body)[0]
    return packet_id


# The client.


class LiteClient(asyncio.Protocol):
    """One MQTT connection. `publish` at QoS 1 returns when the PUBACK arrives; `abort` cuts the
    connection without DISCONNECT, so the broker publishes the Will."""

    def __init__(self, client_id: str, keep_alive_s: int = 30, will: Will | None = None):
        self.client_id = client_id
        self.keep_alive_s = keep_alive_s
        self.will = will
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._connack: asyncio.Future[bool] | None = None
        self._acks: dict[int, asyncio.Future[None]] = {}
        self._next_id = 0
        self._last_sent = 0.0
        self._pinger: asyncio.Task[None] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def connect(
        self, host: str, port: int, context: ssl.SSLContext | None, timeout_s: float = 30.0
    ) -> bool:
        """TLS (plain TCP without a context), CONNECT, CONNACK; the session-present flag."""
        loop = asyncio.get_running_loop()
        self._connack = loop.create_future()
        async with asyncio.timeout(timeout_s):
            await loop.create_connection(
                lambda: self,
                host,
                port,
                ssl=context,
                ssl_handshake_timeout=timeout_s if context else None,
            )
            self._send(encode_connect(self.client_id, self.keep_alive_s, self.will))
            session = await self._connack
        self._pinger = loop.create_task(self._keep_alive())
        return session

    @property
    def connected(self) -> bool:
        return self._transport is not None and not self.closed.done()

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        if not self.connected:
            raise MqttError(f"{self.client_id}: not connected")
        if qos == 0:
            self._send(encode_publish(topic, payload, 0, retain))
            return
        packet_id = self._take_id()
        ack = asyncio.get_running_loop().create_future()
        self._acks[packet_id] = ack
        self._send(encode_publish(topic, payload, 1, retain, packet_id))
        await ack

    async def disconnect(self) -> None:
        """A clean DISCONNECT: the broker discards the Will."""
        if self.connected:
            self._send(DISCONNECT)
            assert self._transport is not None
            self._transport.close()
        await asyncio.shield(self.closed)

    def abort(self) -> None:
        """Drop the connection without DISCONNECT: to the broker, a camera cut off."""
        if self._transport is not None:
            self._transport.abort()

    def _take_id(self) -> int:
        for _ in range(0xFFFF):
            self._next_id = self._next_id % 0xFFFF + 1
            if self._next_id not in self._acks:
                return self._next_id
        raise MqttError(f"{self.client_id}: 65,535 publishes unacknowledged")

    def _send(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.write(data)
        self._last_sent = time.monotonic()

    async def _keep_alive(self) -> None:
        """A PINGREQ when nothing was sent for most of the keep-alive (section 3.1.2.10)."""
        interval = self.keep_alive_s * 0.75
        while self.connected:
            idle = time.monotonic() - self._last_sent
            if idle >= interval:
                self._send(PINGREQ)
                idle = 0.0
            await asyncio.sleep(interval - idle)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            packets, used = split_packets(self._buffer)
        except MqttError as err:
            self._fail(err)
            return
        del self._buffer[:used]
        for packet in packets:
            self._handle(packet)

    def _handle(self, packet: Packet) -> None:
        if packet.type is PacketType.CONNACK and self._connack and not self._connack.done():
            try:
                self._connack.set_result(parse_connack(packet))
            except MqttError as err:
                self._connack.set_exception(err)
        elif packet.type is PacketType.PUBACK:
            ack = self._acks.pop(parse_puback(packet), None)
            if ack is not None and not ack.done():
                ack.set_result(None)
        elif packet.type is PacketType.PUBLISH and packet.flags & 0x06:
            topic_length = struct.unpack("!H", packet.body[:2])[0]
            (packet_id,) = struct.unpack("!H", packet.body[2 + topic_length : 4 + topic_length])
            self._send(encode_puback(packet_id))  # QoS 1 from the broker: acknowledged, dropped

    def _fail(self, err: Exception) -> None:
        if self._transport is not None:
            self._transport.abort()
        self.connection_lost(err)

    def connection_lost(self, exc: Exception | None) -> None:
        err = MqttError(f"{self.client_id}: connection lost ({exc or 'closed'})")
        for future in [self._connack, *self._acks.values()]:
            if future is not None and not future.done():
                future.set_exception(err)
        self._acks.clear()
        if self._pinger is not None:
            self._pinger.cancel()
        if not self.closed.done():
            self.closed.set_result(None)


def tls_context(ca: str, cert: str, key: str) -> ssl.SSLContext:
    """Mutual TLS with one identity: the broker checked against `ca`, `cert`/`key` presented."""
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    return context
