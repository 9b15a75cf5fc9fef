"""The fetch policy of URL and sitemap ingest against a real HTTP server on loopback: the
default policy refuses loopback; with loopback allowed, redirects into link-local (cloud
metadata) or RFC 1918 space are refused at the hop, sitemap <loc>s on other hosts are
skipped, and fetch errors are coarse. Redirect targets are literal IPs, so nothing here
depends on DNS; the resolver tests use a fixed resolver to show the connection goes to the
address that was checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lockgate.config import FetchConfig
from lockgate.ingest.egress import EgressPolicy
from lockgate.ingest.sources import FetchError
from lockgate.ingest.sources.url import SitemapConnector, UrlConnector
from lockgate.ingest.sync import spec_for
from tests.ingest.test_sources import make_sync
from tests.support.server import free_port, serve

LOOPBACK = EgressPolicy.from_config(FetchConfig(allow_networks=["127.0.0.0/8"]))


def _site(hits: list[str]) -> Starlette:
    def page(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(
            "<html><body><h1>Page</h1><p>The canteen serves soup on Tuesdays.</p></body></html>",
            media_type="text/html",
        )

    def redirect(request: Request) -> Response:
        hits.append(request.url.path)
        targets = {
            "meta": "http://169.254.169.254/latest/meta-data/iam/security-credentials/role",
            "private": "http://10.0.0.1/admin/config",
            "v6": "http://[fd00::1]/admin",
            "file": "file:///etc/hostname",
            "ok": "/page.html",
            "loop": "/redirect/loop",
        }
        return RedirectResponse(targets[request.path_params["to"]], status_code=302)

    def sitemap(request: Request) -> Response:
        hits.append(request.url.path)
        port = request.url.port
        locs = [
            f"http://127.0.0.1:{port}/page.html",  # same host: fetched
            f"http://localhost:{port}/other.html",  # another host name
            f"http://127.0.0.1:{port + 1}/internal",  # another port on the host
            "http://169.254.169.254/latest/meta-data/",
        ]
        urls = "".join(f"<url><loc>{loc}</loc></url>" for loc in locs)
        xml = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        return Response(xml, media_type="application/xml")

    def index(request: Request) -> Response:
        hits.append(request.url.path)
        port = request.url.port
        children = [f"http://127.0.0.1:{port}/sitemap.xml", "http://10.0.0.1/sitemap.xml"]
        body = "".join(f"<sitemap><loc>{c}</loc></sitemap>" for c in children)
        xml = f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</sitemapindex>'
        return Response(xml, media_type="application/xml")

    return Starlette(
        routes=[
            Route("/page.html", page),
            Route("/redirect/{to}", redirect),
            Route("/sitemap.xml", sitemap),
            Route("/index.xml", index),
        ]
    )


def _get(conn: UrlConnector, url: str) -> bytes:
    return conn.get(url).content


def test_default_policy_refuses_loopback_before_connecting(tmp_path: Path, embedder) -> None:
    hits: list[str] = []
    with serve(_site(hits)) as base:
        sync, services = make_sync(tmp_path, embedder)  # default ingest.fetch
        summary = sync.run([spec_for(f"{base}/page.html")])
        assert (summary.new, summary.quarantined) == (0, 1)
        (q,) = services.documents.list_quarantine()
        assert q["reason"] == "fetch_failed"
        assert "refused by the fetch policy" in q["detail"]
        # A sitemap on loopback is refused as a whole.
        failed = sync.run([spec_for(f"{base}/sitemap.xml")])
        assert "refused by the fetch policy" in failed.sources[0]["error"]
    assert hits == []  # nothing reached the server


@pytest.mark.parametrize("to", ["meta", "private", "v6", "file"])
def test_redirect_to_a_denied_address_is_refused_at_the_hop(to: str) -> None:
    hits: list[str] = []
    with serve(_site(hits)) as base:
        conn = UrlConnector([], policy=LOOPBACK)
        with pytest.raises(FetchError) as err:
            _get(conn, f"{base}/redirect/{to}")
    assert hits == [f"/redirect/{to}"]
    assert str(err.value) == f"{base}/redirect/{to}: refused by the fetch policy"
    assert not err.value.transient


def test_allowed_redirects_are_followed_up_to_the_limit() -> None:
    hits: list[str] = []
    with serve(_site(hits)) as base:
        conn = UrlConnector([], policy=LOOPBACK)
        assert b"soup on Tuesdays" in _get(conn, f"{base}/redirect/ok")
        with pytest.raises(FetchError, match="too many redirects"):
            _get(conn, f"{base}/redirect/loop")
    assert hits[:2] == ["/redirect/ok", "/page.html"]
    assert hits.count("/redirect/loop") == LOOPBACK.max_redirects + 1


def test_sitemap_keeps_only_same_host_locs_and_checks_children() -> None:
    hits: list[str] = []
    with serve(_site(hits)) as base:
        port = int(base.rsplit(":", 1)[1])
        entries = SitemapConnector(f"{base}/index.xml", policy=LOOPBACK).entries()
        assert [url for url, _ in entries] == [f"{base}/page.html"]
        # Named in allow_hosts, another host's pages may be listed.
        policy = EgressPolicy.from_config(
            FetchConfig(allow_networks=["127.0.0.0/8"], allow_hosts=["localhost"])
        )
        entries = SitemapConnector(f"{base}/sitemap.xml", policy=policy).entries()
        assert [url for url, _ in entries] == [
            f"{base}/page.html",
            f"http://localhost:{port}/other.html",
        ]
    assert hits == ["/index.xml", "/sitemap.xml", "/sitemap.xml"]


def test_sitemap_count_is_capped() -> None:
    hits: list[str] = []
    with serve(_site(hits)) as base:
        policy = EgressPolicy.from_config(
            FetchConfig(allow_networks=["127.0.0.0/8"], max_sitemaps=1)
        )
        assert SitemapConnector(f"{base}/index.xml", policy=policy).entries() == []
    assert hits == ["/index.xml"]


def test_fetch_errors_are_coarse(tmp_path: Path, embedder) -> None:
    closed = free_port()  # nothing listens here
    sync, services = make_sync(
        tmp_path, embedder, fetch=FetchConfig(allow_networks=["127.0.0.0/8"])
    )
    summary = sync.run([spec_for(f"http://127.0.0.1:{closed}/x.html")])
    assert summary.quarantined == 1
    (q,) = services.documents.list_quarantine()
    assert "could not be fetched" in q["detail"]
    assert "refused" not in q["detail"].lower() and "Error" not in q["detail"]


def test_connection_goes_to_the_checked_address() -> None:
    hits: list[str] = []
    with serve(_site(hits)) as base:
        port = int(base.rsplit(":", 1)[1])
        url = f"http://intranet.example:{port}/page.html"
        pinned = UrlConnector([], policy=LOOPBACK, resolver=lambda h, p: ["127.0.0.1"])
        resp = pinned.get(url)
        assert (
            b"soup" in resp.content and resp.request.headers["host"] == f"intranet.example:{port}"
        )
        # One denied address among the answers is enough to refuse the host.
        mixed = UrlConnector([], policy=LOOPBACK, resolver=lambda h, p: ["127.0.0.1", "10.0.0.1"])
        with pytest.raises(FetchError, match="refused by the fetch policy"):
            mixed.get(url)
        # allow_hosts exempts a name from the address check (default deny_private).
        named = EgressPolicy.from_config(FetchConfig(allow_hosts=["intranet.example"]))
        conn = UrlConnector([], policy=named, resolver=lambda h, p: ["127.0.0.1"])
        assert b"soup" in conn.get(url).content
        with pytest.raises(FetchError, match="refused by the fetch policy"):
            conn.get(f"{base}/page.html")  # the same server by address is not named
    assert hits == ["/page.html", "/page.html"]


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fd12:3456::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
    ],
)
def test_default_denied_addresses(address: str, allowed: bool) -> None:
    assert EgressPolicy().address_allowed("example.org", address) is allowed


def test_deny_networks_win_over_allow() -> None:
    policy = EgressPolicy.from_config(
        FetchConfig(allow_networks=["10.0.0.0/8"], deny_networks=["10.9.0.0/16"])
    )
    assert policy.address_allowed("wiki", "10.1.0.5")
    assert not policy.address_allowed("wiki", "10.9.0.5")
    assert not EgressPolicy.from_config(
        FetchConfig(deny_networks=["93.184.0.0/16"])
    ).address_allowed("example.org", "93.184.216.34")
