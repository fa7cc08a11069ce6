"""Issue #32, round two, data and checks: folder data sets, downloads and the exercise checks refuse bad input with
one line naming the culprit, and nothing is left behind. Downloads run against local HTTP servers, never the
internet."""

from __future__ import annotations

import errno
import re
import hashlib
import http.server
import io
import subprocess
import sys
import textwrap
import threading
import zipfile
from pathlib import Path

import pytest
import torch

from segedu.course import checks
from segedu.course.checks import ExerciseFailed, check_concept, compare, harness
from segedu.data import SegmentationFolder, build_dataset
from segedu.data.download import SOURCES, Source, download
from segedu.errors import DataError, DownloadError

download_module = sys.modules["segedu.data.download"]  # `segedu.data.download` itself is the function

# ---- case 1: classes.txt ---------------------------------------------------------------------------------------


@pytest.mark.fault
def test_classes_txt_with_more_than_255_classes_is_refused(folder_dataset):
    (folder_dataset / "classes.txt").write_text("".join(f"class{i}\n" for i in range(300)))
    with pytest.raises(DataError, match=r"classes\.txt names 300 classes; at most 255 fit .*255 is the ignore index"):
        build_dataset(str(folder_dataset), "train", image_size=None)
    with pytest.raises(DataError, match="names 300 classes"):  # the library refuses them too
        SegmentationFolder(folder_dataset / "images", folder_dataset / "masks",
                           class_names=[str(i) for i in range(300)])


@pytest.mark.fault
def test_a_class_named_twice_in_classes_txt_is_refused(folder_dataset):
    (folder_dataset / "classes.txt").write_text("road\ncar\nroad\n")
    with pytest.raises(DataError, match=r"classes\.txt names class 'road' twice \(labels 0 and 2\)"):
        build_dataset(str(folder_dataset), "train", image_size=None)


@pytest.mark.fault
def test_classes_txt_must_be_utf8_and_a_utf8_bom_is_accepted(folder_dataset):
    (folder_dataset / "classes.txt").write_text("road\ncar\nsky\n", encoding="utf-16")
    with pytest.raises(DataError, match=r"classes\.txt is not UTF-8 text \(it is UTF-16.*save it as UTF-8"):
        build_dataset(str(folder_dataset), "train", image_size=None)
    (folder_dataset / "classes.txt").write_text("road\ncar\nsky\n", encoding="utf-8-sig")  # Notepad's UTF-8
    assert build_dataset(str(folder_dataset), "train", image_size=None).class_names == ("road", "car", "sky")


# ---- case 2: a folder named like an image ----------------------------------------------------------------------


@pytest.mark.fault
def test_a_folder_named_like_an_image_is_refused_not_skipped(folder_dataset):
    (folder_dataset / "images" / "frame6.png").mkdir()  # its mask exists: skipping the folder would drop it
    (folder_dataset / "masks" / "frame6.png").write_bytes((folder_dataset / "masks" / "frame0.png").read_bytes())
    with pytest.raises(DataError, match=r"image .*images/frame6\.png is a folder, not an image file"):
        SegmentationFolder(folder_dataset / "images", folder_dataset / "masks", class_names=["road", "car", "sky"])


# ---- case 3: downloads: short, oversized, zip bombs, a full disk -------------------------------------------------

FILES = {"train/image/0.png": b"\x89PNG fake image", "train/label/0.png": b"label bytes", "test/0.png": b"test bytes"}


def toy_source(tmp_path: Path, url: str, files: dict[str, bytes] = FILES) -> Source:
    manifest = tmp_path / "toy.sha256"
    manifest.write_text("".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files.items()))
    return Source("toy", url, "repo-master/data", manifest, "test data")


def toy_zip(files: dict[str, bytes] = FILES, compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as bundle:
        for name, data in files.items():
            bundle.writestr(f"repo-master/data/{name}", data)
    return buffer.getvalue()


@pytest.fixture
def serve():
    """serve(body, announce=None, send=None): a local server replying with `send` bytes of `body` (all of them by
    default) and Content-Length `announce` (none: HTTP/1.0, the end is when the connection closes); yields its URL."""
    servers = []

    def start(body: bytes, announce: int | None = None, send: int | None = None) -> str:
        class Reply(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                if announce is not None:
                    self.send_header("Content-Length", str(announce))
                self.end_headers()
                try:
                    self.wfile.write(body[:send])
                except OSError:  # the client gave up: what the caps are for
                    pass
                self.close_connection = True

            def log_message(self, *args):
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Reply)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/toy.zip"

    yield start
    for httpd in servers:
        httpd.shutdown()


def nothing_left(root: Path) -> bool:
    return not root.exists() or list(root.iterdir()) == []


@pytest.mark.fault
def test_a_short_download_says_so_with_both_sizes_and_the_url(serve, tmp_path):
    url = serve(toy_zip() + b"\0" * 4000, announce=1_000_000, send=2000)  # 1 MB announced, 2,000 bytes sent
    with pytest.raises(DownloadError, match=rf"cannot download {url}: the download was short, 2000 of the 1000000 "
                                            rf"bytes announced arrived"):
        download("toy", tmp_path / "root", source=toy_source(tmp_path, url), progress=False)
    assert nothing_left(tmp_path / "root")
    archive = toy_zip()  # a truncated archive: its own length announced, half of it sent
    url = serve(archive, announce=len(archive), send=len(archive) // 2)
    with pytest.raises(DownloadError, match=rf"short, {len(archive) // 2} of the {len(archive)} bytes"):
        download("toy", tmp_path / "root", source=toy_source(tmp_path, url), progress=False)
    assert nothing_left(tmp_path / "root")


@pytest.mark.fault
def test_an_announced_length_above_the_cap_is_refused_before_writing(serve, tmp_path, monkeypatch):
    monkeypatch.setattr(download_module, "MAX_ARCHIVE_BYTES", 10_000, raising=False)
    written = []
    real_open = open
    monkeypatch.setattr(download_module, "open", lambda path, *a, **k: written.append(path) or real_open(path, *a, **k),
                        raising=False)
    url = serve(b"\0" * 20_000, announce=20_000)
    with pytest.raises(DownloadError, match=rf"cannot download {url}: the server announces 19\.5 KiB \(20000 bytes\), "
                                            rf"more than the 9\.8 KiB \(10000 bytes\) this archive may take"):
        download("toy", tmp_path / "root", source=toy_source(tmp_path, url), progress=False)
    assert written == [] and nothing_left(tmp_path / "root")
    # a source's own recorded cap wins over the default, and the real sources record theirs
    monkeypatch.setattr(download_module, "MAX_ARCHIVE_BYTES", 10**9, raising=False)
    small = Source("toy", url, "repo-master/data", toy_source(tmp_path, url).manifest, "test", max_archive_bytes=100)
    with pytest.raises(DownloadError, match=r"more than the 100 bytes this archive may take"):
        download("toy", tmp_path / "root", source=small, progress=False)
    assert all(source.max_archive_bytes and source.unpacked_bytes for source in SOURCES.values())


@pytest.mark.fault
def test_a_download_without_length_is_stopped_at_the_cap(serve, tmp_path, monkeypatch):
    """The 0.8 MB archive that wrote 768 MiB: no Content-Length, and bytes keep coming."""
    monkeypatch.setattr(download_module, "MAX_ARCHIVE_BYTES", 100_000, raising=False)
    url = serve(toy_zip() + b"\0" * 1_000_000)  # HTTP/1.0, no Content-Length
    with pytest.raises(DownloadError, match=rf"cannot download {url}: more than 97\.7 KiB \(100000 bytes\) arrived, "
                                            rf"the most this archive may take; stopped"):
        download("toy", tmp_path / "root", source=toy_source(tmp_path, url), progress=False)
    assert nothing_left(tmp_path / "root")


@pytest.mark.fault
def test_a_zip_bomb_is_refused_before_and_while_extracting(serve, tmp_path, monkeypatch):
    """6 MB that unpack to 5.6 GiB, in small: 2 MB of zeros compress to 2 KB; the cap is 20 times the archive."""
    monkeypatch.setattr(download_module, "UNPACK_FLOOR", 100_000, raising=False)
    bomb = toy_zip({**FILES, "train/image/0.png": bytes(2_000_000)}, zipfile.ZIP_DEFLATED)
    assert len(bomb) < 5000
    url = serve(bomb, announce=len(bomb))
    with pytest.raises(DownloadError, match=r"archive\.part \(.*\) would unpack to more than 97\.7 KiB \(100000 "
                                            r"bytes\), the most the data set's files may take \(its headers announce "
                                            r"1\.9 MiB"):
        download("toy", tmp_path / "root", source=toy_source(tmp_path, url), progress=False)
    assert nothing_left(tmp_path / "root")
    # a member that unpacks to more than its header says is stopped while it is written
    with pytest.raises(DownloadError, match="stopped while writing 0.png"):
        download_module._write(io.BytesIO(bytes(5000)), tmp_path / "out" / "0.png", 1000)


def _understate(archive: bytes, name: str, size: int) -> bytes:
    """`archive`, a zip, with `name`'s uncompressed size written as `size` in its local and its central header."""
    data = bytearray(archive)
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        local, central = bundle.getinfo(name).header_offset, bundle.start_dir
    data[local + 22:local + 26] = size.to_bytes(4, "little")
    while data[central + 46:central + 46 + len(name)] != name.encode():  # walk the central directory's entries
        lengths = [int.from_bytes(data[central + i:central + i + 2], "little") for i in (28, 30, 32)]
        central += 46 + sum(lengths)
    data[central + 24:central + 28] = size.to_bytes(4, "little")
    return bytes(data)


@pytest.mark.fault
def test_a_zip_whose_header_lies_is_a_download_error_not_a_raw_bad_zip(serve, tmp_path):
    """Its member unpacks to more than the 10 bytes its headers say: zipfile stops there and the CRC fails."""
    lying = _understate(toy_zip({**FILES, "train/image/0.png": bytes(100_000)}, zipfile.ZIP_DEFLATED),
                        "repo-master/data/train/image/0.png", 10)
    url = serve(lying, announce=len(lying))
    with pytest.raises(DownloadError, match=r"archive\.part \(.*\) is a corrupt or truncated archive \(Bad CRC-32"):
        download("toy", tmp_path / "root", source=toy_source(tmp_path, url), progress=False)
    assert nothing_left(tmp_path / "root")


class _FullDisk:
    """A file whose writes fail with ENOSPC, as on a full disk."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def __getattr__(self, name):
        return getattr(self.handle, name)


def _disk_full_for(monkeypatch, predicate):
    real_open = open

    def fake_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        return _FullDisk(handle) if "w" in mode and predicate(Path(path)) else handle

    monkeypatch.setattr(download_module, "open", fake_open, raising=False)


@pytest.mark.fault
def test_a_full_disk_while_downloading_names_the_folder_and_the_disk(serve, tmp_path, monkeypatch):
    archive = toy_zip()
    url = serve(archive, announce=len(archive))
    _disk_full_for(monkeypatch, lambda path: path.name == "archive.part")
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match=rf"no space left on the disk holding {root}/\.toy\..* \(mounted at /.*, "
                                            rf".* free now\) while downloading {url}"):
        download("toy", root, source=toy_source(tmp_path, url), progress=False)
    assert nothing_left(root)


@pytest.mark.fault
def test_a_full_disk_while_unpacking_is_a_download_error_naming_the_disk(serve, tmp_path, monkeypatch):
    """The zip bomb's `OSError: No space left on device` escaped download(); the extraction's ENOSPC, simulated."""
    archive = toy_zip()
    url = serve(archive, announce=len(archive))
    _disk_full_for(monkeypatch, lambda path: path.name != "archive.part")
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match=rf"no space left on the disk holding {root} \(mounted at /.*\) while "
                                            rf"unpacking toy; free some space or choose another data root"):
        download("toy", root, source=toy_source(tmp_path, url), progress=False)
    assert nothing_left(root)


# ---- case 4: the exercise checks: sys.exit, Ctrl-C, memory -------------------------------------------------------

CASES = [("a 2x3 input", (torch.arange(6.0).view(2, 3),), {})]


def reference(x):
    return x * 2


@pytest.mark.fault
@pytest.mark.parametrize("code,shown", [(0, "sys.exit(0)"), (None, "sys.exit()"), ("done", "sys.exit('done')")])
def test_sys_exit_in_the_learners_function_fails_the_check(code, shown):
    with pytest.raises(ExerciseFailed, match=rf"double\(a 2x3 input\): your function called {re.escape(shown)}; "
                                             rf"a check needs it to return a value") as caught:
        compare("double", lambda x: sys.exit(code), reference, CASES)
    assert "\n" not in str(caught.value) and caught.value.__suppress_context__
    with pytest.raises(ExerciseFailed, match=r"your function called sys\.exit\(0\)"):
        check_concept("memory_doubling", lambda: sys.exit(0))


@pytest.mark.fault
def test_an_interrupt_inside_the_learners_function_stops_the_check_with_one_line():
    def busy(x):
        raise KeyboardInterrupt  # as Jupyter's stop button or Ctrl-C does, mid-function

    with pytest.raises(KeyboardInterrupt, match=r"double\(a 2x3 input\): interrupted while running your function; "
                                                r"the check stopped") as caught:
        compare("double", busy, reference, CASES)
    assert type(caught.value).__name__ == "CheckInterrupted" and caught.value.__suppress_context__  # no chain
    assert len(caught.value._render_traceback_()) == 1  # what IPython shows: one line, no stack
    with pytest.raises(KeyboardInterrupt, match="memory_doubling: interrupted while running your function"):
        check_concept("memory_doubling", lambda: busy(None))


@pytest.mark.fault
def test_an_oversized_tensor_fails_the_check_naming_its_size_instead_of_killing_the_kernel():
    """In a fresh process, as a kernel starts: after other tests the allocator may serve 192 MiB from memory it
    already holds, which the limit (on new memory) rightly lets through."""
    if sys.platform != "linux":
        pytest.skip("the limit uses RLIMIT_DATA, Linux's")
    script = textwrap.dedent(r"""
        import torch
        from segedu.course import checks
        from segedu.course.checks import ExerciseFailed, compare, harness

        CASES = [("a 2x3 input", (torch.arange(6.0).view(2, 3),), {})]
        reference = lambda x: x * 2

        def greedy(x):
            scratch = torch.ones(48 * 2**20)  # 192 MiB: over the limit, so the allocation fails, not the kernel
            return x * 2 + scratch[:1] * 0

        harness.MEMORY_LIMIT = 64 * 2**20
        try:
            compare("double", greedy, reference, CASES)
            print("NOT REFUSED")
        except ExerciseFailed as error:
            print("REFUSED:", str(error).splitlines()[0])
        compare("double", reference, reference, CASES)  # the limit was lifted after the call: a right answer passes
        assert torch.ones(48 * 2**20).sum() == 48 * 2**20
        checks.MEMORY_LIMIT = 0  # a notebook can turn the limit off
        compare("double", greedy, reference, CASES)
        print("DONE")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"REFUSED: double\(a 2x3 input\) ran out of memory: your function tried to allocate 201326592 "
                     r"bytes \(192\.0 MiB\), more than the check allows \(about 64 MiB more\)", result.stdout), \
        result.stdout
    assert result.stdout.rstrip().endswith("DONE")


@pytest.mark.fault
def test_a_memory_error_inside_the_learners_function_names_the_size():
    def numpy_style(x):
        raise MemoryError("Unable to allocate 8.00 GiB for an array with shape (1024, 1024, 1024) and data type "
                          "float64")

    with pytest.raises(ExerciseFailed, match=r"double\(a 2x3 input\) ran out of memory: your function tried to "
                                             r"allocate 8\.00 GiB, more than the check allows"):
        compare("double", numpy_style, reference, CASES)
