// The image classification page: a local preview at once, then a job, polled until its labels.
(function () {
  "use strict";
  const jobs = window.CustosJobs;
  const form = document.getElementById("classify-form");
  const input = document.getElementById("file");
  const fileName = document.getElementById("file-name");
  const preview = document.getElementById("preview");
  const previewImage = document.getElementById("preview-image");
  const previewCaption = document.getElementById("preview-caption");
  const model = document.getElementById("model");
  const topK = document.getElementById("top-k");
  const button = document.getElementById("classify");
  const status = document.getElementById("status");
  const error = document.getElementById("error");
  const labels = document.getElementById("labels");
  const empty = document.getElementById("labels-empty");
  let previewUrl = null;
  let run = 0; // a newer submission or file makes older answers stale

  jobs.dropZone(document.getElementById("dropzone"), input);
  jobs.bindModelNote(model, document.getElementById("model-note"));

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
  }

  function clearResult() {
    error.hidden = true;
    labels.replaceChildren();
    empty.hidden = false;
  }

  input.addEventListener("change", function () {
    run += 1;
    button.disabled = false;
    clearResult();
    const file = input.files[0];
    if (previewUrl) { URL.revokeObjectURL(previewUrl); previewUrl = null; }
    if (!file) {
      preview.hidden = true;
      fileName.textContent = "PNG, JPEG or WebP · up to 20 MB";
      status.textContent = "Choose an image to begin";
      return;
    }
    fileName.textContent = file.name + " · " + jobs.formatBytes(file.size);
    previewCaption.textContent = file.name;
    previewUrl = URL.createObjectURL(file);
    previewImage.src = previewUrl;
    preview.hidden = false;
    status.textContent = "Ready to classify";
  });

  previewImage.addEventListener("load", function () {
    const file = input.files[0];
    if (file) {
      previewCaption.textContent = file.name + " · " + previewImage.naturalWidth + "×" +
        previewImage.naturalHeight + " px · " + jobs.formatBytes(file.size);
    }
  });
  previewImage.addEventListener("error", function () {
    if (input.files[0]) { previewCaption.textContent = "This browser cannot show a preview of this file."; }
  });

  function showLabels(result) {
    labels.replaceChildren();
    const rows = (result.labels || []).slice().sort(function (a, b) { return b.score - a.score; });
    rows.forEach(function (row, index) {
      const item = document.createElement("li");
      item.className = index === 0 ? "bar-row top" : "bar-row";
      const name = document.createElement("span");
      name.className = "bar-label";
      name.textContent = row.label;
      const track = document.createElement("span");
      track.className = "bar-track";
      const fill = document.createElement("span");
      fill.className = "bar-fill";
      const percent = Math.max(0, Math.min(1, row.score)) * 100;
      fill.style.width = percent.toFixed(1) + "%";
      track.appendChild(fill);
      const value = document.createElement("span");
      value.className = "bar-value";
      value.textContent = percent.toFixed(1) + " %";
      item.append(name, track, value);
      labels.appendChild(item);
    });
    empty.hidden = rows.length > 0;
  }

  const STATUS_WORDS = { queued: "Queued…", running: "Classifying…" };

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const file = input.files[0];
    clearResult();
    if (!file) {
      showError("Choose an image first.");
      return;
    }
    const mine = ++run;
    button.disabled = true;
    status.textContent = "Uploading…";
    const started = performance.now();
    jobs.jobRun(
      { task: "image-classification", model: model.value, top_k: topK.value || "5", file: file },
      function (state) { if (mine === run) { status.textContent = STATUS_WORDS[state] || status.textContent; } }
    ).then(function (job) {
      if (mine !== run) { return; }
      showLabels(job.result);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      status.textContent = "Done · " + job.model + " · " + seconds + " s";
    }).catch(function (failure) {
      if (mine !== run) { return; }
      showError(failure.message);
      status.textContent = jobs.failureStatus(failure);
    }).finally(function () {
      if (mine === run) { button.disabled = false; }
    });
  });
})();
