"""The message catalogue: sentences are looked up where they reach a person, and Babel finds them."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from tonle.errors import MqttError, SpoolError, TonleError, file_error
from tonle.io import mqtt, mqtt_tls, spool_file
from tonle.messages import DOMAIN, N_, render, set_language


@pytest.fixture
def pig_latin(tmp_path: Path) -> Iterator[None]:
    """A made-up language 'xx' with two entries, compiled the way a real catalogue is."""
    catalog = Catalog(locale="en", domain=DOMAIN)
    catalog.add(mqtt_tls.UNREACHABLE, "annotcay eachray {host}:{port} ({reason})")
    catalog.add(mqtt_tls.UNREACHABLE_FIX, "eckchay osquittomay")
    catalog.add("{what}; {fix}", "{what} -- {fix}")
    catalog.add(N_("spool {path}: is closed"), "ooplsay {nowhere} isway osedclay")  # a translator's slip
    folder = tmp_path / "xx" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / f"{DOMAIN}.mo").open("wb") as out:
        write_mo(out, catalog)
    set_language("xx", tmp_path)
    try:
        yield
    finally:
        set_language("en")


def test_an_error_says_what_is_wrong_and_the_fix_filled_from_its_data() -> None:
    err = MqttError(
        mqtt_tls.UNREACHABLE, fix=mqtt.NO_ANSWER_FIX, host="10.0.0.5", port=1883, reason="refused"
    )
    assert str(err) == (
        "cannot reach the MQTT broker at 10.0.0.5:1883 (refused); "
        "check that mosquitto is running and the host and port in the config are right"
    )
    assert (err.host, err.port, err.reason) == ("10.0.0.5", 1883, "refused")
    assert isinstance(err, TonleError) and err.data["host"] == "10.0.0.5"


def test_the_sentence_is_worded_in_the_chosen_language_when_it_is_read(pig_latin: None) -> None:
    err = MqttError(mqtt_tls.UNREACHABLE, fix=mqtt_tls.UNREACHABLE_FIX, host="gw", port=1, reason="x")
    assert str(err) == "annotcay eachray gw:1 (x) -- eckchay osquittomay"


def test_a_translation_that_names_a_wrong_field_falls_back_to_english(pig_latin: None) -> None:
    err = SpoolError(Path("/var/spool.sqlite"), N_("spool {path}: is closed"))
    assert str(err) == "spool /var/spool.sqlite: is closed"


def test_a_template_that_does_not_fit_its_data_is_shown_unfilled() -> None:
    assert render("line {line} at {site}", {"line": "L1"}) == "line {line} at {site}"
    assert render("nothing to fill {x}") == "nothing to fill {x}"  # no data: not formatted at all


def test_an_error_built_by_hand_still_reads_as_it_was_written() -> None:
    assert str(TonleError("victoria-metrics is not installed: {braces} kept")) == (
        "victoria-metrics is not installed: {braces} kept"
    )


def test_pybabel_extract_finds_the_cli_texts_and_the_error_templates(pybabel_template: Catalog) -> None:
    ids = {m.id for m in pybabel_template if m.id}
    expected = {
        "run a simulated sewing line through the whole loop",  # CLI help (immediate: _)
        "tonle {command}: {error}",  # the CLI's one sentence per failure
        mqtt_tls.UNREACHABLE,  # error templates (deferred: N_)
        mqtt_tls.UNREACHABLE_FIX,
        spool_file.DISK_FULL,
        "cannot use {path}: {reason}",
        "{what}; {fix}",
    }
    assert expected <= ids, expected - ids


def test_os_errors_a_person_can_fix_become_file_errors_and_others_stay_bugs() -> None:
    full = file_error(OSError(errno.ENOSPC, "No space left on device"))
    assert full is not None and full.code == errno.ENOSPC
    assert str(full) == (
        "a file could not be written: the disk is full; free some space on that disk, or use another one"
    )
    denied = file_error(PermissionError(errno.EACCES, "Permission denied", "/var/lib/tonle"))
    assert denied is not None and denied.path == "/var/lib/tonle"
    assert str(denied).startswith("cannot use /var/lib/tonle: permission denied; run as a user who may")
    assert file_error(OSError(errno.EBADF, "Bad file descriptor")) is None  # a bug, not the user's to fix
