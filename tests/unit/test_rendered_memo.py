"""RenderedMemo hands out what it keeps only for an equal source, keeps at most its
capacity and lets the least recently used place go."""

from __future__ import annotations

from web.rendering import RenderedMemo


def test_what_is_kept_comes_back_only_for_an_equal_source():
    memo = RenderedMemo(capacity=2)
    memo.put("page", ("eva", 1), "<eva 1>")
    assert memo.get("page", ("eva", 1)) == "<eva 1>"
    assert memo.get("page", ("eva", 2)) is None
    assert memo.get("other page", ("eva", 1)) is None


def test_a_changed_source_takes_its_place_over():
    memo = RenderedMemo(capacity=2)
    memo.put("page", ("eva", 1), "<eva 1>")
    memo.put("page", ("eva", 2), "<eva 2>")
    assert (len(memo), memo.get("page", ("eva", 2)), memo.get("page", ("eva", 1))) == (1, "<eva 2>", None)


def test_the_least_recently_used_place_goes_first():
    memo = RenderedMemo(capacity=2)
    memo.put("a", 1, "<a>")
    memo.put("b", 1, "<b>")
    assert memo.get("a", 1) == "<a>"  # now "b" is the least recently used
    memo.put("c", 1, "<c>")
    assert (len(memo), memo.get("a", 1), memo.get("b", 1), memo.get("c", 1)) == (2, "<a>", None, "<c>")


def test_storing_a_place_again_keeps_it():
    memo = RenderedMemo(capacity=2)
    memo.put("a", 1, "<a>")
    memo.put("b", 1, "<b>")
    memo.put("a", 1, "<a2>")
    memo.put("c", 1, "<c>")
    assert (len(memo), memo.get("a", 1), memo.get("b", 1)) == (2, "<a2>", None)
