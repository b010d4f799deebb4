from energy_core.telemetry.catalogue import VARIABLE_NAMES, VARIABLES, variable


def test_catalogue_names_what_real_meters_report_in_order():
    assert VARIABLE_NAMES == (
        "voltage",
        "current",
        "active_power",
        "power_factor",
        "frequency",
        "motor_temperature",
        "reactive_power",
        "apparent_power",
        "energy_import",
        "energy_export",
    )


def test_new_variables_carry_their_units_and_physical_bounds():
    assert [(variable(name).unit, variable(name).minimum) for name in VARIABLE_NAMES[6:]] == [
        ("kvar", -5000.0),
        ("kVA", 0.0),
        ("kWh", 0.0),
        ("kWh", 0.0),
    ]
    assert variable("reactive_power").label("es") == "Potencia reactiva"
    assert variable("energy_export").label("en") == "Exported active energy"


def test_only_the_energy_counters_are_counters():
    assert [spec.name for spec in VARIABLES if spec.counter] == ["energy_import", "energy_export"]


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
