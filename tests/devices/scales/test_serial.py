"""SerialScale: its two frame decoders, and the scale itself over real kernel ptys.

The test holds the master end of a pty, where the scale's bytes would come from; the scale opens
the slave end by its path, as it would open /dev/ttyUSB0. In request mode the test reads the
scale's ``W<CR>`` on the master and answers as an NCI scale does.
"""

from __future__ import annotations

import os
import random
import select
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bus_waits import WITHIN_S, next_event, next_state, until
from hypothesis import given, settings
from hypothesis import strategies as st
from pty_device import PtyDevice, point

from stationd.devices.scales.scale import (
    MAX_GRAMS,
    NoWeight,
    Reading,
    Scale,
    ScaleState,
    SimulatedScale,
    Unreadable,
    WeightRead,
)
from stationd.devices.scales.serial import (
    ContinuousDecoder,
    NciReplyDecoder,
    NciStatus,
    SerialScale,
    parse_continuous_line,
    parse_nci_reply,
    parse_nci_status,
)
from stationd.events import Bus, DeviceStateChanged, Event, EventQueue


# The continuous protocol, decoded ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"ST,GS,+  1.234 kg", Reading(1234, stable=True)),
        (b"ST,GS,+  1.234kg", Reading(1234, stable=True)),
        (b"US,GS,+  0.987 kg", Reading(987, stable=False)),
        (b"ST,NT,+  0.500 kg", Reading(500, stable=True, net=True)),
        (b"US,NT,-  0.120kg", Reading(-120, stable=False, net=True)),
        (b"ST,GS,-0000.015kg", Reading(-15, stable=True)),
        (b"ST,GS,+001250.0 g", Reading(1250, stable=True)),
        (b"ST,GS,    20.7g", Reading(21, stable=True)),  # rounded half up
        (b"ST,GS    20.4g", Reading(20, stable=True)),  # no comma after the mode (T-Scale)
        (b"ST,+00123.45  g", Reading(123, stable=True)),  # no mode field (A&D)
        (b"ST,GS,  1.234,kg", Reading(1234, stable=True)),  # comma before the unit (CAS)
        (b"st,gs,+  2.5 KG", Reading(2500, stable=True)),
        (b"ST,GS,+   3.00 lb", Reading(1361, stable=True)),  # 3 × 453.59237 g
        (b"ST,GS,+   2.20 lbs", Reading(998, stable=True)),
        (b"ST,GS,+  16.0 oz", Reading(454, stable=True)),
        (b"ST,GS,+   .5 kg", Reading(500, stable=True)),
        (b"ST,GS,+  0.000 kg", Reading(0, stable=True)),
        (b"  ST , GS , +  1.000 kg  ", Reading(1000, stable=True)),
        (b"ST,G,+1.000kg", Reading(1000, stable=True)),
        (b"ST,N,+1.000kg", Reading(1000, stable=True, net=True)),
    ],
)
def test_continuous_lines_are_read(line: bytes, expected: Reading) -> None:
    assert parse_continuous_line(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"OL,GS,+  --.-- kg", NoWeight("over capacity")),
        (b"OL,GS,+ 99.999kg", NoWeight("over capacity")),
        (b"ST,TR,+  0.250 kg", NoWeight("the scale shows the tare, not a weight")),
    ],
)
def test_continuous_lines_without_a_weight(line: bytes, expected: NoWeight) -> None:
    assert parse_continuous_line(line) == expected


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"ST,GS,+  1.234", "not a weight line"),  # no unit
        (b"ST,GS,+  1.234 t", "not a weight line"),
        (b"XX,GS,+  1.234 kg", "not a weight line"),
        (b"ST,GS,+  1.2.3 kg", "not a weight line"),
        (b"ST,GS,+ kg", "not a weight line"),
        (b"QT,+00000012 PC", "not a weight line"),  # a counting scale's piece count
        (b"ST,GS,+  1.234 kg ST,GS", "not a weight line"),  # two half lines run together
        (b"\x00\xff\x13\x07\x1b", "unreadable bytes (control characters)"),
        (b"ST,GS,+  1.\xb234 kg", "unreadable bytes (control characters)"),
        (b"ST,GS,+99999999999 kg", "weight out of range"),
    ],
)
def test_continuous_garbage_is_unreadable(line: bytes, reason: str) -> None:
    assert parse_continuous_line(line) == Unreadable(reason, line)


def test_lines_end_at_cr_lf_or_crlf_in_any_pieces() -> None:
    decoder = ContinuousDecoder()
    stream = b"ST,GS,+  1.000 kg\r\nST,GS,+  2.000 kg\rST,GS,+  3.000 kg\n\n\r\n"
    got = []
    for i in range(len(stream)):  # one byte at a time: the worst a port can do
        got += decoder.feed(stream[i : i + 1], now=0.0)
    assert got == [Reading(1000, True), Reading(2000, True), Reading(3000, True)]


def test_the_first_line_is_dropped_only_when_unreadable() -> None:
    joined_mid_line = ContinuousDecoder()
    assert joined_mid_line.feed(b"234 kg\r\nST,GS,+  1.234 kg\r\n", now=0.0) == [
        Reading(1234, True)
    ]
    whole = ContinuousDecoder()
    assert whole.feed(b"ST,GS,+  1.234 kg\r\n", now=0.0) == [Reading(1234, True)]
    assert whole.feed(b"garbage\r\n", now=0.0) == [Unreadable("not a weight line", b"garbage")]


def test_an_over_long_line_is_reported_once_and_dropped_to_its_end() -> None:
    decoder = ContinuousDecoder(max_line_len=32)
    out = decoder.feed(b"ST,GS,+  1.000 kg\r\n" + b"9" * 100 + b"\r\nST,GS,+  2.000 kg\r\n", 0.0)
    assert out[0] == Reading(1000, True)
    assert isinstance(out[1], Unreadable) and out[1].reason == "line longer than 32 bytes"
    assert out[2:] == [Reading(2000, True)]


def test_a_line_cut_off_by_a_pause_never_merges_with_the_next() -> None:
    decoder = ContinuousDecoder(line_timeout_s=0.5)
    assert decoder.feed(b"ST,GS,+  1.000 kg\r\n", now=0.0) == [Reading(1000, True)]
    assert decoder.feed(b"ST,GS,+  2", now=1.0) == []
    # A second later the rest of some other line comes: the stale half is dropped first.
    out = decoder.feed(b"5.000 kg\r\n", now=2.0)
    assert out[0] == Unreadable("line not ended within 0.5 s", b"ST,GS,+  2")
    assert out[1:] == [Unreadable("not a weight line", b"5.000 kg")]
    assert decoder.feed(b"ST,GS,+  3.000 kg\r\n", now=2.1) == [Reading(3000, True)]


def test_no_reading_without_a_line_end() -> None:
    decoder = ContinuousDecoder()
    assert decoder.feed(b"ST,GS,+  1.234 kg", now=0.0) == []
    assert decoder.expire(now=0.1) == []


# The NCI request protocol, decoded --------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"\n  1.234KG\r\n00\r", Reading(1234, stable=True)),
        (b"\n0002.50LB\r\n00\r", Reading(1134, stable=True)),  # 2.5 × 453.59237
        (b"\n  1.234kg\r\n10\r", Reading(1234, stable=False)),  # "1": bit 0, in motion
        (b"\n  0.000KG\r\n20\r", Reading(0, stable=True)),  # "2": bit 1, at zero
        (b"\n  0.750KG\r\nS004\r", Reading(750, stable=True, net=True)),  # SCP-02, byte 3 net
        (b"\n 2lb  3.5oz\r\n00\r", Reading(1006, stable=True)),  # 35.5 oz
        (b"\n  -0.120KG\r\n00\r", Reading(-120, stable=True)),
        (b"\n  12.5 oz\r\n00\r", Reading(354, stable=True)),
        (b"\n 850G\r\n00\r", Reading(850, stable=True)),
        (b"  1.234KG\r00\r", Reading(1234, stable=True)),  # without the line feeds
        (b"\n  1.234KG\r\n\xb0\xb0\r", Reading(1234, stable=True)),  # parity bit set
    ],
)
def test_nci_replies_are_read(reply: bytes, expected: Reading) -> None:
    assert parse_nci_reply(reply) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"\n^^^^^^LB\r\n02\r", NoWeight("over capacity")),  # byte 2 bit 1
        (b"\n------LB\r\n01\r", NoWeight("under capacity")),
        (b"\n  1.000KG\r\n40\r", NoWeight("scale fault: RAM error")),
        (b"\n08\r", NoWeight("scale fault: faulty calibration")),
        (b"\n10\r", NoWeight("in motion")),
        (b"\n00\r", NoWeight("the scale gave no weight")),
    ],
)
def test_nci_replies_without_a_weight(reply: bytes, expected: NoWeight) -> None:
    assert parse_nci_reply(reply) == expected


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"\n?\r", "the scale did not understand the request"),
        (b"\n  1.234KG\r", "no NCI status bytes"),  # weight, no status
        (b"\n  1.234KG\r\nAB\r", "no NCI status bytes"),
        (b"\n  1.2.34KG\r\n00\r", "not an NCI weight"),
        (b"\n^^^^^^LB\r\n00\r", "not an NCI weight"),  # no weight, and the status says nothing
        (b"\na\r\nb\r\n00\r", "not an NCI reply"),
        (b"", "not an NCI reply"),
    ],
)
def test_nci_garbage_is_unreadable(reply: bytes, reason: str) -> None:
    assert parse_nci_reply(reply) == Unreadable(reason, reply)


def test_nci_status_bytes() -> None:
    assert parse_nci_status(b"00") == NciStatus(False, False, False, False, False, ())
    assert parse_nci_status(b"3<") == NciStatus(
        motion=True,
        at_zero=True,
        under_capacity=False,
        over_capacity=False,
        net=False,
        errors=("ROM error", "faulty calibration"),
    )
    assert parse_nci_status(b"S0p8") == NciStatus(  # byte 2 "p" = 0x70: another byte follows
        False, False, False, False, False, ("initial zero error",)
    )
    for not_status in (b"0", b"00000", b"0@", b"@0", b"\x00\x00", b"S0"):
        assert parse_nci_status(not_status) is None


def test_nci_reply_decoder_waits_for_etx() -> None:
    decoder = NciReplyDecoder()
    assert decoder.feed(b"\n  1.234KG\r\n0") is None
    assert decoder.pending() == b"\n  1.234KG\r\n0"
    assert decoder.feed(b"0\r\x03") == Reading(1234, True)
    assert decoder.pending() == b""
    assert decoder.feed(b"x" * 65) == Unreadable("reply longer than 64 bytes", b"x" * 65)


# Random bytes through both decoders ------------------------------------------------------------
@settings(max_examples=500, deadline=None)
@given(chunks=st.lists(st.binary(max_size=40), max_size=12), first=st.booleans())
def test_random_bytes_never_raise_through_the_continuous_decoder(chunks, first) -> None:
    decoder = ContinuousDecoder(max_line_len=32)
    if not first:
        decoder.feed(b"\r", now=0.0)
    results = []
    for i, chunk in enumerate(chunks):
        results += decoder.feed(chunk, now=i * 0.01)
    results += decoder.expire(now=100.0)
    for result in results:
        assert isinstance(result, Reading | NoWeight | Unreadable)
        if isinstance(result, Reading):
            assert abs(result.grams) <= MAX_GRAMS
    # A reading needs a line end: as many readings as line ends at most.
    ends = sum(c.count(b"\r") + c.count(b"\n") for c in chunks)
    assert sum(isinstance(r, Reading) for r in results) <= ends


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=80))
def test_random_bytes_never_raise_through_the_nci_decoders(data: bytes) -> None:
    result = parse_nci_reply(data)
    assert isinstance(result, Reading | NoWeight | Unreadable)
    decoder = NciReplyDecoder()
    fed = decoder.feed(data)
    if b"\x03" not in data[:65]:
        assert not isinstance(fed, Reading)  # no reading from a reply without its ETX


# Pieces of real frames, so that random sequences get deep into the parsers, not only past byte 1.
_TOKENS = [
    b"ST,",
    b"US,",
    b"OL,",
    b"GS,",
    b"NT,",
    b"TR,",
    b"+",
    b"-",
    b"  1.234",
    b".",
    b"0",
    b"99999999999",
    b" kg",
    b"g",
    b"lb",
    b"oz",
    b"\r",
    b"\n",
    b"\x03",
    b"S",
    b"00",
    b"1",
    b"p",
    b"?",
    b" ",
    b",",
]


def _random_sequences(seed: int, count: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for _ in range(count):
        parts = []
        for _ in range(rng.randrange(0, 8)):
            if rng.random() < 0.7:
                parts.append(rng.choice(_TOKENS))
            else:
                parts.append(rng.randbytes(rng.randrange(1, 6)))
        yield b"".join(parts)


def test_100k_random_sequences_through_the_serial_decoders() -> None:
    continuous = ContinuousDecoder(max_line_len=32)
    nci = NciReplyDecoder()
    seen: set[type] = set()
    for i, data in enumerate(_random_sequences(seed=20240501, count=100_000)):
        for result in [parse_continuous_line(data), parse_nci_reply(data)]:
            seen.add(type(result))
        for result in continuous.feed(data, now=i * 0.001):
            seen.add(type(result))
            assert not isinstance(result, Reading) or abs(result.grams) <= MAX_GRAMS
        result = nci.feed(data)
        if isinstance(result, Reading):
            assert b"\x03" in data  # a reading only from a reply ended by its ETX
    assert seen == {Reading, NoWeight, Unreadable}  # the sequences reached every outcome


@settings(max_examples=300, deadline=None)
@given(
    status=st.sampled_from(["ST", "US", "st"]),
    mode=st.sampled_from(["GS,", "NT,", "GS ", ""]),
    sign=st.sampled_from(["+", "-", ""]),
    milligrams=st.integers(0, 9_999_999),
    unit=st.sampled_from(["kg", "g", " kg", " g"]),
)
def test_generated_continuous_lines_round_trip(status, mode, sign, milligrams, unit) -> None:
    grams = milligrams // 1000 if unit.strip() == "g" else milligrams
    value = f"{grams}" if unit.strip() == "g" else f"{milligrams // 1000}.{milligrams % 1000:03d}"
    kg_value = milligrams if unit.strip() == "kg" else grams
    line = f"{status},{mode}{sign}{value.rjust(9)}{unit}".encode()
    result = parse_continuous_line(line)
    assert isinstance(result, Reading)
    assert result.grams == (-kg_value if sign == "-" else kg_value)
    assert result.stable == (status.upper() == "ST")
    assert result.net == mode.startswith("NT")


# The scale over a real pty ---------------------------------------------------------------------
class NciResponder:
    """Answers every ``W<CR>`` on a pty's master end with `reply` (None: no answer)."""

    def __init__(self, pty: PtyDevice, reply: bytes | None) -> None:
        self.pty = pty
        self.reply = reply
        self.requests = 0
        self.heard = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pending = b""
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.pty.master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(self.pty.master, 64)
            except OSError:
                return  # unplugged
            self.heard += data
            pending += data
            while b"\r" in pending:
                command, pending = pending.split(b"\r", 1)
                self.requests += 1
                if command == b"W" and self.reply is not None:
                    os.write(self.pty.master, self.reply)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(1.0)


@pytest.fixture
def scales(bus: Bus) -> Iterator[Callable[..., SerialScale]]:
    made: list[SerialScale] = []

    def make(port: str, **kwargs: object) -> SerialScale:
        scale = SerialScale("test", bus, port, **kwargs)  # type: ignore[arg-type]
        made.append(scale)
        scale.start()
        return scale

    yield make
    for scale in made:
        scale.stop()


@pytest.fixture
def responders() -> Iterator[Callable[[PtyDevice, bytes | None], NciResponder]]:
    made: list[NciResponder] = []

    def make(pty: PtyDevice, reply: bytes | None) -> NciResponder:
        made.append(NciResponder(pty, reply))
        return made[-1]

    yield make
    for responder in made:
        responder.stop()


def next_weight(q: EventQueue) -> tuple[WeightRead, list[Event]]:
    return next_event(q, WeightRead)


def test_only_stable_readings_are_published(ptys, scales, events: EventQueue) -> None:
    pty = ptys()
    scale = scales(pty.path)
    next_state(events, "connected")
    assert scale.state == ScaleState.CONNECTED
    assert scale.last_weight is None

    pty.send(b"US,GS,+  0.812 kg\r\n")
    until(lambda: scale.last_weight is not None)
    unstable = scale.last_weight
    assert unstable is not None and (unstable.grams, unstable.stable) == (812, False)

    pty.send(b"US,GS,+  1.020 kg\r\nST,GS,+  1.034 kg\r\n")
    weight, before = next_weight(events)
    assert before == []  # nothing for the unstable ones
    assert weight == WeightRead(1034, True, "serial:test", weight.at)
    assert scale.last_weight == weight


def test_a_settled_weight_is_published_once_per_weighing(ptys, scales, events) -> None:
    pty = ptys()
    scale = scales(pty.path)
    next_state(events, "connected")
    pty.send(b"ST,GS,+  1.034 kg\r\n" * 5)  # a continuous scale repeats itself
    pty.send(b"ST,GS,+  1.040 kg\r\n")  # a flap folded down
    pty.send(b"US,GS,+  0.400 kg\r\nST,GS,+  1.040 kg\r\n")  # lifted and put back
    pty.send(b"ST,GS,+  0.000 kg\r\n")  # taken off
    got = [next_weight(events)[0].grams for _ in range(4)]
    assert got == [1034, 1040, 1040, 0]
    assert events.get(timeout=0.2) is None
    assert scale.last_weight is not None and scale.last_weight.grams == 0


@pytest.mark.parametrize(
    ("frame", "grams"),
    [
        (b"ST,GS,+  1.234 kg\r\n", 1234),
        (b"ST,GS,+   1234 g\r\n", 1234),
        (b"ST,GS,+   2.72 lb\r\n", 1234),  # 1233.77 g
        (b"ST,GS,+  43.53 oz\r\n", 1234),  # 1234.05 g
    ],
)
def test_units_are_converted_to_grams(ptys, scales, events, frame: bytes, grams: int) -> None:
    pty = ptys()
    scales(pty.path)
    next_state(events, "connected")
    pty.send(frame)
    assert next_weight(events)[0].grams == grams


def test_garbage_is_ignored_and_the_next_weight_read(ptys, scales, events: EventQueue) -> None:
    pty = ptys()
    scale = scales(pty.path)
    next_state(events, "connected")
    pty.send(b"ST,GS,+  0.500 kg\r\n")
    assert next_weight(events)[0].grams == 500
    pty.send(b"\x00\xff\x13\x07\x1b\r\n")  # what a wrong baud rate looks like
    pty.send(b"9" * 300 + b"\r\n")
    pty.send(b"ST,GS,+  1.2.3 kg\r\nQT,+00000012 PC\r\n")
    pty.send(b"ST,GS,+  0.750 kg\r\n")
    weight, before = next_weight(events)
    assert weight.grams == 750
    assert before == []
    assert scale.state == ScaleState.CONNECTED


def test_overload_clears_the_weight(ptys, scales, events: EventQueue) -> None:
    pty = ptys()
    scale = scales(pty.path)
    next_state(events, "connected")
    pty.send(b"ST,GS,+ 29.000 kg\r\n")
    assert next_weight(events)[0].grams == 29000
    pty.send(b"OL,GS,+  --.--- kg\r\n")
    until(lambda: scale.last_weight is None)
    pty.send(b"ST,GS,+ 29.000 kg\r\n")  # the same weight again is a new weighing
    assert next_weight(events)[0].grams == 29000


def test_request_mode_asks_w_and_reads_the_nci_reply(
    ptys, scales, responders, events: EventQueue
) -> None:
    pty = ptys()
    responder = responders(pty, b"\n  1.234KG\r\n10\r\x03")  # in motion
    scale = scales(pty.path, protocol="request", poll_interval_s=0.05)
    next_state(events, "connected")
    until(lambda: scale.last_weight is not None)
    assert scale.last_weight is not None and not scale.last_weight.stable

    responder.reply = b"\n  1.250KG\r\n00\r\x03"  # settled
    weight, before = next_weight(events)
    assert (weight.grams, weight.stable, weight.source) == (1250, True, "serial:test")
    assert before == []
    assert responder.heard.startswith(b"W\r")
    assert set(responder.heard.split(b"\r")) == {b"W", b""}  # only ever asked W

    responder.reply = b"\n0002.50LB\r\nS004\r\x03"  # pounds, net
    weight = next_weight(events)[0]
    assert (weight.grams, weight.net) == (1134, True)


def test_request_mode_ignores_what_it_cannot_read(ptys, scales, responders, events) -> None:
    pty = ptys()
    responder = responders(pty, b"\n?\r\x03")
    scale = scales(pty.path, protocol="request", poll_interval_s=0.02)
    next_state(events, "connected")
    until(lambda: responder.requests >= 3)
    responder.reply = b"\x00\xfe\x13garbage\r\x03"
    until(lambda: responder.requests >= 6)
    assert scale.state == ScaleState.CONNECTED
    responder.reply = b"\n  0.420KG\r\n00\r\x03"
    assert next_weight(events)[0].grams == 420


def test_request_mode_without_replies_goes_silent_and_comes_back(
    ptys, scales, responders, events: EventQueue
) -> None:
    pty = ptys()
    responder = responders(pty, b"\n  1.000KG\r\n00\r\x03")
    scale = scales(
        pty.path,
        protocol="request",
        poll_interval_s=0.02,
        reply_timeout_s=0.1,
        silence_timeout_s=0.4,
    )
    assert next_weight(events)[0].grams == 1000

    responder.reply = None  # switched off behind its adapter
    silent = next_state(events, "silent")
    assert "no readable weight for 0.4 s" in silent.detail
    assert scale.state == ScaleState.SILENT
    assert scale.last_weight is None

    responder.reply = b"\n  1.000KG\r\n00\r\x03"
    next_state(events, "connected")
    assert next_weight(events)[0].grams == 1000  # published again: it was away


def test_continuous_mode_goes_silent_without_lines(ptys, scales, events: EventQueue) -> None:
    pty = ptys()
    scale = scales(pty.path, silence_timeout_s=0.3, poll_interval_s=0.0, reply_timeout_s=0.1)
    next_state(events, "connected")
    next_state(events, "silent")
    pty.send(b"garbage\r\ngarbage\r\n")
    assert events.get(timeout=0.2) is None  # garbage does not count as the scale being back
    pty.send(b"ST,GS,+  0.300 kg\r\n")
    next_state(events, "connected")
    assert next_weight(events)[0].grams == 300
    assert scale.state == ScaleState.CONNECTED


@pytest.mark.parametrize("protocol", ["continuous", "request"])
def test_unplug_and_replug_without_restart(
    tmp_path: Path, ptys, scales, responders, events: EventQueue, protocol: str
) -> None:
    link = tmp_path / "stationd-scale"
    first = ptys()
    point(link, first.path)
    reply = b"\n  1.111KG\r\n00\r\x03"
    if protocol == "request":
        responders(first, reply)
    scale = scales(str(link), protocol=protocol, reconnect_max_s=1.0, poll_interval_s=0.05)
    next_state(events, "connected")
    if protocol == "continuous":
        first.send(b"ST,GS,+  1.111 kg\r\n")
    assert next_weight(events)[0].grams == 1111

    first.unplug()
    offline = next_state(events, "offline")
    assert offline.device == "serial:test"
    assert scale.state == ScaleState.OFFLINE
    assert scale.last_weight is None

    second = ptys()
    if protocol == "request":
        responders(second, reply)
    point(link, second.path)
    appeared = time.monotonic()
    back, before = next_event(events, DeviceStateChanged)
    assert back.state == "connected"
    assert before == []
    assert time.monotonic() - appeared < WITHIN_S
    if protocol == "continuous":
        second.send(b"ST,GS,+  1.111 kg\r\n")
    weight, before = next_weight(events)
    assert weight.grams == 1111  # the same parcel, read again after the replug
    assert before == []


def test_port_missing_at_start_is_found_when_it_appears(
    tmp_path: Path, ptys, scales, events: EventQueue
) -> None:
    link = tmp_path / "stationd-scale"
    scale = scales(str(link))
    offline, before = next_event(events, DeviceStateChanged, lambda e: e.state == "offline")
    assert [(e.device, e.state) for e in before] == [("serial:test", "connecting")]  # type: ignore[attr-defined]
    assert str(link) in offline.detail
    assert scale.state == ScaleState.OFFLINE
    pty = ptys()
    point(link, pty.path)
    next_state(events, "connected")
    pty.send(b"ST,GS,+  0.050 kg\r\n")
    assert next_weight(events)[0].grams == 50


def test_stop_is_prompt_and_final(tmp_path: Path, ptys, bus: Bus, events: EventQueue) -> None:
    pty = ptys()
    for port, protocol in (
        (pty.path, "continuous"),
        (pty.path, "request"),
        (str(tmp_path / "absent"), "x"),
    ):
        kwargs = {"protocol": protocol} if protocol != "x" else {}
        scale = SerialScale("test", bus, port, reconnect_max_s=5.0, **kwargs)  # type: ignore[arg-type]
        scale.start()
        scale.start()  # a second start is a no-op
        next_state(events, "connected", "offline")
        begun = time.monotonic()
        scale.stop()
        assert time.monotonic() - begun < 1.0
        assert scale.state == ScaleState.STOPPED
        next_state(events, "stopped")
        assert not any(t.name == "scale-test" for t in threading.enumerate())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"protocol": "ascii"},
        {"baudrate": 0},
        {"bytesize": 6},
        {"parity": "X"},
        {"stopbits": 1.5},
        {"request": b""},
        {"read_timeout_s": 0},
        {"poll_interval_s": -1},
        {"reply_timeout_s": 0.01},
        {"silence_timeout_s": 1.0},
        {"reconnect_max_s": 0.01},
    ],
)
def test_bad_settings_are_refused(bus: Bus, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SerialScale("test", bus, "/dev/null", **kwargs)  # type: ignore[arg-type]


# The simulated scale: the same interface, for the demo ------------------------------------------
def test_the_simulated_scale_speaks_like_the_real_ones(bus: Bus, events: EventQueue) -> None:
    sim = SimulatedScale("scale", bus)
    scales: list[Scale] = [sim, SerialScale("test", bus, "/dev/null")]
    for scale in scales:  # what the station calls, on every kind
        assert scale.state == ScaleState.STOPPED
        assert scale.last_weight is None
        assert scale.source in ("sim:scale", "serial:test")
    with pytest.raises(RuntimeError):
        sim.put(1000)
    sim.start()
    assert next_state(events, "connected").device == "sim:scale"

    assert sim.put(800, stable=False) is None
    assert sim.last_weight is not None and sim.last_weight.grams == 800
    put = sim.put(1234)
    weight, before = next_weight(events)
    assert weight == put == WeightRead(1234, True, "sim:scale", weight.at)
    assert before == []
    sim.put(1234)  # put on twice, shown twice
    assert next_weight(events)[0].grams == 1234

    sim.unplug()
    assert next_state(events, "offline").detail == "unplugged"
    assert sim.put(500) is None
    assert sim.last_weight is None
    sim.plug_in()
    next_state(events, "connected")
    sim.stop()
    assert sim.state == ScaleState.STOPPED
    sim.start()
    with pytest.raises(ValueError):
        sim.put(1.5)  # type: ignore[arg-type]
    sim.stop()
