"""Delivery of notifications through Apprise: e-mail, chat, push and webhooks from one
list of URLs (``ENERGY_NOTIFY_URLS``).

The list
    Apprise URLs separated by commas, semicolons, spaces or new lines, e.g.
    ``mailto://user:pass@smtp.example.com?to=ops@example.com, critical=ntfys://ntfy.sh/plant``.
    A comma or semicolon only separates entries when a URL follows it, so a URL's own
    ``?to=a@x.com,b@x.com`` stays whole; a URL never holds a space.

Routing: an optional ``FILTER=`` before a URL (Apprise's own configuration files tag
URLs the same way, ``tag=url``). ``FILTER`` is one or more words joined by ``+``:
    - a severity (``info``, ``warning``, ``critical``) is the least severe notification
      the channel receives: ``warning=…`` gets warnings and criticals;
    - any other word is a tag (a rule id, an alert kind, a meter…): the channel receives
      only notifications carrying one of its tags (``Notification.tags``, any case);
    - both together: ``critical+boiler+pump=…`` gets critical notifications tagged
      ``boiler`` or ``pump``. A URL without a filter receives every notification.
The routing is ours, not Apprise's tag matching: Apprise's tags only select (any of
them) and give numbered tags a priority and escalation of their own, while a severity
here is a threshold combined with the tags; and a query parameter in the URL could clash
with a service's own (ntfy's ``tags=``). Apprise only carries each notification to the
channels chosen for it.

Timeouts: every service gets a connect and a read timeout (``SOCKET_TIMEOUT_S`` by
default) unless its URL sets Apprise's ``cto=``/``rto=``; every ``send`` ends within the
notifier's ``timeout`` (Apprise stops waiting for a service still busy and reports it).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import apprise
from apprise import NotifyFormat, NotifyType
from apprise.plugins import url_to_dict

from energy_core.alerts.delivery import DeliveryError, Notification
from energy_core.alerts.model import Severity

DEFAULT_TIMEOUT_S = 10.0
"""How long one ``send`` may take, all channels together, in seconds."""
SOCKET_TIMEOUT_S = 4.0
"""Apprise's connect (``cto``) and read (``rto``) timeouts per service, in seconds,
unless the URL sets them."""

NOTIFY_TYPES: dict[Severity, NotifyType] = {
    Severity.INFO: NotifyType.INFO,
    Severity.WARNING: NotifyType.WARNING,
    Severity.CRITICAL: NotifyType.FAILURE,
}
"""The Apprise message type (icon, colour) of each severity."""

_WORD = r"[A-Za-z0-9_.:-]+"
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
# An entry starts a chunk, or follows a comma or semicolon: "[FILTER=]scheme://".
_ENTRY_START = re.compile(rf"(?:^|(?<=[,;]))(?:{_WORD}(?:\+{_WORD})*=)?{_SCHEME}")
_ENTRY = re.compile(rf"(?:(?P<filter>{_WORD}(?:\+{_WORD})*)=)?(?P<url>{_SCHEME}.*)", re.S)
_SECRET_KEY = re.compile(r"pass|pwd|secret|token|key|auth|sig|cred|session|bearer", re.I)
_HEADER_KEY = ("+", "-", ":")  # Apprise's headers, parameters and payload fields
_TIMEOUT_KEYS = frozenset({"cto", "rto"})
_MASK = "****"


def notify_type(severity: Severity) -> NotifyType:
    """The Apprise type for ``severity``: info, warning, or failure for critical."""
    return NOTIFY_TYPES[Severity(severity)]


@dataclass(frozen=True, slots=True)
class Channel:
    """One Apprise URL of ``ENERGY_NOTIFY_URLS`` and what it receives.

    ``url`` is the Apprise URL as written (secrets included: never show it); ``name``
    the same with secrets masked, unique in its list; ``position`` counts from 1.
    ``min_severity`` and ``tags`` (lower case) come from the entry's filter.
    """

    url: str
    name: str
    position: int = 1
    min_severity: Severity | None = None
    tags: frozenset[str] = field(default_factory=frozenset)

    def accepts(self, notification: Notification) -> bool:
        """Whether this channel receives ``notification`` (see the module's routing)."""
        if self.min_severity is not None and (notification.severity.rank < self.min_severity.rank):
            return False
        return not self.tags or any(tag.lower() in self.tags for tag in notification.tags)


def parse_notify_urls(text: str) -> list[Channel]:
    """The channels of an ``ENERGY_NOTIFY_URLS`` text (module docstring: syntax), each
    checked by Apprise; ``ValueError`` naming the entry's position and its URL with
    secrets masked when one cannot be read, has a bad filter or repeats another."""
    channels: list[Channel] = []
    seen: dict[str, int] = {}
    for position, entry in enumerate(_entries(text or ""), start=1):
        match = _ENTRY.fullmatch(entry)
        if match is None:
            raise ValueError(
                f"notification URL {position} ({_mask_unreadable(entry)}):"
                " not an Apprise URL (expected service://…, e.g. mailto://, ntfy://, json://)"
            )
        url = match.group("url")
        min_severity, tags = _parse_filter(match.group("filter"), position, url)
        if apprise.Apprise.instantiate(url) is None:
            known = url_to_dict(url) is not None
            why = (
                "Apprise cannot use it: a part is missing or wrong for this service"
                if known
                else "Apprise does not know this service or cannot read the URL"
            )
            raise ValueError(f"notification URL {position} ({channel_name(url)}): {why}")
        if url in seen:
            raise ValueError(
                f"notification URL {position} ({channel_name(url)}): the same as URL {seen[url]}"
            )
        seen[url] = position
        name = channel_name(url)
        if any(channel.name == name for channel in channels):
            name = f"{name} #{position}"
        channels.append(Channel(url, name, position, min_severity, tags))
    return channels


def channel_name(url: str) -> str:
    """``url`` fit to show: Apprise's own masking of the service's secrets (passwords,
    tokens, keys in the path), only the query parameters the URL itself sets (values of
    headers and secret-like keys masked; ``cto``/``rto`` left out), readable escapes.
    A ``FILTER=`` before the URL is left out; a URL Apprise cannot read keeps only its
    service and host."""
    match = _ENTRY.fullmatch(url.strip())
    if match is not None:
        url = match.group("url")
    service = apprise.Apprise.instantiate(url)
    if service is None:
        return _mask_unreadable(url)
    private = urlsplit(service.url(privacy=True))
    written = {key.lower() for key, _ in _query_pairs(url)}
    kept = [
        f"{key}={_MASK if _is_secret(key) else value}"
        for key, value in _query_pairs(private.geturl())
        if key.lower() in written and key.lower() not in _TIMEOUT_KEYS
    ]
    path = unquote(private.path).rstrip("/")
    text = f"{private.scheme}://{unquote(private.netloc)}{path}"
    return f"{text}?{'&'.join(kept)}" if kept else text


class AppriseNotifier:
    """A ``Notifier`` over Apprise: each notification goes to the channels whose filter
    accepts it, at once, each reported on its own.

    ``channels``: from ``parse_notify_urls`` (or its text); ``timeout``: seconds one
    ``send`` may take, all channels together; ``socket_timeout``: each service's connect
    and read timeout in seconds where its URL sets no ``cto``/``rto``. One
    ``apprise.Apprise`` holds every service; call ``send`` from one worker thread at a
    time.
    """

    def __init__(
        self,
        channels: Sequence[Channel] | str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        socket_timeout: float = SOCKET_TIMEOUT_S,
    ) -> None:
        if isinstance(channels, str):
            channels = parse_notify_urls(channels)
        for name, value in (("timeout", timeout), ("socket_timeout", socket_timeout)):
            if not value > 0:
                raise ValueError(f"{name} {value!r}: must be a positive number of seconds")
        self._channels = tuple(channels)
        self._timeout = float(timeout)
        self._apprise = apprise.Apprise(asset=apprise.AppriseAsset(app_id="SmartEnergy"))
        for index, channel in enumerate(self._channels):
            service = apprise.Apprise.instantiate(
                channel.url, asset=self._apprise.asset, tag=_route_tag(index)
            )
            if service is None:
                raise ValueError(f"channel {channel.name}: Apprise cannot use its URL")
            written = {key.lower() for key, _ in _query_pairs(channel.url)}
            if "cto" not in written:
                service.socket_connect_timeout = float(socket_timeout)
            if "rto" not in written:
                service.socket_read_timeout = float(socket_timeout)
            self._apprise.add(service)
        self._secrets = {channel.name: _secrets(channel.url) for channel in self._channels}

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels, in their order of the list."""
        return self._channels

    @property
    def timeout(self) -> float:
        """Seconds one ``send`` may take."""
        return self._timeout

    def send(self, notification: Notification, *, only: Collection[str] | None = None) -> None:
        """Deliver ``notification`` to every channel that accepts it — or, with ``only``,
        to those of them named there (to retry just the channels that failed). Returns
        within ``timeout`` seconds; ``DeliveryError`` names each channel that failed and
        why (refused, timed out, rejected…), the others received it."""
        chosen = {
            _route_tag(index): channel
            for index, channel in enumerate(self._channels)
            if channel.accepts(notification) and (only is None or channel.name in only)
        }
        if not chosen:
            return
        with self._apprise.notify(
            body="\n\n".join(part for part in (notification.body, notification.link) if part)
            or notification.title,
            title=notification.title,
            notify_type=notify_type(notification.severity),
            body_format=NotifyFormat.TEXT,
            tag=list(chosen),
            match_always=False,
            timeout=self._timeout,
        ) as result:
            answered: set[str] = set()
            failures: list[tuple[str, str]] = []
            for service_result in result:
                for tag in map(str, service_result.tag):
                    channel = chosen.get(tag)
                    if channel is None:
                        continue
                    answered.add(tag)
                    if not service_result:
                        reason = _reason(service_result)
                        failures.append((channel.name, self._scrub(channel, reason)))
            call_logs = " / ".join(_messages(result.call_logs()))
        for tag, channel in chosen.items():
            if tag not in answered:
                reason = call_logs or "not attempted"
                failures.append((channel.name, self._scrub(channel, reason)))
        if failures:
            order = [channel.name for channel in self._channels]
            failures.sort(key=lambda failure: order.index(failure[0]))
            raise DeliveryError.of(failures)

    def _scrub(self, channel: Channel, text: str) -> str:
        # Services' messages may quote a URL or a token: never pass a secret on.
        for secret in sorted(self._secrets[channel.name], key=len, reverse=True):
            text = text.replace(secret, _MASK)
        return text


def _route_tag(index: int) -> str:
    # Apprise selects the channels of one send by these tags; routing is ours.
    return f"channel-{index}"


def _entries(text: str) -> list[str]:
    entries: list[str] = []
    for chunk in text.split():
        starts = [match.start() for match in _ENTRY_START.finditer(chunk)]
        if not starts or starts[0] != 0:
            starts.insert(0, 0)
        for begin, end in zip(starts, [*starts[1:], len(chunk)], strict=True):
            entry = chunk[begin:end].strip(",;")
            if entry:
                entries.append(entry)
    return entries


def _parse_filter(
    text: str | None, position: int, url: str
) -> tuple[Severity | None, frozenset[str]]:
    if text is None:
        return None, frozenset()
    names = {severity.value for severity in Severity}
    severities = [word.lower() for word in text.split("+") if word.lower() in names]
    if len(severities) > 1:
        raise ValueError(
            f"notification URL {position} ({channel_name(url)}): filter {text!r} names"
            f" {len(severities)} severities; give one, the least severe to receive"
        )
    tags = frozenset(word.lower() for word in text.split("+") if word.lower() not in severities)
    return (Severity(severities[0]) if severities else None), tags


def _query_pairs(url: str) -> list[tuple[str, str]]:
    # Not parse_qsl: a "+" starts an Apprise header name, it is no space.
    pairs = []
    for part in url.partition("?")[2].split("&"):
        key, _, value = part.partition("=")
        if key:
            pairs.append((unquote(key), unquote(value)))
    return pairs


def _is_secret(key: str) -> bool:
    return key.startswith(_HEADER_KEY) or bool(_SECRET_KEY.search(key))


def _mask_unreadable(text: str) -> str:
    # Apprise cannot tell which parts are secret: keep the service and host only.
    match = re.fullmatch(r"(?P<scheme>[^:/?#\s]+)://(?P<netloc>[^/?#]*)(?P<rest>.*)", text, re.S)
    if match is None:
        head = re.split(r"[/?#@:]", text, maxsplit=1)[0]
        return f"{head}…" if head != text else text
    netloc = match.group("netloc")
    user, at, host = netloc.rpartition("@")
    if at:
        user = f"{user.partition(':')[0]}:{_MASK}" if ":" in user else user
    hostname, colon, port = host.partition(":")
    if colon and not port.isdigit():
        host = f"{hostname}:{_MASK}"
    return f"{match.group('scheme')}://{user}{at}{host}{'/…' if match.group('rest') else ''}"


def _secrets(url: str) -> set[str]:
    """The parts of ``url`` not to show: its password, header and secret-like query
    values, and what Apprise masks in its private form of the URL."""
    found: set[str] = set()
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        found.add(unquote(password))
    found.update(value for key, value in _query_pairs(url) if value and _is_secret(key))
    service = apprise.Apprise.instantiate(url)
    if service is not None:
        private = unquote(service.url(privacy=True))
        found.update(
            token
            for token in re.split(r"[/:@?&=#,;]", unquote(url.partition("://")[2]))
            if len(token) >= 4 and token not in private
        )
    return found


def _messages(entries: Iterable[Any]) -> list[str]:
    messages: list[str] = []
    for entry in entries:
        message = str(getattr(entry, "message", entry)).strip()
        if message and message not in messages:
            messages.append(message)
    return messages


def _reason(service_result: Any) -> str:
    messages = _messages(
        entry for attempt in getattr(service_result, "attempts", ()) for entry in attempt
    )
    status = getattr(getattr(service_result, "status", None), "name", "FAILURE").lower()
    text = " / ".join(messages) if messages else f"delivery {status}"
    return text[:500]
