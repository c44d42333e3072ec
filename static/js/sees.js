// What your model sees: ask the warm predictor for the first convolution's
// maps of a public test image the grader did not draw, then show them. The
// server checks the index and re-encodes every map it returns.
(function () {
  "use strict";
  var row = document.getElementById("sees-maps");
  var status = document.getElementById("sees-status");
  if (!row || !row.dataset.mapsUrl || !status) return;
  var token = document.querySelector("#model-sees input[name=csrfmiddlewaretoken]");
  function done(text) {
    row.removeAttribute("aria-busy");
    status.textContent = text;
  }
  function poll(url, tries) {
    return new Promise(function (resolve) { setTimeout(resolve, 250); })
      .then(function () { return fetch(url, { credentials: "same-origin" }); })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.status === "pending" && tries < 720) return poll(url, tries + 1);
        return data;
      });
  }
  fetch(row.dataset.mapsUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json",
      "X-CSRFToken": token ? token.value : ""
    },
    body: JSON.stringify({ public_index: Number(row.dataset.index) })
  })
    .then(function (r) { return r.json(); })
    .then(function (ticket) { return ticket.poll ? poll(ticket.poll, 0) : ticket; })
    .then(function (data) {
      if (!data.maps) { done(data.error || "No maps this time; reload to try again."); return; }
      data.maps.forEach(function (src, k) {
        if (src.indexOf("data:image/png;base64,") !== 0) return;
        var img = document.createElement("img");
        img.className = "pixelated";
        img.src = src;
        img.alt = "feature map " + (k + 1);
        img.width = 84;
        img.height = 84;
        row.appendChild(img);
      });
      done("");
    })
    .catch(function () { done("No answer: check your connection and reload."); });
})();
