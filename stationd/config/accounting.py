"""``[accounting]``: how each reported delivery's invoice record is booked (R16) — its series,
the settlement account (1570 unless a payment method has its own), the sales and VAT accounts
per rate — and the accounting system it is sent to (Fiken, for a Norwegian shop)."""

# The key helpers return dataclasses.field(...), which RUF009 can't see.

from __future__ import annotations

from dataclasses import dataclass

from stationd.config.fields import _choice, _float, _int, _Invalid, _str
from stationd.core.invoices import (
    SERIES_MAX_LENGTH,
    Books,
    parse_account_map,
    parse_rate_map,
)
from stationd.core.orders import PaymentMethod


@dataclass(frozen=True, slots=True)
class AccountingSettings:
    """``[accounting]``: the books an invoice record is written for, and where it is sent."""

    # The voucher series of the invoice records; numbers run 1, 2, 3 … in it without a gap.
    series: str = _str("A", non_empty=True, max_len=SERIES_MAX_LENGTH, printable=True)
    # Where the payment provider's money is settled (the Norwegian guide books it on 1570).
    settlement_account: str = _str("1570", non_empty=True, max_len=4)
    # A payment method's own settlement account, e.g. "swish=1580 vipps=1571".
    settlement_accounts: str = _str("")
    # The sales account per VAT rate (BAS: 3001 25 %, 3002 12 %, 3003 6 %, 3004 VAT-free).
    sales_accounts: str = _str("25=3001 12=3002 6=3003 0=3004")
    # The output-VAT account per rate (BAS: 2611 25 %, 2621 12 %, 2631 6 %).
    vat_accounts: str = _str("25=2611 12=2621 6=2631")
    # "none": the records are exported as SIE files only (`stationd export sie`); "fiken":
    # each is also sent to Fiken as a sale (API v2).
    send_to: str = _choice("none", ("none", "fiken"))
    # The API's address; empty: Fiken's production API.
    api_url: str = _str("", prefixes=("https://", "http://"), prefix_hint="be empty or ")
    # Fiken: a personal API token (Rediger konto → Sikkerhet). Never logged.
    api_token: str = _str("", secret=True)
    # Fiken: the company's slug, as in https://fiken.no/foretak/<slug>.
    company_slug: str = _str("", max_len=100)
    # How long one request may take; how often one is tried; the longest Retry-After waited.
    timeout_s: float = _float(10.0, lo=0.5, hi=120)
    tries: int = _int(3, lo=1, hi=10)
    max_wait_s: float = _float(30.0, lo=0, hi=600)

    def _check(self, at: str) -> None:
        if not (self.settlement_account.isdigit() and len(self.settlement_account) == 4):
            raise _Invalid(f"{at}.settlement_account", f"{at}.settlement_account: 4 digits")
        try:
            by_method = parse_account_map(self.settlement_accounts, what="settlement_accounts")
            parse_rate_map(self.sales_accounts, what="sales_accounts")
            parse_rate_map(self.vat_accounts, what="vat_accounts")
        except ValueError as err:
            raise _Invalid(at, f"{at}.{err}") from None
        known = {m.value for m in PaymentMethod}
        for method in by_method:
            if method not in known:
                raise _Invalid(
                    f"{at}.settlement_accounts",
                    f"{at}.settlement_accounts: {method!r} is no payment method "
                    f"({', '.join(sorted(known))})",
                )
        if self.send_to == "fiken":
            for key in ("api_token", "company_slug"):
                if not getattr(self, key).strip():
                    raise _Invalid(f"{at}.{key}", f"{at}.send_to 'fiken' needs {key}")

    def books(self, vat_percent: int) -> Books:
        """The books these settings describe; `vat_percent` is `[shop] vat_percent`, the rate
        of a line that names none."""
        return Books(
            series=self.series,
            vat_percent=vat_percent,
            settlement_account=self.settlement_account,
            settlement_by_method=parse_account_map(
                self.settlement_accounts, what="settlement_accounts"
            ),
            sales_accounts=parse_rate_map(self.sales_accounts, what="sales_accounts"),
            vat_accounts=parse_rate_map(self.vat_accounts, what="vat_accounts"),
        )
