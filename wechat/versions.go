package wechat

import (
	"context"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// A tester bound to a Mini Program with no trial version has nothing to open, so
// callers ask wxa/getversioninfo first (permission set 18, like the testers API).

// Version is one version of a Mini Program: its version string, description and
// when it was uploaded (trial) or released.
type Version struct {
	Version, Desc string
	At            time.Time
}

// VersionInfo is what getversioninfo says: the trial (体验版) and the released
// version, each nil when there is none.
type VersionInfo struct {
	Trial   *Version
	Release *Version
}

// VersionInfo asks which trial and released versions appid has. See CacheVersions.
func (c *Client) VersionInfo(ctx context.Context, appid string) (VersionInfo, error) {
	if c.versions != nil {
		return c.versions.get(ctx, appid, func(ctx context.Context) (VersionInfo, error) { return c.fetchVersionInfo(ctx, appid) })
	}
	return c.fetchVersionInfo(ctx, appid)
}

func (c *Client) fetchVersionInfo(ctx context.Context, appid string) (VersionInfo, error) {
	var out struct {
		status
		Exp struct {
			Time    int64  `json:"exp_time"`
			Version string `json:"exp_version"`
			Desc    string `json:"exp_desc"`
		} `json:"exp_info"`
		Release struct {
			Time    int64  `json:"release_time"`
			Version string `json:"release_version"`
			Desc    string `json:"release_desc"`
		} `json:"release_info"`
	}
	err := c.call(ctx, appid, request{method: http.MethodPost, path: "/wxa/getversioninfo", body: map[string]any{}, out: &out})
	if err != nil {
		return VersionInfo{}, err
	}
	return VersionInfo{
		Trial:   version(out.Exp.Version, out.Exp.Desc, out.Exp.Time),
		Release: version(out.Release.Version, out.Release.Desc, out.Release.Time),
	}, nil
}

// version is nil for an absent or empty exp_info / release_info.
func version(v, desc string, at int64) *Version {
	if v == "" && at == 0 {
		return nil
	}
	return &Version{Version: v, Desc: desc, At: unixTime(at)}
}

// CacheVersions keeps each VersionInfo answer (per appid) for ttl, and makes
// concurrent asks for one app a single call. Failures are not kept. ttl <= 0
// turns caching off. Set it before the client is used.
func (c *Client) CacheVersions(ttl time.Duration) *Client {
	if ttl <= 0 {
		c.versions = nil
		return c
	}
	c.versions = &versionCache{ttl: ttl, kept: map[string]keptVersions{}}
	return c
}

// versionFetchTimeout bounds one shared fetch, which runs detached from the
// caller that started it so that its leaving does not fail the others.
const versionFetchTimeout = 30 * time.Second

type versionCache struct {
	ttl    time.Duration
	flight singleflight.Group
	mu     sync.Mutex
	kept   map[string]keptVersions
}

type keptVersions struct {
	info    VersionInfo
	expires time.Time
}

func (v *versionCache) get(ctx context.Context, appid string, fetch func(context.Context) (VersionInfo, error)) (VersionInfo, error) {
	v.mu.Lock()
	hit, ok := v.kept[appid]
	v.mu.Unlock()
	if ok && time.Now().Before(hit.expires) {
		return hit.info, nil
	}
	ch := v.flight.DoChan(appid, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), versionFetchTimeout)
		defer cancel()
		info, err := fetch(fctx)
		if err == nil {
			v.mu.Lock()
			v.kept[appid] = keptVersions{info: info, expires: time.Now().Add(v.ttl)}
			v.mu.Unlock()
		}
		return info, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return VersionInfo{}, r.Err
		}
		return r.Val.(VersionInfo), nil
	case <-ctx.Done():
		return VersionInfo{}, &TransportError{Kind: ErrTimeout, Path: "/wxa/getversioninfo", Detail: "waiting for the version info", cause: ctx.Err()}
	}
}
