// Keeps <time data-relative> ("in 12 s", "3 min ago") ticking between the server's renders; the
// status partial is swapped in by htmx polling, so every tick looks the elements up afresh.
(() => {
  const units = [[86400, "d"], [3600, "h"], [60, "min"]];

  function relative(moment, now) {
    const seconds = Math.round((moment - now) / 1000);
    const size = Math.abs(seconds);
    if (size < 1) return "now";
    let text = `${size} s`;
    for (const [length, unit] of units) {
      if (size >= length) {
        text = `${Math.floor(size / length)} ${unit}`;
        break;
      }
    }
    return seconds > 0 ? `in ${text}` : `${text} ago`;
  }

  function tick() {
    const now = Date.now();
    for (const time of document.querySelectorAll("time[data-relative]")) {
      const moment = Date.parse(time.getAttribute("datetime"));
      if (Number.isNaN(moment)) continue;
      // a next try whose moment has come is about to happen, not in the past
      const due = time.dataset.relative === "future" && moment <= now;
      const text = due ? "any moment now" : relative(moment, now);
      if (time.textContent !== text) time.textContent = text;
      if (!time.title) time.title = new Date(moment).toLocaleString();
    }
  }

  tick();
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSwap", tick);
})();
