"""`segedu.data.download` against a local HTTP server serving archives the test builds (never the internet)."""

from __future__ import annotations

import hashlib
import http.server
import os
import io
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest

from segedu.__main__ import main
from segedu.data.download import SOURCES, Source, download, read_manifest
from segedu.errors import DownloadError

FILES = {"train/image/0.png": b"\x89PNG fake image", "train/label/0.png": b"label bytes", "test/0.png": b"test bytes"}


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www over HTTP on a free localhost port; yield its base URL."""
    www = tmp_path / "www"
    www.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def make_source(tmp_path: Path, url: str, files: dict[str, bytes] = FILES) -> Source:
    manifest = tmp_path / "toy.sha256"
    manifest.write_text("".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files.items()))
    return Source("toy", url, "repo-master/data", manifest, "test data")


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)


def test_downloads_verifies_and_extracts_only_the_data(server, tmp_path):
    www, base = server
    write_zip(www / "toy.zip", {**{f"repo-master/data/{k}": v for k, v in FILES.items()},
                                "repo-master/README.md": b"other files of the repository", "repo-master/data/test/0_predict.png": b"x"})
    target = download("toy", tmp_path / "root", source=make_source(tmp_path, f"{base}/toy.zip"), progress=False)
    assert target == tmp_path / "root" / "toy"
    assert {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()} == set(FILES)
    assert (target / "train/label/0.png").read_bytes() == b"label bytes"
    assert [p.name for p in (tmp_path / "root").iterdir()] == ["toy"], "no partial files are left"
    # a second call finds the verified copy and downloads nothing (the server no longer has the file)
    (www / "toy.zip").unlink()
    assert download("toy", tmp_path / "root", source=make_source(tmp_path, f"{base}/toy.zip"), progress=False) == target


def test_tar_archives_work_too(server, tmp_path):
    www, base = server
    with tarfile.open(www / "toy.tar.gz", "w:gz") as bundle:
        for name, data in FILES.items():
            info = tarfile.TarInfo(f"repo-master/data/{name}")
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    target = download("toy", tmp_path / "root", source=make_source(tmp_path, f"{base}/toy.tar.gz"), progress=False)
    assert (target / "test/0.png").read_bytes() == b"test bytes"


@pytest.mark.fault
def test_altered_content_is_rejected_and_nothing_is_left(server, tmp_path):
    www, base = server
    write_zip(www / "toy.zip", {f"repo-master/data/{k}": (b"tampered" if "label" in k else v) for k, v in FILES.items()})
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match=r"label/0.png does not match its SHA-256"):
        download("toy", root, source=make_source(tmp_path, f"{base}/toy.zip"), progress=False)
    assert list(root.iterdir()) == []


@pytest.mark.fault
def test_missing_file_in_archive(server, tmp_path):
    www, base = server
    write_zip(www / "toy.zip", {"repo-master/data/test/0.png": FILES["test/0.png"]})
    with pytest.raises(DownloadError, match="is missing"):
        download("toy", tmp_path / "root", source=make_source(tmp_path, f"{base}/toy.zip"), progress=False)


@pytest.mark.fault
@pytest.mark.parametrize("evil", ["repo-master/data/../../escape.txt", "/etc/evil.txt"])
def test_path_traversal_is_refused(server, tmp_path, evil):
    www, base = server
    write_zip(www / "toy.zip", {**{f"repo-master/data/{k}": v for k, v in FILES.items()}, evil: b"boom"})
    with pytest.raises(DownloadError, match="unsafe path"):
        download("toy", tmp_path / "root", source=make_source(tmp_path, f"{base}/toy.zip"), progress=False)
    assert not (tmp_path / "escape.txt").exists() and not any((tmp_path / "root").iterdir())


@pytest.mark.fault
def test_tar_symlinks_are_refused(server, tmp_path):
    www, base = server
    with tarfile.open(www / "toy.tar", "w") as bundle:
        link = tarfile.TarInfo("repo-master/data/test/0.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        bundle.addfile(link)
    with pytest.raises(DownloadError, match="not a regular file"):
        download("toy", tmp_path / "root", source=make_source(tmp_path, f"{base}/toy.tar"), progress=False)


@pytest.mark.fault
def test_http_errors_are_reported(server, tmp_path):
    _, base = server
    with pytest.raises(DownloadError, match=r"cannot download .*missing.zip.*404"):
        download("toy", tmp_path / "root", source=make_source(tmp_path, f"{base}/missing.zip"), progress=False)


@pytest.mark.fault
def test_existing_copy_that_does_not_verify_is_kept(tmp_path):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "mine.txt").write_text("my own work")
    with pytest.raises(DownloadError, match="exists but does not verify"):
        download("toy", tmp_path, source=make_source(tmp_path, "http://127.0.0.1:9/never"), progress=False)
    assert (tmp_path / "toy" / "mine.txt").read_text() == "my own work"


def test_the_cli_downloads_isbi_from_a_mirror(server, tmp_path, data_root, capsys):
    """The real ISBI 2012 manifest, an archive laid out like zhixuhao/unet's, served locally as a mirror."""
    www, base = server
    members = {f"unet-master/data/membrane/{name}": (data_root / "isbi2012" / name).read_bytes()
               for name in read_manifest(SOURCES["isbi2012"].manifest)}
    write_zip(www / "unet.zip", members)
    assert main(["data", "download", "isbi2012", "--root", str(tmp_path / "root"), "--url", f"{base}/unet.zip"]) == 0
    assert main(["data", "verify", "isbi2012", "--root", str(tmp_path / "root")]) == 0
    assert "every file matches" in capsys.readouterr().out


def test_the_offline_copies_match_the_manifests(data_root, capsys):
    for name in ("camvid", "isbi2012"):
        assert main(["data", "verify", name, "--root", str(data_root)]) == 0


@pytest.mark.fault
def test_a_dripping_server_is_given_up_and_a_killed_download_is_cleaned(tmp_path):
    """A server that sends a byte now and then never trips a socket timeout; the stall check does."""
    import time

    from segedu.data.download import _fetch, _remove_stale_scratch
    from segedu.errors import DownloadError

    class Drip(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        with pytest.raises(DownloadError, match=r"the server stalled \(\d+ bytes in the last 1 s\)"):
            _fetch(f"http://127.0.0.1:{httpd.server_address[1]}/data.zip", tmp_path / "archive.part",
                   progress=False, stall_seconds=1.0)
        assert time.monotonic() - started < 10
    finally:
        httpd.shutdown()
    stale = tmp_path / ".camvid.999999999.abcd"  # what a killed download of CamVid leaves behind
    stale.mkdir()
    (stale / "archive.part").write_bytes(b"x" * 100)
    live = tmp_path / f".camvid.{os.getpid()}.efgh"  # a download still running in this process
    live.mkdir()
    _remove_stale_scratch(tmp_path, "camvid")
    assert not stale.exists() and live.exists()
