"""The config sections of what goes out (issue 13 section 4): ``[mail]`` for the customer's
shipping notice, ``[webhooks]`` for the shop's, ``[outgoing]`` for the worker's back-off."""

# The key helpers (_int, _path, _section …) return dataclasses.field(...), which RUF009 can't see.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stationd.config.fields import _bool, _float, _int, _Invalid, _path, _str


@dataclass(frozen=True, slots=True)
class MailSettings:
    """``[mail]``: the SMTP server the customer's shipping notice goes out by (R14)."""

    # Empty: no shipping notice is mailed (none is queued either).
    host: str = _str("", max_len=200)
    port: int = _int(587, lo=1, hi=65535)
    # STARTTLS before the credentials go (the submission port's way); false only for a relay
    # on the same machine.
    starttls: bool = _bool(True)
    # The SMTP login; never logged. Empty user: no login.
    user: str = _str("", secret=True)
    password: str = _str("", secret=True)
    # The notice's From (the shop's address; its domain ends the Message-ID).
    from_address: str = _str("", max_len=200)
    # A CA file to trust besides the system's (a relay with the shop's own certificate).
    ca_file: Path | None = _path(None, optional=True)
    # The carrier's tracking page, {id} the parcel id; empty: PostNord's.
    tracking_url: str = _str("", max_len=300, prefixes=("https://", "http://"))
    timeout_s: float = _float(20.0, lo=1, hi=300)

    def _check(self, at: str) -> None:
        if self.host and "@" not in self.from_address:
            raise _Invalid(
                f"{at}.from_address", f"{at}.host needs from_address (an e-mail address)"
            )


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """``[webhooks]``: where the shop hears order packed, delivery reported, order shipped."""

    # Empty: no webhooks are sent (none is queued either).
    url: str = _str("", prefixes=("https://", "http://"), prefix_hint="be empty or ")
    # The shared secret each request is signed with (HMAC-SHA256); never logged.
    secret: str = _str("", secret=True)
    timeout_s: float = _float(10.0, lo=0.5, hi=120)

    def _check(self, at: str) -> None:
        if self.url and len(self.secret) < 16:
            raise _Invalid(f"{at}.secret", f"{at}.url needs a secret of at least 16 characters")


@dataclass(frozen=True, slots=True)
class OutgoingSettings:
    """``[outgoing]``: how the outgoing worker tries a failed send again."""

    # The first wait after a failed try (seconds), doubling up to max_backoff_s, each moved
    # at random by a quarter either way.
    first_backoff_s: float = _float(10.0, lo=0.05, hi=3600)
    max_backoff_s: float = _float(3600.0, lo=1, hi=86400)
    # After this many failed tries a send waits for a person (the Tools page "Outgoing").
    max_attempts: int = _int(12, lo=1, hi=100)
