/* SHA-256 (FIPS 180-4), incremental, for files too large to hand to WebCrypto in one piece:
   the page feeds it chunk by chunk, so a 200 MB PDF is hashed without holding it in memory.
   `SteleSha256.file(file, onProgress)` picks WebCrypto for small files, this for large ones. */
"use strict";
var SteleSha256 = (function () {
  var K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
  var WEBCRYPTO_MAX = 32 * 1024 * 1024;  // above this, stream
  var CHUNK = 8 * 1024 * 1024;

  function Hash() {
    this.h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                              0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    this.block = new Uint8Array(64);
    this.filled = 0;
    this.length = 0;  // bytes so far (a double: exact up to 2^53)
    this.w = new Uint32Array(64);
  }

  Hash.prototype.compress = function (data, offset) {
    var w = this.w, h = this.h, i, t1, t2;
    for (i = 0; i < 16; i++) {
      var j = offset + 4 * i;
      w[i] = (data[j] << 24) | (data[j + 1] << 16) | (data[j + 2] << 8) | data[j + 3];
    }
    for (i = 16; i < 64; i++) {
      var a = w[i - 15], b = w[i - 2];
      var s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      var s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    var A = h[0], B = h[1], C = h[2], D = h[3], E = h[4], F = h[5], G = h[6], H = h[7];
    for (i = 0; i < 64; i++) {
      var S1 = ((E >>> 6) | (E << 26)) ^ ((E >>> 11) | (E << 21)) ^ ((E >>> 25) | (E << 7));
      var ch = (E & F) ^ (~E & G);
      t1 = (H + S1 + ch + K[i] + w[i]) | 0;
      var S0 = ((A >>> 2) | (A << 30)) ^ ((A >>> 13) | (A << 19)) ^ ((A >>> 22) | (A << 10));
      var maj = (A & B) ^ (A & C) ^ (B & C);
      t2 = (S0 + maj) | 0;
      H = G; G = F; F = E; E = (D + t1) | 0; D = C; C = B; B = A; A = (t1 + t2) | 0;
    }
    h[0] += A; h[1] += B; h[2] += C; h[3] += D; h[4] += E; h[5] += F; h[6] += G; h[7] += H;
  };

  Hash.prototype.update = function (data) {
    var i = 0, n = data.length;
    this.length += n;
    if (this.filled) {
      while (i < n && this.filled < 64) this.block[this.filled++] = data[i++];
      if (this.filled < 64) return this;
      this.compress(this.block, 0);
      this.filled = 0;
    }
    for (; i + 64 <= n; i += 64) this.compress(data, i);
    while (i < n) this.block[this.filled++] = data[i++];
    return this;
  };

  Hash.prototype.digest = function () {
    var bits = this.length * 8, tail = new Uint8Array(this.filled < 56 ? 64 - this.filled : 128 - this.filled);
    tail[0] = 0x80;
    var hi = Math.floor(bits / 0x100000000), lo = bits >>> 0, k = tail.length;
    tail[k - 8] = hi >>> 24; tail[k - 7] = hi >>> 16; tail[k - 6] = hi >>> 8; tail[k - 5] = hi;
    tail[k - 4] = lo >>> 24; tail[k - 3] = lo >>> 16; tail[k - 2] = lo >>> 8; tail[k - 1] = lo;
    this.update(tail);
    var out = new Uint8Array(32);
    for (var i = 0; i < 8; i++) {
      out[4 * i] = this.h[i] >>> 24; out[4 * i + 1] = this.h[i] >>> 16;
      out[4 * i + 2] = this.h[i] >>> 8; out[4 * i + 3] = this.h[i];
    }
    return out;
  };

  function hex(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return s;
  }

  /* The hex SHA-256 of a File or Blob; onProgress(done, total) between chunks. */
  async function file(blob, onProgress) {
    var report = onProgress || function () {};
    if (blob.size <= WEBCRYPTO_MAX) {
      var whole = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
      report(blob.size, blob.size);
      return hex(new Uint8Array(whole));
    }
    var hash = new Hash();
    for (var at = 0; at < blob.size; at += CHUNK) {
      hash.update(new Uint8Array(await blob.slice(at, at + CHUNK).arrayBuffer()));
      report(Math.min(at + CHUNK, blob.size), blob.size);
    }
    return hex(hash.digest());
  }

  return { Hash: Hash, hex: hex, file: file, WEBCRYPTO_MAX: WEBCRYPTO_MAX };
})();
