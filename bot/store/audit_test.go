package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/bindtester/bindtester/bot"
)

var allKinds = []bot.EventKind{
	bot.EventAllowed, bot.EventDenied, bot.EventRequested, bot.EventApproved, bot.EventRejected,
	bot.EventApprovalExpired, bot.EventBound, bot.EventFailed, bot.EventUnbound, bot.EventExpired,
}

func TestRecordRoundTripsEveryKind(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var want []bot.Event // newest first
		for i, kind := range allKinds {
			e := bot.Event{
				At:           t0.Add(time.Duration(i) * time.Minute),
				Kind:         kind,
				Actor:        fmt.Sprintf("UACTOR%d", i),
				Requester:    fmt.Sprintf("UREQ%d", i),
				Channel:      fmt.Sprintf("C%d", i),
				ThreadTS:     fmt.Sprintf("1700000000.%06d", i),
				AppID:        fmt.Sprintf("wxapp%d", i),
				WechatMasked: "ab***yz",
				UserStr:      fmt.Sprintf("userstr-%d", i),
				ErrCode:      85000 + i,
				Detail:       fmt.Sprintf("detail %d: ü & <x>", i),
				GrantID:      int64(100 + i),
				ApprovalID:   int64(200 + i),
			}
			if err := s.Record(ctx, e); err != nil {
				t.Fatalf("Record(%s): %v", kind, err)
			}
			e.ID = int64(i + 1)
			e.At = e.At.UTC()
			want = append([]bot.Event{e}, want...)
		}
		got, err := s.Events(ctx, bot.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Events =\n%+v\nwant\n%+v", got, want)
		}
		if err := s.Record(ctx, bot.Event{At: t0}); err == nil {
			t.Error("Record accepted an event without a kind")
		}
	})
}

func TestEventsFilterAndPage(t *testing.T) {
	eachEngine(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		// id: app, actor, requester; at grows with id except 5 and 6 share a time
		// (then the later id is newer) and 7 is older than all.
		recs := []struct {
			app, actor, requester string
			at                    time.Duration
		}{
			{"wxA", "U1", "U1", 1}, // 1
			{"wxB", "U2", "U2", 2}, // 2
			{"wxA", "U3", "U1", 3}, // 3: U3 approved U1's request
			{"wxB", "", "U2", 4},   // 4: the worker acted for U2
			{"wxA", "U2", "U2", 5}, // 5
			{"wxA", "U1", "U1", 5}, // 6
			{"wxB", "U1", "U3", 0}, // 7
		}
		for _, r := range recs {
			if err := s.Record(ctx, bot.Event{At: t0.Add(r.at * time.Second), Kind: bot.EventBound, AppID: r.app, Actor: r.actor, Requester: r.requester}); err != nil {
				t.Fatal(err)
			}
		}
		tests := []struct {
			name string
			f    bot.AuditFilter
			want []int64
		}{
			{"all, newest first", bot.AuditFilter{}, []int64{6, 5, 4, 3, 2, 1, 7}},
			{"app", bot.AuditFilter{AppID: "wxA"}, []int64{6, 5, 3, 1}},
			{"user as actor or requester", bot.AuditFilter{User: "U1"}, []int64{6, 3, 1, 7}},
			{"user only as actor", bot.AuditFilter{User: "U3"}, []int64{3, 7}},
			{"app and user", bot.AuditFilter{AppID: "wxB", User: "U2"}, []int64{4, 2}},
			{"limit", bot.AuditFilter{Limit: 2}, []int64{6, 5}},
			{"second page", bot.AuditFilter{Limit: 2, Offset: 2}, []int64{4, 3}},
			{"last page", bot.AuditFilter{Limit: 3, Offset: 6}, []int64{7}},
			{"past the end", bot.AuditFilter{Limit: 3, Offset: 7}, nil},
			{"offset without limit", bot.AuditFilter{Offset: 5}, []int64{1, 7}},
			{"filtered page", bot.AuditFilter{User: "U1", Limit: 2, Offset: 1}, []int64{3, 1}},
			{"nobody", bot.AuditFilter{User: "U9"}, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				evs, err := s.Events(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				var ids []int64
				for _, e := range evs {
					ids = append(ids, e.ID)
				}
				if !reflect.DeepEqual(ids, tc.want) {
					t.Errorf("Events(%+v) ids = %v, want %v", tc.f, ids, tc.want)
				}
			})
		}
		if _, err := s.Events(ctx, bot.AuditFilter{Limit: -1}); err == nil {
			t.Error("Events accepted a negative limit")
		}
	})
}

func BenchmarkRecordEvent(b *testing.B) {
	s := newTestStore(b)
	ctx := context.Background()
	e := bot.Event{
		At: t0, Kind: bot.EventBound, Actor: "U0123ABCD", Requester: "U0123ABCD", Channel: "C0789IJKL",
		ThreadTS: "1700000000.000100", AppID: "wx1234567890abcdef", WechatMasked: "ab***yz",
		UserStr: "userstr-abcdef", Detail: "bound", GrantID: 1,
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Record(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}
