"""The local-folder storage and the recordings sensor over it, on real files and a real Dagster instance."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance

from symbl_dagster.partitions import RECORDINGS_PARTITIONS
from symbl_dagster.sensors import build_recordings_sensor
from symbl_dagster.storage import (
    LocalRecordingStorage,
    RecordingChangedError,
    RecordingNotFoundError,
    RecordingStorageError,
    S3RecordingStorage,
    recording_storage_from_uri,
)

from .conftest import SensorDriver


def write(path: Path, data: bytes = b"RIFF....WAVEfmt ") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def age(path: Path, seconds: float = 3600) -> None:
    """Make a file look written a while ago (its ctime stays now, as after a real `cp -p`)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "recordings").mkdir()
    return tmp_path / "recordings"


def storage_for(folder: Path, **options) -> LocalRecordingStorage:
    return LocalRecordingStorage(directory=str(folder), settle_seconds=options.pop("settle_seconds", 0), **options)


def scan_all(storage: LocalRecordingStorage, cursor: str | None = None, deadline: float | None = None):
    result = storage.scan(cursor, time.monotonic() + 30 if deadline is None else deadline)
    return result


def test_each_recording_becomes_one_partition_and_one_run_over_repeated_ticks(folder: Path, instance: DagsterInstance):
    write(folder / "b.wav")
    write(folder / "calls" / "2024" / "a call.mp3")
    write(folder / "video.MP4")
    driver = SensorDriver(instance, storage_for(folder))

    first = driver.tick()
    assert sorted(r.partition_key for r in first) == ["b.wav", "calls/2024/a call.mp3", "video.MP4"]
    assert driver.partitions == ["b.wav", "calls/2024/a call.mp3", "video.MP4"]
    request = next(r for r in first if r.partition_key == "b.wav")
    recording = driver.storage.get_recording("b.wav")
    assert request.run_key == f"b.wav@{recording.version}"
    assert request.tags["symbl/recording_version"] == recording.version
    assert request.tags["symbl/recording_uri"] == (folder / "b.wav").as_uri()

    for _ in range(3):
        assert driver.tick() == []
    assert len(driver.run_keys) == len(set(driver.run_keys)) == 3

    write(folder / "c.flac")
    assert [r.partition_key for r in driver.tick()] == ["c.flac"]
    assert driver.tick() == []


def test_recording_metadata(folder: Path):
    write(folder / "talk.mp4", b"x" * 10)
    [recording] = scan_all(storage_for(folder)).recordings
    info = (folder / "talk.mp4").stat()
    assert (recording.media_kind, recording.content_type, recording.size) == ("video", "video/mp4", 10)
    assert recording.version == f"10-{info.st_mtime_ns}"
    assert recording.uri == (folder / "talk.mp4").as_uri()


def test_files_still_being_written_wait_until_they_settle(folder: Path, instance: DagsterInstance):
    write(folder / "done.wav")
    age(folder / "done.wav")
    storage = storage_for(folder, settle_seconds=1.0)
    driver = SensorDriver(instance, storage)
    time.sleep(1.1)  # done.wav's ctime (set by the write above) settles
    partial = write(folder / "partial.wav", b"RIFF")

    assert [r.partition_key for r in driver.tick()] == ["done.wav"]
    with partial.open("ab") as stream:  # still growing
        stream.write(b"more")
    assert driver.tick() == []
    time.sleep(1.1)
    [request] = driver.tick()
    assert request.partition_key == "partial.wav"
    assert request.tags["symbl/recording_version"].startswith("8-")
    assert driver.tick() == []


def test_hidden_files_are_ignored_and_unsupported_ones_reported_once(folder: Path):
    write(folder / ".hidden.wav")
    write(folder / ".sync" / "inside.wav")
    write(folder / "notes.txt", b"hello")
    write(folder / "README", b"hello")
    write(folder / "empty.wav", b"")
    write(folder / "ok.ogg")
    storage = storage_for(folder)

    first = scan_all(storage)
    assert [r.partition_key for r in first.recordings] == ["ok.ogg"]
    reasons = dict(first.skipped)
    assert set(reasons) == {"notes.txt", "README", "empty.wav"}
    assert "unsupported file type (.txt)" in reasons["notes.txt"]
    assert "no extension" in reasons["README"]
    assert reasons["empty.wav"] == "empty file"

    second = scan_all(storage, first.cursor)
    assert second.recordings == [] and second.skipped == []

    write(folder / "empty.wav", b"RIFF now with content")  # filled in: a new version, now a recording
    third = scan_all(storage, second.cursor)
    assert [r.partition_key for r in third.recordings] == ["empty.wav"]


def test_a_changed_file_runs_again_under_a_new_run_key(folder: Path, instance: DagsterInstance):
    path = write(folder / "call.wav", b"first take")
    driver = SensorDriver(instance, storage_for(folder))
    [first] = driver.tick()
    time.sleep(0.01)
    path.write_bytes(b"second take, longer")
    [second] = driver.tick()
    assert second.partition_key == first.partition_key == "call.wav"
    assert second.run_key != first.run_key
    assert driver.partitions == ["call.wav"]
    assert driver.tick() == []


def test_files_copied_in_with_old_modification_times_are_found(folder: Path, tmp_path: Path, instance: DagsterInstance):
    driver = SensorDriver(instance, storage_for(folder))
    write(folder / "first.wav")
    assert len(driver.tick()) == 1
    assert driver.tick() == []  # a completed pass: the next one only looks at recent changes

    outside = write(tmp_path / "archive" / "old.wav")
    age(outside, 30 * 86400)
    shutil.copy2(outside, folder / "copied.wav")  # cp -p: mtime a month ago
    moved = write(tmp_path / "archive" / "moved.wav", b"moved in")
    age(moved, 30 * 86400)
    os.rename(moved, folder / "moved.wav")  # mv: keeps the old mtime too
    assert sorted(r.partition_key for r in driver.tick()) == ["copied.wav", "moved.wav"]
    assert driver.tick() == []


def test_restarted_sensor_resumes_from_its_stored_cursor(folder: Path, instance: DagsterInstance):
    for name in ["a.wav", "b.wav", "c.wav"]:
        write(folder / name)
    driver = SensorDriver(instance, storage_for(folder))
    assert len(driver.tick()) == 3

    # A restart: a new storage resource and a new sensor context, with only the stored cursor.
    restarted = SensorDriver(instance, storage_for(folder), cursor=driver.cursor)
    assert restarted.tick() == []
    write(folder / "d.wav")
    assert [r.partition_key for r in restarted.tick()] == ["d.wav"]


def test_a_tick_stops_at_its_deadline_and_the_next_continues(folder: Path):
    names = [f"{index:02d}.wav" for index in range(6)] + ["sub/x.wav", "sub/y.wav"]
    for name in names:
        write(folder / name)
    storage = storage_for(folder)
    cursor, found, incomplete = None, [], 0
    for _ in range(20):
        result = storage.scan(cursor, deadline=0.0)  # already past: one file per tick, still progressing
        found += [r.partition_key for r in result.recordings]
        cursor = result.cursor
        if result.complete:
            break
        incomplete += 1
    assert sorted(found) == sorted(names)
    assert incomplete == len(names) - 1

    # Files arriving mid-pass, before and after the position reached, are all found once.
    write(folder / "00a.wav")
    write(folder / "zz.wav")
    first = storage.scan(cursor, deadline=0.0)
    mid = storage.scan(first.cursor, deadline=0.0)
    write(folder / "000.wav")  # sorts before everything already visited in this pass
    rest, cursor = [], mid.cursor
    while True:
        result = scan_all(storage, cursor)
        rest += [r.partition_key for r in result.recordings]
        cursor = result.cursor
        if not result.recordings:
            break
    emitted = [r.partition_key for r in first.recordings + mid.recordings] + rest
    assert sorted(emitted) == ["000.wav", "00a.wav", "zz.wav"]


def test_non_recursive_storage_ignores_sub_folders(folder: Path):
    write(folder / "top.wav")
    write(folder / "sub" / "deep.wav")
    storage = storage_for(folder, recursive=False)
    assert [r.partition_key for r in scan_all(storage).recordings] == ["top.wav"]
    with pytest.raises(RecordingNotFoundError):
        storage.get_recording("sub/deep.wav")


def test_awkward_names_make_valid_partition_keys_that_map_back(folder: Path, instance: DagsterInstance):
    write(folder / "wait... what.wav")
    write(folder / "100% sure.mp3")
    write(folder / "tab\there.wav")
    driver = SensorDriver(instance, storage_for(folder))
    keys = sorted(r.partition_key for r in driver.tick())
    assert keys == ["100%25 sure.mp3", "tab%09here.wav", "wait..%2E what.wav"]
    assert driver.partitions == keys  # Dagster accepted them
    for key in keys:
        recording = driver.storage.get_recording(key)
        with driver.storage.open_recording(recording) as stream:
            assert stream.read() == b"RIFF....WAVEfmt "


def test_reading_a_recording_streams_its_current_version(folder: Path):
    path = write(folder / "call.wav", b"audio bytes")
    storage = storage_for(folder)
    recording = storage.get_recording("call.wav")
    assert storage.download_url(recording) is None  # Symbl cannot fetch local files: upload the stream
    with storage.open_recording(recording) as stream:
        assert stream.read(5) == b"audio"

    time.sleep(0.01)
    path.write_bytes(b"rewritten audio")
    with pytest.raises(RecordingChangedError, match="changed since it was listed"):
        with storage.open_recording(recording):
            pass
    path.unlink()
    with pytest.raises(RecordingNotFoundError, match="is gone"):
        storage.get_recording("call.wav")
    with pytest.raises(RecordingNotFoundError), storage.open_recording(recording):
        pass


@pytest.mark.parametrize("key", ["../secret.wav", "/etc/x.wav", "a//b.wav", ".hidden.wav", "notes.txt"])
def test_partition_keys_outside_the_folder_or_unsupported_are_not_found(folder: Path, key: str):
    write(folder.parent / "secret.wav")
    write(folder / ".hidden.wav")
    write(folder / "notes.txt")
    with pytest.raises(RecordingNotFoundError):
        storage_for(folder).get_recording(key)


def test_bad_configuration_and_cursor_fail_clearly(folder: Path):
    with pytest.raises(RecordingStorageError, match="does not exist"):
        storage_for(folder / "missing").scan(None, time.monotonic() + 5)
    with pytest.raises(RecordingStorageError, match="unreadable recordings sensor cursor"):
        storage_for(folder).scan("not json", time.monotonic() + 5)
    with pytest.raises(ValueError, match="tick_budget_s"):
        build_recordings_sensor(tick_budget_s=90)


def test_storage_is_chosen_by_uri(folder: Path):
    assert isinstance(recording_storage_from_uri(str(folder)), LocalRecordingStorage)
    local = recording_storage_from_uri(folder.as_uri(), settle_seconds=1)
    assert isinstance(local, LocalRecordingStorage) and Path(local.directory) == folder
    remote = recording_storage_from_uri("s3://calls/2024/q1")
    assert isinstance(remote, S3RecordingStorage)
    assert (remote.bucket, remote.key_prefix) == ("calls", "2024/q1/")
    with pytest.raises(ValueError, match="names no bucket"):
        recording_storage_from_uri("s3:///x")
    with pytest.raises(ValueError, match="expected s3://"):
        recording_storage_from_uri("ftp://host/x")


def test_sensor_targets_the_recordings_partitions(folder: Path, instance: DagsterInstance):
    write(folder / "a.wav")
    driver = SensorDriver(instance, storage_for(folder))
    [request] = driver.tick()
    assert request.partition_key == "a.wav"
    assert instance.has_dynamic_partition(RECORDINGS_PARTITIONS.name, "a.wav")


def test_a_scan_returns_a_bounded_number_of_recordings(folder: Path):
    for index in range(5):
        write(folder / f"{index}.wav")
    storage = storage_for(folder, max_recordings_per_scan=2)
    batches, cursor = [], None
    for _ in range(5):
        result = scan_all(storage, cursor)
        batches.append([r.partition_key for r in result.recordings])
        cursor = result.cursor
        if result.complete:
            break
    assert batches == [["0.wav", "1.wav"], ["2.wav", "3.wav"], ["4.wav"]]


def test_the_sensor_logs_unsupported_files_once(folder: Path, instance: DagsterInstance, capsys):
    write(folder / "slides.pdf", b"%PDF")
    driver = SensorDriver(instance, storage_for(folder))
    assert driver.tick() == []
    assert "Not submitting slides.pdf: unsupported file type (.pdf)" in capsys.readouterr().err
    driver.tick()
    assert "slides.pdf" not in capsys.readouterr().err
