// The live page: applies a meeting's snapshot, then its numbered events, in order, once each.
// On a dropped socket it reconnects with ?after=<last seq> and the server replays what was missed.
(() => {
  const id = window.PARLEY.meetingId;
  const $ = (sel) => document.getElementById(sel);
  const state = {seq: 0, status: "", utterances: new Map(), provisional: new Map(), insights: new Map(), topics: new Map()};
  let socket = null;
  let retry = 0;

  const speakerName = (who) => (who && (who.name || who.userId || who.id)) || "Speaker";
  const speakerKey = (who) => (who && (who.userId || who.id || who.name)) || "-";
  const fmt = (ms) => { const s = Math.floor(ms / 1000); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; };

  function applySnapshot(meeting) {
    state.utterances.clear(); state.provisional.clear(); state.insights.clear(); state.topics.clear();
    for (const u of meeting.utterances) {
      const line = {speaker: u.speaker || "Speaker", text: u.text, start: u.start_ms};
      if (u.is_final) state.utterances.set(u.message_id, line);
      else state.provisional.set(u.message_id.replace(/^interim:/, ""), line);
    }
    for (const i of meeting.insights) state.insights.set(i.id, {type: i.type, text: i.text, assignee: i.assignee, due: i.due});
    for (const t of meeting.topics) state.topics.set(t.phrase, t.score);
    setStatus(meeting.status, meeting.failure_reason);
    setProgress(meeting.progress, meeting.source);
    setSummary(meeting.summary);
  }

  function finalLine(m, shown) {
    const start = m.duration && m.duration.timeOffset !== undefined ? Math.round(m.duration.timeOffset * 1000) : (shown ? shown.start : 0);
    const speaker = (m.from && (m.from.name || m.from.userId || m.from.id)) ? speakerName(m.from) : (shown ? shown.speaker : "Speaker");
    return {speaker, text: m.payload.content.trim(), start};
  }

  function applyEvent(event) {
    const kind = event.type === "message" ? event.message.type : event.type;
    switch (kind) {
      case "recognition_result": {
        const m = event.message;
        if (!m.isFinal) state.provisional.set(speakerKey(m.user), {speaker: speakerName(m.user), text: m.punctuated.transcript, start: event.timeOffset || 0});
        break;
      }
      case "message_response":
        for (const m of event.messages) {
          state.utterances.set(m.id, finalLine(m, null));
          state.provisional.delete(speakerKey(m.from));
        }
        break;
      case "message_correction":
        // The provider revised utterances already shown: same id, new text, speaker or times.
        for (const m of event.messages) state.utterances.set(m.id, finalLine(m, state.utterances.get(m.id)));
        break;
      case "insight_response":
        for (const i of event.insights) {
          state.insights.set(i.id, {type: i.type, text: (i.payload || {}).content || i.text, assignee: (i.assignee || {}).name, due: (i.dueBy || {}).value});
        }
        break;
      case "topic_response":
        for (const t of event.topics) state.topics.set(t.phrases, t.score);
        break;
      case "summary_response":
        setSummary(event.summary.map((p) => p.text).join(" "));
        break;
      case "progress":
        setProgress(event.percent, "upload");
        break;
      case "session_status":
        setStatus(event.status, event.reason);
        if (event.status === "completed" || event.status === "failed") state.provisional.clear();
        break;
    }
  }

  function setStatus(status, reason) {
    state.status = status;
    const badge = $("status");
    badge.textContent = status; badge.className = `badge status-${status}`;
    const ended = status === "completed" || status === "failed";
    if ($("stop-form")) $("stop-form").hidden = ended;
    $("review-link").hidden = status !== "completed";
    $("failure").hidden = status !== "failed";
    if (status === "failed") $("failure").textContent = reason || "The session failed.";
    document.dispatchEvent(new CustomEvent("parley:status", {detail: status}));
  }

  function setProgress(percent, source) {
    if (source !== "upload") return;
    $("progress-wrap").hidden = false;
    $("progress").value = percent;
    $("progress-text").textContent = `${Number(percent).toFixed(0)} % of the audio processed`;
  }

  function setSummary(text) {
    if (!text) return;
    $("summary-card").hidden = false;
    $("summary").textContent = text;
  }

  function li(text, cls) { const el = document.createElement("li"); el.textContent = text; if (cls) el.className = cls; return el; }

  function render() {
    const list = $("transcript");
    const lines = [...state.utterances.values()].sort((a, b) => a.start - b.start);
    const items = lines.map((u) => line(u, false));
    for (const p of state.provisional.values()) items.push(line(p, true));
    list.replaceChildren(...items);
    for (const type of ["question", "action_item", "follow_up"]) {
      const ul = $(`insights-${type}`);
      const found = [...state.insights.values()].filter((i) => i.type === type);
      ul.replaceChildren(...found.map((i) => li(i.text + (i.assignee ? ` → ${i.assignee}` : "") + (i.due ? ` (by ${i.due.slice(0, 10)})` : ""))));
    }
    const topics = [...state.topics.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
    $("topics").replaceChildren(...topics.map(([phrase]) => li(phrase)));
  }

  function line(u, provisional) {
    const el = document.createElement("li");
    el.className = provisional ? "utterance provisional" : "utterance final";
    if (provisional) el.title = "Provisional: the engine may still revise this text";
    const who = document.createElement("span"); who.className = "who"; who.textContent = `${u.speaker} ${fmt(u.start)}`;
    const text = document.createElement("span"); text.className = "text"; text.textContent = u.text;
    el.append(who, text);
    return el;
  }

  let pending = false;
  function schedule() { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; render(); }); } }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = state.seq ? `?after=${state.seq}` : "";
    socket = new WebSocket(`${scheme}://${location.host}/ws/meetings/${id}/${query}`);
    socket.onopen = () => { retry = 0; $("connection").textContent = "Connected — live."; };
    socket.onmessage = (msg) => {
      const data = JSON.parse(msg.data);
      if (data.type === "snapshot") { applySnapshot(data.meeting); state.seq = data.seq; }
      else if (data.type === "event") {
        if (data.seq <= state.seq) return;  // already applied
        applyEvent(data.event); state.seq = data.seq;
      }
      schedule();
    };
    socket.onclose = (ev) => {
      if (ev.code === 4403) { $("connection").textContent = "You may not watch this meeting."; return; }
      const ended = state.status === "completed" || state.status === "failed";
      if (ended) { $("connection").textContent = "Session ended."; return; }
      retry = Math.min(retry + 1, 6);
      const delay = 500 * 2 ** (retry - 1);
      $("connection").textContent = `Reconnecting in ${(delay / 1000).toFixed(1)} s…`;
      setTimeout(connect, delay);
    };
  }

  window.PARLEY.state = state;
  connect();
})();
