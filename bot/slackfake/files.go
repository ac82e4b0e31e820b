package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// upload is a file going through the upload flow slack-go's UploadFileContext uses:
// files.getUploadURLExternal, a POST to the upload URL, files.completeUploadExternal.
type upload struct {
	name                string
	data                []byte
	uploaded, completed bool
}

const maxUploadBytes = 32 << 20

func (s *Server) getUploadURL(w http.ResponseWriter, r *http.Request) {
	name := r.Form.Get("filename")
	length, err := strconv.Atoi(r.Form.Get("length"))
	if name == "" || err != nil || length <= 0 {
		slackError(w, "invalid_arguments")
		return
	}
	id := s.id("F")
	s.mu.Lock()
	s.uploads[id] = &upload{name: name}
	s.mu.Unlock()
	// Same scheme and host as the API URL: slack-go only sends its token to such upload URLs.
	writeJSON(w, map[string]any{"ok": true, "upload_url": s.http.URL + "/upload/" + id, "file_id": id})
}

// serveUpload takes the file bytes, as multipart field "file" (slack-go) or as the raw body.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	data, err := uploadedBytes(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	u := s.uploads[r.PathValue("id")]
	if u == nil || u.completed {
		s.mu.Unlock()
		http.Error(w, "unknown upload", http.StatusNotFound)
		return
	}
	u.data, u.uploaded = data, true
	s.mu.Unlock()
	_, _ = fmt.Fprintf(w, "OK - %d", len(data))
}

func uploadedBytes(r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(nil, r.Body, maxUploadBytes)
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); !strings.HasPrefix(ct, "multipart/") {
		return io.ReadAll(body)
	}
	r.Body = body
	f, _, err := r.FormFile("file")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func (s *Server) completeUpload(w http.ResponseWriter, r *http.Request) {
	var files []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(r.Form.Get("files")), &files); err != nil || len(files) == 0 {
		slackError(w, "invalid_arguments")
		return
	}
	channel := r.Form.Get("channel_id")
	if channel == "" {
		channel, _, _ = strings.Cut(r.Form.Get("channels"), ",")
	}

	s.mu.Lock()
	if code := s.channelErrorLocked(channel, dmChannel(channel)); channel != "" && code != "" {
		s.mu.Unlock()
		slackError(w, code)
		return
	}
	for _, f := range files {
		if u := s.uploads[f.ID]; u == nil || !u.uploaded || u.completed {
			s.mu.Unlock()
			slackError(w, "file_not_found")
			return
		}
	}
	answer := make([]map[string]any, 0, len(files))
	recorded := make([]Message, 0, len(files))
	var hooks []func(Message)
	for _, f := range files {
		u := s.uploads[f.ID]
		u.completed = true
		title := f.Title
		if title == "" {
			title = u.name
		}
		m := Message{
			Method: "file", Channel: channel, ThreadTS: r.Form.Get("thread_ts"),
			Text: r.Form.Get("initial_comment"), Blocks: blocksOf(r.Form.Get("blocks")),
			FileName: u.name, FileTitle: title, FileBytes: u.data,
		}
		if channel != "" {
			m.TS = s.tsLocked()
		}
		m, hooks = s.recordLocked(m)
		recorded = append(recorded, m)
		answer = append(answer, map[string]any{"id": f.ID, "title": title})
	}
	s.mu.Unlock()
	for _, m := range recorded {
		fire(m, hooks)
	}
	writeJSON(w, map[string]any{"ok": true, "files": answer})
}
