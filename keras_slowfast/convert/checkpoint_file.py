"""Reading checkpoint files without torch and without running code from them.

The published model zoos ship three kinds of file, sometimes gzip-compressed:

* torch's zip format (``torch.save`` since torch 1.6): a zip archive whose
  ``<name>/data.pkl`` pickles the object and refers to tensor storages by key;
  each storage is the raw record ``<name>/data/<key>``.
* torch's legacy format (before 1.6, or ``_use_new_zipfile_serialization=False``):
  a stream of pickles (magic number, protocol version, system info, the object,
  the sorted storage keys) followed by every storage as an 8-byte element count
  and its raw bytes (torch ``serialization.py``, ``_legacy_save``).
* Caffe2 pickles (the original PySlowFast zoo's ``.pkl`` files): a Python 2
  pickle of ``{"blobs": {name: numpy array}}``, read with ``latin1`` strings as
  PySlowFast does (``slowfast/utils/checkpoint.py``).

A pickle names the functions that rebuild its objects; an ordinary unpickler
imports and calls whatever the file names, which is how a downloaded file runs
code. :class:`SafeUnpickler` resolves only the names these formats use, each to
a function written here that builds arrays from the file's own bytes; a pickled
config object (PySlowFast's ``CfgNode``) becomes an inert ``dict``; any other
name is refused with :class:`UnsafeCheckpointError` before anything is called.
"""

import collections
import gzip
import io
import os
import pickle
import re
import struct
import zipfile
import zlib

import numpy as np

# torch.serialization's MAGIC_NUMBER, the first pickle of a legacy file.
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
GZIP_MAGIC = b"\x1f\x8b"

# torch storage classes -> element type (torch/storage.py, torch/__init__.py).
STORAGE_DTYPES = {
    "DoubleStorage": "float64",
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
}
# Config classes pickled into training checkpoints; read as plain dicts.
CONFIG_CLASSES = {
    ("yacs.config", "CfgNode"),
    ("fvcore.common.config", "CfgNode"),
    ("slowfast.config.defaults", "CfgNode"),
    ("detectron2.config.config", "CfgNode"),
}
# Element kinds an array may have (no Python objects, no records), and the
# dtype names they are pickled as ("f4", "<i8", "b1", "?"...).
ARRAY_KINDS = "biufc"
PLAIN_DTYPE = re.compile(r"[<>|=]?[?biufc]\d{0,2}")


class UnsafeCheckpointError(ValueError):
    """The file asks to run something other than rebuilding arrays and dicts."""


class InertConfig(dict):
    """A pickled config object, kept as the plain dict of its entries.

    Its attributes (``CfgNode``'s immutability flags) are dropped; nested
    configs are ``InertConfig`` too.
    """

    def __setstate__(self, state):
        pass  # the object's __dict__: flags with no meaning here


class StorageRef:
    """A tensor storage named by a checkpoint: its key, element type and span."""

    def __init__(self, key, dtype, offset=0, size=None):
        self.key, self.dtype, self.offset, self.size = key, dtype, offset, size


class LazyTensor:
    """A tensor whose storage bytes are read after the pickle (see ``_resolve``)."""

    def __init__(self, storage, offset, shape, strides):
        if not isinstance(storage, StorageRef):
            raise UnsafeCheckpointError("a tensor refers to something not a storage")
        self.storage = storage
        self.offset = int(offset)
        self.shape = tuple(int(s) for s in shape)
        self.strides = tuple(int(s) for s in strides)
        if len(self.shape) != len(self.strides) or self.offset < 0:
            raise ValueError("a tensor's offset, shape or strides are damaged")

    def to_numpy(self, storage_array):
        """The tensor as a NumPy array, copied out of its storage."""
        if not self.shape:
            if self.offset >= storage_array.size:
                raise ValueError("a scalar tensor lies past its storage (damaged)")
            return np.array(storage_array[self.offset])
        itemsize = storage_array.itemsize
        needed = (
            self.offset
            + 1
            + sum(
                (n - 1) * s
                for n, s in zip(self.shape, self.strides, strict=True)
                if n > 0
            )
        )
        if 0 in self.shape:
            return np.zeros(self.shape, storage_array.dtype)
        if self.offset == 0 and storage_array.size == int(np.prod(self.shape)):
            contiguous = np.cumprod((1,) + self.shape[:0:-1])[::-1]
            if tuple(int(s) for s in contiguous) == self.strides:
                return storage_array.reshape(self.shape)  # the storage is the tensor
        if needed > storage_array.size or min(self.strides) < 0:
            raise ValueError(
                f"a tensor of shape {self.shape} reaches past its storage of "
                f"{storage_array.size} elements (damaged file)"
            )
        view = np.lib.stride_tricks.as_strided(
            storage_array[self.offset :],
            shape=self.shape,
            strides=[s * itemsize for s in self.strides],
            writeable=False,
        )
        return np.array(view)


class _ArrayBuilder:
    """Stands for ``numpy.ndarray`` while a pickle rebuilds one (BUILD state)."""

    def __init__(self):
        self.array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise UnsafeCheckpointError("an array's pickled state is not understood")
        shape, dtype, fortran, data = state[-4:]
        self.array = _array_from_bytes(data, _dtype_of(dtype), shape, fortran)


class _DtypeBuilder:
    """Stands for ``numpy.dtype`` while a pickle rebuilds one."""

    def __init__(self, name, *_flags):
        if not isinstance(name, str) or not PLAIN_DTYPE.fullmatch(name):
            raise UnsafeCheckpointError(
                f"arrays of dtype {name!r:.20} are refused (objects or records)"
            )
        self.name, self.byteorder = name, "="

    def __setstate__(self, state):
        order = state[1] if isinstance(state, tuple) and len(state) > 1 else None
        if isinstance(order, str) and order in ("<", ">", "|", "="):
            self.byteorder = order

    def dtype(self):
        dtype = np.dtype(self.name)
        if dtype.kind not in ARRAY_KINDS + "?" or dtype.fields is not None:
            raise UnsafeCheckpointError(
                f"arrays of dtype {self.name!r} are refused (objects or records)"
            )
        return dtype.newbyteorder(self.byteorder) if self.byteorder in "<>" else dtype


def _dtype_of(value):
    if isinstance(value, _DtypeBuilder):
        return value.dtype()
    raise UnsafeCheckpointError("an array's dtype is not a plain numpy dtype")


def _as_bytes(data):
    if isinstance(data, str):  # Python 2 str read with encoding="latin1"
        return data.encode("latin1")
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    raise UnsafeCheckpointError("an array's data is not bytes")


def _array_from_bytes(data, dtype, shape, fortran=False):
    shape = tuple(int(s) for s in shape)
    data = _as_bytes(data)
    expected = int(np.prod(shape, dtype="int64")) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"an array of shape {shape} and dtype {dtype} needs {expected} bytes, "
            f"the file holds {len(data)} (damaged file)"
        )
    array = np.frombuffer(data, dtype=dtype).reshape(
        shape, order="F" if fortran else "C"
    )
    return array.astype(dtype.newbyteorder("="))


def _reconstruct(cls, shape, typecode):
    # numpy's ndarray pickle: _reconstruct(ndarray, (0,), b"b"), then BUILD.
    if cls is not np.ndarray:
        raise UnsafeCheckpointError("numpy _reconstruct is asked for a non-array")
    return _ArrayBuilder()


def _scalar(dtype, data=None):
    return _array_from_bytes(data, _dtype_of(dtype), ())[()]


def _encode(text, encoding="latin1"):
    # Python 3 pickles bytes at protocol 2 as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding.replace("-", "") not in ("latin1",):
        raise UnsafeCheckpointError("_codecs.encode is only allowed for latin1 text")
    return text.encode("latin1")


def _rebuild_tensor(storage, offset, shape, strides, *_rest):
    # torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
    # requires_grad, backward_hooks[, metadata]); v1 has no requires_grad.
    return LazyTensor(storage, offset, shape, strides)


def _rebuild_parameter(data, *_rest):
    # torch._utils._rebuild_parameter(data, requires_grad, backward_hooks).
    return data


def _reconstructor(cls, base, state=None):
    # copyreg._reconstructor, protocol 0/1 pickles of dict subclasses.
    if cls is not InertConfig:
        raise UnsafeCheckpointError("copyreg._reconstructor is asked for a non-config")
    return InertConfig()


def _numpy_globals():
    names = {"numpy": {"ndarray": np.ndarray, "dtype": _DtypeBuilder}}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        names[module] = {"_reconstruct": _reconstruct, "scalar": _scalar}
    return names


_ALLOWED = {
    "collections": {"OrderedDict": collections.OrderedDict},
    "_codecs": {"encode": _encode},
    "copyreg": {"_reconstructor": _reconstructor},
    "copy_reg": {"_reconstructor": _reconstructor},
    # Python 2 names (``__builtin__``) as well as 3; sets occur in pickled
    # configs (yacs CfgNode's deprecated-key set).
    "__builtin__": {"object": object, "set": set, "frozenset": frozenset},
    "builtins": {"object": object, "set": set, "frozenset": frozenset},
    "torch._utils": {
        "_rebuild_tensor": _rebuild_tensor,
        "_rebuild_tensor_v2": _rebuild_tensor,
        "_rebuild_parameter": _rebuild_parameter,
    },
    "torch": {name: name for name in STORAGE_DTYPES},
    **_numpy_globals(),
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names checkpoint formats need.

    Args:
        file: binary file object positioned at a pickle.
        source: str. The file's name, for messages.
        storages: None, or a callable ``(StorageRef fields) -> StorageRef`` for
            torch persistent ids (``("storage", type, key, location, numel, ...)``).
    """

    def __init__(self, file, source, storages=None):
        super().__init__(file, encoding="latin1")
        self.source = source
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) in CONFIG_CLASSES:
            return InertConfig
        allowed = _ALLOWED.get(module, {})
        if name not in allowed:
            raise UnsafeCheckpointError(
                f"{self.source}: refused to load {module}.{name}: a checkpoint may "
                "only hold tensors, arrays, numbers, strings and dicts (loading "
                "it would run code named in the file)"
            )
        return allowed[name]

    def persistent_load(self, pid):
        if self.storages is None or not isinstance(pid, tuple) or pid[0] != "storage":
            raise UnsafeCheckpointError(
                f"{self.source}: refers to an object outside the pickle ({pid!r:.60})"
            )
        _, storage_type, key, _location, numel, *view = pid
        if storage_type not in STORAGE_DTYPES:
            raise UnsafeCheckpointError(
                f"{self.source}: unknown storage {storage_type!r}"
            )
        return self.storages(str(key), STORAGE_DTYPES[storage_type], int(numel), view)


def _resolve(value, arrays):
    """Replaces every lazy tensor / array builder in ``value`` by its array."""
    if isinstance(value, LazyTensor):
        return value.to_numpy(arrays(value.storage))
    if isinstance(value, _DtypeBuilder):
        return value.dtype()
    if isinstance(value, _ArrayBuilder):
        if value.array is None:
            raise UnsafeCheckpointError("an array was named but never built")
        return value.array
    if isinstance(value, dict):
        for key in list(value):
            value[key] = _resolve(value[key], arrays)
        return value
    if isinstance(value, list):
        return [_resolve(v, arrays) for v in value]
    if isinstance(value, tuple):
        return tuple(_resolve(v, arrays) for v in value)
    return value


def _storage_array(data, dtype, byteorder="little"):
    if dtype == "bfloat16":  # no NumPy type: widen to float32 exactly
        raw = np.frombuffer(data, dtype=("<u2" if byteorder == "little" else ">u2"))
        return (raw.astype("uint32") << 16).view("float32")
    order = "<" if byteorder == "little" else ">"
    array = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder(order))
    return array.astype(np.dtype(dtype))


def _read_zip(file, source):
    archive = zipfile.ZipFile(file)
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
    if not pickles:
        raise ValueError(
            f"{source}: a zip file but not a torch checkpoint (no data.pkl)"
        )
    prefix = pickles[0][: -len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in names:
        byteorder = archive.read(prefix + "byteorder").decode().strip()

    def storages(key, dtype, numel, view):
        return StorageRef(key, dtype)

    with archive.open(pickles[0]) as handle:
        obj = SafeUnpickler(handle, source, storages).load()
    cache = {}

    def arrays(ref):
        if ref.key not in cache:
            record = f"{prefix}data/{ref.key}"
            if record not in names:
                raise ValueError(f"{source}: storage record {record} is missing")
            cache[ref.key] = _storage_array(archive.read(record), ref.dtype, byteorder)
        return cache[ref.key]

    return _resolve(obj, arrays)


def _remaining(file):
    """Bytes left to read in a seekable file."""
    here = file.tell()
    end = file.seek(0, os.SEEK_END)
    file.seek(here)
    return end - here


def _read_legacy(file, source):
    SafeUnpickler(file, source).load()  # protocol version
    SafeUnpickler(file, source).load()  # system info
    refs = {}

    def storages(key, dtype, numel, view):
        root = refs.setdefault(key, StorageRef(key, dtype, 0, numel))
        if view and view[0] is not None:  # (view key, offset, size) of old files
            _view_key, offset, size = view[0]
            return StorageRef(key, dtype, int(offset), int(size))
        return root

    obj = SafeUnpickler(file, source, storages).load()
    keys = SafeUnpickler(file, source).load()
    data = {}
    for key in keys:
        header = file.read(8)
        if len(header) < 8:
            raise ValueError(f"{source}: ends before storage {key} (truncated file)")
        (numel,) = struct.unpack("<q", header)
        dtype = refs[str(key)].dtype if str(key) in refs else "uint8"
        itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
        if not 0 <= numel * itemsize <= _remaining(file):
            raise ValueError(
                f"{source}: storage {key} claims {numel} elements "
                "past the file's end (truncated or damaged file)"
            )
        raw = file.read(numel * itemsize)
        if len(raw) != numel * itemsize:
            raise ValueError(f"{source}: ends inside storage {key} (truncated file)")
        data[str(key)] = _storage_array(raw, dtype)

    def arrays(ref):
        if ref.key not in data:
            raise ValueError(f"{source}: storage {ref.key} is missing")
        whole = data[ref.key]
        end = None if ref.size is None else ref.offset + ref.size
        return whole[ref.offset : end]

    return _resolve(obj, arrays)


def _open_bytes(path):
    """The file's content as a seekable binary file, gunzipped if compressed."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == GZIP_MAGIC:
        try:
            with gzip.open(path, "rb") as handle:
                return io.BytesIO(handle.read())
        except (OSError, EOFError) as error:
            raise ValueError(f"{path}: damaged gzip file ({error})") from None
    return open(path, "rb")


def read_checkpoint(path):
    """Reads a torch (zip or legacy) or Caffe2 checkpoint file into NumPy arrays.

    No torch is needed and nothing named in the file is imported or called: see
    the module docstring for the formats and what is allowed.

    Args:
        path: str or path. The checkpoint file (``.pyth``, ``.pt``, ``.pth``,
            ``.pkl``, optionally gzip-compressed).

    Returns:
        The stored object, usually a dict; tensors and arrays become NumPy
        arrays, config objects :class:`InertConfig` dicts.

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the file names a function or class outside the
            formats (a ``ValueError``).
        ValueError: a truncated, damaged or unknown file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: checkpoint file not found")
    try:
        with _open_bytes(path) as file:
            return _read(file, path)
    except ValueError as error:  # UnsafeCheckpointError included: name the file
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if not message.startswith(path):
            message = f"{path}: {message}"
        unsafe = isinstance(error, UnsafeCheckpointError)
        raise (UnsafeCheckpointError if unsafe else ValueError)(message) from None
    except UNREADABLE as error:
        raise ValueError(
            f"{path}: not a readable checkpoint (torch zip or legacy file, or a "
            f"Caffe2 pickle; truncated or damaged?): {error or type(error).__name__}"
        ) from None


# What a truncated or damaged file raises while it is unpickled or unzipped.
UNREADABLE = (
    pickle.UnpicklingError,
    zipfile.BadZipFile,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    AttributeError,
    TypeError,
    OverflowError,
    OSError,  # a damaged zip directory seeks before the file's start
    MemoryError,  # a damaged length field asks for an absurd allocation
    NotImplementedError,  # a damaged zip entry names an unknown compression
    zlib.error,
    RuntimeError,  # a damaged zip entry claims to be encrypted
)


def _read(file, path):
    if zipfile.is_zipfile(file):
        file.seek(0)
        return _read_zip(file, path)
    file.seek(0)
    first = SafeUnpickler(file, path).load()
    if first == LEGACY_MAGIC_NUMBER:
        return _read_legacy(file, path)
    return _resolve(first, lambda ref: None)
