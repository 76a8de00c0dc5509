// Command gocosign checks a cosigned checkpoint and a consistency proof made by verifiers/
// (used by tests/verifiers/test_cosign_go.py) with Go's golang.org/x/mod/sumdb/note and
// golang.org/x/mod/sumdb/tlog, an implementation independent of verifiers/.
//
// It reads one JSON request on stdin and writes one JSON response on stdout:
//
//	request:  {"note": text, "log_vkey": text,
//	           "witnesses": [{"name": text, "pubkey_b64": base64 of 32 bytes}],
//	           "old_size": n, "old_root": base64, "size": n, "root": base64,
//	           "proof": [base64]}
//	response: {"note_error": "", "verified": [signer names], "timestamps": {name: n},
//	           "proof_error": ""}
//
// The note is opened with note.Open and a note.VerifierList of the log's verifier
// (note.NewVerifier) and one cosignature/v1 verifier per witness, written here from C2SP
// tlog-cosignature: key hash SHA-256(name || "\n" || 0x04 || key)[:4]; signature a
// big-endian u64 timestamp, then Ed25519 over "cosignature/v1\ntime <t>\n" || note text.
// The proof is checked with tlog.CheckTree: the tree of old_size leaves with old_root
// against the tree of size leaves with root.
//
// Offline build on Debian (golang-go, golang-golang-x-mod-dev), GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o gocosign main.go
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type witness struct {
	Name   string `json:"name"`
	Pubkey []byte `json:"pubkey_b64"` // encoding/json reads base64 into []byte
}

type request struct {
	Note      string    `json:"note"`
	LogVkey   string    `json:"log_vkey"`
	Witnesses []witness `json:"witnesses"`
	OldSize   int64     `json:"old_size"`
	OldRoot   []byte    `json:"old_root"`
	Size      int64     `json:"size"`
	Root      []byte    `json:"root"`
	Proof     [][]byte  `json:"proof"`
}

type response struct {
	NoteError  string            `json:"note_error"`
	Verified   []string          `json:"verified"`
	Timestamps map[string]uint64 `json:"timestamps"`
	ProofError string            `json:"proof_error"`
}

// cosigner is a note.Verifier for Ed25519 cosignature/v1 (signature type 0x04).
type cosigner struct {
	name  string
	key   ed25519.PublicKey
	times map[string]uint64 // where Verify records the timestamp it accepted
}

func (c *cosigner) Name() string { return c.name }

// KeyHash is the spec's key ID as a big-endian uint32, as note.Open reads it.
func (c *cosigner) KeyHash() uint32 {
	h := sha256.Sum256(append(append([]byte(c.name+"\n"), 0x04), c.key...))
	return binary.BigEndian.Uint32(h[:4])
}

// Verify checks timestamp (8 bytes) || Ed25519 signature (64 bytes) over the header line,
// the time line (decimal, no leading zeros) and msg, the note text.
func (c *cosigner) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	if t > math.MaxInt64 { // "It MUST NOT exceed 2^63 - 1"
		return false
	}
	signed := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	if !ed25519.Verify(c.key, signed, sig[8:]) {
		return false
	}
	c.times[c.name] = t
	return true
}

func toHash(b []byte) (tlog.Hash, error) {
	var h tlog.Hash
	if len(b) != tlog.HashSize {
		return h, fmt.Errorf("hash of %d bytes", len(b))
	}
	copy(h[:], b)
	return h, nil
}

func openNote(req request, resp *response) error {
	logVerifier, err := note.NewVerifier(req.LogVkey)
	if err != nil {
		return fmt.Errorf("log vkey: %v", err)
	}
	verifiers := []note.Verifier{logVerifier}
	for _, w := range req.Witnesses {
		if len(w.Pubkey) != ed25519.PublicKeySize {
			return fmt.Errorf("witness %s: key of %d bytes", w.Name, len(w.Pubkey))
		}
		verifiers = append(verifiers, &cosigner{w.Name, ed25519.PublicKey(w.Pubkey), resp.Timestamps})
	}
	n, err := note.Open([]byte(req.Note), note.VerifierList(verifiers...))
	if err != nil {
		return err
	}
	for _, s := range n.Sigs {
		resp.Verified = append(resp.Verified, s.Name)
	}
	return nil
}

func checkProof(req request) error {
	proof := make(tlog.TreeProof, len(req.Proof))
	for i, b := range req.Proof {
		h, err := toHash(b)
		if err != nil {
			return fmt.Errorf("proof[%d]: %v", i, err)
		}
		proof[i] = h
	}
	oldRoot, err := toHash(req.OldRoot)
	if err != nil {
		return fmt.Errorf("old_root: %v", err)
	}
	root, err := toHash(req.Root)
	if err != nil {
		return fmt.Errorf("root: %v", err)
	}
	return tlog.CheckTree(proof, req.Size, root, req.OldSize, oldRoot)
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "bad request:", err)
		os.Exit(2)
	}
	resp := response{Verified: []string{}, Timestamps: map[string]uint64{}}
	if err := openNote(req, &resp); err != nil {
		resp.NoteError = err.Error()
		resp.Verified = []string{}
	}
	if err := checkProof(req); err != nil {
		resp.ProofError = err.Error()
	}
	if err := json.NewEncoder(os.Stdout).Encode(resp); err != nil {
		fmt.Fprintln(os.Stderr, "write:", err)
		os.Exit(2)
	}
}
