"""Local stand-in for Azure SignalR Service in serverless mode: client negotiate, the
WebSocket endpoint with the JSON hub protocol, REST API v1 and signed upstream calls.
Reached by the functions and the widget only over those protocols."""
