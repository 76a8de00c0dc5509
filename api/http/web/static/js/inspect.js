/* The inspector's page: a dropped or picked PDF is hashed here (it never leaves the machine)
   and its digest looked up; a dropped evidence bundle (ZIP) is verified here. */
"use strict";
(function () {
  var drop = document.getElementById("drop");
  var input = document.getElementById("file");
  var bar = document.getElementById("hashing");
  var status = document.getElementById("hash-status");
  var digest = document.getElementById("digest");
  var form = document.getElementById("lookup");
  var result = document.getElementById("bundle-result");

  async function isZip(file) {
    var head = new Uint8Array(await file.slice(0, 4).arrayBuffer());
    return head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4;
  }

  var bundle = null;  // the last bundle dropped, for the server's check
  document.getElementById("server-verify").addEventListener("click", function () {
    if (bundle) SteleVerifyPage.server(document.getElementById("server-report"), bundle);
  });

  async function take(file) {
    if (!file) return;
    if (await isZip(file)) {
      result.hidden = false;
      bundle = new Uint8Array(await file.arrayBuffer());
      document.getElementById("server-report").replaceChildren();
      var key = document.getElementById("log-key").value.trim();
      await SteleVerifyPage.run(document.getElementById("bundle-report"), bundle, key, null);
      result.scrollIntoView();
      return;
    }
    bar.hidden = false;
    bar.value = 0;
    status.textContent = file.name;
    var started = performance.now();
    var hex = await SteleSha256.file(file, function (done, total) {
      bar.value = total ? Math.round(100 * done / total) : 100;
    });
    var seconds = (performance.now() - started) / 1000;
    status.textContent = file.name + ": sha-256:" + hex + " (" + seconds.toFixed(2) + " s)";
    status.dataset.seconds = String(seconds);
    digest.value = hex;
    if (!drop.dataset.noSubmit) form.submit();
  }

  input.addEventListener("change", function () { take(input.files[0]); });
  drop.addEventListener("dragover", function (e) { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", function () { drop.classList.remove("over"); });
  drop.addEventListener("drop", function (e) {
    e.preventDefault();
    drop.classList.remove("over");
    take(e.dataTransfer.files[0]);
  });
})();
