"""Seeds a store for bench/console.sh: 30 days of hourly and daily uptime counts and a
day of results for every probe, and REPORTS validation reports. Run against a store
`assay serve` has created (so the schema is the binary's own).

    python3 bench/console.py DB PROBES REPORTS
"""
import json
import random
import sqlite3
import sys
import time

db, probes, reports = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
HOUR, DAY = 3_600_000, 86_400_000
now = int(time.time() * 1000)
rng = random.Random(7)
con = sqlite3.connect(db)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=OFF")

def counts(span, buckets):
    for p in range(probes):
        name = f"p{p:04d}"
        for b in range(buckets):
            bucket = (now // span - b) * span
            total = span // 60_000
            up = total - (rng.randrange(3) if p % 10 == 0 else 0)
            yield (name, span, bucket, up, total, total * rng.randrange(2_000, 40_000))

con.executemany("INSERT OR REPLACE INTO probe_uptime VALUES (?,?,?,?,?,?)", counts(HOUR, 24 * 30))
con.executemany("INSERT OR REPLACE INTO probe_uptime VALUES (?,?,?,?,?,?)", counts(DAY, 30))

def results():
    for p in range(probes):
        name = f"p{p:04d}"
        state = "passing"
        for i in range(1440):  # a day, one a minute
            at = now - (1440 - i) * 60_000
            status = "fail" if p % 10 == 0 and i % 97 < 3 else "pass"
            state = "failing" if status == "fail" else "passing"
            yield (name, at, rng.randrange(2_000, 40_000), status, state,
                   "200 in 12 ms" if status == "pass" else "503", "[]", "[]", "schedule")

con.executemany(
    "INSERT INTO probe_results (probe, at_ms, duration_us, status, state, message, observations, denied, trigger)"
    " VALUES (?,?,?,?,?,?,?,?,?)", results())

def report_rows():
    for i in range(reports):
        verdict = rng.choice(["pass", "pass", "pass", "warn", "fail"])
        findings = [] if verdict == "pass" else [
            {"plugin": "required-fields", "severity": "error" if verdict == "fail" else "warning",
             "code": "field.missing", "message": f"missing field {k}", "path": f"/{k}"}
            for k in range(rng.randrange(1, 6))]
        body = {"subject": f"batch-{i}.json", "digest": "sha256:" + "0" * 64, "level": "standard",
                "verdict": verdict, "findings": findings,
                "plugins": [{"name": "required-fields", "version": "0.1.0", "outcome": "ok",
                             "duration_us": 40, "queue_us": 0, "error": None}],
                "cached": False, "duration_us": 120}
        yield (now - (reports - i) * 1000, "api", "bench", f"batch-{i}.json", body["digest"],
               "standard", verdict, len(findings), 0, 120, json.dumps(body))

con.executemany(
    "INSERT INTO reports (created_ms, source, actor, subject, digest, level, verdict, findings, cached, duration_us, body)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?)", report_rows())
con.commit()
print(f"seeded {probes} probes (30 days of counts, a day of results each) and {reports} reports")
