"""RenderedMemo keeps at most its capacity and lets the least recently used entry go."""

from __future__ import annotations

from web.rendering import RenderedMemo


def test_the_least_recently_used_entry_goes_first():
    memo = RenderedMemo(capacity=2)
    memo.put("a", "<a>")
    memo.put("b", "<b>")
    assert memo.get("a") == "<a>"  # now "b" is the least recently used
    memo.put("c", "<c>")
    assert (len(memo), memo.get("a"), memo.get("b"), memo.get("c")) == (2, "<a>", None, "<c>")


def test_storing_a_key_again_replaces_its_entry_and_keeps_it():
    memo = RenderedMemo(capacity=2)
    memo.put("a", "<a>")
    memo.put("b", "<b>")
    memo.put("a", "<a2>")
    memo.put("c", "<c>")
    assert (len(memo), memo.get("a"), memo.get("b")) == (2, "<a2>", None)
