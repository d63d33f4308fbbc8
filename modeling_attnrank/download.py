"""Download and cache the GroupLens MovieLens archives (F. M. Harper & J. A. Konstan, ACM TiiS 2015).

The MovieLens licence forbids redistribution, so the project never ships the data: each user fetches it from
GroupLens once. `download_movielens` streams the zip to a temporary file, checks it, renames it into place
atomically, extracts the ratings file and returns its path; later calls find it in the cache and touch no network.

Integrity. GroupLens publishes no SHA-256, and none is pinned here without having been checked against the real
archive, so the SHA-256 slot of `GROUPLENS_DATASETS` is `None`. The first download is checked against the MD5 sums
GroupLens publishes beside the frozen releases (`<name>.zip.md5`, pinned in `GROUPLENS_MD5`); its SHA-256 is then
logged and written next to the zip (`<name>.zip.sha256`), and every later download or re-extraction of that archive
must match it (trust on first use). `expected_sha256=` pins a value explicitly and takes precedence over both.

Cache layout (root: `cache_dir`, else `$ATTNRANK_CACHE`, else `~/.cache/attnrank`):

    <root>/ml-1m.zip  <root>/ml-1m.zip.sha256  <root>/ml-1m/ml-1m/ratings.dat
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Optional, Union


logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://files.grouplens.org/datasets/movielens"
# name: (url, sha256 or None, path of the ratings file inside the zip)
GROUPLENS_DATASETS = {
    "ml-100k": (f"{DEFAULT_BASE_URL}/ml-100k.zip", None, "ml-100k/u.data"),
    "ml-1m": (f"{DEFAULT_BASE_URL}/ml-1m.zip", None, "ml-1m/ratings.dat"),
    "ml-10m": (f"{DEFAULT_BASE_URL}/ml-10m.zip", None, "ml-10M100K/ratings.dat"),
    "ml-20m": (f"{DEFAULT_BASE_URL}/ml-20m.zip", None, "ml-20m/ratings.csv"),
    "ml-25m": (f"{DEFAULT_BASE_URL}/ml-25m.zip", None, "ml-25m/ratings.csv"),
    "ml-latest-small": (f"{DEFAULT_BASE_URL}/ml-latest-small.zip", None, "ml-latest-small/ratings.csv"),
}
# MD5 sums GroupLens publishes beside each frozen archive. ml-latest-small is refreshed over time: none pinned.
GROUPLENS_MD5 = {
    "ml-100k": "0e33842e24a9c977be4e0107933c0723",
    "ml-1m": "c4d9eecfca2ab87c1945afe126590906",
    "ml-10m": "ce571fd55effeba0271552578f2648bd",
    "ml-20m": "cd245b17a1ae2cc31bb14903e1204af3",
    "ml-25m": "6b51fb2759a8657d3bfcbfc42b592ada",
}
_CHUNK_BYTES = 1 << 20


class DownloadError(RuntimeError):
    """The archive could not be fetched, or what was fetched is not the expected archive."""


class ChecksumMismatchError(DownloadError):
    """The downloaded (or cached) archive does not have the expected checksum; the bad file has been deleted."""


def default_cache_dir() -> Path:
    """`$ATTNRANK_CACHE` if set, else `~/.cache/attnrank`."""
    return Path(os.environ.get("ATTNRANK_CACHE") or Path.home() / ".cache" / "attnrank").expanduser()


def download_movielens(
    name: str,
    cache_dir: Optional[Union[str, os.PathLike]] = None,
    *,
    base_url: str = DEFAULT_BASE_URL,
    expected_sha256: Optional[str] = None,
    force: bool = False,
) -> Path:
    """Fetch a MovieLens release from GroupLens (once) and return the path of its ratings file.

    Args:
        name (`str`): one of `GROUPLENS_DATASETS` (`"ml-100k"`, `"ml-1m"`, `"ml-10m"`, `"ml-20m"`, `"ml-25m"`,
            `"ml-latest-small"`).
        cache_dir (`str` or `os.PathLike`, *optional*): cache root; defaults to `default_cache_dir()`.
        base_url (`str`, *optional*, defaults to the GroupLens server): where `<name>.zip` is fetched from
            (a mirror, or a local server in tests).
        expected_sha256 (`str`, *optional*): SHA-256 the zip must have; overrides the pinned and stored ones.
        force (`bool`, *optional*, defaults to `False`): download again even if the cache has the file.

    Returns:
        `pathlib.Path`: the extracted ratings file (`u.data`, `ratings.dat` or `ratings.csv`), ready for
        `data.read_interactions(path)` (its format is inferred from the name).

    Raises:
        ValueError: unknown `name`.
        ChecksumMismatchError: the archive is not the expected one (it is deleted, so a retry starts clean).
        DownloadError: network failure, truncated transfer, or a zip without the ratings file.
    """
    if name not in GROUPLENS_DATASETS:
        raise ValueError(f"Unknown MovieLens dataset {name!r}; choose one of {sorted(GROUPLENS_DATASETS)}.")
    url, pinned_sha256, member = GROUPLENS_DATASETS[name]
    url = f"{base_url.rstrip('/')}/{url.rsplit('/', 1)[1]}"
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    archive, sidecar = root / f"{name}.zip", root / f"{name}.zip.sha256"
    target = root / name / member
    if target.exists() and not force:
        logger.info("Using cached %s", target)
        return target

    root.mkdir(parents=True, exist_ok=True)
    stored_sha256 = sidecar.read_text().split()[0] if sidecar.exists() else None
    expected = (expected_sha256 or pinned_sha256 or stored_sha256 or "").lower() or None
    source = "expected_sha256" if expected_sha256 else "GROUPLENS_DATASETS" if pinned_sha256 else str(sidecar)
    if force or not archive.exists():
        sha256, md5 = _fetch(url, archive)
    else:
        sha256, md5 = _file_digests(archive)
    if expected is not None and sha256 != expected:
        archive.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"{url}: SHA-256 is {sha256} but {expected} was expected (from {source}). The file was deleted. "
            "Retry; if GroupLens really changed the archive, delete the .sha256 file or pass expected_sha256=."
        )
    if expected is None and name in GROUPLENS_MD5 and md5 != GROUPLENS_MD5[name]:
        archive.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"{url}: MD5 is {md5} but GroupLens publishes {GROUPLENS_MD5[name]}. The file was deleted; retry."
        )
    if stored_sha256 is None or expected_sha256:
        sidecar.write_text(f"{sha256}  {archive.name}\n")
        if expected is None:
            logger.info(
                "SHA-256 of %s is %s (no published value; stored in %s to check later downloads)",
                archive.name, sha256, sidecar,
            )  # fmt: skip
    _extract(archive, member, target, url)
    return target


def _fetch(url: str, archive: Path) -> tuple[str, str]:
    """Stream `url` to a temporary file beside `archive`, then rename it into place; return (sha256, md5)."""
    sha256, md5, received = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    handle, temporary = tempfile.mkstemp(dir=archive.parent, prefix=f".{archive.name}.", suffix=".part")
    logger.info("Downloading %s", url)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            length = response.headers.get("Content-Length")
            while chunk := response.read(_CHUNK_BYTES):
                out.write(chunk)
                sha256.update(chunk)
                md5.update(chunk)
                received += len(chunk)
        if length is not None and received != int(length):
            raise DownloadError(f"{url}: transfer stopped after {received} of {length} bytes; retry.")
        os.replace(temporary, archive)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(error, urllib.error.HTTPError):
            reason = f"HTTP {error.code} {error.reason}"
        raise DownloadError(
            f"Could not download {url} ({reason}). Check the network or proxy settings, "
            f"or download the file by hand and save it as {archive} (it is then checked and extracted)."
        ) from error
    finally:
        Path(temporary).unlink(missing_ok=True)
    logger.info("Downloaded %s (%d bytes)", archive, received)
    return sha256.hexdigest(), md5.hexdigest()


def _file_digests(path: Path) -> tuple[str, str]:
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            sha256.update(chunk)
            md5.update(chunk)
    return sha256.hexdigest(), md5.hexdigest()


def _extract(archive: Path, member: str, target: Path, url: str) -> None:
    """Copy one member out of the zip (never `extractall`: no path from the archive is trusted)."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            if member not in zipped.namelist():
                raise DownloadError(f"{url}: the archive has no {member!r}; it holds {zipped.namelist()[:10]}.")
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            with zipped.open(member) as source, open(partial, "wb") as out:
                while chunk := source.read(_CHUNK_BYTES):
                    out.write(chunk)
            os.replace(partial, target)
    except zipfile.BadZipFile as error:
        archive.unlink(missing_ok=True)
        raise DownloadError(f"{url}: the download is not a valid zip ({error}); it was deleted, retry.") from error
