"""The root of every failure a person is expected to fix, carrying its data; and the tree under it.

A `TonleError` says what is wrong and, in `fix`, what to do about it; the attributes in
`data` say which device, key, address or file it was about, so a caller can act on them
and the boundary (the CLI, a log line for a technician) words one plain sentence without
a traceback. Everything else is a bug and keeps its traceback.

`message` and `fix` are catalogue entries (`tonle.messages.N_`) with `{fields}` named
after the data: the sentence is worded, in the plant's language, only when `str()` is
called, so the place that raises never builds the text. Each expected failure has its
own class here, raised with its data and chained (`raise ... from exc`) to the low-level
cause; the modules that raise them re-export them (`tonle.io.mqtt.MqttError` is this
`MqttError`).

    TonleError
    ├── MqttError        the broker refused us or cannot be reached (host, port, reason)
    ├── InfluxError      InfluxDB did not answer as asked (url, status)
    │   ├── InfluxQLError    a read
    │   └── WriteError       a write (retry_after_s)
    ├── SpoolError       the spool file: disk full, permission denied, corrupt, in use (path)
    ├── FileError        a file or folder the user named: missing, not allowed, disk full (path)
    ├── DeviceError      a device's port is missing or not allowed (device, port, reason)
    ├── ServiceError     a local mosquitto/influxd is missing or does not start (service)
    ├── ReportError      the report cannot be made as asked
    └── BrowserError     Chromium is missing or failed (for a PDF)

`tonle.config.ConfigError` (a wrong key or value) joins the tree from `tonle.config`.
"""

from __future__ import annotations

import errno
from pathlib import Path

from tonle.messages import N_, _, render

__all__ = [
    "BrowserError",
    "DeviceError",
    "FileError",
    "InfluxError",
    "InfluxQLError",
    "MqttError",
    "ReportError",
    "ServiceError",
    "SpoolError",
    "TonleError",
    "WriteError",
    "file_error",
]


class TonleError(Exception):
    """A failure with a fix: `str(err)` is "what is wrong; how to fix it", in the plant's language."""

    def __init__(self, message: str, *, fix: str = "", **data: object) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.data = data

    def __str__(self) -> str:
        what = render(self.message, self.data)
        if not self.fix:
            return what
        return _("{what}; {fix}").format(what=what, fix=render(self.fix, self.data))


class MqttError(TonleError):
    """The MQTT broker refused us, dropped us or cannot be reached."""

    def __init__(
        self, message: str, *, host: str, port: int, reason: str = "", fix: str = "", **data: object
    ) -> None:
        super().__init__(message, fix=fix, host=host, port=port, reason=reason, **data)
        self.host = host
        self.port = port
        self.reason = reason


class InfluxError(TonleError):
    """InfluxDB (or a server speaking its API) could not be reached or refused a request."""

    def __init__(
        self, message: str, *, url: str, status: int | None = None, fix: str = "", **data: object
    ) -> None:
        super().__init__(message, fix=fix, url=url, status=status, **data)
        self.url = url
        self.status = status


class InfluxQLError(InfluxError):
    """A query failed: the database is unreachable, or it rejected the query."""


class WriteError(InfluxError):
    """The database did not store the batch; retry after `retry_after_s` (None: your own backoff)."""

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        retry_after_s: float | None = None,
        fix: str = "",
        **data: object,
    ) -> None:
        super().__init__(message, url=url, status=status, fix=fix, **data)
        self.retry_after_s = retry_after_s


class SpoolError(TonleError):
    """The spool cannot do what was asked; `path` names the file, the cause is chained."""

    def __init__(
        self,
        path: Path,
        message: str,
        *,
        recovered: bool = False,
        disk_full: bool = False,
        fix: str = "",
        **data: object,
    ) -> None:
        super().__init__(message, fix=fix, path=path, **data)
        self.path = path
        self.recovered = recovered  # the file was corrupt, moved aside, and a fresh spool is in use
        self.disk_full = disk_full  # the filesystem (or SQLite's page limit) has no room left


class FileError(TonleError):
    """A file or folder the user named cannot be used: missing, not allowed, or its disk is full."""

    def __init__(
        self, message: str, *, path: str, reason: str, fix: str = "", code: int = 0, **data: object
    ) -> None:
        super().__init__(message, fix=fix, path=path, reason=reason, code=code, **data)
        self.path = path
        self.reason = reason
        self.code = code


class DeviceError(TonleError):
    """A device cannot be opened: its serial port is missing, or we may not open it."""

    def __init__(
        self, message: str, *, device: str, port: str, reason: str = "", fix: str = "", **data: object
    ) -> None:
        super().__init__(message, fix=fix, device=device, port=port, reason=reason, **data)
        self.device = device
        self.port = port
        self.reason = reason


class ServiceError(TonleError):
    """A local service (mosquitto, influxd) is not installed or does not start."""


class ReportError(TonleError):
    """The report cannot be made as asked (a time, a line, the database)."""


class BrowserError(TonleError):
    """Chromium is missing or failed while printing the report."""


# The OS errors behind expected failures, with what a person can do about each.
_FILE_FIXES: dict[int, tuple[str, str]] = {
    errno.ENOSPC: (N_("the disk is full"), N_("free some space on that disk, or use another one")),
    errno.EDQUOT: (N_("the disk quota is used up"), N_("free some space, or ask for a larger quota")),
    errno.EACCES: (
        N_("permission denied"),
        N_("run as a user who may use it (check its owner and mode with ls -l), or choose another path"),
    ),
    errno.EPERM: (
        N_("the operation is not permitted"),
        N_("run as a user who may use it, or choose another path"),
    ),
    errno.EROFS: (N_("the disk is read-only"), N_("choose a path on a writable disk")),
    errno.ENOENT: (N_("it does not exist"), N_("check the path")),
    errno.ENOTDIR: (N_("part of the path is a file, not a folder"), N_("check the path")),
    errno.EISDIR: (N_("it is a folder, not a file"), N_("give the path of a file")),
}


def file_error(exc: OSError) -> FileError | None:
    """The FileError for an OS error a person can fix (disk full, permission, missing path), else None."""
    known = _FILE_FIXES.get(exc.errno or 0)
    if known is None:
        return None
    reason, fix = known
    path = exc.filename if exc.filename is not None else ""
    message = N_("cannot use {path}: {reason}") if path else N_("a file could not be written: {reason}")
    return FileError(message, path=str(path), reason=_(reason), fix=fix, code=exc.errno or 0)
