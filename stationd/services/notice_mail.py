"""The customer's shipping notice as a mail (R14, R16), and its SMTP sender.

The notice's facts come from its outgoing row (`core.shipping_notice.ShippingNotice`); its
sentences are said here in the customer's language with the station's catalogs, as the paper's
are (services/paper.py). The Message-ID is made from the row's event id and the Date from the
row's time, so a notice sent again after a crash is the same message to the customer's mail
server, never a second one.

SMTP: STARTTLS before the login (unless `[mail] starttls = false`, for a relay on the same
machine); the credentials go to the server only — neither they nor the message are logged.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import TYPE_CHECKING

from stationd.catalogs import say
from stationd.core.shipping_notice import ShippingNotice, notice_body, notice_subject
from stationd.core.text import sentence
from stationd.services.outgoing import SendFailed
from stationd.store.outgoing import OutgoingItem

if TYPE_CHECKING:
    from datetime import datetime

    from stationd.config.outgoing import MailSettings


def message_id(event_id: str, from_address: str) -> str:
    """The notice's Message-ID: its event id at the sender's domain."""
    domain = from_address.rpartition("@")[2] or "stationd.invalid"
    return f"<{event_id}@{domain}>"


def notice_message(
    notice: ShippingNotice,
    *,
    event_id: str,
    created_at: datetime,
    from_address: str,
    shop_name: str,
) -> EmailMessage:
    """The mail of `notice`, in its language (plain text, UTF-8)."""
    language = notice.language
    message = EmailMessage()
    message["Subject"] = say(notice_subject(notice, shop_name), language)
    message["From"] = formataddr((shop_name, from_address))
    message["To"] = notice.to
    message["Date"] = format_datetime(created_at)
    message["Message-ID"] = message_id(event_id, from_address)
    body = "\n".join(say(line, language) for line in notice_body(notice, shop_name))
    message.set_content(body + "\n")
    # After the content: set_content replaces every Content-* header.
    message["Content-Language"] = language
    return message


class SmtpSender:
    """Sends shipping notices through `[mail]`'s SMTP server, one connection a notice."""

    def __init__(self, mail: MailSettings, shop_name: str) -> None:
        self.mail = mail
        self.shop_name = shop_name

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.mail.ca_file is not None:
            context.load_verify_locations(cafile=str(self.mail.ca_file))
        return context

    def send(self, item: OutgoingItem) -> None:
        """Mail the notice of `item`; raises `SendFailed` with the reason when it did not go."""
        notice = ShippingNotice.from_data(item.payload)
        message = notice_message(
            notice,
            event_id=item.event_id,
            created_at=item.created_at,
            from_address=self.mail.from_address,
            shop_name=self.shop_name,
        )
        where = f"{self.mail.host}:{self.mail.port}"
        try:
            with smtplib.SMTP(self.mail.host, self.mail.port, timeout=self.mail.timeout_s) as smtp:
                smtp.ehlo()
                if self.mail.starttls:
                    smtp.starttls(context=self._tls())
                    smtp.ehlo()
                if self.mail.user:
                    smtp.login(self.mail.user, self.mail.password)
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as err:
            raise SendFailed(
                sentence(
                    "The mail server {server} refused the login ({code}): check [mail] user "
                    "and password.",
                    server=where,
                    code=err.smtp_code,
                )
            ) from None
        except smtplib.SMTPRecipientsRefused:
            raise SendFailed(
                sentence(
                    "The mail server {server} refused the address {address}.",
                    server=where,
                    address=notice.to,
                )
            ) from None
        except smtplib.SMTPResponseException as err:
            said = err.smtp_error.decode("utf-8", "replace") if err.smtp_error else ""
            raise SendFailed(
                sentence(
                    "The mail server {server} answered: {answer}",
                    server=where,
                    answer=f"{err.smtp_code} {said}".strip(),
                )
            ) from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as err:
            raise SendFailed(
                sentence(
                    "The station can't send through the mail server {server}: {error}",
                    server=where,
                    error=f"{type(err).__name__}: {err}",
                )
            ) from None
