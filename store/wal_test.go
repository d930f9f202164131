package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// abandon leaves the store as a crash would: the log and the bbolt file as
// they are, nothing written back. A checkpoint already running is let
// finish, as it would have had the crash come later.
func abandon(t *testing.T, s *File) {
	t.Helper()
	s.commits.Close()
	s.awaitCheckpoint()
	if s.spare != nil {
		if r := <-s.spare; r.err == nil {
			r.seg.f.Close()
		}
	}
	select {
	case g := <-s.recycled:
		g.f.Close()
	default:
	}
	s.seg.f.Close()
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	s.once.Do(func() { s.err = ErrClosed })
}

func openSmall(t *testing.T, path string, segSize int64) *File {
	t.Helper()
	s, err := openFile(path, segSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func segments(t *testing.T, path string) []uint64 {
	t.Helper()
	ns, err := listSegments(path)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestRecordRoundTrip(t *testing.T) {
	ops := []Op{
		{Devices, "d1", []byte(`{"deviceId":"d1"}`)},
		{Twins, "d1", []byte{}},
		{Telemetry, strings.Repeat("k", 300), nil},
		{ImportExport, "j", bytes.Repeat([]byte("v"), 70000)},
	}
	enc, put := encodeRecord(42, ops)
	buf := slices.Concat([]byte("prefix"), enc)
	rec, n, err := decodeRecord(buf[len("prefix"):])
	if err != nil || n != len(buf)-len("prefix") {
		t.Fatalf("decode = %d, %v", n, err)
	}
	if rec.seq != 42 || len(rec.ops) != len(ops) {
		t.Fatalf("decoded seq %d, %d ops", rec.seq, len(rec.ops))
	}
	for i, op := range rec.ops {
		want := ops[i]
		if op.Bucket != want.Bucket || op.Key != want.Key || !bytes.Equal(op.Value, want.Value) || (op.Value == nil) != (want.Value == nil) {
			t.Errorf("op %d = %s/%s %q (nil %v), want %s/%s %q", i, op.Bucket, op.Key, op.Value, op.Value == nil, want.Bucket, want.Key, want.Value)
		}
	}
	// What encodeRecord returns beside the bytes is what they decode to,
	// its values slices of the encoding (the overlay keeps nothing of the
	// caller's).
	if !reflect.DeepEqual(put, rec) {
		t.Fatalf("encodeRecord's record %+v, decoded %+v", put, rec)
	}
	if v := put.ops[0].Value; &v[0] != &enc[bytes.Index(enc, ops[0].Value)] {
		t.Fatal("a value encodeRecord returned is not a slice of the encoding")
	}
	// Every cut of the record is torn; zeros are the end of the log.
	whole := buf[len("prefix"):]
	for cut := 1; cut < len(whole); cut += 97 {
		if _, _, err := decodeRecord(whole[:cut]); !errors.Is(err, errTornRecord) {
			t.Fatalf("record cut at %d: %v, want torn", cut, err)
		}
	}
	for _, b := range [][]byte{nil, make([]byte, 3), make([]byte, 100)} {
		if _, _, err := decodeRecord(b); !errors.Is(err, errEndOfLog) {
			t.Fatalf("%d zeros: %v, want the end", len(b), err)
		}
	}
	flipped := bytes.Clone(whole)
	flipped[len(flipped)/2] ^= 1
	if _, _, err := decodeRecord(flipped); !errors.Is(err, errTornRecord) {
		t.Fatalf("flipped bit: %v, want torn", err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	seed, _ := encodeRecord(1, []Op{{Devices, "d1", []byte("{}")}, {C2D, "q", nil}})
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{5, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, n, err := decodeRecord(b)
		if err != nil {
			return
		}
		if n > len(b) || n <= recordHeader {
			t.Fatalf("took %d of %d bytes", n, len(b))
		}
		// What decodes encodes back to the same bytes.
		if again, _ := encodeRecord(rec.seq, rec.ops); !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoded record differs:\n%x\n%x", again, b[:n])
		}
	})
}

func TestCommittedWritesAreReadBeforeTheCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	s := openSmall(t, path, 1<<20)
	mustApply(t, s, Op{Devices, "d1", []byte("1")}, Op{Devices, "d2", []byte("2")})
	mustApply(t, s, Op{Devices, "d1", nil})
	// Nothing has reached bbolt yet; reads come from the log's overlay.
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(Devices)).Get([]byte("d2")); v != nil {
			return fmt.Errorf("bbolt already holds d2 = %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(Devices, "d2"); err != nil || string(v) != "2" {
		t.Fatalf("Get d2 = %q, %v", v, err)
	}
	if v, err := s.Get(Devices, "d1"); err != nil || v != nil {
		t.Fatalf("Get of deleted d1 = %q, %v", v, err)
	}
	wantRecords(t, s, Devices, "d2=2") // ForEach checkpoints first
	if v, err := s.Get(Devices, "d2"); err != nil || string(v) != "2" {
		t.Fatalf("Get d2 after the checkpoint = %q, %v", v, err)
	}
}

func TestReplayAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := openFile(path, 4096)
	if err != nil {
		t.Fatal(err)
	}
	// Enough records to fill several segments, so that some checkpoints
	// ran and some records are only in the log.
	for i := range 200 {
		mustApply(t, s, Op{Devices, fmt.Sprintf("d%03d", i), bytes.Repeat([]byte{'a' + byte(i%26)}, 100)})
	}
	mustApply(t, s, Op{Devices, "d005", nil})
	abandon(t, s)
	if ns := segments(t, path); len(ns) == 0 {
		t.Fatal("the crash left no log to replay")
	}

	s2 := openSmall(t, path, 4096)
	if ns := segments(t, path); len(ns) != 1 {
		t.Fatalf("segments after the replay: %v, want the new one alone", ns)
	}
	var n int
	err = s2.ForEach(Devices, func(k string, v []byte) error {
		i, _ := strconv.Atoi(k[1:])
		if k == "d005" || !bytes.Equal(v, bytes.Repeat([]byte{'a' + byte(i%26)}, 100)) {
			return fmt.Errorf("%s = %q", k, v)
		}
		n++
		return nil
	})
	if err != nil || n != 199 {
		t.Fatalf("after the replay %d devices, %v; want 199", n, err)
	}
	if err := s2.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestReplayStopsAtATornTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(t *testing.T, seg string, lastOff int64)
	}{
		{"cut short", func(t *testing.T, seg string, lastOff int64) {
			f, err := os.OpenFile(seg, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Zero the record's second half, as a write the crash cut off.
			if _, err := f.WriteAt(make([]byte, 40), lastOff+30); err != nil {
				t.Fatal(err)
			}
		}},
		{"bad checksum", func(t *testing.T, seg string, lastOff int64) {
			f, err := os.OpenFile(seg, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("X"), lastOff+recordHeader+20); err != nil {
				t.Fatal(err)
			}
		}},
		{"file truncated", func(t *testing.T, seg string, lastOff int64) {
			if err := os.Truncate(seg, lastOff+5); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hub.db")
			s, err := openFile(path, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			mustApply(t, s, Op{Twins, "kept", []byte(`{"a":1}`)})
			lastOff := s.seg.off
			mustApply(t, s, Op{Twins, "torn", bytes.Repeat([]byte("z"), 60)}, Op{Twins, "kept", nil})
			seg := s.seg.path
			abandon(t, s)
			tc.tear(t, seg, lastOff)

			s2 := openSmall(t, path, 1<<20)
			wantRecords(t, s2, Twins, `kept={"a":1}`)
			// The sequence goes on from the last intact record: a write
			// after the replay survives another crash.
			mustApply(t, s2, Op{Twins, "after", []byte("1")})
			abandon(t, s2)
			s3 := openSmall(t, path, 1<<20)
			wantRecords(t, s3, Twins, `after=1 kept={"a":1}`)
		})
	}
}

func TestReplaySkipsWhatTheCheckpointWrote(t *testing.T) {
	// A crash between a checkpoint's commit and the removal of its
	// segment leaves records that bbolt already holds: replaying them
	// would undo what came after. (The store's first segment is smaller
	// than its largest, so it is removed, not recycled.)
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.db")
	s, err := openFile(path, 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, Op{C2D, "m", []byte("first")})
	old, err := os.ReadFile(s.seg.path)
	if err != nil {
		t.Fatal(err)
	}
	oldPath := s.seg.path
	if err := s.flush(); err != nil { // checkpoint: the segment is removed
		t.Fatal(err)
	}
	if _, err := os.Stat(oldPath); !os.IsNotExist(err) {
		t.Fatalf("checkpointed segment still there: %v", err)
	}
	mustApply(t, s, Op{C2D, "m", nil}, Op{C2D, "n", []byte("second")})
	abandon(t, s)
	if err := os.WriteFile(oldPath, old, 0o600); err != nil { // as if never removed
		t.Fatal(err)
	}

	s2 := openSmall(t, path, 2<<20)
	wantRecords(t, s2, C2D, "n=second")
}

func TestRecycledSegmentsReplayOnlyTheirNewRecords(t *testing.T) {
	// Segments at the largest size are written over once bbolt holds
	// their records: past the new records they hold old ones, which a
	// replay must neither apply nor mistake for the end of the log.
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := openFile(path, 4096)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 400 {
		mustApply(t, s, Op{Devices, fmt.Sprintf("d%d", i%37), []byte(strconv.Itoa(i))})
	}
	// The active segment was recycled: past its offset lie old records.
	b, err := os.ReadFile(s.seg.path)
	if err != nil {
		t.Fatal(err)
	}
	if allZero(b[s.seg.off:]) {
		t.Fatal("the active segment is a fresh one; no segment was recycled")
	}
	if ns := segments(t, path); len(ns) > 3 {
		t.Fatalf("%d segments on disk, want at most the active, the spare and one being written back", len(ns))
	}
	abandon(t, s)

	s2 := openSmall(t, path, 4096)
	want := map[string]string{}
	for i := range 400 {
		want[fmt.Sprintf("d%d", i%37)] = strconv.Itoa(i)
	}
	for k, v := range want {
		if got, err := s2.Get(Devices, k); err != nil || string(got) != v {
			t.Fatalf("after the replay %s = %q, %v; want %q", k, got, err, v)
		}
	}
}

func TestReplayReadsPastTheOldRecordsOfARecycledSegment(t *testing.T) {
	// A recycled segment holds, past its new records, whole old ones when
	// the sizes line up. A replay skips them and goes on to the next
	// segment; stopping there would lose what that one holds.
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := openFile(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		mustApply(t, s, Op{C2D, "k" + strconv.Itoa(i), []byte("old")})
	}
	if err := s.Close(); err != nil { // bbolt holds records 1 to 4
		t.Fatal(err)
	}
	rec := func(seq uint64, key, value string) []byte {
		b, _ := encodeRecord(seq, []Op{{C2D, key, []byte(value)}})
		return b
	}
	recycled := slices.Concat(rec(5, "k1", "new"), rec(6, "k5", "new"), rec(2, "k2", "stale"), rec(3, "k3", "stale"))
	if err := os.WriteFile(segmentPath(path, 7), recycled, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segmentPath(path, 8), rec(7, "k6", "new"), 0o600); err != nil {
		t.Fatal(err)
	}

	s2 := openSmall(t, path, 1<<20)
	wantRecords(t, s2, C2D, "k1=new k2=old k3=old k4=old k5=new k6=new")
}

func TestCrashDuringACheckpoint(t *testing.T) {
	// The files as a crash leaves them while a checkpoint is writing a
	// recycled segment back: bbolt without that segment's records, the
	// segment with older records past its new ones, and the next segment
	// with records after them. The replay must take all of the new.
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.db")
	s := openSmall(t, path, 4096)
	want := map[string]string{}
	// Records of one size, so that past the new records in a recycled
	// segment lie whole old ones, not the middle of one.
	write := func(i int) {
		k, v := fmt.Sprintf("d%02d", i%53), fmt.Sprintf("%06d", i)
		mustApply(t, s, Op{Devices, k, []byte(v)})
		want[k] = v
	}
	i := 0
	for ; i < 600; i++ { // enough for segments to be recycled
		write(i)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.checkpointHook = func() {
		once.Do(func() { close(entered) })
		<-release
	}
	for blocked := false; !blocked; i++ {
		write(i)
		select {
		case <-entered:
			blocked = true
		default:
		}
		if i > 2000 {
			t.Fatal("no checkpoint began")
		}
	}
	for range 40 { // into the next segment, well short of filling it
		write(i)
		i++
	}
	crashed := filepath.Join(t.TempDir(), "crashed")
	if err := os.Mkdir(crashed, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crashed, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	close(release)

	s2 := openSmall(t, filepath.Join(crashed, "hub.db"), 4096)
	for k, v := range want {
		if got, err := s2.Get(Devices, k); err != nil || string(got) != v {
			t.Fatalf("after the crash %s = %q, %v; want %q", k, got, err, v)
		}
	}
}

func TestCloseLeavesTheDatabaseAlone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.db")
	s, err := openFile(path, 4096)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		mustApply(t, s, Op{Feedback, strconv.Itoa(i), bytes.Repeat([]byte("f"), 200)})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "hub.db" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("after Close the directory holds %v, want hub.db alone", names)
	}
	s2 := openSmall(t, path, 4096)
	var n int
	if err := s2.ForEach(Feedback, func(string, []byte) error { n++; return nil }); err != nil || n != 100 {
		t.Fatalf("after reopening %d records, %v", n, err)
	}
}

func TestConcurrentWritersAcrossCheckpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	s := openSmall(t, path, 8<<10)
	const writers, each = 8, 150
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				k := fmt.Sprintf("w%d-%03d", w, i)
				if err := s.Apply(ctx, Op{Telemetry, k, []byte(k)}); err != nil {
					errs <- err
					return
				}
				// Read your write, wherever it is: overlay, frozen or bbolt.
				if v, err := s.Get(Telemetry, k); err != nil || string(v) != k {
					errs <- fmt.Errorf("Get %s = %q, %v", k, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var n int
	if err := s.ForEach(Telemetry, func(k string, v []byte) error {
		if k != string(v) {
			return fmt.Errorf("%s = %q", k, v)
		}
		n++
		return nil
	}); err != nil || n != writers*each {
		t.Fatalf("%d records, %v; want %d", n, err, writers*each)
	}
}

// TestKillKeepsEveryAcknowledgedWrite runs writers in a child process,
// which prints each key once its Apply has returned, kills it with
// SIGKILL while it writes, and checks that the reopened store holds
// every key the child printed. Segments are small so that kills land
// during checkpoints too.
func TestKillKeepsEveryAcknowledgedWrite(t *testing.T) {
	if dir := os.Getenv("STORE_CRASH_CHILD"); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for round, acks := range []int{50, 400, 3000} {
		t.Run(fmt.Sprintf("after %d acknowledgements", acks), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "hub.db")
			acked := map[string]bool{}
			for life := range 2 { // a second life writes over a replayed log
				cmd := exec.Command(exe, "-test.run=^TestKillKeepsEveryAcknowledgedWrite$")
				cmd.Env = append(os.Environ(), "STORE_CRASH_CHILD="+path, fmt.Sprintf("STORE_CRASH_PREFIX=r%dl%d-", round, life))
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				cmd.Stderr = os.Stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				lines := bufio.NewScanner(out)
				deadline := time.Now().Add(30 * time.Second)
				got := 0
				for got < acks && time.Now().Before(deadline) && lines.Scan() {
					if k, ok := strings.CutPrefix(lines.Text(), "ack "); ok {
						acked[k] = true
						got++
					}
				}
				cmd.Process.Signal(syscall.SIGKILL)
				for lines.Scan() { // acknowledgements printed before the kill
					if k, ok := strings.CutPrefix(lines.Text(), "ack "); ok {
						acked[k] = true
					}
				}
				cmd.Wait()
				if got < acks {
					t.Fatalf("the child acknowledged %d writes of %d before the deadline", got, acks)
				}
			}
			s := openSmall(t, path, 8<<10)
			for k := range acked {
				v, err := s.Get(JobDevices, k)
				if err != nil || string(v) != crashValue(k) {
					t.Fatalf("acknowledged %s = %.40q, %v after the kill", k, v, err)
				}
			}
			if err := s.Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// crashValue is what the child writes at k: keys of its large batches
// get values large enough that the batch goes straight to bbolt.
func crashValue(k string) string {
	if strings.Contains(k, "-big") {
		return k + ":" + strings.Repeat("V", 4000)
	}
	return k + ":" + strings.Repeat("v", 300)
}

// crashChild writes until it is killed, from 4 goroutines, printing each
// key once its write is acknowledged; one of them now and then writes a
// large batch. It is bounded in time in case the
// parent dies first.
func crashChild(path string) {
	s, err := openFile(path, 8<<10)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	prefix := os.Getenv("STORE_CRASH_PREFIX")
	var mu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				k := fmt.Sprintf("%sw%d-%06d", prefix, w, i)
				keys := []string{k}
				if w == 0 && i%40 == 39 { // now and then a batch of 1.2 MB
					keys = keys[:0]
					for j := range 300 {
						keys = append(keys, fmt.Sprintf("%s-big%03d", k, j))
					}
				}
				var ops []Op
				for _, k := range keys {
					ops = append(ops, Op{JobDevices, k, []byte(crashValue(k))})
				}
				if err := s.Apply(ctx, ops...); err != nil {
					return
				}
				mu.Lock()
				for _, k := range keys {
					fmt.Printf("ack %s\n", k)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(3)
}

// TestBatchLargerThanItsSegment: a batch up to half the largest segment
// goes through the log even when it is larger than the segment it lands
// in (the first segments are small): the segment grows to hold it, and a
// restart after a crash replays it with what came before and after.
func TestBatchLargerThanItsSegment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := openFile(path, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, Op{Twins, "before", []byte("1")})
	var big []Op
	for i := range 750 {
		big = append(big, Op{Twins, fmt.Sprintf("big%03d", i), bytes.Repeat([]byte{'a' + byte(i%26)}, 4000)})
	}
	mustApply(t, s, big...) // 3 MB, into a first segment of 1 MiB
	// Only the next commit moves to a new segment and checkpoints this one.
	err = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(Twins)).Get([]byte("big001")); v != nil {
			return fmt.Errorf("the batch went straight to bbolt")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, Op{Twins, "after", []byte("2")}, Op{Twins, "big000", nil})
	abandon(t, s)

	s2 := openSmall(t, path, 16<<20)
	for i := range 750 {
		k := fmt.Sprintf("big%03d", i)
		v, err := s2.Get(Twins, k)
		want := bytes.Repeat([]byte{'a' + byte(i%26)}, 4000)
		if i == 0 {
			want = nil
		}
		if err != nil || !bytes.Equal(v, want) {
			t.Fatalf("after the crash %s has %d bytes, %v", k, len(v), err)
		}
	}
	for k, want := range map[string]string{"before": "1", "after": "2"} {
		if v, err := s2.Get(Twins, k); err != nil || string(v) != want {
			t.Fatalf("after the crash %s = %q, %v", k, v, err)
		}
	}
}

func TestLargeBatchesGoStraightToTheDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := openFile(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, Op{Twins, "a", []byte("small-1")}, Op{Twins, "b", []byte("small-1")})
	var big []Op
	for i := range 300 {
		big = append(big, Op{Twins, fmt.Sprintf("big%03d", i), bytes.Repeat([]byte("x"), 4000)})
	}
	big = append(big, Op{Twins, "a", []byte("large")}, Op{Twins, "b", nil})
	mustApply(t, s, big...)
	// The large batch is in bbolt, and so is what the log held before it.
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(Twins))
		if v := b.Get([]byte("a")); string(v) != "large" {
			return fmt.Errorf("bbolt a = %q", v)
		}
		if v := b.Get([]byte("b")); v != nil {
			return fmt.Errorf("bbolt b = %q", v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, Op{Twins, "a", []byte("small-2")})
	if v, err := s.Get(Twins, "a"); err != nil || string(v) != "small-2" {
		t.Fatalf("Get a = %q, %v", v, err)
	}
	abandon(t, s)

	s2 := openSmall(t, path, 1<<20)
	if v, err := s2.Get(Twins, "a"); err != nil || string(v) != "small-2" {
		t.Fatalf("after the crash a = %q, %v", v, err)
	}
	if v, err := s2.Get(Twins, "b"); err != nil || v != nil {
		t.Fatalf("after the crash b = %q, %v", v, err)
	}
	var n int
	if err := s2.ForEach(Twins, func(string, []byte) error { n++; return nil }); err != nil || n != 301 {
		t.Fatalf("after the crash %d twins, %v; want 301", n, err)
	}
}
