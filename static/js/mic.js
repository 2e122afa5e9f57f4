// The browser microphone: an AudioWorklet turns the input into 16 kHz PCM s16le frames of 100 ms,
// sent as binary WebSocket messages to /ws/meetings/<id>/audio/. The session runs server-side,
// so a dropped socket only pauses it; what was said before the drop is kept.
(() => {
  const id = window.PARLEY.meetingId;
  const $ = (sel) => document.getElementById(sel);
  let context = null, stream = null, socket = null, node = null;
  let wanted = false;

  async function start() {
    wanted = true;
    $("mic-start").disabled = true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({audio: {channelCount: 1, echoCancellation: true, noiseSuppression: true}});
    } catch (err) {
      $("mic-state").textContent = `Microphone unavailable: ${err.message}`;
      $("mic-start").disabled = false; wanted = false;
      return;
    }
    context = new AudioContext();
    await context.audioWorklet.addModule("/static/js/mic-worklet.js");
    node = new AudioWorkletNode(context, "pcm16k", {processorOptions: {targetRate: 16000, frameMs: 100}});
    context.createMediaStreamSource(stream).connect(node);
    node.port.onmessage = (msg) => { if (socket && socket.readyState === WebSocket.OPEN) socket.send(msg.data); };
    openSocket();
    $("mic-start").hidden = true; $("mic-stop").hidden = false;
  }

  function openSocket() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/meetings/${id}/audio/`);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => { $("mic-state").textContent = "Listening…"; };
    socket.onclose = () => {
      if (!wanted) return;
      $("mic-state").textContent = "Microphone connection lost — reconnecting…";
      setTimeout(() => { if (wanted) openSocket(); }, 1000);
    };
  }

  function stop() {
    wanted = false;
    if (socket) socket.close();
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (context) context.close();
    socket = stream = context = node = null;
    $("mic-start").hidden = false; $("mic-start").disabled = false; $("mic-stop").hidden = true;
    $("mic-state").textContent = "Microphone off.";
  }

  $("mic-start").addEventListener("click", start);
  $("mic-stop").addEventListener("click", stop);
  document.addEventListener("parley:status", (ev) => {
    if (ev.detail === "completed" || ev.detail === "failed" || ev.detail === "stopping") { stop(); $("mic").hidden = true; }
  });
})();
