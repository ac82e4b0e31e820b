package wechat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Refusals of a pushed message. Their texts never carry the payload, the key or the token.
var (
	ErrBadSignature = errors.New("wechat push: msg_signature does not match")
	ErrBadPayload   = errors.New("wechat push: malformed payload")
	ErrWrongAppID   = errors.New("wechat push: addressed to another appid")
	ErrStale        = errors.New("wechat push: timestamp outside the accepted window")
	ErrReplay       = errors.New("wechat push: already received")
)

// msgPadBlock is the PKCS#7 block WeChat pads to (32 bytes, not AES's 16).
const msgPadBlock = 32

// MsgCrypt is WeChat's message encryption (消息加解密, WXBizMsgCrypt) for one receiver:
// AES-256-CBC with AESKey = base64(EncodingAESKey+"="), IV = AESKey[:16], PKCS#7 padding to
// 32 bytes, over 16 random bytes ‖ 4-byte big-endian msg length ‖ msg ‖ appid; and
// msg_signature = hex(sha1(the sorted token, timestamp, nonce and encrypted text, joined)).
type MsgCrypt struct {
	token string
	block cipher.Block
	iv    []byte
	appID string
}

// NewMsgCrypt checks the platform's message token, EncodingAESKey (43 characters) and appid.
func NewMsgCrypt(token, encodingAESKey, appID string) (*MsgCrypt, error) {
	if token == "" {
		return nil, errors.New("wechat message token is empty")
	}
	if appID == "" {
		return nil, errors.New("wechat appid for message encryption is empty")
	}
	if n := len(encodingAESKey); n != 43 {
		return nil, fmt.Errorf("EncodingAESKey must be 43 characters, not %d", n)
	}
	// Not Strict: published keys (e.g. WeChat's own samples) leave the unused low bits set.
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, errors.New("EncodingAESKey is not base64")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("EncodingAESKey: %w", err)
	}
	return &MsgCrypt{token: token, block: block, iv: key[:aes.BlockSize], appID: appID}, nil
}

// Signature is the msg_signature of an encrypted text sent with timestamp and nonce.
func (m *MsgCrypt) Signature(timestamp, nonce, encrypted string) string {
	parts := []string{m.token, timestamp, nonce, encrypted}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// Verify compares signature with the expected one in constant time; a mismatch is ErrBadSignature.
func (m *MsgCrypt) Verify(signature, timestamp, nonce, encrypted string) error {
	want := m.Signature(timestamp, nonce, encrypted)
	if subtle.ConstantTimeCompare([]byte(want), []byte(signature)) != 1 {
		return ErrBadSignature
	}
	return nil
}

// Decrypt opens an encrypted text. It returns the appid found inside the plaintext; when that
// is not this receiver's, msg is nil and err is ErrWrongAppID. Malformed input is ErrBadPayload.
// Decrypt does not check the signature: call Verify first.
func (m *MsgCrypt) Decrypt(encrypted string) (msg []byte, appID string, err error) {
	data, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil {
		return nil, "", fmt.Errorf("%w: not base64", ErrBadPayload)
	}
	if len(data) < msgPadBlock || len(data)%aes.BlockSize != 0 {
		return nil, "", fmt.Errorf("%w: ciphertext length %d", ErrBadPayload, len(data))
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(m.block, m.iv).CryptBlocks(plain, data)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > msgPadBlock {
		return nil, "", fmt.Errorf("%w: bad padding", ErrBadPayload)
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, "", fmt.Errorf("%w: bad padding", ErrBadPayload)
		}
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, "", fmt.Errorf("%w: plaintext too short", ErrBadPayload)
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, "", fmt.Errorf("%w: inner length exceeds plaintext", ErrBadPayload)
	}
	msg, appID = plain[20:20+n], string(plain[20+n:])
	if subtle.ConstantTimeCompare([]byte(appID), []byte(m.appID)) != 1 {
		return nil, appID, ErrWrongAppID
	}
	return msg, appID, nil
}

// Encrypt seals msg for this receiver with a random prefix from crypto/rand (what WeChat does;
// the receiver itself needs it only for replies, fakes and tests).
func (m *MsgCrypt) Encrypt(msg []byte) (string, error) {
	if uint64(len(msg)) > 1<<31 {
		return "", errors.New("wechat message too long to encrypt")
	}
	n := 20 + len(msg) + len(m.appID)
	pad := msgPadBlock - n%msgPadBlock
	plain := make([]byte, n+pad)
	if _, err := rand.Read(plain[:16]); err != nil {
		return "", fmt.Errorf("random prefix: %w", err)
	}
	binary.BigEndian.PutUint32(plain[16:20], uint32(len(msg)))
	copy(plain[20:], msg)
	copy(plain[20+len(msg):], m.appID)
	for i := n; i < len(plain); i++ {
		plain[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(m.block, m.iv).CryptBlocks(plain, plain)
	return base64.StdEncoding.EncodeToString(plain), nil
}
