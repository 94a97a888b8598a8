// The text page: one websocket per generation; tokens are appended as they arrive.
(function () {
  "use strict";
  const form = document.getElementById("text-form");
  const output = document.getElementById("output");
  const status = document.getElementById("status");
  const error = document.getElementById("error");
  const send = document.getElementById("send");
  const stop = document.getElementById("stop");
  const model = document.getElementById("model");
  const maxTokens = document.getElementById("max-tokens");
  let socket = null;

  // The most a request may ask for is the chosen model's context.
  model.addEventListener("change", function () {
    maxTokens.max = model.selectedOptions[0].dataset.context;
  });

  function setBusy(busy) {
    send.disabled = busy;
    stop.hidden = !busy;
  }

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
  }

  function finish(text) {
    status.textContent = text;
    setBusy(false);
    if (socket) { socket.close(); socket = null; }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    output.textContent = "";
    error.hidden = true;
    status.textContent = "Connecting…";
    setBusy(true);
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(scheme + "://" + window.location.host + "/ws/text/");
    socket.addEventListener("open", function () {
      socket.send(JSON.stringify({
        model: document.getElementById("model").value,
        prompt: document.getElementById("prompt").value,
        max_tokens: parseInt(document.getElementById("max-tokens").value, 10),
        temperature: parseFloat(document.getElementById("temperature").value),
      }));
    });
    socket.addEventListener("message", function (event) {
      const message = JSON.parse(event.data);
      if (message.type === "start") {
        status.textContent = "Generating…";
      } else if (message.type === "token") {
        output.textContent += message.text;
      } else if (message.type === "done") {
        finish("Done · " + message.completion_tokens + " tokens · " + message.finish_reason);
      } else if (message.type === "error") {
        showError(message.message);
        finish("Refused · " + message.code);
      }
    });
    socket.addEventListener("close", function (event) {
      if (socket) {
        if (event.code === 4403) { showError("Your account may not run inference."); }
        finish(status.textContent === "Generating…" ? "Connection closed" : status.textContent);
      }
    });
  });

  stop.addEventListener("click", function () { finish("Stopped"); });
})();
