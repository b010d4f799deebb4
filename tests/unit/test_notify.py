"""Notifications and their channels without sending anything: the list of Apprise URLs
(``ENERGY_NOTIFY_URLS``), its filters, masking secrets, severities as Apprise types."""

from __future__ import annotations

import pytest
from apprise import NotifyType
from hypothesis import given
from hypothesis import strategies as st

from energy_adapters.notify import (
    AppriseNotifier,
    Channel,
    channel_name,
    notify_type,
    parse_notify_urls,
)
from energy_core.alerts import Severity
from energy_core.alerts.delivery import DeliveryError, Notification

MAIL = "mailto://alerts:pa55word@smtp.example.com:2525?mode=insecure&from=a@example.com"


def note(severity: Severity = Severity.WARNING, *tags: str) -> Notification:
    return Notification(title="t", body="b", severity=severity, tags=tags)


# The list and its filters


def test_urls_are_separated_by_commas_semicolons_spaces_and_new_lines():
    text = "json://h/a,json://h/b; json://h/c\njson://h/d  json://h/e,"

    channels = parse_notify_urls(text)

    assert [channel.url for channel in channels] == [f"json://h/{x}" for x in "abcde"]
    assert [channel.position for channel in channels] == [1, 2, 3, 4, 5]


def test_a_comma_inside_a_url_does_not_split_it():
    url = "mailto://u:p@smtp.example.com?to=ops@example.com,boss@example.com&from=a@example.com"

    [channel] = parse_notify_urls(f"{url}, json://h/x")[:1]

    assert channel.url == url


def test_an_empty_list_has_no_channels():
    assert parse_notify_urls("") == []
    assert parse_notify_urls(" ,\n ") == []


def test_a_filter_gives_a_least_severity_and_tags_in_lower_case():
    channels = parse_notify_urls(
        "json://h/all, critical=ntfy://ntfy.example.com/plant, warning+Boiler+pf.low=json://h/b"
    )

    assert [(c.url, c.min_severity, c.tags) for c in channels] == [
        ("json://h/all", None, frozenset()),
        ("ntfy://ntfy.example.com/plant", Severity.CRITICAL, frozenset()),
        ("json://h/b", Severity.WARNING, frozenset({"boiler", "pf.low"})),
    ]


@pytest.mark.parametrize(
    ("channel_filter", "notification", "receives"),
    [
        ("", note(Severity.INFO), True),
        ("warning", note(Severity.INFO), False),
        ("warning", note(Severity.WARNING), True),
        ("warning", note(Severity.CRITICAL), True),
        ("critical", note(Severity.WARNING), False),
        ("boiler", note(Severity.INFO, "Boiler"), True),
        ("boiler", note(Severity.CRITICAL, "pump"), False),
        ("boiler", note(Severity.CRITICAL), False),
        ("boiler+pump", note(Severity.INFO, "x", "pump"), True),
        ("critical+boiler", note(Severity.WARNING, "boiler"), False),
        ("critical+boiler", note(Severity.CRITICAL, "boiler"), True),
        ("critical+boiler", note(Severity.CRITICAL, "pump"), False),
    ],
)
def test_a_channel_receives_what_its_filter_accepts(channel_filter, notification, receives):
    prefix = f"{channel_filter}=" if channel_filter else ""
    [channel] = parse_notify_urls(f"{prefix}json://h/x")

    assert channel.accepts(notification) is receives


@given(
    filters=st.lists(
        st.sampled_from(["", "critical", "warning+boiler", "info+m-1+m-2", "limit"]),
        min_size=1,
        max_size=6,
    ),
    separators=st.lists(st.sampled_from([",", ";", " ", "\n", ", ", " ;\n"]), min_size=6),
)
def test_any_list_written_with_any_separators_reads_back_in_order(filters, separators):
    urls = [
        f"mailto://u:p@smtp.example.com?to=a{i}@example.com,b@example.com&from=f@example.com"
        if i % 2
        else f"json://127.0.0.1:8080/hook/{i}?+X-Key=k{i}"
        for i in range(len(filters))
    ]
    entries = [f"{f}={url}" if f else url for f, url in zip(filters, urls, strict=True)]
    text = "".join(e + s for e, s in zip(entries, separators, strict=False))

    channels = parse_notify_urls(text)

    assert [channel.url for channel in channels] == urls
    assert [bool(c.min_severity or c.tags) for c in channels] == [bool(f) for f in filters]


# Refused at start, with a clear message


def test_a_url_apprise_cannot_read_is_refused_naming_its_position_with_the_password_masked():
    with pytest.raises(ValueError, match=r"notification URL 2 \(nosuch://user:\*\*\*\*@h/…\)") as e:
        parse_notify_urls("json://h/x, nosuch://user:hunter22@h/path")

    assert "hunter22" not in str(e.value)
    assert "does not know this service" in str(e.value)


def test_a_known_service_missing_a_part_is_refused():
    with pytest.raises(ValueError, match=r"notification URL 1 \(mailto://\): .*missing or wrong"):
        parse_notify_urls("mailto://")


def test_a_word_that_is_no_url_is_refused():
    with pytest.raises(ValueError, match=r"notification URL 2 \(garbage\): not an Apprise URL"):
        parse_notify_urls("json://h/x, garbage")


def test_a_mistyped_service_with_a_token_for_host_does_not_show_the_token():
    with pytest.raises(ValueError) as e:
        parse_notify_urls("tgrm://123456789:AAHsecretTokenText/987654")

    assert "AAHsecretTokenText" not in str(e.value)
    assert "tgrm://123456789:****/…" in str(e.value)


def test_two_severities_in_one_filter_are_refused():
    with pytest.raises(ValueError, match=r"URL 1 .*'warning\+critical' names 2 severities"):
        parse_notify_urls("warning+critical=json://h/x")


def test_an_empty_filter_is_refused():
    with pytest.raises(ValueError, match="URL 1"):
        parse_notify_urls("=json://h/x")


def test_the_same_url_twice_is_refused():
    with pytest.raises(ValueError, match=r"notification URL 3 \(json://h/x\): the same as URL 1"):
        parse_notify_urls("json://h/x json://h/y json://h/x")


# Names fit to show


@pytest.mark.parametrize(
    ("url", "name"),
    [
        (MAIL, "mailto://alerts:****@smtp.example.com:2525?from=a@example.com"),
        ("ntfys://tk_secret123@ntfy.example.com/plant", "ntfys://t...3@ntfy.example.com/plant"),
        ("ntfy://ntfy.example.com/plant?token=tk_secret123", "ntfy://t...3@ntfy.example.com/plant"),
        ("tgram://123456789:AAHsecretToken/987654", "tgram://1...n/987654"),
        ("json://u:pw@127.0.0.1:8080/hook?+Authorization=Bearer%20xyz", None),
        ("jsons://hooks.example.com/a/b?cto=2&rto=9", "jsons://hooks.example.com/a/b"),
        ("critical=json://h:8080/x", "json://h:8080/x"),
    ],
)
def test_channel_names_mask_every_secret(url, name):
    shown = channel_name(url)

    if name is not None:
        assert shown == name
    for secret in ("pa55word", "tk_secret123", "AAHsecretToken", "pw@", "xyz"):
        assert secret not in shown


def test_a_header_is_named_with_its_value_masked():
    shown = channel_name("json://127.0.0.1:8080/hook?+Authorization=Bearer%20xyz&-q=1")

    assert shown == "json://127.0.0.1:8080/hook?+Authorization=****&-q=****"


def test_two_urls_with_the_same_masked_name_are_told_apart_by_position():
    channels = parse_notify_urls("json://u:one@h/x json://u:two@h/x")

    assert [channel.name for channel in channels] == ["json://u:****@h/x", "json://u:****@h/x #2"]


# Severities, notifications and errors


def test_each_severity_has_its_apprise_type():
    assert [notify_type(severity) for severity in Severity] == [
        NotifyType.INFO,
        NotifyType.WARNING,
        NotifyType.FAILURE,
    ]


def test_a_notification_takes_a_severity_by_name_and_tags_as_a_tuple():
    notification = Notification("t", "b", "critical", tags=["incident", "m-1"])  # type: ignore[arg-type]

    assert notification.severity is Severity.CRITICAL
    assert notification.tags == ("incident", "m-1")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"title": " "},
        {"tags": "incident"},
        {"tags": ("two words",)},
        {"tags": ("",)},
        {"severity": "fatal"},
        {"link": ""},
    ],
)
def test_a_malformed_notification_is_refused(kwargs):
    fields = {"title": "t", "body": "b", "severity": Severity.INFO} | kwargs

    with pytest.raises(ValueError):
        Notification(**fields)


def test_a_delivery_error_for_one_channel_names_it_and_its_reason():
    error = DeliveryError.of([("json://h/x", "refused")])

    assert (error.channel, error.reason, error.channels) == (
        "json://h/x",
        "refused",
        ("json://h/x",),
    )
    assert str(error) == "json://h/x: refused"


def test_a_delivery_error_for_several_channels_lists_each_with_its_reason():
    error = DeliveryError.of([("a", "refused"), ("b", "timed out")])

    assert error.channels == ("a", "b")
    assert error.failures == (("a", "refused"), ("b", "timed out"))
    assert str(error) == "a: refused; b: timed out"


def test_a_delivery_error_needs_a_failure():
    with pytest.raises(ValueError):
        DeliveryError.of([])


# The notifier


def test_a_notifier_reads_a_list_of_urls_and_keeps_its_channels():
    notifier = AppriseNotifier(f"{MAIL}, critical=json://h/x", timeout=3)

    assert [(c.name, c.min_severity) for c in notifier.channels] == [
        ("mailto://alerts:****@smtp.example.com:2525?from=a@example.com", None),
        ("json://h/x", Severity.CRITICAL),
    ]
    assert notifier.timeout == 3.0


@pytest.mark.parametrize("kwargs", [{"timeout": 0}, {"timeout": -1}, {"socket_timeout": 0}])
def test_a_notifier_needs_positive_timeouts(kwargs):
    with pytest.raises(ValueError, match="must be a positive number of seconds"):
        AppriseNotifier("json://h/x", **kwargs)


def test_a_channel_made_by_hand_with_a_url_apprise_cannot_use_is_refused():
    with pytest.raises(ValueError, match="channel nosuch: Apprise cannot use its URL"):
        AppriseNotifier([Channel(url="nosuch://h", name="nosuch")])


def test_a_notifier_without_channels_sends_nothing_and_succeeds():
    AppriseNotifier("").send(note())
