"""The results store. One run = a directory (or object-store prefix) holding
`manifest.json` and immutable Parquet chunks; a chunk belongs to the run only once the manifest
lists it, so a crash at any point leaves either the old or the new state, never a torn one."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from simtest.core.errors import StoreError, StoreUnavailableError
from simtest.contract.results import BASE_COLUMNS, CHECK_PREFIX, MARGIN_PREFIX, METRIC_PREFIX, EpisodeResult

if TYPE_CHECKING:  # pragma: no cover - typing only; pyarrow/pandas load lazily
    import pandas

    from simtest.contract.registry import ModelRef

__all__ = ["RunStore", "Run", "RunWriter", "RunInfo", "ChunkInfo", "run_key", "suite_slug", "MANIFEST", "FORMAT"]

log = logging.getLogger("simtest.execution.store")

MANIFEST = "manifest.json"
CHUNKS = "chunks"
FORMAT = 1


def suite_slug(suite: str) -> str:
    """`scenarios/driving/smoke.yaml` -> `scenarios-driving-smoke`: one path segment."""
    s = re.sub(r"\.ya?ml$", "", suite.strip())
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", s).strip("-.").lower()
    return s or "suite"


def run_key(suite: str, model: "ModelRef", env_build: str) -> str:
    """Relative location of a run: reused only when suite, model digest and env build agree."""
    return f"{suite_slug(suite)}/{model.name}@{model.version}/{model.digest[:8]}-{env_build[:8]}"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _simtest_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("simtest")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


@dataclass(frozen=True)
class ChunkInfo:
    """One committed chunk as listed in the manifest."""

    file: str  # relative to the run directory
    rows: int
    bytes: int
    sha256: str
    committed: str = ""

    def to_json(self) -> dict:
        return {"file": self.file, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256,
                "committed": self.committed}

    @staticmethod
    def from_json(d: dict) -> "ChunkInfo":
        return ChunkInfo(file=str(d["file"]), rows=int(d["rows"]), bytes=int(d["bytes"]),
                         sha256=str(d["sha256"]), committed=str(d.get("committed", "")))


# --------------------------------------------------------------------------- manifest entries

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _chunk_entry_problem(entry: Any) -> str | None:
    """Why a manifest's chunk entry cannot be trusted, or None. A run directory may come from a
    shared store that many jobs write (docs/security.md): its manifest is untrusted input. A
    chunk must be a plain relative path `chunks/<name>.parquet` inside the run directory (no
    `..`, no absolute path, no drive, URI or backslash), with an integer size and row count and
    a sha256 digest, so that reading a run never touches a file outside it."""
    if not isinstance(entry, dict):
        return f"is {type(entry).__name__}, not an entry with file, rows, bytes and sha256"
    f = entry.get("file")
    if not isinstance(f, str) or not f:
        return "has no file name"
    shown = json.dumps(f)[:120]
    parts = f.split("/")
    if (f.startswith("/") or "\\" in f or ":" in f or "\x00" in f or any(p in ("", ".", "..") for p in parts)
            or len(parts) != 2 or parts[0] != CHUNKS or not parts[1].endswith(".parquet")):
        return f"file {shown} is not a chunk inside the run directory ({CHUNKS}/<name>.parquet)"
    for key in ("rows", "bytes"):
        v = entry.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            return f"file {shown}: {key} is {json.dumps(v)[:40]}, not a count"
    if not isinstance(entry.get("sha256"), str) or not _SHA256.fullmatch(entry["sha256"]):
        return f"file {shown}: sha256 is not a hex digest"
    return None


# --------------------------------------------------------------------------- filesystems


class _Files:
    """The few file operations the store needs. The local filesystem gets real durability
    (fsync + rename + directory fsync + an advisory lock); any other pyarrow filesystem (an
    object store) relies on a single PUT being atomic: the object appears whole or not at all."""

    def __init__(self, fs: Any, local: bool, *, root: str = "", uri: str = "", query: str = ""):
        self.fs = fs
        self.local = local
        # how a path of this filesystem is written as a URI: `root` (a pyarrow path) is `uri`
        # (scheme://..., secrets removed), and `query` (endpoint_override=...) goes at the end
        self._root, self._uri, self._query = root, uri, query

    def join(self, *parts: str) -> str:
        return "/".join(p.rstrip("/") for p in parts if p)

    def uri(self, path: str) -> str:
        """`path` as the user writes it: a local path, or the URI (with its query, without
        credentials) that `--results`, `--resume` and `compare` accept."""
        if self.local or not self._uri or not (path == self._root or path.startswith(self._root.rstrip("/") + "/")):
            return path
        return self._uri.rstrip("/") + path[len(self._root.rstrip("/")):] + (f"?{self._query}" if self._query else "")

    @contextlib.contextmanager
    def _io(self, what: str, path: str) -> Iterator[None]:
        """A store that cannot be reached or refuses a request (network, endpoint, credentials,
        permissions, a missing bucket, a full disk) is an infrastructure failure: one line naming
        the results location, exit 3. A file or object missing on a read stays FileNotFoundError."""
        try:
            yield
        except OSError as exc:
            if isinstance(exc, StoreError) or (what == "read" and isinstance(exc, FileNotFoundError)):
                raise
            why = " ".join(str(exc).split()) or exc.__class__.__name__
            hint = ("check that the directory exists, is writable and has space" if self.local else
                    "check the endpoint, the bucket, the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
                    'see docs/cluster.md, "Object stores") and the network')
            raise StoreUnavailableError(f'results location "{self.uri(path)}": cannot {what} ({why}); {hint}') from None

    def exists(self, path: str) -> bool:
        if self.local:
            return os.path.exists(path)
        from pyarrow import fs as pafs

        with self._io("read", path):
            return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def makedirs(self, path: str) -> None:
        if self.local:
            with self._io("create", path):
                os.makedirs(path, exist_ok=True)
        else:
            with self._io("create", path):
                self.fs.create_dir(path, recursive=True)

    def read_bytes(self, path: str) -> bytes:
        if self.local:
            with open(path, "rb") as f:
                return f.read()
        with self._io("read", path), self.fs.open_input_stream(path) as f:
            return f.read()

    def write_atomic(self, path: str, data: bytes) -> None:
        """Publish `data` at `path` so that readers see the old content or the new, never a part."""
        if self.local:
            d, base = os.path.split(path)
            tmp = os.path.join(d, f".{base}.{uuid.uuid4().hex[:8]}.tmp")
            with self._io("write", path):
                self._write_local(tmp, path, data)
            _fsync_dir(d)
        else:  # one PUT when the stream closes: a writer killed before that leaves nothing
            with self._io("write", path), self.fs.open_output_stream(path) as f:
                f.write(data)

    @staticmethod
    def _write_local(tmp: str, path: str, data: bytes) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def list_dirs(self, path: str) -> list[str]:
        """Names of the sub-directories (object-store prefixes) of `path`; [] when there is none."""
        return self._entries(path, dirs=True)

    def list_files(self, path: str) -> list[str]:
        """Names of the plain files directly in `path`; [] when there is none."""
        return self._entries(path, dirs=False)

    def _entries(self, path: str, *, dirs: bool) -> list[str]:
        if self.local:
            try:
                return sorted(e.name for e in os.scandir(path)
                              if (e.is_dir if dirs else e.is_file)(follow_symlinks=False))
            except (FileNotFoundError, NotADirectoryError):
                return []
        from pyarrow import fs as pafs

        want = pafs.FileType.Directory if dirs else pafs.FileType.File
        with self._io("list", path):
            infos = self.fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
        return sorted(i.base_name for i in infos if i.type == want)

    def delete_file(self, path: str) -> None:
        with self._io("delete", path), contextlib.suppress(FileNotFoundError):
            if self.local:
                os.unlink(path)
            else:
                self.fs.delete_file(path)

    def delete_tree(self, path: str) -> None:
        with self._io("delete", path):
            if self.local:
                import shutil

                shutil.rmtree(path)
            else:
                self.fs.delete_dir(path)

    def try_lock(self, directory: str) -> bool | None:
        """Whether no writer holds the run's local lock right now (None on object stores: no lock)."""
        if not self.local:
            return None
        import fcntl

        try:
            fd = os.open(os.path.join(directory, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        return True

    @contextlib.contextmanager
    def lock(self, directory: str) -> Iterator[None]:
        """Serialise writers of one run on the local filesystem (a second driver resuming the
        same run must not interleave manifest updates). Object stores: one driver per run."""
        if not self.local:
            yield
            return
        import fcntl

        with self._io("lock", directory):
            fd = os.open(os.path.join(directory, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _inside(path: str, directory: str) -> bool:
    """Whether `path`, with every link resolved, lies inside `directory` (local files)."""
    real, top = os.path.realpath(path), os.path.realpath(directory)
    return os.path.commonpath([real, top]) == top


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


_SECRET_PARAMS = ("secret", "token", "password", "key")


def _public_uri(uri: str) -> tuple[str, str]:
    """(`scheme://host/path` without user:password, the query without secret values)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    u = urlsplit(uri)
    netloc = u.netloc.rpartition("@")[2]
    query = [(k, "***" if any(w in k.lower() for w in _SECRET_PARAMS) else v)
             for k, v in parse_qsl(u.query, keep_blank_values=True)]
    return urlunsplit((u.scheme, netloc, u.path, "", "")), urlencode(query, safe=":/,*")


def _filesystem(root: str, filesystem: Any = None) -> tuple[_Files, str]:
    if filesystem is not None:
        from pyarrow import fs as pafs

        local = isinstance(filesystem, pafs.LocalFileSystem)
        return _Files(filesystem, local), (os.path.abspath(root) if local else root.rstrip("/"))
    if "://" not in root:
        return _Files(None, True), os.path.abspath(os.path.expanduser(root))
    from pyarrow import fs as pafs

    uri, query = _public_uri(root)
    try:
        fs, path = pafs.FileSystem.from_uri(root)
    except ValueError as exc:  # pyarrow.ArrowInvalid: the URI itself is wrong
        raise StoreError(f'results location "{uri}" is not usable ({" ".join(str(exc).split())}); pass a local '
                         "path or a URI pyarrow.fs understands (file://, s3://, gs://, hdfs://)") from None
    except OSError as exc:  # e.g. resolving an S3 bucket's region over the network
        raise StoreUnavailableError(f'results location "{uri}": cannot be reached ({" ".join(str(exc).split())}); '
                                    "check the endpoint, the credentials and the network") from None
    if isinstance(fs, pafs.LocalFileSystem):
        return _Files(None, True), path
    path = path.rstrip("/")
    return _Files(fs, False, root=path, uri=uri, query=query), path


# --------------------------------------------------------------------------- store


class RunStore:
    """All runs under one root (a local path or a pyarrow.fs URI such as s3://bucket/prefix)."""

    def __init__(self, root: str, *, filesystem: Any = None):
        self.root_uri = str(root)
        self._files, self.root = _filesystem(str(root), filesystem)

    def __repr__(self) -> str:
        return f"RunStore({self.root_uri!r})"

    def run_path(self, suite: str, model: "ModelRef", env_build: str) -> str:
        return self._files.join(self.root, run_key(suite, model, env_build))

    def lookup(self, suite: str, model: "ModelRef", env_build: str) -> "Run | None":
        """The existing run for (suite, model digest, env build), or None. Creates nothing."""
        path = self.run_path(suite, model, env_build)
        if not self._files.exists(self._files.join(path, MANIFEST)):
            return None
        run = Run(self._files, path)
        run._check_identity(model, env_build)
        return run

    def open_run(self, suite: str, model: "ModelRef", env_build: str, *, suite_path: str | None = None,
                 extra: dict | None = None, provenance: dict | None = None) -> "Run":
        """Open the run for (suite, model, env build), creating it if needed (resumable).
        `suite_path` (what `simtest run --resume RUN` replans from), `extra` (any JSON-able
        facts) and `provenance` (git commit/branch/dirty and CI job, simtest.execution.provenance)
        are recorded in a new run's manifest."""
        existing = self.lookup(suite, model, env_build)
        if existing is not None:
            return existing
        path = self.run_path(suite, model, env_build)
        f = self._files
        f.makedirs(f.join(path, CHUNKS))
        manifest = {
            "format": FORMAT,
            "run_key": run_key(suite, model, env_build),
            "suite": suite,
            "suite_path": os.path.abspath(suite_path) if suite_path and "://" not in suite_path else suite_path,
            "model": {
                "label": model.label, "name": model.name, "version": model.version,
                "digest": model.digest, "manifest": model.manifest, "entry_point": model.entry_point,
                **({"training": model.training} if getattr(model, "training_json", "{}") != "{}" else {}),
            },
            "env_build": env_build,
            "created": _now(),
            "simtest_version": _simtest_version(),
            "provenance": {**(provenance or {}), "code": {"model_digest": model.digest,
                                                          "agent_code": model.code_digest, "env_build": env_build}},
            **({"extra": dict(extra)} if extra else {}),
            "chunks": [],
            "rejected": [],
        }
        with f.lock(path):
            if not f.exists(f.join(path, MANIFEST)):  # another driver may have won the race
                f.write_atomic(f.join(path, MANIFEST), _dump(manifest))
        run = Run(f, path)
        run._check_identity(model, env_build)
        return run

    def open_key(self, run_key: str) -> "Run":
        """The existing run `<suite>/<model@version>/<digest-build>` under this root."""
        parts = run_key.split("/")
        if len(parts) != 3 or any(p in ("", ".", "..") for p in parts):
            raise StoreError(f'"{run_key}" is not a run key (<suite>/<model@version>/<digest-build>)')
        return self.open_run_path(self._files.join(self.root, run_key))

    def open_run_path(self, path: str) -> "Run":
        """An existing run directory (e.g. `simtest compare --candidate RUN`)."""
        f = self._files
        if f.local or "://" in path:
            return open_run_path(path)
        p = path.rstrip("/")
        if not f.exists(f.join(p, MANIFEST)):
            raise StoreError(f"{f.uri(p)}: not a simtest run (no {MANIFEST})")
        return Run(f, p)


    # ------------------------------------------------------------------ listing and removal

    def runs(self, *, suite: str | None = None, model: str | None = None) -> list["RunInfo"]:
        """Every stored run under the root (`<suite>/<model@version>/<digest-build>/manifest.json`),
        newest first; `suite` (name or slug) and `model` (name@version or name) filter. A run whose
        manifest cannot be read is listed with its problem rather than hidden."""
        f = self._files
        want_suite = suite_slug(suite) if suite else None
        out: list[RunInfo] = []
        for s in f.list_dirs(self.root):
            if want_suite and s != want_suite:
                continue
            for m in f.list_dirs(f.join(self.root, s)):
                if model and m != model and m.split("@")[0] != model:
                    continue
                for k in f.list_dirs(f.join(self.root, s, m)):
                    path = f.join(self.root, s, m, k)
                    if not f.exists(f.join(path, MANIFEST)):
                        continue
                    out.append(RunInfo.of(f, path, f"{s}/{m}/{k}"))
        return sorted(out, key=lambda r: (r.created, r.key), reverse=True)

    def delete(self, info: "RunInfo") -> None:
        """Remove a stored run: the manifest first (readers and `lookup` stop seeing the run at
        once), then its chunks. Refuses a run that is being written (StoreError)."""
        f = self._files
        if not info.path.startswith(self.root.rstrip("/") + "/"):
            raise StoreError(f"{info.path} is not a run under {self.root_uri}")
        writing = RunInfo.of(f, info.path, info.key).writing
        if writing:
            raise StoreError(f"{info.path}: being written ({writing}); not removed")
        f.delete_file(f.join(info.path, MANIFEST))
        f.delete_tree(info.path)


    # ------------------------------------------------------------------ branch pointers

    def _pointer(self, suite: str, model_label: str, branch: str) -> str:
        from urllib.parse import quote

        f = self._files
        return f.join(self.root, suite_slug(suite), model_label, BRANCHES, quote(branch, safe="") + ".json")

    def set_branch_run(self, run: "Run", branch: str, provenance: dict) -> None:
        """Record that `branch`'s code, at the commit in `provenance`, gives `run` (a run of that
        code, complete for what the job asked). Written by jobs on the branch itself (never by a
        pull request's job), read by `--baseline REF@BRANCH`. The later write wins: the pointer
        follows the branch through merges and reverts, whichever job first created the run."""
        git = provenance.get("git") or {}
        doc = {"branch": branch, "run_key": run.key, "commit": git.get("commit"), "at": _now(),
               "ci": provenance.get("ci")}
        path = self._pointer(run.suite, run.model_label, branch)
        self._files.makedirs(path.rsplit("/", 1)[0])
        self._files.write_atomic(path, _dump(doc))

    def branch_run(self, suite: str, model_label: str, branch: str) -> dict | None:
        """The pointer `set_branch_run` left for (suite, model, branch), or None."""
        return self._read_pointer(self._pointer(suite, model_label, branch))

    def _read_pointer(self, path: str) -> dict | None:
        try:
            doc = json.loads(self._files.read_bytes(path))
        except FileNotFoundError:
            return None
        except ValueError:
            log.warning("%s: unreadable branch pointer; ignored", path)
            return None
        key = doc.get("run_key") if isinstance(doc, dict) else None
        ok = isinstance(key, str) and len(key.split("/")) == 3 and ".." not in key.split("/")
        return doc if ok else None

    def pointed_keys(self) -> set[str]:
        """Run keys that some branch pointer names (`runs gc` keeps them)."""
        f = self._files
        out: set[str] = set()
        for s in f.list_dirs(self.root):
            for m in f.list_dirs(f.join(self.root, s)):
                for name in f.list_files(f.join(self.root, s, m, BRANCHES)):
                    doc = self._read_pointer(f.join(self.root, s, m, BRANCHES, name))
                    if doc is not None:
                        out.add(doc["run_key"])
        return out


BRANCHES = "branches"  # <suite>/<model@version>/branches/<branch>.json: which run a branch's code gives

# A writer refreshes its lease whenever it commits a chunk; a lease older than this is a writer
# that died (SIGKILL, lost node) and no longer protects the run from `simtest runs gc`.
LEASE_STALE_S = 6 * 3600.0
LEASES = "leases"


def _parse_time(text: str) -> float:
    try:
        return _dt.datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class RunInfo:
    """One stored run as `simtest runs` lists it."""

    path: str  # in the store's filesystem
    key: str
    suite: str
    model: str  # name@version
    digest: str
    env_build: str
    created: str
    updated: str
    rows: int
    bytes: int
    chunks: int
    provenance: dict
    writing: str  # "" when no live writer holds the run, else who does
    problem: str = ""  # why the manifest could not be read
    location: str = ""  # as the user writes it (a local path, or the URI with its query): what --baseline-run takes

    @staticmethod
    def of(files: "_Files", path: str, key: str) -> "RunInfo":
        try:
            run = Run(files, path)
        except StoreUnavailableError:
            raise  # the store, not this run: never listed as a damaged run (or skipped as one)
        except StoreError as exc:
            return RunInfo(path, key, key.split("/")[0], key.split("/")[1], "", "", "", "", 0, 0, 0, {}, "",
                           problem=str(exc), location=files.uri(path))
        m = run.manifest
        chunks = run.chunks
        return RunInfo(path=path, key=key, suite=str(m.get("suite", "")), model=str(m.get("model", {}).get("label", "")),
                       digest=str(m.get("model", {}).get("digest", "")), env_build=str(m.get("env_build", "")),
                       created=str(m.get("created", "")), updated=str(m.get("updated", m.get("created", ""))),
                       rows=sum(c.rows for c in chunks), bytes=sum(c.bytes for c in chunks), chunks=len(chunks),
                       provenance=dict(m.get("provenance") or {}), writing=_live_writer(files, path),
                       location=files.uri(path))

    @property
    def age_s(self) -> float:
        return max(0.0, time.time() - _parse_time(self.updated or self.created))

    @property
    def branch(self) -> str | None:
        return ((self.provenance.get("git") or {}).get("branch")) or None

    @property
    def commit(self) -> str | None:
        return ((self.provenance.get("git") or {}).get("commit")) or None


def _live_writer(files: "_Files", path: str) -> str:
    """Who is writing the run now: a fresh lease, or (local runs) a held lock; "" if nobody."""
    if files.try_lock(path) is False:
        return "a writer holds its lock"
    now = time.time()
    for name in files.list_files(files.join(path, LEASES)):
        try:
            lease = json.loads(files.read_bytes(files.join(path, LEASES, name)))
            beat = _parse_time(str(lease.get("heartbeat", "")))
        except FileNotFoundError:  # released between the listing and the read
            continue
        except (ValueError, AttributeError):  # half-written or foreign: assume a live writer
            return f"an unreadable writer lease {name}"
        if now - beat < LEASE_STALE_S:
            return f"writer pid {lease.get('pid')} on {lease.get('host')}, last commit {lease.get('heartbeat')}"
    return ""


def open_run_path(path: str) -> "Run":
    """Open an existing run directory or URI; StoreError naming the path when it is not one
    (StoreUnavailableError, exit 3, when an object store cannot be reached)."""
    files, p = _filesystem(str(path))
    if not files.exists(files.join(p, MANIFEST)):
        raise StoreError(f"{files.uri(p)}: not a simtest run (no {MANIFEST}); pass a run directory such as "
                         f".simtest/results/<suite>/<model>@<version>/<digest>-<build> or its URI")
    return Run(files, p)


def _dump(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode()


class Run:
    """One (suite, model, env build) execution: a manifest plus committed Parquet chunks."""

    def __init__(self, files: _Files, path: str):
        self._files = files
        self.path = path
        self._ids_by_chunk: dict[str, frozenset[str]] = {}  # chunks are immutable: cache forever
        self._bad: dict[str, str] = {}  # chunk file -> why it cannot be read
        self.manifest = self._load_manifest()

    def __repr__(self) -> str:
        return f"Run({self.path!r})"

    @property
    def location(self) -> str:
        """Where the run is, as `--resume`, `compare` and `replay --run` accept it: the local
        path, or the URI with its query (endpoint, region) and without credentials."""
        return self._files.uri(self.path)

    # ------------------------------------------------------------------ manifest

    def _load_manifest(self) -> dict:
        mpath = self._files.join(self.path, MANIFEST)
        try:
            raw = self._files.read_bytes(mpath)
        except FileNotFoundError:
            raise StoreError(f"{self.path}: not a simtest run (no {MANIFEST})") from None
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise StoreError(f"{mpath}: manifest is not valid JSON ({exc}); the run is damaged, "
                             "delete the run directory to recompute it") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("chunks"), list):
            raise StoreError(f"{mpath}: unsupported manifest (format {doc.get('format') if isinstance(doc, dict) else '?'}, "
                             f"expected {FORMAT}); it was written by another simtest version, rerun the suite")
        bad = [f"chunks[{i}]: {why}" for i, entry in enumerate(doc["chunks"]) if (why := _chunk_entry_problem(entry))]
        if bad:
            more = f" (+{len(bad) - 3} more)" if len(bad) > 3 else ""
            raise StoreError(f"{mpath}: manifest refused, it was altered or damaged: {'; '.join(bad[:3])}{more}; "
                             "nothing of this run was read: delete the run directory to recompute it, and "
                             "check who can write to the results location")
        return doc

    def refresh(self) -> None:
        self.manifest = self._load_manifest()

    def _check_identity(self, model: "ModelRef", env_build: str) -> None:
        m = self.manifest
        if m["model"].get("digest") != model.digest or m.get("env_build") != env_build:
            raise StoreError(f"{self.path}: holds model digest {m['model'].get('digest')} / env build "
                             f"{m.get('env_build')}, not {model.digest} / {env_build} (a hash-prefix clash); "
                             "move that run directory away")

    @property
    def suite(self) -> str:
        return self.manifest["suite"]

    @property
    def model_label(self) -> str:
        return self.manifest["model"]["label"]

    @property
    def model_digest(self) -> str:
        return self.manifest["model"]["digest"]

    @property
    def env_build(self) -> str:
        return self.manifest["env_build"]

    @property
    def key(self) -> str:
        return self.manifest["run_key"]

    @property
    def chunks(self) -> tuple[ChunkInfo, ...]:
        return tuple(ChunkInfo.from_json(c) for c in self.manifest["chunks"])

    @property
    def problems(self) -> list[str]:
        """Chunks listed in the manifest that could not be read (their cases count as missing)."""
        return [f"{self._files.join(self.path, f)}: {why}" for f, why in sorted(self._bad.items())]

    # ------------------------------------------------------------------ reading

    def _load_chunk(self, c: ChunkInfo, columns: Sequence[str] | None = None) -> Any:
        """The chunk as a pyarrow Table, or None (recorded in `problems`) when it is missing,
        truncated or altered. The size and hash are checked before Parquet sees a byte."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if c.file in self._bad:
            return None
        full = self._files.join(self.path, c.file)
        if self._files.local and not _inside(full, self.path):  # a symlink (of the chunk or chunks/) leads out
            return self._reject(c, "resolves to a file outside the run directory (a symbolic link); not read")
        try:
            data = self._files.read_bytes(full)
        except StoreUnavailableError:  # the store, not the chunk: never reject a chunk for that
            raise
        except (FileNotFoundError, OSError) as exc:
            return self._reject(c, f"cannot be read ({exc.__class__.__name__}: {exc})")
        if len(data) != c.bytes:
            return self._reject(c, f"truncated or altered: {len(data)} bytes, manifest says {c.bytes}")
        if hashlib.sha256(data).hexdigest() != c.sha256:
            return self._reject(c, "altered: sha256 differs from the manifest")
        try:
            table = pq.read_table(pa.BufferReader(data), columns=list(columns) if columns else None)
        except Exception as exc:  # noqa: BLE001 - any decode failure means the chunk is unusable
            return self._reject(c, f"not a readable Parquet file ({exc})")
        if table.num_rows != c.rows:
            return self._reject(c, f"holds {table.num_rows} rows, manifest says {c.rows}")
        return table

    def _reject(self, c: ChunkInfo, why: str) -> None:
        self._bad[c.file] = why
        log.warning("%s: %s; its cases count as missing and will be rerun",
                    self._files.join(self.path, c.file), why)
        return None

    def case_ids(self) -> set[str]:
        """Case ids with a committed row (in a chunk that verifies)."""
        out: set[str] = set()
        for c in self.chunks:
            ids = self._ids_by_chunk.get(c.file)
            if ids is None:
                table = self._load_chunk(c, columns=["case_id"])
                if table is None:
                    continue
                ids = self._ids_by_chunk[c.file] = frozenset(table.column("case_id").to_pylist())
            out |= ids
        return out

    def missing(self, case_ids: Iterable[str]) -> list[str]:
        """The given case ids without a committed row, in the given order."""
        have = self.case_ids()
        return [c for c in case_ids if c not in have]

    def __len__(self) -> int:
        return len(self.case_ids())

    def read(self) -> "pandas.DataFrame":
        """All committed rows, one per case (the first committed wins should a duplicate ever
        appear), columns in BASE_COLUMNS order then metric_* and check_* sorted by name."""
        import pandas as pd
        import pyarrow as pa

        tables = []
        for c in self.chunks:
            t = self._load_chunk(c)
            if t is not None:  # check columns of older or foreign writers become bool first
                t, why = _typed_checks(t)
                if why:
                    raise StoreError(f"{self._files.join(self.path, c.file)}: {why}; this chunk was not written "
                                     "by simtest: remove it from the manifest or rerun the run")
                tables.append(t)
        if not tables:
            return pd.DataFrame({c: pd.Series(dtype=_EMPTY_DTYPES.get(c, "object")) for c in BASE_COLUMNS})
        table = pa.concat_tables(tables, promote_options="permissive")
        df = table.to_pandas()
        df = df.drop_duplicates(subset="case_id", keep="first").reset_index(drop=True)
        names = list(df.columns)
        metrics = sorted(n for n in names if n.startswith(METRIC_PREFIX))
        checks = sorted(n for n in names if n.startswith(CHECK_PREFIX))
        base = [n for n in BASE_COLUMNS if n in names]
        rest = sorted(set(names) - set(base) - set(metrics) - set(checks))
        df = df[base + metrics + checks + rest]
        for n in metrics:
            df[n] = df[n].astype("float64")
        for n in checks:  # nullable: an errored episode has no check values
            df[n] = df[n].astype("boolean")
        for n in rest:
            if n.startswith(MARGIN_PREFIX):
                df[n] = df[n].astype("float64")
        return df

    # ------------------------------------------------------------------ writing

    def append(self, results: Sequence[EpisodeResult]) -> int:
        """Commit `results` as one chunk; returns the number of rows written. Cases that already
        have a committed row (or repeat within `results`) are skipped: never a duplicate row."""
        f = self._files
        with f.lock(self.path):
            self.refresh()  # another writer may have committed since we last looked
            have = self.case_ids()
            rows: list[dict] = []
            seen: set[str] = set()
            for r in results:
                if r.model_digest != self.model_digest:
                    raise StoreError(f"{self.path}: refusing a result of model digest {r.model_digest} in a run of "
                                     f"{self.model_label} (digest {self.model_digest}); open the model's own run")
                cid = r.case.case_id
                if cid in have or cid in seen:
                    continue
                seen.add(cid)
                rows.append(r.to_row())
            skipped = len(results) - len(rows)
            if skipped:
                log.info("%s: skipped %d result(s) whose case already has a committed row", self.path, skipped)
            if not rows:
                return 0
            data = _to_parquet(rows)
            seq = len(self.manifest["chunks"]) + len(self.manifest.get("rejected", [])) + 1
            name = f"{CHUNKS}/part-{seq:06d}-{uuid.uuid4().hex[:8]}.parquet"
            # Publish the data first; the manifest write below is the commit point.
            f.write_atomic(f.join(self.path, name), data)
            info = ChunkInfo(file=name, rows=len(rows), bytes=len(data),
                             sha256=hashlib.sha256(data).hexdigest(), committed=_now())
            manifest = dict(self.manifest)
            chunks = [c for c in manifest["chunks"] if c["file"] not in self._bad]
            rejected = list(manifest.get("rejected", []))
            rejected += [{"file": c["file"], "reason": self._bad[c["file"]], "at": _now()}
                         for c in manifest["chunks"] if c["file"] in self._bad]
            manifest["chunks"] = chunks + [info.to_json()]
            manifest["rejected"] = rejected
            manifest["updated"] = _now()
            f.write_atomic(f.join(self.path, MANIFEST), _dump(manifest))
            self.manifest = manifest
            self._ids_by_chunk[name] = frozenset(seen)
            return len(rows)

    def writer(self, flush_rows: int = 1000, flush_s: float = 2.0) -> "RunWriter":
        """A buffer for streamed results: a chunk is committed every `flush_rows` results or
        `flush_s` seconds, whichever comes first, and on exit (also on an exception). A driver
        killed outright loses at most what arrived since the last commit (~`flush_s`)."""
        return RunWriter(self, flush_rows=flush_rows, flush_s=flush_s)


_EMPTY_DTYPES = {"seed": "int64", "sample": "int64", "seed_index": "int64", "steps": "int64",
                 "attempt": "int64", "wall_s": "float64", "passed": "bool"}


def _schema(rows: list[dict]) -> Any:
    import pyarrow as pa

    fields = {
        "case_id": pa.string(), "scenario": pa.string(), "scenario_hash": pa.string(), "env": pa.string(),
        "seed": pa.int64(), "sample": pa.int64(), "seed_index": pa.int64(), "params": pa.string(),
        "tags": pa.list_(pa.string()), "model": pa.string(), "model_version": pa.string(),
        "model_digest": pa.string(), "env_build": pa.string(), "outcome": pa.string(), "passed": pa.bool_(),
        "steps": pa.int64(), "wall_s": pa.float64(), "error": pa.string(), "attempt": pa.int64(),
        "trace_path": pa.string(), "trace_digest": pa.string(), "horizon": pa.int64(), "checks": pa.string(),
    }
    extra: set[str] = set()
    for r in rows:
        extra.update(k for k in r if k not in fields)
    out = [pa.field(n, fields[n]) for n in BASE_COLUMNS if n in fields]
    for n in sorted(extra):
        if n.startswith((METRIC_PREFIX, MARGIN_PREFIX)):
            out.append(pa.field(n, pa.float64()))
        elif n.startswith(CHECK_PREFIX):
            out.append(pa.field(n, pa.bool_()))
        else:
            out.append(pa.field(n, pa.string()))
    return pa.schema(out)


def _to_parquet(rows: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=_schema(rows))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


_TRUE, _FALSE = ("true", "1", "1.0", "yes"), ("false", "0", "0.0", "no")


def _typed_checks(table: Any) -> tuple[Any, str]:
    """The table with every `check_*` column as Arrow bool (null: no value), and "" or why it
    cannot be. simtest writes bool (_schema); a chunk from an older or another writer may hold a
    check as null (every episode errored), as 1.0 / 0.0 / NaN (pandas' float of a column mixing
    None and NaN), as an integer or as text ("True"); those read as the same nullable booleans."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, f in enumerate(table.schema):
        if not f.name.startswith(CHECK_PREFIX) or pa.types.is_boolean(f.type):
            continue
        col = table.column(i)
        if pa.types.is_null(f.type):
            new = pa.nulls(len(col), pa.bool_())
        elif pa.types.is_floating(f.type) or pa.types.is_integer(f.type):
            if pa.types.is_floating(f.type):
                col = pc.if_else(pc.is_nan(col), pa.scalar(None, f.type), col)
            bad = pc.drop_null(pc.filter(col, pc.invert(pc.is_in(col, pa.array([0, 1], f.type)))))
            if len(bad):
                return table, f"column {f.name} holds {bad[0].as_py()!r}, not a check value (0 or 1)"
            new = pc.not_equal(col, pa.scalar(0, f.type))
        elif pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            low = pc.utf8_lower(pc.utf8_trim_whitespace(col))
            yes, no = pc.is_in(low, pa.array(_TRUE)), pc.is_in(low, pa.array(_FALSE))
            bad = pc.drop_null(pc.filter(col, pc.invert(pc.or_(yes, no))))
            if len(bad):
                return table, f"column {f.name} holds {bad[0].as_py()!r}, not a check value (true or false)"
            new = pc.if_else(pc.is_null(col), pa.scalar(None, pa.bool_()), yes)
        else:
            return table, f"column {f.name} is {f.type}, not a check value (bool)"
        table = table.set_column(i, pa.field(f.name, pa.bool_()), new)
    return table, ""


class RunWriter:
    """Buffers streamed results and commits them in chunks (see Run.writer)."""

    def __init__(self, run: Run, *, flush_rows: int = 1000, flush_s: float = 2.0):
        if flush_rows < 1:
            raise ValueError("flush_rows must be >= 1")
        self.run = run
        self.flush_rows = flush_rows
        self.flush_s = flush_s
        self._buf: list[EpisodeResult] = []
        self._last = time.monotonic()
        self.written = 0
        self.chunks = 0
        self._lease: str | None = None

    def _beat(self) -> None:
        """Write (or refresh) this writer's lease: `simtest runs gc` never removes a run with a
        fresh one. Best effort: a lease that cannot be written only weakens that protection."""
        import socket

        f = self.run._files
        if self._lease is None:
            self._lease = f.join(self.run.path, LEASES, f"{uuid.uuid4().hex}.json")
            with contextlib.suppress(OSError):
                f.makedirs(f.join(self.run.path, LEASES))
        lease = {"pid": os.getpid(), "host": socket.gethostname(), "heartbeat": _now()}
        try:
            f.write_atomic(self._lease, _dump(lease))
        except OSError as exc:
            log.debug("%s: lease not written (%s)", self.run.path, exc)

    def _release(self) -> None:
        if self._lease is not None:
            with contextlib.suppress(OSError):
                self.run._files.delete_file(self._lease)
            self._lease = None

    def add(self, result: EpisodeResult) -> None:
        if self._lease is None:  # also writers used without `with` (the pytest plugin's)
            self._beat()
        self._buf.append(result)
        if len(self._buf) >= self.flush_rows or time.monotonic() - self._last >= self.flush_s:
            self.flush()

    write = add

    def extend(self, results: Iterable[EpisodeResult]) -> None:
        for r in results:
            self.add(r)

    def flush(self) -> int:
        self._last = time.monotonic()
        if not self._buf:
            return 0
        buf, self._buf = self._buf, []
        n = self.run.append(buf)
        self.written += n
        self.chunks += 1 if n else 0
        if n and self._lease is not None:
            self._beat()
        return n

    @property
    def pending(self) -> int:
        return len(self._buf)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._release()

    def __enter__(self) -> "RunWriter":
        self._beat()
        return self

    def __exit__(self, *exc: Any) -> None:
        # Results already produced are valid whatever stopped the sweep: commit them.
        self.close()
