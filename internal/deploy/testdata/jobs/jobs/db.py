"""The queue: a table of jobs in instance/jobs.sqlite."""
import os
import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL DEFAULT 'queued',
    taken_by TEXT,
    times_done INTEGER NOT NULL DEFAULT 0,
    done_by TEXT
)
"""


def connect(instance):
    conn = sqlite3.connect(os.path.join(instance, "jobs.sqlite"), timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(SCHEMA)
    return conn


def enqueue(instance, n):
    conn = connect(instance)
    ids = []
    conn.execute("BEGIN IMMEDIATE")
    for _ in range(n):
        ids.append(conn.execute("INSERT INTO jobs DEFAULT VALUES").lastrowid)
    conn.execute("COMMIT")
    return ids


def take(conn, who):
    """Claims the oldest queued job for who, or returns None."""
    conn.execute("BEGIN IMMEDIATE")
    row = conn.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1").fetchone()
    if row:
        conn.execute("UPDATE jobs SET state = 'taken', taken_by = ? WHERE id = ?", (who, row[0]))
    conn.execute("COMMIT")
    return row[0] if row else None


def done(conn, job, who):
    conn.execute("UPDATE jobs SET state = 'done', times_done = times_done + 1, done_by = ? WHERE id = ?", (who, job))


def jobs(instance):
    conn = connect(instance)
    rows = conn.execute("SELECT id, state, times_done, done_by FROM jobs ORDER BY id").fetchall()
    return [{"id": r[0], "state": r[1], "times_done": r[2], "done_by": r[3]} for r in rows]
