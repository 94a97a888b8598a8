// The image generation page: one websocket per request; a progress bar fed by every denoising
// step, then the images, scaled up without smoothing, each with a download link.
(function () {
  "use strict";
  const form = document.getElementById("generate-form");
  const button = document.getElementById("generate");
  const model = document.getElementById("model");
  const status = document.getElementById("status");
  const error = document.getElementById("error");
  const progressBox = document.getElementById("progress-box");
  const progress = document.getElementById("progress");
  const progressLabel = document.getElementById("progress-label");
  const gallery = document.getElementById("gallery");
  const empty = document.getElementById("gallery-empty");
  let socket = null;

  window.CustosJobs.bindModelNote(model, document.getElementById("model-note"));

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
  }

  function finish(text) {
    status.textContent = text;
    button.disabled = false;
    if (socket) { const open = socket; socket = null; open.close(); }
  }

  function setProgress(step, total) {
    progress.max = total;
    progress.value = step;
    progressLabel.textContent = "Step " + step + " of " + total;
  }

  function showImages(images, request) {
    gallery.replaceChildren();
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
    images.forEach(function (b64, index) {
      const url = "data:image/png;base64," + b64;
      const figure = document.createElement("figure");
      figure.className = "shot";
      const img = document.createElement("img");
      img.className = "pixelated";
      img.alt = "Generated image " + (index + 1) + " of " + images.length;
      img.src = url;
      const caption = document.createElement("figcaption");
      const size = document.createElement("span");
      size.className = "muted";
      size.textContent = "Image " + (index + 1);
      img.addEventListener("load", function () {
        size.textContent = "Image " + (index + 1) + " · " + img.naturalWidth + "×" + img.naturalHeight;
      });
      const link = document.createElement("a");
      link.href = url;
      link.download = "custos-" + request.model + "-" + stamp + "-" + (index + 1) + ".png";
      link.className = "download";
      link.textContent = "Download PNG";
      caption.append(size, link);
      figure.append(img, caption);
      gallery.appendChild(figure);
    });
    empty.hidden = images.length > 0;
  }

  function requestOf() {
    const request = {
      model: model.value,
      prompt: document.getElementById("prompt").value,
      n: parseInt(document.getElementById("n").value, 10),
    };
    const steps = document.getElementById("steps").value.trim();
    const seed = document.getElementById("seed").value.trim();
    if (steps) { request.steps = parseInt(steps, 10); }
    if (seed) { request.seed = parseInt(seed, 10); }
    return request;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!form.reportValidity()) { return; }
    const request = requestOf();
    error.hidden = true;
    gallery.replaceChildren();
    empty.hidden = false;
    progressBox.hidden = false;
    progress.removeAttribute("value"); // indeterminate until the first step is reported
    progressLabel.textContent = "Waiting for the model…";
    status.textContent = "Connecting…";
    button.disabled = true;
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const mine = new WebSocket(scheme + "://" + window.location.host + "/ws/images/");
    socket = mine;
    mine.addEventListener("open", function () { mine.send(JSON.stringify(request)); });
    mine.addEventListener("message", function (event) {
      if (socket !== mine) { return; }
      const message = JSON.parse(event.data);
      if (message.type === "start") {
        status.textContent = "Generating…";
      } else if (message.type === "progress") {
        setProgress(message.step, message.total);
      } else if (message.type === "done") {
        showImages(message.images, request);
        const count = message.images.length;
        finish("Done · " + count + (count === 1 ? " image" : " images"));
      } else if (message.type === "error") {
        progressBox.hidden = true;
        showError(message.message);
        finish("Refused · " + message.code);
      }
    });
    mine.addEventListener("close", function (event) {
      if (socket !== mine) { return; }
      if (event.code === 4403) {
        showError("Your account may not run inference.");
      } else {
        showError("The connection closed before the images arrived. Try again.");
      }
      progressBox.hidden = true;
      socket = null;
      finish("Connection closed");
    });
  });
})();
