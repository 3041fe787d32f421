// tlogverify checks an etrack tiles directory with Go's own golang.org/x/mod/sumdb packages, nothing of etrack:
//
//	tlogverify DIR|URL VKEY [OLD_CHECKPOINT]
//
// DIR is a directory, or the URL a server publishes it under (http(s)://HOST/log: read with
// net/http, as a monitor reads a served log). It opens DIR/checkpoint with note.Open and the log's verifier key, reads the tiles through a
// tlog.TileReader (c2sp.org/tlog-tiles paths: tile/<L>/<N>[.p/<W>], tile/entries/<N>[.p/<W>]), checks
// that they hash to the signed root (tlog.TreeHash), proves and checks the inclusion of every leaf of
// the entry bundles (ProveRecord/CheckRecord), and, given an older checkpoint, that the tree extends it
// (ProveTree/CheckTree). Any failure exits 1 with the reason on stderr.
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

type checkpoint struct {
	origin string
	tree   tlog.Tree
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

// read returns a file of the log: from the directory, or fetched from the server publishing it.
func read(base, path string) ([]byte, error) {
	if strings.HasPrefix(base, "http://") || strings.HasPrefix(base, "https://") {
		resp, err := http.Get(strings.TrimSuffix(base, "/") + "/" + path)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return io.ReadAll(resp.Body)
	}
	return os.ReadFile(filepath.Join(base, filepath.FromSlash(path)))
}

// open verifies a checkpoint note with the log's key and parses its body (c2sp.org/tlog-checkpoint).
func open(base, path string, verifier note.Verifier) checkpoint {
	msg, err := read(base, path)
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("note.Open %s: %v", path, err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 || lines[0] != verifier.Name() {
		fail("%s: not a checkpoint of %s", path, verifier.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		fail("%s: bad size %q", path, lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("%s: bad root hash %q", path, lines[2])
	}
	return checkpoint{lines[0], tlog.Tree{N: size, Hash: root}}
}

// tilePath is Go's tile path without its height element (c2sp.org/tlog-tiles has none).
func tilePath(t tlog.Tile) string {
	p := t.Path()
	prefix := fmt.Sprintf("tile/%d/", t.H)
	if !strings.HasPrefix(p, prefix) {
		fail("unexpected tile path %s", p)
	}
	return "tile/" + strings.Replace(p[len(prefix):], "data/", "entries/", 1)
}

type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return height }

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := read(d.dir, tilePath(t))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (d dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

// leaves reads the entry bundles of a tree of n leaves: each entry after its uint16 big-endian length.
func leaves(dir string, n int64) [][]byte {
	var out [][]byte
	for start := int64(0); start < n; start += 1 << height {
		w := n - start
		if w > 1<<height {
			w = 1 << height
		}
		t := tlog.Tile{H: height, L: -1, N: start >> height, W: int(w)}
		data, err := read(dir, tilePath(t))
		if err != nil {
			fail("%v", err)
		}
		r := bytes.NewReader(data)
		for i := int64(0); i < w; i++ {
			var size uint16
			if err := binary.Read(r, binary.BigEndian, &size); err != nil {
				fail("%s: entry %d: %v", tilePath(t), i, err)
			}
			entry := make([]byte, size)
			if _, err := io.ReadFull(r, entry); err != nil {
				fail("%s: entry %d: %v", tilePath(t), i, err)
			}
			out = append(out, entry)
		}
		if r.Len() != 0 {
			fail("%s: %d bytes after its %d entries", tilePath(t), r.Len(), w)
		}
	}
	return out
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: tlogverify DIR VKEY [OLD_CHECKPOINT]")
	}
	dir := os.Args[1]
	verifier, err := note.NewVerifier(os.Args[2])
	if err != nil {
		fail("note.NewVerifier: %v", err)
	}
	cp := open(dir, "checkpoint", verifier)
	reader := tlog.TileHashReader(cp.tree, dirTiles{dir})
	root, err := tlog.TreeHash(cp.tree.N, reader)
	if err != nil {
		fail("TreeHash: %v", err)
	}
	if root != cp.tree.Hash {
		fail("the tiles hash to %v, the checkpoint signs %v", root, cp.tree.Hash)
	}
	entries := leaves(dir, cp.tree.N)
	for i, entry := range entries {
		proof, err := tlog.ProveRecord(cp.tree.N, int64(i), reader)
		if err != nil {
			fail("ProveRecord %d: %v", i, err)
		}
		if err := tlog.CheckRecord(proof, cp.tree.N, cp.tree.Hash, int64(i), tlog.RecordHash(entry)); err != nil {
			fail("CheckRecord %d: %v", i, err)
		}
	}
	fmt.Printf("checkpoint %s size %d verified; %d leaves proven and checked\n", cp.origin, cp.tree.N, len(entries))
	if len(os.Args) > 3 {
		old := open(filepath.Dir(os.Args[3]), filepath.Base(os.Args[3]), verifier)
		proof, err := tlog.ProveTree(cp.tree.N, old.tree.N, reader)
		if err != nil {
			fail("ProveTree %d -> %d: %v", old.tree.N, cp.tree.N, err)
		}
		if err := tlog.CheckTree(proof, cp.tree.N, cp.tree.Hash, old.tree.N, old.tree.Hash); err != nil {
			fail("CheckTree %d -> %d: %v", old.tree.N, cp.tree.N, err)
		}
		fmt.Printf("consistent: the tree of %d extends the tree of %d\n", cp.tree.N, old.tree.N)
	}
}
