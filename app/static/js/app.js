// Linkarooie: htmx hooks only. No inline scripts anywhere (the CSP forbids them).
document.addEventListener("htmx:sendError", () => {
  const alerts = document.getElementById("alerts");
  if (alerts) {
    alerts.innerHTML = '<div class="alert alert-error" role="alert"><strong>Connection lost.</strong> ' +
      "We could not reach Linkarooie. Check your connection and try again.</div>";
  }
});

// Dropdown menus (Pico's <details class="dropdown">, e.g. Download on an image card). Pico closes
// an open menu with a full-page invisible layer that swallows the next click anywhere; that layer
// is off (app.css) and the menu closes here instead: after choosing an item, on a click outside,
// on Escape, and when another menu opens.
(() => {
  const openMenus = () => document.querySelectorAll("details.dropdown[open]");
  const close = (menu) => menu.removeAttribute("open");

  document.addEventListener("click", (event) => {
    const inside = event.target.closest("details.dropdown");
    for (const menu of openMenus()) {
      if (menu !== inside) close(menu);
    }
    // an item was chosen (a download link keeps going: closing does not cancel it)
    if (inside?.open && event.target.closest("a, button") && !event.target.closest("summary")) {
      close(inside);
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const menu of openMenus()) {
      close(menu);
      if (menu.contains(document.activeElement)) menu.querySelector("summary")?.focus();
    }
  });
})();

// A drift button whose picture moved on meanwhile (409) still swaps in the account's row: the
// row says what happened and shows the state as it is now.
document.addEventListener("htmx:beforeSwap", (event) => {
  const source = event.detail.requestConfig?.elt;
  if (event.detail.xhr.status === 409 && source?.closest("[data-swap-conflict]")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
