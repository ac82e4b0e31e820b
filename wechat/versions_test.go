package wechat_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

func TestVersionInfo(t *testing.T) {
	fake, c := setup(t)
	ctx := context.Background()
	fake.SetTrialVersion(appID, "", "") // the fake's apps have a trial version unless told otherwise
	info, err := c.VersionInfo(ctx, appID)
	if err != nil || info.Trial != nil || info.Release != nil {
		t.Fatalf("no versions: %+v, %v", info, err)
	}
	before := time.Now().Add(-time.Second)
	fake.SetTrialVersion(appID, "1.2.0", "checkout redesign")
	fake.SetReleaseVersion(appID, "1.1.0", "spring sale")
	info, err = c.VersionInfo(ctx, appID)
	if err != nil || info.Trial == nil || info.Release == nil {
		t.Fatalf("with versions: %+v, %v", info, err)
	}
	if tr := info.Trial; tr.Version != "1.2.0" || tr.Desc != "checkout redesign" || tr.At.Before(before) {
		t.Errorf("trial = %+v", tr)
	}
	if info.Release.Version != "1.1.0" {
		t.Errorf("release = %+v", info.Release)
	}
	for _, r := range fake.Requests() {
		if r.Path == "/wxa/getversioninfo" && (r.Method != http.MethodPost || string(r.Body) != "{}" || r.Query.Get("access_token") == "") {
			t.Errorf("request %s %s %q %v", r.Method, r.Path, r.Body, r.Query)
		}
	}
	// An empty exp_info is no trial version.
	fake.FailNextHTTP("/wxa/getversioninfo", 1, http.StatusOK, "application/json",
		`{"errcode":0,"errmsg":"ok","exp_info":{},"release_info":{"release_time":0,"release_version":"","release_desc":""}}`)
	if info, err := c.VersionInfo(ctx, appID); err != nil || info.Trial != nil || info.Release != nil {
		t.Fatalf("empty objects: %+v, %v", info, err)
	}
	fake.FailNext("/wxa/getversioninfo", 1, 61007)
	if _, err := c.VersionInfo(ctx, appID); !isCode(err, 61007) {
		t.Fatalf("errcode: %v", err)
	}
}

// Kept answers make no request within the ttl; concurrent asks share one; errors are not kept.
func TestVersionInfoCached(t *testing.T) {
	fake, c := setup(t)
	c.CacheVersions(200 * time.Millisecond)
	ctx := context.Background()
	fake.FailNext("/wxa/getversioninfo", 1, 48001)
	if _, err := c.VersionInfo(ctx, appID); !isCode(err, 48001) {
		t.Fatalf("failure: %v", err)
	}
	fake.SetTrialVersion(appID, "2.0.0", "")
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if info, err := c.VersionInfo(ctx, appID); err != nil || info.Trial == nil || info.Trial.Version != "2.0.0" {
				t.Errorf("VersionInfo = %+v, %v", info, err)
			}
		}()
	}
	wg.Wait()
	if n := fake.Calls("/wxa/getversioninfo"); n != 2 {
		t.Fatalf("getversioninfo called %d times, want 2 (the failure, then one for five)", n)
	}
	fake.SetTrialVersion(appID, "", "")
	if info, err := c.VersionInfo(ctx, appID); err != nil || info.Trial == nil {
		t.Fatalf("within the ttl: %+v, %v; want the kept answer", info, err)
	}
	if n := fake.Calls("/wxa/getversioninfo"); n != 2 {
		t.Errorf("a call within the ttl reached WeChat (%d calls)", n)
	}
	time.Sleep(300 * time.Millisecond)
	if info, err := c.VersionInfo(ctx, appID); err != nil || info.Trial != nil {
		t.Fatalf("after the ttl: %+v, %v; want the trial gone", info, err)
	}
	if n := fake.Calls("/wxa/getversioninfo"); n != 3 {
		t.Errorf("getversioninfo called %d times in all, want 3", n)
	}
}
