// Command gotiles checks a C2SP tlog-tiles directory written with verifiers/tiles.py
// against Go's golang.org/x/mod/sumdb/tlog and golang.org/x/mod/sumdb/note, an
// implementation independent of verifiers/ (used by tests/verifiers/test_tiles_go.py).
//
// It reads one JSON request on stdin and writes one JSON response on stdout:
//
//	request:  {"dir": path, "verifier_key": text,
//	           "inclusion": [{"index": n, "size": n, "proof": [base64]}],
//	           "consistency": [{"size1": n, "proof": [base64]}]}
//	response: {"note_error": "", "origin": text, "size": n, "root": base64,
//	           "entries_root": base64, "tiles_root": base64, "tiles_root_error": "",
//	           "tiles": [paths], "tile_errors": [text],
//	           "inclusion_errors": [text], "inclusion_go_equal": [bool],
//	           "consistency_errors": [text], "consistency_go_equal": [bool]}
//
// Go's paths at tile height 8 are C2SP's once "tile/8/" is read as "tile/" and
// "tile/8/data/" as "tile/entries/". Go's data tiles are not length-prefixed, so the
// entry bundles are split here (big-endian uint16 lengths) and hashed by Go.
//
//   - entries_root: tlog.TreeHash over every stored hash Go computed from the entries
//     (tlog.StoredHashes), independent of the tiles;
//   - tiles / tile_errors: every tile Go says the tree has (tlog.NewTiles, widest per
//     place: older x/mod versions list every partial width), each compared byte for byte
//     with tlog.ReadTileData over Go's own hashes;
//   - tiles_root: tlog.TreeHash through tlog.TileHashReader over the directory;
//   - inclusion / consistency: the proofs given (made by verifiers/tiles.py) checked with
//     tlog.CheckRecord / tlog.CheckTree against Go's roots, and compared with Go's own
//     tlog.ProveRecord / tlog.ProveTree through the TileHashReader.
//
// Offline build on Debian (golang-go, golang-golang-x-mod-dev), GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o gotiles main.go
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

type inclusion struct {
	Index int64    `json:"index"`
	Size  int64    `json:"size"`
	Proof [][]byte `json:"proof"`
}

type consistency struct {
	Size1 int64    `json:"size1"`
	Proof [][]byte `json:"proof"`
}

type request struct {
	Dir         string        `json:"dir"`
	VerifierKey string        `json:"verifier_key"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

type response struct {
	NoteError          string   `json:"note_error"`
	Origin             string   `json:"origin"`
	Size               int64    `json:"size"`
	Root               string   `json:"root"`
	EntriesRoot        string   `json:"entries_root"`
	TilesRoot          string   `json:"tiles_root"`
	TilesRootError     string   `json:"tiles_root_error"`
	Tiles              []string `json:"tiles"`
	TileErrors         []string `json:"tile_errors"`
	InclusionErrors    []string `json:"inclusion_errors"`
	InclusionGoEqual   []bool   `json:"inclusion_go_equal"`
	ConsistencyErrors  []string `json:"consistency_errors"`
	ConsistencyGoEqual []bool   `json:"consistency_go_equal"`
}

// c2spPath maps Go's tile path (tile/8/L/N..., tile/8/data/N...) to the C2SP one.
func c2spPath(goPath string) string {
	const data = "tile/8/data/"
	if strings.HasPrefix(goPath, data) {
		return "tile/entries/" + goPath[len(data):]
	}
	return "tile/" + strings.TrimPrefix(goPath, "tile/8/")
}

type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return height }

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(c2spPath(t.Path()))))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (d dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func toHashes(bs [][]byte) ([]tlog.Hash, error) {
	hs := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("proof[%d] is %d bytes", i, len(b))
		}
		copy(hs[i][:], b)
	}
	return hs, nil
}

func equal(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// parseBundle splits an entry bundle into its uint16-length-prefixed entries.
func parseBundle(b []byte, width int) ([][]byte, error) {
	var out [][]byte
	for len(out) < width {
		if len(b) < 2 {
			return nil, fmt.Errorf("bundle ends before entry %d", len(out))
		}
		n := int(b[0])<<8 | int(b[1])
		if len(b) < 2+n {
			return nil, fmt.Errorf("bundle ends inside entry %d", len(out))
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d bytes after the last entry", len(b))
	}
	return out, nil
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fail("bad request: %v", err)
	}
	resp := response{
		Tiles:              []string{},
		TileErrors:         []string{},
		InclusionErrors:    []string{},
		InclusionGoEqual:   []bool{},
		ConsistencyErrors:  []string{},
		ConsistencyGoEqual: []bool{},
	}
	defer func() {
		if err := json.NewEncoder(os.Stdout).Encode(resp); err != nil {
			fail("cannot write the response: %v", err)
		}
	}()

	// The checkpoint, opened with the one key given.
	msg, err := os.ReadFile(filepath.Join(req.Dir, "checkpoint"))
	if err != nil {
		fail("%v", err)
	}
	verifier, err := note.NewVerifier(req.VerifierKey)
	if err != nil {
		fail("bad verifier key: %v", err)
	}
	opened, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		resp.NoteError = err.Error()
		return
	}
	lines := strings.Split(opened.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint has fewer than three lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("bad tree size: %v", err)
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != tlog.HashSize {
		fail("bad root hash %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], rootBytes)
	resp.Origin, resp.Size, resp.Root = lines[0], size, lines[2]

	// Go's own tree, from the entries alone.
	var stored []tlog.Hash
	hashes := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("hash %d is not stored", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	var records [][]byte
	for start := int64(0); start < size; start += 1 << height {
		w := size - start
		if w > 1<<height {
			w = 1 << height
		}
		t := tlog.Tile{H: height, L: -1, N: start >> height, W: int(w)}
		path := c2spPath(t.Path())
		b, err := os.ReadFile(filepath.Join(req.Dir, filepath.FromSlash(path)))
		if err != nil {
			fail("%v", err)
		}
		entries, err := parseBundle(b, int(w))
		if err != nil {
			fail("%s: %v", path, err)
		}
		records = append(records, entries...)
	}
	for i, record := range records {
		hs, err := tlog.StoredHashes(int64(i), record, hashes)
		if err != nil {
			fail("StoredHashes(%d): %v", i, err)
		}
		stored = append(stored, hs...)
	}
	entriesRoot, err := tlog.TreeHash(size, hashes)
	if err != nil {
		fail("TreeHash: %v", err)
	}
	resp.EntriesRoot = b64(entriesRoot[:])

	// Every tile Go says the tree has, byte for byte.
	widest := map[[2]int64]tlog.Tile{}
	var order [][2]int64
	for _, t := range tlog.NewTiles(height, 0, size) {
		k := [2]int64{int64(t.L), t.N}
		old, ok := widest[k]
		if !ok {
			order = append(order, k)
		}
		if !ok || t.W > old.W {
			widest[k] = t
		}
	}
	for _, k := range order {
		t := widest[k]
		path := c2spPath(t.Path())
		resp.Tiles = append(resp.Tiles, path)
		want, err := tlog.ReadTileData(t, hashes)
		if err != nil {
			resp.TileErrors = append(resp.TileErrors, path+": "+err.Error())
			continue
		}
		got, err := os.ReadFile(filepath.Join(req.Dir, filepath.FromSlash(path)))
		if err != nil {
			resp.TileErrors = append(resp.TileErrors, path+": "+err.Error())
			continue
		}
		if !bytes.Equal(got, want) {
			resp.TileErrors = append(resp.TileErrors, path+": differs from Go's tile")
		}
	}

	// The tree read through Go's tile reader.
	tiles := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, dirTiles{req.Dir})
	tilesRoot, err := tlog.TreeHash(size, tiles)
	resp.TilesRootError = errString(err)
	if err == nil {
		resp.TilesRoot = b64(tilesRoot[:])
	}

	for _, inc := range req.Inclusion {
		proof, err := toHashes(inc.Proof)
		if err == nil && (inc.Index < 0 || inc.Index >= int64(len(records))) {
			err = fmt.Errorf("index %d is not a record", inc.Index)
		}
		if err == nil {
			var th tlog.Hash
			th, err = tlog.TreeHash(inc.Size, hashes)
			if err == nil {
				err = tlog.CheckRecord(proof, inc.Size, th, inc.Index, tlog.RecordHash(records[inc.Index]))
			}
		}
		resp.InclusionErrors = append(resp.InclusionErrors, errString(err))
		goProof, err := tlog.ProveRecord(inc.Size, inc.Index, tiles)
		resp.InclusionGoEqual = append(resp.InclusionGoEqual, err == nil && equal(goProof, proof))
	}
	for _, c := range req.Consistency {
		proof, err := toHashes(c.Proof)
		if err == nil {
			var old tlog.Hash
			old, err = tlog.TreeHash(c.Size1, hashes)
			if err == nil {
				err = tlog.CheckTree(proof, size, root, c.Size1, old)
			}
		}
		resp.ConsistencyErrors = append(resp.ConsistencyErrors, errString(err))
		goProof, err := tlog.ProveTree(size, c.Size1, tiles)
		resp.ConsistencyGoEqual = append(resp.ConsistencyGoEqual, err == nil && equal(goProof, proof))
	}
}
