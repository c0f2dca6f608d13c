"""Verification (one-time passwords): codes, statuses, signed requests and the delivery methods.

Pure parts: `model` (methods, statuses, reasons), `codes` (generation, keyed hashes, flash-call
caller ids), `signing` (Sinch's application-signed requests), `wrap` (application secrets kept
wrapped with a server key), `views` (the Verification API's response shapes). I/O: `senders`
(SMS through the batch pipeline, flash calls and callouts through a `VoiceNetwork`, WhatsApp and
email through the conversation engine) and `callbacks` (the application's callback URL).
See docs/subsystems/verification.md.
"""
