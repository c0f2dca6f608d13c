"""SMS over SMPP 3.4: one `SmppConnector` per named connection to an SMSC.

- `transcode`: an outbound message to submit_sm PDUs (addresses, encoding, concatenation);
- `inbound`: deliver_sm to receipts and mobile-originated messages (with reassembly);
- `connector`: the connection itself (bind, window, throughput cap, error mapping).
"""
