"""The live benchmark: deliveries in transit, a uvicorn server and WebSocket load (chat and
tracking)."""
