"""Alerts (issue 4, SPEC §1 `alerts:` and §3): the outbox a check writes its alerts to
(`outbox`), the messages (`message`), the channels that carry them (`channels`) and the dispatcher
that sends, retries and digests them (`deliver`). Delivery is at least once; every alert has a
stable `alert_id` so receivers can drop repeats.
"""
