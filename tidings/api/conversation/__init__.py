"""The Conversation API v1 (Sinch wire-compatible): routes and its error format."""
