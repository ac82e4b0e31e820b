package wechattest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// PushNotice is one push of the kind WeChat sends to a third-party platform's authorization
// event URL. The override fields (empty: what WeChat would send) make hostile pushes: stale,
// replayed (fixed Random, Nonce and Timestamp make two pushes byte-identical), mis-signed, or
// addressed to another appid.
type PushNotice struct {
	InfoType          string    // "" = component_verify_ticket
	CreateTime        time.Time // zero: now
	Ticket            string    // ComponentVerifyTicket
	AuthorizerAppID   string
	AuthorizationCode string
	PreAuthCode       string

	Timestamp     string // query timestamp; "" = now
	Nonce         string // query nonce; "" = random digits
	Signature     string // msg_signature; "" = the correct one
	InnerAppID    string // AppId inside the decrypted XML; "" = the platform's
	TrailerAppID  string // appid appended to the plaintext; "" = the platform's
	EnvelopeAppID string // AppId beside Encrypt in the body; "" = the platform's
	Random        []byte // the 16-byte random prefix; nil = crypto/rand
	Encrypt       string // replaces the encrypted text (garbage, bad padding); still signed
	Client        *http.Client
}

// Push sends n to a receiver at url (its 授权事件接收URL) the way WeChat does: the inner XML,
// encrypted and signed with token and encodingAESKey by this package's own implementation of
// the documented algorithm (independent of wechat.MsgCrypt), POSTed with timestamp, nonce,
// encrypt_type=aes and msg_signature. The caller closes the response body.
func Push(ctx context.Context, url string, token, encodingAESKey, platformAppID string, n PushNotice) (*http.Response, error) {
	req, err := NewPushRequest(ctx, url, token, encodingAESKey, platformAppID, n)
	if err != nil {
		return nil, err
	}
	c := n.Client
	if c == nil {
		c = http.DefaultClient
	}
	return c.Do(req)
}

// NewPushRequest builds the request Push sends.
func NewPushRequest(ctx context.Context, target string, token, encodingAESKey, platformAppID string, n PushNotice) (*http.Request, error) {
	or := func(v, def string) string {
		if v != "" {
			return v
		}
		return def
	}
	created := n.CreateTime
	if created.IsZero() {
		created = time.Now()
	}
	inner := "<xml><AppId><![CDATA[" + or(n.InnerAppID, platformAppID) + "]]></AppId>" +
		"<CreateTime>" + strconv.FormatInt(created.Unix(), 10) + "</CreateTime>" +
		"<InfoType><![CDATA[" + or(n.InfoType, "component_verify_ticket") + "]]></InfoType>" +
		pushField("ComponentVerifyTicket", n.Ticket) + pushField("AuthorizerAppid", n.AuthorizerAppID) +
		pushField("AuthorizationCode", n.AuthorizationCode) + pushField("PreAuthCode", n.PreAuthCode) + "</xml>"
	enc := n.Encrypt
	if enc == "" {
		var err error
		if enc, err = SealPush(encodingAESKey, n.Random, []byte(inner), or(n.TrailerAppID, platformAppID)); err != nil {
			return nil, err
		}
	}
	ts := or(n.Timestamp, strconv.FormatInt(time.Now().Unix(), 10))
	nonce := n.Nonce
	if nonce == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		nonce = strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[:])), 10)
	}
	q := url.Values{
		"timestamp":     {ts},
		"nonce":         {nonce},
		"encrypt_type":  {"aes"},
		"msg_signature": {or(n.Signature, PushSignature(token, ts, nonce, enc))},
	}
	body := "<xml><AppId><![CDATA[" + or(n.EnvelopeAppID, platformAppID) + "]]></AppId>" +
		"<Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target+"?"+q.Encode(), strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	return req, nil
}

// pushField is one optional element of the inner XML.
func pushField(name, v string) string {
	if v == "" {
		return ""
	}
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(v)) // tickets are plain; escaping keeps odd test values well-formed
	return "<" + name + ">" + b.String() + "</" + name + ">"
}

// PushSignature is msg_signature: hex SHA-1 of the four values sorted and joined.
func PushSignature(token, timestamp, nonce, encrypted string) string {
	v := []string{token, timestamp, nonce, encrypted}
	sort.Strings(v)
	h := sha1.New()
	for _, s := range v {
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SealPush encrypts msg for appID the documented way: AES-256-CBC, key = base64(EncodingAESKey+"="),
// IV = key[:16], over random(16) ‖ uint32be(len msg) ‖ msg ‖ appID, PKCS#7-padded to 32 bytes.
// random nil draws 16 bytes from crypto/rand.
func SealPush(encodingAESKey string, random, msg []byte, appID string) (string, error) {
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return "", errors.New("wechattest: EncodingAESKey must be 43 base64 characters")
	}
	if random == nil {
		random = make([]byte, 16)
		_, _ = rand.Read(random)
	}
	if len(random) != 16 {
		return "", fmt.Errorf("wechattest: random prefix must be 16 bytes, not %d", len(random))
	}
	var p bytes.Buffer
	p.Write(random)
	_ = binary.Write(&p, binary.BigEndian, uint32(len(msg)))
	p.Write(msg)
	p.WriteString(appID)
	pad := 32 - p.Len()%32
	p.Write(bytes.Repeat([]byte{byte(pad)}, pad))
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	out := make([]byte, p.Len())
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, p.Bytes())
	return base64.StdEncoding.EncodeToString(out), nil
}
