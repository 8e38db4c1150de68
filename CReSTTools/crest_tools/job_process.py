"""The process of a background job: ``python -m crest_tools.job_process <job folder>``.

Records its pid in job.json, runs the job's ``crest train`` arguments in this process and, when
training succeeded, ``crest evaluate`` (metrics and figures), then records the exit code. A killed process records no exit, which :class:`crest_tools.jobs.Job` reports as stopped.
"""

from __future__ import annotations

import os
import sys
import time
import traceback

from .jobs import Job


def run(folder: str) -> int:
    """Run the job of ``folder``; returns the crest exit code (1 for an unexpected exception)."""
    from .cli import main

    job = Job(folder)
    job.update_record(pid=os.getpid(), started=time.time(), exit=None)
    code = 1
    try:
        record = job.record()
        code = main(record["arguments"])
        if code == 0:
            code = main(record["evaluate_arguments"])
    except SystemExit as stop:  # argparse errors
        code = stop.code if isinstance(stop.code, int) else 1
    except Exception:  # noqa: BLE001 -- any failure must still record an exit code
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        job.update_record(exit={"code": code, "time": time.time()})
    return code


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m crest_tools.job_process JOB_FOLDER")
    sys.exit(run(sys.argv[1]))
