"""Async API submission parameters: typed options and their two wire encodings (query string and JSON body)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

_CAMEL_KEY = re.compile(r"^[a-z][A-Za-z0-9]*$")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True)
class SubmissionOptions:
    """Symbl's submission parameters with Python names; ``to_params()`` gives the camelCase mapping.

    Leave a field ``None`` to use Symbl's default. ``extra`` passes any other camelCase parameter through
    unchanged, so a parameter Symbl adds later needs no release of this package.
    """

    name: str | None = None
    webhook_url: str | None = None
    language_code: str | None = None
    confidence_threshold: float | None = None
    custom_vocabulary: Sequence[str] | None = None
    detect_phrases: bool | None = None
    detect_entities: bool | None = None
    entities: Sequence[Mapping[str, Any]] | None = None
    mode: str | None = None
    enable_speaker_diarization: bool | None = None
    diarization_speaker_count: int | None = None
    enable_separate_recognition_per_channel: bool | None = None
    channel_metadata: Sequence[Mapping[str, Any]] | None = None
    trackers: Sequence[Mapping[str, Any]] | None = None
    enable_all_trackers: bool | None = None
    enable_summary: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.confidence_threshold is not None and not 0.5 <= self.confidence_threshold <= 1.0:
            raise ValueError(f"confidence_threshold must be within 0.5-1.0, got {self.confidence_threshold}")
        if self.diarization_speaker_count is not None and self.diarization_speaker_count < 1:
            raise ValueError(f"diarization_speaker_count must be at least 1, got {self.diarization_speaker_count}")
        if self.mode is not None and self.mode not in ("default", "phone"):
            raise ValueError(f"mode must be 'default' or 'phone', got {self.mode!r}")
        if isinstance(self.custom_vocabulary, str):
            raise ValueError("custom_vocabulary must be a list of strings, not one string")

    def to_params(self) -> dict[str, Any]:
        """The camelCase parameters that are set, lists copied to plain lists."""
        params: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name == "extra" or value is None:
                continue
            params[_camel(spec.name)] = (
                [dict(v) if isinstance(v, Mapping) else v for v in value] if isinstance(value, (list, tuple)) else value
            )
        return {**params, **dict(self.extra)}


Options = SubmissionOptions | Mapping[str, Any] | None


def normalize_options(options: Options) -> dict[str, Any]:
    """Options as a camelCase dict; rejects snake_case keys, which Symbl would silently ignore."""
    if options is None:
        return {}
    if isinstance(options, SubmissionOptions):
        return options.to_params()
    if not isinstance(options, Mapping):
        raise TypeError(f"options must be a SubmissionOptions or a mapping, not {type(options).__name__}")
    params = {str(key): value for key, value in options.items() if value is not None}
    wrong = sorted(key for key in params if not _CAMEL_KEY.match(key))
    if wrong:
        hints = ", ".join(f"{key!r} -> {_camel(key)!r}" for key in wrong)
        raise ValueError(f"Symbl parameters are camelCase: {hints}")
    return params


def to_query_params(options: Options) -> dict[str, str]:
    """File endpoints take parameters in the query string: booleans as ``true``/``false``, lists as JSON."""
    encoded: dict[str, str] = {}
    for key, value in normalize_options(options).items():
        if isinstance(value, bool):
            encoded[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple, Mapping)):
            encoded[key] = json.dumps(list(value) if isinstance(value, tuple) else value)
        else:
            encoded[key] = str(value)
    return encoded


def submission_identity(key: str, version: str, options: Options = None) -> str:
    """A name that identifies one submission of one version of a recording with given options.

    ``SymblClient.submit_or_adopt`` gives it to the conversation as its ``name``, so an attempt whose outcome
    is unknown can find what it created. Readable (``key@version#digest``) and stable: equal inputs give equal
    identities, and any change to the options (the ``name`` option aside) gives another.
    """
    if not key or not version:
        raise ValueError("a submission identity needs the recording's key and version")
    params = {name: value for name, value in normalize_options(options).items() if name != "name"}
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]
    return f"{key}@{version}#{digest}"
