"""stationd.config: one TOML file → frozen typed settings, with errors a person can act on."""

import dataclasses
import re
import textwrap
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

import stationd.config.settings as config_settings
from stationd.config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    ScannerSettings,
    Settings,
    config_path,
    load_settings,
    settings_from_dict,
)
from stationd.config.fields import _SECTION

EXAMPLE = Path(__file__).resolve().parent.parent / "stationd.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stationd.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(data: dict, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        settings_from_dict(data, **kwargs)
    return info.value


def serial(**keys) -> dict:
    return {"name": "s1", "kind": "serial", "port": "/dev/stationd-scanner", **keys}


def uncommented_example() -> str:
    """The example with its commented-out config lines ("#key = …", "#[[…]]") switched on.

    Alternatives that can't be on together (the second database.url, kiosk.host without its
    token being enough) are skipped by keeping only the first assignment of a key per table.
    """
    out: list[str] = []
    seen: set[str] = set()
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if re.match(r"#(\[|[a-z_]+ = )", line):
            line = line[1:]
        if line.startswith("["):
            seen = set()
        elif m := re.match(r"([a-z_]+) = ", line):
            if m.group(1) in seen:
                continue
            seen.add(m.group(1))
        out.append(line)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- defaults


def test_no_file_gives_the_builtin_defaults():
    settings = load_settings(None)
    assert settings == Settings()
    assert settings.station.name == "bench-1"
    assert settings.station.language == "sv"
    assert settings.station.currency == "SEK"
    assert settings.station.state_dir == Path("/var/lib/stationd")
    assert settings.logging.wire is False
    assert settings.database.url == ""
    assert settings.database.busy_timeout_s == 5.0
    assert settings.database.claim_lease_s == 300
    assert settings.kiosk.host == "127.0.0.1"
    assert settings.kiosk.port == 8080
    assert settings.kiosk.token == ""
    assert settings.kiosk.threads == 16
    assert settings.kiosk.sse_heartbeat_s == 15.0
    assert settings.packscript.interval_min == 15
    assert settings.packscript.run_on_start is False
    assert settings.logging.level == "INFO"
    assert settings.logging.wire is False
    assert settings.scanners == ()


def test_empty_file_gives_the_defaults(tmp_path):
    assert load_settings(write(tmp_path, "")) == Settings()


def test_default_database_is_sqlite_in_the_state_dir():
    assert Settings().database_url() == "sqlite:////var/lib/stationd/stationd.sqlite"
    settings = settings_from_dict({"station": {"state_dir": "/tmp/st"}})
    assert settings.database_url() == "sqlite:////tmp/st/stationd.sqlite"


def test_explicit_database_url_is_used_as_given():
    url = "postgresql+psycopg://stationd:pw@db/stationd"
    assert settings_from_dict({"database": {"url": url}}).database_url() == url


def test_settings_are_frozen():
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.kiosk.port = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.kiosk = None  # type: ignore[misc]


def test_secrets_stay_out_of_repr():
    settings = settings_from_dict(
        {
            "kiosk": {"token": "s3cret-token-1234567"},
            "database": {"url": "postgresql+psycopg://u:hunter2@db/x"},
        }
    )
    assert "s3cret" not in repr(settings)
    assert "hunter2" not in repr(settings)


def test_r13_carrier_credentials_stay_out_of_repr_and_a_carrier_needs_them():
    shipping = {
        "carrier": "nshift",
        "api_user": "key-id-4711",
        "api_key": "s3cret-nshift-key",
        "service": "P19",
    }
    settings = settings_from_dict({"shipping": shipping})
    assert "s3cret-nshift-key" not in repr(settings) and "key-id-4711" not in repr(settings)
    err = error_of({"shipping": {**shipping, "api_key": ""}})
    assert "shipping.carrier 'nshift' needs api_key" in str(err)
    assert "key-id-4711" not in str(err)


# --------------------------------------------------------------------------- the example file


def test_example_file_as_shipped_equals_the_defaults():
    assert load_settings(EXAMPLE) == Settings()


def test_example_file_with_its_examples_switched_on_parses(tmp_path):
    settings = load_settings(write(tmp_path, uncommented_example()))
    assert settings.database.url.startswith("postgresql+psycopg://")
    assert settings.kiosk.host == "0.0.0.0"
    assert [s.name for s in settings.scanners] == [
        "hand-scanner",
        "fixed-scanner",
        "keyboard-scanner",
        "hidpos-scanner",
        "sim",
    ]
    by_usb, by_port, keyboard, hidpos, sim = settings.scanners
    assert (keyboard.kind, keyboard.layout) == ("keyboard", "us")
    assert hidpos.usb_pid == 0x0B8F
    assert (by_usb.usb_vid, by_usb.usb_pid) == (0x1EAB, 0x0D10)
    assert by_port.port == "/dev/stationd-scanner-N42"  # a name the udev rules make
    assert sim.kind == "simulated"


def test_example_file_shows_every_key_with_its_default():
    data = tomllib.loads(uncommented_example())
    for field in dataclasses.fields(Settings):
        if _SECTION not in field.metadata:
            continue  # `source`: where the settings came from, not a key of the file
        section = field.metadata[_SECTION]
        tables = data[field.name] if section.array else [data[field.name]]
        shown = {key for table in tables for key in table}
        declared = {f.name for f in dataclasses.fields(section.cls)}
        assert shown == declared, f"[{field.name}] in the example differs from the code"
    defaults = {f.name: f.default for f in dataclasses.fields(ScannerSettings)}
    for name, value in data["scanners"][0].items():
        if name not in {"name", "kind", "usb_vid", "usb_pid"}:
            assert value == defaults[name], f"scanners.{name} is shown as {value!r}"


# --------------------------------------------------------------------------- reading values


def test_full_file_is_read_into_typed_settings(tmp_path):
    path = write(
        tmp_path,
        """
        [station]
        name = "bench-2"
        language = "nb"
        currency = "NOK"
        state_dir = "~/stationd"
        timezone = "Europe/Oslo"

        [database]
        busy_timeout_s = 2
        claim_lease_s = 60

        [kiosk]
        port = 9000
        threads = 4

        [packscript]
        interval_min = 0
        run_on_start = true

        [logging]
        level = "debug"
        wire = true

        [[scanners]]
        name = "left"
        kind = "serial"
        usb_vid = "0x1eab"
        usb_pid = "0d10"
        serial_number = "ABC123"
        baudrate = 115200
        parity = "e"
        stopbits = 1.5
        suffix = "crlf"

        [[scanners]]
        name = "sim"
        kind = "simulated"
        fifo_path = "/run/stationd/scan.fifo"
        """,
    )
    s = load_settings(path)
    assert s.station.name == "bench-2"
    assert s.station.language == "nb"
    assert s.station.state_dir == Path("~/stationd").expanduser()
    assert s.station.timezone == "Europe/Oslo"
    assert s.logging.wire is True
    assert s.database.busy_timeout_s == 2.0
    assert isinstance(s.database.busy_timeout_s, float)
    assert s.packscript.interval_min == 0
    assert s.logging.level == "DEBUG"
    left, sim = s.scanners
    assert isinstance(left, ScannerSettings)
    assert (left.usb_vid, left.usb_pid, left.serial_number) == (0x1EAB, 0x0D10, "ABC123")
    assert (left.baudrate, left.parity, left.stopbits, left.suffix) == (115200, "E", 1.5, "crlf")
    assert left.port == ""
    assert sim.fifo_path == Path("/run/stationd/scan.fifo")
    assert isinstance(s.scanners, tuple)


def test_usb_ids_accept_integers_and_hex_strings():
    for vid in (0x1EAB, "0x1eab", "1EAB", "0X1EAB"):
        scanner = settings_from_dict(
            {"scanners": [{"name": "a", "kind": "serial", "usb_vid": vid, "usb_pid": 1}]}
        ).scanners[0]
        assert scanner.usb_vid == 0x1EAB


def test_simulated_scanner_without_fifo_has_none():
    scanner = settings_from_dict({"scanners": [{"name": "a", "kind": "simulated"}]}).scanners[0]
    assert scanner.fifo_path is None


# --------------------------------------------------------------------------- unknown names


def test_misspelled_key_says_did_you_mean(tmp_path):
    path = write(tmp_path, "[kiosk]\nprot = 8081\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert str(path) in message
    assert "kiosk.prot" in message
    assert "did you mean 'port'?" in message
    assert info.value.key == "kiosk.prot"
    assert info.value.source == str(path)


def test_old_shipping_broker_key_is_read_as_carrier_with_a_deprecation_line(tmp_path, caplog):
    path = write(tmp_path, '[shipping]\nbroker = "simulated"\n')
    with caplog.at_level("WARNING", logger="stationd.config"):
        settings = load_settings(path)
    assert settings.shipping.carrier == "simulated"
    assert "shipping.broker is deprecated; call it shipping.carrier" in caplog.text
    assert str(path) in caplog.text


def test_new_shipping_carrier_key_logs_nothing(tmp_path, caplog):
    path = write(tmp_path, '[shipping]\ncarrier = "simulated"\n')
    with caplog.at_level("WARNING", logger="stationd.config"):
        assert load_settings(path).shipping.carrier == "simulated"
    assert "deprecated" not in caplog.text


def test_old_and_new_name_of_a_key_together_are_refused(tmp_path):
    path = write(tmp_path, '[shipping]\nbroker = "none"\ncarrier = "simulated"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "shipping.broker is the old name of shipping.carrier" in str(info.value)
    assert info.value.key == "shipping.broker"


def test_key_without_its_unit_suggests_the_one_with_it():
    err = error_of({"database": {"busy_timeout": 3}})
    assert "did you mean 'busy_timeout_s'?" in str(err)


def test_misspelled_section_says_did_you_mean():
    err = error_of({"kisok": {"port": 1}})
    assert "unknown section [kisok]" in str(err)
    assert "did you mean 'kiosk'?" in str(err)


def test_unknown_key_far_from_any_lists_the_known_ones():
    err = error_of({"packscript": {"colour": "blue"}})
    assert "packscript.colour" in str(err)
    assert "'interval_min'" in str(err)
    assert "'run_on_start'" in str(err)


def test_misspelled_scanner_key_says_did_you_mean():
    err = error_of({"scanners": [serial(baudrat=9600)]})
    assert "scanners[0].baudrat" in str(err)
    assert "did you mean 'baudrate'?" in str(err)


def test_misspelled_choice_says_did_you_mean():
    err = error_of({"logging": {"level": "WARN"}})
    assert "logging.level" in str(err)
    assert "did you mean 'WARNING'?" in str(err)


def test_scanners_written_as_a_single_table_says_use_double_brackets(tmp_path):
    path = write(tmp_path, '[scanners]\nname = "a"\nkind = "simulated"\n')
    with pytest.raises(ConfigError, match=r"write \[\[scanners\]\], not \[scanners\]"):
        load_settings(path)


def test_section_that_is_not_a_table_is_refused():
    assert "kiosk must be a table, got the integer 5" in str(error_of({"kiosk": 5}))


# --------------------------------------------------------------------------- wrong types


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"kiosk": {"port": "8080"}}, "kiosk.port must be an integer, got the string '8080'"),
        ({"kiosk": {"port": True}}, "kiosk.port must be an integer, got the boolean true"),
        ({"kiosk": {"port": 8080.0}}, "kiosk.port must be an integer, got the float 8080.0"),
        (
            {"database": {"busy_timeout_s": False}},
            "database.busy_timeout_s must be a number, got the boolean false",
        ),
        (
            {"database": {"busy_timeout_s": "5"}},
            "database.busy_timeout_s must be a number, got the string '5'",
        ),
        (
            {"logging": {"wire": "yes"}},
            "logging.wire must be true or false, got the string 'yes'",
        ),
        (
            {"logging": {"wire": 1}},
            "logging.wire must be true or false, got the integer 1",
        ),
        ({"station": {"name": 7}}, "station.name must be a string, got the integer 7"),
        (
            {"station": {"state_dir": ["/a"]}},
            "station.state_dir must be a path (a string), got an array",
        ),
        (
            {"scanners": [serial(usb_vid=True, port="")]},
            "scanners[0].usb_vid must be a USB id such as 0x1eab, got the boolean true",
        ),
    ],
)
def test_wrong_type_names_key_expected_type_and_value(data, expected):
    err = error_of(data, source="test.toml")
    assert str(err) == f"test.toml: {expected}"


def test_bad_usb_id_string_is_refused():
    err = error_of({"scanners": [serial(port="", usb_vid="zebra", usb_pid=1)]})
    assert "scanners[0].usb_vid must be a USB id such as 0x1eab, got 'zebra'" in str(err)


# --------------------------------------------------------------------------- bounds and choices


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"kiosk": {"port": 0}}, "kiosk.port must be between 1 and 65535, got 0"),
        ({"kiosk": {"port": 70000}}, "kiosk.port must be between 1 and 65535, got 70000"),
        ({"kiosk": {"threads": 1}}, "kiosk.threads must be between 2 and 128, got 1"),
        (
            {"kiosk": {"sse_heartbeat_s": 0.5}},
            "kiosk.sse_heartbeat_s must be between 1 and 300, got 0.5",
        ),
        (
            {"database": {"busy_timeout_s": 0.01}},
            "database.busy_timeout_s must be between 0.1 and 120, got 0.01",
        ),
        (
            {"database": {"busy_timeout_s": float("nan")}},
            "database.busy_timeout_s must be between 0.1 and 120, got nan",
        ),
        (
            {"database": {"claim_lease_s": 5}},
            "database.claim_lease_s must be between 10 and 86400, got 5",
        ),
        (
            {"packscript": {"interval_min": 1441}},
            "packscript.interval_min must be between 0 and 1440, got 1441",
        ),
        (
            {"packscript": {"interval_min": -1}},
            "packscript.interval_min must be between 0 and 1440, got -1",
        ),
        (
            {"scanners": [serial(bytesize=9)]},
            "scanners[0].bytesize must be between 5 and 8, got 9",
        ),
        (
            {"scanners": [serial(max_frame_len=4)]},
            "scanners[0].max_frame_len must be between 8 and 4096, got 4",
        ),
        (
            {"scanners": [serial(frame_timeout_s=10)]},
            "scanners[0].frame_timeout_s must be between 0.01 and 5, got 10",
        ),
        (
            {"scanners": [serial(reconnect_max_s=0)]},
            "scanners[0].reconnect_max_s must be between 0.1 and 60, got 0",
        ),
    ],
)
def test_out_of_bounds_value_names_the_bounds(data, expected):
    err = error_of(data, source="test.toml")
    assert str(err) == f"test.toml: {expected}"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"station": {"language": "de"}}, "station.language must be one of 'sv', 'nb', 'en'"),
        ({"station": {"currency": "DKK"}}, "station.currency must be one of 'SEK', 'NOK', 'EUR'"),
        ({"scanners": [serial(baudrate=9601)]}, "scanners[0].baudrate must be one of 1200, 2400"),
        ({"scanners": [serial(parity="X")]}, "scanners[0].parity must be one of 'N', 'E', 'O'"),
        ({"scanners": [serial(stopbits=3)]}, "scanners[0].stopbits must be one of 1, 1.5, 2"),
        ({"scanners": [serial(suffix="tab")]}, "scanners[0].suffix must be one of 'auto', 'cr'"),
        ({"scanners": [{"name": "a", "kind": "hid"}]}, "scanners[0].kind must be one of"),
    ],
)
def test_value_outside_its_choices_lists_them(data, expected):
    assert expected in str(error_of(data))


def test_station_name_must_be_non_empty_and_short():
    assert "station.name must not be empty" in str(error_of({"station": {"name": "  "}}))
    err = error_of({"station": {"name": "x" * 65}})
    assert "station.name must be at most 64 characters long, it has 65" in str(err)


def test_relative_state_dir_is_refused():
    err = error_of({"station": {"state_dir": "var/stationd"}})
    assert "station.state_dir must be an absolute path, got 'var/stationd'" in str(err)


def test_database_url_of_another_kind_names_the_two_accepted():
    err = error_of({"database": {"url": "mysql://root:hunter2@db/shop"}})
    message = str(err)
    assert "database.url" in message
    assert "'sqlite:///'" in message
    assert "'postgresql+psycopg://'" in message
    assert "mysql://" in message
    assert "hunter2" not in message


def test_sqlite_database_url_is_accepted():
    settings = settings_from_dict({"database": {"url": "sqlite:////srv/x.sqlite"}})
    assert settings.database_url() == "sqlite:////srv/x.sqlite"


# --------------------------------------------------------------------------- kiosk on the LAN


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "station.local"])
def test_lan_host_without_token_is_refused(host):
    err = error_of({"kiosk": {"host": host}}, source="test.toml")
    assert str(err).startswith(f"test.toml: kiosk.host {host!r} is reachable from the network")
    assert "kiosk.token" in str(err)
    assert "16 characters" in str(err)
    assert err.key == "kiosk.token"


def test_lan_host_with_short_token_is_refused_without_showing_it():
    err = error_of({"kiosk": {"host": "0.0.0.0", "token": "short-secret"}})
    assert "(it has 12)" in str(err)
    assert "short-secret" not in str(err)


def test_lan_host_with_long_token_is_accepted():
    kiosk = settings_from_dict({"kiosk": {"host": "0.0.0.0", "token": "x" * 16}}).kiosk
    assert kiosk.token == "x" * 16
    assert not kiosk.loopback_only


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST"])
def test_loopback_host_needs_no_token(host):
    kiosk = settings_from_dict({"kiosk": {"host": host}}).kiosk
    assert kiosk.loopback_only


# --------------------------------------------------------------------------- scanners


def test_scanner_key_of_the_other_kind_is_refused():
    err = error_of({"scanners": [{"name": "sim", "kind": "simulated", "baudrate": 9600}]})
    assert "scanners[0].baudrate" in str(err)
    assert "key 'baudrate' applies to serial scanners only" in str(err)
    err = error_of({"scanners": [serial(fifo_path="/tmp/f")]})
    assert "key 'fifo_path' applies to simulated scanners only" in str(err)


def test_scanner_name_and_kind_are_required():
    err = error_of({"scanners": [{"kind": "simulated"}]})
    assert "scanners[0].name is required" in str(err)
    err = error_of({"scanners": [{"name": "a"}]})
    assert "scanners[0].kind is required" in str(err)


def test_scanner_names_must_be_unique():
    err = error_of(
        {"scanners": [serial(name="a"), {"name": "b", "kind": "simulated"}, serial(name="a")]}
    )
    assert "scanners[2].name 'a' is already used by scanners[0]" in str(err)


def test_r1_two_intake_shops_with_the_same_token_are_refused_without_saying_it():
    token = "shared-token-0123456789"
    shops = [{"name": "a", "token": token}, {"name": "b", "token": ""}, {"name": "c"}]
    # No token twice over: the API tells a request's shop by its token alone.
    err = error_of({"intake": [*shops, {"name": "d", "token": token}]})
    assert "intake[3].token is already used by intake[0]" in str(err)
    assert token not in str(err)
    assert len(settings_from_dict({"intake": shops}).intake) == 3  # shops without the API


def test_serial_scanner_needs_a_way_of_finding_it():
    err = error_of({"scanners": [serial(port="")]})
    assert "scanners[0] needs a way of finding the scanner: port, or usb_vid and usb_pid" in str(
        err
    )


def test_serial_scanner_with_both_port_and_usb_ids_is_refused():
    err = error_of({"scanners": [serial(usb_vid=1, usb_pid=2)]})
    assert "scanners[0] sets both port and usb_vid/usb_pid" in str(err)


def test_usb_vid_without_usb_pid_is_refused():
    err = error_of({"scanners": [serial(port="", usb_vid=0x1EAB)]})
    assert "scanners[0].usb_pid is missing: usb_vid and usb_pid go together" in str(err)


def test_serial_number_without_usb_ids_is_refused():
    err = error_of({"scanners": [serial(serial_number="A1")]})
    assert "scanners[0].serial_number only applies together with usb_vid and usb_pid" in str(err)


# --------------------------------------------------------------------------- files


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, '[kiosk]\nport = 8080\nhost = "127.0.0.1\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not valid TOML:")
    assert "line 3" in message


def test_missing_file_is_a_config_error(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read the config file"):
        load_settings(path)


def test_file_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[station]\nname = "bänk"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path)


def test_errors_are_one_line_without_a_traceback_cause(tmp_path):
    path = write(tmp_path, "[kiosk]\nport = 'x'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "\n" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


# --------------------------------------------------------------------------- overrides


def test_overrides_apply_after_the_file(tmp_path):
    path = write(tmp_path, "[kiosk]\nport = 9000\nthreads = 4\n")
    settings = load_settings(path, overrides={"kiosk.port": 8081, "station.state_dir": "/tmp/x"})
    assert settings.kiosk.port == 8081
    assert settings.kiosk.threads == 4
    assert settings.station.state_dir == Path("/tmp/x")
    assert settings.database_url() == "sqlite:////tmp/x/stationd.sqlite"


def test_overrides_without_a_file_apply_to_the_defaults():
    settings = load_settings(None, overrides={"logging.wire": True})
    assert settings.logging.wire is True
    assert settings.kiosk == Settings().kiosk


def test_overrides_are_validated_like_the_file(tmp_path):
    path = write(tmp_path, "[kiosk]\nport = 9000\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, overrides={"kiosk.port": 70000})
    assert str(info.value) == "<overrides>: kiosk.port must be between 1 and 65535, got 70000"
    assert info.value.source == "<overrides>"


def test_misspelled_override_says_did_you_mean():
    with pytest.raises(ConfigError, match=r"<overrides>: unknown key kiosk\.prot; did you mean"):
        load_settings(None, overrides={"kiosk.prot": 1})
    with pytest.raises(ConfigError, match=r"unknown section \[kisok\].*did you mean 'kiosk'"):
        load_settings(None, overrides={"kisok.port": 1})


def test_override_must_name_section_and_key():
    with pytest.raises(ConfigError, match="must name a section and a key"):
        load_settings(None, overrides={"port": 1})


def test_scanners_cannot_be_overridden():
    with pytest.raises(ConfigError, match=r"scanners can't be overridden"):
        load_settings(None, overrides={"scanners.name": "x"})


def test_lan_host_override_without_token_is_refused():
    with pytest.raises(ConfigError, match=r"kiosk\.token must be set"):
        load_settings(None, overrides={"kiosk.host": "0.0.0.0"})


def test_overrides_do_not_change_the_mapping_passed_in(tmp_path):
    overrides = {"kiosk.port": 8081}
    load_settings(write(tmp_path, "[kiosk]\nport = 9000\n"), overrides=overrides)
    assert overrides == {"kiosk.port": 8081}


# --------------------------------------------------------------------------- which file


def test_cli_config_beats_environment_and_default(monkeypatch, tmp_path):
    default = tmp_path / "default.toml"
    default.touch()
    monkeypatch.setattr(config_settings, "DEFAULT_CONFIG_PATH", default)
    env = {"STATIOND_CONFIG": "/env/stationd.toml"}
    assert config_path("/cli/stationd.toml", env) == Path("/cli/stationd.toml")


def test_environment_beats_default(monkeypatch, tmp_path):
    default = tmp_path / "default.toml"
    default.touch()
    monkeypatch.setattr(config_settings, "DEFAULT_CONFIG_PATH", default)
    assert config_path(None, {"STATIOND_CONFIG": "/env/s.toml"}) == Path("/env/s.toml")


def test_default_file_is_used_when_it_exists(monkeypatch, tmp_path):
    default = tmp_path / "default.toml"
    default.touch()
    monkeypatch.setattr(config_settings, "DEFAULT_CONFIG_PATH", default)
    assert config_path(None, {}) == default
    assert config_path(None, {"STATIOND_CONFIG": ""}) == default


def test_no_file_anywhere_means_builtin_defaults(monkeypatch, tmp_path):
    monkeypatch.setattr(config_settings, "DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    assert config_path(None, {}) is None
    assert config_path("", {}) is None


def test_named_config_is_returned_even_if_missing_so_loading_reports_it(tmp_path):
    missing = tmp_path / "missing.toml"
    assert config_path(str(missing), {}) == missing
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_settings(config_path(str(missing), {}))


def test_config_path_expands_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_path("~/s.toml", {}) == tmp_path / "s.toml"


def test_the_default_path_is_under_etc():
    assert Path("/etc/stationd/stationd.toml") == DEFAULT_CONFIG_PATH


# --------------------------------------------------------------------------- printers, scale


def test_print_route_to_an_unknown_printer_is_refused():
    with pytest.raises(
        ConfigError,
        match=r"print.label names printer 'labels', but \[\[printers\]\] has only "
        r"'receipts'",
    ):
        settings_from_dict(
            {"printers": [{"name": "receipts", "kind": "simulated"}], "print": {"label": "labels"}}
        )
    with pytest.raises(ConfigError, match=r"but no \[\[printers\]\] are configured"):
        settings_from_dict({"print": {"label": "labels"}})


def test_a_name_with_control_characters_is_refused():
    err = error_of({"station": {"name": "bench\x001"}})
    assert "station.name must not hold control or invisible characters" in str(err)


def test_a_toml_date_where_a_string_belongs_is_named_the_toml_way():
    err = error_of(tomllib.loads("[station]\nname = 1979-05-27T07:32:00Z\n"))
    assert "station.name must be a string, got the date-time 1979-05-27T07:32:00+00:00" in str(err)


def test_network_printer_needs_its_host():
    with pytest.raises(ConfigError, match=r"printers\[0\].host is needed"):
        settings_from_dict({"printers": [{"name": "p", "kind": "escpos"}]})


def test_zpl_keys_do_not_apply_to_a_receipt_printer():
    with pytest.raises(ConfigError, match="dpmm"):
        settings_from_dict(
            {"printers": [{"name": "p", "kind": "escpos", "host": "10.0.0.5", "dpmm": 8}]}
        )


def test_printers_and_routes_read_back():
    settings = settings_from_dict(
        {
            "printers": [
                {
                    "name": "receipts",
                    "kind": "escpos",
                    "transport": "usb",
                    "usb_vid": "04b8",
                    "usb_pid": "0202",
                },
                {"name": "labels", "kind": "zpl", "host": "10.0.0.6", "dpmm": 12},
            ],
            "print": {"picklist": "receipts", "label": "labels"},
        }
    )
    receipts, labels = settings.printers
    assert (receipts.usb_vid, receipts.codepage) == (0x04B8, "CP865")
    assert (labels.dpmm, labels.port) == (12, 9100)
    assert settings.print.receipt == ""


def test_serial_scale_needs_a_way_to_find_it():
    with pytest.raises(ConfigError, match="needs port, or usb_vid"):
        settings_from_dict({"scale": {"kind": "serial"}})


def test_keyboard_scanner_layout_is_one_the_station_knows():
    with pytest.raises(ConfigError, match="layout"):
        settings_from_dict(
            {
                "scanners": [
                    {"name": "k", "kind": "keyboard", "port": "/dev/input/x", "layout": "fr"}
                ]
            }
        )


def test_serial_line_keys_do_not_apply_to_a_keyboard_scanner():
    with pytest.raises(ConfigError, match="baudrate"):
        settings_from_dict(
            {"scanners": [{"name": "k", "kind": "keyboard", "port": "/dev/x", "baudrate": 9600}]}
        )


def test_hidpos_scanner_needs_usb_ids():
    with pytest.raises(ConfigError, match="needs usb_vid and usb_pid"):
        settings_from_dict({"scanners": [{"name": "h", "kind": "hidpos"}]})


def test_documents_for_the_receipt_printer_never_route_to_a_label_printer():
    with pytest.raises(ConfigError, match="zpl label printer"):
        settings_from_dict(
            {
                "printers": [{"name": "labels", "kind": "zpl", "host": "10.0.0.6"}],
                "print": {"picklist": "labels"},
            }
        )


def test_shop_name_longer_than_a_label_line_is_refused_at_load():
    with pytest.raises(ConfigError, match=r"shop\.name"):
        settings_from_dict({"shop": {"name": "x" * 51}})


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("192.168.1.50", False),
        ("::ffff:10.0.0.2", False),
        ("station.local", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_is_one_rule_for_the_config_and_the_kiosk(address, loopback):
    from stationd.config import is_loopback

    assert is_loopback(address) is loopback


def test_a_toml_file_nested_hundreds_deep_is_a_config_error_not_a_traceback(tmp_path):
    path = write(tmp_path, "x = " + "[" * 600 + "]" * 600 + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == f"{path}: not valid TOML: arrays or tables nested too deeply"


def test_r20_receipt_width_comes_from_the_printers_profile():
    """Issue 12, item 12: receipts were 42 characters wide on a 576-dot (48-column) printer."""
    from stationd.core.documents import Shop, build_receipt
    from stationd.core.orders import Order, OrderLine, OrderStatus
    from stationd.devices.rendering.escpos import render

    def printer(**keys):
        config = {"printers": [{"name": "r", "kind": "escpos", "host": "127.0.0.1", **keys}]}
        return settings_from_dict(config).printers[0]

    assert printer(profile="TM-T20II").width_chars == 48
    assert printer().width_chars == 42  # no profile: 80 mm paper at 512 dots
    assert printer(profile="TM-T20II", width_chars=42).width_chars == 42  # said outright
    with pytest.raises(ConfigError, match="no printer profile 'TM-T20X'; did you mean"):
        printer(profile="TM-T20X")
    order = Order(
        1, OrderStatus.PACKING, datetime(2026, 12, 6, tzinfo=UTC), "Åsa",
        lines=[OrderLine(id=1, sku="A", name="Termos", quantity=1, unit_price_minor=100)],
    )  # fmt: skip
    paper = render(build_receipt(order, shop=Shop("Butik")), width_chars=48)
    assert b"\n" + b"-" * 48 + b"\n" in paper
