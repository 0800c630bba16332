"""What wakes a sleeping reconcile loop: its object's watch events, a dependency's nudge, a stop.

A loop sleeps on its :class:`Waker` until the planned time: a watch event of its own object
(kopf has already put the new body in place) makes it look at the body, and it reconciles early
only if the spec changed (a new ``metadata.generation``) or the object is being deleted; a
nudge (an image became Ready, a listing showed the pool changed, a newcomer shares the image)
makes it reconcile now.  Nothing wakes on a timer to look: an idle object costs no CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

Key = tuple[str, str, str]  # (kind plural, namespace, name)


@dataclass
class Waker:
    signal: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set by a nudge: reconcile now, whatever the body says.
    nudged: bool = False

    def nudge(self) -> None:
        self.nudged = True
        self.signal.set()

    def changed(self) -> None:
        self.signal.set()


class Wakers:
    """Every live loop's waker, by object; one per process, held by the runtime."""

    def __init__(self) -> None:
        self._wakers: dict[Key, Waker] = {}
        self._later: dict[str, tuple[set[Key], asyncio.TimerHandle]] = {}

    def register(self, key: Key) -> Waker:
        return self._wakers.setdefault(key, Waker())

    def release(self, key: Key, waker: Waker) -> None:
        if self._wakers.get(key) is waker:
            del self._wakers[key]

    def nudge(self, key: Key) -> None:
        waker = self._wakers.get(key)
        if waker is not None:
            waker.nudge()

    def changed(self, key: Key) -> None:
        waker = self._wakers.get(key)
        if waker is not None:
            waker.changed()

    def nudge_when_quiet(self, group: str, keys: Iterable[Key], quiet_seconds: float) -> None:
        """Nudge ``keys`` once no further call for ``group`` came for ``quiet_seconds``: when many
        objects ask to wake the same others (pools applied together on one image), each is woken
        once for the burst instead of once per newcomer."""
        targets = set(keys)
        pending = self._later.pop(group, None)
        if pending is not None:
            pending[1].cancel()
            targets |= pending[0]

        def fire() -> None:
            entry = self._later.pop(group, None)
            for key in sorted(entry[0]) if entry else ():
                self.nudge(key)

        self._later[group] = (targets, asyncio.get_running_loop().call_later(quiet_seconds, fire))
