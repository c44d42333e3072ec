// "Try your model": draw on a canvas or pick a test image (or, for a text
// model, type a sentence); the server asks the participant's model (in a
// sandbox) and this shows its three best guesses.
(function () {
  "use strict";
  var card = document.getElementById("try-model");
  if (!card) return;
  var canvas = document.getElementById("draw");
  var typed = document.getElementById("try-text-form");
  var ctx = canvas ? canvas.getContext("2d") : null;
  var out = document.getElementById("prediction");
  var height = parseInt(card.dataset.height, 10);
  var width = parseInt(card.dataset.width, 10);
  var channels = parseInt(card.dataset.channels, 10);
  var csrf = card.querySelector("input[name=csrfmiddlewaretoken]").value;
  var drawing = false;
  var last = null;

  function clear() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  if (canvas) clear();

  function point(e) {
    var box = canvas.getBoundingClientRect();
    return {
      x: (e.clientX - box.left) * canvas.width / box.width,
      y: (e.clientY - box.top) * canvas.height / box.height
    };
  }

  function stroke(p) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = canvas.width / width * 2.2;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(last ? last.x : p.x, last ? last.y : p.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    last = p;
  }

  // The drawing, shrunk to the model's input size, as base64 unsigned bytes.
  function pixels() {
    var small = document.createElement("canvas");
    small.width = width;
    small.height = height;
    var sctx = small.getContext("2d");
    sctx.imageSmoothingEnabled = true;
    sctx.drawImage(canvas, 0, 0, width, height);
    var rgba = sctx.getImageData(0, 0, width, height).data;
    var bytes = new Uint8Array(width * height * channels);
    for (var i = 0, j = 0; i < rgba.length; i += 4) {
      if (channels === 1) {
        bytes[j++] = Math.round((rgba[i] + rgba[i + 1] + rgba[i + 2]) / 3);
      } else {
        bytes[j++] = rgba[i]; bytes[j++] = rgba[i + 1]; bytes[j++] = rgba[i + 2];
      }
    }
    var text = "";
    for (var k = 0; k < bytes.length; k++) text += String.fromCharCode(bytes[k]);
    return btoa(text);
  }

  function cell(row, tag, text) {
    var c = document.createElement(tag);
    c.textContent = text;
    row.appendChild(c);
    return c;
  }

  // What a text model sees: each known word's weight, then its nearest words.
  function showExplained(seen) {
    if (seen.read) cell(out, "p", "As your model read it: " + seen.read);
    var lead = document.createElement("p");
    lead.textContent = "Your model says " + seen.label + " (" +
      (seen.probability * 100).toFixed(1) + "%). Hiding each word changes that by:";
    out.appendChild(lead);
    var table = document.createElement("table");
    table.id = "explained-words";
    var head = table.createTHead().insertRow();
    cell(head, "th", "Word").scope = "col";
    cell(head, "th", "Drop when hidden").scope = "col";
    var body = table.createTBody();
    seen.words.forEach(function (w) {
      var row = body.insertRow();
      cell(row, "td", w.word);
      var c = cell(row, "td", (w.weight >= 0 ? "-" : "+") +
        (Math.abs(w.weight) * 100).toFixed(1) + " points");
      c.className = "num";
    });
    out.appendChild(table);
    if (!seen.neighbours.length) {
      cell(out, "p", "Your model has no Embedding layer: no nearest words to show.")
        .className = "muted small";
      return;
    }
    cell(out, "p", "Nearest words in your model's Embedding:");
    var list = document.createElement("ul");
    list.id = "explained-neighbours";
    seen.neighbours.forEach(function (n) {
      cell(list, "li", n.word + ": " + n.near.map(function (k) {
        return k.word + " (" + k.cosine.toFixed(2) + ")";
      }).join(", "));
    });
    out.appendChild(list);
  }

  function show(data) {
    out.textContent = "";
    if (data.error) {
      var p = document.createElement("p");
      p.className = "reason";
      p.textContent = data.error;
      out.appendChild(p);
      return;
    }
    if (data.explained) { showExplained(data.explained); return; }
    var list = document.createElement("ol");
    list.className = "top3";
    list.id = "top3";
    data.top.forEach(function (guess) {
      var li = document.createElement("li");
      var name = document.createElement("span");
      name.className = "label";
      name.textContent = guess.label;
      var bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = Math.max(1, Math.round(guess.probability * 100)) + "%";
      var pct = document.createElement("span");
      pct.className = "pct";
      pct.textContent = (guess.probability * 100).toFixed(1) + "%";
      li.append(name, bar, pct);
      list.appendChild(li);
    });
    out.appendChild(list);
  }

  var busy = false;
  var again = null;
  function ask(data) {
    if (busy) { again = data; return; }
    busy = true;
    out.setAttribute("aria-busy", "true");
    out.innerHTML = '<p class="muted small" id="asking">Asking your model…</p>';
    var url = card.dataset.predictUrl;
    // The server answers at once with an id; the answer is polled for, so no
    // web worker waits on the predictor.
    function poll(ticket, tries) {
      return new Promise(function (resolve) { setTimeout(resolve, 250); })
        .then(function () {
          return fetch(ticket.poll, { credentials: "same-origin" });
        })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (data.status === "pending" && tries < 720) return poll(ticket, tries + 1);
          return data;
        });
    }
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(typeof data === "string" ? { pixels: data } : data)
    })
      .then(function (r) { return r.json(); })
      .then(function (ticket) {
        return ticket.status === "pending" ? poll(ticket, 0) : ticket;
      })
      .then(show)
      .catch(function () { show({ error: "No answer: check your connection and try again." }); })
      .finally(function () {
        busy = false;
        out.removeAttribute("aria-busy");
        if (again !== null) { var next = again; again = null; ask(next); }
      });
  }

  if (typed) {
    typed.addEventListener("submit", function (e) {
      e.preventDefault();
      var body = { text: document.getElementById("try-text").value };
      if (e.submitter && e.submitter.id === "try-explain") body.explain = true;
      ask(body);
    });
    var picked = document.getElementById("try-public-form");
    if (picked) {
      picked.addEventListener("submit", function (e) {
        e.preventDefault();
        ask({ public_index: document.getElementById("try-public").value, explain: true });
      });
    }
    return;
  }

  canvas.addEventListener("pointerdown", function (e) {
    drawing = true;
    last = null;
    canvas.setPointerCapture(e.pointerId);
    stroke(point(e));
  });
  canvas.addEventListener("pointermove", function (e) { if (drawing) stroke(point(e)); });
  function end() {
    if (!drawing) return;
    drawing = false;
    last = null;
    ask(pixels());
  }
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  document.getElementById("draw-clear").addEventListener("click", function () {
    clear();
    out.innerHTML = '<p class="muted small">No prediction yet.</p>';
  });

  // A test image: show it on the canvas, send its exact pixels.
  card.querySelectorAll(".sample").forEach(function (button) {
    button.addEventListener("click", function () {
      var img = button.querySelector("img");
      clear();
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      ask(button.dataset.pixels);
    });
  });
})();
