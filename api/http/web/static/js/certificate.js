/* The committee's register form: a picked PEM file is pasted as is, a DER file as base64. */
"use strict";
(function () {
  var input = document.getElementById("certificate-file");
  if (!input) return;
  input.addEventListener("change", async function () {
    var file = input.files[0];
    if (!file) return;
    var bytes = new Uint8Array(await file.arrayBuffer());
    var text = new TextDecoder().decode(bytes);
    if (text.indexOf("-----BEGIN CERTIFICATE-----") >= 0) {
      document.getElementById("certificate").value = text;
      return;
    }
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    document.getElementById("certificate").value = btoa(binary);
  });
})();
