"""Health checking: asyncio probes, the threshold machine, the scheduler, the worker and its coordinator."""
