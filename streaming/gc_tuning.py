"""The garbage-collector settings of Parley's web processes (Daphne: ``manage.py serve``).

Most of what a server allocates per message dies by reference counting; the cyclic collector
only has to find the few cycles. With CPython's defaults it runs a young collection every 700
net allocations and, now and then, a full collection that traverses every object the process
holds: the modules, Django's URL conf and models, and, per open socket, its protocol, consumer
and queues. Measured under ``bench.live`` at 100 sessions × 20 sockets, those full collections
paused a Daphne process for 350–600 ms, which every watcher of every meeting then waited for.

So, once a process is up: :func:`gc.freeze` moves what start-up allocated into a permanent
generation no collection traverses again, and the first generation's threshold goes up to
``settings.GC_YOUNG_THRESHOLD`` net allocations (env ``PARLEY_GC_YOUNG_THRESHOLD``), so the
objects of a burst of messages are mostly freed before a collection looks at them and few
survive into the older generations. Cycles are still collected, only in fewer, larger young
collections (https://docs.python.org/3/library/gc.html).

Runner processes (``manage.py run_sessions``) keep CPython's defaults: they wait on the database
more than they compute, and with the larger threshold a 10-minute soak saw their resident memory
grow by 7.6 % (0.5 % over 5 minutes without).
"""
import gc

from django.conf import settings


def settle():
    """Call once the process has started (its imports, settings, URL conf and app loaded)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(settings.GC_YOUNG_THRESHOLD, older, oldest)
