"""Short-time acoustic features (10 ms hop) shared by voice activity detection and diarization."""

from __future__ import annotations

import numpy as np
from scipy import fft, signal

from .decode import SAMPLE_RATE

HOP = SAMPLE_RATE // 100  # 10 ms: the frame rate pocketsphinx uses too
FRAME = 400  # 25 ms analysis window
N_FFT = 512
N_MELS = 40
N_MFCC = 20
PITCH_FRAME = 640  # 40 ms: two periods of a 60 Hz voice
PITCH_MIN_HZ, PITCH_MAX_HZ = 60.0, 400.0
_HIGHPASS = signal.butter(4, 80.0, btype="highpass", fs=SAMPLE_RATE, output="sos")


def frames(samples: np.ndarray, length: int) -> np.ndarray:
    """View of samples as overlapping frames (n_frames, length) at the 10 ms hop; frame i starts at i*HOP."""
    padded = np.pad(samples, (0, max(0, length - len(samples))))
    count = 1 + (len(padded) - length) // HOP
    return np.lib.stride_tricks.sliding_window_view(padded, length)[::HOP][:count]


def frame_energy_db(samples: np.ndarray, block_frames: int = 6000) -> np.ndarray:
    """Per-frame energy above 80 Hz in dB (hum and DC do not count as speech).

    Works through a minute at a time, so hours of audio need no more than a minute's scratch memory.
    """
    if len(samples) == 0:
        return np.zeros(0, dtype=np.float32)
    count = 1 + max(0, len(samples) - FRAME) // HOP
    energy = np.empty(count, dtype=np.float32)
    state = signal.sosfilt_zi(_HIGHPASS) * 0.0
    filtered_tail = np.zeros(0, dtype=np.float32)  # filtered samples the previous block's frames did not finish
    consumed = 0  # raw samples filtered so far
    for first in range(0, count, block_frames):
        last = min(count, first + block_frames)
        needed_end = min(len(samples), (last - 1) * HOP + FRAME)
        fresh, state = signal.sosfilt(_HIGHPASS, samples[consumed:needed_end], zi=state)
        consumed = needed_end
        block = np.concatenate([filtered_tail, fresh.astype(np.float32)])
        block_start = first * HOP
        energy[first:last] = np.mean(frames(block, FRAME)[: last - first] ** 2, axis=1)
        filtered_tail = block[last * HOP - block_start :]
    return 10.0 * np.log10(energy + 1e-10)


def _mel_filterbank() -> np.ndarray:
    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    mel_points = np.linspace(hz_to_mel(np.array(64.0)), hz_to_mel(np.array(SAMPLE_RATE / 2)), N_MELS + 2)
    bins = np.floor((N_FFT + 1) * (700.0 * (10 ** (mel_points / 2595.0) - 1.0)) / SAMPLE_RATE).astype(int)
    bank = np.zeros((N_MELS, N_FFT // 2 + 1), dtype=np.float32)
    for m in range(1, N_MELS + 1):
        left, centre, right = bins[m - 1], bins[m], bins[m + 1]
        bank[m - 1, left:centre] = (np.arange(left, centre) - left) / max(centre - left, 1)
        bank[m - 1, centre:right] = (right - np.arange(centre, right)) / max(right - centre, 1)
    return bank


_MEL_BANK = _mel_filterbank()
_WINDOW = np.hamming(FRAME).astype(np.float32)
_PITCH_WINDOW = np.hanning(PITCH_FRAME).astype(np.float32)


def mfcc(samples: np.ndarray) -> np.ndarray:
    """MFCCs (n_frames, N_MFCC) without c0, so loudness does not separate speakers."""
    windowed = frames(samples, FRAME) * _WINDOW
    power = np.abs(np.fft.rfft(windowed, n=N_FFT, axis=1)) ** 2
    log_mel = np.log(power @ _MEL_BANK.T + 1e-8)
    return fft.dct(log_mel, type=2, axis=1, norm="ortho")[:, 1 : N_MFCC + 1].astype(np.float32)


def pitch_hz(samples: np.ndarray, voicing_threshold: float = 0.45) -> np.ndarray:
    """Per-frame fundamental frequency from the normalised autocorrelation peak; NaN where unvoiced."""
    windowed = frames(samples, PITCH_FRAME) * _PITCH_WINDOW
    spectrum = np.fft.rfft(windowed, n=2 * PITCH_FRAME, axis=1)
    autocorr = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :PITCH_FRAME]
    min_lag, max_lag = int(SAMPLE_RATE / PITCH_MAX_HZ), int(SAMPLE_RATE / PITCH_MIN_HZ)
    peak_region = autocorr[:, min_lag : max_lag + 1]
    best = np.argmax(peak_region, axis=1)
    strength = peak_region[np.arange(len(best)), best] / (autocorr[:, 0] + 1e-10)
    return np.where(strength >= voicing_threshold, SAMPLE_RATE / (best + min_lag), np.nan)
