"""Decoding every supported container to 16 kHz, and a clear AudioError for everything that is not usable audio."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import av
import numpy as np
import pytest
from engine_testkit import recording, tone
from make_calls import write_audio

from symbl_server.engine import AudioError, EngineOptions, PartialMedia, load_engine
from symbl_server.engine.decode import SAMPLE_RATE, decode_audio


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(samples))


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3", ".ogg", ".m4a"])
def test_each_format_decodes_to_16k_mono_and_per_channel(write_clip, suffix: str) -> None:
    stereo = np.stack([tone(300, 2.0), tone(700, 2.0)])
    path = write_clip(f"clip{suffix}", stereo)

    mono = decode_audio(path, max_duration_s=60)
    per_channel = decode_audio(path, max_duration_s=60, keep_channels=True)

    assert mono.samples.dtype == np.float32 and mono.samples.shape[0] == 1
    assert mono.duration_s == pytest.approx(2.0, abs=0.15)  # AAC and MP3 priming add a frame or two
    assert mono.source_channels == per_channel.source_channels == 2
    assert per_channel.samples.shape[0] == 2
    assert dominant_hz(per_channel.samples[0]) == pytest.approx(300, abs=10)
    assert dominant_hz(per_channel.samples[1]) == pytest.approx(700, abs=10)


def test_audio_track_of_a_video_file_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "meeting.mp4"
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        for index in range(20):
            picture = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 10, dtype=np.uint8), format="rgb24")
            picture.pts = index
            container.mux(video.encode(picture))
        samples = tone(440, 2.0)
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = SAMPLE_RATE, start
            container.mux(audio.encode(frame))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))

    decoded = decode_audio(path, max_duration_s=60)

    assert decoded.duration_s == pytest.approx(2.0, abs=0.15)
    assert dominant_hz(decoded.samples[0]) == pytest.approx(440, abs=10)


def test_video_without_audio_track_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "silent-film.mp4"
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for index in range(5):
            picture = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), dtype=np.uint8), format="rgb24")
            picture.pts = index
            container.mux(video.encode(picture))
        container.mux(video.encode(None))

    with pytest.raises(AudioError, match="no audio track"):
        decode_audio(path, max_duration_s=60)


def committed_wav_bytes() -> bytes:
    return recording("support_call").read_bytes()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"Hello, this is a text file and not a recording.\n" * 20, "not a recognised audio"),
        (np.random.default_rng(1).bytes(64_000), "not a recognised audio"),
    ],
    ids=["empty", "text", "random-bytes"],
)
def test_unusable_input_raises_audio_error_with_reason(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "upload.wav"
    path.write_bytes(content)

    with pytest.raises(AudioError, match=message):
        load_engine().transcribe(path, EngineOptions())


def test_committed_wav_cut_in_half_is_decoded_in_part_and_flagged(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    path.write_bytes(committed_wav_bytes()[: len(committed_wav_bytes()) // 2])

    decoded = decode_audio(path, max_duration_s=60)

    assert decoded.partial == PartialMedia(decoded_s=27.077, declared_s=54.157, declared_by="WAV header")
    assert re.search(
        r"its WAV header promises 54\.2 s of audio but only 27\.1 s could be decoded", decoded.partial.message
    )


@pytest.mark.parametrize(
    ("suffix", "declared_by"),
    [(".wav", "WAV header"), (".flac", "FLAC STREAMINFO"), (".mp3", "Xing header"), (".mkv", "Matroska segment info")],
)
def test_recording_cut_in_half_is_flagged_with_what_its_header_declares(
    write_clip, suffix: str, declared_by: str
) -> None:
    whole = write_clip(f"whole{suffix}", tone(440, 6.0)[None])
    cut = whole.with_name(f"cut{suffix}")
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])

    assert decode_audio(whole, max_duration_s=60).partial is None
    decoded = decode_audio(cut, max_duration_s=60)

    assert decoded.partial is not None and decoded.partial.declared_by == declared_by
    assert decoded.partial.declared_s == pytest.approx(6.0, abs=0.15)
    assert decoded.partial.decoded_s == pytest.approx(decoded.duration_s, abs=0.001)
    assert 2.0 < decoded.duration_s < 4.0


@pytest.mark.parametrize("suffix", [".mp3", ".ogg"])
def test_formats_that_declare_no_duration_are_not_flagged(tmp_path: Path, suffix: str) -> None:
    """An MP3 without a Xing/VBRI header or TLEN (plain CBR) and an Ogg file state no length up front: ffmpeg's
    figure for a cut one is as short as the cut, so nothing can be flagged (and nothing falsely)."""
    whole = tmp_path / f"whole{suffix}"
    write_audio(whole, tone(440, 6.0)[None], input_rate=SAMPLE_RATE, options={"write_xing": "0"})
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])

    decoded = decode_audio(cut, max_duration_s=60)

    assert decoded.declared is None and decoded.partial is None
    assert 2.0 < decoded.duration_s < 4.0


def test_an_id3_tlen_declares_the_length_of_a_headerless_mp3(tmp_path: Path) -> None:
    whole = tmp_path / "whole.mp3"
    write_audio(whole, tone(440, 6.0)[None], input_rate=SAMPLE_RATE, options={"write_xing": "0"}, tags={"TLEN": "6000"})
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])

    decoded = decode_audio(cut, max_duration_s=60)

    assert decoded.partial is not None
    assert (decoded.partial.declared_s, decoded.partial.declared_by) == (6.0, "ID3 TLEN")


def test_missing_file_is_an_audio_error(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="cannot be read"):
        decode_audio(tmp_path / "gone.wav", max_duration_s=60)


def test_recording_over_the_limit_is_rejected_from_its_container_duration() -> None:
    with pytest.raises(AudioError, match=r"recording is 56\.\d s long; the limit is 30\.0 s"):
        load_engine().transcribe(recording("sales_call"), EngineOptions(max_duration_s=30))


def test_five_hour_wav_header_is_rejected_before_decoding(tmp_path: Path) -> None:
    """A header promising 5 h of 16 kHz audio fails on the header alone (the body holds only 1 s)."""
    byte_rate = SAMPLE_RATE * 2
    declared = 5 * 3600 * byte_rate
    fmt = struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, byte_rate, 2, 16)
    header = b"RIFF" + struct.pack("<I", 36 + declared) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    path = tmp_path / "five-hours.wav"
    path.write_bytes(header + b"data" + struct.pack("<I", declared) + bytes(byte_rate))

    with pytest.raises(AudioError, match=r"recording is 5\.00 h long; the limit is 4\.00 h"):
        load_engine().transcribe(path, EngineOptions())
