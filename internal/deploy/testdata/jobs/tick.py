"""The schedule: notes each run's start and end in instance/ticks, and
takes 3 seconds — longer than its period in the test."""
import os
import socket
import time

from jobs import VERSION

path = os.path.join(os.getcwd(), "instance", "ticks")
with open(path, "a") as f:
    f.write("%s %s start %.3f\n" % (socket.gethostname(), VERSION, time.time()))
time.sleep(3)
with open(path, "a") as f:
    f.write("%s %s end %.3f\n" % (socket.gethostname(), VERSION, time.time()))
print("tick", VERSION, flush=True)
