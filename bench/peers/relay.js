// A minimal Twilio Media Streams → Symbl Streaming API relay, the shape of Symbl's Twilio
// integration post (shared/seeds/003: Express for the voice webhook, ws for both sockets): on
// `start` it opens a Symbl socket and sends a start_request (MULAW, 8000 Hz); every `media`
// payload is base64-decoded and forwarded as one binary frame; `stop` sends stop_request.
// Written here for bench/twilio.py to compare against; it checks no signature, as the post's does not.
//
//   PORT=8081 SYMBL_API_URL=http://127.0.0.1:9000 SYMBL_WS_URL=ws://127.0.0.1:9000 \
//   SYMBL_APP_ID=… SYMBL_APP_SECRET=… node relay.js
const crypto = require("crypto");
const http = require("http");
const express = require("express");
const WebSocket = require("ws");

const { PORT = "8081", SYMBL_API_URL, SYMBL_WS_URL, SYMBL_APP_ID, SYMBL_APP_SECRET } = process.env;
let token = null;

async function accessToken() {
  if (token) return token;
  const response = await fetch(`${SYMBL_API_URL}/oauth2/token:generate`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type: "application", appId: SYMBL_APP_ID, appSecret: SYMBL_APP_SECRET }),
  });
  token = (await response.json()).accessToken;
  return token;
}

const app = express();
app.use(express.urlencoded({ extended: false }));
app.post("/voice", (req, res) => {
  const host = req.headers.host;
  res.type("text/xml").send(
    `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://${host}/media">` +
    `<Parameter name="from" value="${(req.body.From || "").replace(/[^+0-9]/g, "")}"/></Stream></Connect></Response>`);
});

const server = http.createServer(app);
const wss = new WebSocket.Server({ server, path: "/media" });
wss.on("connection", (twilio) => {
  let symbl = null;
  let queued = [];
  twilio.on("message", async (data) => {
    const msg = JSON.parse(data);
    if (msg.event === "start") {
      const caller = (msg.start.customParameters || {}).from || "caller";
      symbl = new WebSocket(`${SYMBL_WS_URL}/v1/streaming/${crypto.randomUUID()}?access_token=${await accessToken()}`);
      symbl.on("open", () => {
        symbl.send(JSON.stringify({
          type: "start_request", insightTypes: ["question", "action_item"],
          config: { confidenceThreshold: 0.5, languageCode: "en-US", meetingTitle: "Twilio call",
                    speechRecognition: { encoding: "MULAW", sampleRateHertz: 8000 } },
          speaker: { userId: caller, name: caller },
        }));
        for (const chunk of queued) symbl.send(chunk);
        queued = [];
      });
      symbl.on("error", (err) => console.error("Symbl socket error", err.message));
      symbl.on("message", () => {});
    } else if (msg.event === "media") {
      const audio = Buffer.from(msg.media.payload, "base64");
      if (symbl && symbl.readyState === WebSocket.OPEN) symbl.send(audio);
      else queued.push(audio);
    } else if (msg.event === "stop") {
      if (symbl && symbl.readyState === WebSocket.OPEN) {
        symbl.send(JSON.stringify({ type: "stop_request" }));
        setTimeout(() => symbl.close(), 1000);
      }
    }
  });
});
server.listen(Number(PORT), "127.0.0.1", () => console.log(`relay listening on ${PORT}`));
