"""hvac (HashiCorp's community Python client for Vault) against sitrep's Vault simulator.

Usage: vault_hvac.py URL NAMESPACE ROLE_ID SECRET_ID

Logs in with AppRole in NAMESPACE, looks itself up, writes a KV v2 secret, reads it and the
secret the test stored beforehand, reads the metadata, renews its token, and checks the
errors hvac raises for a missing path and a path its policy does not cover. Prints one JSON
object with what it saw; the Rust test (tests/vault.rs) checks it and then seals the
simulator and runs `sealed` mode: hvac must see Vault as down.
"""

import json
import sys

import hvac
import hvac.exceptions


def error_name(call):
    try:
        call()
    except hvac.exceptions.VaultError as e:
        return type(e).__name__
    return None


def main():
    url, namespace, role_id, secret_id = sys.argv[1:5]
    mode = sys.argv[5] if len(sys.argv) > 5 else "normal"
    client = hvac.Client(url=url, namespace=namespace or None)
    out = {}
    if mode == "sealed":
        out["sealed"] = client.sys.is_sealed()
        out["login_error"] = error_name(
            lambda: client.auth.approle.login(role_id=role_id, secret_id=secret_id)
        )
        print(json.dumps(out))
        return
    out["sealed"] = client.sys.is_sealed()
    login = client.auth.approle.login(role_id=role_id, secret_id=secret_id)
    out["lease_duration"] = login["auth"]["lease_duration"]
    out["renewable"] = login["auth"]["renewable"]
    out["authenticated"] = client.is_authenticated()
    kv = client.secrets.kv.v2
    written = kv.create_or_update_secret(
        path="sitrep/from-hvac",
        secret={"api_key": "written-by-hvac", "note": "peer"},
        mount_point="secret",
    )
    out["written_version"] = written["data"]["version"]
    read = kv.read_secret_version(
        path="sitrep/from-hvac", mount_point="secret", raise_on_deleted_version=True
    )
    out["read_back"] = read["data"]["data"]
    seeded = kv.read_secret_version(
        path="sitrep/app", mount_point="secret", raise_on_deleted_version=True
    )
    out["seeded"] = seeded["data"]["data"]
    out["seeded_version"] = seeded["data"]["metadata"]["version"]
    meta = kv.read_secret_metadata(path="sitrep/app", mount_point="secret")
    out["versions"] = sorted(meta["data"]["versions"].keys())
    renewed = client.auth.token.renew_self()
    out["renewed_lease"] = renewed["auth"]["lease_duration"]
    out["missing_error"] = error_name(
        lambda: kv.read_secret_version(
            path="sitrep/nothing-here", mount_point="secret", raise_on_deleted_version=True
        )
    )
    out["denied_error"] = error_name(
        lambda: kv.read_secret_version(
            path="other-team/db", mount_point="secret", raise_on_deleted_version=True
        )
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
