"""`tonle dashboards push` against a stand-in for Grafana's HTTP API.

Grafana cannot be installed on this machine, so these tests run the real command (through
`tonle.app.cli.main` and the real grafana-client) against `tests/deploy/fake_grafana.py`: a
small local HTTP server that speaks the documented endpoints grafana-client uses for a push
(health, folders, dashboards/db, dashboards by uid, data sources by uid and by name), with
Grafana's status codes, and records every write it got. What a real Grafana adds on top (its
own schema migrations of a saved dashboard) is not exercised here.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.deploy.fake_grafana import fake_grafana
from tonle.app.cli import main
from tonle.app.grafana_push import DATASOURCE_UID, PASSWORD_ENV, TOKEN_ENV

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
TOKEN = "glsa_test_token"


def _files(lang: str) -> dict[str, dict]:
    return {
        d["uid"]: d for d in (json.loads(p.read_text()) for p in sorted((DASHBOARDS / lang).glob("*.json")))
    }


def _push(url: str, *extra: str) -> int:
    return main(["dashboards", "push", "--url", url, "--influxdb-url", "http://influxdb:8086", *extra])


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)


def test_a_push_puts_the_folder_the_data_source_and_every_dashboard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    with fake_grafana(TOKEN) as (url, grafana):
        assert _push(url, "--lang", "en", "--influxdb-user", "grafana") == 0
    assert grafana.folders["tonle"]["title"] == "Tonle"
    ds = grafana.datasources[DATASOURCE_UID]
    assert ds["type"] == "influxdb" and ds["url"] == "http://influxdb:8086" and ds["user"] == "grafana"
    assert ds["jsonData"]["version"] == "InfluxQL" and ds["jsonData"]["dbName"] == "tonle"
    assert ds["secret"] == {"password": "s3cret"}, "the password came from the environment"
    wanted = _files("en")
    assert set(grafana.dashboards) == set(wanted) and "tonle-line-tv" in wanted
    for uid, stored in grafana.dashboards.items():
        assert stored["meta"]["folderUid"] == "tonle"
        sent = {k: v for k, v in stored["dashboard"].items() if k not in ("id", "version")}
        assert sent == {k: v for k, v in wanted[uid].items() if k not in ("id", "version")}


def test_a_second_push_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with fake_grafana(TOKEN) as (url, grafana):
        assert _push(url, "--lang", "en") == 0
        first = len(grafana.writes)
        versions = {uid: d["dashboard"]["version"] for uid, d in grafana.dashboards.items()}
        capsys.readouterr()
        assert _push(url, "--lang", "en") == 0
        assert len(grafana.writes) == first, f"the second push wrote {grafana.writes[first:]}"
        assert {uid: d["dashboard"]["version"] for uid, d in grafana.dashboards.items()} == versions
    assert first == 2 + len(_files("en"))
    assert "0 written" in capsys.readouterr().out


def test_a_changed_dashboard_is_the_only_thing_written_again() -> None:
    with fake_grafana(TOKEN) as (url, grafana):
        assert _push(url, "--lang", "en") == 0
        grafana.dashboards["tonle-line-tv"]["dashboard"]["title"] = "edited in the UI"
        first = len(grafana.writes)
        assert _push(url, "--lang", "en") == 0
        (write,) = grafana.writes[first:]
    assert write[:2] == ("POST", "/api/dashboards/db") and write[2]["dashboard"]["uid"] == "tonle-line-tv"
    assert write[2]["overwrite"] is True


def test_the_khmer_dashboards_go_to_their_own_folder() -> None:
    with fake_grafana(TOKEN) as (url, grafana):
        assert _push(url, "--lang", "km") == 0
    assert grafana.folders["tonle-km"]["title"] == "Tonle · ខ្មែរ" and "tonle" not in grafana.folders
    assert set(grafana.dashboards) == set(_files("km")) and all(u.endswith("-km") for u in grafana.dashboards)


def test_a_bad_token_names_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "wrong")
    with fake_grafana(TOKEN) as (url, grafana):
        assert _push(url) == 2
    err = capsys.readouterr().err
    assert "refused the token" in err and TOKEN_ENV in err and "Service accounts" in err
    assert grafana.writes == []


def test_no_token_is_said_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(TOKEN_ENV)
    with fake_grafana(TOKEN) as (url, grafana):
        assert _push(url) == 2
    assert TOKEN_ENV in capsys.readouterr().err and grafana.writes == []


def test_an_unreachable_grafana_says_so_with_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on once it is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert _push(f"http://127.0.0.1:{port}") == 2
    err = capsys.readouterr().err
    assert "cannot reach Grafana" in err and "3000" in err


def test_an_address_without_scheme_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert _push("grafana.local:3000") == 2
    assert "--url http://" in capsys.readouterr().err


def test_a_data_source_of_the_same_name_under_another_uid_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with fake_grafana(TOKEN) as (url, grafana):
        grafana.datasources["handmade"] = {
            "id": 1,
            "uid": "handmade",
            "name": "Tonle InfluxDB",
            "type": "influxdb",
        }
        assert _push(url) == 2
    err = capsys.readouterr().err
    assert "handmade" in err and "Data sources" in err
    assert DATASOURCE_UID not in grafana.datasources
