"""Reading S3 event notifications: which keys start a job, under which tenant and job id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reelstep.adapters.local_blob import LocalBlobStore
from reelstep.errors import InvalidInput
from reelstep.intake import (
    IntakeSidecar,
    S3EventNotification,
    S3EventRecord,
    incoming_tenant,
    intake_job_id,
    local_s3_event,
)
from reelstep.pipeline import TaskEvent, parse_event

EVENTS = Path(__file__).resolve().parents[1] / "events"


def records(name: str) -> list[S3EventRecord]:
    notification = S3EventNotification.model_validate(json.loads((EVENTS / name).read_text()))
    return [S3EventRecord.model_validate(raw) for raw in notification.records]


def test_a_single_put_is_an_object_creation_with_its_key_decoded() -> None:
    # Given S3's own encoding: '+' for a space, %2B for a plus, %28/%29 for parentheses
    (record,) = records("s3_put_incoming.json")
    assert record.object_created
    assert record.key == "incoming/acme/Summer Trip + friends (2025).mp4"
    assert incoming_tenant(record.key) == "acme"
    # A versioned bucket: the version tells this write apart
    assert record.write_identity() == "version:096fKKXTRTtl3on89fVO.nfljtsv6qko"


def test_a_completed_multipart_upload_is_an_object_creation() -> None:
    (record,) = records("s3_multipart_incoming.json")
    assert record.object_created
    assert record.event_name == "ObjectCreated:CompleteMultipartUpload"
    assert incoming_tenant(record.key) == "acme"
    # Unversioned: the sequencer, not the (content-derived) multipart eTag
    assert record.write_identity() == "sequencer:0062E99A88DC407460"


def test_sidecars_other_prefixes_folders_and_removals_start_nothing() -> None:
    sidecar, upload, folder, removed, copied = records("s3_mixed_records.json")
    assert incoming_tenant(sidecar.key) is None
    assert incoming_tenant(upload.key) is None
    assert incoming_tenant(folder.key) is None
    assert not removed.object_created
    assert copied.object_created and incoming_tenant(copied.key) == "acme"


def test_an_s3_test_event_has_no_records() -> None:
    notification = S3EventNotification.model_validate(json.loads((EVENTS / "s3_test_event.json").read_text()))
    assert notification.records == []


@pytest.mark.parametrize(
    ("key", "tenant"),
    [
        ("incoming/acme/clip.mp4", "acme"),
        ("incoming/Acme_2.eu/sub/folder/clip.mp4", "Acme_2.eu"),
        ("incoming/acme/CLIP.MP4", "acme"),
        ("incoming/acme/clip.mp4.JSON", None),
        ("incoming/acme/.clip.mp4.partial", None),
        ("incoming/acme/.tmp-abc", None),
        ("incoming/acme/.hidden/clip.mp4", None),
        ("incoming/acme//clip.mp4", None),
        ("incoming/acme/", None),
        ("incoming/clip.mp4", None),
        ("incoming/../etc/clip.mp4", None),
        ("incoming/-acme/clip.mp4", None),
        ("incoming/" + "a" * 65 + "/clip.mp4", None),
        ("incoming/ac me/clip.mp4", None),
        ("uploads/acme/u/clip.mp4", None),
        ("jobs/x/input/clip.mp4", None),
    ],
)
def test_only_files_under_incoming_tenant_start_a_job(key: str, tenant: str | None) -> None:
    assert incoming_tenant(key) == tenant


def test_job_ids_are_deterministic_per_write_and_valid_execution_names() -> None:
    one = intake_job_id("bucket", "incoming/acme/a.mp4", "version:v1")
    assert one == intake_job_id("bucket", "incoming/acme/a.mp4", "version:v1")
    others = {
        intake_job_id("bucket", "incoming/acme/a.mp4", "version:v2"),
        intake_job_id("bucket", "incoming/acme/b.mp4", "version:v1"),
        intake_job_id("other", "incoming/acme/a.mp4", "version:v1"),
    }
    assert one not in others and len(others) == 3
    # Usable wherever a job id goes: task payloads and Step Functions execution names (≤ 80 characters)
    assert parse_event(TaskEvent, {"job_id": one}).job_id == one
    assert len(one) <= 80


def test_identity_falls_back_from_version_to_sequencer_to_etag() -> None:
    def record(**found: Any) -> S3EventRecord:
        return S3EventRecord.model_validate(
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "b"}, "object": {"key": "incoming/acme/a.mp4", **found}},
            }
        )

    assert record(versionId="v", sequencer="01", eTag="e").write_identity() == "version:v"
    assert record(versionId="null", sequencer="01", eTag="e").write_identity() == "sequencer:01"
    assert record(eTag="e").write_identity() == "etag:e"
    with pytest.raises(InvalidInput, match="no versionId, sequencer or eTag"):
        record().write_identity()


def test_a_sidecar_takes_options_and_a_webhook_and_refuses_unknown_fields() -> None:
    sidecar = IntakeSidecar.model_validate(
        {
            "options": {"steps": ["scenes"], "keyframes": {"max_frames": 3}},
            "webhook": {"url": "https://hooks.example.com/r", "secret": "0123456789"},
        }
    )
    assert [step.value for step in sidecar.options.steps] == ["scenes"]
    assert sidecar.options.keyframes.max_frames == 3
    assert sidecar.webhook is not None and sidecar.webhook.url == "https://hooks.example.com/r"
    with pytest.raises(ValueError, match="stepz"):
        IntakeSidecar.model_validate({"options": {"stepz": []}})


def test_the_local_event_has_the_s3_shape_and_encoding(tmp_path: Path) -> None:
    # Given a dropped file whose name has spaces and a plus sign
    blobs = LocalBlobStore(tmp_path)
    key = "incoming/acme/my clip+1.mp4"
    blobs.put_bytes(key, b"0123456789")
    # When the local event is built
    event = local_s3_event(blobs, key)
    # Then the key is encoded as S3 encodes it and decodes back, and the sequencer names this write
    (raw,) = event["Records"]
    assert raw["s3"]["object"]["key"] == "incoming/acme/my+clip%2B1.mp4"
    (record,) = [S3EventRecord.model_validate(r) for r in S3EventNotification.model_validate(event).records]
    assert record.key == key
    assert record.object_created
    assert record.s3.object_.size == 10
    sequencer = raw["s3"]["object"]["sequencer"]
    assert record.write_identity() == f"sequencer:{sequencer}"
    # The same file seen again (the upload route, then the folder watcher) is the same write
    assert local_s3_event(blobs, key)["Records"][0]["s3"]["object"]["sequencer"] == sequencer
