"""Drive `sitrep sim --vendor lacework --tls` with laceworksdk, unchanged. Run by
tests/peer_sdk.rs; prints one JSON object with what the SDK saw.

Environment: SIM_URL (https://127.0.0.1:PORT), SIM_KEY_ID, SIM_SECRET, REQUESTS_CA_BUNDLE
(the simulator's CA), SIM_TOKEN_TTL (seconds the simulator's tokens live).

laceworksdk builds its base URL as `https://{account}.{base_domain}`: account `127` and
base domain `0.0.1:PORT` make `https://127.0.0.1:PORT`, and it keeps the path of every
absolute `nextPage` URL that contains the base domain, as it does for a real tenant.
"""
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

from laceworksdk import LaceworkClient
from laceworksdk.exceptions import ApiError

DAY = timedelta(days=1)
FMT = "%Y-%m-%dT%H:%M:%SZ"


def client(secret):
    host = urlparse(os.environ["SIM_URL"]).netloc
    account, domain = host.split(".", 1)
    return LaceworkClient(account=account, base_domain=domain,
                          api_key=os.environ["SIM_KEY_ID"], api_secret=secret)


def everything(lw, now):
    """Every alert of the API's 92 days of history, in the 7-day windows it allows."""
    ids, pages = [], 0
    end = now
    while end > now - 92 * DAY + DAY:
        start = max(end - 7 * DAY, now - 92 * DAY + DAY)
        got = lw.alerts.get(start_time=start.strftime(FMT), end_time=end.strftime(FMT))
        ids.extend(a["alertId"] for a in got["data"])
        end = start
    return ids


def main():
    out = {}
    try:
        client("not-the-secret")
        out["bad_login"] = None
    except ApiError as e:
        out["bad_login"] = str(e)

    lw = client(os.environ["SIM_SECRET"])
    first = lw._session._access_token  # read only, to see the SDK renew its token
    now = datetime.now(timezone.utc).replace(microsecond=0)
    ids = everything(lw, now)
    out["ids"] = sorted({str(i) for i in ids})
    out["duplicates"] = len(ids) - len(set(ids))

    # Let the short-lived token run out: the SDK must get a new one by itself.
    time.sleep(float(os.environ.get("SIM_TOKEN_TTL", "0")) + 1)
    target = out["ids"][0]
    details = lw.alerts.get_details(target, "Details")
    out["details_id"] = str(details["data"][0]["alertId"]) if isinstance(details["data"], list) \
        else str(details["data"]["alertId"])
    out["renewed"] = lw._session._access_token != first

    # sitrep's write-back: a comment, then a close (0 "Other" needs a comment; 1 false positive).
    lw.alerts.comment(target, "peer SDK: comment")
    timeline = lw.alerts.get_details(target, "Timeline")["data"]
    out["commented"] = any("peer SDK: comment" in json.dumps(e) for e in timeline)
    out["close_other"] = lw.alerts.close(target, 0, "peer SDK: closed as other")
    out["close_fp"] = lw.alerts.close(out["ids"][1], 1)
    try:
        lw.alerts.close(out["ids"][2], 0)
        out["close_without_comment"] = None
    except ApiError as e:
        out["close_without_comment"] = str(e)
    try:
        lw.alerts.get_details("999999999", "Details")
        out["unknown"] = None
    except ApiError as e:
        out["unknown"] = str(e)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
