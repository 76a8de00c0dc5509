/* Shows a bundle's report (SteleBundle.verify) in a page: text only, never markup from the
   bundle. Used by the inspector's page and by the offline verifier. */
"use strict";
var SteleVerifyPage = (function () {
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function verdict(value) {
    return el("span", value, "verdict " + String(value).toLowerCase());
  }

  /* Verify the ZIP `bytes` against `logKey` (and the `document`, if given) and show it. */
  async function run(container, bytes, logKey, documentBytes) {
    container.replaceChildren(el("p", "…"));
    var report;
    try {
      var files = await SteleZip.read(bytes);
      report = await SteleBundle.verify(files, {logKey: logKey || null,
                                                document: documentBytes || null,
                                                sourceLogKey: null});
    } catch (err) {
      report = {verdict: "FAILED", summary: {},
                checks: [{name: "bundle", verdict: "FAILED", code: "malformed",
                          detail: err && err.message ? err.message : String(err)}]};
    }
    show(container, report);
    return report;
  }

  /* The same bundle verified in full by the node (timestamps and signatures too). */
  async function server(container, bytes) {
    container.replaceChildren(el("p", "…"));
    var answer = await fetch("/inspect/bundle", {method: "POST", body: bytes,
                                                 credentials: "same-origin",
                                                 headers: {"Content-Type": "application/zip"}});
    var body = await answer.json();
    var report = answer.ok ? {
      verdict: body.bottom_line, summary: body.summary || {},
      checks: body.checks.map(function (c) {
        return {name: c.name, verdict: c.verdict, code: c.code || null, detail: c.message || ""};
      })
    } : {verdict: "FAILED", summary: {}, checks: [{name: "bundle", verdict: "FAILED",
                                                    code: body.code, detail: body.detail}]};
    show(container, report, "server");
    return report;
  }

  function show(container, report, where) {
    var box = el("div", null, "verdict-box " + report.verdict.toLowerCase());
    box.id = (where || "browser") + "-verdict";
    box.dataset.verdict = report.verdict;
    box.appendChild(verdict(report.verdict));
    var summary = report.summary || {};
    if (summary.checked_verdict) {
      // what the browser did check (all but timestamps and signatures), and its bottom line
      box.dataset.checked = summary.checked_verdict;
      var checked = el("p", null);
      checked.append(document.createTextNode(container.dataset.checkedLabel || "checked here: "),
                     verdict(summary.checked_verdict));
      box.appendChild(checked);
    }
    if (summary.record) box.appendChild(el("p", "record " + summary.record));
    var list = el("ul", null, "checks");
    list.id = (where || "browser") + "-checks";
    report.checks.forEach(function (c) {
      var item = el("li");
      item.dataset.check = c.name;
      item.dataset.verdict = c.verdict;
      if (c.code) item.dataset.code = c.code;
      item.appendChild(verdict(c.verdict));
      item.appendChild(el("code", " " + c.name + " "));
      if (c.code) item.appendChild(el("code", c.code, "code"));
      if (c.detail) item.appendChild(el("span", " " + c.detail));
      list.appendChild(item);
    });
    container.replaceChildren(box, list);
  }

  return {run: run, server: server, show: show};
})();
