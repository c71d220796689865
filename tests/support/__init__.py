"""What every test folder shares, in one place (tests never import ``scripts/``).

- ``cli``: the CLI in a subprocess (``cli``, ``cli_ok``, ``cli_json``, ``run``), its
  environment, and ``Worker``, the handle of a long-running ``worker start``.
- ``harness``: ``Queuectl``, one test's queue driven through the CLI, ending whatever
  it started.
- ``polling``: ``wait_for``, the one poll with a deadline.
- ``backends``: the engines every suite runs on, the PostgreSQL admin URL, temporary
  databases and fresh queue schemas.
- ``processes``: processes in ``/proc`` (alive, by environment), ending them, freezing
  a worker.
- ``jobs``: shell for jobs (quoting, gates, pid files) and a job's recorded runs.
- ``output``: the shapes the JSON output promises, and its timestamps.
- ``chaos``: the chaos run (SIGKILLed workers), CI-sized in tests, full-size in
  ``scripts/chaos.py``.
"""
