"""Channel adapters: each turns its medium's messages into InboundMessage and sends outbox rows."""
