"""Tests for stationd.core.barcodes: what a scanned code is."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stationd.core.barcodes import (
    Classified,
    CodeKind,
    Command,
    Gs1Error,
    classify,
    command_barcode,
    gtin_check_digit,
    is_valid_gtin,
    is_valid_s10,
    normalize_gtin,
    order_barcode,
    parse_gs1,
)

GS = "\x1d"
GS1_SYMBOLOGIES = ["]C1", "]e0", "]d2", "]Q3"]

# Real codes from GS1 examples and products on shelves, with the check digit they end in.
REAL_GTINS = {
    "5901234123457": "05901234123457",
    "4006381333931": "04006381333931",
    "7310865004703": "07310865004703",
    "036000291452": "00036000291452",
    "96385074": "00000096385074",
    "10012345678902": "10012345678902",
}
SSCC = "106141411234567897"


def digits(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=min_size, max_size=max_size)


@st.composite
def valid_gtins(draw: st.DrawFn) -> str:
    length = draw(st.sampled_from([8, 12, 13, 14]))
    body = draw(digits(length - 1, length - 1))
    return body + str(gtin_check_digit(body))


# --- check digits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "check"),
    [
        ("590123412345", 7),
        ("400638133393", 1),
        ("03600029145", 2),
        ("9638507", 4),
        ("1001234567890", 2),
        ("10614141123456789", 7),
    ],
)
def test_gtin_check_digit_matches_the_digit_printed_on_real_codes(body: str, check: int) -> None:
    assert gtin_check_digit(body) == check


@pytest.mark.parametrize("body", ["", "12a4", " 123", "١٢٣"])
def test_gtin_check_digit_refuses_anything_but_ascii_digits(body: str) -> None:
    with pytest.raises(ValueError):
        gtin_check_digit(body)


@pytest.mark.parametrize("code", list(REAL_GTINS))
def test_real_gtins_are_valid(code: str) -> None:
    assert is_valid_gtin(code)


@pytest.mark.parametrize(
    "code", ["5901234123458", "590123412345", "123456789", SSCC, "", "59012341234a7", " 96385074"]
)
def test_wrong_check_digits_and_lengths_are_not_valid_gtins(code: str) -> None:
    assert not is_valid_gtin(code)


@pytest.mark.parametrize(("code", "gtin"), REAL_GTINS.items())
def test_normalize_gtin_pads_every_gtin_to_14_digits(code: str, gtin: str) -> None:
    assert normalize_gtin(code) == gtin


@pytest.mark.parametrize("code", ["5901234123458", "12345", "abc"])
def test_normalize_gtin_raises_for_what_is_no_gtin(code: str) -> None:
    with pytest.raises(ValueError):
        normalize_gtin(code)


@pytest.mark.parametrize("code", ["RR473124829GB", "EE123456785SE", "LA000000005NO"])
def test_real_s10_ids_are_valid(code: str) -> None:
    assert is_valid_s10(code)


@pytest.mark.parametrize(
    "code", ["RR473124828GB", "rr473124829gb", "RR47312482GB", "R1473124829GB", "RR473124829G"]
)
def test_s10_ids_with_wrong_check_digit_or_shape_are_not_valid(code: str) -> None:
    assert not is_valid_s10(code)


@given(serial=digits(8, 8))
def test_every_s10_serial_has_exactly_one_valid_check_digit(serial: str) -> None:
    valid = [d for d in "0123456789" if is_valid_s10(f"RR{serial}{d}SE")]
    assert len(valid) == 1


# --- items -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "gtin"), REAL_GTINS.items())
def test_real_product_codes_are_items_with_a_14_digit_gtin(code: str, gtin: str) -> None:
    result = classify(code)
    assert result == Classified(CodeKind.ITEM, code, gtin=gtin)


@pytest.mark.parametrize("symbology", [None, "]E0", "E0", "]E4", "]C0", "nonsense"])
def test_the_symbology_of_an_ean_does_not_change_its_reading(symbology: str | None) -> None:
    assert classify("5901234123457", symbology).gtin == "05901234123457"


def test_ean13_with_wrong_check_digit_is_invalid_with_the_right_digit_named() -> None:
    result = classify("7310865004704")
    assert result.kind is CodeKind.INVALID
    assert result.error == "EAN-13 7310865004704 has a wrong check digit (should end in 3)"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("96385075", "EAN-8 96385075 has a wrong check digit (should end in 4)"),
        ("036000291453", "UPC-A 036000291453 has a wrong check digit (should end in 2)"),
        ("10012345678901", "GTIN-14 10012345678901 has a wrong check digit (should end in 2)"),
    ],
)
def test_wrong_check_digit_message_names_the_kind_of_code(code: str, message: str) -> None:
    assert classify(code) == Classified(CodeKind.INVALID, code, error=message)


def test_surrounding_whitespace_is_stripped_from_the_code() -> None:
    result = classify("  5901234123457\r\n")
    assert result.kind is CodeKind.ITEM
    assert result.code == "5901234123457"


@pytest.mark.parametrize("code", ["٥٩٠١٢٣٤١٢٣٤٥٧", "５９０１２３４１２３４５７"])
def test_digits_of_other_scripts_are_not_taken_for_a_gtin(code: str) -> None:
    assert classify(code).kind is CodeKind.INVALID


# --- parcels ---------------------------------------------------------------------------------


def test_bare_18_digit_sscc_with_valid_check_digit_is_a_parcel_with_its_sscc() -> None:
    assert classify(SSCC) == Classified(CodeKind.PARCEL, SSCC, sscc=SSCC)


def test_18_digits_with_wrong_check_digit_is_an_invalid_sscc() -> None:
    result = classify("106141411234567898")
    assert result.kind is CodeKind.INVALID
    assert result.error == "SSCC 106141411234567898 has a wrong check digit (should end in 7)"


def test_gs1_128_sscc_read_without_symbology_is_a_parcel_with_its_sscc() -> None:
    result = classify("00" + SSCC)
    assert (result.kind, result.sscc) == (CodeKind.PARCEL, SSCC)


@pytest.mark.parametrize("code", ["123456", "1234567890", "0012345678901234567", "9" * 40])
def test_r13_numbers_of_no_carrier_format_are_unknown_codes(code: str) -> None:
    result = classify(code)
    assert result.kind is CodeKind.INVALID
    assert result.error == (
        f"Unknown code {code}: it is no order, product or parcel id. A parcel id of another "
        "format is typed on the ship-out page."
    )


def test_r13_a_dhl_express_waybill_with_its_check_digit_is_a_parcel_id() -> None:
    # 123456789 mod 7 is 1.
    assert classify("1234567891") == Classified(CodeKind.PARCEL, "1234567891")


@pytest.mark.parametrize("code", ["12345", "9" * 41])
def test_numbers_too_short_or_too_long_for_a_parcel_id_are_invalid(code: str) -> None:
    result = classify(code)
    assert result.kind is CodeKind.INVALID
    assert f"{len(code)} digits" in (result.error or "")


@pytest.mark.parametrize("code", ["RR473124829GB", "EE123456785SE"])
def test_upu_s10_ids_are_parcel_candidates(code: str) -> None:
    assert classify(code) == Classified(CodeKind.PARCEL, code)


def test_s10_shaped_id_with_wrong_check_digit_is_invalid() -> None:
    result = classify("RR473124828GB")
    assert result.kind is CodeKind.INVALID
    assert "should be 9" in (result.error or "")


def test_r13_a_ups_tracking_number_with_its_check_digit_is_a_parcel_id() -> None:
    assert classify("1Z999AA10123456784") == Classified(CodeKind.PARCEL, "1Z999AA10123456784")


def test_r13_a_ups_tracking_number_with_a_wrong_check_digit_says_which() -> None:
    result = classify("1Z999AA10123456785")
    assert result.kind is CodeKind.INVALID
    assert result.error == (
        "UPS parcel id 1Z999AA10123456785 has a wrong check digit (the last character should be 4)."
    )


@pytest.mark.parametrize(
    "code", ["hello", "JJD0001234567890", "CN-2024/0001_a.b+c", "ABC 123", "abcd", "HELLO"]
)
def test_r13_parcel_id_must_look_like_one(code: str) -> None:
    """Issue 12, defect 2: "hello" scanned at the bench became parcel id HELLO."""
    result = classify(code)
    assert result.kind is CodeKind.INVALID
    assert result.error is not None and result.error.startswith(f"Unknown code {code}:")


# --- orders and commands ---------------------------------------------------------------------


def test_order_barcode_is_ord_and_the_order_id() -> None:
    assert order_barcode(1042) == "ORD-1042"


@given(order_id=st.integers(min_value=1, max_value=10**18 - 1))
def test_every_order_barcode_classifies_as_its_order(order_id: int) -> None:
    text = order_barcode(order_id)
    assert classify(text) == Classified(CodeKind.ORDER, text, order_id=order_id)


@pytest.mark.parametrize("order_id", [0, -5, 10**18, True, 1.0, "1042"])
def test_order_barcode_refuses_what_is_no_order_id(order_id: object) -> None:
    with pytest.raises(ValueError):
        order_barcode(order_id)  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["ord-1042", "Ord-1042", " ORD-1042 "])
def test_order_barcodes_are_read_case_insensitively(code: str) -> None:
    result = classify(code)
    assert (result.kind, result.order_id) == (CodeKind.ORDER, 1042)


@pytest.mark.parametrize(
    "code", ["ORD-", "ORD-abc", "ORD-0", "ORD-0042", "ORD--5", "ORD-12 3", "ORD-1042x", "ORD-+7"]
)
def test_order_prefix_with_a_bad_order_number_is_invalid(code: str) -> None:
    result = classify(code)
    assert result.kind is CodeKind.INVALID
    assert (
        result.error == f"{code} is not a valid order barcode (expected ORD- and the order number)"
    )


@pytest.mark.parametrize("command", list(Command))
def test_every_command_barcode_classifies_as_its_command(command: Command) -> None:
    text = command_barcode(command)
    assert text == f"CMD-{command.value}"
    assert classify(text) == Classified(CodeKind.COMMAND, text, command=command)


def test_command_sheet_texts_are_the_documented_ones() -> None:
    assert [command_barcode(c) for c in Command] == [
        "CMD-DONE",
        "CMD-NEXT-PARCEL",
        "CMD-PARTIAL",
        "CMD-UNDO",
        "CMD-CANCEL",
    ]


def test_command_barcodes_are_read_case_insensitively() -> None:
    assert classify("cmd-Next-Parcel").command is Command.NEXT_PARCEL


@pytest.mark.parametrize("code", ["CMD-FOO", "CMD-", "cmd-done!"])
def test_unknown_command_barcode_is_invalid_and_named(code: str) -> None:
    assert classify(code) == Classified(
        CodeKind.INVALID, code, error=f"unknown command barcode {code}"
    )


# --- GS1 element strings ---------------------------------------------------------------------

FNC1_ITEM = "0109501101530003" + GS + "10ABC123" + GS + "21XYZ"
FNC1_ITEM_AIS = {"01": "09501101530003", "10": "ABC123", "21": "XYZ"}


@pytest.mark.parametrize("symbology", GS1_SYMBOLOGIES)
def test_gs1_with_fnc1_separators_is_an_item_with_gtin_batch_and_serial(symbology: str) -> None:
    result = classify(FNC1_ITEM, symbology)
    assert result == Classified(
        CodeKind.ITEM,
        FNC1_ITEM,
        gtin="09501101530003",
        batch="ABC123",
        serial="XYZ",
        ais=FNC1_ITEM_AIS,
    )


def test_aim_identifier_sent_inside_the_text_is_recognised_and_removed() -> None:
    result = classify("]C1" + FNC1_ITEM)
    assert (result.kind, result.code, dict(result.ais)) == (CodeKind.ITEM, FNC1_ITEM, FNC1_ITEM_AIS)


def test_gs1_symbology_parses_a_code_without_any_separator() -> None:
    result = classify("0109501101530003", "]d2")
    assert (result.kind, result.gtin) == (CodeKind.ITEM, "09501101530003")


def test_group_separator_alone_marks_a_gs1_code_and_leading_fnc1_is_skipped() -> None:
    code = GS + FNC1_ITEM
    result = classify(code)
    assert (result.kind, result.code, result.serial) == (CodeKind.ITEM, code, "XYZ")


def test_bracketed_human_readable_form_is_parsed() -> None:
    result = classify("(01)09501101530003(10)ABC123")
    assert (result.kind, result.gtin, result.batch) == (CodeKind.ITEM, "09501101530003", "ABC123")


def test_gs1_sscc_without_gtin_is_a_parcel_with_its_sscc() -> None:
    result = classify("00" + SSCC + "420" + "12345", "]C1")
    assert result.kind is CodeKind.PARCEL
    assert result.sscc == SSCC
    assert result.ais == {"00": SSCC, "420": "12345"}


def test_gs1_code_with_neither_gtin_nor_sscc_is_invalid() -> None:
    result = classify("(400)PO-4711")
    assert result.kind is CodeKind.INVALID
    assert result.error == "GS1 code carries neither a GTIN (01) nor an SSCC (00)"


def test_gs1_gtin_with_wrong_check_digit_is_invalid_with_the_right_digit_named() -> None:
    result = classify("(01)09501101530004")
    assert result.kind is CodeKind.INVALID
    assert "should end in 3" in (result.error or "")


def test_classified_gs1_results_are_immutable_and_hashable() -> None:
    result = classify(FNC1_ITEM, "]C1")
    with pytest.raises(TypeError):
        result.ais["10"] = "OTHER"  # type: ignore[index]
    assert hash(result) == hash(classify(FNC1_ITEM, "]C1"))


def test_parse_gs1_reads_fixed_length_fields_without_separators() -> None:
    data = "0109501101530003" + "17261231" + "3103001250" + "4105412345678908" + "10LOT-7"
    assert parse_gs1(data) == {
        "01": "09501101530003",
        "17": "261231",
        "3103": "001250",
        "410": "5412345678908",
        "10": "LOT-7",
    }


def test_parse_gs1_tolerates_a_separator_after_a_fixed_length_field_and_at_the_end() -> None:
    assert parse_gs1("0109501101530003" + GS + "10A" + GS) == {"01": "09501101530003", "10": "A"}


@pytest.mark.parametrize(
    ("ai", "value"),
    [
        ("10", "ABC123"),
        ("21", "S/N-42"),
        ("22", "VARIANT"),
        ("30", "12"),
        ("37", "48"),
        ("240", "X1"),
        ("241", "CUST-9"),
        ("250", "SEC1"),
        ("251", "SRC1"),
        ("400", "PO4711"),
        ("401", "GINC1"),
        ("402", "12345678901234567"),
        ("403", "ROUTE"),
        ("417", "5412345678908"),
        ("420", "11453"),
        ("421", "752SE-11453"),
        ("422", "752"),
        ("7003", "2612311200"),
        ("710", "12345678"),
        ("8003", "09501101530003ABC"),
        ("8004", "GIAI-1"),
        ("90", "INTERNAL"),
        ("91", "COMPANY"),
        ("99", "X" * 90),
    ],
)
def test_parse_gs1_reads_every_supported_variable_ai(ai: str, value: str) -> None:
    data = "0109501101530003" + ai + value + GS + "17261231"
    assert parse_gs1(data) == {"01": "09501101530003", ai: value, "17": "261231"}
    assert parse_gs1(f"(01)09501101530003({ai}){value}(17)261231") == parse_gs1(data)


def test_unknown_ai_raises_gs1_error_naming_it_and_its_position() -> None:
    with pytest.raises(
        Gs1Error, match=r"unknown GS1 application identifier starting '7777' at position 17"
    ):
        parse_gs1("0109501101530003" + "7777ABC")


def test_unknown_ai_in_bracketed_form_is_named_with_its_position() -> None:
    with pytest.raises(Gs1Error, match=r"\(777\) at position 19"):
        parse_gs1("(01)09501101530003(777)ABC")


def test_unknown_ai_makes_the_scan_invalid() -> None:
    result = classify("0109501101530003" + GS + "7777ABC", "]C1")
    assert result.kind is CodeKind.INVALID
    assert "7777" in (result.error or "")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("01095011015300", r"AI \(01\) at position 1 needs 14 digits, but only 12 follow"),
        ("0109501101" + GS + "10A", r"AI \(01\) at position 1 needs 14 digits, but only 8 follow"),
        ("00" + SSCC[:-1], r"AI \(00\) at position 1 needs 18 digits, but only 17 follow"),
        ("010950110153000317" + "2612", r"AI \(17\) at position 17 needs 6 digits"),
    ],
)
def test_truncated_fixed_length_ai_raises_gs1_error(data: str, message: str) -> None:
    with pytest.raises(Gs1Error, match=message):
        parse_gs1(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "holds no data"),
        (GS, "holds no data"),
        ("10" + "A" * 21, r"AI \(10\) at position 1 is 21 characters long, at most 20"),
        ("10" + GS + "21X", r"AI \(10\) at position 1 has no data"),
        ("402123", r"AI \(402\) at position 1 needs exactly 17 characters, got 3"),
        ("30ABC", r"AI \(30\) at position 1 must start with 8 digits"),
        ("10AB#C", r"AI \(10\) at position 1 contains '#'"),
        ("0109501101530004", r"GTIN 09501101530004 has a wrong check digit \(should end in 3\)"),
        ("00106141411234567898", r"SSCC 106141411234567898 has a wrong check digit"),
        ("10A" + GS + "10B", r"AI \(10\) appears again at position 5"),
        ("ABC", r"expected a GS1 application identifier at position 1, found 'ABC'"),
        (GS + GS + "10A", r"expected a GS1 application identifier at position 2"),
        ("(01)0950110153000", r"AI \(01\) at position 1 needs exactly 14 characters, got 13"),
        ("(01)09501101530003junk", r"AI \(01\) at position 1 needs exactly 14 characters, got 18"),
        ("(01)09501101530003)x", "malformed at position 19"),
        ("(1)23", "malformed at position 1"),
    ],
)
def test_malformed_gs1_raises_gs1_error_saying_what_and_where(data: str, message: str) -> None:
    with pytest.raises(Gs1Error, match=message):
        parse_gs1(data)


def test_gs1_error_is_a_value_error() -> None:
    assert issubclass(Gs1Error, ValueError)


# --- junk ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("", "empty"),
        (" \t\r\n", "empty"),
        ("ab\x07cd", "U+0007"),
        ("ABC\x00123", "U+0000"),
        ("abc\u200bdef", "U+200B"),
        ("ab", "too short"),
        ("x" * 61, "too long"),
        ("x" * 81, "too long"),
        ("åäö-123", "'å'"),
        ("ORDER#1", "'#'"),
        ("]C1", "empty"),
    ],
)
def test_junk_is_invalid_with_a_clear_message(code: str, fragment: str) -> None:
    result = classify(code)
    assert result.kind is CodeKind.INVALID
    assert fragment in (result.error or "")


def test_over_long_gs1_code_is_invalid() -> None:
    assert classify("10" + "A" * 300 + GS).kind is CodeKind.INVALID


# --- properties ------------------------------------------------------------------------------


@given(code=valid_gtins())
def test_every_valid_gtin_classifies_as_item_with_the_same_14_digit_gtin(code: str) -> None:
    result = classify(code)
    assert result.kind is CodeKind.ITEM
    assert result.gtin == code.zfill(14) == normalize_gtin(code)


@given(code=valid_gtins(), data=st.data())
def test_changing_the_check_digit_always_gives_invalid(code: str, data: st.DataObject) -> None:
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != code[-1]]))
    result = classify(code[:-1] + wrong)
    assert result.kind is CodeKind.INVALID
    assert f"should end in {code[-1]}" in (result.error or "")


@given(code=valid_gtins())
def test_gtin_inside_a_gs1_code_gives_the_same_gtin_as_the_bare_code(code: str) -> None:
    gtin = code.zfill(14)
    assert classify(f"01{gtin}", "]C1").gtin == classify(code).gtin == gtin


def assert_well_formed(result: Classified, code: str) -> None:
    assert isinstance(result.kind, CodeKind)
    assert (result.kind is CodeKind.INVALID) == (result.error is not None)
    assert result.code in code
    if result.kind is CodeKind.ITEM:
        assert result.gtin is not None and is_valid_gtin(result.gtin)


@given(code=st.text(), symbology=st.one_of(st.none(), st.sampled_from(GS1_SYMBOLOGIES), st.text()))
def test_classify_never_raises_on_any_text(code: str, symbology: str | None) -> None:
    assert_well_formed(classify(code, symbology), code)


@given(raw=st.binary())
def test_classify_never_raises_on_any_bytes_read_as_latin1(raw: bytes) -> None:
    code = raw.decode("latin-1")
    assert_well_formed(classify(code), code)


@given(
    code=st.text(alphabet="0123456789()" + GS + "AZaz-#"), symbology=st.sampled_from(["]C1", None])
)
def test_classify_never_raises_on_gs1_like_text(code: str, symbology: str | None) -> None:
    assert_well_formed(classify(code, symbology), code)
