"""core.text: a sentence stays English for logs and keeps what it needs to be said in another
language, also after it was stored and read back (the scan journal)."""

from __future__ import annotations

from decimal import Decimal

from stationd.core.text import Text, sentence, sentence_in, text_data, text_from_data


def test_a_sentence_is_its_english_and_keeps_template_and_params():
    said = sentence("Order {order} open: {left} item(s) to pack.", order=1042, left=3)
    assert said == "Order 1042 open: 3 item(s) to pack."
    assert said.template == "Order {order} open: {left} item(s) to pack."
    assert said.params == {"order": 1042, "left": 3}


def test_a_stored_sentence_comes_back_with_nested_sentences_and_measures():
    weight = sentence("{kg} kg", kg=Decimal("1.420"))
    said = sentence(
        "{said} {note}",
        said=sentence("Parcel weighs {measured}.", measured=weight),
        note=sentence("Labels for {count} parcels: {ids}.", count=2, ids="A1, B2"),
    )
    back = text_from_data(text_data(said), "ignored")
    assert isinstance(back, Text)
    assert back == said == "Parcel weighs 1.420 kg. Labels for 2 parcels: A1, B2."
    assert back.template == "{said} {note}"
    measured = back.params["said"].params["measured"]  # type: ignore[attr-defined]
    assert measured.params == {"kg": Decimal("1.420")}
    assert back.params["note"].params == {"count": 2, "ids": "A1, B2"}  # type: ignore[attr-defined]


def test_a_sentence_in_a_context_is_its_english_and_comes_back_with_its_context():
    items = sentence_in("paper", "Items")
    assert items == "Items" and items.context == "paper"
    assert sentence("Items").context is None
    again = text_from_data(text_data(items), "Items")
    assert isinstance(again, Text) and again == "Items" and again.context == "paper"


def test_plain_text_and_damaged_data_fall_back_to_the_english_kept():
    assert text_data("just a string") is None
    assert text_from_data(None, "Wrong item.") == "Wrong item."
    assert text_from_data("{not json", "Wrong item.") == "Wrong item."
    assert text_from_data('{"template": "x {y}", "params": {}}', "Wrong item.") == "Wrong item."
