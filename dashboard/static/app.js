// The dashboard's live parts: the jobs table and a job page follow the server's
// feed of job changes (server-sent events) without reloading.
(function () {
  "use strict";

  function pct(p, state) {
    return state === "completed" ? 100 : Math.floor((p || 0) * 100);
  }

  function setRow(tr, j) {
    var st = tr.querySelector(".st .state");
    st.textContent = j.state;
    st.className = "state s-" + j.state;
    var n = pct(j.progress, j.state);
    tr.querySelector(".fill").style.width = n + "%";
    tr.querySelector(".pct").textContent = n + "%";
  }

  function cell(cls, child) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    if (typeof child === "string") td.textContent = child; else if (child) td.appendChild(child);
    return td;
  }

  function newRow(j, names) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-job-id", j.job_id);
    var a = document.createElement("a");
    a.className = "mono";
    a.href = "/ui/jobs/" + encodeURIComponent(j.job_id);
    a.textContent = j.job_id;
    tr.appendChild(cell("", a));
    tr.appendChild(cell("wide app", names[j.application_id] || j.application_id));
    tr.appendChild(cell("wide", j.preset_id));
    var st = document.createElement("span");
    st.className = "state";
    tr.appendChild(cell("st", st));
    var td = document.createElement("td");
    td.innerHTML = '<div class="bar"><div class="fill"></div></div><span class="pct"></span>';
    tr.appendChild(td);
    var t = document.createElement("time");
    t.dateTime = j.created_at;
    t.textContent = j.created_at.replace("T", " ").replace(/\..*|Z$/, "");
    tr.appendChild(cell("wide", t));
    setRow(tr, j);
    return tr;
  }

  function follow(params, onJob) {
    if (!window.EventSource) return;
    var live = document.getElementById("live");
    var es = new EventSource("/ui/events?" + params.toString());
    es.addEventListener("job", function (e) { onJob(JSON.parse(e.data)); });
    es.onopen = function () { if (live) live.className = "live on"; };
    es.onerror = function () { if (live) live.className = "live"; };
  }

  // Filters apply as soon as they change (inline handlers are barred by the
  // page's Content-Security-Policy).
  document.querySelectorAll("form.filters select").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });

  // HLS plays without a library only where the browser reads it natively.
  document.querySelectorAll("video.native-only").forEach(function (v) {
    if (v.canPlayType(v.getAttribute("data-type"))) v.hidden = false;
  });

  var table = document.getElementById("jobs");
  if (table) {
    var names = {};
    try { names = JSON.parse(document.getElementById("app-names").textContent) || {}; } catch (e) {}
    var status = table.getAttribute("data-status");
    var params = new URLSearchParams();
    params.set("since", table.getAttribute("data-since"));
    if (table.getAttribute("data-application")) params.set("application_id", table.getAttribute("data-application"));
    var body = table.tBodies[0];
    follow(params, function (j) {
      var tr = body.querySelector('tr[data-job-id="' + CSS.escape(j.job_id) + '"]');
      if (status && j.state !== status) {
        if (tr) tr.remove();
        return;
      }
      if (tr) setRow(tr, j); else body.insertBefore(newRow(j, names), body.firstChild);
      document.getElementById("empty").hidden = body.rows.length > 0;
    });
  }

  var job = document.getElementById("job");
  if (job && job.getAttribute("data-done") !== "true") {
    var p = new URLSearchParams();
    p.set("since", job.getAttribute("data-since"));
    p.set("job_id", job.getAttribute("data-job-id"));
    follow(p, function (j) {
      if (j.state === "completed" || j.state === "failed") {
        // The results, charge and player are rendered by the server.
        window.location.reload();
        return;
      }
      var st = job.querySelector(".state");
      st.textContent = j.state;
      st.className = "state s-" + j.state;
      var n = pct(j.progress, j.state);
      job.querySelector(".fill").style.width = n + "%";
      job.querySelector(".pct").textContent = n + "%";
    });
  }
})();
