package bolt

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
)

func TestSymbolNamesSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bars.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.SymbolNames(ctx); err != nil || len(got) != 0 {
		t.Fatalf("new store: %v %v", got, err)
	}
	want := map[string]string{"BBG1": "SBER", "BBG2": "MOEX_GAZP"}
	if err := s.PutSymbolNames(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSymbolNames(ctx, map[string]string{"BBG3": "YNDX"}); err != nil {
		t.Fatal(err)
	}
	want["BBG3"] = "YNDX"
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.SymbolNames(ctx)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen: %v %v, want %v", got, err, want)
	}
}
