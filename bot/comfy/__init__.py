"""Everything that speaks ComfyUI's HTTP + websocket protocol. Never imports discord."""
