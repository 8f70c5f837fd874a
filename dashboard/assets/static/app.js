// chaosgen dashboard: pan and zoom of the service graph, colouring and
// filtering, sortable and filterable tables, the profile editor, and the
// injector actions. Nothing here runs a state change without a click.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="chaosgen-token"]');
  var token = meta ? meta.getAttribute("content") : "";

  function $(id) { return document.getElementById(id); }
  function all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Chaosgen-Token": token },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return { error: r.status + " " + r.statusText }; }).then(function (j) {
        if (!r.ok) { throw new Error(j.error || (r.status + " " + r.statusText)); }
        return j;
      });
    });
  }

  function showError(el, err) {
    el.textContent = "";
    var p = document.createElement("p");
    p.className = "error";
    p.textContent = err.message || String(err);
    el.appendChild(p);
  }

  // ---- service graph ----
  var svg = $("graph");
  if (svg) {
    var full = { x: 0, y: 0, w: +svg.getAttribute("data-w"), h: +svg.getAttribute("data-h") };
    var vb = { x: full.x, y: full.y, w: full.w, h: full.h };
    var set = function () { svg.setAttribute("viewBox", [vb.x, vb.y, vb.w, vb.h].join(" ")); };
    var toSvg = function (cx, cy) {
      var pt = svg.createSVGPoint();
      pt.x = cx; pt.y = cy;
      return pt.matrixTransform(svg.getScreenCTM().inverse());
    };
    var zoomAt = function (k, cx, cy) {
      var p = toSvg(cx, cy);
      var w = Math.min(full.w * 4, Math.max(full.w / 40, vb.w * k));
      k = w / vb.w;
      vb.x = p.x - (p.x - vb.x) * k;
      vb.y = p.y - (p.y - vb.y) * k;
      vb.w *= k; vb.h *= k;
      set();
    };
    svg.addEventListener("wheel", function (e) {
      e.preventDefault();
      zoomAt(Math.pow(1.0015, e.deltaY), e.clientX, e.clientY);
    }, { passive: false });
    var drag = null, moved = false;
    svg.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) { return; }
      drag = { p: toSvg(e.clientX, e.clientY), id: e.pointerId };
      moved = false;
    });
    svg.addEventListener("pointermove", function (e) {
      if (!drag) { return; }
      var p = toSvg(e.clientX, e.clientY);
      var dx = p.x - drag.p.x, dy = p.y - drag.p.y;
      if (!moved && Math.abs(dx) + Math.abs(dy) < 3 * vb.w / svg.clientWidth) { return; }
      if (!moved) { svg.setPointerCapture(drag.id); svg.classList.add("dragging"); }
      moved = true;
      vb.x -= dx; vb.y -= dy;
      set();
    });
    var end = function () { drag = null; svg.classList.remove("dragging"); };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    svg.addEventListener("click", function (e) { if (moved) { e.preventDefault(); e.stopPropagation(); moved = false; } }, true);
    svg.addEventListener("dblclick", function () { vb = { x: full.x, y: full.y, w: full.w, h: full.h }; set(); });
    all("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () {
        var r = svg.getBoundingClientRect();
        var z = b.getAttribute("data-zoom");
        if (z === "fit") { vb = { x: full.x, y: full.y, w: full.w, h: full.h }; set(); return; }
        zoomAt(z === "in" ? 0.7 : 1 / 0.7, r.left + r.width / 2, r.top + r.height / 2);
      });
    });
    all("[data-color]").forEach(function (b) {
      b.addEventListener("click", function () {
        var mode = b.getAttribute("data-color");
        all("[data-color]").forEach(function (o) { o.classList.toggle("active", o === b); o.setAttribute("aria-pressed", o === b ? "true" : "false"); });
        all("path.edge", svg).forEach(function (p) { p.setAttribute("stroke", p.getAttribute("data-" + mode)); });
        all(".scale-anomaly").forEach(function (s) { s.hidden = mode !== "anomaly"; });
        all(".scale-resilience").forEach(function (s) { s.hidden = mode !== "resilience"; });
      });
    });
    var gf = $("graphfilter");
    if (gf) {
      gf.addEventListener("input", function () {
        var q = gf.value.trim().toLowerCase();
        var hit = {};
        all("g.node", svg).forEach(function (n) {
          var name = n.getAttribute("data-name").toLowerCase();
          var m = q !== "" && name.indexOf(q) >= 0;
          if (m) { hit[n.getAttribute("data-name")] = true; }
          n.classList.toggle("match", m);
          n.classList.toggle("dim", q !== "" && !m);
        });
        all("path.edge", svg).forEach(function (p) {
          var on = q === "" || hit[p.getAttribute("data-from")] || hit[p.getAttribute("data-to")];
          p.classList.toggle("dim", !on);
        });
      });
    }
  }

  // ---- tables: sorting and filtering ----
  var sevRank = { minor: 1, moderate: 2, critical: 3 };
  all("table.sortable").forEach(function (t) {
    all("th[data-sort]", t).forEach(function (th, col) {
      th.addEventListener("click", function () {
        var kind = th.getAttribute("data-sort");
        var asc = !th.classList.contains("asc");
        all("th", t).forEach(function (o) { o.classList.remove("asc", "desc"); });
        th.classList.add(asc ? "asc" : "desc");
        var body = t.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var key = function (r) {
          var c = r.cells[col];
          var v = c.hasAttribute("data-v") ? c.getAttribute("data-v") : c.textContent.trim();
          if (kind === "num") { return parseFloat(v) || 0; }
          if (kind === "sev") { return sevRank[v] || 0; }
          return v.toLowerCase();
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          var c = x < y ? -1 : x > y ? 1 : 0;
          if (c === 0) { c = a.getAttribute("data-id") < b.getAttribute("data-id") ? -1 : 1; }
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  var pf = $("profilefilter"), sf = $("sevfilter");
  var filterRows = function () {
    var q = pf ? pf.value.trim().toLowerCase() : "";
    var sev = sf ? sf.value : "";
    all("#profiles-table tbody tr").forEach(function (r) {
      var ok = (q === "" || r.textContent.toLowerCase().indexOf(q) >= 0) &&
        (sev === "" || r.querySelector(".c-sev").getAttribute("data-v") === sev);
      r.hidden = !ok;
    });
  };
  if (pf) { pf.addEventListener("input", filterRows); }
  if (sf) { sf.addEventListener("change", filterRows); }

  // ---- the profile editor ----
  var editor = $("editor");
  var edits = {};
  var current = null;
  var pct = function (v) {
    var p = v * 100;
    if (p === 0) { return "0%"; }
    var s = p < 0.1 ? p.toFixed(3) : p < 10 ? p.toFixed(2) : p.toFixed(1);
    return s.replace(/\.?0+$/, "") + "%";
  };
  var faultString = function (f) {
    var out = [f.type];
    ["delayMs", "factor", "grpcStatus", "httpStatus", "jitterMs", "mode"].forEach(function (k) {
      if (f[k]) { out.push(k + "=" + f[k]); }
    });
    return out.join(" ");
  };
  var rowOf = function (id) { return document.querySelector('#profiles-table tr[data-id="' + CSS.escape(id) + '"]'); };
  var original = function (id) { return JSON.parse(rowOf(id).getAttribute("data-orig")); };
  var showFaultFields = function () {
    var t = $("ed-type").value;
    all(".f-latency", editor).forEach(function (l) { l.hidden = t !== "latency"; });
    all(".f-abort", editor).forEach(function (l) { l.hidden = t !== "abort"; });
    all(".f-corrupt", editor).forEach(function (l) { l.hidden = t !== "corrupt"; });
  };
  var paint = function (id) {
    var r = rowOf(id), o = original(id), e = edits[id];
    var rate = e && e.rate !== undefined ? e.rate : o.rate;
    var maxRate = e && e.maxRate !== undefined ? e.maxRate : Math.max(o.maxRate, rate);
    var sev = e && e.severity ? e.severity : o.severity;
    var fault = e && e.fault ? e.fault : o.fault;
    r.querySelector(".c-rate").textContent = pct(rate);
    r.querySelector(".c-rate").setAttribute("data-v", rate);
    r.querySelector(".c-maxrate").textContent = pct(maxRate);
    r.querySelector(".c-fault").textContent = faultString(fault);
    var sc = r.querySelector(".c-sev");
    sc.setAttribute("data-v", sev);
    sc.innerHTML = "";
    var span = document.createElement("span");
    span.className = "sev sev-" + sev;
    span.textContent = sev;
    sc.appendChild(span);
    r.classList.toggle("edited", !!e);
    var n = Object.keys(edits).length;
    $("pending").textContent = n === 0 ? "No edits yet." : n + " profile" + (n === 1 ? "" : "s") + " edited.";
  };
  if (editor) {
    all("[data-edit]").forEach(function (b) {
      b.addEventListener("click", function () {
        var id = b.getAttribute("data-edit");
        current = id;
        all("#profiles-table tr").forEach(function (r) { r.classList.toggle("selected", r.getAttribute("data-id") === id); });
        var o = original(id), e = edits[id] || {};
        var f = e.fault || o.fault;
        $("ed-id").textContent = id;
        $("ed-rate").value = e.rate !== undefined ? e.rate : o.rate;
        $("ed-maxrate").value = e.maxRate !== undefined ? e.maxRate : o.maxRate;
        $("ed-sev").value = e.severity || o.severity;
        $("ed-type").value = f.type;
        $("ed-delay").value = f.delayMs || "";
        $("ed-factor").value = f.factor || "";
        $("ed-jitter").value = f.jitterMs || "";
        $("ed-http").value = f.httpStatus || "";
        $("ed-grpc").value = f.grpcStatus || "";
        $("ed-mode").value = f.mode || "truncate";
        showFaultFields();
        editor.hidden = false;
        $("ed-rate").focus();
      });
    });
    $("ed-type").addEventListener("change", showFaultFields);
    $("ed-close").addEventListener("click", function () { editor.hidden = true; });
    $("ed-revert").addEventListener("click", function () {
      if (!current) { return; }
      delete edits[current];
      paint(current);
      editor.hidden = true;
    });
    $("ed-apply").addEventListener("click", function () {
      if (!current) { return; }
      var o = original(current);
      var e = { id: current };
      var num = function (id) { var v = $(id).value; return v === "" ? 0 : +v; };
      var rate = num("ed-rate");
      if (rate !== o.rate) { e.rate = rate; }
      var maxRate = num("ed-maxrate");
      if (maxRate !== o.maxRate) { e.maxRate = maxRate; }
      if ($("ed-sev").value !== o.severity) { e.severity = $("ed-sev").value; }
      var t = $("ed-type").value;
      var f = { type: t };
      if (t === "latency") { f.delayMs = num("ed-delay"); f.factor = num("ed-factor"); f.jitterMs = num("ed-jitter"); }
      if (t === "abort") { f.httpStatus = num("ed-http"); f.grpcStatus = num("ed-grpc"); }
      if (t === "corrupt") { f.mode = $("ed-mode").value; }
      Object.keys(f).forEach(function (k) { if (!f[k]) { delete f[k]; } });
      f.type = t;
      if (faultString(f) !== faultString(o.fault)) { e.fault = f; }
      if (Object.keys(e).length > 1) { edits[current] = e; } else { delete edits[current]; }
      paint(current);
      editor.hidden = true;
    });
    var list = function () { return Object.keys(edits).sort().map(function (k) { return edits[k]; }); };
    var run = function (btn, url, busyText) {
      var result = $("result");
      var label = btn.textContent;
      btn.disabled = true;
      btn.classList.add("busy");
      btn.textContent = busyText;
      result.textContent = "";
      post(url, { edits: list() }).then(function (j) {
        result.innerHTML = j.html;
      }).catch(function (err) { showError(result, err); }).then(function () {
        btn.disabled = false;
        btn.classList.remove("busy");
        btn.textContent = label;
      });
    };
    $("simulate").addEventListener("click", function () { run($("simulate"), "/api/simulate", "Simulating…"); });
    $("save").addEventListener("click", function () { run($("save"), "/api/save", "Saving…"); });
  }

  // ---- injector actions, each behind a confirmation ----
  var confirmBox = $("confirm");
  if (confirmBox) {
    var pending = null;
    var sel = $("sc-profile"), rateIn = $("sc-rate");
    var syncRate = function () { if (sel && rateIn) { rateIn.value = sel.selectedOptions[0].getAttribute("data-rate"); } };
    if (sel) { sel.addEventListener("change", syncRate); syncRate(); }
    all("[data-action]").forEach(function (b) {
      b.addEventListener("click", function () {
        var a = b.getAttribute("data-action");
        var text;
        if (a === "kill") {
          pending = { url: "/api/injector/kill", body: { confirm: true } };
          text = "Turn the kill switch on? The injector stops injecting every fault until you resume it.";
        } else if (a === "resume") {
          pending = { url: "/api/injector/resume", body: { confirm: true } };
          text = "Resume injecting? The injector applies its bundle's profiles again.";
        } else {
          var opt = sel.selectedOptions[0];
          var d = $("sc-duration").value;
          pending = { url: "/api/injector/scenario", body: { profile: sel.value, rate: +rateIn.value, duration: d, confirm: true } };
          text = "Start " + sel.value + " (" + opt.getAttribute("data-desc") + ") at " + pct(+rateIn.value) + " for " + d + " on live traffic?";
        }
        $("confirm-text").textContent = text;
        confirmBox.hidden = false;
        $("confirm-yes").focus();
      });
    });
    $("confirm-no").addEventListener("click", function () { confirmBox.hidden = true; pending = null; });
    $("confirm-yes").addEventListener("click", function () {
      if (!pending) { return; }
      var result = $("result");
      var p = pending;
      pending = null;
      confirmBox.hidden = true;
      post(p.url, p.body).then(function (j) {
        result.textContent = j.message || "done";
        setTimeout(function () { location.reload(); }, 1200);
      }).catch(function (err) { showError(result, err); });
    });
  }
})();
