#!/usr/bin/env python3
"""Write a Prisma Cloud CSPM `/v2/alert` list body of N alerts, deterministic for a seed.

Each alert is the corpus item prisma-cspm/elastic-v2-alert-post-page1.json (the first item)
with the fields the mapper reads varied: id, status, severity, policy, resource (id, name,
account, region, cloud), tags and times. Alert i depends only on (seed, i), so
`--start K --count M` writes exactly items K..K+M of the full file: the scale bench builds a
large store from chunks no bigger than what the current import can hold in memory.

Usage: gen-prisma.py --count N [--start K] [--seed S] [--corpus PATH] > out.json
The body is streamed to stdout (a 1M-alert body is ~3.5 GB); nothing is held but one item.
"""

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = Path("/work/shared/corpus/prisma-cspm/elastic-v2-alert-post-page1.json")

# (weight, value) tables: the queue at scale is mostly open, mostly medium/low.
STATUSES = [(90, "open"), (5, "resolved"), (3, "dismissed"), (2, "snoozed")]
SEVERITIES = [(5, "critical"), (20, "high"), (35, "medium"), (30, "low"), (10, "informational")]
CLOUDS = [(60, "aws"), (25, "azure"), (15, "gcp")]
REGIONS = {
    "aws": ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1"],
    "azure": ["eastus", "westeurope", "northeurope", "southeastasia"],
    "gcp": ["us-central1", "europe-west1", "asia-east1"],
}
# Resource names are "<role>-<env>-<n>": a text filter such as `host` matches one role in eight.
ROLES = ["web", "db", "api", "host", "cache", "batch", "edge", "auth"]
ENVS = ["prod", "staging", "dev", "test"]
TEAMS = ["payments", "platform", "data", "identity", "growth", "infra"]
POLICY_SUBJECTS = [
    ("network", "instance that is internet reachable with unrestricted access (0.0.0.0/0)"),
    ("config", "storage bucket with public read access"),
    ("config", "database instance without encryption at rest"),
    ("iam", "IAM role with administrative privileges attached to a workload"),
    ("network", "security group allowing SSH from the internet"),
    ("config", "disk snapshot shared publicly"),
    ("anomaly", "unusual login from a new location"),
    ("config", "logging disabled on the load balancer"),
    ("iam", "access key not rotated for 90 days"),
    ("network", "Kubernetes API server reachable from the internet"),
]
CLOUD_LABEL = {"aws": "AWS", "azure": "Azure", "gcp": "GCP"}
NOW_MS = 1_764_547_200_000  # 2025-12-01T00:00:00Z: fixed, so the files are byte-identical per seed
DAY_MS = 86_400_000


def weighted(rng, table):
    total = sum(w for w, _ in table)
    x = rng.random() * total
    for w, v in table:
        x -= w
        if x < 0:
            return v
    return table[-1][1]


def item_for(template, seed, i):
    rng = random.Random(seed * 1_000_003 + i)
    cloud = weighted(rng, CLOUDS)
    region = rng.choice(REGIONS[cloud])
    account = f"{(seed * 7919 + rng.randrange(200)) % 10**12:012d}"
    role, env = rng.choice(ROLES), rng.choice(ENVS)
    name = f"{role}-{env}-{rng.randrange(100000)}"
    pidx = rng.randrange(len(POLICY_SUBJECTS))
    ptype, subject = POLICY_SUBJECTS[pidx]
    first = NOW_MS - rng.randrange(365 * DAY_MS)
    last = min(NOW_MS, first + rng.randrange(30 * DAY_MS))
    native = f"i-{rng.getrandbits(64):016x}"

    it = json.loads(template)  # a fresh copy; the template is one item (~3.4 KB)
    it["id"] = f"P-{i + 1}"
    it["status"] = weighted(rng, STATUSES)
    it["firstSeen"] = first
    it["alertTime"] = first
    it["lastSeen"] = last
    it["lastUpdated"] = last
    it["history"][0]["modifiedOn"] = str(first)
    it["alertAttribution"]["attributionEventList"][0]["event_ts"] = first
    pid = f"{pidx:08x}-{cloud}-4499-8988-b8017cafe{pidx:03d}"
    it["policyId"] = pid
    pol = it["policy"]
    pol["policyId"] = pid
    pol["name"] = f"{CLOUD_LABEL[cloud]} {subject}"
    pol["policyType"] = ptype
    pol["severity"] = weighted(rng, SEVERITIES)
    res = it["resource"]
    res["rrn"] = f"rrn:{cloud}:instance:{region}:{account}:{native}"
    res["id"] = native
    res["name"] = name
    res["accountId"] = account
    res["account"] = f"{CLOUD_LABEL[cloud]} account {account[-4:]}"
    res["regionId"] = region
    res["region"] = region
    res["cloudType"] = cloud
    res["resourceTs"] = last
    res["resourceTags"] = [
        {"key": "env", "value": env},
        {"key": "team", "value": rng.choice(TEAMS)},
    ]
    res["url"] = f"https://console.example.invalid/{cloud}/{region}/{native}"
    it["investigateOptions"]["alertId"] = it["id"]
    return json.dumps(it, separators=(",", ":"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    a = ap.parse_args()
    if a.count < 0 or a.start < 0:
        sys.exit("gen-prisma: --count and --start must be >= 0")
    try:
        body = json.loads(a.corpus.read_text())
        template = json.dumps(body["items"][0])
    except (OSError, ValueError, KeyError, IndexError) as e:
        sys.exit(f"gen-prisma: cannot read a Prisma list body from {a.corpus}: {e}")

    out = sys.stdout
    out.write(f'{{"totalRows":{a.count},"items":[')
    for n in range(a.count):
        if n:
            out.write(",")
        out.write(item_for(template, a.seed, a.start + n))
    out.write("]}\n")


if __name__ == "__main__":
    main()
