"""The whole engine on the committed calls: words, timings, speakers, per-channel mode, the contract's shape."""

from __future__ import annotations

import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
from engine_testkit import noise_floor, recording
from scoring import speaker_accuracy, word_error_rate

from symbl_server.engine import EngineOptions, transcribe
from symbl_server.engine.asr import recognise_channel
from symbl_server.engine.decode import SAMPLE_RATE, decode_audio

MAX_WER = 0.35


def test_committed_call_is_transcribed_within_the_wer_target(support_call) -> None:
    labels, result = support_call

    assert word_error_rate(labels, result) <= MAX_WER
    assert result.channels == 1
    assert abs(result.duration_s - labels["duration_s"]) < 0.05


def test_utterances_are_ordered_with_words_inside_them(support_call) -> None:
    _, result = support_call
    starts = [u.start_s for u in result.utterances]

    assert starts == sorted(starts)
    for utterance in result.utterances:
        assert utterance.text == " ".join(w.text for w in utterance.words)
        assert utterance.start_s <= utterance.words[0].start_s
        assert utterance.words[-1].end_s <= utterance.end_s + 0.011
        assert all(w.start_s < w.end_s for w in utterance.words)
        assert all(a.end_s <= b.start_s for a, b in zip(utterance.words, utterance.words[1:], strict=False))
        assert all(0.0 <= w.confidence <= 1.0 for w in utterance.words)


def test_per_channel_mode_labels_each_channel_as_its_speaker(stereo_call_per_channel) -> None:
    labels, result = stereo_call_per_channel

    assert result.channels == 2
    assert word_error_rate(labels, result) <= MAX_WER
    turns_by_speaker = {s: [t for t in labels["turns"] if t["speaker"] == s] for s in (0, 1)}
    for utterance in result.utterances:  # channel index is the speaker: no mapping needed
        middle = (utterance.start_s + utterance.end_s) / 2
        assert any(t["start_s"] - 0.3 <= middle <= t["end_s"] + 0.3 for t in turns_by_speaker[utterance.speaker])
    assert speaker_accuracy(labels, result) >= 0.90


def test_without_speaker_count_everything_is_speaker_zero(tmp_path: Path) -> None:
    """The first 14 s of the call (three turns, two voices) come back as one speaker."""
    audio = decode_audio(recording("support_call"), max_duration_s=60)
    clip = tmp_path / "opening.wav"
    _write_wav(clip, audio.samples[0][: 14 * SAMPLE_RATE])

    result = transcribe(clip, EngineOptions())

    assert len(result.utterances) >= 3
    assert {u.speaker for u in result.utterances} == {0}


def test_results_do_not_depend_on_what_the_decoder_heard_before(support_call) -> None:
    _, first = support_call
    transcribe(recording("sales_call"), EngineOptions(speaker_count=2))

    again = transcribe(recording("support_call"), EngineOptions(speaker_count=2))

    assert again == first


def test_silence_has_no_utterances(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    _write_wav(path, noise_floor(3.0))

    result = transcribe(path, EngineOptions(speaker_count=2))

    assert result.utterances == ()
    assert result.duration_s == 3.0


def test_custom_vocabulary_sets_the_spelling_of_recognised_terms() -> None:
    audio = decode_audio(recording("support_call"), max_duration_s=60).samples[0]
    opening = audio[
        int(0.4 * SAMPLE_RATE) : int(6.7 * SAMPLE_RATE)
    ]  # "... My name is Sarah. How can I help you today?"

    [plain] = recognise_channel([(opening, 0.4)])
    [spelled] = recognise_channel([(opening, 0.4)], ("Sarah", "ACME Corp", "naïve?!", ""))

    assert "sarah" in [w.text for w in plain]
    assert spelled == [replace(w, text="Sarah") if w.text == "sarah" else w for w in plain]


def _write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
