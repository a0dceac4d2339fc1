"""Sentences core says to people, translatable later.

core/ speaks English and does no I/O, yet the packer reads Swedish or Norwegian. A `Text` is
the English sentence (it *is* a str, so logs, the scan journal and tests read it as before) that
also keeps its template and parameters, so the kiosk can say it in the packer's language.
"""

from __future__ import annotations

import json
from decimal import Decimal


class Text(str):
    """An English sentence that remembers its `template` and `params` for translation.

    `context` (None for most) tells apart the same English said two ways: a catalog keys the
    translation by context and template (gettext's msgctxt).
    """

    template: str
    params: dict[str, object]
    context: str | None = None

    def __new__(cls, template: str, **params: object) -> Text:
        self = super().__new__(cls, template.format(**params) if params else template)
        self.template = template
        self.params = params
        return self


def sentence(template: str, **params: object) -> Text:
    """`template` filled with `params` ({name} placeholders), translatable by its template."""
    return Text(template, **params)


def sentence_in(context: str, template: str, **params: object) -> Text:
    """`sentence`, translated in `context`: where the same English reads differently there
    (a paper's "Items", the count of a pick list, is not the kiosk's column "Items")."""
    text = Text(template, **params)
    text.context = context
    return text


def and_list(items: list[object]) -> object:
    """Items as a sentence lists them: "1006", "1006 and 1341", "1006, 1341 and 1397"."""
    shown = [str(item) for item in items]
    if len(shown) < 2:
        return shown[0] if shown else ""
    return sentence("{a} and {b}", a=", ".join(shown[:-1]), b=shown[-1])


def clauses(items: list[object]) -> object:
    """Clauses of one sentence, "; " between them: "a; b; c". A sentence among them stays a
    sentence (nested), so each clause is said in the reader's language — a plain join would
    make them English for good."""
    if not items:
        return ""
    said = items[0]
    for item in items[1:]:
        said = sentence("{clauses}; {clause}", clauses=said, clause=item)
    return said


def text_data(message: object) -> str | None:
    """A `Text` as JSON, to keep beside its English where it is stored (None: plain text).

    What a record keeps (the scan journal) can then be read later in any language:
    `text_from_data` makes the `Text` again, nested sentences and measures included.
    """
    if not isinstance(message, Text):
        return None
    return json.dumps(_encode(message), ensure_ascii=False, separators=(",", ":"))


def text_from_data(data: str | None, english: str) -> str:
    """The `Text` `text_data` kept, or `english` as it is when there is none (or it is damaged)."""
    if not data:
        return english
    try:
        text = _decode(json.loads(data))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, ArithmeticError):
        return english
    return text


def _encode(text: Text) -> dict[str, object]:
    params: dict[str, object] = {}
    for key, value in text.params.items():
        if isinstance(value, Text):
            params[key] = {"text": _encode(value)}
        elif isinstance(value, Decimal):
            params[key] = {"decimal": str(value)}
        elif value is None or isinstance(value, bool | int | float):
            params[key] = value
        else:
            params[key] = str(value)
    encoded: dict[str, object] = {"template": text.template, "params": params}
    if text.context is not None:
        encoded["context"] = text.context
    return encoded


def _decode(data: dict) -> Text:
    params: dict[str, object] = {}
    for key, value in data["params"].items():
        if isinstance(value, dict) and "text" in value:
            params[key] = _decode(value["text"])
        elif isinstance(value, dict) and "decimal" in value:
            params[key] = Decimal(value["decimal"])
        else:
            params[key] = value
    data["template"].format(**params)  # every placeholder has its fact, nested ones too
    if "context" in data:
        return sentence_in(str(data["context"]), data["template"], **params)
    return Text(data["template"], **params)
