"""The shared event loop adapters run async programs on (``mipro_core.eventloop``)."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextvars
import os
import signal
import time

import pytest

from mipro_core.eventloop import EventLoopThread, run_coroutine

TAG: contextvars.ContextVar[str] = contextvars.ContextVar("TAG", default="unset")


async def current_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_every_run_from_every_thread_uses_one_open_loop() -> None:
    with cf.ThreadPoolExecutor(8) as pool:
        loops = list(pool.map(lambda _: run_coroutine(current_loop), range(16)))
    assert len({id(loop) for loop in loops}) == 1
    assert not loops[0].is_closed() and loops[0].is_running()


def test_a_run_sees_its_caller_s_context_variables() -> None:
    async def read() -> str:
        return TAG.get()

    def tagged(value: str) -> str:
        TAG.set(value)
        return run_coroutine(read)

    with cf.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(tagged, ["a", "b", "c", "d"])) == ["a", "b", "c", "d"]


def test_results_and_exceptions_come_back_to_the_caller() -> None:
    async def fail() -> None:
        raise ValueError("bad input")

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert run_coroutine(answer) == 42
    with pytest.raises(ValueError, match="bad input"):
        run_coroutine(fail)


def test_a_coroutine_running_a_program_synchronously_does_not_deadlock() -> None:
    loop_thread = EventLoopThread("test-reentrant")

    async def inner() -> str:
        return "inner"

    async def outer() -> str:  # a workflow step calling another program's sync run
        return loop_thread.run(inner) + " via outer"

    assert loop_thread.run(outer) == "inner via outer"


def test_system_exit_inside_a_run_fails_that_run_and_the_loop_lives_on() -> None:
    loop_thread = EventLoopThread("test-exit")

    async def exits() -> None:
        raise SystemExit(3)

    with pytest.raises(RuntimeError, match="SystemExit"):
        loop_thread.run(exits)
    assert loop_thread.run(current_loop).is_running()


def test_sync_steps_handed_to_the_executor_run_in_parallel() -> None:
    """Sync code a framework runs with ``run_in_executor`` (sync lambdas, sync-only models)
    must not be throttled to the default executor's handful of threads."""

    async def sync_step() -> None:
        await asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.3)

    started = time.monotonic()
    with cf.ThreadPoolExecutor(24) as pool:
        list(pool.map(lambda _: run_coroutine(sync_step), range(24)))
    assert time.monotonic() - started < 0.3 * 24 / 4  # far from serial; loose on a busy machine


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_loop_of_its_own() -> None:
    run_coroutine(current_loop)  # the parent's loop is running
    pid = os.fork()
    if pid == 0:  # the child: the parent's loop thread does not exist here
        try:
            ok = run_coroutine(current_loop).is_running()
        finally:
            os._exit(0 if ok else 1)
    deadline = time.monotonic() + 30
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:  # the child hangs: the bug this test is about
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child's run never finished")
    assert os.waitstatus_to_exitcode(done[1]) == 0
