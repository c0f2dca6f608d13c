"""Pure decisions made before anything is sent: today the fraud guard of verification starts."""
