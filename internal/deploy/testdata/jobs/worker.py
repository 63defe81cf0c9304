"""The worker: takes jobs from the queue, each about 2 seconds of work. On
SIGTERM it finishes the job in hand, then exits."""
import os
import signal
import sys
import time

from jobs import VERSION, db

stopping = False


def on_term(signum, frame):
    global stopping
    stopping = True
    print("SIGTERM: finishing the job in hand, then stopping", flush=True)


def main():
    signal.signal(signal.SIGTERM, on_term)
    instance = os.path.join(os.getcwd(), "instance")
    who = "%s/%s/%s" % (VERSION, os.environ.get("STACKCTL_RELEASE", "?"), os.environ.get("STACKCTL_PROCESS", "?"))
    conn = db.connect(instance)
    print("worker %s ready" % who, flush=True)
    while not stopping:
        job = db.take(conn, who)
        if job is None:
            time.sleep(0.2)
            continue
        print("job %d taken" % job, flush=True)
        end = time.monotonic() + 2
        while time.monotonic() < end:
            time.sleep(0.05)
        db.done(conn, job, who)
        print("job %d done" % job, flush=True)
    print("worker %s stopped" % who, flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
