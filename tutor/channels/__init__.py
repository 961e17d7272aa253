"""Channel adapters: parse platform payloads into Inbound, render and send Replies."""
