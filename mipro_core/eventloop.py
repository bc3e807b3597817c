"""Run coroutines from synchronous code on one long-lived event loop (for adapter authors).

The engine runs programs from worker threads through a synchronous ``Program.run``. An adapter
whose framework is async (an ``ainvoke`` chain, a LlamaIndex ``Workflow``) must bridge each run
to a coroutine. ``asyncio.run`` per run looks right and breaks real providers: their async HTTP
clients are created once and bound to the first loop they ran on, so every later run fails with
"Event loop is closed". :func:`run_coroutine` instead runs every coroutine on one event loop that
lives in a daemon thread for the whole process:

* runs from many worker threads share the loop concurrently; synchronous code the framework hands
  to ``run_in_executor`` (sync steps, sync-only models) gets a pool of :data:`EXECUTOR_WORKERS`
  threads, so it does not serialise the runs (blocking calls made *inside* a coroutine still
  block the loop for every run: that is a bug in the coroutine);
* each coroutine runs in a copy of its caller's context (``contextvars``), as ``asyncio.run``
  would, so tracing tags and callbacks set by the caller are seen;
* a coroutine that calls :func:`run_coroutine` again from the loop itself (a workflow step that
  runs another program synchronously) gets a loop of its own on a fresh thread instead of waiting
  on itself forever;
* ``KeyboardInterrupt``/``SystemExit`` raised inside a coroutine fail that run (as a
  ``RuntimeError``) instead of stopping the loop's thread for every later run; if the thread dies
  anyway, or the process forks, the next call starts a new loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextvars
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["EXECUTOR_WORKERS", "EventLoopThread", "run_coroutine"]

T = TypeVar("T")

EXECUTOR_WORKERS = 64
"""Threads of the shared loop's default executor (what ``run_in_executor(None, ...)`` uses)."""


async def _guarded(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return await coroutine
    except (KeyboardInterrupt, SystemExit) as exc:  # out of a task they stop the loop's thread
        raise RuntimeError(f"the run raised {type(exc).__name__}: {exc}") from exc


def _run_on_new_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    context = contextvars.copy_context()
    with cf.ThreadPoolExecutor(1, thread_name_prefix="mipro-nested-loop") as pool:
        return pool.submit(context.run, lambda: asyncio.run(make())).result()


class EventLoopThread:
    """An event loop running forever in a daemon thread, started on first use."""

    def __init__(self, name: str = "mipro-event-loop") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        if hasattr(os, "register_at_fork"):  # a child inherits the loop but not its thread
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._loop = None
        self._thread = None

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                loop.set_default_executor(
                    cf.ThreadPoolExecutor(EXECUTOR_WORKERS, thread_name_prefix=f"{self._name}-sync")
                )
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run the coroutine ``make()`` to completion on the loop and return its result.

        ``make`` is called on the loop's thread, inside a copy of the caller's context.
        """
        if self._thread is not None and threading.current_thread() is self._thread:
            return _run_on_new_thread(make)  # the loop cannot wait on itself
        loop = self._started()
        context = contextvars.copy_context()
        done: cf.Future[T] = cf.Future()
        tasks: list[asyncio.Task[T]] = []

        def finish(task: asyncio.Task[T]) -> None:
            if done.done():
                return
            if task.cancelled():
                done.cancel()
            elif (exc := task.exception()) is not None:
                done.set_exception(exc)
            else:
                done.set_result(task.result())

        def start() -> None:
            try:
                # created inside the caller's context, the task runs in a copy of it
                task = context.run(lambda: loop.create_task(_guarded(make())))
            except BaseException as exc:  # making the coroutine failed
                done.set_exception(exc)
                return
            tasks.append(task)
            task.add_done_callback(finish)

        loop.call_soon_threadsafe(start)
        try:
            return done.result()
        except BaseException:  # Ctrl-C or a timeout while waiting: stop the run as well
            loop.call_soon_threadsafe(lambda: [t.cancel() for t in tasks])
            raise


_SHARED = EventLoopThread()


def run_coroutine(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``make()`` on the process-wide shared event loop (see the module documentation).

    Pass a function that creates the coroutine (``lambda: chain.ainvoke(value)``), not the
    coroutine itself: it is created on the loop's thread, in a copy of the caller's context.
    """
    return _SHARED.run(make)
