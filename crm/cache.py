"""Django's Redis cache, except that with a KEY_PREFIX clear() deletes only this prefix's keys
(Django's empties the whole Redis database, which other deployments or test workers share)."""

from django.core.cache.backends.redis import RedisCache


def redis_keys_delete(client, prefix: str) -> int:
    """Delete every key of a Redis client's database that starts with `prefix`; how many."""
    pattern = "".join(f"\\{c}" if c in "*?[]\\" else c for c in prefix) + "*"
    keys = list(client.scan_iter(match=pattern, count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    return len(keys)


class PrefixedRedisCache(RedisCache):
    def clear(self) -> bool:
        if not self.key_prefix:
            return super().clear()
        redis_keys_delete(self._cache.get_client(write=True), f"{self.key_prefix}:")
        return True
