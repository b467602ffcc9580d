// The official @microsoft/signalr client, unchanged, against our functions + emulator:
// negotiate redirect → service negotiate → WebSocket → ReceiveNotification → sendMessage.
// Usage: node official_client.mjs <functionsUrl> <agentToken>   (NODE_EXTRA_CA_CERTS=dev CA)
// Prints one JSON line per event for the Python test to read.
import * as signalR from "@microsoft/signalr";

const [functionsUrl, token] = process.argv.slice(2);
const say = (obj) => console.log(JSON.stringify(obj));

const connection = new signalR.HubConnectionBuilder()
  .withUrl(`${functionsUrl}/api`, { accessTokenFactory: () => token, transport: signalR.HttpTransportType.WebSockets })
  .configureLogging(signalR.LogLevel.Warning)
  .build();

connection.on("ReceiveNotification", async (message) => {
  say({ event: "notification", message });
  await connection.send("sendMessage", { messageId: message.messageId, outcome: "Accepted", reason: "js-client" });
  say({ event: "acked", messageId: message.messageId });
});
connection.onclose((err) => { say({ event: "closed", error: err ? String(err) : null }); process.exit(0); });

await connection.start();
say({ event: "connected", connectionId: connection.connectionId });
setTimeout(() => { say({ event: "timeout" }); process.exit(2); }, 20000);
process.stdin.on("data", async () => { await connection.stop(); });
