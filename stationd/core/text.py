"""Sentences core says to people, translatable later.

core/ speaks English and does no I/O, yet the packer reads Swedish or Norwegian. A `Text` is
the English sentence (it *is* a str, so logs, the scan journal and tests read it as before) that
also keeps its template and parameters, so the kiosk can say it in the packer's language.
"""

from __future__ import annotations


class Text(str):
    """An English sentence that remembers its `template` and `params` for translation."""

    template: str
    params: dict[str, object]

    def __new__(cls, template: str, **params: object) -> Text:
        self = super().__new__(cls, template.format(**params) if params else template)
        self.template = template
        self.params = params
        return self


def sentence(template: str, **params: object) -> Text:
    """`template` filled with `params` ({name} placeholders), translatable by its template."""
    return Text(template, **params)
