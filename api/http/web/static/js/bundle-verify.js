/* SteleBundle: the verifier of evidence bundles (docs/evidence-bundle.md), in the browser.
 *
 * A classic script with no dependency (no module, no fetch, no build step), so that a page
 * saved to disk and opened from file:// still works; it defines the one global `SteleBundle`
 * and touches no DOM.
 *
 *   const report = await SteleBundle.verify(await SteleZip.read(buffer),
 *                                           {logKey, document, sourceLogKey});
 *   // {verdict, checks: [{name, verdict, code, detail}], summary}
 *
 * It follows verifiers/bundle.py step by step, with the same check names, verdicts and stable
 * codes (tests/web/test_browser_verifier.py holds the two to agreement on the tamper matrix),
 * for everything a browser can prove with SHA-256 and Ed25519 (WebCrypto) alone:
 * (1) the manifest and the files it lists; (2) the record's event chain, each event a
 * canonical envelope (RFC 8785); (2b) for a received record, the sender's bundle, verified
 * in full against `sourceLogKey`, and its link to `record.received`; (3) the log key: the
 * one the caller pinned, never the bundle's; (4) each checkpoint note (C2SP signed note,
 * Ed25519); (4b) the witnessed checkpoint and the RFC 9162 consistency proofs to it (its
 * cosigners are not checked: no witness policy here); (5) each event's RFC 9162 inclusion
 * proof; (8) the document's digest.
 *
 * Steps 6 (the RFC 4998 evidence records and RFC 3161 timestamps: the proof of existence) and
 * 7 (the CMS/PAdES signatures, validated as of it) need certificate path validation,
 * revocation data and trusted roots: they are one INDETERMINATE check, `browser.scope`
 * (`not_checked_in_browser`), so a bundle is at best INDETERMINATE here. Where the Python
 * verifier stops at input of the wrong shape in those steps (`bundle.evidence`,
 * `bundle.signatures`: `malformed`), this one stops as well, so that both report the same.
 *
 * The JSON of a bundle is read as Python's verifier reads it, so that both agree on edited
 * manifests too: `true == 1` where Python compares, `str()` of a value in a check's name
 * (`checkpoint[None]`), and a list where Python needs a dict key is the step's `malformed`.
 */
var SteleBundle = (function () {
  "use strict";

  var FORMAT = "stele-evidence-bundle";
  var VERSION = 1;
  var KINDS = ["event", "inclusion_proof", "checkpoint", "timestamp", "evidence_record", "signature",
               "certificate", "crl", "ocsp", "anchor", "document", "source_bundle"];
  var RECEIVED = "record.received";
  var ENVELOPE_FIELDS = ["actor", "at", "data", "prev", "record", "type", "v", "version"];
  var SAFE_INT = 9007199254740991; // 2**53 - 1: the I-JSON range of Stele's integers
  var MAX_SIZE = (BigInt(1) << BigInt(64)) - BigInt(1); // tree sizes and indexes are uint64
  var MAX_SIGNATURES = 100;
  var SIG_PREFIX = "\u2014 "; // em dash, space
  var PASSED = "PASSED", FAILED = "FAILED", INDETERMINATE = "INDETERMINATE";
  var SCOPE = "the proof of existence (each checkpoint's RFC 4998 evidence records and RFC 3161 " +
    "timestamps) and the document signatures (CMS/PAdES, validated as of that proof) are not " +
    "checked in the browser: they need trusted roots and the validation of certificates, " +
    "revocation data and timestamps that `stele verify` does (and the node's inspector " +
    "page, when it is given the bundle)";

  // -- errors: what a step can meet -----------------------------------------------------------
  // A finding with a stable code (Python's VerificationError and its subclasses).
  class Coded extends Error {
    constructor(code, message, evidence) {
      super(message);
      this.code = code;
      this.evidence = evidence || {};
    }
  }
  // Input not shaped as the format says, where the Python verifier meets a KeyError,
  // TypeError or AttributeError: the step's `malformed`, and nothing further is checked.
  class Shape extends Error {}
  // Nothing further can be checked (no manifest, no events).
  class Stop extends Error {}

  function malformed(message, evidence) {
    return new Coded("malformed", message, evidence);
  }

  // -- bytes ----------------------------------------------------------------------------------
  var BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

  function utf8(text) {
    return new TextEncoder().encode(text);
  }

  // Strict UTF-8, keeping a byte order mark as U+FEFF (as Python's bytes.decode does).
  function fromUtf8(bytes) {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  }

  function concat() {
    var parts = Array.prototype.slice.call(arguments), length = 0, at = 0;
    parts.forEach(function (p) { length += p.length; });
    var out = new Uint8Array(length);
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }

  function equalBytes(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function hex(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  function b64(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i += 3) {
      var n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
      out += BASE64[n >> 18 & 63] + BASE64[n >> 12 & 63] +
        (i + 1 < bytes.length ? BASE64[n >> 6 & 63] : "=") + (i + 2 < bytes.length ? BASE64[n & 63] : "=");
    }
    return out;
  }

  /* Standard base64 in its one canonical form, as verifiers/canonical.py's unb64: padded
   * quanta of four, nothing else in the text, the pad bits zero. With `length`, that many
   * bytes. */
  var CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

  function unb64(text, length) {
    if (typeof text !== "string") throw new Shape("base64 of something that is not text");
    if (!CANONICAL_BASE64.test(text)) throw malformed("bad base64: not padded standard base64");
    var values = [];
    for (var i = 0; i < text.length && text[i] !== "="; i++) values.push(BASE64.indexOf(text[i]));
    var tail = values.length % 4;  // 2 or 3 characters of a last, padded quantum
    var last = values[values.length - 1];
    if ((tail === 2 && (last & 15)) || (tail === 3 && (last & 3))) {
      throw malformed("bad base64: the pad bits are not zero");
    }
    var out = new Uint8Array(Math.floor(values.length * 3 / 4)), o = 0;
    for (var j = 0; j < values.length; j += 4) {
      var n = (values[j] << 18) | (values[j + 1] << 12) | ((values[j + 2] || 0) << 6) |
        (values[j + 3] || 0);
      out[o++] = n >> 16 & 255;
      if (j + 2 < values.length) out[o++] = n >> 8 & 255;
      if (j + 3 < values.length) out[o++] = n & 255;
    }
    if (length !== undefined && out.length !== length) {
      throw malformed("expected " + length + " bytes, got " + out.length);
    }
    return out;
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  // The `sha-256:<hex>` form of digests (docs/formats.md), once per file: a bundle's document
  // is hashed by several steps, and by the sender's bundle's too.
  var DIGESTS = new WeakMap();

  async function digestOf(bytes) {
    if (!DIGESTS.has(bytes)) DIGESTS.set(bytes, "sha-256:" + hex(await sha256(bytes)));
    return DIGESTS.get(bytes);
  }

  // -- JSON as the Python verifier reads it ---------------------------------------------------
  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function has(object, key) {
    return isObject(object) && Object.prototype.hasOwnProperty.call(object, key);
  }

  function get(object, key) { // dict.get: null when absent
    return has(object, key) ? object[key] : null;
  }

  function dicts(value) { // bundle.py _list: the objects of a list, or nothing
    return Array.isArray(value) ? value.filter(isObject) : [];
  }

  // Python's `==` on JSON values: true == 1 and false == 0, lists and objects member by member.
  function same(a, b) {
    if (typeof a === "boolean") a = a ? 1 : 0;
    if (typeof b === "boolean") b = b ? 1 : 0;
    if (a === b) return true;
    if (Array.isArray(a) || Array.isArray(b)) {
      return Array.isArray(a) && Array.isArray(b) && a.length === b.length &&
        a.every(function (x, i) { return same(x, b[i]); });
    }
    if (isObject(a) && isObject(b)) {
      var keys = Object.keys(a);
      return keys.length === Object.keys(b).length &&
        keys.every(function (k) { return has(b, k) && same(a[k], b[k]); });
    }
    return false;
  }

  // A JSON value as a key of a Python dict (true is 1); a list or object has no hash.
  function key(value) {
    if (Array.isArray(value) || isObject(value)) throw new Shape("unhashable type: " + pyRepr(value));
    return typeof value === "boolean" ? (value ? 1 : 0) : value;
  }

  // What Python's `for x in value` goes through: a list, an object's keys, a text's characters.
  function iterate(value) {
    if (Array.isArray(value)) return value;
    if (isObject(value)) return Object.keys(value);
    if (typeof value === "string") return Array.from(value);
    throw new Shape(pyRepr(value) + " is not iterable");
  }

  // Python's str() of a JSON value, as the Python verifier writes it into check names.
  function pyStr(value) {
    return typeof value === "string" ? value : pyRepr(value);
  }

  function pyRepr(value) {
    if (value === null || value === undefined) return "None";
    if (typeof value === "boolean") return value ? "True" : "False";
    if (typeof value === "number") {
      return Number.isInteger(value) ? BigInt(value).toString() : String(value);
    }
    if (Array.isArray(value)) return "[" + value.map(pyRepr).join(", ") + "]";
    if (isObject(value)) {
      return "{" + Object.keys(value).map(function (k) { return pyRepr(k) + ": " + pyRepr(value[k]); })
        .join(", ") + "}";
    }
    var quote = value.indexOf("'") >= 0 && value.indexOf('"') < 0 ? '"' : "'";
    return quote + value.replace(/[\\\n\r\t\x00-\x1f\x7f]/g, function (c) {
      return { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" }[c] ||
        "\\x" + (c.charCodeAt(0) < 16 ? "0" : "") + c.charCodeAt(0).toString(16);
    }).split(quote).join("\\" + quote) + quote;
  }

  // json.loads of bytes: UTF-8 (a byte order mark allowed), any JSON value.
  function readJson(bytes) {
    if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
      bytes = bytes.subarray(3);
    }
    return JSON.parse(fromUtf8(bytes));
  }

  // -- canonical envelopes (docs/formats.md sections 1 to 3; verifiers/canonical.py, chain.py) --
  var LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?:^|[^\ud800-\udbff])[\udc00-\udfff]/;

  /* RFC 8785 canonical JSON of a Stele JSON value: members sorted by UTF-16 code units (what
   * Array.prototype.sort does), strings escaped as JSON.stringify escapes them (only `"`, `\`
   * and the C0 controls, lowercase \u00xx), integers only, within +-(2**53 - 1). */
  function canonical(value) {
    if (value === null || typeof value === "boolean") return String(value);
    if (typeof value === "number") {
      if (!Number.isInteger(value)) throw malformed("fractional numbers have no place in Stele's JSON");
      if (Math.abs(value) > SAFE_INT) throw malformed("integer outside +-(2**53 - 1)", { value: value });
      return String(value);
    }
    if (typeof value === "string") {
      if (LONE_SURROGATE.test(value)) throw malformed("value has no canonical JSON form: a lone surrogate");
      return JSON.stringify(value);
    }
    if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
    return "{" + Object.keys(value).sort().map(function (k) {
      return canonical(k) + ":" + canonical(value[k]);
    }).join(",") + "}";
  }

  // parse_canonical: a JSON object whose bytes are already its RFC 8785 form.
  function parseCanonical(bytes) {
    var text, value;
    try {
      text = fromUtf8(bytes);
      value = JSON.parse(text);
    } catch (e) {
      throw malformed("not JSON: " + e.message);
    }
    if (!isObject(value)) throw malformed("not a JSON object");
    if (canonical(value) !== text) throw malformed("JSON is not in RFC 8785 canonical form");
    return value;
  }

  // parse_envelope: the eight members of docs/formats.md section 2.
  function parseEnvelope(bytes) {
    var value = parseCanonical(bytes);
    var fields = Object.keys(value).sort();
    if (fields.length !== ENVELOPE_FIELDS.length ||
        fields.some(function (f, i) { return f !== ENVELOPE_FIELDS[i]; })) {
      throw malformed("envelope fields differ from v, record, version, type, at, actor, prev, data",
                      { fields: fields });
    }
    if (!same(value.v, 1)) throw malformed("unknown envelope version", { v: value.v });
    if (typeof value.version !== "number" || value.version < 1) {
      throw malformed("version must be a positive integer", { version: value.version });
    }
    if (typeof value.record !== "string" || typeof value.type !== "string") {
      throw malformed("record and type must be strings");
    }
    if (!isObject(value.data) || !isObject(value.actor)) throw malformed("data and actor must be objects");
    if (value.prev !== null && typeof value.prev !== "string") {
      throw malformed("prev must be base64 text or null");
    }
    return value;
  }

  // What a record's first event links to: nothing, or for `record.received` the sender's last.
  function sourceHead(envelope) {
    if (envelope.type !== RECEIVED) return null;
    var head = get(get(envelope.data, "source"), "head");
    if (typeof head !== "string") throw malformed("a received record's first event names no source head");
    return head;
  }

  // verify_chain: each event continues its record's chain; one record in all.
  async function verifyChain(events) {
    var heads = new Map(), envelopes = [];
    for (var i = 0; i < events.length; i++) {
      var envelope = parseEnvelope(events[i]);
      var head = heads.get(envelope.record);
      var expectedVersion = head === undefined ? 1 : head.version + 1;
      var expectedPrev = head !== undefined ? head.hash : sourceHead(envelope);
      if (envelope.version !== expectedVersion) {
        throw new Coded("chain_broken", "event version does not follow the previous one",
                        { record: envelope.record, expected: expectedVersion, found: envelope.version });
      }
      if (envelope.prev !== expectedPrev) {
        throw new Coded("chain_broken", "prev does not name the previous event's hash",
                        { record: envelope.record, version: envelope.version, expected: expectedPrev,
                          found: envelope.prev });
      }
      heads.set(envelope.record, { version: envelope.version, hash: b64(await sha256(events[i])) });
      envelopes.push(envelope);
    }
    if (heads.size !== 1) {
      throw new Coded("chain_broken", "events of more than one record",
                      { records: Array.from(heads.keys()).sort() });
    }
    return envelopes;
  }

  // -- signed notes and checkpoints (docs/formats.md section 8; verifiers/note.py) -------------
  var CONTROL = /[\x00-\x09\x0b-\x1f]/;
  var SPACE = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/; // str.isspace

  function checkName(name) {
    if (typeof name !== "string" || !name) throw malformed("key name must be a non-empty string");
    if (name.indexOf("+") >= 0 || SPACE.test(name) || CONTROL.test(name) || LONE_SURROGATE.test(name)) {
      throw malformed("key name contains a space, a '+' or a control character", { name: name });
    }
    return name;
  }

  // key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4]
  async function keyId(name, publicKey) {
    return (await sha256(concat(utf8(name), new Uint8Array([0x0a, 0x01]), publicKey))).slice(0, 4);
  }

  /* A verifier key `<name>+<8 hex key ID>+<base64(0x01 || 32-byte key)>`, its ID checked
   * against its name and key. (Whether the 32 bytes are a usable Ed25519 point shows when a
   * signature is verified with them.) */
  async function parseVerifierKey(text) {
    if (typeof text !== "string") throw malformed("verifier key must be a string");
    var first = text.indexOf("+"), second = first < 0 ? -1 : text.indexOf("+", first + 1);
    if (second < 0) throw malformed("verifier key is not <name>+<key id>+<key>");
    var name = checkName(text.slice(0, first)), id = text.slice(first + 1, second);
    if (!/^[0-9a-f]{8}$/.test(id)) {
      throw malformed("verifier key ID is not 8 lowercase hex digits", { key_id: id });
    }
    var encoded = unb64(text.slice(second + 1));
    if (!encoded.length) throw malformed("verifier key has no key data");
    if (encoded[0] !== 0x01) {
      throw malformed("verifier key algorithm is not Ed25519 (0x01)", { alg: encoded[0] });
    }
    if (encoded.length !== 33) throw malformed("an Ed25519 public key is 32 bytes");
    var publicKey = encoded.slice(1), kid = await keyId(name, publicKey);
    if (hex(kid) !== id) {
      throw malformed("verifier key ID does not match its name and key", { expected: id, found: hex(kid) });
    }
    return { name: name, keyId: kid, publicKey: publicKey, text: text, crypto: null };
  }

  function checkNoteText(text, what) {
    if (CONTROL.test(text)) {
      throw malformed(what + " contains an ASCII control character other than newline");
    }
  }

  // split_note: the text (with its final newline) and the signature lines, none verified.
  function splitNote(note) {
    var message;
    try {
      message = fromUtf8(note);
    } catch (e) {
      throw malformed("note is not valid UTF-8");
    }
    checkNoteText(message, "note");
    var split = message.lastIndexOf("\n\n");
    if (split < 0) throw malformed("note has no blank line before its signatures");
    var text = message.slice(0, split + 1), block = message.slice(split + 2);
    if (!block || !block.endsWith("\n")) {
      throw malformed("note's signature block is empty or does not end in a newline");
    }
    var lines = block.slice(0, -1).split("\n");
    if (lines.length > MAX_SIGNATURES) {
      throw malformed("note has too many signatures", { count: lines.length });
    }
    var signatures = lines.map(function (line) {
      if (!line.startsWith(SIG_PREFIX)) {
        throw malformed("signature line does not start with an em dash and a space");
      }
      var rest = line.slice(SIG_PREFIX.length), space = rest.indexOf(" ");
      var name = checkName(space < 0 ? rest : rest.slice(0, space));
      var encoded = space < 0 ? "" : rest.slice(space + 1);
      if (!encoded) throw malformed("signature line has no signature", { name: name });
      var raw = unb64(encoded);
      if (raw.length < 5) {
        throw malformed("signature is shorter than a key ID and one byte", { name: name });
      }
      return { name: name, keyId: raw.slice(0, 4), signature: raw.slice(4) };
    });
    return { text: text, signatures: signatures };
  }

  async function ed25519Verify(key, message, signature) {
    if (signature.length !== 64) return false;
    try {
      key.crypto = key.crypto ||
        await crypto.subtle.importKey("raw", key.publicKey, { name: "Ed25519" }, false, ["verify"]);
      return await crypto.subtle.verify({ name: "Ed25519" }, key.crypto, signature, message);
    } catch (e) {
      return false; // 32 bytes that are no Ed25519 public key verify nothing
    }
  }

  /* open_note with the one trusted key: its signatures must verify (else `note_invalid`
   * naming the key), and there must be one (else `note_invalid` naming the signers). */
  async function openNote(note, trusted) {
    var split = splitNote(note), message = utf8(split.text), verified = false;
    for (var i = 0; i < split.signatures.length; i++) {
      var sig = split.signatures[i];
      if (sig.name !== trusted.name || !equalBytes(sig.keyId, trusted.keyId)) continue;
      if (!(await ed25519Verify(trusted, message, sig.signature))) {
        throw new Coded("note_invalid", "signature by a trusted key does not verify",
                        { name: sig.name, key_id: hex(sig.keyId) });
      }
      verified = true;
    }
    if (!verified) {
      throw new Coded("note_invalid", "note has no signature from a trusted key", {
        signers: split.signatures.map(function (s) { return s.name + "+" + hex(s.keyId); }).join(","),
      });
    }
    return split.text;
  }

  // parse_checkpoint: origin, tree size (decimal, no leading zeros, < 2**64), canonical base64 root.
  function parseCheckpoint(text) {
    if (!text.endsWith("\n")) throw malformed("checkpoint must be a string ending in a newline");
    checkNoteText(text, "checkpoint");
    var lines = text.slice(0, -1).split("\n");
    if (lines.length < 3) throw malformed("checkpoint has fewer than three lines", { lines: lines.length });
    if (lines.some(function (line) { return !line; })) throw malformed("checkpoint has an empty line");
    if (!/^(0|[1-9][0-9]{0,19})$/.test(lines[1])) {
      throw malformed("tree size is not a decimal without leading zeros", { size: lines[1] });
    }
    if (BigInt(lines[1]) > MAX_SIZE) {
      throw malformed("tree size does not fit in 64 bits", { size: lines[1] });
    }
    var root = unb64(lines[2], 32);
    if (b64(root) !== lines[2]) throw malformed("root hash is not in canonical base64", { root: lines[2] });
    return { origin: lines[0], size: Number(lines[1]), root: root };
  }

  // -- RFC 9162 Merkle proofs (verifiers/merkle.py), in BigInt: indexes and sizes are uint64 -----
  var ZERO = BigInt(0), ONE = BigInt(1);

  function proofError(message, evidence) {
    return new Coded("proof_invalid", message, evidence);
  }

  function uint64(what, value) {
    if (typeof value !== "number" || !Number.isInteger(value)) {
      throw proofError(what + " must be an integer");
    }
    var n = BigInt(value);
    if (n < ZERO || n > MAX_SIZE) throw proofError(what + " is outside [0, 2**64)", { value: value });
    return n;
  }

  function bitLength(n) {
    return n === ZERO ? 0 : n.toString(2).length;
  }

  function bitCount(n) {
    return n.toString(2).split("1").length - 1;
  }

  async function leafHash(leaf) { // SHA-256(0x00 || leaf)
    return sha256(concat(new Uint8Array([0]), leaf));
  }

  async function nodeHash(left, right) { // SHA-256(0x01 || left || right)
    return sha256(concat(new Uint8Array([1]), left, right));
  }

  function rootMismatch(expected, calculated) {
    return new Coded("root_mismatch", "calculated root differs from the expected root",
                     { expected: hex(expected), calculated: hex(calculated) });
  }

  // RFC 9162 section 2.1.3.2: the root an inclusion proof leads to, checked against `root`.
  async function verifyInclusion(index, size, leaf, proof, root) {
    var fn = uint64("index", index), sn = uint64("size", size);
    if (fn >= sn) throw proofError("leaf index is not below the tree size", { index: index, size: size });
    var inner = bitLength(fn ^ (sn - ONE)), want = inner + bitCount(fn >> BigInt(inner));
    if (proof.length !== want) {
      throw proofError("inclusion proof has the wrong length", { length: proof.length, want: want });
    }
    var r = leaf;
    sn -= ONE;
    for (var i = 0; i < proof.length; i++) {
      if (sn === ZERO) throw proofError("inclusion proof is too long", { index: index, size: size });
      if ((fn & ONE) || fn === sn) {
        r = await nodeHash(proof[i], r);
        while (fn !== ZERO && !(fn & ONE)) { fn >>= ONE; sn >>= ONE; }
      } else {
        r = await nodeHash(r, proof[i]);
      }
      fn >>= ONE;
      sn >>= ONE;
    }
    if (sn !== ZERO) throw proofError("inclusion proof is too short", { index: index, size: size });
    if (!equalBytes(r, root)) throw rootMismatch(root, r);
  }

  // RFC 9162 section 2.1.4.2, with verify_consistency's edges (equal sizes, the empty tree).
  async function verifyConsistency(size1, size2, proof, root1, root2) {
    var m = uint64("size1", size1), n = uint64("size2", size2);
    if (m > n) throw proofError("size1 is larger than size2", { size1: size1, size2: size2 });
    if (m === n) {
      if (proof.length) throw proofError("equal tree sizes need an empty proof", { length: proof.length });
      if (!equalBytes(root1, root2)) throw rootMismatch(root1, root2);
      var empty = await sha256(new Uint8Array(0));
      if (m === ZERO && !equalBytes(root1, empty)) throw rootMismatch(empty, root1);
      return;
    }
    if (m === ZERO) {
      var none = await sha256(new Uint8Array(0));
      if (proof.length) {
        throw proofError("a proof from the empty tree must be empty", { length: proof.length });
      }
      if (!equalBytes(root1, none)) throw rootMismatch(none, root1);
      return;
    }
    var shift = bitLength(m & -m) - 1;
    var seed = m === ONE << BigInt(shift) ? 0 : 1;
    var inner = bitLength((m - ONE) ^ (n - ONE));
    var want = seed + inner + bitCount((m - ONE) >> BigInt(inner)) - shift;
    if (proof.length !== want) {
      throw proofError("consistency proof has the wrong length", { length: proof.length, want: want });
    }
    var path = (m & (m - ONE)) === ZERO ? [root1].concat(proof) : proof.slice();
    var fn = m - ONE, sn = n - ONE;
    while (fn & ONE) { fn >>= ONE; sn >>= ONE; }
    var fr = path[0], sr = path[0];
    for (var i = 1; i < path.length; i++) {
      if (sn === ZERO) throw proofError("consistency proof is too long", { size1: size1, size2: size2 });
      if ((fn & ONE) || fn === sn) {
        fr = await nodeHash(path[i], fr);
        sr = await nodeHash(path[i], sr);
        while (fn !== ZERO && !(fn & ONE)) { fn >>= ONE; sn >>= ONE; }
      } else {
        sr = await nodeHash(sr, path[i]);
      }
      fn >>= ONE;
      sn >>= ONE;
    }
    if (sn !== ZERO) throw proofError("consistency proof is too short", { size1: size1, size2: size2 });
    if (!equalBytes(fr, root1)) throw rootMismatch(root1, fr);
    if (!equalBytes(sr, root2)) throw rootMismatch(root2, sr);
  }

  // -- one verification: its inputs, the checks so far, and what the steps learned -------------
  function Run(files, options) {
    this.files = files;
    this.document = options.document;
    this.pinned = options.logKey;
    this.sourceKeys = options.sourceKeys; // origin -> verifier key, as bundle.py's source_keys
    this.checks = [];
    this.manifest = {};
    this.events = new Map(); // version -> envelope
    this.raw = new Map();    // version -> bytes
    this.key = null;         // the log key the notes are checked with
    this.roots = new Map();  // checkpoint size -> root
    this.summary = {};
  }

  Run.prototype.add = function (name, verdict, code, message, evidence) {
    this.checks.push({ name: name, verdict: verdict, code: code || null, message: message || "",
                       evidence: evidence || {} });
  };
  Run.prototype.ok = function (name, evidence) { this.add(name, PASSED, null, "", evidence); };
  Run.prototype.fail = function (name, code, message, evidence) {
    this.add(name, FAILED, code, message, evidence);
  };
  Run.prototype.unsure = function (name, code, message, evidence) {
    this.add(name, INDETERMINATE, code, message, evidence);
  };
  Run.prototype.file = function (path) {
    return typeof path === "string" && this.files.has(path) ? this.files.get(path) : null;
  };
  Run.prototype.givenOrBundledDocument = function () {
    return this.document !== null ? this.document : this.file(get(this.manifest, "document"));
  };
  // The content digest of the first event (`record.created`): the events are proven, the manifest not.
  Run.prototype.registeredDigest = function () {
    var content = get(this.events.has(1) ? this.events.get(1).data : {}, "content");
    return isObject(content) ? get(content, "digest") : null;
  };

  // -- (1) the manifest and the files it lists ------------------------------------------------
  async function manifestStep(run) {
    var raw = run.files.has("manifest.json") ? run.files.get("manifest.json") : null;
    if (raw === null) {
      run.fail("bundle.manifest", "manifest_missing", "the bundle has no manifest.json");
      throw new Stop();
    }
    var manifest;
    try {
      manifest = readJson(raw);
    } catch (e) {
      run.fail("bundle.manifest", "malformed", "manifest.json is not JSON: " + e.message);
      throw new Stop();
    }
    if (!isObject(manifest) || get(manifest, "format") !== FORMAT) {
      run.fail("bundle.manifest", "malformed", "not a " + FORMAT + " manifest");
      throw new Stop();
    }
    if (!same(get(manifest, "version"), VERSION)) {
      run.fail("bundle.manifest", "unsupported_version", "bundle format version " +
               pyRepr(get(manifest, "version")) + "; this verifier reads " + VERSION);
      throw new Stop();
    }
    run.manifest = manifest;
    var listed = get(manifest, "files");
    if (!Array.isArray(listed)) {
      run.fail("bundle.manifest", "malformed", "the manifest lists no files");
      throw new Stop();
    }
    var missing = [], altered = [], unknown = [];
    for (var i = 0; i < listed.length; i++) {
      var entry = listed[i], path = isObject(entry) ? get(entry, "path") : null, data = run.file(path);
      if (data === null) missing.push(path);
      else if ((await digestOf(data)).slice("sha-256:".length) !== get(entry, "sha256") ||
               !same(get(entry, "size"), data.length)) {
        altered.push(path);
      } else if (KINDS.indexOf(get(entry, "kind")) < 0) unknown.push(path);
    }
    if (missing.length) {
      run.fail("bundle.files", "file_missing", "files the manifest lists are missing", { files: missing });
    }
    if (altered.length) {
      run.fail("bundle.files", "file_digest_mismatch",
               "files differ from the SHA-256 and size the manifest gives", { files: altered });
    }
    if (unknown.length) {
      run.fail("bundle.files", "malformed", "files of a kind this format does not define",
               { files: unknown });
    }
    if (!missing.length && !altered.length && !unknown.length) {
      run.ok("bundle.files", { count: listed.length });
    }
    run.summary.record = get(manifest, "record");
    run.summary.origin = get(manifest, "origin");
  }

  // -- (2) the record's events: every hash and `prev` link, from the first to the last ---------
  async function eventsStep(run) {
    var entries = get(run.manifest, "events");
    if (!Array.isArray(entries) || !entries.length) {
      run.fail("events.chain", "events_missing", "the bundle holds no events");
      throw new Stop();
    }
    var raw = [];
    entries.forEach(function (entry, i) {
      var data = run.file(isObject(entry) ? get(entry, "event") : null);
      if (data === null || !same(get(entry, "version"), i + 1)) {
        run.fail("events.chain", "event_missing", "event " + (i + 1) + " is missing or out of order",
                 { version: i + 1 });
        throw new Stop();
      }
      raw.push(data);
    });
    var envelopes;
    try {
      envelopes = await verifyChain(raw);
    } catch (e) {
      if (!(e instanceof Coded)) throw e;
      run.fail("events.chain", e.code, e.message, e.evidence);
      throw new Stop();
    }
    var first = envelopes[0].type;
    if (["record.created", RECEIVED, "dossier.opened"].indexOf(first) < 0 && !first.startsWith("trust.")) {
      run.fail("events.chain", "chain_incomplete", "the history starts with " + first +
               ", not with the record's creation", { first: first });
      throw new Stop();
    }
    if (!same(envelopes[0].record, get(run.manifest, "record"))) {
      run.fail("events.chain", "record_mismatch", "the events are another record's",
               { manifest: get(run.manifest, "record"), events: envelopes[0].record });
      throw new Stop();
    }
    envelopes.forEach(function (envelope, i) {
      run.events.set(i + 1, envelope);
      run.raw.set(i + 1, raw[i]);
    });
    run.ok("events.chain", { events: raw.length, first: first, last: envelopes[envelopes.length - 1].type });
    // What the proven events say, not what the (unsigned) manifest claims.
    run.summary.events = envelopes.map(function (e, i) {
      var shown = { version: i + 1, type: e.type, at: e.at };
      if (isObject(e.actor) && Object.keys(e.actor).length) shown.actor = e.actor;
      return shown;
    });
    run.summary.kind = first === "dossier.opened" ? "dossier" : "record";
    run.summary.destroyed = envelopes.some(function (e) { return e.type === "record.destroyed"; });
    var content = get(envelopes[0].data, "content");
    run.summary.content = isObject(content) ? content : null;
    run.summary.content_digest = run.registeredDigest();
  }

  // -- (2b) a received record: the sender's bundle, verified in full, and the link to it -------
  async function sourceStep(run) {
    var first = run.events.get(1);
    if (first.type !== RECEIVED) return;
    var source = get(first.data, "source");
    if (!isObject(source)) {
      run.fail("source.bundle", "malformed", "the received event names no source");
      return;
    }
    var data = run.file(get(run.manifest, "source"));
    if (data === null) {
      run.fail("source.bundle", "source_missing", "the bundle lacks the sender's bundle that the received " +
               "record's history continues");
      return;
    }
    var digest = await digestOf(data);
    if (digest !== get(source, "bundle")) {
      run.fail("source.bundle", "source_digest_mismatch", "the sender's bundle is not the one the receiving " +
               "log registered", { expected: get(source, "bundle"), found: digest });
      return;
    }
    var origin = pyStr(get(source, "origin"));
    if (typeof SteleZip === "undefined") { // zip.js is not loaded: nothing to read it with
      run.unsure("source.bundle", "source_not_checked", "the sender's bundle was not read: load zip.js");
      return;
    }
    // From here on what is wrong is the sender's bundle's: a finding of this step, never a
    // stop, so the receiving log's own checks (3)-(8) still run and show the forged event.
    var nestedFiles;
    try {
      nestedFiles = await SteleZip.read(data);
    } catch (e) {
      run.fail("source.bundle", "malformed", e.message);
      return;
    }
    var nested = new Run(nestedFiles, {
      document: run.givenOrBundledDocument(), sourceKeys: run.sourceKeys,
      logKey: run.sourceKeys.has(origin) ? run.sourceKeys.get(origin) : null });
    await verifyRun(nested);
    nested.checks.forEach(function (c) {
      run.checks.push(Object.assign({}, c, { name: "source." + c.name }));
    });
    var link;
    try {
      link = await sourceLink(nestedFiles, run, first, source, origin);
    } catch (e) {
      if (!(e instanceof Shape || e instanceof SyntaxError || e instanceof TypeError)) throw e;
      // its own checks (source.*) say what is missing; without it there is no link to show
      run.fail("source.link", "malformed",
               "the sender's bundle lacks the events and proofs the link is made of", { reason: e.message });
      return;
    }
    var broken = ["leaves", "origin", "prev", "record"].filter(function (k) { return !link[k]; });
    if (!broken.length) run.ok("source.link", { origin: origin, events: link.events });
    else {
      run.fail("source.link", "source_link_broken",
               "the received event does not continue the sender's history", { broken: broken });
    }
    run.summary.source = { origin: origin, events: nested.summary.events || null,
                           log_key: nested.summary.log_key || null };
  }

  // The sender's record, origin, leaf indexes and last event: those `record.received` continues.
  async function sourceLink(files, run, first, source, origin) {
    function member(path) {
      if (typeof path !== "string" || !files.has(path)) throw new Shape("no file " + pyRepr(path));
      return files.get(path);
    }
    var manifest = readJson(member("manifest.json"));
    if (!has(manifest, "events") || !Array.isArray(manifest.events)) throw new Shape("no list of events");
    var entries = manifest.events.map(function (e) {
      if (!has(e, "event") || !has(e, "proof")) throw new Shape("an event entry without its files");
      return e;
    });
    var raw = entries.map(function (e) { return member(e.event); });
    var leaves = entries.map(function (e) {
      var proof = readJson(member(e.proof));
      if (!has(proof, "leaf_index")) throw new Shape("a proof without its leaf index");
      return proof.leaf_index;
    });
    if (!raw.length) throw new Shape("no events");
    return { leaves: same(leaves, get(source, "leaves")),
             origin: same(get(manifest, "origin"), origin),
             prev: b64(await sha256(raw[raw.length - 1])) === first.prev,
             record: same(get(manifest, "record"), get(run.manifest, "record")),
             events: raw.length };
  }

  // -- (3) the log key: the caller's. The bundle's own is only what the bundle says of itself ----
  async function logKeyStep(run) {
    var bundled = get(run.manifest, "log_key"), pinned = run.pinned;
    run.summary.log_key = { pinned: pinned, bundled: bundled };
    if (pinned === null) {
      run.key = await parseVerifierKey(pyStr(bundled));
      run.unsure("log.key", "log_key_not_pinned", "no log key was pinned: the bundle's own key proves only " +
                 "that the bundle agrees with itself; pass the log's published key", { bundled: bundled });
      return;
    }
    run.key = await parseVerifierKey(pinned);
    if (bundled !== pinned) {
      run.fail("log.key", "log_key_mismatch", "the bundle's log key is not the one given",
               { given: pinned, bundled: bundled });
    } else run.ok("log.key", { key: pinned, pinned: true });
  }

  // -- (4) each checkpoint: signed by the log key, of the manifest's origin and its size -------
  async function checkpointsStep(run) {
    var entries = dicts(get(run.manifest, "checkpoints"));
    for (var i = 0; i < entries.length; i++) {
      var size = get(entries[i], "size"), name = "checkpoint[" + pyStr(size) + "]";
      var note = run.file(get(entries[i], "note"));
      if (note === null) {
        run.fail(name, "file_missing", "the checkpoint note is missing");
        continue;
      }
      var checkpoint;
      try {
        checkpoint = parseCheckpoint(await openNote(note, run.key));
      } catch (e) {
        if (!(e instanceof Coded)) throw e;
        // openNote names the signers when none is the key's, the key when its signature does
        // not verify: a note of another log, or an altered note
        if (e.code === "note_invalid" && "signers" in e.evidence) {
          run.fail(name, "checkpoint_key_mismatch", "the note is not signed by the log key",
                   Object.assign({ key: run.key.text }, e.evidence));
        } else if (e.code === "note_invalid") {
          run.fail(name, "checkpoint_signature_invalid",
                   "the log key's signature on the note does not verify", e.evidence);
        } else run.fail(name, e.code, e.message, e.evidence);
        continue;
      }
      if (checkpoint.origin !== get(run.manifest, "origin") || !same(checkpoint.size, size)) {
        run.fail(name, "checkpoint_mismatch", "the note names another log or size",
                 { origin: checkpoint.origin, size: checkpoint.size });
        continue;
      }
      // Checked on: a self-consistent bundle still has its events proven under the note,
      // so what else is wrong with it is found too.
      run.roots.set(checkpoint.size, checkpoint.root);
      if (run.pinned === null) {
        run.unsure(name, "log_key_not_pinned", "the note verifies only with the bundle's own key, which no one " +
                   "pinned", { root: b64(checkpoint.root) });
      } else run.ok(name, { root: b64(checkpoint.root) });
    }
    run.summary.checkpoints = Array.from(run.roots.keys()).sort(function (a, b) { return a - b; });
  }

  // -- (4b) the witnessed checkpoint: signed by the log key, every checkpoint consistent with it --
  async function witnessedStep(run) {
    var entry = get(run.manifest, "witnessed");
    if (entry === null) return;
    if (!isObject(entry)) throw new Shape("the witnessed checkpoint is not described by an object");
    var size = get(entry, "size"), note = run.file(get(entry, "note"));
    if (note === null) {
      run.fail("witnessed", "file_missing", "the witnessed checkpoint note is missing");
      return;
    }
    var checkpoint;
    try {
      checkpoint = parseCheckpoint(await openNote(note, run.key));
    } catch (e) {
      if (!(e instanceof Coded)) throw e;
      run.fail("witnessed", e.code === "note_invalid" ? "checkpoint_signature_invalid" : e.code,
               "the witnessed checkpoint is not signed by the log key", e.evidence);
      return;
    }
    if (checkpoint.origin !== get(run.manifest, "origin") || !same(checkpoint.size, size)) {
      run.fail("witnessed", "checkpoint_mismatch", "the note names another log or size",
               { origin: checkpoint.origin, size: checkpoint.size });
      return;
    }
    var proofs = new Map();
    dicts(get(entry, "consistency")).forEach(function (p) {
      proofs.set(key(get(p, "from")), get(p, "proof"));
    });
    var sizes = Array.from(run.roots.keys()).sort(function (a, b) { return a - b; });
    for (var i = 0; i < sizes.length; i++) {
      var old = sizes[i];
      try {
        var proof = [];
        if (old !== checkpoint.size) {
          var listed = proofs.has(old) ? proofs.get(old) : null;
          if (!Array.isArray(listed) || !listed.every(function (h) { return typeof h === "string"; })) {
            throw malformed("a consistency proof must be a list of base64 hashes");
          }
          proof = listed.map(function (h) { return unb64(h, 32); });
        }
        await verifyConsistency(old, checkpoint.size, proof, run.roots.get(old), checkpoint.root);
      } catch (e) {
        if (!(e instanceof Coded)) throw e;
        run.fail("witnessed.consistency[" + old + "]", "witnessed_inconsistent",
                 "a checkpoint of the bundle is not consistent with the witnessed one",
                 { size: old, witnessed: checkpoint.size, reason: e.code });
        return;
      }
    }
    run.summary.witnessed = { size: checkpoint.size, cosigners: null };
    run.ok("witnessed", { size: checkpoint.size, root: b64(checkpoint.root),
                          cosignatures: "not checked: no witness policy was given (the browser checks none; " +
                                        "stele verify --witness-policy does)" });
  }

  // -- (5) each event's RFC 9162 inclusion proof to its checkpoint ----------------------------
  async function inclusionStep(run) {
    var entries = run.manifest.events;
    for (var i = 0; i < entries.length; i++) {
      var entry = entries[i], version = entry.version, name = "event[" + pyStr(version) + "].inclusion";
      var data = run.file(get(entry, "proof"));
      if (data === null) {
        run.fail(name, "proof_missing", "the inclusion proof is missing");
        continue;
      }
      var proof = readProof(data);
      if (proof === null) {
        run.fail(name, "malformed", "the inclusion proof is unreadable");
        continue;
      }
      var size = proof.tree_size;
      if (!same(size, get(entry, "checkpoint")) || !run.roots.has(key(size))) {
        run.fail(name, "checkpoint_missing", "no verified checkpoint of that size", { tree_size: size });
        continue;
      }
      var leaf = await leafHash(run.raw.get(key(version)));
      if (get(proof, "leaf_hash") !== b64(leaf)) {
        run.fail(name, "leaf_mismatch", "the proof is for another leaf than the event",
                 { leaf_index: proof.leaf_index });
        continue;
      }
      try {
        await verifyInclusion(proof.leaf_index, size, leaf, proof.path, run.roots.get(key(size)));
      } catch (e) {
        if (!(e instanceof Coded)) throw e;
        run.fail(name, e.code, e.message, Object.assign({ leaf_index: proof.leaf_index }, e.evidence));
        continue;
      }
      run.ok(name, { leaf_index: proof.leaf_index, tree_size: size });
    }
  }

  /* An inclusion proof `{"leaf_index", "tree_size", "leaf_hash", "proof": [base64...]}`, its path
   * decoded; null where the Python verifier finds it unreadable. A path holding something that
   * is not text stops the step, as it stops the Python one. */
  function readProof(data) {
    var proof;
    try {
      proof = readJson(data);
    } catch (e) {
      return null;
    }
    if (!has(proof, "leaf_index") || !has(proof, "tree_size") || !has(proof, "proof")) return null;
    var items = Array.isArray(proof.proof) || isObject(proof.proof) || typeof proof.proof === "string"
      ? iterate(proof.proof) : null;
    if (items === null) return null;
    var path = [];
    for (var i = 0; i < items.length; i++) {
      if (typeof items[i] !== "string") throw new Shape("an inclusion proof's hash is not text");
      try {
        path.push(unb64(items[i], 32));
      } catch (e) {
        if (!(e instanceof Coded)) throw e;
        return null;
      }
    }
    return Object.assign({}, proof, { path: path });
  }

  // -- (6) and (7): not in the browser ---------------------------------------------------------
  /* The evidence records and the signatures are left to `stele verify`. What the Python
   * verifier would stop at in these steps, this one stops at too: a checkpoint size, or an
   * event's checkpoint, that is a list or an object (step 6 looks it up)... */
  function evidenceStep(run) {
    run.unsure("browser.scope", "not_checked_in_browser", SCOPE);
    dicts(get(run.manifest, "checkpoints")).forEach(function (entry) { key(get(entry, "size")); });
    run.manifest.events.forEach(function (entry) { key(get(entry, "checkpoint")); });
  }

  /* ...and, for each listed `record.signed` event, what step 7 reads before it validates the
   * signature: the event's `validation` object, and once the document is the record's, its
   * `signer`, `chain`, captured files (up to the first that is not what the event names),
   * `format` and, for a detached signature, its `signature` digest. */
  async function signaturesStep(run) {
    var registered = run.registeredDigest(), document = run.givenOrBundledDocument();
    var documentDigest = document === null ? null : await digestOf(document);
    var entries = dicts(get(run.manifest, "signatures"));
    signatures: for (var i = 0; i < entries.length; i++) {
      var version = get(entries[i], "version");
      var event = Number.isInteger(version) || typeof version === "boolean"
        ? run.events.get(key(version)) : null;
      if (!event || event.type !== "record.signed") continue;
      var data = event.data;
      if (!has(data, "validation") || !isObject(data.validation)) {
        throw new Shape("a signed event without validation");
      }
      var validation = data.validation;
      key(get(validation, "anchor"));
      if (document === null || documentDigest !== registered) continue;
      if (!has(data, "signer") || !has(data, "chain")) {
        throw new Shape("a signed event without signer or chain");
      }
      var certificates = has(validation, "certificates") ? iterate(validation.certificates) : [];
      var wanted = [[data.signer].concat(iterate(data.chain), certificates),
                    has(validation, "crls") ? validation.crls : [],
                    has(validation, "ocsps") ? validation.ocsps : []];
      for (var w = 0; w < wanted.length; w++) {
        var digests = new Map();
        iterate(wanted[w]).forEach(function (d) { if (!digests.has(key(d))) digests.set(key(d), d); });
        for (var digest of digests.values()) {
          var blob = run.file("blobs/" + pyStr(digest).split(":").join("-"));
          if (blob !== null && (await digestOf(blob)) !== digest) continue signatures; // blob_digest_mismatch
        }
      }
      if (!has(data, "format")) throw new Shape("a signed event without format");
      if (data.format !== "pades") {
        if (typeof data.signature !== "string") throw new Shape("a detached signature without its digest");
      }
    }
  }

  // -- (8) the document: its SHA-256 is the registered content digest --------------------------
  async function documentStep(run) {
    var document = run.givenOrBundledDocument();
    if (document === null) return;
    var registered = run.registeredDigest(), digest = await digestOf(document);
    if (digest === registered) run.ok("document.digest", { digest: registered });
    else {
      run.fail("document.digest", "document_mismatch", "the document's digest is not the registered one",
               { registered: registered, found: digest });
    }
  }

  // -- the steps, in order --------------------------------------------------------------------
  var STEPS = [["manifest", manifestStep], ["events", eventsStep], ["source", sourceStep],
               ["log.key", logKeyStep], ["checkpoints", checkpointsStep], ["witnessed", witnessedStep],
               ["inclusion", inclusionStep], ["evidence", evidenceStep], ["signatures", signaturesStep],
               ["document", documentStep]];

  async function verifyRun(run) {
    for (var i = 0; i < STEPS.length; i++) {
      try {
        await STEPS[i][1](run);
      } catch (e) {
        if (e instanceof Stop) break;
        if (e instanceof Coded) { // a step found input it cannot read at all
          run.fail("bundle." + STEPS[i][0], e.code, e.message, e.evidence);
          break;
        }
        if (e instanceof Shape) { // a manifest or event not shaped as the format says
          run.fail("bundle." + STEPS[i][0], "malformed", "the bundle is not shaped as its format says",
                   { reason: e.message });
          break;
        }
        throw e;
      }
    }
  }

  function bottomLine(checks) {
    var verdicts = checks.map(function (c) { return c.verdict; });
    if (verdicts.indexOf(FAILED) >= 0) return FAILED;
    if (verdicts.indexOf(INDETERMINATE) >= 0 || !checks.length) return INDETERMINATE;
    return PASSED;
  }

  function detail(check) { // the message, then the evidence, as verifiers/errors.py writes it
    var shown = Object.keys(check.evidence).map(function (k) {
      var v = check.evidence[k];
      return k + "=" + (typeof v === "string" ? v : JSON.stringify(v));
    }).join(", ");
    return check.message && shown ? check.message + " (" + shown + ")" : check.message || shown;
  }

  function bytesOrNull(value, what) {
    if (value === null || value === undefined) return null;
    if (value instanceof Uint8Array) return value;
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    throw new TypeError(what + " must be a Uint8Array, an ArrayBuffer or null");
  }

  function keyOrNull(value, what) { // a pasted key: surrounding white space is not part of it
    if (value === null || value === undefined) return null;
    if (typeof value !== "string") throw new TypeError(what + " must be a string or null");
    return value.trim() || null;
  }

  /**
   * Verify a bundle's files (SteleZip.read's Map) with the caller's trust only:
   * options.logKey, the log's published verifier key (without it nothing is better than
   * INDETERMINATE, `log_key_not_pinned`); options.document, the document's bytes (else the
   * bundle's own `document`); options.sourceLogKey, for a received record, the sending log's
   * published key. Returns {verdict, checks: [{name, verdict, code, detail}], summary}.
   */
  async function verify(files, options) {
    if (!(files instanceof Map)) {
      throw new TypeError("SteleBundle.verify takes the Map that SteleZip.read gives");
    }
    if (typeof crypto === "undefined" || !crypto.subtle) {
      throw new Error("WebCrypto (crypto.subtle) is not available here");
    }
    options = options || {};
    var sourceKey = keyOrNull(options.sourceLogKey, "sourceLogKey"), sourceKeys = new Map();
    // a Stele log's key is named by its origin: the key pins the log of that origin
    if (sourceKey !== null) sourceKeys.set(sourceKey.split("+")[0], sourceKey);
    var run = new Run(files, { logKey: keyOrNull(options.logKey, "logKey"), sourceKeys: sourceKeys,
                               document: bytesOrNull(options.document, "document") });
    await verifyRun(run);
    var checks = run.checks.map(function (c) {
      return { name: c.name, verdict: c.verdict, code: c.code, detail: detail(c) };
    });
    // the bottom line of what the browser did check, for a page to show beside the verdict
    run.summary.checked_verdict = bottomLine(checks.filter(function (c) {
      return c.code !== "not_checked_in_browser";
    }));
    return { verdict: bottomLine(checks), checks: checks, summary: run.summary };
  }

  return {
    verify: verify,
    // the building blocks, for tests and for anyone checking one proof by hand
    canonical: canonical,
    unb64: function (text, length) { return unb64(text, length); },
    verifyInclusion: verifyInclusion,
    verifyConsistency: verifyConsistency,
  };
})();
