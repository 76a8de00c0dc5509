/* The offline verifier's page: a bundle and, optionally, its document, verified here against
   the log key pasted (pinned). Works opened from a file saved to disk. */
"use strict";
(function () {
  var bundle = document.getElementById("bundle");
  var doc = document.getElementById("document");
  var go = document.getElementById("verify");
  go.addEventListener("click", async function () {
    if (!bundle.files[0]) return;
    var bytes = new Uint8Array(await bundle.files[0].arrayBuffer());
    var documentBytes = doc.files[0] ? new Uint8Array(await doc.files[0].arrayBuffer()) : null;
    await SteleVerifyPage.run(document.getElementById("report"), bytes,
                              document.getElementById("log-key").value.trim(), documentBytes);
  });
})();
