"""Speaker embeddings: the GE2E voice encoder whose weights the Resemblyzer wheel ships, run with numpy alone.

The network is three LSTM layers over 40-band mel frames and a linear projection to a 256-dimensional,
L2-normalised embedding; two stretches of speech by one person point the same way. The checkpoint is read
without its training framework (its legacy serialisation is a pickle followed by raw little-endian storages),
and checked against a pinned sha256 so that no other file can stand in for it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import pickle
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .decode import SAMPLE_RATE

WEIGHTS_PACKAGE = "resemblyzer"  # Resemblyzer 0.1.4 (Apache-2.0), installed by `make install` with a pinned hash
WEIGHTS_FILE = "pretrained.pt"
WEIGHTS_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
MEL_BANDS = 40
MEL_FFT = 400  # 25 ms
MEL_HOP = 160  # 10 ms
# Clips run at once: as fast per clip as larger batches, and an hour of speech does not hold gigabytes of gates.
MAX_BATCH = 64
TARGET_DBFS = -30.0  # the level the encoder was trained at (quieter speech is raised to it)


class VoiceModelError(RuntimeError):
    """The speaker-embedding weights are missing or are not the pinned file."""


@dataclass(frozen=True)
class VoiceEncoder:
    """LSTM weights per layer as (input weights, recurrent weights, bias), then the projection.

    Each layer's weights are stored transposed, gates in the order input, forget, output, cell, the three sigmoid
    gates' weights and bias halved: sigmoid(x) = (tanh(x / 2) + 1) / 2, so one tanh over all four gates does.
    """

    layers: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]
    projection: np.ndarray
    projection_bias: np.ndarray

    @classmethod
    def from_lstm(
        cls,
        layers: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
        projection: np.ndarray,
        projection_bias: np.ndarray,
    ) -> VoiceEncoder:
        """From a PyTorch LSTM's (weight_ih, weight_hh, bias_ih + bias_hh) per layer, gates input, forget, cell,
        output."""
        stored = []
        for input_weights, recurrent_weights, bias in layers:
            size = recurrent_weights.shape[1]
            order = np.r_[0 : 2 * size, 3 * size : 4 * size, 2 * size : 3 * size]
            scale = np.r_[np.full(3 * size, 0.5), np.ones(size)].astype(np.float32)
            stored.append(
                tuple(
                    np.ascontiguousarray(array)
                    for array in (
                        (input_weights[order] * scale[:, None]).T,
                        (recurrent_weights[order] * scale[:, None]).T,
                        bias[order] * scale,
                    )
                )
            )
        return cls(tuple(stored), projection, projection_bias)  # type: ignore[arg-type]

    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        """One unit-length embedding per clip of 16 kHz samples, shape (len(clips), 256); clips of one length
        are run as batches of up to MAX_BATCH."""
        embeddings = np.zeros((len(clips), self.projection.shape[0]), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for index, clip in enumerate(clips):
            by_length.setdefault(len(clip), []).append(index)
        for same_length in by_length.values():
            for first in range(0, len(same_length), MAX_BATCH):
                indices = same_length[first : first + MAX_BATCH]
                mels = np.stack([mel_frames(clips[i]) for i in indices])
                embeddings[indices] = self._forward(mels)
        return embeddings

    def _forward(self, mels: np.ndarray) -> np.ndarray:
        """The last hidden state of the top layer, projected; written in place to spare allocations."""
        inputs = mels
        batch, steps = mels.shape[:2]
        for input_weights, recurrent_weights, bias in self.layers:
            size = recurrent_weights.shape[0]
            projected = inputs @ input_weights + bias  # (batch, time, 4 * hidden), all time steps at once
            hidden = np.zeros((batch, size), dtype=np.float32)
            cell = np.zeros_like(hidden)
            scratch = np.empty_like(hidden)
            gates = np.empty((batch, 4 * size), dtype=np.float32)
            outputs = np.empty((batch, steps, size), dtype=np.float32)
            sigmoid_gates, candidate = gates[:, : 3 * size], gates[:, 3 * size :]
            input_gate, forget_gate, output_gate = (
                gates[:, :size],
                gates[:, size : 2 * size],
                gates[:, 2 * size : 3 * size],
            )
            for step in range(steps):
                np.matmul(hidden, recurrent_weights, out=gates)
                gates += projected[:, step]
                np.tanh(gates, out=gates)
                sigmoid_gates += 1.0
                sigmoid_gates *= 0.5
                cell *= forget_gate
                np.multiply(input_gate, candidate, out=scratch)
                cell += scratch
                np.tanh(cell, out=scratch)
                np.multiply(output_gate, scratch, out=hidden)
                outputs[:, step] = hidden
            inputs = outputs
        raw = np.maximum(hidden @ self.projection.T + self.projection_bias, 0.0)
        return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-8)


def _slaney_mel_filterbank() -> np.ndarray:
    """Triangular filters on the Slaney mel scale with unit area, as the encoder was trained on."""

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        linear = hz / (200.0 / 3)
        return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / (np.log(6.4) / 27.0), linear)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))

    fft_hz = np.linspace(0, SAMPLE_RATE / 2, MEL_FFT // 2 + 1)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(SAMPLE_RATE / 2.0)), MEL_BANDS + 2))
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    bank = np.maximum(0.0, np.minimum(lower, upper))
    bank *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return bank.astype(np.float32)


_MEL_BANK = _slaney_mel_filterbank()
_HANN = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(MEL_FFT) / MEL_FFT)).astype(np.float32)


def mel_frames(samples: np.ndarray) -> np.ndarray:
    """Mel power frames (n_frames, 40), centred every 10 ms, after raising the level to the training level."""
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if len(samples) else 0.0
    level_dbfs = 20 * np.log10(max(rms, 1e-9))
    gain = 10 ** ((TARGET_DBFS - level_dbfs) / 20) if level_dbfs < TARGET_DBFS else 1.0
    padded = np.pad(samples.astype(np.float32) * gain, MEL_FFT // 2)
    windows = np.lib.stride_tricks.sliding_window_view(padded, MEL_FFT)[::MEL_HOP] * _HANN
    power = np.abs(np.fft.rfft(windows, axis=1)) ** 2
    return (power @ _MEL_BANK.T).astype(np.float32)


def weights_path() -> Path:
    """Where the installed Resemblyzer wheel keeps its weights (found without importing the package)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise VoiceModelError(
            f"the speaker-embedding weights are not installed: the `{WEIGHTS_PACKAGE}` wheel is missing "
            "(`make install` installs it, hash-checked)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE


@lru_cache(maxsize=1)
def load_voice_encoder() -> VoiceEncoder:
    """The pinned encoder, read once per process."""
    path = weights_path()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VoiceModelError(f"cannot read the speaker-embedding weights {path}: {exc.strerror or exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise VoiceModelError(f"{path} is not the pinned speaker-embedding model (sha256 {digest})")
    state = _read_legacy_checkpoint(io.BytesIO(data))["model_state"]
    layers = tuple(
        (
            state[f"lstm.weight_ih_l{layer}"],
            state[f"lstm.weight_hh_l{layer}"],
            state[f"lstm.bias_ih_l{layer}"] + state[f"lstm.bias_hh_l{layer}"],
        )
        for layer in range(3)
    )
    return VoiceEncoder.from_lstm(layers, state["linear.weight"], state["linear.bias"])


_STORAGE_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "LongStorage": np.int64}


@dataclass(frozen=True)
class _TensorRef:
    storage_key: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _CheckpointUnpickler(pickle.Unpickler):
    """Resolves only the handful of names a saved state dict refers to; anything else is refused."""

    def __init__(self, file: BinaryIO):
        super().__init__(file)
        self.storage_types: dict[str, Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in the checkpoint")

    def persistent_load(self, pid: Any) -> Any:
        _, storage_type, key, _location, _size = pid[:5]
        self.storage_types[key] = _STORAGE_DTYPES[storage_type]
        return key


def _rebuild_tensor(key: str, offset: int, shape: tuple, stride: tuple, *_: object) -> _TensorRef:
    return _TensorRef(key, offset, tuple(shape), tuple(stride))


def _read_legacy_checkpoint(file: BinaryIO) -> dict:
    """A checkpoint in the legacy (non-zip) format: magic, protocol, system info, the object, the storages."""
    for _ in range(3):
        _CheckpointUnpickler(file).load()
    unpickler = _CheckpointUnpickler(file)
    root = unpickler.load()
    storages: dict[str, np.ndarray] = {}
    for key in _CheckpointUnpickler(file).load():
        count = int(np.frombuffer(file.read(8), "<i8")[0])
        dtype = np.dtype(unpickler.storage_types[key]).newbyteorder("<")
        storages[key] = np.frombuffer(file.read(count * dtype.itemsize), dtype=dtype)
    return _materialise(root, storages)


def _materialise(value: Any, storages: dict[str, np.ndarray]) -> Any:
    if isinstance(value, _TensorRef):
        storage = storages[value.storage_key]
        itemsize = storage.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            storage[value.offset :], value.shape, tuple(s * itemsize for s in value.stride)
        )
        return np.array(view, dtype=np.float32)
    if isinstance(value, dict):
        return {key: _materialise(item, storages) for key, item in value.items()}
    return value
