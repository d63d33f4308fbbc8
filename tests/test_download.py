"""Tests for `download.py` against a loopback HTTP server serving a tiny zip: never the real GroupLens server."""

import functools
import hashlib
import http.server
import threading
import zipfile

import pytest

from modeling_attnrank.data import read_interactions
from modeling_attnrank.download import (
    GROUPLENS_DATASETS,
    ChecksumMismatchError,
    DownloadError,
    default_cache_dir,
    download_movielens,
)


RATINGS = "1\t10\t5\t881250949\n2\t20\t3\t881250950\n"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve `tmp_path / "site"` on 127.0.0.1; yields (base_url, site folder, stop function)."""
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    site = tmp_path / "site"
    site.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop():
        if thread.is_alive():
            httpd.shutdown()
            httpd.server_close()
            thread.join()

    yield f"http://127.0.0.1:{httpd.server_address[1]}", site, stop
    stop()


def make_zip(site, name, content=RATINGS):
    member = GROUPLENS_DATASETS[name][2]
    with zipfile.ZipFile(site / f"{name}.zip", "w") as zipped:
        zipped.writestr(member, content)
        zipped.writestr(f"{member.split('/')[0]}/README", "tiny test archive")
    return hashlib.sha256((site / f"{name}.zip").read_bytes()).hexdigest()


def test_download_verifies_extracts_and_caches(server, tmp_path):
    base_url, site, stop = server
    sha256 = make_zip(site, "ml-100k")
    cache = tmp_path / "cache"
    path = download_movielens("ml-100k", cache, base_url=base_url, expected_sha256=sha256)
    assert path == cache / "ml-100k" / "ml-100k" / "u.data" and path.read_text() == RATINGS
    assert (cache / "ml-100k.zip.sha256").read_text().split()[0] == sha256
    assert read_interactions(path).num_rows == 2  # the format is inferred from the name
    stop()  # a cache hit must not touch the network
    assert download_movielens("ml-100k", cache, base_url=base_url, expected_sha256=sha256) == path
    (path).unlink()  # archive still cached: re-extracted and re-verified, still offline
    assert download_movielens("ml-100k", cache, base_url=base_url).read_text() == RATINGS


def test_checksum_mismatch_deletes_the_file(server, tmp_path):
    base_url, site, _ = server
    make_zip(site, "ml-1m", "1::2::5::978300760\n")
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumMismatchError, match="SHA-256 is .* but 0{64} was expected .* deleted"):
        download_movielens("ml-1m", cache, base_url=base_url, expected_sha256="0" * 64)
    assert not (cache / "ml-1m.zip").exists() and not (cache / "ml-1m").exists()
    assert not list(cache.glob("*.part"))
    # Without an explicit pin the MD5 GroupLens publishes is checked: a fake archive is refused.
    with pytest.raises(ChecksumMismatchError, match="MD5 .* GroupLens publishes"):
        download_movielens("ml-1m", cache, base_url=base_url)


def test_first_download_is_remembered(server, tmp_path, caplog):
    base_url, site, _ = server
    make_zip(site, "ml-latest-small", "userId,movieId,rating,timestamp\n1,2,4.0,5\n")
    cache = tmp_path / "cache"
    with caplog.at_level("INFO", logger="modeling_attnrank.download"):
        path = download_movielens("ml-latest-small", cache, base_url=base_url)
    assert "no published value" in caplog.text and read_interactions(path).num_rows == 1
    make_zip(site, "ml-latest-small", "userId,movieId,rating,timestamp\n1,3,4.0,5\n")  # upstream changed
    with pytest.raises(ChecksumMismatchError, match="ml-latest-small.zip.sha256"):
        download_movielens("ml-latest-small", cache, base_url=base_url, force=True)


def test_network_failure_and_bad_names(server, tmp_path, monkeypatch):
    base_url, site, stop = server
    with pytest.raises(DownloadError, match=r"Could not download .*ml-1m.zip \(HTTP 404"):
        download_movielens("ml-1m", tmp_path / "cache", base_url=base_url)
    stop()
    with pytest.raises(DownloadError, match="Could not download .*save it as"):
        download_movielens("ml-1m", tmp_path / "cache", base_url=base_url)
    assert not list((tmp_path / "cache").glob("*"))
    with pytest.raises(ValueError, match="ml-100k"):
        download_movielens("ml-2m", tmp_path / "cache")
    monkeypatch.setenv("ATTNRANK_CACHE", str(tmp_path / "env-cache"))
    assert default_cache_dir() == tmp_path / "env-cache"
