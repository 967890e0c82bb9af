"""Pretrained models in one call: download once, convert once, load from cache.

``load_pretrained("slowfast_8x8_r50_kinetics400")`` downloads the zoo's
checkpoint with ``keras.utils.get_file`` (progress bar, cache under
``KERAS_HOME``, by default ``~/.keras``), reads it without torch
(``convert/checkpoint_file.py``), builds the exact reference model from the
weighted preset (``zoo.py``), loads every weight and saves the result as
``KERAS_HOME/keras_slowfast/models/<name>.keras``; later calls read that file
and neither download nor convert again.

Nothing half-written is left in the cache: a download goes to a private
folder inside it and is moved into place only once complete (and its hash
checked, where known); the converted model is written beside its final name
and renamed. ``KERAS_SLOWFAST_MIRROR=http://host:port`` replaces the scheme
and host of every zoo URL and keeps its path, for mirrors and air-gapped sites.
"""

import hashlib
import logging
import os
import shutil
import tempfile
import time
import urllib.parse

import keras

from keras_slowfast.models.zoo import zoo_entry

logger = logging.getLogger("keras_slowfast")

MIRROR_VARIABLE = "KERAS_SLOWFAST_MIRROR"
CACHE_FOLDER = "keras_slowfast"
# Private download folders older than this are left-overs of killed processes.
STALE_DOWNLOAD_SECONDS = 24 * 3600


class WeightsDownloadError(ValueError):
    """A checkpoint could not be downloaded (offline, mirror down, bad file).

    A ``ValueError``, so the command line reports it as one line (exit 2).
    """


def cache_root():
    """``KERAS_HOME/keras_slowfast``: downloaded checkpoints and converted models.

    ``KERAS_HOME`` is read at each call (Keras' own default: ``~/.keras``).
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    return os.path.join(home, CACHE_FOLDER)


def mirrored_url(url):
    """``url`` with the scheme and host of ``KERAS_SLOWFAST_MIRROR``, if set.

    Examples:
    >>> os.environ["KERAS_SLOWFAST_MIRROR"] = "http://10.0.0.5:8080"
    >>> mirrored_url("https://dl.fbaipublicfiles.com/pytorchvideo/a/B.pyth")
    'http://10.0.0.5:8080/pytorchvideo/a/B.pyth'
    >>> del os.environ["KERAS_SLOWFAST_MIRROR"]
    """
    mirror = os.environ.get(MIRROR_VARIABLE, "").strip()
    if not mirror:
        return url
    base = urllib.parse.urlsplit(mirror)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise ValueError(
            f"{MIRROR_VARIABLE}={mirror!r} must be http(s)://host[:port][/prefix]"
        )
    path = urllib.parse.urlsplit(url).path
    prefix = base.path.rstrip("/")
    return urllib.parse.urlunsplit((base.scheme, base.netloc, prefix + path, "", ""))


def _checkpoint_path(url):
    """Where a checkpoint URL is cached: its path below the host, kept readable."""
    parts = urllib.parse.urlsplit(url)
    name = os.path.basename(parts.path) or "checkpoint"
    tag = hashlib.sha256(f"{parts.netloc}{parts.path}".encode()).hexdigest()[:10]
    return os.path.join(cache_root(), "checkpoints", f"{tag}-{name}")


def _remove_stale_downloads(folder):
    now = time.time()
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        if entry.startswith(".download-") and os.path.isdir(path):
            if now - os.path.getmtime(path) > STALE_DOWNLOAD_SECONDS:
                shutil.rmtree(path, ignore_errors=True)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_checkpoint(url, sha256=None, local_hint=None):
    """Downloads a checkpoint once into the cache and returns its path.

    Args:
        url: str. An http(s) URL (``KERAS_SLOWFAST_MIRROR`` applies).
        sha256: str or None. Expected hash; a file that does not match is
            removed and refused.
        local_hint: str or None. How to pass a local copy instead, for the
            error message.

    Returns:
        str, the cached file.

    Raises:
        WeightsDownloadError: one line naming the URL and the way out.
    """
    final = _checkpoint_path(url)
    if os.path.isfile(final) and (sha256 is None or _sha256(final) == sha256):
        return final
    origin = mirrored_url(url)
    folder = os.path.dirname(final)
    os.makedirs(folder, exist_ok=True)
    _remove_stale_downloads(folder)
    scratch = tempfile.mkdtemp(prefix=".download-", dir=folder)
    hint = local_hint or "download it by other means and pass the file instead"
    try:
        try:
            path = keras.utils.get_file(
                fname=os.path.basename(final),
                origin=origin,
                cache_dir=scratch,
                cache_subdir="",
            )
        except Exception as error:  # noqa: BLE001 - get_file raises plain Exception
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            # get_file's "URL fetch failure on URL: errno -- reason": the reason.
            reason = reason.rpartition(" -- ")[2]
            raise WeightsDownloadError(
                f"cannot download {origin} ({reason}); {hint}"
            ) from None
        if sha256 is not None and _sha256(path) != sha256:
            raise WeightsDownloadError(
                f"{origin}: the download's sha256 is not the published {sha256}; "
                f"it was removed. {hint}"
            )
        os.replace(path, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final


def converted_path(name):
    """Where the converted model of a weighted preset is cached."""
    return os.path.join(cache_root(), "models", f"{name}.keras")


def build_zoo_model(name):
    """The untrained reference model of a weighted preset, with its names and
    input settings (class names, convention, short side, crop, sampling rate)."""
    from keras_slowfast.labels import builtin_label_map
    from keras_slowfast.models.classifier import SlowFastVideoClassifier
    from keras_slowfast.models.detector import SlowFastDetector
    from keras_slowfast.models.preprocessor import VideoPreprocessor

    entry = zoo_entry(name)
    cls = SlowFastDetector if entry["task"] == "detector" else SlowFastVideoClassifier
    preprocessor = VideoPreprocessor(
        sampling_rate=entry["sampling_rate"], **entry["input"]
    )
    return cls.from_preset(
        entry["architecture"],
        num_classes=entry["num_classes"],
        class_names=builtin_label_map(entry["label_map"]),
        preprocessor=preprocessor,
        name=name,
        **entry["backbone"],
        **entry["head"],
    )


def _local_hint(name):
    return (
        f"download it by other means and pass it with --weights FILE --preset {name} "
        f"(Python: load_model(FILE, preset={name!r}))"
    )


def convert_zoo_checkpoint(name, checkpoint, progress=True):
    """Builds a weighted preset's model and loads a checkpoint file into it.

    Args:
        name: str. Weighted preset.
        checkpoint: str. The zoo's file (any format ``load_checkpoint`` reads).
        progress: bool. Progress bar over the weights.
    """
    from keras_slowfast.convert.common import load_checkpoint
    from keras_slowfast.convert.converter import load_state_dict

    entry = zoo_entry(name)
    model = build_zoo_model(name)
    state = load_checkpoint(checkpoint)
    try:
        load_state_dict(model, state, source=entry["source"], progress=progress)
    except ValueError as error:
        raise ValueError(f"{checkpoint} does not fit preset {name}: {error}") from None
    return model


def _save_atomically(model, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, scratch = tempfile.mkstemp(
        prefix=".saving-", suffix=".keras", dir=os.path.dirname(path)
    )
    os.close(handle)
    try:
        model.save(scratch)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(scratch, 0o666 & ~umask)  # mkstemp's 0600 would hide it
        os.replace(scratch, path)
    finally:
        if os.path.exists(scratch):
            os.remove(scratch)


def with_new_head(model, num_classes):
    """The same backbone (shared weights) under a new, untrained head.

    The task's other arguments (preprocessor, detector RoI settings) are
    kept; the class names are dropped, as the classes are new.
    """
    config = model.get_config()
    config.update(backbone=model.backbone, num_classes=int(num_classes))
    config["class_names"] = None
    config.pop("name", None)
    return type(model)(**config)


def load_pretrained(name, num_classes=None, checkpoint=None, progress=True):
    """A weighted preset's model with its published weights.

    The first call downloads and converts; the converted model is cached, so
    later calls only read a ``.keras`` file. A local ``checkpoint`` (a copy of
    the zoo's file) is converted on every call and not cached.

    Args:
        name: str. Weighted preset (``zoo_names()``).
        num_classes: int or None. None keeps the pretrained head; another
            number puts a new head on the pretrained backbone (fine-tuning).
        checkpoint: str or None. A local copy of the zoo's file to use
            instead of downloading it.
        progress: bool. Progress bars for the download and the weights.

    Returns:
        A :class:`SlowFastVideoClassifier` or :class:`SlowFastDetector`.

    Raises:
        WeightsDownloadError: the download failed (one line: URL and the way
            out).
        ValueError: an unknown name, or a file that does not fit the preset.
    """
    entry = zoo_entry(name)
    cached = converted_path(name)
    model = None
    if checkpoint is None and os.path.isfile(cached):
        try:
            model = keras.saving.load_model(cached, compile=False)
        except Exception as error:  # noqa: BLE001 - a cache entry is rebuilt
            logger.warning("%s is unreadable (%s); converting again", cached, error)
    if checkpoint is not None:  # the caller's file: converted, not cached
        model = convert_zoo_checkpoint(name, checkpoint, progress=progress)
    elif model is None:
        checkpoint = download_checkpoint(
            entry["url"], entry["sha256"], _local_hint(name)
        )
        model = convert_zoo_checkpoint(name, checkpoint, progress=progress)
        _save_atomically(model, cached)
        logger.info("converted %s into %s", name, cached)
    if num_classes is not None and int(num_classes) != model.num_classes:
        model = with_new_head(model, num_classes)
    return model


def load_checkpoint_url(url, progress=True, **convert_arguments):
    """Downloads a checkpoint URL once (cached) and converts it.

    A URL of a weighted preset's file gives that preset's model (names and
    input settings included); any other URL goes through
    :func:`keras_slowfast.convert_checkpoint` with ``convert_arguments``.
    """
    from keras_slowfast.convert.converter import convert_checkpoint
    from keras_slowfast.models.zoo import ZOO

    for name, entry in ZOO.items():
        if entry["url"] == url and not convert_arguments:
            return load_pretrained(name, progress=progress)
    path = download_checkpoint(url)
    return convert_checkpoint(path, progress=progress, **convert_arguments)
