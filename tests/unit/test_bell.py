"""The bell a woken job waits on (db/wakeups.py): with `gather`, what rings while it
gathers belongs to the round about to start, not to an extra one after it."""

from __future__ import annotations

import asyncio

from db.wakeups import Bell

GATHER_SECONDS = 0.5


async def test_a_ring_while_the_bell_gathers_counts_as_the_one_that_woke_it():
    bell = Bell()
    bell.ring()
    # Timers fire in the order of their time: this ring comes before the gathering ends,
    # however loaded the machine is, and after the wait saw the first ring.
    asyncio.get_running_loop().call_later(GATHER_SECONDS / 50, bell.ring)
    await bell.wait(timeout=60, gather=GATHER_SECONDS)
    assert not bell.rung


async def test_a_ring_after_the_wait_is_kept_for_the_next_one():
    bell = Bell()
    bell.ring()
    await bell.wait(timeout=60, gather=0)
    bell.ring()
    assert bell.rung
