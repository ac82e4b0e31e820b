package wechat_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/bindtester/bindtester/wechat"
	"github.com/bindtester/bindtester/wechat/wechattest"
)

// WeCom's published example (加解密方案说明, developer.work.weixin.qq.com/document/path/90968 and
// 91144; the same values are in Tencent's C# Sample.cs and Java WXBizMsgCryptTest.testVerifyUrl).
const (
	weComToken  = "QDG6eK"
	weComKey    = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	weComAppID  = "wx5823bf96d3bd56c7"
	weComTS     = "1409659813"
	weComNonce  = "1372623149"
	weComSig    = "477715d11cdb4164915debcba66cb864d751f3e6"
	weComCipher = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
	// The plaintext the document shows (its elements are separated by single newlines).
	weComPlain = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n" +
		"<FromUserName><![CDATA[mycreate]]></FromUserName>\n" +
		"<CreateTime>1409659813</CreateTime>\n" +
		"<MsgType><![CDATA[text]]></MsgType>\n" +
		"<Content><![CDATA[hello]]></Content>\n" +
		"<MsgId>4561255354251345929</MsgId>\n" +
		"<AgentID>218</AgentID>\n" +
		"</xml>"
	weComRandom = "0960688932c47ef1" // the prefix inside weComCipher: re-encrypting with it must give weComCipher

	// URL verification example of the same document: echostr and its msg_signature.
	weComEchoTS    = "1409659589"
	weComEchoNonce = "263014780"
	weComEchoSig   = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
	weComEcho      = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
	weComEchoPlain = "1616140317555161061"
)

// Tencent's Java sample test (WXBizMsgCryptTest.testAesEncrypt, testAesEncrypt2): fixed random
// prefix, published ciphertexts.
const (
	pamToken   = "pamtest"
	pamKey     = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	pamAppID   = "wxb11529c136998cb6"
	pamRandom  = "aaaabbbbccccdddd"
	pamMsg     = "我是中文abcd123"
	pamCipher  = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
	pamMsg2    = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>"
	pamCipher2 = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb"
)

func newCrypt(t *testing.T, token, key, appID string) *wechat.MsgCrypt {
	t.Helper()
	m, err := wechat.NewMsgCrypt(token, key, appID)
	if err != nil {
		t.Fatalf("NewMsgCrypt: %v", err)
	}
	return m
}

// aesKey is the documented AESKey = Base64_Decode(EncodingAESKey + "=").
func aesKey(t *testing.T, encodingAESKey string) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(k) != 32 {
		t.Fatalf("AESKey: %v (%d bytes)", err, len(k))
	}
	return k
}

// cbcByHand encrypts whole blocks with AES-256-CBC, IV = key[:16], and base64-encodes them.
func cbcByHand(t *testing.T, encodingAESKey string, plain []byte) string {
	t.Helper()
	key := aesKey(t, encodingAESKey)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, key[:16]).CryptBlocks(out, plain)
	return base64.StdEncoding.EncodeToString(out)
}

// plainByHand lays out random ‖ uint32be(len msg) ‖ msg ‖ appID, unpadded.
func plainByHand(random, msg []byte, appID string) []byte {
	p := append([]byte{}, random...)
	p = binary.BigEndian.AppendUint32(p, uint32(len(msg)))
	p = append(p, msg...)
	return append(p, appID...)
}

// sealByHand is the documented encryption step by step: layout, PKCS#7 to 32 bytes, AES-CBC.
func sealByHand(t *testing.T, encodingAESKey string, random, msg []byte, appID string) string {
	t.Helper()
	p := plainByHand(random, msg, appID)
	pad := 32 - len(p)%32
	p = append(p, bytes.Repeat([]byte{byte(pad)}, pad)...)
	return cbcByHand(t, encodingAESKey, p)
}

func TestMsgCryptPublishedWeComSample(t *testing.T) {
	m := newCrypt(t, weComToken, weComKey, weComAppID)
	if got := m.Signature(weComTS, weComNonce, weComCipher); got != weComSig {
		t.Fatalf("Signature = %s, published %s", got, weComSig)
	}
	if got := wechattest.PushSignature(weComToken, weComTS, weComNonce, weComCipher); got != weComSig {
		t.Fatalf("the fake's signature = %s, published %s", got, weComSig)
	}
	if err := m.Verify(weComSig, weComTS, weComNonce, weComCipher); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	msg, appID, err := m.Decrypt(weComCipher)
	if err != nil || string(msg) != weComPlain || appID != weComAppID {
		t.Fatalf("Decrypt = %q, %q, %v", msg, appID, err)
	}
	if got := sealByHand(t, weComKey, []byte(weComRandom), []byte(weComPlain), weComAppID); got != weComCipher {
		t.Fatalf("step-by-step encryption with the sample's prefix differs from the published ciphertext")
	}

	if got := m.Signature(weComEchoTS, weComEchoNonce, weComEcho); got != weComEchoSig {
		t.Fatalf("echostr Signature = %s, published %s", got, weComEchoSig)
	}
	msg, _, err = m.Decrypt(weComEcho)
	if err != nil || string(msg) != weComEchoPlain {
		t.Fatalf("echostr Decrypt = %q, %v", msg, err)
	}
}

func TestMsgCryptPublishedJavaSample(t *testing.T) {
	m := newCrypt(t, pamToken, pamKey, pamAppID)
	for _, c := range []struct{ msg, cipher string }{{pamMsg, pamCipher}, {pamMsg2, pamCipher2}} {
		if got := sealByHand(t, pamKey, []byte(pamRandom), []byte(c.msg), pamAppID); got != c.cipher {
			t.Errorf("step-by-step encryption of %.20q differs from the published ciphertext", c.msg)
		}
		if got, err := wechattest.SealPush(pamKey, []byte(pamRandom), []byte(c.msg), pamAppID); err != nil || got != c.cipher {
			t.Errorf("the fake's encryption of %.20q differs from the published ciphertext (%v)", c.msg, err)
		}
		msg, appID, err := m.Decrypt(c.cipher)
		if err != nil || string(msg) != c.msg || appID != pamAppID {
			t.Errorf("Decrypt = %q, %q, %v", msg, appID, err)
		}
	}
}

// Every message length modulo 32 (so every pad value 1..32), encrypted by hand.
func TestMsgCryptDecryptsHandMadeCiphertexts(t *testing.T) {
	m := newCrypt(t, pamToken, pamKey, pamAppID)
	random := []byte("0123456789abcdef")
	for n := 0; n < 70; n++ {
		msg := bytes.Repeat([]byte{'x'}, n)
		got, appID, err := m.Decrypt(sealByHand(t, pamKey, random, msg, pamAppID))
		if err != nil || !bytes.Equal(got, msg) || appID != pamAppID {
			t.Fatalf("len %d: Decrypt = %q, %q, %v", n, got, appID, err)
		}
	}
	if got, want := m.Signature("1409304348", "xxxxxx", "b"), m.Signature("xxxxxx", "1409304348", "b"); got != want {
		t.Fatalf("signature depends on argument order: %s %s", got, want)
	}
}

// Encrypt's output, opened by hand, has the documented layout; two encryptions differ.
func TestMsgCryptEncryptLayout(t *testing.T) {
	m := newCrypt(t, pamToken, pamKey, pamAppID)
	msg := []byte("<xml><InfoType>component_verify_ticket</InfoType></xml>")
	a, err := m.Encrypt(msg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Encrypt(msg)
	if a == b {
		t.Fatal("two encryptions are identical: the prefix is not random")
	}
	data, _ := base64.StdEncoding.DecodeString(a)
	if len(data)%32 != 0 {
		t.Fatalf("ciphertext of %d bytes is not padded to 32", len(data))
	}
	key := aesKey(t, pamKey)
	block, _ := aes.NewCipher(key)
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(data, data)
	pad := int(data[len(data)-1])
	body := data[16 : len(data)-pad]
	if n := binary.BigEndian.Uint32(body[:4]); int(n) != len(msg) || !bytes.Equal(body[4:4+n], msg) || string(body[4+n:]) != pamAppID {
		t.Fatalf("layout: %q", body)
	}
	got, _, err := m.Decrypt(a)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("round trip: %q, %v", got, err)
	}
}

func TestNewMsgCryptRefusesBadConfig(t *testing.T) {
	for _, c := range []struct{ name, token, key, appID string }{
		{"short key", "tok", "abcde", "wx1"},
		{"long key", "tok", pamKey + "H", "wx1"},
		{"not base64", "tok", strings.Repeat("!", 43), "wx1"},
		{"empty token", "", pamKey, "wx1"},
		{"empty appid", "tok", pamKey, ""},
	} {
		_, err := wechat.NewMsgCrypt(c.token, c.key, c.appID)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if c.key != "" && strings.Contains(err.Error(), c.key) || c.token != "" && strings.Contains(err.Error(), c.token) {
			t.Errorf("%s: error %q shows the key or token", c.name, err)
		}
	}
}

func TestMsgCryptRefusesBadCiphertexts(t *testing.T) {
	m := newCrypt(t, pamToken, pamKey, pamAppID)
	random := []byte(pamRandom)
	good := plainByHand(random, []byte("hello"), pamAppID) // 43 bytes: pad 21
	withPad := func(p []byte, pad []byte) string { return cbcByHand(t, pamKey, append(append([]byte{}, p...), pad...)) }
	long := plainByHand(random, []byte("hello"), pamAppID)
	binary.BigEndian.PutUint32(long[16:20], 1000)
	cases := []struct {
		name, enc string
		want      error
	}{
		{"not base64", "%%%not base64%%%", wechat.ErrBadPayload},
		{"empty", "", wechat.ErrBadPayload},
		{"not whole blocks", base64.StdEncoding.EncodeToString(make([]byte, 40)), wechat.ErrBadPayload},
		{"one block", base64.StdEncoding.EncodeToString(make([]byte, 16)), wechat.ErrBadPayload},
		{"pad byte zero", withPad(good, append(bytes.Repeat([]byte{21}, 20), 0)), wechat.ErrBadPayload},
		{"pad byte 33", withPad(append(good, bytes.Repeat([]byte{0}, 32)...), append(bytes.Repeat([]byte{33}, 20), 33)), wechat.ErrBadPayload},
		{"inconsistent pad", withPad(good, append(bytes.Repeat([]byte{7}, 20), 21)), wechat.ErrBadPayload},
		{"inner length too big", withPad(long, bytes.Repeat([]byte{21}, 21)), wechat.ErrBadPayload},
		{"too short inside", withPad(random, bytes.Repeat([]byte{16}, 16)), wechat.ErrBadPayload},
		{"other appid", sealByHand(t, pamKey, random, []byte("hello"), "wx0000000000000000"), wechat.ErrWrongAppID},
		{"no appid", sealByHand(t, pamKey, random, []byte("hello"), ""), wechat.ErrWrongAppID},
	}
	for _, c := range cases {
		msg, _, err := m.Decrypt(c.enc)
		if !errors.Is(err, c.want) || msg != nil {
			t.Errorf("%s: Decrypt = %q, %v; want %v", c.name, msg, err, c.want)
			continue
		}
		if c.enc != "" && strings.Contains(err.Error(), c.enc) || strings.Contains(err.Error(), "hello") {
			t.Errorf("%s: error %q shows the payload", c.name, err)
		}
	}
	if err := m.Verify("12345", "1409304348", "xxxxxx", pamCipher); !errors.Is(err, wechat.ErrBadSignature) {
		t.Errorf("Verify(bad) = %v", err)
	}
}
