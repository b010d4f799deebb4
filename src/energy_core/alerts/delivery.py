"""Delivering a notification: what is sent (``Notification``), the port that sends it
(``Notifier``) and how it fails (``DeliveryError``).

The core decides *what* to tell and *when* (``energy_core.alerts.policy``); a notifier
only carries a finished message to people's channels (e-mail, chat, webhooks). The
Apprise adapter is ``energy_adapters.notify.AppriseNotifier``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from energy_core.alerts.model import Severity


@dataclass(frozen=True, slots=True)
class Notification:
    """A message ready to send, already in the user's language.

    ``tags`` route it: a channel that names tags receives only notifications carrying
    one of them (rule ids, alert kinds, meters — whatever the sender puts here;
    compared without regard to case). ``link`` points at the dashboard, filtered to
    the meter and time; notifiers show it after the body.
    """

    title: str
    body: str
    severity: Severity
    tags: tuple[str, ...] = ()
    link: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.title, str) or not self.title.strip():
            raise ValueError("title: must not be empty")
        if not isinstance(self.body, str):
            raise ValueError(f"body {self.body!r}: must be a text")
        object.__setattr__(self, "severity", Severity(self.severity))
        if isinstance(self.tags, str):
            raise ValueError(f"tags {self.tags!r}: must be a list of tags, not a text")
        tags = tuple(self.tags)
        for tag in tags:
            if not isinstance(tag, str) or not tag or any(c.isspace() for c in tag):
                raise ValueError(f"tags: {tag!r} must be a non-empty word without spaces")
        object.__setattr__(self, "tags", tags)
        if self.link is not None and (not isinstance(self.link, str) or not self.link):
            raise ValueError(f"link {self.link!r}: must be a non-empty text or None")


class DeliveryError(Exception):
    """A notification did not reach one or more channels.

    ``channel`` names the channel (secrets masked) and ``reason`` says why; when
    several failed, ``failures`` holds each ``(channel, reason)``, ``channel`` joins
    their names and ``reason`` each ``"channel: reason"``. Channels not listed received
    the notification.
    """

    def __init__(
        self, channel: str, reason: str, *, failures: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.channel = channel
        self.reason = reason
        self.failures: tuple[tuple[str, str], ...] = tuple(failures) or ((channel, reason),)
        super().__init__(f"{channel}: {reason}" if len(self.failures) == 1 else reason)

    @classmethod
    def of(cls, failures: Sequence[tuple[str, str]]) -> DeliveryError:
        """One error for every failed ``(channel, reason)`` (at least one)."""
        if not failures:
            raise ValueError("failures: at least one channel must have failed")
        if len(failures) == 1:
            return cls(*failures[0])
        return cls(
            ", ".join(channel for channel, _ in failures),
            "; ".join(f"{channel}: {reason}" for channel, reason in failures),
            failures=failures,
        )

    @property
    def channels(self) -> tuple[str, ...]:
        """The names of the channels that failed."""
        return tuple(channel for channel, _ in self.failures)


class Notifier(Protocol):
    """Sends notifications to people's channels.

    ``send`` blocks until every channel meant for the notification answered or the
    notifier's timeout (seconds) passed — it never hangs — and raises
    ``DeliveryError`` naming the channels that failed; the others received it. Call it
    from a worker thread, never from ingest or scoring.
    """

    def send(self, notification: Notification, *, only: Collection[str] | None = None) -> None:
        """Deliver ``notification``; with ``only``, to just the channels named there (a
        retry of those that failed)."""
        ...
