"""What a command handler returns: the REPLY status and reason the dispatcher sends.

Handlers (commands.COMMANDS) return one of these pairs; the records a command produces
(STATUS, CONFIG, TIME) are written by the handler before it returns, so they precede the REPLY.
"""

import protocol

OK = (protocol.REPLY_OK, protocol.REASON_NONE)
STARTED = (protocol.REPLY_STARTED, protocol.REASON_NONE)


def refused(reason):
    """Nothing changed; `reason` says why."""
    return (protocol.REPLY_REFUSED, reason)


def failed(reason):
    """Accepted, but a check, the hardware or the storage failed."""
    return (protocol.REPLY_FAILED, reason)
