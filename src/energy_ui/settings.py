"""Settings from the environment and a `.env` file at the working directory.

`DATABASE_URL` keeps the original's name; everything else is prefixed `ENERGY_`
(e.g. `ENERGY_PORT=8090`, `ENERGY_LANGUAGE=en`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from energy_core import HealthThresholds, MonitorSettings, StorageRules
from energy_core.alerts import AlertRules, IncidentRule, SilentMeterRule, parse_limit
from energy_core.detection.meter_calibration import (
    DEFAULT_ALARMS_PER_DAY,
    AlarmBudget,
    parse_meter_budgets,
)
from energy_core.detection.registry import DEFAULT_DETECTOR, DETECTORS
from energy_core.detection.temporal import holiday_mask
from energy_core.energy import EnergySettings, TariffSchedule
from energy_core.telemetry.rules import EARLIEST_TIMESTAMP, FUTURE_TOLERANCE
from energy_core.telemetry.validation import QUERY_RANGE
from energy_core.usecases.alerting import AlertSettings


class Settings(BaseSettings):
    """Every setting of the application, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="ENERGY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "ENERGY_DATABASE_URL"),
        description="postgresql://user:password@host:port/database; unset: in-memory demo",
    )
    host: str = Field("127.0.0.1", description="address the dashboard and API bind to")
    port: int = Field(8080, ge=1, le=65535)
    language: Literal["es", "en"] = "es"

    meters: int = Field(3, ge=1, description="simulated meters")
    plugs: int = Field(
        0,
        ge=0,
        description="simulated smart plugs beside the meters: they send no motor temperature"
        " and an imported-energy register (a mixed fleet)",
    )
    anomaly_ratio: float = Field(
        0.02, ge=0.0, le=1.0, description="probability that a variable of a reading is hit"
    )
    seed: int | None = Field(None, description="simulator seed, for reproducible demos")
    max_readings: int | None = Field(
        20_000, ge=1, description="retention: most readings kept (max-registros)"
    )
    max_age_hours: float | None = Field(None, gt=0, description="retention by age")
    stream_interval_s: float = Field(1.0, gt=0, description="seconds between simulated batches")
    stream_batch_size: int = Field(5, ge=1)
    train_interval_s: float = Field(300.0, gt=0, description="seconds between retrain cycles")
    analysis_interval_s: float = Field(10.0, gt=0, description="seconds between analyses (demo)")
    demo_history: int = Field(10_000, ge=0, description="readings the demo seeds at start")
    detector: str = Field(
        DEFAULT_DETECTOR, description=f"detector to train: {', '.join(sorted(DETECTORS))}"
    )
    contamination: float | Literal["auto"] | None = Field(
        None, description="isolation_forest only; unset: the labels' rate, else auto"
    )
    alarm_budget: float | None = Field(
        DEFAULT_ALARMS_PER_DAY,
        ge=0,
        description="false alarms per day a meter may raise in normal operation: training "
        "raises each meter's threshold (at most 3×) until its own training readings keep to "
        "it; empty: off, every meter at the model's threshold (docs/detection.md)",
    )
    holidays: str | None = Field(
        None,
        description="country code of the public-holiday calendar (ES, US-CA…): the detector "
        "compares holidays with Sundays and leaves them out of training; empty: none",
    )

    @field_validator("holidays", mode="before")
    @classmethod
    def _known_calendar(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            holiday_mask(np.zeros(1), str(value).strip())
        except ValueError as error:
            raise ValueError(f"ENERGY_HOLIDAYS: {error}") from None
        return str(value).strip()

    alarm_budget_meters: str = Field(
        "",
        description="budgets of some meters, comma-separated meter-or-glob=alarms-per-day, "
        "e.g. 'plant-1=5,boiler-*=0.5' (the first match wins)",
    )

    @field_validator("alarm_budget", mode="before")
    @classmethod
    def _blank_budget_is_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("alarm_budget_meters")
    @classmethod
    def _meter_budgets(cls, value: str) -> str:
        try:
            parse_meter_budgets(value)
        except ValueError as error:
            raise ValueError(f"ENERGY_ALARM_BUDGET_METERS: {error}") from None
        return value

    def alarm_budgets(self) -> AlarmBudget | None:
        """Each meter's false-alarm budget (``None``: per-meter calibration off)."""
        if self.alarm_budget is None:
            return None
        return AlarmBudget(
            per_day=self.alarm_budget, meters=parse_meter_budgets(self.alarm_budget_meters)
        )

    history_cadence_s: float | None = Field(
        None,
        gt=0,
        description="spacing of simulated history per meter; unset: the live stream's cadence",
    )
    earliest_timestamp: datetime = Field(
        EARLIEST_TIMESTAMP,
        description="oldest instant a reading may carry (ISO 8601); older ones are refused",
    )
    future_tolerance_s: float = Field(
        FUTURE_TOLERANCE.total_seconds(),
        ge=0,
        le=86_400,
        description="how far ahead of this server's clock a reading's instant may be",
    )
    caution_percent: float = Field(5.0, ge=0, le=100)
    critical_percent: float = Field(15.0, ge=0, le=100)
    models_dir: Path = Path("models")
    data_dir: Path = Field(
        Path("data"), description="where `smartenergy datasets fetch` keeps labelled data sets"
    )
    datasets_base_url: str | None = Field(
        None,
        description="a mirror laid out like the data folder (http://, https:// or file://); "
        "unset: each data set's public source, pinned by commit",
    )

    mqtt_url: str = Field(
        "mqtt://127.0.0.1:1883",
        description="broker: mqtt://[user:password@]host[:port], or mqtts:// for TLS",
    )
    mqtt_topic: str = Field(
        "smartenergy/+/readings", description="topic filter; '+' is the meter id"
    )
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_ca_file: Path | None = Field(None, description="CA bundle for TLS brokers")
    mqtt_cert_file: Path | None = Field(
        None, description="client certificate (PEM) for TLS brokers that ask for one"
    )
    mqtt_key_file: Path | None = Field(
        None, description="its private key (PEM); unset: the key is in the certificate file"
    )
    mqtt_client_id: str | None = Field(
        None, description="the subscriber's session; unset: derived from database and topic"
    )
    mqtt_session_expiry_s: int = Field(
        86_400,
        ge=0,
        le=4_294_967_295,
        description="seconds the broker keeps the subscriber's session (and its messages) "
        "while it is away; 0: no persistent session",
    )
    mqtt_receive_maximum: int = Field(
        65_535,
        ge=1,
        le=65_535,
        description="QoS 1 messages the broker may send ahead of the subscriber's acknowledgements",
    )
    mqtt_gateways: dict[str, list[str]] = Field(
        default_factory=dict,
        description="gateway topic filter → meter-id globs it may carry (JSON), e.g. "
        '{"smartenergy/gw-1/readings": ["north-*"]}',
    )
    # Devices' own payloads (docs/ingest.md, energy_core.telemetry.decoders).
    mqtt_tasmota: bool = Field(True, description="also take Tasmota's <prefix>/+/SENSOR")
    mqtt_tasmota_prefix: str = Field("tele", description="Tasmota's telemetry prefix")
    tasmota_time_zone: str = Field(
        "receive",
        description="how Tasmota's Time is read: receive (the receive time is the reading's "
        "instant), or the zone the devices are set to (UTC, Europe/Madrid…)",
    )
    mqtt_shelly: bool = Field(
        True, description="also take Shelly Gen2+ <prefix>/+/status/+ and <prefix>/+/events/rpc"
    )
    mqtt_shelly_prefix: str = Field(
        "", description="levels before a Shelly's own topic prefix; empty: none"
    )
    mqtt_emonhub: bool = Field(False, description="also take emonhub's <prefix>/+ and <prefix>/+/+")
    mqtt_emonhub_prefix: str = Field("emon", description="emonhub's MQTT base topic")
    device_mappings: Path | None = Field(
        None, description="TOML file mapping other devices' JSON to readings (docs/ingest.md)"
    )

    @field_validator("mqtt_tasmota_prefix", "mqtt_shelly_prefix", "mqtt_emonhub_prefix")
    @classmethod
    def _plain_prefix(cls, value: str) -> str:
        if "+" in value or "#" in value:
            raise ValueError(f"{value!r}: a topic prefix has no wildcards (+ or #)")
        return value.strip("/")

    @field_validator("tasmota_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if value.strip().lower() == "receive":
            return "receive"
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r}: expected receive or a time zone name such as UTC or Europe/Madrid"
            ) from None
        return value.strip()

    timezone: str = Field(
        "UTC",
        description="IANA time zone of energy figures: calendar hours, days, weeks and months, "
        "demand intervals' alignment, the anomaly baseline (docs/energy.md)",
    )
    tariffs: Path | None = Field(
        None, description="TOML file of the supply's tariffs (docs/energy.md); unset: no costs"
    )

    @field_validator("timezone")
    @classmethod
    def _energy_zone(cls, value: str) -> str:
        from energy_core.energy.calendar import check_zone

        check_zone(value.strip(), "ENERGY_TIMEZONE")  # a ValueError names it
        return value.strip()

    @field_validator("tariffs", mode="before")
    @classmethod
    def _blank_tariffs_are_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("tariffs")
    @classmethod
    def _usable_tariffs(cls, value: Path | None) -> Path | None:
        if value is not None:
            from energy_core.energy import TariffError, load_tariffs

            try:
                load_tariffs(value)
            except TariffError as error:  # names the file and the field in it
                raise ValueError(f"ENERGY_TARIFFS: {error}") from None
        return value

    def energy_settings(self) -> EnergySettings:
        """How energy figures are computed (``ENERGY_TIMEZONE``)."""
        return EnergySettings(timezone=self.timezone)

    def tariff_schedule(self) -> TariffSchedule | None:
        """The tariffs of ``ENERGY_TARIFFS``, read now; ``None`` when unset."""
        if self.tariffs is None:
            return None
        from energy_core.energy import load_tariffs

        return load_tariffs(self.tariffs)

    buffer_max_readings: int = Field(
        100_000, ge=1, description="readings kept while the database is away (oldest dropped)"
    )

    nats_url: str | None = Field(
        None,
        description="NATS servers (nats://host:4222, comma-separated): `smartenergy ingest` "
        "appends readings there and `smartenergy worker` stores them (docs/scaling.md); "
        "unset: ingest stores directly",
    )
    nats_prefix: str = Field(
        "smartenergy", description="names the stream, consumers and buckets on NATS"
    )
    nats_partitions: int = Field(
        16,
        ge=1,
        le=4096,
        description="partitions of the readings stream: at most this many workers share the "
        "load; the same in every gateway and worker",
    )
    nats_replicas: int = Field(
        1, ge=1, le=5, description="copies of the stream on a NATS cluster (3 on three nodes)"
    )
    nats_lease_s: float = Field(
        5.0,
        ge=2,
        le=60,
        description="a worker that stops loses its partitions to the others after this",
    )
    nats_max_mb: int = Field(
        1024, ge=1, description="the stream's bound: past it gateways answer 503"
    )

    ingest_token: SecretStr | None = None
    token_cache_s: float = Field(
        2.0,
        ge=0,
        le=60,
        description="seconds a process trusts its copy of the named ingest tokens: a token "
        "added or revoked (smartenergy tokens) takes effect everywhere within this",
    )
    admin_password: SecretStr | None = Field(
        None, description="set: the dashboard's actions (train, upload, reset…) need a login"
    )
    read_access: Literal["open", "login"] = Field(
        "open", description="login: reading the dashboard and the API needs a login too"
    )
    storage_secret: SecretStr | None = Field(
        None, description="signs the dashboard's session cookie; unset: from the admin password"
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        ["127.0.0.1", "::1"],
        description="addresses or networks (comma-separated) of the reverse proxies whose "
        "X-Forwarded-Proto/-For are believed (https: Secure session cookie); empty: none",
    )

    alerts: bool = Field(
        True, description="run the alert rules: incidents, limits, silent meters, health"
    )
    notify_urls: str = Field(
        "",
        description="Apprise URLs alerts are sent to, comma-separated (docs/alerts.md); "
        "empty: alerts are recorded and shown, not sent",
    )
    public_url: str | None = Field(
        None,
        description="the dashboard's address as people reach it, for links in notifications; "
        "unset: http://host:port",
    )
    alert_limits: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="limit rules separated by ';', e.g. 'active_power > 9 for 5m on plant-*; "
        "power_factor < 0.85 for 15m'",
    )
    alert_open_after: int = Field(
        2, ge=1, description="consecutive flagged readings of a meter that open an incident"
    )
    alert_close_after: int = Field(
        10, ge=1, description="consecutive unflagged readings that resolve it"
    )
    alert_silent_multiple: float | None = Field(
        10.0,
        gt=1,
        description="a meter is silent after this many times its usual interval; unset: off",
    )
    alert_silent_after_s: float | None = Field(
        None, gt=0, description="…or after this many seconds without a reading; unset: off"
    )
    alert_repeat_s: float | None = Field(
        None, gt=0, description="tell open, unacknowledged alerts again this often; unset: never"
    )

    @field_validator("alert_limits", mode="before")
    @classmethod
    def _limit_rules(cls, value: object) -> object:
        entries = value.split(";") if isinstance(value, str) else value
        if not isinstance(entries, list | tuple):
            return value
        texts = [str(entry).strip() for entry in entries if str(entry).strip()]
        for position, text in enumerate(texts, start=1):
            parse_limit(text, rule_id=f"limit-{position}")  # a ValueError names the part
        return texts

    @field_validator("notify_urls")
    @classmethod
    def _apprise_urls(cls, value: str) -> str:
        if value.strip():
            from energy_adapters.notify import parse_notify_urls

            parse_notify_urls(value)  # a ValueError names the URL (password masked)
        return value

    def alert_settings(self) -> AlertSettings:
        """The alert rules and delivery these settings ask for."""
        silent = None
        if self.alert_silent_multiple is not None or self.alert_silent_after_s is not None:
            silent = SilentMeterRule(
                multiple=self.alert_silent_multiple,
                after=None
                if self.alert_silent_after_s is None
                else timedelta(seconds=self.alert_silent_after_s),
            )
        return AlertSettings(
            rules=AlertRules(
                incidents=IncidentRule(
                    open_after=self.alert_open_after, close_after=self.alert_close_after
                ),
                limits=tuple(
                    parse_limit(text, rule_id=f"limit-{position}")
                    for position, text in enumerate(self.alert_limits, start=1)
                ),
                silent=silent,
                health=self.thresholds,
            ),
            repeat_every=None
            if self.alert_repeat_s is None
            else timedelta(seconds=self.alert_repeat_s),
        )

    @property
    def dashboard_url(self) -> str:
        """Where people open the dashboard (links in notifications)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_addresses(cls, value: object) -> object:
        entries = value
        if isinstance(value, str):  # a JSON list, or comma-separated
            stripped = value.strip()
            entries = json.loads(stripped) if stripped.startswith("[") else stripped.split(",")
        if not isinstance(entries, list | tuple):
            return value
        addresses = [str(entry).strip() for entry in entries if str(entry).strip()]
        for address in addresses:
            try:
                ip_network(address, strict=False)
            except ValueError:
                raise ValueError(
                    f"{address!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8)"
                ) from None
        return addresses

    @field_validator("admin_password", "storage_secret", "ingest_token", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _login_needs_a_password(self) -> Settings:
        if self.read_access == "login" and self.admin_password is None:
            raise ValueError(
                "ENERGY_READ_ACCESS=login needs ENERGY_ADMIN_PASSWORD: nobody could log in"
            )
        return self

    @field_validator("database_url", "nats_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def thresholds(self) -> HealthThresholds:
        return HealthThresholds(caution=self.caution_percent, critical=self.critical_percent)

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, value: str) -> str:
        if value not in DETECTORS:
            raise ValueError(f"unknown detector {value!r}; known: {', '.join(sorted(DETECTORS))}")
        return value

    @property
    def history_cadence(self) -> timedelta:
        """Simulated history continues at the live stream's pace, so a model trained on it
        sees the same cadence live (temporal features count readings, not seconds)."""
        if self.history_cadence_s is not None:
            return timedelta(seconds=self.history_cadence_s)
        per_meter = self.stream_interval_s * (self.meters + self.plugs) / self.stream_batch_size
        return timedelta(seconds=per_meter)

    def monitor_settings(self) -> MonitorSettings:
        return MonitorSettings(
            max_readings=self.max_readings,
            max_age=timedelta(hours=self.max_age_hours) if self.max_age_hours else None,
            thresholds=self.thresholds,
            detector=self.detector,
            contamination=self.contamination,
            history_cadence=self.history_cadence,
            rules=self.storage_rules,
            alarm_budget=self.alarm_budgets(),
            holidays=self.holidays,
        )

    @property
    def storage_rules(self) -> StorageRules:
        return StorageRules(
            earliest=self.earliest_timestamp,
            future_tolerance=timedelta(seconds=self.future_tolerance_s),
        )

    @field_validator("earliest_timestamp")
    @classmethod
    def _aware_and_sane(cls, value: datetime) -> datetime:
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if not QUERY_RANGE[0] <= moment < QUERY_RANGE[1]:
            raise ValueError(f"must lie between {QUERY_RANGE[0]:%Y} and {QUERY_RANGE[1]:%Y}")
        return moment
