"""Offline speech engine: recording -> speaker-labelled utterances with word timings.

Pipeline (one module per step): decode -> vad -> recognizer (Whisper) -> diarize (voice embeddings) -> utterances.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

from symbl_server.settings import SpeechSettings

from .decode import check_wav_header, decode_audio
from .diarize import SpeakerTrack, speaker_track
from .recognizer import ModelError, Recognizer, UnsupportedLanguage
from .results import MAX_DURATION_S, AudioError, EngineOptions, PartialMedia, Transcription, Utterance, Word
from .vad import detect_speech
from .voices import VoiceEncoder, VoiceModelError, load_voice_encoder

__all__ = [
    "MAX_DURATION_S",
    "AudioError",
    "EngineOptions",
    "ModelError",
    "PartialMedia",
    "SpeechEngine",
    "Transcription",
    "UnsupportedLanguage",
    "Utterance",
    "Word",
    "check_wav_header",
    "load_engine",
]

MAX_PAUSE_S = 1.0  # a longer silence between two words of one speaker starts a new utterance
_SENTENCE_END = re.compile(r"[.?!]$")


class SpeechEngine:
    """A loaded speech model and voice encoder; transcribe() is safe to call from several threads."""

    def __init__(self, recognizer: Recognizer, voices: VoiceEncoder):
        self.recognizer = recognizer
        self._voices = voices

    def check_language(self, language: str) -> None:
        """Raises UnsupportedLanguage when the model cannot transcribe `language` (ISO 639-1)."""
        self.recognizer.check_language(language)

    def transcribe(self, path: str | os.PathLike, options: EngineOptions) -> Transcription:
        """Transcribe one recording; raises AudioError (or UnsupportedLanguage) when it cannot be processed."""
        if options.max_duration_s <= 0:
            raise ValueError("max_duration_s must be positive")
        self.check_language(options.language)
        audio = decode_audio(path, max_duration_s=options.max_duration_s, keep_channels=options.separate_channels)
        utterances: list[Utterance] = []
        for channel, samples in enumerate(audio.samples):
            words = self.recognizer.recognise(samples, options.language, options.custom_vocabulary)
            if options.separate_channels:
                utterances.extend(_utterances(words, [channel] * len(words)))
            else:
                track = speaker_track(samples, detect_speech(samples), options.speaker_count or 1, self._voices)
                speakers = [track.speaker_between(word.start_s, word.end_s) for word in words]
                utterances.extend(_utterances(words, speakers, track))
        utterances.sort(key=lambda u: (u.start_s, u.speaker))
        return Transcription(
            duration_s=round(audio.duration_s, 3),
            channels=audio.source_channels,
            utterances=tuple(utterances),
            partial=audio.partial,
        )


def _utterances(words: list[Word], speakers: list[int], track: SpeakerTrack | None = None) -> list[Utterance]:
    """Consecutive words of one speaker, split at a long pause or after a sentence ends at a pause; with a speaker
    track, each utterance spans the speech its speaker holds around its words, up to its neighbours."""
    groups: list[tuple[int, list[Word]]] = []
    for word, speaker in zip(words, speakers, strict=True):
        if groups and groups[-1][0] == speaker:
            previous = groups[-1][1][-1]
            pause = word.start_s - previous.end_s
            if pause < MAX_PAUSE_S and not (_SENTENCE_END.search(previous.text) and pause > MAX_PAUSE_S / 4):
                groups[-1][1].append(word)
                continue
        groups.append((speaker, [word]))
    spans = [(group[0].start_s, group[-1].end_s) for _, group in groups]
    if track is not None:
        widened: list[tuple[float, float]] = []
        for i, (speaker, _) in enumerate(groups):
            start, end = track.speech_around(speaker, *spans[i])
            start = max(start, widened[-1][1] if widened else 0.0)  # never into the previous utterance
            end = min(end, spans[i + 1][0]) if i + 1 < len(spans) else end  # nor into the next one's words
            widened.append((start, end))
        spans = widened
    return [
        Utterance(
            speaker=speaker,
            start_s=start_s,
            end_s=end_s,
            text=" ".join(word.text for word in group),
            words=tuple(group),
        )
        for (speaker, group), (start_s, end_s) in zip(groups, spans, strict=True)
    ]


def load_engine(settings: SpeechSettings | None = None, workers: int = 1) -> SpeechEngine:
    """The engine for these settings (default: the bundled model on the CPU), loaded once per process;
    raises ModelError naming the flag to change."""
    return _load_engine(settings or SpeechSettings(), workers)


@lru_cache(maxsize=4)
def _load_engine(settings: SpeechSettings, workers: int) -> SpeechEngine:
    try:
        voices = load_voice_encoder()
    except VoiceModelError as exc:
        raise ModelError(str(exc)) from exc
    return SpeechEngine(Recognizer(settings, workers), voices)
