"""The background job every live page watches: progress, stop within a step, failure reasons."""

import threading
import time

from llmviz.jobs import FAILED, FINISHED, STOPPED, Job, JobFailed


def test_job_records_progress_and_finishes():
    def work(job):
        for i in range(5):
            job.record((i, i * i))
            job.advance()
        return "done"

    job = Job(work, total=5).start().join(5)
    snap = job.snapshot()
    assert snap.state == FINISHED and job.result == "done"
    assert snap.history == tuple((i, i * i) for i in range(5))
    assert snap.fraction == 1.0 and snap.done


def test_stop_is_honoured_at_the_next_step():
    started = threading.Event()
    steps_after_stop = []

    def work(job):
        for i in range(10_000):
            if job.should_stop():
                return i
            if i == 3:
                started.set()
                time.sleep(0.05)
            if job._stop.is_set():
                steps_after_stop.append(i)
            job.advance()

    job = Job(work, total=10_000).start()
    started.wait(5)
    job.stop()
    job.join(5)
    assert job.snapshot().state == STOPPED
    assert len(steps_after_stop) <= 1  # at most the step in flight when Stop was pressed
    assert job.result < 10


def test_failure_keeps_the_reason():
    def work(job):
        job.advance()
        raise JobFailed("loss became NaN at step 1")

    snap = Job(work, total=3).start().join(5).snapshot()
    assert snap.state == FAILED and "NaN at step 1" in snap.reason


def test_unexpected_error_is_reported_not_raised():
    snap = Job(lambda job: 1 / 0).start().join(5).snapshot()
    assert snap.state == FAILED and "ZeroDivisionError" in snap.reason
