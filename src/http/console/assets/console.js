// kurento-exporter console: refreshes the page's live part at the scrape
// pace, filters the pipeline list as one types, reads an endpoint's
// offer/answer on demand, and sends the token-gated actions through the
// daemon's authenticated API. Plain JavaScript, no dependency.
"use strict";
(function () {
  var KEY = "kurento-exporter.token";
  var body = document.body;
  var live = document.getElementById("live");
  var result = document.getElementById("action-result");

  function token() { return sessionStorage.getItem(KEY) || ""; }
  function say(text) { if (result) { result.textContent = text; } }
  function unlock() { body.classList.toggle("unlocked", token() !== ""); }

  function filter() {
    var box = document.getElementById("search");
    if (!box) { return; }
    var q = box.value.toLowerCase();
    document.querySelectorAll("tr.pipeline").forEach(function (tr) {
      tr.hidden = q !== "" && (tr.getAttribute("data-search") || "").indexOf(q) < 0;
    });
  }

  function call(method, url, payload) {
    var headers = { "X-Api-Token": token() };
    var init = { method: method, headers: headers };
    if (payload !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    return fetch(url, init).then(function (r) {
      return r.text().then(function (text) {
        say(method + " " + url + ": " + r.status + " " + text.slice(0, 300));
        return r.ok;
      });
    }, function (e) { say("request failed: " + e); return false; });
  }

  function negotiation(button) {
    var out = button.nextElementSibling;
    out.textContent = "reading…";
    fetch(button.getAttribute("data-negotiation")).then(function (r) { return r.json(); }).then(function (n) {
      out.textContent = "";
      var problems = n.problems || [];
      var h = document.createElement("p");
      h.textContent = problems.length ? problems.length + " problem(s):" : (n.error ? n.error : "No negotiation problem found.");
      out.appendChild(h);
      problems.forEach(function (p) {
        var li = document.createElement("p");
        li.className = "problem";
        li.textContent = (p.severity || "") + " " + (p.kind || p.name || "") + ": " + (p.message || p.detail || JSON.stringify(p));
        out.appendChild(li);
      });
      ["local_sdp", "remote_sdp"].forEach(function (k) {
        if (!n[k]) { return; }
        var t = document.createElement("h4");
        t.textContent = k === "local_sdp" ? "Local SDP (KMS)" : "Remote SDP (peer)";
        var pre = document.createElement("pre");
        pre.textContent = n[k];
        out.appendChild(t);
        out.appendChild(pre);
      });
    }, function (e) { out.textContent = "read failed: " + e; });
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (!(t instanceof Element)) { return; }
    if (t.hasAttribute("data-negotiation")) { negotiation(t); }
    if (t.hasAttribute("data-release") && token() !== "") {
      if (window.confirm("Release " + t.getAttribute("data-what") + "? KMS destroys it at once.")) {
        call("POST", t.getAttribute("data-release"));
      }
    }
    if (t.id === "lock") { sessionStorage.removeItem(KEY); unlock(); }
  });

  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    if (f.id === "token-form") {
      ev.preventDefault();
      var box = document.getElementById("token");
      sessionStorage.setItem(KEY, box.value.trim());
      box.value = "";
      unlock();
      say(token() ? "actions unlocked: the API checks the token on each call" : "");
    } else if (f.hasAttribute("data-attach")) {
      ev.preventDefault();
      call("POST", f.getAttribute("data-attach"), { uri: f.elements.uri.value, element: f.elements.element.value });
    } else if (f.classList.contains("search")) {
      ev.preventDefault();
      filter();
    }
  });

  document.addEventListener("input", function (ev) { if (ev.target.id === "search") { filter(); } });

  // Refresh the live part at the scrape pace; keep open details and the
  // search box as they are, and skip a round while the operator types.
  function refresh() {
    var busy = document.activeElement && live.contains(document.activeElement) &&
      /INPUT|SELECT|TEXTAREA/.test(document.activeElement.tagName);
    if (busy) { return; }
    fetch(location.href, { headers: { "Accept": "text/html" } }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html) { return; }
      var next = new DOMParser().parseFromString(html, "text/html").getElementById("live");
      if (!next) { return; }
      var open = Array.prototype.map.call(live.querySelectorAll("details[open]"), function (d) { return d.id; });
      var outs = {};
      live.querySelectorAll(".negotiation-out").forEach(function (o) {
        var d = o.closest("details");
        if (d && o.childNodes.length) { outs[d.id] = o.innerHTML; }
      });
      var q = document.getElementById("search");
      var query = q ? q.value : null;
      live.innerHTML = next.innerHTML;
      open.forEach(function (id) { var d = document.getElementById(id); if (d) { d.open = true; } });
      Object.keys(outs).forEach(function (id) {
        var d = document.getElementById(id);
        var o = d && d.querySelector(".negotiation-out");
        if (o) { o.innerHTML = outs[id]; }
      });
      if (query !== null && document.getElementById("search")) { document.getElementById("search").value = query; }
      filter();
      var stamp = document.getElementById("refreshed");
      if (stamp) { stamp.textContent = "refreshed " + new Date().toLocaleTimeString(); }
    }, function () { /* the next round tries again */ });
  }

  unlock();
  filter();
  var every = parseInt(body.getAttribute("data-refresh-ms"), 10) || 10000;
  window.setInterval(refresh, every);
}());
