// The schedule form's time zone: someone who has not chosen one yet gets their browser's zone
// preselected (the server only knows UTC for them), so the times they type mean what they think.
document.addEventListener("DOMContentLoaded", () => {
  const select = document.querySelector("select[data-detect]");
  if (!select) return;
  let detected;
  try {
    detected = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch {
    return;
  }
  if (!detected || ![...select.options].some((option) => option.value === detected)) return;
  select.value = detected;
  const hint = document.getElementById("time-zone-hint");
  if (hint) hint.textContent = `Detected from your browser (${detected}); it is saved with the schedule.`;
});
