"""Named ingest tokens in memory: issuing, hashing, verifying, revoking, meter patterns."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from pydantic import SecretStr

from energy_adapters.memory import ManualClock
from energy_adapters.tokens import MemoryTokenStore, TokenExistsError
from energy_core.telemetry.meter_patterns import allows, check_pattern
from energy_ui.api.tokens import (
    IngestClosedError,
    TokenGrant,
    TokenRefusedError,
    TokenVerifier,
    issue_token,
    restrict_to_grant,
    token_digest,
)
from tests.strategies import BASE

LEGACY = "legacy-shared-token"


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingStore(MemoryTokenStore):
    """The memory store, counting how often a verifier reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def active(self):
        self.reads += 1
        return super().active()


@pytest.fixture
def store():
    return CountingStore()


@pytest.fixture
def monotonic():
    return FakeMonotonic()


@pytest.fixture
def clock():
    return ManualClock(BASE)


def verifier_for(store, monotonic, clock, legacy=None, **options):
    return TokenVerifier(
        store,
        SecretStr(legacy) if legacy else None,
        max_age_s=2.0,
        monotonic=monotonic,
        clock=clock.now,
        **options,
    )


# --- meter patterns ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("patterns", "meter", "expected"),
    [
        ((), "anything", True),
        (("gw1-*",), "gw1-007", True),
        (("gw1-*",), "gw2-007", False),
        (("gw1-*",), "GW1-007", False),  # case matters, as in meter ids
        (("m-?",), "m-7", True),
        (("m-?",), "m-77", False),
        (("m-[12]", "x"), "m-2", True),
        (("m-[12]", "x"), "m-3", False),
        (("x",), "x", True),
        (("x",), "xy", False),
    ],
)
def test_meter_patterns_are_case_sensitive_globs_and_none_means_every_meter(
    patterns, meter, expected
):
    assert expected == allows(patterns, meter)


@pytest.mark.parametrize("pattern", ["", " ", "gw 1", "a/b", "é*", "x" * 129, "a\x00"])
def test_a_malformed_meter_pattern_is_refused_naming_it(pattern):
    with pytest.raises(ValueError, match="meter pattern"):
        check_pattern(pattern)


# --- issuing -----------------------------------------------------------------------------
def test_an_issued_token_is_long_random_and_stored_only_as_its_sha256(store, clock):
    token, record = issue_token(store, "gw-1", ["gw1-*"], now=clock.now())
    other, _ = issue_token(store, "gw-2", [], now=clock.now())
    assert token != other
    assert len(token) >= 40
    assert (
        record.name,
        record.meter_patterns,
        record.created_at,
        record.last_used_at,
    ) == ("gw-1", ("gw1-*",), BASE, None)
    stored = {entry.name: entry for entry in store.active()}
    assert hashlib.sha256(token.encode()).hexdigest() == stored["gw-1"].digest
    assert token not in repr(store.active()) + repr(store.tokens()) + repr(vars(store))


@pytest.mark.parametrize("name", ["", "-gw", "gw 1", "gw/1", "gw:1", "x" * 65, "gw\x00"])
def test_a_malformed_token_name_is_refused_naming_it(store, clock, name):
    with pytest.raises(ValueError, match="token name"):
        issue_token(store, name, [], now=clock.now())
    assert store.tokens() == []


def test_a_malformed_pattern_is_refused_and_nothing_is_stored(store, clock):
    with pytest.raises(ValueError, match="'gw 1'"):
        issue_token(store, "gw-1", ["ok-*", "gw 1"], now=clock.now())
    assert store.tokens() == []


def test_a_second_token_of_the_same_name_is_refused(store, clock):
    issue_token(store, "gw-1", [], now=clock.now())
    with pytest.raises(TokenExistsError, match="gw-1"):
        issue_token(store, "gw-1", ["x"], now=clock.now())
    assert [record.meter_patterns for record in store.tokens()] == [()]


def test_duplicate_patterns_are_stored_once_in_the_order_given(store, clock):
    _, record = issue_token(store, "gw-1", ["b*", "a*", "b*"], now=clock.now())
    assert record.meter_patterns == ("b*", "a*")


# --- verifying ---------------------------------------------------------------------------
def test_an_issued_token_is_granted_its_name_and_meter_patterns(store, monotonic, clock):
    token, _ = issue_token(store, "gw-1", ["gw1-*", "m-7"], now=clock.now())
    grant = verifier_for(store, monotonic, clock).verify(token)
    assert TokenGrant(name="gw-1", meter_patterns=("gw1-*", "m-7")) == grant
    assert grant.restricted
    assert grant.allows("m-7") and not grant.allows("m-8")


def test_near_miss_tokens_are_refused(store, monotonic, clock):
    token, _ = issue_token(store, "gw-1", [], now=clock.now())
    verifier = verifier_for(store, monotonic, clock)
    last = "A" if token[-1] != "A" else "B"
    first = "x" if token[0] != "x" else "y"
    near_misses = [
        token[:-1] + last,  # the last character differs
        first + token[1:],  # the first character differs
        token[:-1],  # a prefix
        token[:16],
        token + "x",  # an extension
        token.upper() if token.upper() != token else token.lower(),
        "",
        " " + token,
    ]
    for presented in near_misses:
        with pytest.raises(TokenRefusedError):
            verifier.verify(presented)
    assert verifier.verify(token).name == "gw-1"


@pytest.mark.parametrize("byte", [0, 5, 6, 16, 31])
def test_a_token_is_compared_on_its_whole_digest(store, monotonic, clock, byte):
    """A stored digest that differs from the presented token's in any one byte (the first
    six equal, or not) does not let that token in."""
    presented = "se_" + "n" * 43
    forged = bytearray(hashlib.sha256(presented.encode()).digest())
    forged[byte] ^= 0x01
    store.add("forged", bytes(forged).hex(), (), created_at=clock.now())
    with pytest.raises(TokenRefusedError):
        verifier_for(store, monotonic, clock).verify(presented)


def test_near_misses_of_the_legacy_token_are_refused(store, monotonic, clock):
    verifier = verifier_for(store, monotonic, clock, legacy=LEGACY)
    near_misses = [
        LEGACY[:-1] + "X",  # the last character differs
        "X" + LEGACY[1:],  # the first character differs
        LEGACY[:6],  # its first six bytes
        LEGACY[:-1],  # a prefix
        LEGACY + "x",  # an extension
        LEGACY.upper(),
        " " + LEGACY,
    ]
    for presented in near_misses:
        with pytest.raises(TokenRefusedError):
            verifier.verify(presented)
    assert verifier.verify(LEGACY).name is None


@pytest.mark.parametrize("presented", ["se_\ud800", "\udfff"])
def test_a_token_with_a_lone_surrogate_is_refused_not_an_error(store, monotonic, clock, presented):
    issue_token(store, "gw-1", [], now=clock.now())
    with pytest.raises(TokenRefusedError):
        verifier_for(store, monotonic, clock, legacy=LEGACY).verify(presented)
    assert (
        token_digest(presented)
        == hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()
    )


def test_no_token_at_all_is_refused(store, monotonic, clock):
    issue_token(store, "gw-1", [], now=clock.now())
    with pytest.raises(TokenRefusedError):
        verifier_for(store, monotonic, clock).verify(None)


def test_the_legacy_token_is_still_accepted_for_every_meter(store, monotonic, clock):
    issue_token(store, "gw-1", ["gw1-*"], now=clock.now())
    verifier = verifier_for(store, monotonic, clock, legacy=LEGACY)
    grant = verifier.verify(LEGACY)
    assert TokenGrant(name=None, meter_patterns=()) == grant
    assert not grant.restricted and grant.allows("any-meter")
    with pytest.raises(TokenRefusedError):
        verifier.verify(LEGACY[:-1])


def test_legacy_token_works_without_any_named_token(store, monotonic, clock):
    assert None is verifier_for(store, monotonic, clock, legacy=LEGACY).verify(LEGACY).name


def test_ingest_is_closed_with_no_legacy_token_and_no_named_token(store, monotonic, clock):
    verifier = verifier_for(store, monotonic, clock)
    with pytest.raises(IngestClosedError):
        verifier.verify("anything")


def test_a_revoke_takes_effect_once_the_cache_expires(store, monotonic, clock):
    token, _ = issue_token(store, "gw-1", [], now=clock.now())
    verifier = verifier_for(store, monotonic, clock, legacy=LEGACY)
    assert verifier.verify(token).name == "gw-1"
    assert store.revoke("gw-1")
    monotonic.now += 2.0
    with pytest.raises(TokenRefusedError):
        verifier.verify(token)
    assert not store.revoke("gw-1")


def test_the_cache_reads_the_store_once_per_period_not_per_request(store, monotonic, clock):
    token, _ = issue_token(store, "gw-1", [], now=clock.now())
    verifier = verifier_for(store, monotonic, clock)
    for _ in range(50):
        verifier.verify(token)
        with pytest.raises(TokenRefusedError):
            verifier.verify("wrong")
    assert store.reads == 1
    monotonic.now += 2.0
    verifier.verify(token)
    assert store.reads == 2


def test_a_legacy_token_request_never_reads_the_store(store, monotonic, clock):
    verifier_for(store, monotonic, clock, legacy=LEGACY).verify(LEGACY)
    assert store.reads == 0


def test_a_token_added_elsewhere_is_accepted_once_the_cache_expires(store, monotonic, clock):
    verifier = verifier_for(store, monotonic, clock, legacy=LEGACY)
    verifier.verify(LEGACY)
    with pytest.raises(TokenRefusedError):
        verifier.verify("not-yet")
    token, _ = issue_token(store, "gw-2", ["m-*"], now=clock.now())
    monotonic.now += 2.0
    assert verifier.verify(token).meter_patterns == ("m-*",)


def test_a_revoked_name_issued_again_grants_only_the_new_token(store, monotonic, clock):
    old, _ = issue_token(store, "gw-1", ["a*"], now=clock.now())
    store.revoke("gw-1")
    new, _ = issue_token(store, "gw-1", ["b*"], now=clock.now())
    verifier = verifier_for(store, monotonic, clock)
    with pytest.raises(TokenRefusedError):
        verifier.verify(old)
    assert verifier.verify(new).meter_patterns == ("b*",)


def test_last_use_is_recorded_in_the_store_at_most_once_per_interval(store, monotonic, clock):
    token, _ = issue_token(store, "gw-1", [], now=clock.now())
    issue_token(store, "gw-2", [], now=clock.now())
    verifier = verifier_for(store, monotonic, clock, touch_every_s=60.0)
    clock.advance(timedelta(minutes=5))
    verifier.verify(token)
    first = {record.name: record.last_used_at for record in store.tokens()}
    assert {"gw-1": clock.now(), "gw-2": None} == first
    clock.advance(timedelta(seconds=10))
    verifier.verify(token)
    assert first == {record.name: record.last_used_at for record in store.tokens()}
    monotonic.now += 60.0
    verifier.verify(token)
    assert clock.now() == {r.name: r.last_used_at for r in store.tokens()}["gw-1"]


def test_a_store_failing_to_record_last_use_refuses_no_request_and_is_retried(
    store, monotonic, clock
):
    token, _ = issue_token(store, "gw-1", [], now=clock.now())
    verifier = verifier_for(store, monotonic, clock, touch_every_s=60.0)
    recorded = store.touch
    failures = iter([ConnectionError("the database went away")])

    def touch(used):
        failure = next(failures, None)
        if failure is not None:
            raise failure
        recorded(used)

    store.touch = touch
    assert verifier.verify(token).name == "gw-1"  # the touch fails: the request does not
    clock.advance(timedelta(seconds=5))
    monotonic.now += 60.0
    assert verifier.verify(token).name == "gw-1"  # the retry records the newest use
    assert {r.name: r.last_used_at for r in store.tokens()} == {"gw-1": clock.now()}


# --- restricting a request to the grant's meters ----------------------------------------
def test_readings_for_meters_outside_the_grant_are_rejected_naming_meter_and_reason():
    grant = TokenGrant(name="gw-1", meter_patterns=("gw1-*",))
    items = [
        (0, {"meter_id": "gw1-a", "voltage": 1}),
        (1, {"meter_id": "other", "voltage": 1}),
        (2, "not an object"),
        (3, {"voltage": 1}),  # no meter_id: validation reports it
        (4, {"meter_id": 7}),
    ]
    kept, rejected = restrict_to_grant(items, grant)
    assert [index for index, _ in kept] == [0, 2, 3, 4]
    assert [(r.index, r.field, r.value) for r in rejected] == [(1, "meter_id", "other")]
    assert rejected[0].reason == "token 'gw-1' may not write meter 'other' (allowed: gw1-*)"
    two = TokenGrant(name="gw-2", meter_patterns=("a-*", "b-?"))
    assert two.refusal("c-1") == "token 'gw-2' may not write meter 'c-1' (allowed: a-*, b-?)"


def test_an_unrestricted_grant_keeps_every_item():
    items = [(0, {"meter_id": "a"}), (1, {"meter_id": "b"})]
    assert (items, []) == restrict_to_grant(items, TokenGrant(name=None, meter_patterns=()))


def test_idempotency_keys_live_in_their_token_s_namespace():
    legacy = TokenGrant(name=None)
    assert legacy.idempotency_key("k") == "http:k"  # as before named tokens
    named = {TokenGrant(name=name).idempotency_key("k") for name in ("gw-1", "gw-2")}
    assert len(named | {"http:k"}) == 3
