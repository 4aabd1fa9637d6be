"""Crash recovery: the real dispatcher in a subprocess, SIGKILLed at every state transition and
at random moments, restarted, and checked for exactly-once delivery (ComfyUI forgets; our
store does not, and no video is posted twice). `worker.py` is the process that gets killed
(durable idempotent Deliver, fault hooks), `_rig.py` starts, watches and kills it,
`test_crash_recovery.py` holds the schedule and checks. Several processes: `test_adoption.py`
(workers on one PostgreSQL killed or paused, their jobs adopted by the others) and
`test_three_processes.py` (three `wanbot run` processes killed at random under load)."""
