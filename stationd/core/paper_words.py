"""What paper says and in which language: the documents' captions and paper languages.

The captions are core's translatable sentences (`core.text.Text`): the paper says them in its
language with the kiosk's catalogs (`stationd.services.paper`). A document is printed in Swedish,
Norwegian or English (`normalize_language`), the customer's by default, with dates as that
language writes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from types import MappingProxyType

from stationd.core.locales import customer_language, date_text
from stationd.core.orders import Order, PaymentMethod
from stationd.core.text import Text, sentence, sentence_in

__all__ = [
    "PAPER_LANGUAGES",
    "PAYMENT_METHODS",
    "normalize_language",
]


NBSP = "\u00a0"

# --- captions --------------------------------------------------------------------------------
# The words a document prints beside its facts, as core's translatable sentences: the paper
# says them in its language with the kiosk's catalogs (`stationd.services.paper`).

PICK_LIST = sentence("Pick list")
RECEIPT = sentence("Receipt")
INVOICE = sentence("Invoice")
ORDER = sentence("Order")
DATE = sentence("Date")
CUSTOMER = sentence("Customer")
COMMENT = sentence("Comment:")
# The kiosk's "Payment" and "Items" (a column) read otherwise than the paper's in sv and nb.
PAYMENT = sentence_in("paper", "Payment")
ITEM_COUNT = sentence_in("paper", "Items")
LOCATION = sentence("Location")
QUANTITY = sentence("Qty")
ITEM = sentence("Item")
PRICE = sentence("Price")
AMOUNT = sentence("Amount")
TOTAL = sentence("Total")
INVOICE_NUMBER = sentence("Invoice number")
INVOICE_DATE = sentence("Invoice date")
DUE_DATE = sentence("Due date")
BILL_TO = sentence("Bill to:")
AMOUNT_DUE = sentence("Amount due")
PAY_TO = sentence("Pay to:")
THANKS = sentence("Thank you for your order!")
#: Where a pick line has no stock location.
NO_LOCATION = "-"

PAYMENT_METHODS: Mapping[PaymentMethod, Text] = MappingProxyType(
    {
        PaymentMethod.CARD: sentence("Card"),
        PaymentMethod.INVOICE: sentence("Invoice"),
        PaymentMethod.OWN_INVOICE: sentence("Invoice (own)"),
        PaymentMethod.SWISH: sentence("Swish"),
        PaymentMethod.VIPPS: sentence("Vipps"),
        PaymentMethod.BANK: sentence("Bank transfer"),
    }
)
"""How a receipt names the way the order was paid."""


def vat_caption(rate_percent: int) -> Text:
    """ "incl. VAT 25 %": the VAT row of the totals."""
    return sentence("incl. VAT {rate}\u00a0%", rate=rate_percent)  # a no-break space


#: The languages paper is printed in; any other falls back to English (SPEC: the packer works
#: in Swedish or Norwegian).
PAPER_LANGUAGES = ("sv", "nb", "en")

_LANGUAGE_ALIASES = {"nn": "nb", "nob": "nb", "swe": "sv", "eng": "en"}


def normalize_language(language: str) -> str:
    """'sv', 'sv-SE', 'nb_NO', 'nn' … → 'sv' / 'nb' / 'en'; anything else → 'en' (SPEC: the
    packer works in Swedish or Norwegian, English as fallback)."""
    base = re.split(r"[-_.]", language.strip().lower(), maxsplit=1)[0]
    base = _LANGUAGE_ALIASES.get(base, base)
    return base if base in PAPER_LANGUAGES else "en"


def _date_text(day: date, language: str) -> str:
    return date_text(day, language)


def _local_date(at: datetime, tz: tzinfo | None) -> date:
    return (at.astimezone(tz) if tz is not None and at.tzinfo is not None else at).date()


def _customer_paper(order: Order, language: str | None, currency: str | None) -> tuple[str, str]:
    """The language and currency of paper that goes to the customer (issue 12): as given,
    else the language of the country the order ships to and the order's own currency."""
    return normalize_language(language or customer_language(order.country)), (
        currency or order.currency
    )
