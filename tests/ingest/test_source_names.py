"""How sources are named where others can read them: URL keys without userinfo, query or
fragment; folder paths relative to the ingested root; S3 keys as they are."""

from __future__ import annotations

import pytest

from lockgate.ingest.source_names import root_of, shown_source, url_key


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://bob:pw@intranet.example/doc?sig=S&X-Amz-Credential=C#top", "https://intranet.example/doc"),
        ("http://127.0.0.1:8080/kb/a.html?api-key=K", "http://127.0.0.1:8080/kb/a.html"),
        ("https://host", "https://host"),
        ("https://host/a/b.pdf", "https://host/a/b.pdf"),
    ],
)
def test_url_key_drops_credentials_and_query(url: str, key: str) -> None:
    assert url_key(url) == key


@pytest.mark.parametrize(
    ("source", "root", "shown"),
    [
        ("/srv/kb/hr/leave.md", "/srv/kb", "hr/leave.md"),
        ("/srv/kb/hr/leave.md", "/srv/kb/", "hr/leave.md"),
        ("/srv/kb/a.zip#inner/x.pdf", "/srv/kb", "a.zip#inner/x.pdf"),
        ("/srv/kb/one.md", "/srv/kb/one.md", "one.md"),  # a single file was ingested
        ("/srv/kb/a.zip#x.pdf", "/srv/kb/a.zip", "a.zip#x.pdf"),
        ("/srv/kb/hr/leave.md", None, "leave.md"),  # no known root: the name only
        ("/srv/kb/a.zip#dir/x.pdf", None, "a.zip#dir/x.pdf"),
        ("/srv/kbx/leave.md", "/srv/kb", "leave.md"),  # a sibling folder is not under it
        ("s3://bucket/hr/a?b#c.md", None, "s3://bucket/hr/a?b#c.md"),
        ("https://u:p@host/doc?token=T", None, "https://host/doc"),
        ("https://host/a.zip#x.pdf", None, "https://host/a.zip#x.pdf"),
    ],
)
def test_shown_source(source: str, root: str | None, shown: str) -> None:
    assert shown_source(source, root) == shown


def test_root_of_picks_the_longest_enclosing_root() -> None:
    roots = ["/srv", "/srv/kb", "/srv/kb/hr/leave.md", "/other"]
    assert root_of("/srv/kb/hr/x.md", roots) == "/srv/kb"
    assert root_of("/srv/kb/hr/leave.md", roots) == "/srv/kb/hr/leave.md"
    assert root_of("/srv/kbx/y.md", roots) == "/srv"
    assert root_of("/elsewhere/z.md", roots) is None
