/* SteleZip: the ZIP reader of the browser verifier of evidence bundles (docs/evidence-bundle.md).
 *
 * A classic script with no dependency, so that a page saved to disk and opened from file://
 * still works: it defines the one global `SteleZip`.
 *
 *   const files = await SteleZip.read(arrayBufferOrUint8Array);  // Map<path, Uint8Array>
 *
 * The ZIP is read through its central directory, as Python's zipfile (and so `stele verify`)
 * reads it: each member's local header must agree with its directory entry, its data is
 * stored or deflated (inflated with DecompressionStream("deflate-raw")), and its CRC-32 and
 * size must be those the directory gives. Directory entries (names ending in "/") are left
 * out of the Map. What is not a readable bundle ZIP is refused with an Error whose message
 * says why: ZIP64, several disks, encryption, other compression methods, duplicate names,
 * sizes or offsets that do not fit, more than 2**31 bytes uncompressed (the Python
 * verifier's limit: a bundle is a record, not an archive).
 */
var SteleZip = (function () {
  "use strict";

  var END = 0x06054b50;           // end of central directory record
  var ZIP64_LOCATOR = 0x07064b50; // ZIP64 end of central directory locator
  var CENTRAL = 0x02014b50;       // central directory file header
  var LOCAL = 0x04034b50;         // local file header
  var MAX_TOTAL = 2147483648;     // bytes uncompressed, as verifiers/bundle.py MAX_BUNDLE

  // The upper half of code page 437: names not flagged UTF-8 (bit 11) are CP437, as in zipfile.
  var CP437 =
    "\u00c7\u00fc\u00e9\u00e2\u00e4\u00e0\u00e5\u00e7\u00ea\u00eb\u00e8\u00ef\u00ee\u00ec\u00c4" +
    "\u00c5\u00c9\u00e6\u00c6\u00f4\u00f6\u00f2\u00fb\u00f9\u00ff\u00d6\u00dc\u00a2\u00a3\u00a5" +
    "\u20a7\u0192\u00e1\u00ed\u00f3\u00fa\u00f1\u00d1\u00aa\u00ba\u00bf\u2310\u00ac\u00bd\u00bc" +
    "\u00a1\u00ab\u00bb\u2591\u2592\u2593\u2502\u2524\u2561\u2562\u2556\u2555\u2563\u2551\u2557" +
    "\u255d\u255c\u255b\u2510\u2514\u2534\u252c\u251c\u2500\u253c\u255e\u255f\u255a\u2554\u2569" +
    "\u2566\u2560\u2550\u256c\u2567\u2568\u2564\u2565\u2559\u2558\u2552\u2553\u256b\u256a\u2518" +
    "\u250c\u2588\u2584\u258c\u2590\u2580\u03b1\u00df\u0393\u03c0\u03a3\u03c3\u00b5\u03c4\u03a6" +
    "\u0398\u03a9\u03b4\u221e\u03c6\u03b5\u2229\u2261\u00b1\u2265\u2264\u2320\u2321\u00f7\u2248" +
    "\u00b0\u2219\u00b7\u221a\u207f\u00b2\u25a0\u00a0";

  function refuse(message) {
    throw new Error("not a readable ZIP: " + message);
  }

  // -- CRC-32 (ISO 3309, the polynomial 0xEDB88320 reflected), as ZIP stores it ---------------
  var CRC_TABLE = (function () {
    var table = new Uint32Array(256);
    for (var n = 0; n < 256; n++) {
      var c = n;
      for (var k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();

  function crc32(bytes) {
    var c = 0xffffffff;
    for (var i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }

  // -- little-endian fields -------------------------------------------------------------------
  function reader(bytes) {
    var view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return {
      u16: function (at) {
        if (at < 0 || at + 2 > bytes.length) refuse("a header runs past the end of the file");
        return view.getUint16(at, true);
      },
      u32: function (at) {
        if (at < 0 || at + 4 > bytes.length) refuse("a header runs past the end of the file");
        return view.getUint32(at, true);
      },
    };
  }

  function decodeName(raw, utf8) {
    if (utf8) {
      try {
        return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(raw);
      } catch (e) {
        refuse("a member's name is flagged UTF-8 but is not");
      }
    }
    var name = "";
    for (var i = 0; i < raw.length; i++) {
      name += raw[i] < 0x80 ? String.fromCharCode(raw[i]) : CP437[raw[i] - 0x80];
    }
    return name;
  }

  // -- (1) the end of central directory record: 22 bytes and a comment of up to 65535 ----------
  function findEnd(bytes, le) {
    var lowest = Math.max(0, bytes.length - 22 - 0xffff);
    for (var at = bytes.length - 22; at >= lowest; at--) {
      if (le.u32(at) === END && at + 22 + le.u16(at + 20) <= bytes.length) return at;
    }
    return refuse("no end of central directory record (a truncated file, or not a ZIP)");
  }

  // -- (2) the central directory: one entry per member ----------------------------------------
  function directory(bytes, le) {
    var end = findEnd(bytes, le);
    if (end >= 20 && le.u32(end - 20) === ZIP64_LOCATOR) refuse("ZIP64 archives are not supported");
    var disk = le.u16(end + 4), cdDisk = le.u16(end + 6);
    var onDisk = le.u16(end + 8), count = le.u16(end + 10);
    var cdSize = le.u32(end + 12), cdOffset = le.u32(end + 16);
    if (count === 0xffff || onDisk === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      refuse("ZIP64 archives are not supported");
    }
    if (disk !== 0 || cdDisk !== 0 || onDisk !== count) refuse("multi-disk archives are not supported");
    if (cdOffset + cdSize > end) refuse("the central directory does not fit before its end record");

    var entries = [], seen = new Set(), total = 0, at = cdOffset;
    while (at < cdOffset + cdSize) {
      if (le.u32(at) !== CENTRAL) refuse("a central directory entry has a bad signature");
      var flags = le.u16(at + 8), method = le.u16(at + 10);
      var crc = le.u32(at + 16), csize = le.u32(at + 20), size = le.u32(at + 24);
      var nameLength = le.u16(at + 28), extraLength = le.u16(at + 30), commentLength = le.u16(at + 32);
      var offset = le.u32(at + 42);
      var next = at + 46 + nameLength + extraLength + commentLength;
      if (next > cdOffset + cdSize) refuse("a central directory entry runs past the directory");
      var raw = bytes.subarray(at + 46, at + 46 + nameLength);
      var name = decodeName(raw, (flags & 0x800) !== 0);
      if (csize === 0xffffffff || size === 0xffffffff || offset === 0xffffffff) {
        refuse("ZIP64 archives are not supported (member " + JSON.stringify(name) + ")");
      }
      if (flags & 0x41) refuse("member " + JSON.stringify(name) + " is encrypted");
      if (method !== 0 && method !== 8) {
        refuse("member " + JSON.stringify(name) + " uses compression method " + method +
               " (only stored and deflated are read)");
      }
      if (method === 0 && csize !== size) {
        refuse("member " + JSON.stringify(name) + " is stored, but its sizes differ");
      }
      if (name.indexOf("\u0000") >= 0) refuse("a member's name holds a NUL character");
      if (seen.has(name)) refuse("two members are named " + JSON.stringify(name));
      seen.add(name);
      total += size;
      if (total > MAX_TOTAL) refuse("it would unpack to more than " + MAX_TOTAL + " bytes");
      entries.push({ name: name, raw: raw, flags: flags, method: method, crc: crc,
                     csize: csize, size: size, offset: offset });
      at = next;
    }
    if (at !== cdOffset + cdSize) refuse("the central directory's size is not that of its entries");
    if (entries.length !== count) refuse("the end record counts " + count + " members, the directory " +
                                          entries.length);
    return { entries: entries, cdOffset: cdOffset };
  }

  // -- (3) each member: its local header, its data, inflated, and its CRC-32 -------------------
  function memberData(bytes, le, entry, limit) {
    var at = entry.offset;
    if (le.u32(at) !== LOCAL) refuse("member " + JSON.stringify(entry.name) + " has no local header");
    var nameLength = le.u16(at + 26), extraLength = le.u16(at + 28);
    var local = bytes.subarray(at + 30, at + 30 + nameLength);
    if (local.length !== entry.raw.length || local.some(function (b, i) { return b !== entry.raw[i]; })) {
      refuse("member " + JSON.stringify(entry.name) + " is named otherwise in its local header");
    }
    if (le.u16(at + 6) & 0x41) refuse("member " + JSON.stringify(entry.name) + " is encrypted");
    var start = at + 30 + nameLength + extraLength;
    if (start + entry.csize > limit) {
      refuse("member " + JSON.stringify(entry.name) + "'s data runs past the end of the members");
    }
    return bytes.subarray(start, start + entry.csize);
  }

  async function inflate(data, size, name) {
    var stream = new Blob([data]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
    var chunks = stream.getReader(), out = new Uint8Array(size), length = 0;
    for (;;) {
      var chunk;
      try {
        chunk = await chunks.read();
      } catch (e) {
        refuse("member " + JSON.stringify(name) + "'s deflated data is damaged (" + e.message + ")");
      }
      if (chunk.done) break;
      if (length + chunk.value.length > size) {
        chunks.cancel().catch(function () {});
        refuse("member " + JSON.stringify(name) + " inflates to more than its size, " + size);
      }
      out.set(chunk.value, length);
      length += chunk.value.length;
    }
    if (length !== size) {
      refuse("member " + JSON.stringify(name) + " inflates to " + length + " bytes, not its size " + size);
    }
    return out;
  }

  /** The files of a ZIP, by name (directories left out). Rejects with an Error saying why
   * the bytes are not a readable ZIP. */
  async function read(input) {
    var bytes;
    if (input instanceof Uint8Array) bytes = input;
    else if (input instanceof ArrayBuffer) bytes = new Uint8Array(input);
    else if (ArrayBuffer.isView(input)) {
      bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    }
    else throw new TypeError("SteleZip.read takes an ArrayBuffer or a Uint8Array");
    var le = reader(bytes);
    var found = directory(bytes, le);
    var files = new Map();
    for (var i = 0; i < found.entries.length; i++) {
      var entry = found.entries[i];
      var data = memberData(bytes, le, entry, found.cdOffset);
      var content = entry.method === 0 ? data.slice() : await inflate(data, entry.size, entry.name);
      if (crc32(content) !== entry.crc) {
        refuse("member " + JSON.stringify(entry.name) + " fails its CRC-32");
      }
      if (!entry.name.endsWith("/")) files.set(entry.name, content);
    }
    return files;
  }

  return { read: read, crc32: crc32 };
})();
