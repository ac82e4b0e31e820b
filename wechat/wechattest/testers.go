package wechattest

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"net/http"
)

// DefaultSlotLimit is a Mini Program's experiencer slot count until SetSlotLimit changes it.
const DefaultSlotLimit = 15

// MaxAppsPerUser is how many Mini Programs one WeChat account may be an experiencer of;
// binding beyond it answers 85003.
const MaxAppsPerUser = 50

type member struct{ wechatid, userstr string }

// SetOutcome makes bind_tester answer errcode for wechatid on every app (e.g. 85001, or -1
// forever). 0 restores normal behaviour.
func (s *Server) SetOutcome(wechatid string, errcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if errcode == 0 {
		delete(s.outcomes, wechatid)
		return
	}
	s.outcomes[wechatid] = errcode
}

// SetSlotLimit sets how many experiencers appid may have; binding beyond answers 85002.
func (s *Server) SetSlotLimit(appid string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.app(appid).slots = n
}

// Experiencers returns the userstrs bound to appid, in bind order.
func (s *Server) Experiencers(appid string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if a := s.apps[appid]; a != nil {
		for _, m := range a.members {
			out = append(out, m.userstr)
		}
	}
	return out
}

// UserStr returns the userstr of wechatid on appid, or "" if it is not bound.
func (s *Server) UserStr(appid, wechatid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.apps[appid]; a != nil {
		if i := a.find(wechatid, ""); i >= 0 {
			return a.members[i].userstr
		}
	}
	return ""
}

// AddExperiencer binds wechatid to appid directly, ignoring limits and outcomes, and returns
// its userstr (the existing one if already bound).
func (s *Server) AddExperiencer(appid, wechatid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.app(appid).bind(wechatid)
}

// find returns the index of the member with that wechatid or userstr ("" matches nothing), or -1.
func (a *app) find(wechatid, userstr string) int {
	for i, m := range a.members {
		if (wechatid != "" && m.wechatid == wechatid) || (userstr != "" && m.userstr == userstr) {
			return i
		}
	}
	return -1
}

func (a *app) bind(wechatid string) string {
	if i := a.find(wechatid, ""); i >= 0 {
		return a.members[i].userstr
	}
	us := randHex(12)
	a.members = append(a.members, member{wechatid, us})
	return us
}

// boundApps counts the apps wechatid is an experiencer of. Callers hold s.mu.
func (s *Server) boundApps(wechatid string) int {
	n := 0
	for _, a := range s.apps {
		if a.find(wechatid, "") >= 0 {
			n++
		}
	}
	return n
}

// POST /wxa/bind_tester {"wechatid":..}
func (s *Server) bindTester(c call) reply {
	var in struct {
		WechatID string `json:"wechatid"`
	}
	if json.Unmarshal(c.body, &in) != nil || in.WechatID == "" {
		return answer(47001, nil)
	}
	if code := s.outcomes[in.WechatID]; code != 0 {
		return answer(code, nil)
	}
	a := s.apps[c.appid]
	switch {
	case a.find(in.WechatID, "") >= 0:
		return answer(85004, nil)
	case len(a.members) >= a.slots:
		return answer(85002, nil)
	case s.boundApps(in.WechatID) >= MaxAppsPerUser:
		return answer(85003, nil)
	}
	return answer(0, map[string]any{"userstr": a.bind(in.WechatID)})
}

// POST /wxa/unbind_tester with exactly one of {"userstr":..} or {"wechatid":..}. Unbinding
// someone not bound succeeds. A wechatid that is really a userstr answers -1, as WeChat does.
func (s *Server) unbindTester(c call) reply {
	var in struct {
		UserStr  string `json:"userstr"`
		WechatID string `json:"wechatid"`
	}
	if json.Unmarshal(c.body, &in) != nil || (in.UserStr == "") == (in.WechatID == "") {
		return answer(47001, nil)
	}
	a := s.apps[c.appid]
	if in.WechatID != "" && a.find("", in.WechatID) >= 0 {
		return answer(-1, nil)
	}
	if i := a.find(in.WechatID, in.UserStr); i >= 0 {
		a.members = append(a.members[:i], a.members[i+1:]...)
	}
	return answer(0, nil)
}

// POST /wxa/memberauth {"action":"get_experiencer"}
func (s *Server) memberAuth(c call) reply {
	var in struct {
		Action string `json:"action"`
	}
	if json.Unmarshal(c.body, &in) != nil || in.Action != "get_experiencer" {
		return answer(47001, nil)
	}
	members := []map[string]string{}
	for _, m := range s.apps[c.appid].members {
		members = append(members, map[string]string{"userstr": m.userstr})
	}
	return answer(0, map[string]any{"members": members})
}

// GET /wxa/get_qrcode?access_token=..&path=..: the trial version's QR code as a JPEG.
// The requested path is in the recorded Request's Query.
func (s *Server) getQRCode(call) reply {
	return reply{http.StatusOK, "image/jpeg", QRCodeJPEG()}
}

var qrJPEG = func() []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1)), nil); err != nil {
		panic("wechattest: encode JPEG: " + err.Error()) // cannot happen with a bytes.Buffer
	}
	return buf.Bytes()
}()

// QRCodeJPEG returns a copy of the image get_qrcode answers with (a 1x1 JPEG).
func QRCodeJPEG() []byte { return bytes.Clone(qrJPEG) }
