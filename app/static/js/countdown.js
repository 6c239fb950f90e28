// Keeps <time data-countdown> ("Access expires in 3 days", "Last pushed 5 minutes ago") true
// while a page stays open. The server renders the first text with the same words
// (blueprints/connections/display.py); data-future and data-past hold the phrase, {} the span.
(() => {
  const units = [[86400, "day"], [3600, "hour"], [60, "minute"]];

  function span(seconds) {
    const size = Math.floor(Math.abs(seconds));
    for (const [length, unit] of units) {
      if (size >= length) {
        const count = Math.floor(size / length);
        return `${count} ${unit}${count === 1 ? "" : "s"}`;
      }
    }
    return "less than a minute";
  }

  function tick() {
    const now = Date.now();
    for (const time of document.querySelectorAll("time[data-countdown]")) {
      const moment = Date.parse(time.getAttribute("datetime"));
      if (Number.isNaN(moment)) continue;
      const seconds = (moment - now) / 1000;
      const phrase = seconds > 0 ? time.dataset.future : time.dataset.past;
      if (!phrase) continue;
      const text = phrase.replace("{}", span(seconds));
      if (time.textContent !== text) time.textContent = text;
    }
  }

  tick();
  setInterval(tick, 15000);
  document.addEventListener("htmx:afterSwap", tick);
})();
