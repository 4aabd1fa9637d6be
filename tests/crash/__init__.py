"""Crash recovery: the real dispatcher in a subprocess, SIGKILLed at every state transition and
at random moments, restarted, and checked for exactly-once delivery (DESIGN.md, hard problems 3
and 5). `worker.py` is the process that gets killed (durable idempotent Deliver, fault hooks),
`_rig.py` starts, watches and kills it, `test_crash_recovery.py` holds the schedule and checks."""
