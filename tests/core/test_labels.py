"""The shipping label's facts and the checks on them (SPEC R13, R16)."""

from __future__ import annotations

import dataclasses

import pytest
from shipping_labels import SENDER, SSCC, make_label

from stationd.core.deliveries import Delivery
from stationd.core.labels import (
    Receiver,
    Sender,
    ShippingLabel,
    format_weight,
    labels_due_at_report_in,
    labels_for_delivery,
)
from stationd.core.text import Text

RECEIVER = Receiver("Kåre Ødegård", "Storgata 7", "0150", "Oslo", "no")


def label(**changes) -> ShippingLabel:
    """The shared test label (tests/shipping_labels.py), sent to a Norwegian receiver."""
    return make_label(**{"receiver": RECEIVER, **changes})


# --- the label -------------------------------------------------------------------------------


def test_a_valid_label_keeps_its_facts_and_is_frozen():
    made = label()
    assert made.parcel_id == "RR473124829GB"
    assert made.sscc == SSCC
    assert made.receiver.country == "NO"  # upper-cased
    assert made.sscc_text() == f"(00) {SSCC}"
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.parcel_id = "X"  # type: ignore[misc]


def test_text_is_cleaned_of_line_breaks_and_runs_of_blanks():
    receiver = Receiver("  Anna \n Svensson ", "Lilla\tvägen 3", "411 01", "Göteborg", "SE")
    assert receiver.name == "Anna Svensson"
    assert receiver.street == "Lilla vägen 3"
    sender = Sender("Shop", ["Line 1", "  ", "Line 2"])  # blank lines dropped, list → tuple
    assert sender.address_lines == ("Line 1", "Line 2")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sscc": "37340030680998141"}, "An SSCC is 18 digits"),
        ({"sscc": SSCC[:-1] + str((int(SSCC[-1]) + 1) % 10)}, f"should end in {SSCC[-1]}"),
        ({"sscc": "3734003068099814x2"}, "An SSCC is 18 digits"),
        ({"parcel_id": ""}, "can't be printed as a barcode"),
        ({"parcel_id": "ABC 123"}, "can't be printed as a barcode"),
        ({"parcel_id": "ÅBC123"}, "can't be printed as a barcode"),
        ({"parcel_id": "A" * 41}, "can't be printed as a barcode"),
        ({"parcel_id": "RR473124828GB"}, "check digit is wrong"),
        ({"parcel_number": 3}, "Parcel 3 of 2 does not exist"),
        ({"parcel_number": 0}, "Parcel 0 of 2 does not exist"),
        ({"parcel_count": 5, "parcel_number": 1}, "1 to 4 parcels"),
        ({"parcel_count": True}, "whole number"),
        ({"order_id": 0}, "positive number"),
        ({"order_id": "1042"}, "whole number"),
        ({"weight_g": 0}, "can't weigh 0 g"),
        ({"weight_g": 2.5}, "whole number"),
        ({"carrier": "x" * 41}, "at most 40"),
        ({"sender": "Butiken AB"}, "must be a Sender"),
    ],
)
def test_a_label_a_carrier_could_not_read_is_refused_with_a_sentence(changes, message):
    with pytest.raises(ValueError, match=message):
        label(**changes)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "receiver's name is missing"),
        ({"name": "x" * 51}, "51 characters long"),
        ({"name": "Anna\u200bSvensson"}, "invisible control character"),
        ({"street": "   "}, "receiver's street is missing"),
        ({"postcode": "12345678901"}, "at most 10"),
        ({"country": "Sweden"}, "at most 2"),
        ({"country": "S1"}, "two-letter code"),
        ({"city": 7}, "must be text"),
    ],
)
def test_a_receiver_without_a_deliverable_address_is_refused(fields, message):
    values = dict(name="Anna", street="Gatan 1", postcode="123 45", city="Ort", country="SE")
    values.update(fields)
    with pytest.raises(ValueError, match=message):
        Receiver(**values)


def test_a_sender_prints_at_most_three_address_lines():
    with pytest.raises(ValueError, match="at most 3"):
        Sender("Shop", ("1", "2", "3", "4"))
    with pytest.raises(ValueError, match="list of lines"):
        Sender("Shop", "Storgatan 1")  # type: ignore[arg-type]


def test_an_s10_id_with_a_right_check_digit_and_other_parcel_ids_pass():
    for parcel_id in ("RR473124829GB", "JJD0001234567890", "370722150123456789", "A-1_b.2/c"):
        assert label(parcel_id=parcel_id).parcel_id == parcel_id


# --- weight and captions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grams", "lang", "text"),
    [
        (2350, "en", "2.35 kg"),
        (2351, "en", "2.36 kg"),  # rounded up: never declare less than the parcel weighs
        (1, "en", "0.01 kg"),
        (12000, "sv", "12,00 kg"),
        (999, "nb", "1,00 kg"),
    ],
)
def test_weight_is_printed_in_kg_rounded_up_to_ten_grams(grams, lang, text):
    assert format_weight(grams, lang) == text


def test_weight_text_is_empty_when_the_weight_is_unknown():
    assert label(weight_g=None).weight_text() == ""
    assert label().weight_text("sv") == "2,36 kg"


def test_captions_are_core_sentences_in_english_until_the_paper_says_them():
    assert dict(label().captions) == {
        "from": "From",
        "to": "To",
        "order": "Order",
        "parcel": "Parcel",
        "of": "of",
    }
    assert all(isinstance(word, Text) for word in label().captions.values())


# --- one label per parcel of a delivery ------------------------------------------------------


def delivery(*parcel_ids: str, weight_g: int | None = None) -> Delivery:
    return Delivery(
        order_id=1042, quantities={1: 1}, parcel_ids=list(parcel_ids), weight_g=weight_g
    )


def test_labels_for_delivery_numbers_the_parcels_in_order():
    labels = labels_for_delivery(
        delivery("RR473124829GB", "JJD0001234567890"),
        sender=SENDER,
        receiver=RECEIVER,
        carrier="Bring",
        ssccs={"JJD0001234567890": SSCC},
        weights_g={"RR473124829GB": 1200},
    )
    assert [(lab.parcel_id, lab.parcel_number, lab.parcel_count) for lab in labels] == [
        ("RR473124829GB", 1, 2),
        ("JJD0001234567890", 2, 2),
    ]
    assert [lab.sscc for lab in labels] == [None, SSCC]
    assert [lab.weight_g for lab in labels] == [1200, None]
    assert {lab.order_id for lab in labels} == {1042}
    assert {lab.carrier for lab in labels} == {"Bring"}


def test_a_single_parcel_carries_the_delivery_weight_several_parcels_do_not():
    one = labels_for_delivery(delivery("P-1", weight_g=800), sender=SENDER, receiver=RECEIVER)
    assert one[0].weight_g == 800
    two = labels_for_delivery(
        delivery("P-1", "P-2", weight_g=800), sender=SENDER, receiver=RECEIVER
    )
    assert [lab.weight_g for lab in two] == [None, None]


def test_labels_for_delivery_refuses_what_does_not_belong_to_it():
    with pytest.raises(ValueError, match="no parcel ids yet"):
        labels_for_delivery(delivery(), sender=SENDER, receiver=RECEIVER)
    with pytest.raises(ValueError, match="parcel id P-9, which is not on this delivery"):
        labels_for_delivery(delivery("P-1"), sender=SENDER, receiver=RECEIVER, ssccs={"P-9": SSCC})
    with pytest.raises(ValueError, match="A weight is given for parcel id P-9"):
        labels_for_delivery(
            delivery("P-1"), sender=SENDER, receiver=RECEIVER, weights_g={"P-9": 100}
        )
    with pytest.raises(ValueError, match="given for two parcels"):
        labels_for_delivery(
            delivery("P-1", "P-2"),
            sender=SENDER,
            receiver=RECEIVER,
            ssccs={"P-1": SSCC, "P-2": SSCC},
        )
    with pytest.raises(ValueError, match="wrong check digit"):
        labels_for_delivery(
            delivery("P-1"), sender=SENDER, receiver=RECEIVER, ssccs={"P-1": SSCC[:-1] + "0"}
        )


@pytest.mark.parametrize(
    ("parcel_ids", "labelled", "at_bench", "due"),
    [
        (["A", "B"], set(), 0, ["A", "B"]),  # the bench printed none: report-in prints all
        (["A", "B"], {"A", "B"}, 2, []),  # printed at the bench: never twice
        (["A", "C"], {"A"}, 2, ["C"]),  # C replaced a labelled id: its label only
        (["A", "B", "C"], {"A", "B"}, 2, ["A", "B", "C"]),  # "1 of 2" is wrong now: all anew
        (["A"], {"A"}, 2, ["A"]),  # one box fewer: "1 of 2" on the one left is wrong too
    ],
)
def test_r16_report_in_prints_the_labels_the_bench_did_not_or_got_wrong(
    parcel_ids, labelled, at_bench, due
):
    assert labels_due_at_report_in(parcel_ids, labelled, at_bench) == due
