"""The Conversation API engine: contacts, conversations, channel selection, fallback and callbacks."""
