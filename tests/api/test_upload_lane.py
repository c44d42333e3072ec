"""The upload lane: one upload at a time per web process, in the order asked."""

import threading

from api.uploads import _Lane
from tests.helpers import wait_for


def test_the_lane_hands_a_freed_place_to_the_longest_waiter():
    """Waiters enter in the order they asked; a freed place goes to the first
    waiter, so a newcomer cannot barge in ahead of it."""
    lane = _Lane(1)
    lane.acquire()
    entered: list[str] = []
    go = threading.Event()

    def upload(name: str) -> None:
        lane.acquire()
        entered.append(name)
        go.wait(30)
        lane.release()

    threads = []
    for count, name in enumerate(("first", "second", "third"), start=1):
        thread = threading.Thread(target=upload, args=(name,))
        thread.start()
        threads.append(thread)
        wait_for(lambda n=count: len(lane._waiting) == n, what=f"{name} waiting")
    lane.release()
    wait_for(lambda: entered == ["first"], what="the first waiter inside")
    assert lane._free == 0  # handed over, never freed for a newcomer
    go.set()
    for thread in threads:
        thread.join(timeout=30)
    assert entered == ["first", "second", "third"]
    assert lane._free == 1 and not lane._waiting
