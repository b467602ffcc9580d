"""The sample's Azure Functions as plain handlers (no Flask, no azure.functions here):
negotiate, userclient, SendMessageToUser, the SignalR upstream webhook with
OnClientConnected / OnClientDisconnect / SendMessageAcknowlegement, and message status."""
