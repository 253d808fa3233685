// Package metrics exposes bindery's Prometheus metrics (namespace
// "bindery") and its HTTP endpoints: /metrics, /healthz and /readyz.
//
// It implements proxy.Observer for operations and connections, and reads
// gauges (cache sizes, hashing queue, upstream state) through functions
// registered by the wiring code. No label ever carries a login ID.
package metrics

import (
	"strconv"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bindery/bindery/internal/version"
	"github.com/bindery/bindery/proxy"
)

const namespace = "bindery"

// Metrics is the registry and the instruments the proxy feeds.
type Metrics struct {
	Registry *prometheus.Registry

	binds         *prometheus.CounterVec
	bindDuration  *prometheus.HistogramVec
	requests      *prometheus.CounterVec
	connsOpen     prometheus.Gauge
	connsRejected *prometheus.CounterVec
	upstream      *prometheus.HistogramVec
	staffActions  *prometheus.CounterVec
}

// New makes a registry with the process and Go collectors and bindery's
// own instruments.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	m := &Metrics{
		Registry: reg,
		binds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "binds_total",
			Help: "Binds answered, by route, backend and result.",
		}, []string{"route", "backend", "result"}),
		bindDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "bind_duration_seconds",
			Help:    "Time to answer a bind, by backend.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"backend"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_total",
			Help: "LDAP operations answered, by operation and result.",
		}, []string{"op", "result"}),
		connsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "connections_open",
			Help: "LDAP connections open now.",
		}),
		connsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "connections_rejected_total",
			Help: "Connections turned away or closed for cause (max_connections, too_large, malformed, read_timeout, proxy_header).",
		}, []string{"reason"}),
		staffActions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "staff_actions_total",
			Help: "Staff console requests (log-ins, look-ups, actions on patrons), by action and result.",
		}, []string{"action", "result"}),
	}
	m.upstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "upstream_request_duration_seconds",
		Help:    "Time of each request to an upstream directory (ldap backends), by backend and op (bind, search).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"backend", "op"})
	bi := version.Get()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels say which bindery runs (as bindery --version prints).",
		ConstLabels: prometheus.Labels{"version": bi.Version, "commit": bi.Commit, "goversion": bi.GoVersion},
	})
	buildInfo.Set(1)
	reg.MustRegister(m.binds, m.bindDuration, m.requests, m.connsOpen, m.connsRejected, m.upstream, m.staffActions, buildInfo)
	for _, r := range []string{"max_connections", "too_large", "malformed", "read_timeout", "proxy_header"} {
		m.connsRejected.WithLabelValues(r)
	}
	return m
}

// OpDone implements proxy.Observer.
func (m *Metrics) OpDone(ev proxy.OpEvent) {
	result := ResultName(ev.Code)
	m.requests.WithLabelValues(ev.Op, result).Inc()
	if ev.Op != "bind" {
		return
	}
	route, be := ev.Route, ev.Backend
	switch ev.Kind {
	case "service":
		route, be = "service", "service_accounts"
	case "anonymous":
		route, be = "anonymous", "none"
	case "person":
		if route == "" {
			route, be = "no_route", "none"
		}
	default:
		route, be = "refused", "none"
	}
	m.binds.WithLabelValues(route, be, result).Inc()
	m.bindDuration.WithLabelValues(be).Observe(ev.Duration.Seconds())
}

// StaffAction counts one staff console request: action is login, logout,
// lookup, unlock, reset, setup_code, replace_card, add, dates, suspend,
// resume, import, export or activity; result is ok, or why not (denied,
// invalid, not_found, refused, unavailable, csrf, ...).
func (m *Metrics) StaffAction(action, result string) {
	m.staffActions.WithLabelValues(action, result).Inc()
}

// ConnOpened implements proxy.Observer.
func (m *Metrics) ConnOpened() { m.connsOpen.Inc() }

// ConnClosed implements proxy.Observer.
func (m *Metrics) ConnClosed() { m.connsOpen.Dec() }

// ConnRejected implements proxy.Observer.
func (m *Metrics) ConnRejected(reason string) { m.connsRejected.WithLabelValues(reason).Inc() }

// UpstreamRequest records one request to an upstream directory
// (config.Hooks.UpstreamRequest).
func (m *Metrics) UpstreamRequest(backend, op string, d time.Duration) {
	m.upstream.WithLabelValues(backend, op).Observe(d.Seconds())
}

// ResultName is the label value of an LDAP result code.
func ResultName(code int) string {
	switch code {
	case proxy.NoResult:
		return "hung_up"
	case ldap.LDAPResultSuccess:
		return "success"
	case ldap.LDAPResultInvalidCredentials:
		return "invalid_credentials"
	case ldap.LDAPResultUnavailable:
		return "unavailable"
	case ldap.LDAPResultBusy:
		return "busy"
	case ldap.LDAPResultUnwillingToPerform:
		return "unwilling_to_perform"
	case ldap.LDAPResultInsufficientAccessRights:
		return "insufficient_access"
	case ldap.LDAPResultConfidentialityRequired:
		return "confidentiality_required"
	case ldap.LDAPResultConstraintViolation:
		return "constraint_violation"
	case ldap.LDAPResultCompareTrue:
		return "compare_true"
	case ldap.LDAPResultCompareFalse:
		return "compare_false"
	case ldap.LDAPResultSizeLimitExceeded:
		return "size_limit_exceeded"
	case ldap.LDAPResultNoSuchObject:
		return "no_such_object"
	case ldap.LDAPResultProtocolError:
		return "protocol_error"
	case ldap.LDAPResultAuthMethodNotSupported:
		return "auth_method_not_supported"
	case ldap.LDAPResultUnavailableCriticalExtension:
		return "unavailable_critical_extension"
	case ldap.LDAPResultOther:
		return "other"
	}
	return "code_" + strconv.Itoa(code)
}

// GaugeFunc registers a gauge whose value is read at scrape time.
func (m *Metrics) GaugeFunc(name, help string, labels prometheus.Labels, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: name, Help: help, ConstLabels: labels,
	}, fn))
}

// CounterFunc registers a counter whose value is read at scrape time.
func (m *Metrics) CounterFunc(name, help string, labels prometheus.Labels, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: namespace, Name: name, Help: help, ConstLabels: labels,
	}, fn))
}
