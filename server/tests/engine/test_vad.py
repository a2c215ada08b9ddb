"""Voice activity detection on synthetic signals with known speech positions."""

from __future__ import annotations

import itertools

import pytest
from engine_testkit import noise_floor, place, voice

from symbl_server.engine.features import frame_energy_db
from symbl_server.engine.vad import VadSettings, detect_speech

BOUNDARY_TOLERANCE_S = VadSettings().padding_s + 0.05


def spans(segments) -> list[tuple[float, float]]:
    return [(s.start_s, s.end_s) for s in segments]


def edges(segments) -> list[float]:
    return [t for s in segments for t in (s.start_s, s.end_s)]


def test_finds_each_burst_of_speech_with_padded_boundaries() -> None:
    signal = noise_floor(6.0)
    place(signal, voice(120, 1.5, 0.8), 1.0)
    place(signal, voice(220, 1.0, 0.6), 3.3)

    found = spans(detect_speech(signal))

    assert len(found) == 2
    for (start, end), (true_start, true_end) in zip(found, [(1.0, 2.5), (3.3, 4.3)], strict=False):
        assert start == pytest.approx(true_start, abs=BOUNDARY_TOLERANCE_S)
        assert end == pytest.approx(true_end, abs=BOUNDARY_TOLERANCE_S)


@pytest.mark.parametrize(("pause_s", "expected_segments"), [(0.15, 1), (0.6, 2)])
def test_short_pauses_stay_inside_one_utterance(pause_s: float, expected_segments: int) -> None:
    signal = noise_floor(5.0)
    place(signal, voice(150, 1.2, 0.7), 1.0)
    place(signal, voice(150, 1.2, 0.7, seed=1), 2.2 + pause_s)

    assert len(detect_speech(signal)) == expected_segments


def test_clicks_and_a_steady_noise_floor_are_not_speech() -> None:
    signal = noise_floor(4.0, level_dbfs=-45.0)
    place(signal, voice(150, 0.03, 0.7), 2.0)  # a 30 ms click

    assert detect_speech(signal) == []


def test_detection_does_not_depend_on_recording_level() -> None:
    signal = noise_floor(6.0)
    place(signal, voice(120, 1.5, 0.8), 1.0)
    place(signal, voice(220, 1.0, 0.6), 3.3)

    loud, quiet = edges(detect_speech(signal)), edges(detect_speech(signal * 0.02))

    assert len(loud) == 4
    assert quiet == pytest.approx(loud, abs=0.03)


def test_long_monologue_is_split_at_pauses_into_bounded_segments() -> None:
    signal = noise_floor(50.0)
    for second in range(1, 48, 3):  # 2.8 s of voice then 0.2 s breath, 16 times
        place(signal, voice(130, 2.8, 0.75, seed=second), second)
    settings = VadSettings()

    found = detect_speech(signal, settings)

    assert len(found) >= 3
    assert all(s.duration_s <= settings.max_segment_s for s in found)
    assert found[0].start_s == pytest.approx(1.0, abs=BOUNDARY_TOLERANCE_S)
    assert found[-1].end_s == pytest.approx(48.8, abs=BOUNDARY_TOLERANCE_S)
    assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(found))


def test_empty_signal_has_no_speech() -> None:
    assert detect_speech(noise_floor(0.0)) == []


def test_energy_is_the_same_whether_computed_in_blocks_or_at_once() -> None:
    signal = noise_floor(20.0, level_dbfs=-30.0)
    place(signal, voice(140, 5.0, 0.7), 3.0)

    whole, blocks = frame_energy_db(signal, block_frames=10**9), frame_energy_db(signal, block_frames=777)

    assert len(whole) == len(blocks) == 1 + (len(signal) - 400) // 160
    assert blocks == pytest.approx(whole, abs=1e-3)
