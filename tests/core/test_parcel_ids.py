"""R13: which parcel ids a delivery takes — format and check digit where the carrier has one."""

from __future__ import annotations

import pytest

from stationd.core.check_digits import s10_check_digit
from stationd.core.deliveries import check_parcel_id
from stationd.core.gs1 import GS
from stationd.core.orders import OrderRuleError


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("RR473124829SE", "RR473124829SE"),  # UPU S10, check digit 9
        ("rr 473 124 829 se", "RR473124829SE"),  # as printed under the barcode, lower case
        ("EE123456785NO", "EE123456785NO"),
        ("373500000000000017", "373500000000000017"),  # SSCC
        ("00373500000000000017", "373500000000000017"),  # GS1-128 read without FNC1
        ("(00) 3 7350000 000000001 7", "373500000000000017"),  # the human-readable line
        (GS + "00373500000000000017", "373500000000000017"),  # a GS1 scan with FNC1
        ("1Z999AA10123456784", "1Z999AA10123456784"),  # other carriers: letters and digits
        ("123456789012", "123456789012"),  # 12 digits (FedEx), even when UPC-shaped
        ("PKG-0001", "PKG-0001"),
    ],
)
def test_r13_parcel_ids_are_kept_in_one_form(typed, kept):
    assert check_parcel_id(typed) == kept


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("RR473124828SE", "RR473124828SE has a wrong check digit (the last digit should be 9)."),
        ("373500000000000018", "SSCC 373500000000000018 has a wrong check digit (it should end"),
        ("00373500000000000018", "should end in 7"),
        ("(00)373500000000000018", "wrong check digit"),
        ("(01)07300000000011", "carries no SSCC (00)"),
        ("7300000000011", "is a product barcode (EAN-13), not a parcel id."),
        ("ORD-1042", "ORD-1042 is one of the station's barcodes, not a parcel id."),
        ("CMD-DONE", "one of the station's barcodes"),
        ("", "A parcel id can't be empty."),
        ("   ", "A parcel id can't be empty."),
        ("<script>", "contains “<”"),
        ("ÅÄÖ-1234", "contains “Å”"),
        ("X" * 41, "too long: at most 40 characters"),
        ("P-1", "too short: at least 4 characters"),
        ("12345", "too short: at least 6 characters"),
    ],
)
def test_r13_a_malformed_parcel_id_is_refused_with_a_sentence(typed, says):
    with pytest.raises(OrderRuleError) as refused:
        check_parcel_id(typed)
    assert says in str(refused.value)


def test_r13_sentences_are_translatable():
    with pytest.raises(OrderRuleError) as refused:
        check_parcel_id("RR473124828SE")
    sentence = refused.value.args[0]
    assert sentence.template.startswith("Postal parcel id {code} has a wrong check digit")
    assert sentence.params == {"code": "RR473124828SE", "right": 9}


def test_s10_check_digit_follows_the_upu_table():
    # 11 - (weighted sum mod 11), with 10 → 0 and 11 → 5.
    assert s10_check_digit("47312482") == 9
    assert s10_check_digit("00000000") == 5
    with pytest.raises(ValueError, match="8 digits"):
        s10_check_digit("4731248")
