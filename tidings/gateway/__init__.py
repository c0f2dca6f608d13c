"""The SMPP gateway: customers bind to Tidings as ESMEs (issue 5, item 9).

A business binds with the `smpp_system_id` and `smpp_password` of one of its service plans
(`tidings projects create` prints them). Each submit_sm (or each concatenated message, its
parts stored as they come) becomes one batch through the same send action as the XMS API
(`tidings.actions.batches.do_send`); the submit_sm_resp carries the batch id, so receipts
correlate. Delivery receipts and MO go back as deliver_sm, queued durably in `smpp_outbox` by the
outcome writer's own transaction and delivered to a bound session of the account.

Modules, one job each:

    credentials   new accounts: system_id, password, the row to store
    submit        submit_sm → the send action's payload (addresses, data_coding, times)
    sending       a message (a submit_sm, or a concatenated message's parts) → one batch; the
                  REJECTD receipt of a message refused after its first parts were accepted
    parts         concatenated submit_sm: each part stored, then answered; the message sent with
                  its last part, or, parts missing, after a timeout (`PartsSweeper`)
    amend         cancel_sm and replace_sm of a message not yet sent
    binds         an account's binds counted across gateway processes (`max_binds`)
    guard         who may try to bind: allowed networks, failed binds per address
    deliver       deliver_sm for receipts and MO, and the outcome writer's hooks that queue them
    handler       the SmppServer handler: binds, windows and throughput caps, submit_sm, data_sm,
                  query_sm, cancel_sm, replace_sm
    sender        delivers queued deliver_sm to bound receivers, retries until deliver_sm_resp
    service       `Gateway` (server + handler + sender + parts sweeper) and the `tidings smpp`
                  process

Nothing is imported here: the outcome writer imports `deliver` and must not pull in the rest.
See docs/subsystems/smpp-server.md.
"""
