package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/esb-dev/esb/internal/adminapi"
)

// logTailLines is how many lines the log tail shows.
const logTailLines = 100

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, s.snapshot(r.Context()))
}

func (s *Server) live(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, s.liveConfig())
}

func (s *Server) writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.opts.Logger.Warn("admin: write answer", "error", err.Error())
	}
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	st := s.snapshot(r.Context())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := dashboardPage.Execute(w, dashboardData{Status: st, Now: time.Now(), Logs: s.opts.LogsURL != ""}); err != nil {
		s.opts.Logger.Warn("admin dashboard: render", "error", err.Error())
	}
}

// logs shows the last lines a function wrote, from the log store, and
// reloads every 2 s. Only a function of the live config is looked up: the
// name from the path goes into the log query, so it must be one the
// config vouches for.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("function")
	g := s.opts.Generations.Current()
	if g == nil {
		http.Error(w, "no config loaded yet", http.StatusServiceUnavailable)
		return
	}
	if _, ok := g.Table.Function(name); !ok {
		http.Error(w, "no function "+name+" in the live config", http.StatusNotFound)
		return
	}
	data := logsData{Function: name, Env: s.opts.Env}
	if s.opts.LogsURL == "" {
		data.Err = "the gateway has no log store (LOGS_URL)"
	} else {
		data.Lines, data.Err = s.tail(r.Context(), name)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := logsPage.Execute(w, data); err != nil {
		s.opts.Logger.Warn("admin logs: render", "error", err.Error())
	}
}

// logLine is one line of the log tail.
type logLine struct {
	Time, Stream, Msg string
}

// tail queries the log store for function's last lines, oldest first.
func (s *Server) tail(ctx context.Context, function string) ([]logLine, string) {
	ctx, cancel := context.WithTimeout(ctx, agentTimeout)
	defer cancel()
	query := fmt.Sprintf(`service:function AND env:%q AND function:%q | sort by (_time desc) | limit %d`, s.opts.LogEnv, function, logTailLines)
	form := url.Values{"query": {query}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(s.opts.LogsURL, "/")+"/select/logsql/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err.Error()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.opts.HTTP.Do(req)
	if err != nil {
		return nil, "log store: " + err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, "log store: " + err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "log store: " + resp.Status + ": " + strings.TrimSpace(string(body))
	}
	var lines []logLine
	for raw := range strings.SplitSeq(strings.TrimSpace(string(body)), "\n") {
		var rec map[string]string
		if raw == "" || json.Unmarshal([]byte(raw), &rec) != nil {
			continue
		}
		lines = append(lines, logLine{Time: rec["_time"], Stream: rec["stream"], Msg: rec["_msg"]})
	}
	slices.Reverse(lines)
	return lines, ""
}

type dashboardData struct {
	adminapi.Status
	Now  time.Time
	Logs bool
}

type logsData struct {
	Function, Env, Err string
	Lines              []logLine
}

var funcs = template.FuncMap{
	"short": func(digest string) string {
		d := strings.TrimPrefix(digest, "sha256:")
		if len(d) > 12 {
			return d[:12]
		}
		return d
	},
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return now.Sub(t).Round(time.Second).String() + " ago"
	},
	"clock": func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"ms":    func(v float64) string { return fmt.Sprintf("%.1f ms", v) },
	"join":  strings.Join,
}

// style keeps the pages readable on a phone: one column, tables scroll
// sideways inside their box, no external fonts or scripts (air-gapped).
const style = `<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;padding:12px;background:#f6f7f9;color:#1d2330}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 6px}
.muted{color:#667}.box{background:#fff;border:1px solid #dde;border-radius:6px;overflow-x:auto}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eef;white-space:nowrap}
th{background:#eef1f6;font-weight:600}code{font-size:12px}
.ok{color:#17692e}.bad{color:#b3261e;font-weight:600}.cold{color:#8a5a00}
pre{margin:0;padding:8px;font-size:12px;white-space:pre-wrap;word-break:break-all}
a{color:#1a57c2}
</style>`

var dashboardPage = template.Must(template.New("dashboard").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ESB {{.Env}}</title>
<meta http-equiv="refresh" content="5">` + style + `</head><body>
<h1>ESB env {{.Env}}</h1>
<div class="muted">config generation {{.Generation}}, live since {{ago .Now .LoadedAt}}
{{- with .Agent}} · agent ({{.Runtime}}): {{.Containers}} containers, {{.Busy}} leased, {{.MemoryMB}}{{if .BudgetMB}} of {{.BudgetMB}}{{end}} MB{{end}}
· <a href="/metrics">metrics</a> · <a href="/api/status">json</a></div>

<h2>Functions ({{len .Functions}})</h2>
<div class="box"><table id="functions">
<tr><th>Function</th><th>Busy</th><th>Warm</th><th>Queued</th><th>Last error</th>{{if .Logs}}<th>Logs</th>{{end}}<th>Runtime</th><th>Memory</th><th>Digest</th></tr>
{{- range .Functions}}
<tr><td>{{.Name}}</td><td>{{.Busy}}</td><td>{{.Warm}}</td><td>{{.Queued}}</td>
<td>{{with .LastError}}<span class="bad">{{.Outcome}}</span> {{ago $.Now .At}}{{end}}</td>
{{- if $.Logs}}<td><a href="/logs/{{.Name}}">tail</a></td>{{end}}
<td>{{or .Runtime "image"}}</td><td>{{.MemoryMB}} MB</td><td><code>{{short .Digest}}</code></td></tr>
{{- end}}
</table></div>

<h2>Routes ({{len .Routes}})</h2>
<div class="box"><table id="routes">
<tr><th>Method</th><th>Path</th><th>Function</th><th>Stage</th></tr>
{{- range .Routes}}
<tr><td>{{.Method}}</td><td><code>{{.Path}}</code></td><td>{{.Function}}</td><td>{{.Stage}}</td></tr>
{{- end}}
</table></div>

<h2>Recent invocations</h2>
<div class="box"><table id="recent">
<tr><th>Time (UTC)</th><th>Function</th><th>Status</th><th>Duration</th><th>Start</th></tr>
{{- range .Recent}}
<tr><td>{{clock .At}}</td><td>{{.Function}}</td><td class="{{if eq .Outcome "success"}}ok{{else}}bad{{end}}">{{.Outcome}}</td>
<td>{{ms .DurationMS}}</td><td>{{if .Cold}}<span class="cold">cold</span>{{else}}warm{{end}}</td></tr>
{{- else}}
<tr><td colspan="5" class="muted">none since the gateway started</td></tr>
{{- end}}
</table></div>

<h2>Deploy history</h2>
<div class="box"><table id="history">
<tr><th>Generation</th><th>Time (UTC)</th><th>What</th><th>Template</th><th>Functions changed</th></tr>
{{- range .History}}
{{- if .Error}}
<tr><td>{{.Number}}</td><td colspan="4" class="bad">unreadable: {{.Error}}</td></tr>
{{- else}}
<tr><td>{{.Number}}{{if .Current}} <b>(current)</b>{{end}}</td><td>{{stamp .At}}</td><td>{{.Action}}</td><td>{{.Template}}</td><td>{{join .Changed ", "}}{{range .Removed}} <s>{{.}}</s>{{end}}</td></tr>
{{- end}}
{{- else}}
<tr><td colspan="5" class="muted">{{with $.HistoryError}}<span class="bad">{{.}}</span>{{else}}no deploy recorded in CONFIG_DIR/.history{{end}}</td></tr>
{{- end}}
</table></div>

<h2>Config reloads since the gateway started</h2>
<div class="box"><table id="deploys">
<tr><th>Generation</th><th>Time (UTC)</th><th>Added</th><th>Changed</th><th>Removed</th></tr>
{{- range .Deploys}}
<tr><td>{{.Generation}}</td><td>{{clock .At}}</td><td>{{join .Added ", "}}</td><td>{{join .Changed ", "}}</td><td>{{join .Removed ", "}}</td></tr>
{{- end}}
</table></div>
</body></html>
`))

var logsPage = template.Must(template.New("logs").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Function}} logs</title>
<meta http-equiv="refresh" content="2">` + style + `</head><body>
<h1>{{.Function}}</h1>
<div class="muted">env {{.Env}} · last lines, newest at the bottom, reloaded every 2 s · <a href="/">dashboard</a></div>
{{with .Err}}<p class="bad">{{.}}</p>{{end}}
<div class="box"><pre id="log">
{{- range .Lines}}{{.Time}} {{.Msg}}
{{end -}}
</pre></div>
</body></html>
`))
