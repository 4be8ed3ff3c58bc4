"""Replay protection: a backend that keeps the ids (``jti``) of the tokens it accepted can refuse
a second use of one, which ``htm``/``htu`` alone cannot. The verifier asks the cache only after
every other check passed (forgeries never take a place in it), with ``exp`` + the clock
tolerance, the last moment a replay could be accepted."""

import threading
import time
from collections import OrderedDict
from typing import Callable, Optional, Protocol

from ._constants import REPLAY_CACHE_MAX_ENTRIES


class ReplayCache(Protocol):
    def first_use(self, jti: str, expires_at: float) -> bool:
        """Record ``jti`` as used until ``expires_at`` (Unix seconds); False when it was already
        recorded (a replay). Must be atomic: with Redis, ``SET key 1 NX EXAT expires_at``."""
        ...


class MemoryReplayCache:
    """Ids in this process's memory, bounded and thread-safe. Several processes or machines
    behind one pack need a shared store (Redis, in the README).

    When full, the oldest id leaves first (tokens share one lifetime, so it is also the one that
    expires soonest): a replay of that one token would then pass. Only tokens the gateway signed
    get in, so an outsider cannot fill the cache; size it above your peak requests per second
    × (token lifetime + tolerance)."""

    def __init__(self, max_entries: int = REPLAY_CACHE_MAX_ENTRIES, now: Optional[Callable[[], float]] = None):
        if not isinstance(max_entries, int) or max_entries < 1:
            raise TypeError("max_entries must be a positive integer")
        self._max = max_entries
        self._now = now or time.time
        self._seen: "OrderedDict[str, float]" = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def first_use(self, jti: str, expires_at: float) -> bool:
        now = self._now()
        with self._lock:
            known = self._seen.get(jti)
            if known is not None and known > now:
                return False
            if known is not None:
                del self._seen[jti]
            # Drop expired ids from the old end; tokens share one lifetime, so that is where they are.
            while self._seen:
                oldest, expiry = next(iter(self._seen.items()))
                if expiry > now and len(self._seen) < self._max:
                    break
                del self._seen[oldest]
            self._seen[jti] = expires_at
            return True
