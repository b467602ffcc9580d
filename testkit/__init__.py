"""Test support shared by tests/ and bench/ (neither imports the other): a server process
(`server`), the tenant and its tokens (`tenant`), clients of the functions (`functions`),
simulated agents (`agents`), fault scenarios (`faults`, `upstream_harness`)."""


def run_async(coro):
    """asyncio.run in a worker thread: Playwright's sync API keeps an event loop running in
    the calling thread (the benchmarks' and the tests'), where asyncio.run() would refuse."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
