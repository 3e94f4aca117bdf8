from __future__ import annotations

from services.runtime.lag import group_lag
from services.runtime.messages import TopicPartition

P0, P1, P2 = (TopicPartition("articles.cleaned", p) for p in range(3))


def test_lag_counts_from_the_committed_offset_or_the_beginning_when_never_committed() -> None:
    lags = group_lag([P0, P1, P2], committed={P0: 7}, beginnings={P0: 0, P1: 2, P2: 0}, ends={P0: 10, P1: 5, P2: 0})
    assert lags == {P0: 3, P1: 3, P2: 0}


def test_lag_is_never_negative() -> None:
    assert group_lag([P0], committed={P0: 12}, beginnings={}, ends={P0: 10}) == {P0: 0}
