// Linkarooie: htmx hooks only. No inline scripts anywhere (the CSP forbids them).
document.addEventListener("htmx:sendError", () => {
  const alerts = document.getElementById("alerts");
  if (alerts) {
    alerts.innerHTML = '<div class="alert alert-error" role="alert"><strong>Connection lost.</strong> ' +
      "We could not reach Linkarooie. Check your connection and try again.</div>";
  }
});
