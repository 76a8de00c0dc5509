// Command gointerop checks Stele's Merkle proofs and signed notes with Go's
// golang.org/x/mod/sumdb/tlog and golang.org/x/mod/sumdb/note, an implementation
// independent of verifiers/ (used by tests/verifiers/test_go_interop.py).
//
// It reads one JSON request on stdin and writes one JSON response on stdout:
//
//	request:  {"leaves": [base64 leaf data], "index": n, "size1": n, "size2": n,
//	           "inclusion_proof": [base64], "consistency_proof": [base64],
//	           "root1": base64, "root2": base64, "note": text, "verifier_key": text}
//	response: {"tree_hash1": base64, "tree_hash2": base64,
//	           "inclusion_error": "", "consistency_error": "",
//	           "note_error": "", "note_text": text, "note_signers": [names]}
//
// The tree hashes are Go's own, over the leaves; the proofs are checked against the
// request's roots (tlog.CheckRecord for leaf index in the tree of size2 with root2,
// tlog.CheckTree from size1/root1 to size2/root2); the note is opened with the one
// verifier key given. An empty error string means Go accepted.
//
// Offline build on Debian (golang-go, golang-golang-x-mod-dev), GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o gointerop main.go
//
// Elsewhere, with network access, module mode: GOFLAGS=-mod=mod go build .
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type request struct {
	Leaves           [][]byte `json:"leaves"`
	Index            int64    `json:"index"`
	Size1            int64    `json:"size1"`
	Size2            int64    `json:"size2"`
	InclusionProof   [][]byte `json:"inclusion_proof"`
	ConsistencyProof [][]byte `json:"consistency_proof"`
	Root1            []byte   `json:"root1"`
	Root2            []byte   `json:"root2"`
	Note             string   `json:"note"`
	VerifierKey      string   `json:"verifier_key"`
}

type response struct {
	TreeHash1        string   `json:"tree_hash1"`
	TreeHash2        string   `json:"tree_hash2"`
	InclusionError   string   `json:"inclusion_error"`
	ConsistencyError string   `json:"consistency_error"`
	NoteError        string   `json:"note_error"`
	NoteText         string   `json:"note_text"`
	NoteSigners      []string `json:"note_signers"`
}

func toHash(b []byte) (tlog.Hash, error) {
	var h tlog.Hash
	if len(b) != tlog.HashSize {
		return h, fmt.Errorf("hash of %d bytes", len(b))
	}
	copy(h[:], b)
	return h, nil
}

func toHashes(bs [][]byte) ([]tlog.Hash, error) {
	hs := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		h, err := toHash(b)
		if err != nil {
			return nil, fmt.Errorf("proof[%d]: %v", i, err)
		}
		hs[i] = h
	}
	return hs, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "bad request:", err)
		os.Exit(2)
	}
	var resp response

	// Store every hash of the tree as tlog does, record by record.
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, leaf := range req.Leaves {
		hs, err := tlog.StoredHashes(int64(i), leaf, reader)
		if err != nil {
			fmt.Fprintln(os.Stderr, "StoredHashes:", err)
			os.Exit(2)
		}
		stored = append(stored, hs...)
	}
	for _, t := range []struct {
		size int64
		out  *string
	}{{req.Size1, &resp.TreeHash1}, {req.Size2, &resp.TreeHash2}} {
		if t.size < 0 || t.size > int64(len(req.Leaves)) {
			continue
		}
		h, err := tlog.TreeHash(t.size, reader)
		if err != nil {
			fmt.Fprintln(os.Stderr, "TreeHash:", err)
			os.Exit(2)
		}
		*t.out = base64.StdEncoding.EncodeToString(h[:])
	}

	// Inclusion: leaf Index in the tree of Size2 leaves with Root2.
	resp.InclusionError = func() string {
		proof, err := toHashes(req.InclusionProof)
		if err != nil {
			return err.Error()
		}
		root, err := toHash(req.Root2)
		if err != nil {
			return "root2: " + err.Error()
		}
		if req.Index < 0 || req.Index >= int64(len(req.Leaves)) {
			return "index outside the leaves"
		}
		return errString(tlog.CheckRecord(proof, req.Size2, root, req.Index, tlog.RecordHash(req.Leaves[req.Index])))
	}()

	// Consistency: the tree of Size2 with Root2 extends the tree of Size1 with Root1.
	resp.ConsistencyError = func() string {
		proof, err := toHashes(req.ConsistencyProof)
		if err != nil {
			return err.Error()
		}
		root1, err := toHash(req.Root1)
		if err != nil {
			return "root1: " + err.Error()
		}
		root2, err := toHash(req.Root2)
		if err != nil {
			return "root2: " + err.Error()
		}
		return errString(tlog.CheckTree(proof, req.Size2, root2, req.Size1, root1))
	}()

	// The signed note, opened with the one verifier key.
	resp.NoteError = func() string {
		v, err := note.NewVerifier(req.VerifierKey)
		if err != nil {
			return "verifier key: " + err.Error()
		}
		n, err := note.Open([]byte(req.Note), note.VerifierList(v))
		if err != nil {
			return err.Error()
		}
		resp.NoteText = n.Text
		for _, s := range n.Sigs {
			resp.NoteSigners = append(resp.NoteSigners, s.Name)
		}
		return ""
	}()

	if err := json.NewEncoder(os.Stdout).Encode(resp); err != nil {
		fmt.Fprintln(os.Stderr, "write:", err)
		os.Exit(2)
	}
}
