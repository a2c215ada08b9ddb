"""A recording cut short (a WAV and an MP3 cut at half) goes through the real server and pipeline: the server
transcribes the part it could decode and flags it, and the load carries a metadata entry and a warning."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
import pytest
from dagster import instance_for_test

from symbl_dagster.keys import DEFAULT_KEYS
from symbl_dagster.steps import META_PARTIAL_MEDIA
from symbl_server.engine.decode import SAMPLE_RATE, decode_audio

if TYPE_CHECKING:  # the fixtures' types, defined in this folder's conftest.py
    from conftest import Pipeline, SymblServer

pytestmark = pytest.mark.slow


def write_mp3(source: Path, path: Path) -> None:
    """``source`` re-encoded as MP3 by PyAV (its muxer writes a Xing header, which declares the frame count)."""
    samples = decode_audio(source, max_duration_s=3600).samples
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libmp3lame", rate=SAMPLE_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


def cut_in_half(path: Path, into: Path) -> None:
    into.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_recordings_cut_in_half_load_what_they_hold_with_a_warning_and_a_metadata_entry(
    symbl_server: SymblServer, sample_recording: Path, make_pipeline, tmp_path: Path
) -> None:
    write_mp3(sample_recording, tmp_path / "whole.mp3")
    with instance_for_test() as instance:
        pipeline: Pipeline = make_pipeline(symbl_server, tmp_path / "pipeline", instance, sample_recording)
        calls = pipeline.recordings_dir / "calls"
        cut_in_half(sample_recording, calls / "cut.wav")
        cut_in_half(tmp_path / "whole.mp3", calls / "cut.mp3")

        progress = pipeline.drive()

        assert progress.idle and all(result.success for _, result in progress.runs)
        keys = {"calls/cut.wav": "WAV header", "calls/cut.mp3": "Xing header"}
        for key, declared_by in keys.items():
            flag = pipeline.metadata(DEFAULT_KEYS.table("symbl_conversations").path[-1], key)[META_PARTIAL_MEDIA]
            assert flag["declared_by"] == declared_by, key
            assert flag["declared_s"] == pytest.approx(15.0, abs=0.15), key  # the 15 s sample clip
            assert flag["decoded_s"] == pytest.approx(7.5, abs=0.5), key
            assert "truncated" in flag["message"], key
            assert META_PARTIAL_MEDIA in pipeline.metadata("symbl_messages", key)
            assert pipeline.warehouse().row_counts(key)["symbl_messages"] > 0  # the part it holds is loaded
        whole = pipeline.metadata(DEFAULT_KEYS.table("symbl_conversations").path[-1], f"calls/{sample_recording.name}")
        assert META_PARTIAL_MEDIA not in whole

        warnings = [
            entry.user_message
            for _, result in progress.runs
            for entry in instance.all_logs(result.run_id)
            if entry.level == logging.WARNING and "truncated" in entry.user_message
        ]
        assert sorted(message.split(":")[0] for message in warnings) == sorted(keys)
