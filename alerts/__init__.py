"""Alert delivery: the outbox, channels (Apprise URLs, `file:`) and message rendering.

Not built yet (issue 4). Until then a flag is recorded in the database, printed by `claimwatch
check`, and listed by `claimwatch flags`; the `alerts:` section of sources.yaml is validated but
nothing is sent.
"""
