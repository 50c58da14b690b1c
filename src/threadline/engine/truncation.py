"""Truncation strategies: which thread items a turn's prompt keeps.

`last_messages: n` keeps the items from the n-th last message on. `auto` keeps everything
that fits the budget, dropping from the middle of the thread: the first item stays as the
conversation's opening, then the newest items that fit. `disabled` (responses) keeps
everything or nothing.
"""

from __future__ import annotations

from typing import Any

from threadline.engine.history import Item


def last_messages(items: list[Item], count: int) -> list[Item]:
    seen = 0
    for index in range(len(items) - 1, -1, -1):
        if items[index].is_message:
            seen += 1
            if seen == count:
                return items[index:]
    return items


def fit(items: list[Item], budget: int) -> list[Item] | None:
    """The items that fit `budget` tokens, dropping from the middle; None if even the
    newest item alone does not fit."""
    if sum(item.tokens for item in items) <= budget:
        return items
    if not items or items[-1].tokens > budget:
        return None
    kept: list[Item] = []
    used = 0
    for item in reversed(items):
        if used + item.tokens > budget:
            break
        kept.append(item)
        used += item.tokens
    kept.reverse()
    first = items[0]
    # Keep the opening of the conversation when there is room for it.
    if first is not kept[0] and used + first.tokens <= budget:
        kept.insert(0, first)
    elif first is not kept[0]:
        # Make room for the opening by giving up the oldest kept items, if that works.
        while len(kept) > 1 and used + first.tokens > budget:
            used -= kept.pop(0).tokens
        if used + first.tokens <= budget:
            kept.insert(0, first)
    return kept


def apply(items: list[Item], strategy: dict[str, Any] | None, budget: int) -> list[Item] | None:
    strategy = strategy or {"type": "auto"}
    if strategy.get("type") == "disabled":
        # A response's default (`truncation: disabled`): all of it, or the run fails.
        return items if sum(item.tokens for item in items) <= budget else None
    if strategy.get("type") == "last_messages" and strategy.get("last_messages"):
        items = last_messages(items, int(strategy["last_messages"]))
    return fit(items, budget)
