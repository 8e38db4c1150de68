"""The process of a background job: ``python -m crest_tools.job_process <job folder>``.

Records its pid in job.json, runs the job's ``crest`` arguments in this process, then records the
exit code. A killed process records no exit, which :class:`crest_tools.jobs.Job` reports as stopped.
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
        code = main(job.record()["arguments"])
    except SystemExit as stop:  # argparse errors
        code = stop.code if isinstance(stop.code, int) else 1
    except Exception:
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
