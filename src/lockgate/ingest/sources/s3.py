"""S3-compatible object storage (AWS S3, MinIO, Ceph, moto): objects under a prefix.

Credentials come from the variables named in the source config, else boto3's usual chain.
A `<key>.meta.yaml` object next to a document is its sidecar, as for files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

from lockgate.ingest.bounded import LimitExceeded, read_capped
from lockgate.ingest.quality import Declared, declared
from lockgate.ingest.sidecar import MAX_SIDECAR_BYTES, SIDECAR_SUFFIXES
from lockgate.ingest.sources import FetchError, Item, Refused, SourceError
from lockgate.ingest.sources.folder import matches

_DEFAULT_MAX_BYTES = 100 * 1024 * 1024


def split_uri(uri: str) -> tuple[str, str]:
    rest = uri.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise SourceError(f"not an s3://bucket/prefix URI: {uri}")
    return bucket, prefix


class S3Connector:
    kind = "s3"

    def __init__(
        self,
        uri: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_env: str | None = None,
        secret_key_env: str | None = None,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        max_bytes: int = _DEFAULT_MAX_BYTES,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.uri = uri
        self.max_bytes = max_bytes
        self.bucket, self.key_prefix = split_uri(uri)
        self.include, self.exclude = list(include), list(exclude)
        creds: dict[str, Any] = {}
        if access_key_env and secret_key_env:
            creds = {
                "aws_access_key_id": os.environ.get(access_key_env),
                "aws_secret_access_key": os.environ.get(secret_key_env),
            }
        # Our own retry loop (with reporting) wraps each call; boto3's would hide failures.
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
            **creds,
        )

    def prefix(self) -> str:
        return f"s3://{self.bucket}/{self.key_prefix}"

    def _list(self) -> list[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.key_prefix
            )
            return [obj for page in pages for obj in page.get("Contents", [])]
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(f"{self.uri}: {exc}") from exc

    def fetch_object(self, key: str, limit: int | None = None) -> bytes:
        """The object's bytes, at most `limit` (default `max_bytes`): a declared length over
        it is refused before reading, and the read itself stops one byte past it, whatever
        the length said."""
        from botocore.exceptions import BotoCoreError, ClientError

        limit = self.max_bytes if limit is None else limit
        where = f"s3://{self.bucket}/{key}"
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=key)
            body = resp["Body"]
            try:
                size = int(resp.get("ContentLength") or 0)
                if size > limit:
                    raise LimitExceeded(limit, size)
                return read_capped(body.read, limit)
            finally:
                body.close()
        except LimitExceeded as exc:
            raise Refused(f"{where}: {exc}", "too_large") from exc
        except ClientError as exc:
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            raise FetchError(f"{where}: {exc}", transient=status >= 500) from exc
        except BotoCoreError as exc:
            raise FetchError(f"{where}: {exc}", transient=True) from exc

    def items(self) -> Iterator[Item]:
        objects = self._list()
        keys = {o["Key"] for o in objects}
        for obj in objects:
            key = obj["Key"]
            if key.endswith("/") or key.endswith(SIDECAR_SUFFIXES):
                continue
            rel = key[len(self.key_prefix) :].lstrip("/")
            if not matches(rel, self.include, self.exclude):
                continue
            side = next((key + s for s in SIDECAR_SUFFIXES if key + s in keys), None)
            yield Item(
                key=f"s3://{self.bucket}/{key}",
                name=key.rsplit("/", 1)[-1],
                fetch=partial(self.fetch_object, key),
                mtime=obj["LastModified"].timestamp(),
                declared=partial(self._declared, side),
            )

    def _declared(self, sidecar_key: str | None) -> Declared:
        if sidecar_key is None:
            return Declared()
        name = sidecar_key.rsplit("/", 1)[-1]
        try:
            body = self.fetch_object(sidecar_key, MAX_SIDECAR_BYTES)
        except Refused as exc:
            # As for a folder: the document is indexed, the sidecar's problem is recorded.
            return Declared(raw={"sidecar_error": f"{name}: {exc}"})
        return declared(name, body)
