"""What the peer drivers share."""


def refused(call):
    """The text of pcapi's SystemExit for a call that must fail, or None when it succeeded."""
    try:
        call()
    except SystemExit as e:
        return str(e)
    return None
