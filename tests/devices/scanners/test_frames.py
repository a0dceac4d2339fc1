"""FrameDecoder: bytes in pieces → scans, whatever the scanner (or the line) sends."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stationd.devices.scanners.frames import Frame, FrameDecoder, Rejected

EAN = "7310865004703"


def feed_all(decoder: FrameDecoder, *chunks: bytes, t: float = 0.0) -> list[Frame | Rejected]:
    """Feed `chunks` back to back at time `t` (no gaps) and collect what comes out."""
    out: list[Frame | Rejected] = []
    for chunk in chunks:
        out += decoder.feed(chunk, t)
    return out


@pytest.mark.parametrize(
    ("suffix", "terminator"),
    [
        ("auto", b"\r"),
        ("auto", b"\n"),
        ("auto", b"\r\n"),
        ("cr", b"\r"),
        ("lf", b"\n"),
        ("crlf", b"\r\n"),
    ],
)
def test_each_terminator_ends_exactly_one_frame(suffix: str, terminator: bytes) -> None:
    decoder = FrameDecoder(suffix=suffix)  # type: ignore[arg-type]
    out = feed_all(decoder, (EAN.encode() + terminator) * 3)
    assert out == [Frame(EAN)] * 3
    assert decoder.pending == b""


def test_crlf_split_between_reads_gives_no_empty_frame() -> None:
    for suffix in ("auto", "crlf"):
        decoder = FrameDecoder(suffix=suffix)  # type: ignore[arg-type]
        assert feed_all(decoder, b"123\r", b"\n456\r", b"\n") == [Frame("123"), Frame("456")]


def test_frame_split_across_many_reads() -> None:
    decoder = FrameDecoder()
    out: list[Frame | Rejected] = []
    for i, byte in enumerate(b"]E0" + EAN.encode() + b"\r"):
        out += decoder.feed(bytes([byte]), i * 0.001)
    assert out == [Frame(EAN, "]E0")]


def test_strict_modes_reject_the_other_line_end() -> None:
    # A scanner sending CRLF to a station set to "lf" leaves a CR in every frame: the installer
    # sees rejections that name it, rather than codes with a hidden CR in them.
    assert feed_all(FrameDecoder(suffix="lf"), b"123\r\n") == [
        Rejected("unreadable bytes (control characters)", b"123\r")
    ]
    # In "crlf" mode a lone LF is data, not an end.
    assert feed_all(FrameDecoder(suffix="crlf"), b"12\n3\r\n") == [
        Rejected("unreadable bytes (control characters)", b"12\n3")
    ]
    # In "cr" mode an LF is data too.
    assert feed_all(FrameDecoder(suffix="cr"), b"123\n\r") == [
        Rejected("unreadable bytes (control characters)", b"123\n")
    ]


def test_bare_terminators_are_ignored() -> None:
    assert feed_all(FrameDecoder(), b"\r\n\n\r\r\n") == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"]E07310865004703", Frame("7310865004703", "]E0")),
        (b"]C1(01)07310865004703", Frame("(01)07310865004703", "]C1")),
        (b"]Q3https://example.com/o/17", Frame("https://example.com/o/17", "]Q3")),
        (b"]d2010731086500470310ABC", Frame("010731086500470310ABC", "]d2")),
        (b"]X", Frame("]X")),  # too short to be an AIM id
        (b"]1A2", Frame("]1A2")),  # the symbology character is a letter
    ],
)
def test_aim_identifier_is_split_off(raw: bytes, expected: Frame) -> None:
    assert feed_all(FrameDecoder(), raw + b"\r") == [expected]


def test_aim_identifier_stays_in_the_code_when_off() -> None:
    assert feed_all(FrameDecoder(aim_ids=False), b"]E0123\r") == [Frame("]E0123")]


def test_aim_identifier_without_a_code_is_rejected() -> None:
    assert feed_all(FrameDecoder(), b"]E0\r") == [Rejected("empty code", b"]E0")]


def test_gs_fnc1_is_kept_inside_gs1_codes() -> None:
    raw = b"]C10107310865004703\x1d10LOT42\x1d21SER1"
    (frame,) = feed_all(FrameDecoder(), raw + b"\r\n")
    assert frame == Frame("0107310865004703\x1d10LOT42\x1d21SER1", "]C1")


def test_iso15434_envelope_of_carrier_labels_is_kept() -> None:
    raw = b"[)>\x1e01\x1d96123456789012\x1e\x04"
    (frame,) = feed_all(FrameDecoder(aim_ids=False), raw + b"\r")
    assert isinstance(frame, Frame)
    assert frame.code == raw.decode()


def test_prefix_and_suffix_are_stripped() -> None:
    decoder = FrameDecoder(strip_prefix=b"\x02", strip_suffix=b"\x03")
    assert feed_all(decoder, b"\x02]E0" + EAN.encode() + b"\x03\r") == [Frame(EAN, "]E0")]
    # Without them the frame is taken as it is.
    assert feed_all(decoder, EAN.encode() + b"\r") == [Frame(EAN)]


def test_text_prefix_and_suffix_are_accepted() -> None:
    decoder = FrameDecoder(strip_prefix="SCN:", strip_suffix="#")
    assert feed_all(decoder, b"SCN:ABC#\r") == [Frame("ABC")]


def test_prefix_only_frame_is_an_empty_code() -> None:
    assert feed_all(FrameDecoder(strip_prefix=b"P"), b"P\r") == [Rejected("empty code", b"P")]


@pytest.mark.parametrize(
    "raw",
    [b"\x00\x00\x00", b"12\x0734", b"\x1b[A", b"abc\x7f", b"ab\xc2\x85cd", b"\x90\x91"],
)
def test_control_characters_are_rejected(raw: bytes) -> None:
    assert feed_all(FrameDecoder(), raw + b"\r") == [
        Rejected("unreadable bytes (control characters)", raw)
    ]


def test_utf8_when_valid_else_latin1() -> None:
    decoder = FrameDecoder()
    assert feed_all(decoder, "Ålesund-ø".encode() + b"\r") == [Frame("Ålesund-ø")]
    assert feed_all(decoder, "Ålesund-ø".encode("latin-1") + b"\r") == [Frame("Ålesund-ø")]


def test_over_long_frame_is_rejected_and_discarded_to_the_next_terminator() -> None:
    decoder = FrameDecoder(max_frame_len=16)
    out = feed_all(decoder, b"9" * 10, b"9" * 10, b"9" * 30 + b"\r", b"123\r")
    assert out == [Rejected("frame longer than 16 bytes", b"9" * 17), Frame("123")]


def test_frame_of_exactly_max_len_passes() -> None:
    for suffix in ("auto", "cr", "lf", "crlf"):
        decoder = FrameDecoder(suffix=suffix, max_frame_len=8)  # type: ignore[arg-type]
        end = {"auto": b"\r\n", "cr": b"\r", "lf": b"\n", "crlf": b"\r\n"}[suffix]
        assert feed_all(decoder, b"12345678" + end) == [Frame("12345678")]
        assert feed_all(decoder, b"123456789" + end) == [
            Rejected("frame longer than 8 bytes", b"123456789")
        ]


def test_half_frame_expires_and_does_not_merge_with_the_next_scan() -> None:
    decoder = FrameDecoder(frame_timeout_s=0.2)
    assert decoder.feed(b"731086", 10.0) == []
    assert decoder.deadline == pytest.approx(10.2)
    assert decoder.expire(10.1) == []
    assert decoder.expire(10.25) == [Rejected("frame not terminated within 0.2 s", b"731086")]
    assert decoder.deadline is None
    assert decoder.feed(EAN.encode() + b"\r", 11.0) == [Frame(EAN)]


def test_a_gap_longer_than_the_timeout_starts_a_new_frame_even_without_expire() -> None:
    decoder = FrameDecoder(frame_timeout_s=0.2)
    assert decoder.feed(b"731086", 10.0) == []
    assert decoder.feed(EAN.encode() + b"\r", 10.5) == [
        Rejected("frame not terminated within 0.2 s", b"731086"),
        Frame(EAN),
    ]


def test_slow_line_within_the_timeout_is_one_frame() -> None:
    # The timeout is between bytes, not over the frame: a long code at 9600 baud takes longer
    # than frame_timeout_s to arrive and must not be cut.
    decoder = FrameDecoder(frame_timeout_s=0.2)
    out: list[Frame | Rejected] = []
    for i, byte in enumerate(b"A" * 250 + b"\r"):
        out += decoder.feed(bytes([byte]), i * 0.01)
        out += decoder.expire(i * 0.01 + 0.005)
    assert out == [Frame("A" * 250)]


def test_over_long_discard_ends_at_a_pause() -> None:
    decoder = FrameDecoder(max_frame_len=4, frame_timeout_s=0.2)
    assert decoder.feed(b"123456", 0.0) == [Rejected("frame longer than 4 bytes", b"12345")]
    # Reported once; the pause just ends the discarding.
    assert decoder.expire(1.0) == []
    assert decoder.feed(b"77\r", 1.1) == [Frame("77")]


def test_flush_drops_the_partial_frame() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"12", 0.0)
    assert decoder.flush("cut off") == [Rejected("cut off", b"12")]
    assert decoder.flush("cut off") == []


@pytest.mark.parametrize(
    "kwargs",
    [{"suffix": "tab"}, {"max_frame_len": 0}, {"frame_timeout_s": 0}],
)
def test_bad_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FrameDecoder(**kwargs)  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------------


class _ErrorLog(logging.Handler):
    """Counts what the decoder's safety net logs: an exception it caught is still a bug."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def no_errors_logged() -> Iterator[None]:
    handler = _ErrorLog()
    logger = logging.getLogger("stationd.devices.scanners.frames")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert handler.records == []


TERMINATORS = {0x0D, 0x0A}
# Bytes weighted towards the interesting ones: terminators, GS, "]" and control characters.
interesting = st.sampled_from(b"\r\n\x1d]\x00\x02\x03E0C1\xc3\xa5\xff ")
byte_strings = st.lists(st.one_of(st.binary(max_size=40), interesting.map(lambda b: bytes([b]))))
decoders = st.builds(
    FrameDecoder,
    suffix=st.sampled_from(["auto", "cr", "lf", "crlf"]),
    strip_prefix=st.sampled_from([b"", b"\x02", b"]E0"]),
    strip_suffix=st.sampled_from([b"", b"\x03", b"\r"]),
    aim_ids=st.booleans(),
    max_frame_len=st.integers(1, 64),
    frame_timeout_s=st.sampled_from([0.05, 0.2]),
)
gaps = st.lists(st.floats(0, 0.5), min_size=1)


def _could_be_raw(frame: Frame, max_frame_len: int) -> bool:
    text = (frame.symbology or "") + frame.code
    encodings = []
    for encoding in ("utf-8", "latin-1"):
        with contextlib.suppress(UnicodeEncodeError):
            encodings.append(text.encode(encoding))
    return any(len(raw) <= max_frame_len for raw in encodings)


@settings(max_examples=400, deadline=None)
@given(decoder=decoders, chunks=byte_strings, gap_list=gaps)
def test_random_bytes_never_raise_and_frames_need_a_terminator(
    decoder: FrameDecoder, chunks: list[bytes], gap_list: list[float]
) -> None:
    with no_errors_logged():
        _feed_and_check(decoder, chunks, gap_list)


def _feed_and_check(decoder: FrameDecoder, chunks: list[bytes], gap_list: list[float]) -> None:
    now = 0.0
    for i, chunk in enumerate(chunks):
        now += gap_list[i % len(gap_list)]
        out = decoder.feed(chunk, now)
        frames = [item for item in out if isinstance(item, Frame)]
        # Every frame was ended by a terminator in this very read.
        assert len(frames) <= sum(b in TERMINATORS for b in chunk)
        for item in out:
            assert isinstance(item, Frame | Rejected)
            if isinstance(item, Frame):
                assert item.code
                assert _could_be_raw(item, decoder.max_frame_len)
            else:
                assert item.reason
        assert all(isinstance(item, Rejected) for item in decoder.expire(now + 0.01))


@settings(max_examples=300, deadline=None)
@given(decoder=decoders, data=st.binary(max_size=200), cut=st.integers(0, 200))
def test_bytes_fed_one_by_one_yield_frames_only_on_a_terminator(
    decoder: FrameDecoder, data: bytes, cut: int
) -> None:
    with no_errors_logged():
        for i, byte in enumerate(data):
            # A pause somewhere, longer than any timeout, to exercise the gap rule.
            now = i * 0.001 + (1.0 if i >= cut else 0.0)
            out = decoder.feed(bytes([byte]), now)
            if byte not in TERMINATORS:
                assert not any(isinstance(item, Frame) for item in out)


@settings(max_examples=300, deadline=None)
@given(
    codes=st.lists(
        st.text(
            st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
        ).filter(lambda s: not s.startswith("]")),
        min_size=1,
        max_size=5,
    ),
    terminator=st.sampled_from([b"\r", b"\n", b"\r\n"]),
    sizes=st.lists(st.integers(1, 7), min_size=1),
)
def test_printable_codes_survive_any_split(
    codes: list[str], terminator: bytes, sizes: list[int]
) -> None:
    data = b"".join(code.encode() + terminator for code in codes)
    decoder = FrameDecoder()
    out: list[Frame | Rejected] = []
    pos = i = 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        out += decoder.feed(data[pos : pos + size], i * 0.001)
        pos += size
        i += 1
    assert out == [Frame(code) for code in codes]


def test_other_buffer_types_and_odd_times_work() -> None:
    decoder = FrameDecoder()
    with no_errors_logged():
        assert decoder.feed(bytearray(b"12\r"), 0.0) == [Frame("12")]
        assert decoder.feed(memoryview(b"34\r"), 0.0) == [Frame("34")]
        assert decoder.feed(b"", 0.0) == []
        assert decoder.feed(b"5\r", float("nan")) == [Frame("5")]


def test_a_bug_costs_one_frame_not_the_reader() -> None:
    # The safety net: not bytes at all must not raise out of feed().
    decoder = FrameDecoder()
    assert decoder.feed("12\r", 0.0) == []  # type: ignore[arg-type]
    assert decoder.feed(b"34\r", 0.0) == [Frame("34")]
