// The audio page: the chosen file is decoded here (16 kHz mono, as the models hear it) and
// drawn as a waveform and a log-magnitude spectrogram; then a transcription job and a speech
// detection job run side by side, and the speech they find is shaded over the waveform.
(function () {
  "use strict";
  const jobs = window.CustosJobs;
  const SAMPLE_RATE = 16000;
  const FFT_SIZE = 512; // 32 ms windows at 16 kHz
  const DYNAMIC_RANGE_DB = 80;
  const AXIS_PX = 20;
  const COLOURS = {
    background: "#f8fafc", midline: "#dde1e8", wave: "#1f5fbf", axis: "#5d6677",
    speech: "rgba(27, 122, 70, 0.16)", speechEdge: "rgba(27, 122, 70, 0.65)", speechInk: "#1b7a46",
  };
  // matplotlib's "magma", nine stops, interpolated into a 256-entry table below.
  const MAGMA = ["#000004", "#1c1044", "#4f127b", "#812581", "#b5367a", "#e55064", "#fb8761", "#fec287", "#fcfdbf"];

  const form = document.getElementById("audio-form");
  const input = document.getElementById("file");
  const fileName = document.getElementById("file-name");
  const button = document.getElementById("analyse");
  const transcriptionModel = document.getElementById("transcription-model");
  const detectionModel = document.getElementById("detection-model");
  const info = document.getElementById("audio-info");
  const plots = document.getElementById("plots");
  const plotsEmpty = document.getElementById("plots-empty");
  const waveform = document.getElementById("waveform");
  const spectrogram = document.getElementById("spectrogram");
  const status = document.getElementById("status");
  const error = document.getElementById("error");
  const transcript = document.getElementById("transcript");
  const transcriptEmpty = document.getElementById("transcript-empty");
  const transcriptionState = document.getElementById("transcription-state");
  const detectionState = document.getElementById("detection-state");
  const modelNote = document.getElementById("model-note");
  const segmentsTable = document.getElementById("segments");
  const segmentsSummary = document.getElementById("segments-summary");
  const segmentsEmpty = document.getElementById("segments-empty");
  const PLOTS_EMPTY_TEXT = plotsEmpty.textContent;

  let samples = null; // Float32Array, mono, SAMPLE_RATE
  let segments = [];
  let run = 0; // a newer file or submission makes older answers stale

  jobs.dropZone(document.getElementById("dropzone"), input);

  // ---- decoding -------------------------------------------------------------------------

  function decode(file) {
    return file.arrayBuffer().then(function (bytes) {
      // An offline context decodes without an audio device or a user gesture, and resamples.
      const context = new OfflineAudioContext(1, 1, SAMPLE_RATE);
      return context.decodeAudioData(bytes);
    }).then(function (buffer) {
      const mono = new Float32Array(buffer.length);
      for (let channel = 0; channel < buffer.numberOfChannels; channel += 1) {
        const data = buffer.getChannelData(channel);
        for (let i = 0; i < data.length; i += 1) { mono[i] += data[i] / buffer.numberOfChannels; }
      }
      return mono;
    });
  }

  // ---- drawing --------------------------------------------------------------------------

  function sizeCanvas(canvas) {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    canvas.height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { context: context, width: canvas.clientWidth, height: canvas.clientHeight, ratio: ratio };
  }

  function tickStep(duration, width) {
    const wanted = duration / Math.max(1, width / 90);
    const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300];
    return steps.find(function (step) { return step >= wanted; }) || 600;
  }

  function drawTimeAxis(context, width, top, duration) {
    const step = tickStep(duration, width);
    context.fillStyle = COLOURS.axis;
    context.strokeStyle = COLOURS.midline;
    context.font = "11px system-ui, sans-serif";
    context.textBaseline = "top";
    for (let t = 0; t <= duration + 1e-9; t += step) {
      const x = Math.round((t / duration) * (width - 1)) + 0.5;
      context.beginPath();
      context.moveTo(x, top);
      context.lineTo(x, top + 4);
      context.stroke();
      const label = (step < 1 ? t.toFixed(1) : String(Math.round(t))) + " s";
      context.textAlign = x < 20 ? "left" : (x > width - 20 ? "right" : "center");
      context.fillText(label, x, top + 6);
    }
  }

  function drawWaveform() {
    const { context, width, height } = sizeCanvas(waveform);
    const plotHeight = height - AXIS_PX;
    const duration = samples.length / SAMPLE_RATE;
    context.fillStyle = COLOURS.background;
    context.fillRect(0, 0, width, plotHeight);
    // The speech segments first, so the waveform is drawn over their shading.
    context.font = "600 11px system-ui, sans-serif";
    context.textBaseline = "top";
    context.textAlign = "left";
    segments.forEach(function (segment, index) {
      const x0 = (segment.start_s / duration) * width;
      const x1 = Math.max(x0 + 1, (segment.end_s / duration) * width);
      context.fillStyle = COLOURS.speech;
      context.fillRect(x0, 0, x1 - x0, plotHeight);
      context.fillStyle = COLOURS.speechEdge;
      context.fillRect(x0, 0, 1, plotHeight);
      context.fillRect(x1 - 1, 0, 1, plotHeight);
      context.fillStyle = COLOURS.speechInk;
      context.fillText(String(index + 1), x0 + 4, 4);
    });
    const middle = plotHeight / 2;
    context.fillStyle = COLOURS.midline;
    context.fillRect(0, Math.floor(middle), width, 1);
    let peak = 0;
    for (let i = 0; i < samples.length; i += 1) { peak = Math.max(peak, Math.abs(samples[i])); }
    const scale = (plotHeight / 2 - 4) / Math.max(peak, 1e-4);
    context.fillStyle = COLOURS.wave;
    const perColumn = samples.length / width;
    for (let x = 0; x < width; x += 1) {
      const start = Math.floor(x * perColumn);
      const end = Math.min(samples.length, Math.max(start + 1, Math.floor((x + 1) * perColumn)));
      let low = 0;
      let high = 0;
      for (let i = start; i < end; i += 1) {
        if (samples[i] < low) { low = samples[i]; }
        if (samples[i] > high) { high = samples[i]; }
      }
      const top = middle - high * scale;
      context.fillRect(x, top, 1, Math.max(1, (high - low) * scale));
    }
    context.clearRect(0, plotHeight, width, AXIS_PX);
    drawTimeAxis(context, width, plotHeight, duration);
  }

  // An in-place iterative radix-2 FFT over re/im, for power-of-two sizes.
  function makeFft(size) {
    const levels = Math.log2(size);
    const reverse = new Uint32Array(size);
    for (let i = 0; i < size; i += 1) {
      let r = 0;
      for (let bit = 0; bit < levels; bit += 1) { r = (r << 1) | ((i >>> bit) & 1); }
      reverse[i] = r;
    }
    const cos = new Float64Array(size / 2);
    const sin = new Float64Array(size / 2);
    for (let i = 0; i < size / 2; i += 1) {
      cos[i] = Math.cos((2 * Math.PI * i) / size);
      sin[i] = -Math.sin((2 * Math.PI * i) / size);
    }
    return function fft(re, im) {
      for (let i = 0; i < size; i += 1) {
        const j = reverse[i];
        if (j > i) {
          let t = re[i]; re[i] = re[j]; re[j] = t;
          t = im[i]; im[i] = im[j]; im[j] = t;
        }
      }
      for (let half = 1; half < size; half *= 2) {
        const stride = size / (half * 2);
        for (let start = 0; start < size; start += half * 2) {
          for (let k = 0; k < half; k += 1) {
            const a = start + k;
            const b = a + half;
            const wr = cos[k * stride];
            const wi = sin[k * stride];
            const tr = re[b] * wr - im[b] * wi;
            const ti = re[b] * wi + im[b] * wr;
            re[b] = re[a] - tr; im[b] = im[a] - ti;
            re[a] += tr; im[a] += ti;
          }
        }
      }
    };
  }

  function colourTable() {
    const stops = MAGMA.map(function (hex) {
      return [1, 3, 5].map(function (at) { return parseInt(hex.slice(at, at + 2), 16); });
    });
    const table = new Uint8ClampedArray(256 * 3);
    for (let i = 0; i < 256; i += 1) {
      const position = (i / 255) * (stops.length - 1);
      const low = Math.min(stops.length - 2, Math.floor(position));
      const mix = position - low;
      for (let c = 0; c < 3; c += 1) {
        table[i * 3 + c] = stops[low][c] + (stops[low + 1][c] - stops[low][c]) * mix;
      }
    }
    return table;
  }

  // Log power per (column, bin): one Hann-windowed FFT centred on each pixel column.
  function stft(columns) {
    const bins = FFT_SIZE / 2;
    const fft = makeFft(FFT_SIZE);
    const window_ = new Float64Array(FFT_SIZE);
    for (let i = 0; i < FFT_SIZE; i += 1) { window_[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FFT_SIZE); }
    const re = new Float64Array(FFT_SIZE);
    const im = new Float64Array(FFT_SIZE);
    const power = new Float32Array(columns * bins);
    let loudest = -Infinity;
    for (let column = 0; column < columns; column += 1) {
      const centre = Math.floor(((column + 0.5) / columns) * samples.length);
      const start = centre - FFT_SIZE / 2;
      for (let i = 0; i < FFT_SIZE; i += 1) {
        const at = start + i;
        re[i] = at >= 0 && at < samples.length ? samples[at] * window_[i] : 0;
        im[i] = 0;
      }
      fft(re, im);
      for (let bin = 0; bin < bins; bin += 1) {
        const db = 10 * Math.log10(re[bin] * re[bin] + im[bin] * im[bin] + 1e-12);
        power[column * bins + bin] = db;
        if (db > loudest) { loudest = db; }
      }
    }
    return { power: power, bins: bins, loudest: loudest };
  }

  function drawSpectrogram() {
    const { context, height, ratio } = sizeCanvas(spectrogram);
    const columns = spectrogram.width;
    const rows = spectrogram.height;
    const { power, bins, loudest } = stft(columns);
    const floor = loudest - DYNAMIC_RANGE_DB;
    const table = colourTable();
    const image = context.createImageData(columns, rows);
    for (let y = 0; y < rows; y += 1) {
      const bin = Math.min(bins - 1, Math.floor((1 - (y + 0.5) / rows) * bins));
      for (let x = 0; x < columns; x += 1) {
        const level = (power[x * bins + bin] - floor) / DYNAMIC_RANGE_DB;
        const index = Math.round(Math.max(0, Math.min(1, level)) * 255) * 3;
        const at = (y * columns + x) * 4;
        image.data[at] = table[index];
        image.data[at + 1] = table[index + 1];
        image.data[at + 2] = table[index + 2];
        image.data[at + 3] = 255;
      }
    }
    context.putImageData(image, 0, 0);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    // Frequency marks on small dark tabs, readable over the brightest bins.
    context.font = "11px system-ui, sans-serif";
    context.textAlign = "left";
    context.textBaseline = "middle";
    [[8, 11], [4, height / 2], [0, height - 11]].forEach(function (mark) {
      const label = mark[0] + " kHz";
      context.fillStyle = "rgba(15, 23, 42, 0.72)";
      context.fillRect(4, mark[1] - 8, context.measureText(label).width + 8, 16);
      context.fillStyle = "#f1f5f9";
      context.fillText(label, 8, mark[1]);
    });
  }

  function drawAll() {
    if (!samples) { return; }
    drawWaveform();
    drawSpectrogram();
  }

  let resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawAll, 150);
  });

  // ---- results --------------------------------------------------------------------------

  function setState(badge, state) {
    const words = { queued: "queued", running: "running", succeeded: "done", failed: "failed" };
    badge.textContent = words[state] || state;
    badge.className = "badge" + (state === "succeeded" ? " ok" : (state === "failed" ? " bad" : ""));
    badge.hidden = false;
  }

  function resetResults() {
    error.hidden = true;
    error.replaceChildren();
    transcript.hidden = true;
    transcript.textContent = "";
    transcriptEmpty.hidden = false;
    modelNote.hidden = true;
    transcriptionState.hidden = true;
    detectionState.hidden = true;
    segmentsTable.hidden = true;
    segmentsTable.tBodies[0].replaceChildren();
    segmentsSummary.hidden = true;
    segmentsEmpty.hidden = false;
    segmentsEmpty.textContent = "Where someone speaks, listed and shaded over the waveform.";
    segments = [];
  }

  function showTranscript(result, modelOption) {
    const text = (result.text || "").trim();
    transcript.textContent = text || "(no words)";
    transcript.classList.toggle("nothing", !text);
    transcript.hidden = false;
    transcriptEmpty.hidden = true;
    modelNote.querySelector(".model-name").textContent = modelOption.value;
    modelNote.hidden = modelOption.dataset.random !== "true";
  }

  function cell(text, numeric) {
    const td = document.createElement("td");
    td.textContent = text;
    if (numeric) { td.className = "num"; }
    return td;
  }

  function showSegments(result) {
    segments = result.segments || [];
    const body = segmentsTable.tBodies[0];
    body.replaceChildren();
    let speech = 0;
    segments.forEach(function (segment, index) {
      const row = document.createElement("tr");
      const length = segment.end_s - segment.start_s;
      speech += length;
      row.append(
        cell(String(index + 1)),
        cell(jobs.formatSeconds(segment.start_s), true),
        cell(jobs.formatSeconds(segment.end_s), true),
        cell(jobs.formatSeconds(length), true)
      );
      body.appendChild(row);
    });
    segmentsTable.hidden = segments.length === 0;
    segmentsEmpty.hidden = segments.length > 0;
    if (!segments.length) { segmentsEmpty.textContent = "No speech found in this recording."; }
    segmentsSummary.textContent = segments.length + (segments.length === 1 ? " segment" : " segments") +
      " · " + jobs.formatSeconds(speech) + " of speech in " + jobs.formatSeconds(result.duration_s);
    segmentsSummary.hidden = false;
    if (samples) { drawWaveform(); }
  }

  function showFailures(failures) {
    const messages = [];
    failures.forEach(function (failure) {
      const plain = failure.error.message;
      if (!messages.some(function (m) { return m.plain === plain; })) {
        messages.push({ plain: plain, task: failure.task });
      }
    });
    error.replaceChildren();
    messages.forEach(function (message, index) {
      if (index) { error.appendChild(document.createElement("br")); }
      error.appendChild(document.createTextNode(
        messages.length > 1 || failures.length < 2 ? message.task + ": " + message.plain : message.plain
      ));
    });
    error.hidden = false;
  }

  // ---- events ---------------------------------------------------------------------------

  input.addEventListener("change", function () {
    const mine = ++run;
    resetResults();
    button.disabled = false;
    status.textContent = "Ready";
    samples = null;
    const file = input.files[0];
    if (!file) {
      plots.hidden = true;
      plotsEmpty.hidden = false;
      plotsEmpty.textContent = PLOTS_EMPTY_TEXT;
      info.textContent = "No recording yet";
      fileName.textContent = "WAV, FLAC, Ogg or MP3 · up to 10 minutes";
      return;
    }
    fileName.textContent = file.name + " · " + jobs.formatBytes(file.size);
    info.textContent = "Decoding " + file.name + "…";
    decode(file).then(function (mono) {
      if (mine !== run) { return; }
      samples = mono;
      plots.hidden = false;
      plotsEmpty.hidden = true;
      info.textContent = file.name + " · " + jobs.formatSeconds(mono.length / SAMPLE_RATE) + " · " + jobs.formatBytes(file.size);
      drawAll();
    }).catch(function () {
      if (mine !== run) { return; }
      plots.hidden = true;
      plotsEmpty.hidden = false;
      plotsEmpty.textContent = "This browser could not decode " + file.name + ", so there is nothing to draw. The server still checks it when you submit.";
      info.textContent = file.name + " · not decodable here";
    });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const file = input.files[0];
    resetResults();
    if (samples) { drawWaveform(); }
    if (!file) {
      error.textContent = "Choose a recording first.";
      error.hidden = false;
      return;
    }
    const mine = ++run;
    const transcriptionOption = transcriptionModel.selectedOptions[0];
    button.disabled = true;
    status.textContent = "Uploading…";
    const started = performance.now();
    const failures = [];

    function task(name, fields, badge, show) {
      return jobs.jobRun(fields, function (state) {
        if (mine !== run) { return; }
        setState(badge, state);
        status.textContent = "Working…";
      }).then(function (job) {
        if (mine !== run) { return; }
        setState(badge, "succeeded");
        show(job.result);
      }).catch(function (failure) {
        if (mine !== run) { return; }
        setState(badge, "failed");
        failures.push({ task: name, error: failure });
      });
    }

    Promise.all([
      task("Transcription", { task: "transcription", model: transcriptionModel.value, file: file },
        transcriptionState, function (result) { showTranscript(result, transcriptionOption); }),
      task("Speech detection", { task: "speech-detection", model: detectionModel.value, file: file },
        detectionState, showSegments),
    ]).then(function () {
      if (mine !== run) { return; }
      button.disabled = false;
      if (failures.length) {
        showFailures(failures);
        status.textContent = failures.length === 2 ? jobs.failureStatus(failures[0].error)
          : "Partly done · " + failures[0].error.code;
        return;
      }
      status.textContent = "Done · " + ((performance.now() - started) / 1000).toFixed(1) + " s";
    });
  });
})();
