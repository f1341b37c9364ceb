"""Drive `sitrep sim --vendor prisma-cspm --tls` with the official SDK (prismacloud-api),
unchanged. Run by tests/peer_sdk.rs; prints one JSON object with what the SDK saw.

Environment: SIM_URL (https://127.0.0.1:PORT), SIM_ACCESS_KEY, SIM_SECRET_KEY,
REQUESTS_CA_BUNDLE (the simulator's CA), PAGE_LIMIT (the first page's `limit`).

pcapi decides CSPM or Compute by the URL's domain (`*.prismacloud.io` is CSPM); a loopback
simulator is neither, so the driver sets the CSPM host on the instance, as `configure` would.
"""
import json
import os
import sys

from peerlib import refused
from prismacloud.api import PrismaCloudAPI
from prismacloud.api.pc_lib_utility import PrismaCloudUtility


def sdk(secret):
    pc = PrismaCloudAPI()
    pc.configure({
        "url": "",
        "identity": os.environ["SIM_ACCESS_KEY"],
        "secret": secret,
        "verify": os.environ["REQUESTS_CA_BUNDLE"],
    })
    pc.api = PrismaCloudUtility.normalize_url(os.environ["SIM_URL"])
    # Errors are raised, not retried for minutes: the simulator never sends pcapi's retry codes
    # unless a test asks for them.
    pc.retry_waits = [0.1, 0.2]
    return pc


def main():
    out = {}
    # Bad credentials: pcapi exits with the status code.
    bad = sdk("not-the-secret")
    out["bad_login"] = refused(bad.login)

    pc = sdk(os.environ["SIM_SECRET_KEY"])
    pc.login()
    first = pc.token
    pc.extend_login()
    out["extended"] = bool(pc.token) and pc.token != first

    # Every alert, through the SDK's own paginated `/v2/alert` loop (a body of only
    # `pageToken` after the first page; it stops on a page without `nextPageToken`).
    body = {
        "timeRange": {"type": "to_now", "value": "epoch"},
        "filters": [],
        "limit": int(os.environ.get("PAGE_LIMIT", "1000")),
        "sortBy": ["id:asc"],
        "detailed": True,
    }
    items = pc.alert_v2_list_read(query_params={"detailed": "true"}, body_params=body)
    out["ids"] = [a["id"] for a in items]
    open_ids = [a["id"] for a in items if a.get("status") == "open"]

    # The write-back calls sitrep makes, sent through the SDK's transport (pcapi has no
    # wrapper for them), with sitrep's bodies.
    target = open_ids[0]
    everything = {"timeRange": {"type": "to_now", "value": "epoch"}, "filters": []}
    pc.execute("POST", "alert/dismiss", body_params={
        "alerts": [target], "dismissalNote": "peer SDK: dismiss", "filter": everything})
    snoozed = open_ids[1]
    pc.execute("POST", "alert/dismiss", body_params={
        "alerts": [snoozed], "dismissalNote": "peer SDK: snooze", "filter": everything,
        "dismissalTimeRange": {"type": "relative", "value": {"amount": 2, "unit": "hour"}}})
    # Dismissing it again: the alert is no longer open.
    out["dismiss_again"] = refused(lambda: pc.execute("POST", "alert/dismiss", body_params={
        "alerts": [target], "dismissalNote": "again", "filter": everything}))
    pc.execute("POST", "alert/reopen", body_params={"alerts": [target], "filter": everything})
    # Without the required filter.
    out["no_filter"] = refused(lambda: pc.execute("POST", "alert/reopen", body_params={
        "alerts": [target]}))
    after = pc.alert_v2_list_read(body_params={
        "timeRange": {"type": "to_now", "value": "epoch"},
        "filters": [{"name": "alert.status", "operator": "=", "value": "snoozed"}],
        "limit": 100,
    })
    out["dismissed"] = target
    out["snoozed"] = snoozed
    out["snoozed_now"] = [a["id"] for a in after]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
