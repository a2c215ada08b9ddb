"""Submission options: the typed options, their two wire encodings, and submission identities."""

from __future__ import annotations

import pytest

from symbl_dagster.client import SubmissionOptions
from symbl_dagster.client.options import normalize_options, submission_identity, to_query_params


def test_submission_options_to_params_and_query_encoding():
    options = SubmissionOptions(
        name="Call 1",
        enable_speaker_diarization=True,
        diarization_speaker_count=2,
        language_code="en-US",
        confidence_threshold=0.6,
        custom_vocabulary=["Dagster", "Symbl"],
        detect_phrases=False,
        channel_metadata=[{"channel": 1, "speaker": {"name": "A"}}],
        extra={"enableSummary": True},
    )
    assert options.to_params() == {
        "name": "Call 1",
        "enableSpeakerDiarization": True,
        "diarizationSpeakerCount": 2,
        "languageCode": "en-US",
        "confidenceThreshold": 0.6,
        "customVocabulary": ["Dagster", "Symbl"],
        "detectPhrases": False,
        "channelMetadata": [{"channel": 1, "speaker": {"name": "A"}}],
        "enableSummary": True,
    }
    assert to_query_params(options) == {
        "name": "Call 1",
        "enableSpeakerDiarization": "true",
        "diarizationSpeakerCount": "2",
        "languageCode": "en-US",
        "confidenceThreshold": "0.6",
        "customVocabulary": '["Dagster", "Symbl"]',
        "detectPhrases": "false",
        "channelMetadata": '[{"channel": 1, "speaker": {"name": "A"}}]',
        "enableSummary": "true",
    }


def test_mapping_options_pass_through_and_snake_case_is_refused_with_a_hint():
    assert normalize_options({"webhookUrl": "https://h", "name": None}) == {"webhookUrl": "https://h"}
    with pytest.raises(ValueError, match="'enable_speaker_diarization' -> 'enableSpeakerDiarization'"):
        normalize_options({"enable_speaker_diarization": True})
    with pytest.raises(TypeError):
        normalize_options(["name"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [{"confidence_threshold": 0.2}, {"diarization_speaker_count": 0}, {"mode": "loud"}, {"custom_vocabulary": "word"}],
)
def test_invalid_submission_options_are_refused(bad):
    with pytest.raises(ValueError):
        SubmissionOptions(**bad)


def test_submission_identity_is_stable_readable_and_changes_with_the_options():
    identity = submission_identity("calls/a.wav", "v1", SubmissionOptions(detect_phrases=True, name="ignored"))
    assert identity.startswith("calls/a.wav@v1#") and len(identity) == len("calls/a.wav@v1#") + 12
    assert identity == submission_identity("calls/a.wav", "v1", {"detectPhrases": True})  # the name aside
    assert identity != submission_identity("calls/a.wav", "v1", {"detectPhrases": False})
    assert identity != submission_identity("calls/a.wav", "v2", {"detectPhrases": True})
    with pytest.raises(ValueError, match="key and version"):
        submission_identity("calls/a.wav", "")
