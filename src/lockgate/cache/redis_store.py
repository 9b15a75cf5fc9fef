"""Cache entries in Redis, shared by every gateway process, each expiring with its TTL.

The same `CacheStore` calls as the SQL store, with the same sealing: the question and the
answer are encrypted with the tenant's data key before they leave the process (keys,
scopes and vectors stay plain, as in the store's table). The document versions an entry
depends on are the store's, read from there.

Layout under the prefix: `c:e:<id>` a hash per entry (expires at the entry's expiry),
`c:k:<digest>` the exact key -> id, and sorted sets scored by expiry to find entries by
scope (those with a vector), by tenant, and all of them, plus `c:lru` scored by last use
for the `max_entries` bound. Index members whose entry expired are dropped as they are
met. Ids start at a random offset, so ids handed out before Redis lost its data are never
reused for other entries (a process's semantic index may still hold the old ones).

While Redis does not answer: `fail_open` makes every lookup a miss and every write a no-op
(logged, counted); `fail_closed` answers the request with a 503."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from lockgate.cache.store import CacheEntry, SqliteCacheStore, _to_blob
from lockgate.config import OnRedisError
from lockgate.crypto.envelope import FieldCipher, NoEncryption
from lockgate.crypto.kms import EncryptionError
from lockgate.sharedstate.client import REDIS_ERRORS, Redis

_T = TypeVar("_T")
log = logging.getLogger("lockgate.cache")

# KEYS: seq, exact key, all, lru, scope set, tenant set. ARGV: prefix, expires_at (ms),
# expires_at, created_at, has vector (0/1), seq start, then the entry's field/value pairs.
_PUT = """
local old = redis.call('GET', KEYS[2])
if old then
  local e = ARGV[1] .. 'c:e:' .. old
  local f = redis.call('HMGET', e, 'scope', 'tenant')
  redis.call('DEL', e)
  redis.call('ZREM', KEYS[3], old)
  redis.call('ZREM', KEYS[4], old)
  if f[1] then redis.call('ZREM', ARGV[1] .. 'c:s:' .. f[1], old) end
  if f[2] then redis.call('ZREM', ARGV[1] .. 'c:t:' .. f[2], old) end
end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[6]) end
local id = string.format('%d', redis.call('INCR', KEYS[1]))
local e = ARGV[1] .. 'c:e:' .. id
local fields = {}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', e, unpack(fields))
redis.call('PEXPIREAT', e, ARGV[2])
redis.call('SET', KEYS[2], id, 'PXAT', ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], id)
redis.call('ZADD', KEYS[4], ARGV[4], id)
redis.call('ZADD', KEYS[6], ARGV[3], id)
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', '(' .. ARGV[4])
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[5], ARGV[3], id)
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', '(' .. ARGV[4])
end
return id
"""

# KEYS: exact key. ARGV: prefix. The entry's fields, id first (nil: none).
_GET = """
local id = redis.call('GET', KEYS[1])
if not id then return nil end
local fields = redis.call('HGETALL', ARGV[1] .. 'c:e:' .. id)
if #fields == 0 then return nil end
table.insert(fields, 1, id)
return fields
"""

# KEYS: all, lru. ARGV: prefix, then ids. Removes each entry and its index entries.
_DELETE = """
local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local e = ARGV[1] .. 'c:e:' .. id
  local f = redis.call('HMGET', e, 'scope', 'tenant', 'key')
  if f[1] then redis.call('ZREM', ARGV[1] .. 'c:s:' .. f[1], id) end
  if f[2] then redis.call('ZREM', ARGV[1] .. 'c:t:' .. f[2], id) end
  if f[3] then
    local k = ARGV[1] .. 'c:k:' .. f[3]
    if redis.call('GET', k) == id then redis.call('DEL', k) end
  end
  n = n + redis.call('DEL', e)
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
return n
"""

# KEYS: lru, hits. ARGV: prefix, now, then id/count pairs. Only entries that still exist.
_HITS = """
for i = 3, #ARGV, 2 do
  local e = ARGV[1] .. 'c:e:' .. ARGV[i]
  if redis.call('EXISTS', e) == 1 then
    redis.call('HINCRBY', e, 'hits', ARGV[i + 1])
    redis.call('HSET', e, 'last_hit_at', ARGV[2])
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], ARGV[i])
    redis.call('INCRBY', KEYS[2], ARGV[i + 1])
  end
end
return 1
"""


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisCacheStore:
    def __init__(
        self,
        redis: Redis,
        documents: SqliteCacheStore,
        cipher: FieldCipher | None = None,
        on_error: OnRedisError = "fail_open",
    ) -> None:
        self.redis = redis
        # Only for the document versions, which live with the documents in the store.
        self.documents = documents
        self.cipher: FieldCipher = cipher or NoEncryption()
        self.on_error = on_error
        self._put = redis.script(_PUT)
        self._get = redis.script(_GET)
        self._delete = redis.script(_DELETE)
        self._hits = redis.script(_HITS)

    def _k(self, *parts: str) -> str:
        return self.redis.key("c", *parts)

    def _guard(self, work: Callable[[], _T], default: _T) -> _T:
        try:
            return work()
        except REDIS_ERRORS as exc:
            self.redis.failed("cache", self.on_error, exc)  # raises when failing closed
            return default

    def _entry(self, entry_id: int, raw: dict[bytes, bytes]) -> CacheEntry:
        f = {k.decode(): v for k, v in raw.items()}
        embedding = f.get("embedding")
        trace = f.get("trace_id")
        return CacheEntry(
            id=entry_id,
            key=_s(f["key"]),
            scope=_s(f["scope"]),
            tenant=_s(f["tenant"]),
            model=_s(f["model"]),
            text=self.cipher.decrypt(_s(f["text"])),
            answer=json.loads(self.cipher.decrypt(_s(f["answer"]))),
            documents=[(int(d), int(v)) for d, v in json.loads(_s(f.get("documents", b"[]")))],
            embedding=None if not embedding else np.frombuffer(embedding, dtype=np.float32),
            created_at=float(f["created_at"]),
            expires_at=float(f["expires_at"]),
            trace_id=_s(trace) if trace else None,
            hits=int(f.get("hits", b"0")),
        )

    def _live(self, entry_id: int, raw: dict[bytes, bytes], now: float) -> CacheEntry | None:
        try:
            entry = self._entry(entry_id, raw)
        except EncryptionError as exc:
            # Sealed with a key this gateway does not have (another deployment on the
            # same Redis and prefix): not ours to answer with, and not a failed request.
            log.error("cache entry %d cannot be opened here (%s): treated as a miss", entry_id, exc)
            return None
        return entry if entry.expires_at > now else None

    def get(self, key: str, now: float) -> CacheEntry | None:
        def work() -> CacheEntry | None:
            got = self._get(keys=[self._k("k", key)], args=[self.redis.config.prefix])
            if not got:
                return None
            return self._live(int(got[0]), dict(zip(got[1::2], got[2::2], strict=True)), now)

        return self._guard(work, None)

    def get_by_id(self, entry_id: int, now: float) -> CacheEntry | None:
        def work() -> CacheEntry | None:
            raw = self.redis.client.hgetall(self._k("e", str(entry_id)))
            return self._live(entry_id, raw, now) if raw else None

        return self._guard(work, None)

    def put(self, entry: CacheEntry) -> int:
        blob = _to_blob(entry.embedding)
        fields: list[Any] = [
            "key",
            entry.key,
            "scope",
            entry.scope,
            "tenant",
            entry.tenant,
            "model",
            entry.model,
            "text",
            self.cipher.encrypt(entry.text, entry.tenant),
            "answer",
            self.cipher.encrypt(json.dumps(entry.answer), entry.tenant),
            "documents",
            json.dumps(entry.documents),
            "created_at",
            repr(entry.created_at),
            "expires_at",
            repr(entry.expires_at),
            "hits",
            0,
        ]
        if blob is not None:
            fields += ["embedding", blob]
        if entry.trace_id:
            fields += ["trace_id", entry.trace_id]
        keys = [
            self._k("seq"),
            self._k("k", entry.key),
            self._k("all"),
            self._k("lru"),
            self._k("s", entry.scope),
            self._k("t", entry.tenant),
        ]
        args = [
            self.redis.config.prefix,
            int(entry.expires_at * 1000),
            repr(entry.expires_at),
            repr(entry.created_at),
            1 if blob is not None else 0,
            # Below 2**53 (a Lua number holds the id exactly) with a million ids apart.
            random.randrange(1 << 26) << 20,
            *fields,
        ]

        def work() -> int:
            return int(self._put(keys=keys, args=args))

        # 0 when nothing was written: no entry has that id, so a later lookup misses.
        entry.id = self._guard(work, 0)
        return entry.id

    def vectors(self, scope: str, now: float) -> list[tuple[int, str, np.ndarray]]:
        def work() -> list[tuple[int, str, np.ndarray]]:
            zkey = self._k("s", scope)
            self.redis.client.zremrangebyscore(zkey, "-inf", f"({now!r}")
            ids = [int(i) for i in self.redis.client.zrangebyscore(zkey, f"({now!r}", "+inf")]
            pipe = self.redis.client.pipeline(transaction=False)
            for i in ids:
                pipe.hmget(self._k("e", str(i)), ["text", "embedding"])
            out = []
            for i, (text, emb) in zip(ids, pipe.execute(), strict=True):
                if text is None or not emb:
                    continue
                out.append((i, self.cipher.decrypt(_s(text)), np.frombuffer(emb, np.float32)))
            return out

        return self._guard(work, [])

    def add_hits(self, counts: dict[int, int], now: float) -> None:
        if not counts:
            return
        args: list[Any] = [self.redis.config.prefix, repr(now)]
        for entry_id, n in counts.items():
            args += [entry_id, n]

        def work() -> None:
            self._hits(keys=[self._k("lru"), self._k("hits")], args=args)

        # Hit counts are statistics: never a reason to fail a request, whatever the policy.
        try:
            work()
        except REDIS_ERRORS as exc:
            self.redis.failed("cache", "fail_open", exc)

    def delete(self, entry_ids: Sequence[int]) -> int:
        if not entry_ids:
            return 0

        def work() -> int:
            n = 0
            ids = [str(i) for i in entry_ids]
            for start in range(0, len(ids), 500):
                n += int(
                    self._delete(
                        keys=[self._k("all"), self._k("lru")],
                        args=[self.redis.config.prefix, *ids[start : start + 500]],
                    )
                )
            return n

        return self._guard(work, 0)

    def clear(self, tenant: str | None = None) -> int:
        def work() -> int:
            zkey = self._k("all") if tenant is None else self._k("t", tenant)
            ids = [int(i) for i in self.redis.client.zrange(zkey, 0, -1)]
            n = self.delete(ids)
            if tenant is not None:
                self.redis.client.delete(zkey)
            return n

        return self._guard(work, 0)

    def purge(self, now: float, max_entries: int) -> int:
        def work() -> int:
            client = self.redis.client
            expired = [int(i) for i in client.zrangebyscore(self._k("all"), "-inf", now)]
            # Their hashes expired by themselves: what is left to remove are index entries.
            self.delete(expired)
            removed = len(expired)
            count = int(client.zcard(self._k("all")))
            if count > max_entries:
                # Least recently useful first: never hit, then oldest.
                oldest = [int(i) for i in client.zrange(self._k("lru"), 0, count - max_entries - 1)]
                removed += self.delete(oldest)
            return removed

        return self._guard(work, 0)

    def stats(self, now: float) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            client = self.redis.client
            total = int(client.zcard(self._k("all")))
            live = int(client.zcount(self._k("all"), f"({now!r}", "+inf"))
            hits = int(client.get(self._k("hits")) or 0)
            return {"entries": total, "live": live, "hits": hits}

        return self._guard(work, {"entries": 0, "live": 0, "hits": 0})

    def document_versions(self, document_ids: Sequence[int]) -> dict[int, int]:
        return self.documents.document_versions(document_ids)
