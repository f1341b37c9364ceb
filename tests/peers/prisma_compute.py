"""Drive `sitrep sim --vendor prisma-compute --tls` with the official SDK (prismacloud-api's
CWPP half), unchanged. Run by tests/peer_sdk.rs; prints one JSON object with what it saw.

Environment: SIM_URL (https://127.0.0.1:PORT), SIM_USERNAME, SIM_PASSWORD,
REQUESTS_CA_BUNDLE (the simulator's CA).

A URL outside `*.prismacloud.io` is a Compute console to pcapi: it logs in at
`/api/v1/authenticate`, sends `Authorization: Bearer`, and pages every list with
`limit=50&offset=N` while `offset < Total-Count`.
"""
import json
import os
import sys

from peerlib import refused
from prismacloud.api import PrismaCloudAPI


def sdk(password):
    pc = PrismaCloudAPI()
    pc.configure({
        "url": os.environ["SIM_URL"],
        "identity": os.environ["SIM_USERNAME"],
        "secret": password,
        "verify": os.environ["REQUESTS_CA_BUNDLE"],
    })
    pc.retry_waits = [0.1, 0.2]
    return pc


def main():
    out = {}
    out["bad_login"] = refused(sdk("not-the-password").login_compute)

    pc = sdk(os.environ["SIM_PASSWORD"])
    pc.login_compute()
    first = pc.token
    # Compute has no extension call: pcapi logs in again.
    pc.extend_login_compute()
    out["renewed"] = bool(pc.token) and pc.token != first

    incidents = pc.audits_list_read("incidents")
    out["incidents"] = [i["_id"] for i in incidents]
    out["incidents_archived"] = [i["_id"] for i in incidents if i.get("acknowledged")]
    out["images"] = [o["_id"] for o in pc.images_list_read()]
    out["containers"] = [o["_id"] for o in pc.containers_list_read()]
    out["hosts"] = [o["_id"] for o in pc.hosts_list_read()]
    out["serverless"] = [o["_id"] for o in pc.serverless_list_read()]

    # sitrep's write-back: archive an active incident, then restore it.
    active = [i["_id"] for i in incidents if not i.get("acknowledged")]
    target = active[0]
    pc.audits_ack_incident(target, True)
    archived = [i["_id"] for i in pc.audits_list_read("incidents") if i.get("acknowledged")]
    out["archived_after_ack"] = target in archived
    pc.audits_ack_incident(target, False)
    archived = [i["_id"] for i in pc.audits_list_read("incidents") if i.get("acknowledged")]
    out["archived_after_restore"] = target in archived
    out["ack_unknown"] = refused(lambda: pc.audits_ack_incident("no-such-incident", True))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
