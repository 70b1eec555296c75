"""MNIST and Fashion-MNIST that fetch themselves: with no local IDX files, the four gzip'd IDX
files are downloaded once into `<cache dir>/idx/<dataset>/`, checked, and used from there (as
keras.datasets and torchvision do).

Check: a file passes when its bytes have the MD5 published with the dataset (the sums
torchvision and the Fashion-MNIST README give for the original .gz files), or when its
uncompressed content has the SHA-256 of the real data (our copies' in ../shared/data, whose
.gz files were re-compressed: a mirror that re-gzips the same data still passes). A damaged or
different file fails both; nothing is cached unless all four pass. Source: `config.download_url`,
else $VAE_JAX_DOWNLOAD_URL, else the dataset's public mirror; a `{dataset}` in the URL is
replaced by the dataset's name (`file:///mirror/{dataset}/` serves a folder per dataset).
Offline, the short timeout fails fast and the caller keeps its "no data" error.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib

from vae_jax.data import cache as cache_lib
from vae_jax.errors import DataError

DOWNLOAD_URL_ENV = "VAE_JAX_DOWNLOAD_URL"
TIMEOUT_SECONDS = 10
URLS = {
    "mnist": "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "fashion_mnist": "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
}
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
         "t10k-labels-idx1-ubyte")
PUBLISHED_MD5 = {  # of the original .gz files, in the order of FILES
    "mnist": dict(zip(FILES, (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c",
    ), strict=True)),
    "fashion_mnist": dict(zip(FILES, (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
        "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310",
    ), strict=True)),
}
SHA256 = {  # of the uncompressed IDX files, in the order of FILES
    "mnist": dict(zip(FILES, (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ), strict=True)),
    "fashion_mnist": dict(zip(FILES, (
        "a8adc57f677927963cb0586145c4a453f381f1ef90c933cb3043e3196ba65bcc",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "4be2ed5e8b4d8ec15414037406eaff205ff050ccabefbf78cca097a19238fda9",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ), strict=True)),
}


def cached_dir(config, name: str, create: bool = False) -> str:
    """Where downloaded IDX files of `name` are kept (it may be empty or missing)."""
    return cache_lib.cache_dir(config, "idx", name, create=create)


def base_url(config, name: str) -> str:
    url = config.get("download_url") or os.environ.get(DOWNLOAD_URL_ENV) or URLS[name]
    url = url.replace("{dataset}", name)
    host = urllib.parse.urlparse(url)
    if host.scheme == "file" and host.netloc not in ("", "localhost"):
        raise DataError(
            f"download_url {url!r}: {host.netloc!r} would be read as a host name; a file:// "
            "mirror needs an absolute path (file:///abs/path/, three slashes)")
    return url if url.endswith("/") else url + "/"


def _fetch(url: str, path: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response, \
                open(path, "wb") as f:
            shutil.copyfileobj(response, f)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DataError(f"could not download {url} ({e})") from e


def _hexdigest(f, digest) -> str:
    """`digest` (a hashlib object) of the open file `f`, read in blocks of 1 MiB."""
    for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _md5(path: str) -> str:
    with open(path, "rb") as f:
        return _hexdigest(f, hashlib.md5(usedforsecurity=False))


def check_file(path: str, name: str, stem: str) -> None:
    """Raises DataError unless the .gz at `path` is `name`'s file `stem` (module doc)."""
    if _md5(path) == PUBLISHED_MD5[name][stem]:
        return
    got, expected = _uncompressed_sha256(path), SHA256[name][stem]
    if got != expected:
        raise DataError(
            f"{stem}.gz: neither the published MD5 of the file ({PUBLISHED_MD5[name][stem]}) "
            f"nor the SHA-256 of its content (expected {expected}, got {got}) matches; the "
            "download is damaged or not the published file")


def _uncompressed_sha256(path: str) -> str:
    try:
        with gzip.open(path, "rb") as f:
            return _hexdigest(f, hashlib.sha256())
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{os.path.basename(path)}: not a readable gzip file ({e})") from e


def download(config, name: str) -> str:
    """Downloads and checks the four IDX files of `name`; -> the folder holding them."""
    if name not in SHA256:
        raise DataError(f"no download source for dataset {name!r}")
    target, url = cached_dir(config, name, create=True), base_url(config, name)
    with tempfile.TemporaryDirectory(dir=target) as staging:
        for stem in SHA256[name]:
            path = os.path.join(staging, stem + ".gz")
            _fetch(url + stem + ".gz", path)
            try:
                check_file(path, name, stem)
            except DataError as e:
                raise DataError(
                    f"{url}{e} (nothing was cached). Try again, or set --config.download_url "
                    f"/ ${DOWNLOAD_URL_ENV} to another mirror") from e
        for stem in SHA256[name]:  # all four passed: move them in
            os.replace(os.path.join(staging, stem + ".gz"), os.path.join(target, stem + ".gz"))
    return target
