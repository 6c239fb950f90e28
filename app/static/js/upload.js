// Image upload: drag-and-drop or file picker, in-browser downscaling of very large photos, a real
// progress bar (XMLHttpRequest upload events) and a cancel button. The server answers with the
// new card (an htmx fragment) that then polls itself until its files are ready.
(() => {
  "use strict";

  const form = document.getElementById("upload-form");
  if (!form) return;

  const MAX_SIDE = 4096; // longer than any preset needs (Bluesky's 3000 px banner is the largest)
  const MAX_BYTES = 8 * 1024 * 1024;
  // Formats a canvas can re-encode; HEIC/AVIF and GIF go as they are (the server converts them).
  const RESIZABLE = { "image/jpeg": "image/jpeg", "image/png": "image/png", "image/webp": "image/webp" };

  const input = document.getElementById("upload-file");
  const dropzone = document.getElementById("dropzone");
  const panel = document.getElementById("upload-progress");
  const bar = document.getElementById("upload-bar");
  const percent = document.getElementById("upload-percent");
  const nameEl = document.getElementById("upload-name");
  const stage = document.getElementById("upload-stage");
  const cancelButton = document.getElementById("upload-cancel");
  const csrf = form.querySelector("input[name=csrf_token]").value;
  const limit = Number(form.dataset.maxBytes) || 0;

  let xhr = null;
  let active = false; // from choosing a file until the answer (preparing counts too)
  let cancelled = false;

  const kind = () => form.querySelector("input[name=kind]:checked")?.value || "avatar";

  function alertBox(html) {
    const alerts = document.getElementById("alerts");
    if (alerts) alerts.innerHTML = html;
  }

  function showError(title, message) {
    const box = document.createElement("div");
    box.className = "alert alert-error";
    box.setAttribute("role", "alert");
    const strong = document.createElement("strong");
    strong.textContent = title + ".";
    box.append(strong, " " + message);
    alertBox("");
    document.getElementById("alerts")?.append(box);
  }

  function setProgress(fraction, text) {
    const value = Math.round(fraction * 100);
    bar.value = value;
    percent.textContent = value + "%";
    if (text) stage.textContent = text;
  }

  function busy(on, file) {
    panel.hidden = !on;
    form.classList.toggle("is-uploading", on);
    input.disabled = on;
    if (on) {
      nameEl.textContent = file.name;
      bar.removeAttribute("value"); // indeterminate while we prepare the file
      percent.textContent = "";
      stage.textContent = "Preparing…";
    }
  }

  // Scale very large JPEG/PNG/WebP down on a canvas, with the EXIF orientation applied, so a
  // 50-megapixel phone photo does not take minutes to send. Anything we cannot decode goes as
  // it is, and the server explains what is wrong with it.
  async function prepare(file) {
    const type = RESIZABLE[file.type];
    if (!type || !window.createImageBitmap) return file;
    let bitmap;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (_) {
      return file;
    }
    const longest = Math.max(bitmap.width, bitmap.height);
    if (longest <= MAX_SIDE && file.size <= MAX_BYTES) {
      bitmap.close();
      return file;
    }
    const scale = Math.min(1, MAX_SIDE / longest);
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, type, 0.9));
    if (!blob || (scale === 1 && blob.size >= file.size)) return file;
    return new File([blob], file.name, { type: blob.type, lastModified: file.lastModified });
  }

  function insertCard(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const card = template.content.firstElementChild;
    if (!card) return;
    const existing = document.getElementById(card.id);
    if (existing) {
      existing.replaceWith(card); // the same file again: the server gave back the existing image
    } else {
      const grid = document.getElementById("grid-" + (card.dataset.kind || kind()));
      grid.querySelector(".grid-empty")?.remove();
      grid.prepend(card);
    }
    if (window.htmx) window.htmx.process(card); // start its polling
    card.classList.add("just-added");
    card.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  function send(file, chosenKind) {
    const data = new FormData();
    data.append("kind", chosenKind);
    data.append("file", file, file.name);
    const request = (xhr = new XMLHttpRequest());
    request.open("POST", form.action);
    request.setRequestHeader("HX-Request", "true"); // answer with fragments (the card, or an alert)
    request.setRequestHeader("X-CSRFToken", csrf);
    request.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const done = event.loaded >= event.total;
      setProgress(event.loaded / event.total, done ? "Checking the image…" : "Uploading…");
    });
    request.addEventListener("load", () => {
      const status = request.status;
      finish();
      if (status >= 200 && status < 300) {
        alertBox("");
        insertCard(request.responseText);
      } else if (request.responseText.includes("alert")) {
        alertBox(request.responseText); // the server's own explanation (app/errors.py)
      } else {
        showError("Upload failed", "The server answered " + status + ". Please try again.");
      }
    });
    request.addEventListener("error", () => {
      finish();
      showError("Upload failed", "We could not reach Linkarooie. Check your connection and try again.");
    });
    request.addEventListener("abort", () => {
      finish();
      alertBox('<div class="alert alert-info">Upload cancelled.</div>');
    });
    request.send(data);
  }

  async function start(file) {
    if (!file || active) return;
    active = true;
    cancelled = false;
    const chosenKind = kind();
    busy(true, file);
    const prepared = await prepare(file);
    if (cancelled) return;
    if (limit && prepared.size > limit) {
      finish();
      const mb = Math.floor(limit / (1024 * 1024));
      showError("File too large", `That file is larger than the ${mb} MB we accept.`);
      return;
    }
    if (prepared !== file) nameEl.textContent = `${file.name} (scaled down to send)`;
    setProgress(0, "Uploading…");
    send(prepared, chosenKind);
  }

  function finish() {
    xhr = null;
    active = false;
    busy(false);
    input.value = "";
  }

  cancelButton.addEventListener("click", () => {
    cancelled = true;
    if (xhr) {
      xhr.abort();
    } else {
      finish();
      alertBox('<div class="alert alert-info">Upload cancelled.</div>');
    }
  });

  input.addEventListener("change", () => start(input.files[0]));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    start(input.files[0]);
  });

  ["dragenter", "dragover"].forEach((type) =>
    dropzone.addEventListener(type, (event) => {
      event.preventDefault();
      dropzone.classList.add("is-dragover");
    }),
  );
  ["dragleave", "drop"].forEach((type) =>
    dropzone.addEventListener(type, () => dropzone.classList.remove("is-dragover")),
  );
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer?.files?.[0];
    if (file) start(file);
  });
})();
