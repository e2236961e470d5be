"""`tonle dashboards push`: the dashboards, their folder and the data source into a running Grafana.

For a plant that already runs Grafana (docker-compose provisions its own from files instead).
It speaks Grafana's HTTP API through `grafana-client` (the `[grafana]` extra) with a service
account token from the environment (`TOKEN_ENV`), never from the command line, where it would
stay in the shell history and the process list. The uids are the provisioned ones (folder
`tonle` / `tonle-km`, data source `tonle-influxdb`, each dashboard's own), so a push and a
provisioned copy are the same objects, and a second push finds everything as it left it and
writes nothing: each object is read first and written only when it differs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tonle.app.dashboards import DASHBOARDS
from tonle.errors import TonleError
from tonle.messages import N_, _, current_language

__all__ = [
    "DATASOURCE_UID",
    "FOLDERS",
    "TOKEN_ENV",
    "GrafanaPushError",
    "PushResult",
    "add_parser",
    "push",
    "run",
]

TOKEN_ENV = "TONLE_GRAFANA_TOKEN"
PASSWORD_ENV = "TONLE_GRAFANA_INFLUXDB_PASSWORD"
DATASOURCE_UID = "tonle-influxdb"
DATASOURCE_NAME = "Tonle InfluxDB"
# The folder of each language, as deploy/grafana/provisioning/dashboards/tonle.yaml names it.
FOLDERS = {"en": ("tonle", "Tonle"), "km": ("tonle-km", "Tonle · ខ្មែរ")}
_NOT_COMPARED = ("id", "version")  # Grafana sets these itself on every save


class GrafanaPushError(TonleError):
    """Grafana could not be reached, refused the token, or refused a write."""


@dataclass
class PushResult:
    """What a push wrote and what it found already as wanted (`kind uid` each)."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def datasource(influx_url: str, database: str, user: str | None, password: str | None) -> dict[str, Any]:
    """The InfluxDB data source the dashboards query (the provisioned one's settings)."""
    ds: dict[str, Any] = {
        "name": DATASOURCE_NAME,
        "uid": DATASOURCE_UID,
        "type": "influxdb",
        "access": "proxy",
        "url": influx_url,
        "jsonData": {"version": "InfluxQL", "dbName": database, "httpMode": "POST", "timeInterval": "10s"},
    }
    if user:
        ds["user"] = user
    if password:
        ds["secureJsonData"] = {"password": password}
    return ds


def _missing(exc: Exception) -> bool:
    return getattr(exc, "status_code", None) == 404


def _push_folder(api: Any, uid: str, title: str, result: PushResult) -> None:
    from grafana_client.client import GrafanaClientError

    try:
        found = api.folder.get_folder(uid)
    except GrafanaClientError as exc:
        if not _missing(exc):
            raise
        api.folder.create_folder(title, uid=uid)
        result.written.append(f"folder {uid}")
        return
    if found.get("title") != title:
        api.folder.update_folder(uid, title=title, overwrite=True)
        result.written.append(f"folder {uid}")
    else:
        result.unchanged.append(f"folder {uid}")


def _push_datasource(api: Any, wanted: dict[str, Any], result: PushResult) -> None:
    from grafana_client.client import GrafanaClientError

    try:
        found = api.datasource.get_datasource_by_uid(DATASOURCE_UID)
    except GrafanaClientError as exc:
        if not _missing(exc):
            raise
        _check_name_free(api)
        api.datasource.create_datasource(wanted)
        result.written.append(f"datasource {DATASOURCE_UID}")
        return
    same = all(found.get(k) == v for k, v in wanted.items() if k != "secureJsonData")
    if same and "secureJsonData" not in wanted:
        result.unchanged.append(f"datasource {DATASOURCE_UID}")
        return
    if same and found.get("secureJsonFields", {}).get("password"):
        result.unchanged.append(f"datasource {DATASOURCE_UID}")  # a stored password is never read back
        return
    api.datasource.update_datasource_by_uid(DATASOURCE_UID, {**found, **wanted})
    result.written.append(f"datasource {DATASOURCE_UID}")


def _check_name_free(api: Any) -> None:
    """Grafana refuses a second data source of the same name: say which one is in the way."""
    from grafana_client.client import GrafanaClientError

    try:
        other = api.datasource.get_datasource_by_name(DATASOURCE_NAME)
    except GrafanaClientError as exc:
        if _missing(exc):
            return
        raise
    raise GrafanaPushError(
        N_('Grafana already has a data source named "{name}" with uid {uid}, not {wanted}'),
        fix=N_("rename or delete that data source in Grafana (Connections > Data sources), then push again"),
        name=DATASOURCE_NAME,
        uid=str(other.get("uid")),
        wanted=DATASOURCE_UID,
    )


def _comparable(dashboard: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in dashboard.items() if k not in _NOT_COMPARED}, sort_keys=True)


def _push_dashboard(api: Any, dashboard: dict[str, Any], folder_uid: str, result: PushResult) -> None:
    from grafana_client.client import GrafanaClientError

    uid = dashboard["uid"]
    try:
        found = api.dashboard.get_dashboard(uid)
    except GrafanaClientError as exc:
        if not _missing(exc):
            raise
        found = None
    if (
        found is not None
        and found.get("meta", {}).get("folderUid") == folder_uid
        and _comparable(found.get("dashboard", {})) == _comparable(dashboard)
    ):
        result.unchanged.append(f"dashboard {uid}")
        return
    body = {**dashboard, "id": None}
    api.dashboard.update_dashboard({"dashboard": body, "folderUid": folder_uid, "overwrite": True})
    result.written.append(f"dashboard {uid}")


def push(api: Any, dashboards: list[dict[str, Any]], language: str, ds: dict[str, Any]) -> PushResult:
    """Folder, data source, then the dashboards (they name both): each written only if it differs."""
    result = PushResult()
    folder_uid, title = FOLDERS[language]
    _push_folder(api, folder_uid, title, result)
    _push_datasource(api, ds, result)
    for dashboard in dashboards:
        _push_dashboard(api, dashboard, folder_uid, result)
    return result


def load_dashboards(directory: Path) -> list[dict[str, Any]]:
    files = sorted(directory.glob("*.json"))
    if not files:
        raise GrafanaPushError(
            N_("no dashboards in {path}"),
            fix=N_("run it from a clone of the Tonle repository, or give --dashboards DIR"),
            path=str(directory),
        )
    return [json.loads(p.read_text(encoding="utf-8")) for p in files]


def _api(url: str, token: str) -> Any:
    try:
        from grafana_client import GrafanaApi
    except ImportError as exc:
        raise GrafanaPushError(
            N_("tonle dashboards push needs the grafana-client package"),
            fix=N_("pip install 'tonle[grafana]'"),
        ) from exc
    return GrafanaApi.from_url(url, credential=token, timeout=10.0)


def _worded(exc: Exception, url: str) -> GrafanaPushError:
    """A grafana-client or network failure as the sentence and fix a plant engineer acts on."""
    status = getattr(exc, "status_code", 0) or 0
    if status == 401:
        return GrafanaPushError(
            N_("Grafana at {url} refused the token in {env}"),
            fix=N_(
                "make a service account token in Grafana (Administration > Users and access > "
                "Service accounts) and put it in {env}; check that it has not expired"
            ),
            url=url,
            env=TOKEN_ENV,
        )
    if status == 403:
        return GrafanaPushError(
            N_("the token in {env} may not change folders, dashboards or data sources"),
            fix=N_("give its service account the Admin role (data sources need it)"),
            env=TOKEN_ENV,
        )
    if status:
        return GrafanaPushError(
            N_("Grafana at {url} answered {status}: {detail}"),
            fix=N_("read Grafana's log for the reason; run the push again once it is fixed"),
            url=url,
            status=status,
            detail=str(exc),
        )
    reason = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
    return GrafanaPushError(
        N_("cannot reach Grafana at {url}: {detail}"),
        fix=N_(
            "check the address and port (Grafana's default is http://HOST:3000) and that Grafana is running"
        ),
        url=url,
        detail=reason.group(1) if reason else str(exc),
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `tonle dashboards push`."""
    p = sub.add_parser("dashboards", help=_("put the dashboards into a Grafana that already runs"))
    actions = p.add_subparsers(dest="dashboards_command", required=True, metavar="ACTION")
    push_p = actions.add_parser(
        "push",
        help=_("put the dashboards, their folder and the InfluxDB data source into Grafana"),
        description=_(
            "Put the dashboards of the chosen language (--lang), their folder and the InfluxDB data "
            "source into a running Grafana. The token is read from the environment variable {env} "
            "(a service account token with the Admin role); the InfluxDB password, if the database "
            "needs one, from {password_env}. Run it again after an update: what is already as wanted "
            "is left alone."
        ).format(env=TOKEN_ENV, password_env=PASSWORD_ENV),
    )
    push_p.add_argument("--url", required=True, help=_("Grafana's address, e.g. http://grafana.local:3000"))
    push_p.add_argument(
        "--influxdb-url",
        default="http://localhost:8086",
        help=_("InfluxDB's address as Grafana's server reaches it"),
    )
    push_p.add_argument("--database", default="tonle", help=_("the InfluxDB database"))
    push_p.add_argument("--influxdb-user", help=_("InfluxDB user for Grafana (read-only is enough)"))
    push_p.add_argument(
        "--dashboards", type=Path, help=_("the folder of dashboards (default: the repository's)")
    )


def run(args: argparse.Namespace) -> int:
    if not args.url.startswith(("http://", "https://")):
        raise GrafanaPushError(
            N_("{url} is not a web address"),
            fix=N_("give it with its scheme and port, e.g. --url http://grafana.local:3000"),
            url=args.url,
        )
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise GrafanaPushError(
            N_("no Grafana token: the environment variable {env} is empty"),
            fix=N_("make a service account token in Grafana and run: export {env}=<token>"),
            env=TOKEN_ENV,
        )
    language = current_language()
    dashboards = load_dashboards(args.dashboards or DASHBOARDS / language)
    ds = datasource(args.influxdb_url, args.database, args.influxdb_user, os.environ.get(PASSWORD_ENV))
    api = _api(args.url, token)
    from grafana_client.client import GrafanaException
    from niquests.exceptions import RequestException

    try:
        result = push(api, dashboards, language, ds)
    except (GrafanaException, RequestException) as exc:
        raise _worded(exc, args.url) from exc
    for item in result.written:
        print(_("written: {item}").format(item=item))
    print(
        _("{written} written, {unchanged} already up to date in {url}").format(
            written=len(result.written), unchanged=len(result.unchanged), url=args.url
        )
    )
    return 0
