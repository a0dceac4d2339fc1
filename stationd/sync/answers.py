"""Central answered: whichever part of a bench's sync hears it first tells the others.

The push, the pull and the claims' keep-alive each notice an outage on their own and each wait
between tries while it lasts (the push and the pull with a growing back-off). When the network
or central returns, the first to get an answer tells the rest, so that the backlog goes and the
copy follows at once instead of after the longest back-off (docs/sync.md "What a person sees").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class SyncPart(Protocol):
    """A part of the sync with central (sync.push.PushWorker, sync.pull.PullWorker,
    services.central_claims.CentralClaims)."""

    on_answer: Callable[[], None] | None

    def central_answers(self) -> None: ...


def tell_each_other(*parts: SyncPart | None) -> None:
    """Wire `parts` (None: absent) so that an answer one of them gets from central cuts the
    others' waits short."""
    present = [part for part in parts if part is not None]
    for part in present:
        others = [other for other in present if other is not part]
        part.on_answer = _telling(others)


def _telling(others: list[SyncPart]) -> Callable[[], None]:
    def tell() -> None:
        for other in others:
            other.central_answers()

    return tell


__all__ = ["SyncPart", "tell_each_other"]
