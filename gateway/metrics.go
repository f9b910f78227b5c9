package gateway

import (
	"strconv"

	"github.com/claude-secure/claude-secure/proxy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are what /metrics shows. Labels carry names and counts only:
// the endpoint (one of a fixed few), the token's name, status codes, kinds
// of identifier and refusal reasons.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	upstream *prometheus.CounterVec
	masked   *prometheus.CounterVec
	unmasked *prometheus.CounterVec
	rejected *prometheus.CounterVec
	inFlight prometheus.Gauge
	bytesIn  prometheus.Counter
	bytesOut prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "claude_secure_requests_total",
		Help: "Requests answered, by endpoint, token and status code.",
	}, []string{"endpoint", "token", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "claude_secure_request_duration_seconds",
		Help:    "Time from receiving a request to the end of its answer (streams included), by endpoint.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	}, []string{"endpoint"})
	m.upstream = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "claude_secure_upstream_responses_total",
		Help: "Responses from the upstream API, by status code.",
	}, []string{"code"})
	m.masked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "claude_secure_masked_total",
		Help: "Identifiers masked in requests, by kind.",
	}, []string{"kind"})
	m.unmasked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "claude_secure_unmasked_total",
		Help: "Pseudonyms restored in responses, by kind.",
	}, []string{"kind"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "claude_secure_rejections_total",
		Help: "Requests refused before reaching the upstream API, by reason and token (\"\" when there was none).",
	}, []string{"reason", "token"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "claude_secure_requests_in_flight",
		Help: "Requests being served now, streams included.",
	})
	m.bytesIn = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "claude_secure_request_body_bytes_total",
		Help: "Request body bytes masked.",
	})
	m.bytesOut = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "claude_secure_response_body_bytes_total",
		Help: "Response body bytes sent to clients.",
	})
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.upstream, m.masked, m.unmasked,
		m.rejected, m.inFlight, m.bytesIn, m.bytesOut,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// endpointLabel keeps the label set small: the API's own endpoints by
// name, anything else as "other".
func endpointLabel(path string) string {
	switch path {
	case "/v1/messages", "/v1/messages/count_tokens", "/v1/messages/batches", "/v1/models":
		return path
	}
	if len(path) > len("/v1/messages/batches/") && path[:len("/v1/messages/batches/")] == "/v1/messages/batches/" {
		return "/v1/messages/batches/{id}"
	}
	return "other"
}

// observe records one finished request.
func (m *metrics) observe(r proxy.Record) {
	ep := endpointLabel(r.Path)
	m.requests.WithLabelValues(ep, r.Caller, strconv.Itoa(r.Status)).Inc()
	if r.Refusal != "" {
		m.rejected.WithLabelValues(r.Refusal, r.Caller).Inc()
	}
	if r.ID == "" {
		return // refused at the door: no timing, no bodies
	}
	m.duration.WithLabelValues(ep).Observe(r.Duration.Seconds())
	if r.UpstreamStatus != 0 {
		m.upstream.WithLabelValues(strconv.Itoa(r.UpstreamStatus)).Inc()
	}
	for k, n := range r.Masked {
		m.masked.WithLabelValues(k).Add(float64(n))
	}
	for k, n := range r.Unmasked {
		m.unmasked.WithLabelValues(k).Add(float64(n))
	}
	m.bytesIn.Add(float64(r.BytesIn))
	m.bytesOut.Add(float64(r.BytesOut))
}
