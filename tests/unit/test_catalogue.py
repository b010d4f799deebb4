from energy_core.telemetry.catalogue import VARIABLE_NAMES, VARIABLES, variable


def test_catalogue_names_the_six_measured_variables_in_order():
    assert VARIABLE_NAMES == (
        "voltage",
        "current",
        "active_power",
        "power_factor",
        "frequency",
        "motor_temperature",
    )


def test_every_variable_has_bilingual_labels_and_ordered_bounds():
    for spec in VARIABLES:
        assert spec.label("es") and spec.label("en")
        assert spec.minimum < spec.maximum


def test_label_with_unit_shows_the_unit_only_when_there_is_one():
    assert variable("voltage").label_with_unit("en") == "Voltage [V]"
    assert variable("power_factor").label_with_unit("es") == "Factor de potencia"


def test_unknown_variable_names_the_known_ones():
    try:
        variable("pressure")
    except KeyError as error:
        assert "voltage" in str(error)
    else:  # pragma: no cover - the lookup must fail
        raise AssertionError("an unknown variable was accepted")
