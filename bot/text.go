package bot

import (
	"fmt"
	"strings"
)

// Lang is a language the bot answers in.
type Lang string

const (
	English Lang = "en"
	Chinese Lang = "zh" // Simplified Chinese
)

// ParseLang maps a Slack locale ("zh-CN", "en-US") or a setting ("zh", "en") to a
// language; anything else gives fallback.
func ParseLang(locale string, fallback Lang) Lang {
	l := strings.ToLower(locale)
	switch {
	case strings.HasPrefix(l, "zh"):
		return Chinese
	case strings.HasPrefix(l, "en"):
		return English
	}
	return fallback
}

var texts = map[Lang]map[string]string{English: textEN, Chinese: textZH}

// T formats the text for key in l, falling back to English.
func (l Lang) T(key string, args ...any) string {
	s, ok := texts[l][key]
	if !ok {
		s, ok = textEN[key]
	}
	if !ok {
		return key
	}
	return fmt.Sprintf(s, args...)
}
