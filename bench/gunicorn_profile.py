"""gunicorn config for bench/profile.py: the project's config, plus cProfile in every worker.

Each worker profiles itself on CPU time (time.process_time: a greenlet waiting on a socket costs nothing)
from its start, and writes `worker-<pid>.prof` into $GEMPOOL_BENCH_PROFILE_DIR when it exits.
"""
import os
import runpy

_project = runpy.run_path("gempool_site/gunicorn.conf.py")
globals().update({name: value for name, value in _project.items() if not name.startswith("__")})
_project_post_worker_init = _project["post_worker_init"]


def post_worker_init(worker) -> None:  # noqa: F811 - wraps the project's hook
    import cProfile
    import time

    _project_post_worker_init(worker)
    worker.bench_profile = cProfile.Profile(time.process_time)
    worker.bench_profile.enable()


def worker_exit(server, worker) -> None:  # noqa: F811 - wraps the project's hook
    _project["worker_exit"](server, worker)
    profile = getattr(worker, "bench_profile", None)
    if profile is not None:
        profile.disable()
        profile.dump_stats(os.path.join(os.environ["GEMPOOL_BENCH_PROFILE_DIR"], f"worker-{os.getpid()}.prof"))
