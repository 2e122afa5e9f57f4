"""Objects kept one per running event loop (and key): the persister's batchers and the live
fan-out hold asyncio queues, locks and tasks, which belong to the loop that made them."""
import asyncio


def loop_local(registry, key, make, *, close=None):
    """``registry[(running loop, key)]``, made by ``make()`` the first time. Entries of loops that
    have closed (tests run many) are dropped then, each passed to ``close`` when given."""
    loop = asyncio.get_running_loop()
    value = registry.get((loop, key))
    if value is None:
        for done in [k for k in registry if k[0].is_closed()]:
            dropped = registry.pop(done)
            if close is not None:
                close(dropped)
        value = registry[(loop, key)] = make()
    return value
