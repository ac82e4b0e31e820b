package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of a store key in bytes.
const KeySize = 32

// sealAD binds sealed values to their purpose.
var sealAD = []byte("bindtester store: wechat id")

// sealer seals WeChat IDs (AES-256-GCM, a random nonce per value, stored in
// front of the ciphertext) and hashes them for lookups (HMAC-SHA256). The two
// keys are derived from the store key with HKDF, so neither use weakens the other.
type sealer struct {
	aead    cipher.AEAD
	hashKey []byte
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("store key is %d bytes, want %d", len(key), KeySize)
	}
	sealKey, err := hkdf.Key(sha256.New, key, nil, "bindtester store seal v1", KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive seal key: %w", err)
	}
	hashKey, err := hkdf.Key(sha256.New, key, nil, "bindtester store hash v1", KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive hash key: %w", err)
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, hashKey: hashKey}, nil
}

// hash is the keyed hash WeChat IDs are found by, in hex. WeChat IDs are not
// case-sensitive, so Tester_One and tester_one find the same grant.
func (s *sealer) hash(wechatID string) string {
	m := hmac.New(sha256.New, s.hashKey)
	m.Write([]byte(strings.ToLower(wechatID)))
	return hex.EncodeToString(m.Sum(nil))
}

// seal encrypts a WeChat ID: nonce, ciphertext and tag.
func (s *sealer) seal(wechatID string) []byte {
	return s.aead.Seal(nil, nil, []byte(wechatID), sealAD)
}

// unseal decrypts what seal made with the same key.
func (s *sealer) unseal(sealed []byte) (string, error) {
	plain, err := s.aead.Open(nil, nil, sealed, sealAD)
	if err != nil {
		return "", errors.New("cannot unseal the WeChat ID: the store key is not the one it was sealed with, or the value is damaged")
	}
	return string(plain), nil
}

// keyedHash is HMAC-SHA256 under the hash key of purpose, a NUL byte and
// value, in hex. Unlike hash it keeps case, and the purpose keeps its hashes
// apart from WeChat IDs' (which hold no NUL) and from each other's.
func (s *sealer) keyedHash(purpose, value string) string {
	m := hmac.New(sha256.New, s.hashKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// keyCheck is what the meta table keeps to recognize the store key: a keyed
// hash of a constant. It tells nothing about the key but whether one is it.
func (s *sealer) keyCheck() string {
	return s.keyedHash("store key check", "bindtester store key check v1")
}

// sealFor encrypts plain bound to purpose ad: a value sealed for one purpose
// (or one app) does not unseal as another's.
func (s *sealer) sealFor(ad, plain string) []byte {
	return s.aead.Seal(nil, nil, []byte(plain), []byte(ad))
}

// unsealFor decrypts what sealFor made with the same key and ad.
func (s *sealer) unsealFor(ad string, sealed []byte) (string, error) {
	plain, err := s.aead.Open(nil, nil, sealed, []byte(ad))
	if err != nil {
		return "", errors.New("the store key is not the one it was sealed with, or the value is damaged")
	}
	return string(plain), nil
}

// ParseKey decodes a store key given as standard base64 (as in the
// BINDTESTER_STORE_KEY setting). Errors never repeat the value.
func ParseKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("store key is not standard base64: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("store key decodes to %d bytes, want %d", len(key), KeySize)
	}
	return key, nil
}

// LoadOrCreateKey reads the store key (standard base64 of 32 bytes, then a
// newline) from the file at path, or creates that file, readable by its owner
// only, with a new random key. Keep the file: without it the WeChat IDs in
// the store cannot be read back.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := readKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	}
	return key, err
}

// readKey reads the key file at path; a missing file's error wraps fs.ErrNotExist.
func readKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read store key file %s: %w", path, err)
	}
	key, err := ParseKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("store key file %s: %w; restore the right file (a new key cannot read WeChat IDs already stored)", path, err)
	}
	return key, nil
}

// createKey writes a new key to a temporary file and links it into place, so
// a concurrent reader never sees a half-written key and a concurrent creator's
// key wins over ours rather than being overwritten.
func createKey(path string) ([]byte, error) {
	key := make([]byte, KeySize)
	rand.Read(key)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".store-key-*")
	if err != nil {
		return nil, fmt.Errorf("create store key file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600) // whatever CreateTemp's default, the key is the owner's only
	if err == nil {
		_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) { // another process created it first
		return readKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create store key file %s: %w", path, err)
	}
	return key, nil
}

// sealedWechatID unseals the WeChat ID kept in row id of table ("grants",
// "approvals" or "jobs"), through q (the store or a transaction); what names
// the row in errors. A row sealed with no ID (an unbind by userstr alone)
// gives "".
func (s *Store) sealedWechatID(ctx context.Context, q querier, table, what string, id int64) (string, error) {
	var sealed []byte
	if err := q.QueryRowContext(ctx, `SELECT wechat_sealed FROM `+table+` WHERE id = ?`, id).Scan(&sealed); err != nil {
		return "", rowErr(fmt.Sprintf("%s %d", what, id), err)
	}
	return s.unsealWechatID(sealed, what, id)
}

// unsealWechatID unseals sealed, the wechat_sealed of the row what id ("" if
// it was sealed with no ID).
func (s *Store) unsealWechatID(sealed []byte, what string, id int64) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	wechatID, err := s.seal.unseal(sealed)
	if err != nil {
		return "", fmt.Errorf("%s %d: %w", what, id, err)
	}
	return wechatID, nil
}
