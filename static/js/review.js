// Review page: the transcript follows the recording, and a click on a line (or on an insight's or
// topic's moment) seeks the recording there. Without a recording, links just scroll.
(function () {
  "use strict";
  const player = document.getElementById("player");
  const transcript = document.getElementById("transcript");
  if (!transcript) return;
  const lines = Array.from(transcript.querySelectorAll("p[data-start-ms]"));
  const starts = lines.map((p) => Number(p.dataset.startMs));
  let current = null;

  function mark(line, scroll) {
    if (line === current) return;
    if (current) current.classList.remove("playing");
    current = line;
    if (!line) return;
    line.classList.add("playing");
    if (scroll) line.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  // The last line that starts at or before ms (binary search: a 2-hour meeting has ~2,000 lines).
  function lineAt(ms) {
    let lo = 0, hi = starts.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] <= ms) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found >= 0 ? lines[found] : null;
  }

  function seek(ms, line) {
    mark(line || lineAt(ms), true);
    if (player) {
      player.currentTime = ms / 1000;
      player.play().catch(() => {});
    }
  }

  transcript.addEventListener("click", (event) => {
    const line = event.target.closest("p[data-start-ms]");
    if (!line || !player) return;
    event.preventDefault();
    history.replaceState(null, "", "?t=" + line.dataset.startMs + "#" + line.id);
    seek(Number(line.dataset.startMs), line);
  });

  document.querySelectorAll("a[data-seek]").forEach((link) => {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      history.replaceState(null, "", link.getAttribute("href"));
      seek(Number(link.dataset.seek));
    });
  });

  if (player) {
    player.addEventListener("timeupdate", () => mark(lineAt(player.currentTime * 1000), true));
  }

  // Opened at a moment (?t=ms#uID, e.g. from a search result): show the line and cue the recording.
  const seekMs = Number(transcript.dataset.seekMs);
  const target = location.hash ? document.getElementById(location.hash.slice(1)) : null;
  if (target || transcript.dataset.seekMs) {
    mark(target || lineAt(seekMs), true);
    if (player && transcript.dataset.seekMs) {
      const cue = () => { player.currentTime = seekMs / 1000; };
      if (player.readyState >= 1) cue(); else player.addEventListener("loadedmetadata", cue, { once: true });
    }
  }
})();
