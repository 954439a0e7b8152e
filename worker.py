"""The RQ worker: `python worker.py` (the same as `hub worker`)."""

from hub.cli.worker import run_worker

if __name__ == "__main__":
    run_worker()
