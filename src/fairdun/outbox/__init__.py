"""The outbox: messages that leave the process, written in the caller's transaction."""
