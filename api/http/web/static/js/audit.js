/* The auditor's live audit: the server streams JSON lines (progress, then the report). */
"use strict";
(function () {
  var button = document.getElementById("run-audit");
  if (!button) return;
  var bar = document.getElementById("audit-progress");
  var status = document.getElementById("audit-status");
  var list = document.getElementById("audit-report");

  function item(check) {
    var li = document.createElement("li");
    li.dataset.check = check.name;
    var v = document.createElement("span");
    v.className = "verdict " + check.verdict.toLowerCase();
    v.textContent = check.verdict;
    var name = document.createElement("code");
    name.textContent = " " + check.name + (check.code ? " " + check.code : "");
    li.append(v, name);
    return li;
  }

  function handle(msg) {
    if (msg.total !== undefined) {
      bar.max = Math.max(1, msg.total);
      bar.value = msg.done;
      status.textContent = button.dataset.running + " " + msg.done + " / " + msg.total;
    } else if (msg.report) {
      bar.value = bar.max;
      status.textContent = msg.report.bottom_line;
      status.dataset.verdict = msg.report.bottom_line;
      list.replaceChildren.apply(list, msg.report.checks.map(item));
    } else if (msg.error) {
      status.textContent = "error: " + msg.error;
      status.dataset.verdict = "ERROR";
    }
  }

  button.addEventListener("click", async function () {
    button.disabled = true;
    bar.hidden = false;
    list.replaceChildren();
    var answer = await fetch("/audit/run", {credentials: "same-origin"});
    var reader = answer.body.getReader(), decoder = new TextDecoder(), buffered = "";
    for (;;) {
      var part = await reader.read();
      if (part.done) break;
      buffered += decoder.decode(part.value, {stream: true});
      var lines = buffered.split("\n");
      buffered = lines.pop();
      lines.filter(Boolean).forEach(function (l) { handle(JSON.parse(l)); });
    }
    button.disabled = false;
  });
})();
