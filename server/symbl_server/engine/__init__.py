"""Offline speech engine: recording -> speaker-labelled utterances with word timings, on the CPU.

Pipeline (one module per step): decode -> vad -> diarize -> asr.
"""

from __future__ import annotations

import os

from .asr import recognise_channel
from .decode import SAMPLE_RATE, check_wav_header, decode_audio
from .diarize import SpeakerSegment, label_speakers
from .results import MAX_DURATION_S, AudioError, EngineOptions, Transcription, Utterance, Word
from .vad import detect_speech

__all__ = [
    "MAX_DURATION_S",
    "AudioError",
    "EngineOptions",
    "Transcription",
    "Utterance",
    "Word",
    "check_wav_header",
    "transcribe",
]


def transcribe(path: str | os.PathLike, options: EngineOptions) -> Transcription:
    """Transcribe one recording; raises AudioError when it cannot be processed."""
    if options.max_duration_s <= 0:
        raise ValueError("max_duration_s must be positive")
    audio = decode_audio(path, max_duration_s=options.max_duration_s, keep_channels=options.separate_channels)
    if options.separate_channels:
        turns = [
            SpeakerSegment(channel, seg.start_s, seg.end_s)
            for channel, samples in enumerate(audio.samples)
            for seg in detect_speech(samples)
        ]
    else:
        mono = audio.samples[0]
        turns = label_speakers(mono, detect_speech(mono), options.speaker_count)
    channel_of = (lambda turn: turn.speaker) if options.separate_channels else (lambda turn: 0)
    utterances: list[Utterance] = []
    for channel in sorted({channel_of(turn) for turn in turns}):
        own = sorted((t for t in turns if channel_of(t) == channel), key=lambda t: t.start_s)
        clips = [
            (audio.samples[channel][int(t.start_s * SAMPLE_RATE) : int(t.end_s * SAMPLE_RATE)], t.start_s) for t in own
        ]
        for turn, words in zip(own, recognise_channel(clips, options.custom_vocabulary), strict=False):
            if words:
                utterances.append(_utterance(turn, words))
    utterances.sort(key=lambda u: (u.start_s, u.speaker))
    return Transcription(
        duration_s=round(audio.duration_s, 3), channels=audio.source_channels, utterances=tuple(utterances)
    )


def _utterance(turn: SpeakerSegment, words: list[Word]) -> Utterance:
    return Utterance(
        speaker=turn.speaker,
        start_s=round(turn.start_s, 3),
        end_s=round(turn.end_s, 3),
        text=" ".join(w.text for w in words),
        words=tuple(words),
    )
