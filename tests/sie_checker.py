"""A strict reader of SIE 4 type 4I files, written from the specification (SIE-gruppen, "SIE
filformat utgåva 4B", 2008-09-30) and independent of stationd's writer: it shares no code with
stationd/core/sie.py, so a mistake made twice would have to be made the same way twice.

What it holds a file to:
- the encoding is PC8 (IBM code page 437, #FORMAT PC8): the bytes are read as CP437, and a
  file whose non-ASCII bytes read as UTF-8 is refused (a UTF-8 file labelled PC8 is the
  usual mistake: "Å" becomes "├à" in every Swedish program);
- no control characters but the line end (CR LF or LF) and tab;
- a record is a label (#NAME) and fields separated by spaces or tabs; a field with a space
  is quoted; inside quotes \\" is a quote; an object list is {…};
- #FLAGGA first (0 or 1); then the identification records, then the chart records (#KONTO,
  #KTYP, #SRU, #DIM, #OBJEKT, #ENHET), then the vouchers — no record out of that order;
- required in 4I: #FLAGGA, #PROGRAM (name, version), #FORMAT PC8, #GEN (a date), #SIETYP 4,
  #FNAMN; at most one of each identification record;
- #VER series number date [text [regdate [sign]]], followed by "{" on a line of its own, its
  #TRANS rows and "}"; #TRANS account {objects} amount [date [text [quantity [sign]]]];
- every account in a #TRANS is declared by a #KONTO; an account is digits;
- amounts: optional minus, digits, a decimal point and exactly two decimals;
- dates: YYYYMMDD and a real day;
- every voucher's #TRANS amounts sum to exactly zero; (series, number) is unique.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

IDENTIFICATION = {
    "#PROGRAM", "#FORMAT", "#GEN", "#SIETYP", "#PROSA", "#FTYP", "#FNR", "#ORGNR", "#BKOD",
    "#ADRESS", "#FNAMN", "#RAR", "#TAXAR", "#OMFATTN", "#KPTYP", "#VALUTA",
}  # fmt: skip
CHART = {"#KONTO", "#KTYP", "#ENHET", "#SRU", "#DIM", "#UNDERDIM", "#OBJEKT"}
REQUIRED = ("#FLAGGA", "#PROGRAM", "#FORMAT", "#GEN", "#SIETYP", "#FNAMN")
AMOUNT = re.compile(r"-?[0-9]+\.[0-9]{2}")
ACCOUNT = re.compile(r"[0-9]+")


class SieError(AssertionError):
    """The file breaks the specification; the message says where and how."""


@dataclass
class Trans:
    account: str
    amount: Decimal
    day: date | None


@dataclass
class Voucher:
    series: str
    number: str
    day: date
    text: str
    rows: list[Trans] = field(default_factory=list)


@dataclass
class SieFile:
    fields: dict[str, list[str]]
    accounts: dict[str, str]
    vouchers: list[Voucher]


def tokens(line: str, where: str) -> list[str]:
    """A record's fields: quoted strings unquoted (\\" → "), {…} kept whole."""
    out, i = [], 0
    while i < len(line):
        c = line[i]
        if c in " \t":
            i += 1
        elif c == '"':
            i += 1
            text = []
            while True:
                if i >= len(line):
                    raise SieError(f"{where}: a quote is not closed")
                if line[i] == "\\" and i + 1 < len(line) and line[i + 1] == '"':
                    text.append('"')
                    i += 2
                elif line[i] == '"':
                    i += 1
                    break
                else:
                    text.append(line[i])
                    i += 1
            if i < len(line) and line[i] not in " \t":
                raise SieError(f"{where}: text runs on after a closing quote")
            out.append("".join(text))
        elif c == "{":
            end = line.find("}", i)
            if end < 0:
                raise SieError(f"{where}: an object list is not closed")
            out.append(line[i : end + 1])
            i = end + 1
        else:
            j = i
            while j < len(line) and line[j] not in " \t":
                if line[j] == '"':
                    raise SieError(f"{where}: a quote inside an unquoted field")
                j += 1
            out.append(line[i:j])
            i = j
    return out


def day_of(text: str, where: str) -> date:
    if not re.fullmatch(r"[0-9]{8}", text):
        raise SieError(f"{where}: {text!r} is not a date YYYYMMDD")
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise SieError(f"{where}: {text!r} is no real day") from None


def read_sie(data: bytes) -> SieFile:
    """Read and check a SIE 4I file; raises `SieError` at the first rule it breaks."""
    if any(b >= 0x80 for b in data):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            raise SieError("the file's non-ASCII bytes are UTF-8, not PC8 (CP437)")
    text = data.decode("cp437")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    fields: dict[str, list[str]] = {}
    accounts: dict[str, str] = {}
    vouchers: list[Voucher] = []
    stage = 0  # 0 flag, 1 identification, 2 chart, 3 vouchers
    open_voucher: Voucher | None = None
    expect_brace = False
    for n, raw in enumerate(lines, 1):
        where = f"line {n}"
        line = raw[:-1] if raw.endswith("\r") else raw
        if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in line):
            raise SieError(f"{where}: a control character")
        stripped = line.strip()
        if not stripped:
            continue
        if expect_brace:
            if stripped != "{":
                raise SieError(f"{where}: a #VER must be followed by '{{' on its own line")
            expect_brace = False
            continue
        if open_voucher is not None and stripped == "}":
            vouchers.append(open_voucher)
            total = sum((t.amount for t in open_voucher.rows), Decimal(0))
            if total != 0:
                raise SieError(
                    f"{where}: voucher {open_voucher.series} {open_voucher.number} does not "
                    f"balance: its rows sum to {total}"
                )
            open_voucher = None
            continue
        parts = tokens(stripped, where)
        label = parts[0]
        if not re.fullmatch(r"#[A-Z]+", label):
            raise SieError(f"{where}: {label!r} is no record label")
        if open_voucher is not None:
            if label != "#TRANS":
                raise SieError(f"{where}: {label} inside a voucher")
            if len(parts) < 4:
                raise SieError(f"{where}: #TRANS needs account, objects and amount")
            account, objects, value = parts[1:4]
            if not ACCOUNT.fullmatch(account):
                raise SieError(f"{where}: {account!r} is no account")
            if account not in accounts:
                raise SieError(f"{where}: account {account} has no #KONTO")
            if not (objects.startswith("{") and objects.endswith("}")):
                raise SieError(f"{where}: the object list must be {{…}}, got {objects!r}")
            if not AMOUNT.fullmatch(value):
                raise SieError(f"{where}: amount {value!r} is not -N.NN")
            when = day_of(parts[4], where) if len(parts) > 4 and parts[4] else None
            open_voucher.rows.append(Trans(account, Decimal(value), when))
            continue
        if label == "#FLAGGA":
            if n != 1 and any(fields):
                raise SieError(f"{where}: #FLAGGA must be the first record")
            if parts[1:] not in (["0"], ["1"]):
                raise SieError(f"{where}: #FLAGGA must be 0 or 1")
            stage = 1
        elif stage == 0:
            raise SieError(f"{where}: the file must begin with #FLAGGA")
        elif label in IDENTIFICATION:
            if stage > 1:
                raise SieError(f"{where}: {label} after the chart or the vouchers")
            if label in fields:
                raise SieError(f"{where}: a second {label}")
        elif label in CHART:
            if stage > 2:
                raise SieError(f"{where}: {label} after the vouchers")
            stage = 2
            if label == "#KONTO":
                if len(parts) != 3 or not ACCOUNT.fullmatch(parts[1]):
                    raise SieError(f"{where}: #KONTO needs an account number and a name")
                accounts[parts[1]] = parts[2]
        elif label == "#VER":
            stage = 3
            if len(parts) < 4:
                raise SieError(f"{where}: #VER needs series, number and date")
            open_voucher = Voucher(parts[1], parts[2], day_of(parts[3], where), "")
            if len(parts) > 4:
                open_voucher.text = parts[4]
            if len(parts) > 5 and parts[5]:
                day_of(parts[5], where)
            if any((v.series, v.number) == (parts[1], parts[2]) for v in vouchers):
                raise SieError(f"{where}: voucher {parts[1]} {parts[2]} twice")
            expect_brace = True
        else:
            raise SieError(f"{where}: {label} has no place in a type 4I file")
        fields.setdefault(label, parts[1:])
    if open_voucher is not None or expect_brace:
        raise SieError("the file ends inside a voucher")
    for label in REQUIRED:
        if label not in fields:
            raise SieError(f"{label} is missing")
    if fields["#FORMAT"] != ["PC8"]:
        raise SieError(f"#FORMAT must be PC8, got {fields['#FORMAT']}")
    if fields["#SIETYP"] != ["4"]:
        raise SieError(f"#SIETYP must be 4, got {fields['#SIETYP']}")
    if len(fields["#PROGRAM"]) < 2:
        raise SieError("#PROGRAM needs a name and a version")
    day_of(fields["#GEN"][0], "#GEN")
    return SieFile(fields, accounts, vouchers)
