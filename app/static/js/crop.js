// Crop editor (Cropper.js 1.6) with live per-platform previews.
//
// The crop is kept exactly as the pipeline reads it (app/services/pipeline.py, Crop): boxes in
// the original image's pixels, after `rotate` (clockwise, multiples of 90). The cropper shows a
// downscaled upright copy, so boxes are scaled on the way in and out. cropBoxFor() mirrors
// pipeline.crop_box_for(), and effective() pipeline.first_crop(): change one, change the other.
// While the person has framed nothing, the box is the server's first box (around the face or
// the salient region it found; data-first-box), so most people only press Save.
// Longer than ~300 lines on purpose: the cropper, the derivation, the previews and the save
// button share one state object in one closure, and the page loads it without a bundler.
(() => {
  "use strict";

  const app = document.getElementById("crop-app");
  if (!app || !window.Cropper) return;

  const kind = app.dataset.kind;
  const W = Number(app.dataset.width);
  const H = Number(app.dataset.height);
  const presets = JSON.parse(app.dataset.presets);
  const byKey = Object.fromEntries(presets.map((p) => [p.key, p]));
  const saved = JSON.parse(app.dataset.crop || "{}");
  const firstBox = JSON.parse(app.dataset.firstBox || "null");
  const image = document.getElementById("crop-source");
  const field = document.getElementById("crop-value");
  const badge = document.getElementById("preview-source");
  const overrideBar = document.getElementById("override-bar");
  const saveButton = document.getElementById("crop-save");

  const toBox = (v) => (Array.isArray(v) ? { x: v[0], y: v[1], w: v[2], h: v[3] } : { ...v });
  const state = {
    box: saved.box ? toBox(saved.box) : null,
    rotate: saved.rotate || 0,
    overrides: Object.fromEntries(Object.entries(saved.overrides || {}).map(([k, v]) => [k, toBox(v)])),
  };
  let mode = null; // null: the main crop; else the key of the banner preset being adjusted
  let quiet = true; // we are moving the cropper ourselves: its events are not user edits
  let interacting = false;
  let zoomed = false;
  let dirty = false; // changed since the page loaded or the crop was last saved
  let showing = "live";
  const processed = {}; // preset key -> <img> of the real processed file

  // --- the derivation, as in pipeline.crop_box_for --------------------------------------
  function cropBoxFor(preset, crop, width, height) {
    if (crop.rotate === 90 || crop.rotate === 270) [width, height] = [height, width];
    const box = crop.overrides[preset.key] || crop.box || { x: 0, y: 0, w: width, h: height };
    const x0 = Math.max(0, box.x);
    const y0 = Math.max(0, box.y);
    const x1 = Math.min(width, box.x + box.w);
    const y1 = Math.min(height, box.y + box.h);
    if (x1 - x0 < 1 || y1 - y0 < 1) return null;
    const ratio = preset.width / preset.height;
    const w = Math.min(Math.max(x1 - x0, (y1 - y0) * ratio), width, height * ratio);
    const h = w / ratio;
    const cx = (x0 + x1) / 2;
    const cy = (y0 + y1) / 2;
    return {
      x: Math.min(Math.max(cx - w / 2, 0), width - w),
      y: Math.min(Math.max(cy - h / 2, 0), height - h),
      w,
      h,
    };
  }

  // the crop the files are made with: until a box is drawn (and unrotated: the focus was found
  // on the upright picture), the first box stands in for it
  function effective() {
    if (state.box || state.rotate || !firstBox) return state;
    return { ...state, box: firstBox };
  }

  // --- editor image <-> original pixels --------------------------------------------------
  const turned = () => state.rotate % 180 !== 0;
  function scale() {
    // original pixels per editor pixel, along the rotated x and y axes
    const fx = W / image.naturalWidth;
    const fy = H / image.naturalHeight;
    return turned() ? [fy, fx] : [fx, fy];
  }
  const toCropper = (b) => {
    const [sx, sy] = scale();
    return { x: b.x / sx, y: b.y / sy, width: b.w / sx, height: b.h / sy, rotate: state.rotate };
  };
  const fromCropper = (d) => {
    const [sx, sy] = scale();
    return { x: d.x * sx, y: d.y * sy, w: d.width * sx, h: d.height * sy };
  };

  // The previews draw from an upright canvas copy of the editor image. The copy is only taken
  // once every byte has arrived and the picture is decoded: drawing a half-loaded image gives a
  // blank (or partial) copy, and a cached blank copy would keep every live preview empty.
  let sourceReady = false;
  let rotated = null;
  function sourceArrived() {
    if (!image.complete || !image.naturalWidth) return;
    const decoded = image.decode ? image.decode().catch(() => {}) : Promise.resolve();
    decoded.then(() => {
      if (sourceReady || !image.complete || !image.naturalWidth) return;
      sourceReady = true;
      rotated = null; // rebuilt from the whole picture at the next draw
      schedule();
    });
  }
  image.addEventListener("load", sourceArrived);

  function rotatedSource() {
    if (!sourceReady) return null;
    if (rotated && rotated.angle === state.rotate) return rotated.canvas;
    const iw = image.naturalWidth;
    const ih = image.naturalHeight;
    const canvas = document.createElement("canvas");
    canvas.width = turned() ? ih : iw;
    canvas.height = turned() ? iw : ih;
    const ctx = canvas.getContext("2d");
    ctx.translate(canvas.width / 2, canvas.height / 2);
    ctx.rotate((state.rotate * Math.PI) / 180);
    ctx.drawImage(image, -iw / 2, -ih / 2);
    rotated = { angle: state.rotate, canvas };
    return canvas;
  }

  // --- the cropper -----------------------------------------------------------------------
  const mainRatio = kind === "avatar" ? 1 : NaN;

  function boxInCropper() {
    if (mode) return cropBoxFor(byKey[mode], effective(), W, H);
    if (kind === "avatar") return cropBoxFor(presets[0], effective(), W, H);
    const [rw, rh] = turned() ? [H, W] : [W, H];
    return effective().box || { x: 0, y: 0, w: rw, h: rh };
  }

  function showInCropper() {
    quiet = true;
    cropper.setAspectRatio(mode ? byKey[mode].width / byKey[mode].height : mainRatio);
    cropper.setData(toCropper(boxInCropper()));
    quiet = false;
  }

  // The stage takes the picture's shape (within the limits in app.css), so a wide banner is not
  // a thin strip in a tall black box; a little taller than the picture, so the handles of a
  // full-size frame are not cut off at its edges. Set before Cropper measures its container.
  image.closest(".crop-stage").style.aspectRatio = `${W} / ${Math.round(H * 1.1)}`;

  const cropper = new Cropper(image, {
    viewMode: 1,
    dragMode: "move",
    aspectRatio: mainRatio,
    autoCropArea: 1,
    restore: false,
    checkOrientation: false, // the editor copy is already upright
    checkCrossOrigin: false, // S3 URLs: no CORS needed just to show the image
    toggleDragModeOnDblclick: false,
    background: false, // the stage is dark already
    ready() {
      showInCropper();
      serialize();
      layout();
      schedule();
    },
    cropstart() {
      interacting = true;
    },
    cropend() {
      interacting = false;
    },
    zoom() {
      zoomed = true;
    },
    crop(event) {
      if (quiet || !(interacting || zoomed)) return; // a resize or our own setData
      zoomed = false;
      const box = fromCropper(event.detail);
      if (mode) state.overrides[mode] = box;
      else state.box = box;
      touched();
    },
  });

  function round(box) {
    return box && Object.fromEntries(Object.entries(box).map(([k, v]) => [k, Math.round(v * 100) / 100]));
  }

  function serialize() {
    const overrides = Object.fromEntries(Object.entries(state.overrides).map(([k, v]) => [k, round(v)]));
    field.value = JSON.stringify({ box: round(state.box), rotate: state.rotate, overrides });
  }

  // "Save crop and make the files" is the thing to do only once the crop has changed (or to try
  // again after the files could not be made); until then it is a quiet, disabled button.
  function refreshSave() {
    const failed = document.getElementById("processed")?.dataset.status === "failed";
    const needed = dirty || failed;
    saveButton.classList.toggle("secondary", !needed);
    saveButton.disabled = !needed;
    saveButton.title = needed ? "" : "Move or resize the crop first: these files are made already.";
  }

  function touched() {
    dirty = true;
    refreshSave();
    showing = "live";
    // what the status line says is about the saved crop, not this one
    document.getElementById("processed")?.setAttribute("hidden", "");
    document.getElementById("crop-unsaved").hidden = false;
    serialize();
    refreshBadges();
    schedule();
  }

  function adjust(key) {
    mode = mode === key ? null : key;
    overrideBar.hidden = !mode;
    if (mode) document.getElementById("override-label").textContent = byKey[mode].label;
    showInCropper();
    refreshBadges();
  }

  const actions = {
    "zoom-in": () => cropper.zoom(0.1),
    "zoom-out": () => cropper.zoom(-0.1),
    "rotate-left": () => turn(-90),
    "rotate-right": () => turn(90),
    reset() {
      Object.assign(state, { box: null, rotate: 0, overrides: {} });
      mode = null;
      overrideBar.hidden = true;
      showInCropper();
      touched();
    },
    "override-done": () => adjust(mode),
    "override-reset"() {
      delete state.overrides[mode];
      adjust(mode);
      touched();
    },
  };

  function turn(delta) {
    state.rotate = (state.rotate + delta + 360) % 360;
    // boxes were measured in the old orientation: start again from the automatic crop
    state.box = null;
    state.overrides = {};
    mode = null;
    overrideBar.hidden = true;
    showInCropper();
    touched();
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (!button || !app.contains(button)) return;
    if (button.dataset.action === "adjust") adjust(button.dataset.preset);
    else actions[button.dataset.action]?.();
  });

  // --- previews ----------------------------------------------------------------------------
  const figures = [...app.querySelectorAll(".pv[data-preset]")].map((fig) => ({
    fig,
    preset: byKey[fig.dataset.preset],
    views: [...fig.querySelectorAll(".pv-view")],
  }));

  function zoneOf(preset, view) {
    // the part of the platform's image a view shows: mobile shows the safe zone only
    const full = { x: 0, y: 0, w: preset.width, h: preset.height };
    if (!view.classList.contains("pv-small") || preset.kind !== "banner" || !preset.safe_zone) return full;
    const [sw, sh] = preset.safe_zone;
    return { x: (preset.width - sw) / 2, y: (preset.height - sh) / 2, w: sw, h: sh };
  }

  function layout() {
    for (const { preset, views } of figures) {
      for (const view of views) {
        const zone = zoneOf(preset, view);
        const frame = view.querySelector(".pv-frame");
        frame.style.aspectRatio = `${zone.w} / ${zone.h}`;
        const k = frame.clientWidth / zone.w; // CSS px per platform px
        const safe = frame.querySelector(".pv-safe");
        if (safe && preset.safe_zone) {
          const [sw, sh] = preset.safe_zone;
          Object.assign(safe.style, {
            left: `${((preset.width - sw) / 2 / preset.width) * 100}%`,
            top: `${((preset.height - sh) / 2 / preset.height) * 100}%`,
            width: `${(sw / preset.width) * 100}%`,
            height: `${(sh / preset.height) * 100}%`,
          });
        }
        const avatar = view.querySelector(".pv-overlap");
        if (avatar && preset.avatar_overlap) {
          const [x, y, d] = preset.avatar_overlap;
          Object.assign(avatar.style, {
            left: `${(x - zone.x) * k}px`,
            top: `${(y - zone.y) * k}px`,
            width: `${d * k}px`,
            height: `${d * k}px`,
          });
          // room below the banner for an avatar that hangs over its lower edge
          frame.style.marginBottom = `${Math.max(0, (y + d - zone.y - zone.h) * k)}px`;
          if (app.dataset.avatarUrl && !avatar.firstChild) {
            const img = new Image();
            img.alt = "";
            img.src = app.dataset.avatarUrl;
            avatar.append(img);
          }
        }
      }
    }
  }

  function draw() {
    const dpr = window.devicePixelRatio || 1;
    const source = rotatedSource();
    for (const { fig, preset, views } of figures) {
      const real = showing === "processed" ? processed[preset.key] : null;
      const useReal = real && real.complete && real.naturalWidth > 0;
      fig.dataset.showing = useReal ? "processed" : source ? "live" : "loading";
      const box = useReal ? null : cropBoxFor(preset, effective(), W, H);
      for (const view of views) {
        const canvas = view.querySelector("canvas");
        const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
        const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
        if (canvas.width !== w || canvas.height !== h) Object.assign(canvas, { width: w, height: h });
        const ctx = canvas.getContext("2d");
        ctx.imageSmoothingQuality = "high";
        ctx.clearRect(0, 0, w, h);
        const z = zoneOf(preset, view);
        if (useReal) {
          // the very file the platform will get, in its own pixels
          const sx = real.naturalWidth / preset.width;
          const sy = real.naturalHeight / preset.height;
          ctx.drawImage(real, z.x * sx, z.y * sy, z.w * sx, z.h * sy, 0, 0, w, h);
        } else if (box && source) {
          const k = box.w / preset.width; // original px per platform px
          const [sx, sy] = scale();
          ctx.drawImage(source, (box.x + z.x * k) / sx, (box.y + z.y * k) / sy,
            (z.w * k) / sx, (z.h * k) / sy, 0, 0, w, h);
        }
      }
    }
  }

  let pending = 0;
  function schedule() {
    if (!pending) pending = requestAnimationFrame(() => { pending = 0; draw(); });
  }

  function refreshBadges() {
    badge.textContent = showing === "processed" ? "Processed files" : "Live preview";
    badge.classList.toggle("badge-ok", showing === "processed");
    for (const { fig, preset } of figures) {
      fig.classList.toggle("is-adjusting", mode === preset.key);
      const mark = fig.querySelector(".pv-adjusted");
      if (mark) mark.hidden = !state.overrides[preset.key];
      const button = fig.querySelector("[data-action=adjust]");
      if (button) button.textContent = mode === preset.key ? "Done" : "Adjust";
    }
  }

  // --- switching to the processed files once the server has made them ----------------------
  function onProcessed(el) {
    if (el.dataset.status !== "ready" || dirty) return;
    const urls = JSON.parse(el.dataset.variants || "{}");
    for (const [key, url] of Object.entries(urls)) {
      if (!byKey[key]) continue;
      const img = new Image();
      img.onload = schedule;
      img.src = url;
      processed[key] = img;
    }
    showing = "processed";
    refreshBadges();
    schedule();
  }

  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt.id !== "crop-form") return;
    dirty = false; // this crop is what gets processed
    document.getElementById("crop-unsaved").hidden = true;
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.elt.id !== "crop-form" || event.detail.successful) return;
    dirty = true; // not saved after all (the reason is in the alert area)
    document.getElementById("crop-unsaved").hidden = false;
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    // after htmx has re-enabled the button (hx-disabled-elt)
    if (event.detail.elt.id === "crop-form") refreshSave();
  });
  document.addEventListener("htmx:load", (event) => {
    if (event.detail.elt.id !== "processed") return;
    onProcessed(event.detail.elt);
    refreshSave();
  });
  new ResizeObserver(() => { layout(); schedule(); }).observe(app.querySelector(".preview-grid"));

  const initial = document.getElementById("processed");
  if (initial) onProcessed(initial);
  refreshBadges();
  refreshSave();
  sourceArrived(); // already loaded (from the cache) before this script ran
})();
