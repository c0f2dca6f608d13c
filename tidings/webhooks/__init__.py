"""Outbound webhooks: Sinch-shaped event bodies, signed and delivered at least once.

Putting it all together:

1. A state change (a recipient's status, an inbound message, a finished batch) builds its body
   with `sms_events` (plain values in, a dict out) and serialises it with `sms_events.encode`.
2. The writer turns it into an outbox row with `outbox.webhook_row` and inserts it with
   `outbox.enqueue` on the connection of the transaction that makes the change: the change and
   its webhook commit together or not at all.
3. `sender.WebhookSender` claims due rows under a lease, signs each body with its project's
   secret (`signing.sign`), posts it, and records the outcome: delivered, retried later with
   exponential backoff, or expired once older than the maximum age.
"""
