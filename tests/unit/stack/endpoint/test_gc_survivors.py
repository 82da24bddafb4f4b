import gc
import weakref

from stack.endpoint import gc_survivors


class _Node:
    def __init__(self) -> None:
        self.itself = self  # a reference cycle: only the collector frees it


def test_survivors_of_a_full_collection_are_frozen_and_new_cycles_still_collected() -> None:
    try:
        gc_survivors.freeze_survivors()
        survivors: list[list[int]] = [[] for _ in range(1000)]  # lists are tracked by the collector
        frozen = gc.get_freeze_count()
        garbage = _Node()
        gone = weakref.ref(garbage)
        del garbage
        gc.collect()
        assert gone() is None  # made since the last freeze: collected
        assert gc.get_freeze_count() >= frozen + len(survivors)
    finally:
        gc.callbacks.remove(gc_survivors._freeze_after_full_collection)
        gc.unfreeze()
