// Shared by the file pages (classify, audio): the native jobs API with the browser's session,
// errors in plain words, and a drop zone around a file input. Exposes window.CustosJobs.
(function () {
  "use strict";
  const POLL_INTERVAL_MS = 300;
  const POLL_LIMIT = 400; // two minutes: the default models answer in well under a second

  // A refusal or failure with the envelope's stable code; `message` is for people.
  class JobError extends Error {
    constructor(message, code) {
      super(message);
      this.code = code;
    }
  }

  // The token rendered by {% csrf_token %}, else the csrftoken cookie (not HttpOnly here).
  function csrfToken() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (field && field.value) { return field.value; }
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  const STATUS_WORDS = {
    401: "You are signed out. Sign in again and retry.",
    403: "Your account may not run this task.",
    413: "The file is larger than this server accepts.",
    429: "Too many requests at once. Wait a moment and retry.",
    502: "The server is not answering. Try again in a moment.",
    503: "The model is not available right now. Try again in a moment.",
  };

  async function errorOf(response) {
    let body = null;
    try { body = await response.json(); } catch (ignored) { body = null; }
    const error = body && body.error;
    if (error && error.message) { return new JobError(error.message, error.code || "error"); }
    const words = STATUS_WORDS[response.status] || "The server could not handle the request.";
    return new JobError(words, "http_" + response.status);
  }

  async function send(url, options) {
    let response;
    try {
      response = await fetch(url, Object.assign({ credentials: "same-origin", cache: "no-store" }, options));
    } catch (ignored) {
      throw new JobError("The server could not be reached. Check the connection and retry.", "network_error");
    }
    if (!response.ok) { throw await errorOf(response); }
    return response.json();
  }

  // POST /api/v1/jobs/ as multipart/form-data; resolves to the created job ({id, status...}).
  function jobCreate(fields) {
    const body = new FormData();
    Object.keys(fields).forEach(function (name) {
      const value = fields[name];
      if (value instanceof File) { body.append(name, value, value.name); } else { body.append(name, value); }
    });
    return send("/api/v1/jobs/", {
      method: "POST",
      body: body,
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    });
  }

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  // Poll a job until it ends; resolves to the succeeded job, rejects with its error.
  async function jobWait(id, onStatus) {
    for (let attempt = 0; attempt < POLL_LIMIT; attempt += 1) {
      await sleep(POLL_INTERVAL_MS);
      const job = await send("/api/v1/jobs/" + encodeURIComponent(id), { headers: { Accept: "application/json" } });
      if (onStatus) { onStatus(job.status); }
      if (job.status === "succeeded") { return job; }
      if (job.status === "failed") {
        const error = job.error || { message: "The job failed.", code: "failed" };
        const failure = new JobError(error.message, error.code);
        failure.ran = true; // accepted, then failed while running (not a refusal)
        throw failure;
      }
    }
    throw new JobError("The job did not finish in time; it may still be running (see History).", "timeout");
  }

  function jobRun(fields, onStatus) {
    return jobCreate(fields).then(function (job) {
      if (onStatus) { onStatus(job.status); }
      return jobWait(job.id, onStatus);
    });
  }

  // Dropping a file on `zone` puts it into `input` as if it had been chosen.
  function dropZone(zone, input) {
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      if (!event.dataTransfer || !event.dataTransfer.files.length) { return; }
      input.files = event.dataTransfer.files;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  // "Refused · code" for a request the server turned down, "Failed · code" for a job that ran.
  function failureStatus(failure) {
    return (failure.ran ? "Failed · " : "Refused · ") + (failure.code || "error");
  }

  function formatBytes(bytes) {
    if (bytes < 1024) { return bytes + " B"; }
    if (bytes < 1024 * 1024) { return (bytes / 1024).toFixed(1) + " KB"; }
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function formatSeconds(seconds) {
    return seconds.toFixed(seconds < 10 ? 2 : 1) + " s";
  }

  // Show or hide the "random weights" note for the selected model (data-random on its option).
  function bindModelNote(select, note) {
    function update() {
      const option = select.selectedOptions[0];
      note.hidden = !(option && option.dataset.random === "true");
      const name = note.querySelector(".model-name");
      if (name && option) { name.textContent = option.value; }
    }
    select.addEventListener("change", update);
    update();
  }

  window.CustosJobs = {
    JobError: JobError,
    jobCreate: jobCreate,
    jobWait: jobWait,
    jobRun: jobRun,
    dropZone: dropZone,
    failureStatus: failureStatus,
    formatBytes: formatBytes,
    formatSeconds: formatSeconds,
    bindModelNote: bindModelNote,
  };
})();
