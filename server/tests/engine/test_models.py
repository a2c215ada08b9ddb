"""Loading the speech model: the pinned bundled model, clear errors naming the flag, and language handling."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from engine_testkit import recording

from symbl_server.cli import configure_serve_parser, settings_from_args
from symbl_server.engine import EngineOptions, ModelError, SpeechEngine, UnsupportedLanguage, load_engine
from symbl_server.engine.recognizer import BUNDLED_MODEL_FILES, Recognizer, bundled_model_dir, verify_bundled_model
from symbl_server.engine.voices import WEIGHTS_SHA256, load_voice_encoder, weights_path
from symbl_server.settings import SpeechSettings


def test_the_bundled_model_is_the_pinned_english_model(speech_engine: SpeechEngine) -> None:
    verify_bundled_model(bundled_model_dir())

    assert speech_engine.recognizer.name == "tiny.en (bundled)"
    assert not speech_engine.recognizer.multilingual
    assert speech_engine.recognizer.languages == {"en"}
    assert load_engine() is speech_engine  # loaded once per process
    assert load_voice_encoder().projection.shape == (256, 256)
    assert weights_path().name == "pretrained.pt" and len(WEIGHTS_SHA256) == 64


def test_a_model_file_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "model"
    copy.mkdir()
    for name in BUNDLED_MODEL_FILES:
        (copy / name).symlink_to(bundled_model_dir() / name)
    (copy / "config.json").unlink()
    (copy / "config.json").write_text((bundled_model_dir() / "config.json").read_text().replace("50257", "50258"))

    with pytest.raises(ModelError, match=r"config\.json is not the pinned file .*--model"):
        verify_bundled_model(copy)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (SpeechSettings(model="/no/such/model"), r"--model /no/such/model: not a folder"),
        (SpeechSettings(model="./relative/missing"), r"--model ./relative/missing: not a folder"),
        (SpeechSettings(device="tpu"), r"--device must be one of cpu, cuda, auto"),
        (SpeechSettings(cpu_threads=-1), r"--cpu-threads must be 0"),
        (SpeechSettings(compute_type="int3"), r"--compute-type int3"),
        (SpeechSettings(model="large-v3"), r"'large-v3' \(--model\) is neither .*--allow-model-download"),
    ],
)
def test_unusable_model_settings_are_a_clear_error_naming_the_flag(settings: SpeechSettings, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        Recognizer(settings)


def test_a_folder_without_a_model_or_with_a_broken_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"has no model\.bin"):
        Recognizer(SpeechSettings(model=str(tmp_path)))
    for name in BUNDLED_MODEL_FILES:
        shutil.copy(bundled_model_dir() / name, tmp_path / name)
    (tmp_path / "model.bin").write_bytes(b"not a model")

    with pytest.raises(ModelError, match=r"cannot load speech model .* \(--model\)"):
        Recognizer(SpeechSettings(model=str(tmp_path)))


def test_a_model_given_by_path_is_used(tmp_path: Path) -> None:
    for name in BUNDLED_MODEL_FILES:
        (tmp_path / name).symlink_to(bundled_model_dir() / name)

    recognizer = Recognizer(SpeechSettings(model=str(tmp_path)))

    assert recognizer.name == str(tmp_path) and recognizer.languages == {"en"}


def test_server_start_up_fails_with_the_flag_named(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "symbl_server", "--model", str(tmp_path / "missing"), "--data-dir", str(tmp_path)],
        env={"PATH": "/usr/bin:/bin", "SYMBL_APP_ID": "id", "SYMBL_APP_SECRET": "secret-value"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2
    assert f"error: --model {tmp_path / 'missing'}: not a folder" in result.stderr
    assert "secret-value" not in result.stderr + result.stdout


def test_a_language_the_model_cannot_do_is_refused_not_transcribed_as_english(speech_engine: SpeechEngine) -> None:
    speech_engine.check_language("en")

    with pytest.raises(UnsupportedLanguage, match=r"language 'es' cannot be transcribed: .* English-only .*--model"):
        speech_engine.transcribe(recording("support_call"), EngineOptions(language="es"))


def test_model_flags_are_in_the_help_and_become_settings() -> None:
    parser = argparse.ArgumentParser(prog="symbl-server")
    configure_serve_parser(parser)
    text = parser.format_help()
    args = parser.parse_args(["--model", "/models/small", "--device", "cuda", "--compute-type", "float16"])

    for flag in ("--model", "--device", "--compute-type", "--cpu-threads", "--allow-model-download"):
        assert flag in text
    assert settings_from_args(args).speech == SpeechSettings(
        model="/models/small", device="cuda", compute_type="float16", cpu_threads=1, allow_download=False
    )
    assert settings_from_args(parser.parse_args([])).speech == SpeechSettings()
