"""A small stand-in for Grafana's HTTP API, for `tonle dashboards push` (Grafana cannot be
installed here).

It serves the documented endpoints grafana-client calls for a push, with Grafana's status
codes and response shapes (https://grafana.com/docs/grafana/latest/developers/http_api/):
`GET /api/health`; folders (`GET /api/folders/:uid`, `POST /api/folders`, `PUT
/api/folders/:uid`); dashboards (`GET /api/dashboards/uid/:uid`, `POST /api/dashboards/db`);
data sources (`GET /api/datasources/uid/:uid`, `GET /api/datasources/name/:name`, `POST
/api/datasources`, `PUT /api/datasources/uid/:uid`). Every request needs `Authorization:
Bearer <token>` (401 otherwise, as Grafana answers a bad service account token). It keeps what
it was given and records every write, so a test sees exactly what a push sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote


@dataclass
class GrafanaState:
    token: str
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid -> {"dashboard", "meta"}
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid -> data source
    writes: list[tuple[str, str, Any]] = field(default_factory=list)  # (method, path, body)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    state: GrafanaState

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the test reads `writes`
        pass

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"null")

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.state.token}":
            return True
        self._reply(401, {"message": "invalid API key"})
        return False

    def do_GET(self) -> None:
        if not self._authorised():
            return
        path, s = unquote(self.path.split("?")[0]), self.state
        with s.lock:
            if path == "/api/health":
                return self._reply(200, {"database": "ok", "version": "11.3.0"})
            if path.startswith("/api/folders/"):
                found = s.folders.get(path.removeprefix("/api/folders/"))
            elif path.startswith("/api/dashboards/uid/"):
                found = s.dashboards.get(path.removeprefix("/api/dashboards/uid/"))
            elif path.startswith("/api/datasources/uid/"):
                found = s.datasources.get(path.removeprefix("/api/datasources/uid/"))
            elif path.startswith("/api/datasources/name/"):
                name = path.removeprefix("/api/datasources/name/")
                found = next((d for d in s.datasources.values() if d["name"] == name), None)
            else:
                found = None
            if found is None:
                return self._reply(404, {"message": "not found"})
            return self._reply(200, _public(found))

    def do_POST(self) -> None:
        if not self._authorised():
            return
        path, body, s = self.path, self._body(), self.state
        with s.lock:
            s.writes.append(("POST", path, body))
            if path == "/api/folders":
                if body["uid"] in s.folders:
                    return self._reply(409, {"message": "a folder with the same uid already exists"})
                s.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "version": 1}
                return self._reply(200, s.folders[body["uid"]])
            if path == "/api/dashboards/db":
                return self._save_dashboard(body)
            if path == "/api/datasources":
                if any(d["name"] == body["name"] for d in s.datasources.values()):
                    return self._reply(409, {"message": "data source with the same name already exists"})
                s.datasources[body["uid"]] = _stored_datasource(body, len(s.datasources) + 1)
                return self._reply(
                    200, {"message": "Datasource added", "datasource": s.datasources[body["uid"]]}
                )
        self._reply(404, {"message": "not found"})

    def _save_dashboard(self, body: dict[str, Any]) -> None:
        s, dash = self.state, dict(body["dashboard"])
        folder = body.get("folderUid")
        if folder not in s.folders:
            return self._reply(400, {"message": "folder not found"})
        old = s.dashboards.get(dash["uid"])
        if old is not None and not body.get("overwrite"):
            return self._reply(412, {"status": "version-mismatch"})
        version = old["dashboard"]["version"] + 1 if old else 1
        dash.update(id=len(s.dashboards) + 1 if old is None else old["dashboard"]["id"], version=version)
        s.dashboards[dash["uid"]] = {"dashboard": dash, "meta": {"folderUid": folder, "version": version}}
        self._reply(200, {"status": "success", "uid": dash["uid"], "version": version})

    def do_PUT(self) -> None:
        if not self._authorised():
            return
        path, body, s = self.path, self._body(), self.state
        with s.lock:
            s.writes.append(("PUT", path, body))
            if path.startswith("/api/folders/") and path.removeprefix("/api/folders/") in s.folders:
                s.folders[path.removeprefix("/api/folders/")]["title"] = body["title"]
                return self._reply(200, s.folders[path.removeprefix("/api/folders/")])
            uid = path.removeprefix("/api/datasources/uid/")
            if path.startswith("/api/datasources/uid/") and uid in s.datasources:
                s.datasources[uid] = _stored_datasource(body, s.datasources[uid]["id"])
                return self._reply(200, {"message": "Datasource updated", "datasource": s.datasources[uid]})
        self._reply(404, {"message": "not found"})


def _stored_datasource(body: dict[str, Any], ds_id: int) -> dict[str, Any]:
    """As Grafana keeps it: the password sealed away, only a flag saying it is set."""
    stored = {k: v for k, v in body.items() if k not in ("secureJsonData", "secureJsonFields")}
    sealed = dict(body.get("secureJsonFields", {}))
    sealed.update({k: True for k in body.get("secureJsonData", {})})
    stored.update(id=ds_id, secureJsonFields=sealed, secret=body.get("secureJsonData", {}))
    return stored


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """What a GET shows: never a secret."""
    return {k: v for k, v in obj.items() if k != "secret"}


@contextmanager
def fake_grafana(token: str) -> Iterator[tuple[str, GrafanaState]]:
    """A running stand-in on a free loopback port: (its URL, its state)."""
    state = GrafanaState(token=token)
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
