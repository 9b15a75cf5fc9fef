"""Sidecar metadata (`<name>.meta.yaml`): bounded in size, no anchors or aliases (an alias bomb
of a few hundred bytes expands to megabytes), scalar values only, and a broken sidecar (on a
folder or in S3) is recorded as `sidecar_error` while the document and the run go on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lockgate.config import SourceSpec
from lockgate.ingest.quality import declared_for
from lockgate.ingest.sidecar import MAX_SIDECAR_BYTES, SidecarError, read_sidecar
from tests.ingest.test_sources import make_sync, s3_endpoint  # noqa: F401 - a fixture

ALIAS_BOMB = b"""\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
owner: *f
"""


def test_plain_sidecar_keeps_its_scalars() -> None:
    raw = b"owner: Facilities\nreview_by: 2030-01-01\nversion: 3\ndraft: false\nempty:\n"
    assert read_sidecar(raw) == {
        "owner": "Facilities",
        "review_by": "2030-01-01",
        "version": "3",
        "draft": "False",
    }


def test_alias_bomb_is_refused_quickly() -> None:
    t0 = time.perf_counter()
    with pytest.raises(SidecarError, match="alias"):
        read_sidecar(ALIAS_BOMB)
    assert time.perf_counter() - t0 < 1.0


def test_anchor_alone_is_refused() -> None:
    with pytest.raises(SidecarError, match="anchor"):
        read_sidecar(b"owner: &who Facilities\n")


def test_merge_keys_need_aliases_and_are_refused() -> None:
    with pytest.raises(SidecarError):
        read_sidecar(b"base: &b {owner: x}\ndoc:\n  <<: *b\n")


def test_nested_values_are_dropped() -> None:
    raw = b"owner: People\ntags: [a, b]\ncontacts: {email: x@example.com}\n"
    assert read_sidecar(raw) == {"owner": "People"}


def test_oversized_sidecar_is_refused() -> None:
    raw = b"owner: x\n" + b"# padding\n" * (MAX_SIDECAR_BYTES // 10 + 1)
    with pytest.raises(SidecarError, match="limit"):
        read_sidecar(raw)


def test_deep_nesting_is_a_sidecar_error_not_a_crash() -> None:
    with pytest.raises(SidecarError):
        read_sidecar(b"owner: " + b"[" * 20000 + b"]" * 20000 + b"\n")


def test_folder_sidecar_errors_are_recorded(tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    doc.write_text("# A\n")
    side = tmp_path / "a.md.meta.yaml"
    for body, expected in (
        (ALIAS_BOMB, "anchors and aliases"),
        (b"owner: [unclosed\n", "invalid YAML"),
        (b"x: y\n" * (MAX_SIDECAR_BYTES // 5 + 1), "limit"),
    ):
        side.write_bytes(body)
        declared = declared_for(doc)
        assert expected in declared.raw["sidecar_error"], declared.raw
        assert "owner" not in declared.raw
        assert declared.meta_hash  # editing the sidecar still re-indexes the document


def test_malformed_s3_sidecar_does_not_stop_the_run(
    tmp_path: Path, embedder, s3_endpoint: str, monkeypatch  # noqa: F811 - the fixture
) -> None:
    import boto3

    monkeypatch.setenv("T_S3_KEY", "testing")
    monkeypatch.setenv("T_S3_SECRET", "testing")
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="lockgate-sidecars")
    put = s3.put_object
    put(Bucket="lockgate-sidecars", Key="kb/a.md", Body=b"# A\n\nThe post room opens at nine.\n")
    put(Bucket="lockgate-sidecars", Key="kb/a.md.meta.yaml", Body=b"owner: [unclosed\n")
    put(Bucket="lockgate-sidecars", Key="kb/b.md", Body=b"# B\n\nThe gym closes at ten.\n")
    put(Bucket="lockgate-sidecars", Key="kb/b.md.meta.yaml", Body=ALIAS_BOMB)
    put(Bucket="lockgate-sidecars", Key="kb/c.md", Body=b"# C\n\nParcels go to reception.\n")
    put(Bucket="lockgate-sidecars", Key="kb/c.md.meta.yaml", Body=b"owner: Post Team\n")
    spec = SourceSpec(
        name="sidecars",
        kind="s3",
        uri="s3://lockgate-sidecars/kb/",
        endpoint_url=s3_endpoint,
        access_key_env="T_S3_KEY",
        secret_key_env="T_S3_SECRET",
    )
    sync, services = make_sync(tmp_path, embedder)
    conn = sync.connector(spec)
    declared = {i.key.rsplit("/", 1)[-1]: i.declared() for i in conn.items()}
    assert "invalid YAML" in declared["a.md"].raw["sidecar_error"]
    assert "aliases" in declared["b.md"].raw["sidecar_error"]
    assert declared["c.md"].raw == {"owner": "Post Team"}
    summary = sync.run([spec])
    assert (summary.seen, summary.new, summary.quarantined) == (3, 3, 0)
    docs = services.documents.list_documents()
    owners = {d["source"].rsplit("/", 1)[-1]: d["owner"] for d in docs}
    assert owners == {"a.md": None, "b.md": None, "c.md": "Post Team"}
