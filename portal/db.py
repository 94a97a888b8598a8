"""Database work from async code, run on the executor's threads, not on one shared thread.

asgiref runs thread-sensitive calls one at a time on a single thread, so under load every
request's authentication, pseudonym lookup and log write waited in one line (measured: about
60 requests/s at 32 clients, whatever the model did). Django gives each thread its own
connection, and these calls are short and independent, so they may run side by side.
"""

from asgiref.sync import sync_to_async


def in_thread(func):
    """`func` as a coroutine function that runs on a worker thread with its own connection."""
    return sync_to_async(func, thread_sensitive=False)
